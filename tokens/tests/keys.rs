//! PASERK key round trips and the errors for keys in the wrong place.

mod common;

use common::*;
use sluice_tokens::{issue, IssuerKey, KeyError, TokenError, Verifier, VerifierKey};

#[test]
fn secret_key_round_trips_and_still_signs_for_the_same_public_key() {
    let key = key();
    let text = key.to_paserk();
    assert!(text.starts_with("k4.secret."));
    let loaded = IssuerKey::from_paserk(&text).unwrap();
    assert_eq!(loaded.to_paserk(), text);
    assert_eq!(loaded.public(), key.public());

    let t = issue(&loaded, &request("r"), NOW).unwrap().token;
    assert!(verifier_for(&key)
        .verify(&t, NOW, &no_revocations())
        .is_ok());
}

#[test]
fn public_key_round_trips_with_the_same_kid() {
    let key = key();
    let public = key.public();
    let text = public.to_paserk();
    assert!(text.starts_with("k4.public."));
    let loaded = VerifierKey::from_paserk(&text).unwrap();
    assert_eq!(loaded, public);
    assert_eq!(loaded.kid(), public.kid());
    assert!(loaded.kid().starts_with("k4.pid."));
    assert_eq!(loaded.to_paserk(), text);

    let t = issue(&key, &request("r"), NOW).unwrap().token;
    let v = Verifier::new([loaded]);
    assert!(v.verify(&t, NOW, &no_revocations()).is_ok());
}

#[test]
fn trailing_newlines_from_files_are_ignored() {
    let key = key();
    let s = format!("{}\n", key.to_paserk());
    assert!(IssuerKey::from_paserk(&s).is_ok());
    let p = format!("  {}\r\n", key.public().to_paserk());
    assert!(VerifierKey::from_paserk(&p).is_ok());
}

#[test]
fn different_keys_have_different_kids() {
    assert_ne!(key().public().kid(), key().public().kid());
}

#[test]
fn a_key_of_the_wrong_kind_is_named() {
    let key = key();
    match IssuerKey::from_paserk(&key.public().to_paserk()) {
        Err(KeyError::WrongKind { found, .. }) => assert_eq!(found, "k4.public"),
        other => panic!("{other:?}"),
    }
    let err = VerifierKey::from_paserk(&key.to_paserk()).unwrap_err();
    assert!(matches!(&err, KeyError::WrongKind { found, .. } if found == "k4.secret"));
    // The message must not leak the secret key it was given.
    let secret_b64 = key.to_paserk()["k4.secret.".len()..].to_string();
    assert!(!err.to_string().contains(&secret_b64));
    assert!(matches!(
        VerifierKey::from_paserk("k3.public.AAAA"),
        Err(KeyError::WrongKind { .. })
    ));
    assert!(matches!(
        VerifierKey::from_paserk("k4.local.AAAA"),
        Err(KeyError::WrongKind { .. })
    ));
}

#[test]
fn garbage_keys_are_invalid() {
    let key = key();
    let public = key.public().to_paserk();
    let secret = key.to_paserk();
    for bad in [
        String::new(),
        "hello".into(),
        "-----BEGIN PRIVATE KEY-----".into(),
        "k4.public.".into(),
        "k4.public.AAAA".into(),
        format!("{public}A"),
        public[..public.len() - 1].to_string(),
        format!("{public}.extra"),
    ] {
        assert!(
            matches!(
                VerifierKey::from_paserk(&bad),
                Err(KeyError::Invalid { .. })
            ),
            "{bad:?}"
        );
    }
    // A secret key whose public half does not match its seed.
    let mut tampered = secret.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert!(matches!(
        IssuerKey::from_paserk(&tampered),
        Err(KeyError::Invalid { .. })
    ));
}

#[test]
fn debug_output_never_contains_the_secret() {
    let key = key();
    let secret_b64 = key.to_paserk()["k4.secret.".len()..].to_string();
    let dbg = format!("{key:?}");
    assert!(!dbg.contains(&secret_b64));
    assert!(dbg.contains("k4.pid."));
}

#[test]
fn generate_reports_no_error_in_normal_conditions() {
    let r: Result<IssuerKey, TokenError> = IssuerKey::generate();
    assert!(r.is_ok());
}
