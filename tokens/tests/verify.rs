//! Issue and verify: what a genuine token carries, and every way a token must be refused.

mod common;

use common::*;
use pasetors::keys::{Generate, SymmetricKey};
use pasetors::version4::{LocalToken, V4};
use serde_json::json;
use sluice_tokens::{
    check_times, issue, unverified_claims, unverified_kid, ClaimValue, RevocationList, TokenError,
    Verifier, MAX_TOKEN_LEN,
};

#[test]
fn round_trip_preserves_every_claim() {
    let key = key();
    let mut req = request_with_extra(&[
        ("region", ClaimValue::Str("eu-west".into())),
        ("max_rows", ClaimValue::Int(-42)),
        ("big", ClaimValue::Int(i64::MAX)),
    ]);
    req.label = Some("support-agent-2026-04-29 ünïcødé".into());
    let issued = issue(&key, &req, NOW).unwrap();

    assert!(issued.token.starts_with("v4.public."));
    let c = &issued.claims;
    assert_eq!(c.role, "agent_readonly");
    assert_eq!(c.tenant_id.as_deref(), Some("acme-rentals"));
    assert_eq!((c.iat, c.nbf, c.exp), (NOW, NOW, NOW + HOUR));
    assert_eq!(c.jti.len(), 32);
    assert!(c.jti.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(c.extra.len(), 3);

    let verified = verifier_for(&key)
        .verify(&issued.token, NOW, &no_revocations())
        .unwrap();
    assert_eq!(&verified, c);
    assert_eq!(unverified_claims(&issued.token).unwrap(), *c);
}

#[test]
fn optional_claims_may_be_absent() {
    let key = key();
    let mut req = request("agent_readonly");
    req.tenant_id = None;
    let issued = issue(&key, &req, NOW).unwrap();
    let c = verifier_for(&key)
        .verify(&issued.token, NOW, &no_revocations())
        .unwrap();
    assert_eq!(c.tenant_id, None);
    assert_eq!(c.label, None);
    assert_eq!(c.get("tenant_id"), None);
}

#[test]
fn payload_uses_rfc3339_times_and_footer_names_the_key() {
    let key = key();
    let issued = issue(&key, &request("agent_readonly"), NOW).unwrap();
    let json = issued.claims.to_json();
    assert_eq!(json["exp"], "2026-11-24T21:00:00Z");
    assert_eq!(json["iat"], "2026-11-24T20:00:00Z");
    assert_eq!(json["nbf"], "2026-11-24T20:00:00Z");
    assert_eq!(unverified_kid(&issued.token).unwrap(), key.public().kid());
    assert!(key.public().kid().starts_with("k4.pid."));
}

#[test]
fn jtis_are_unique() {
    let key = key();
    let a = issue(&key, &request("r"), NOW).unwrap();
    let b = issue(&key, &request("r"), NOW).unwrap();
    assert_ne!(a.claims.jti, b.claims.jti);
}

#[test]
fn get_reads_standard_and_extra_claims() {
    let key = key();
    let mut req = request_with_extra(&[
        ("region", ClaimValue::Str("eu".into())),
        ("n", ClaimValue::Int(7)),
    ]);
    req.label = Some("lbl".into());
    let c = issue(&key, &req, NOW).unwrap().claims;
    assert_eq!(
        c.get("role"),
        Some(ClaimValue::Str("agent_readonly".into()))
    );
    assert_eq!(
        c.get("tenant_id"),
        Some(ClaimValue::Str("acme-rentals".into()))
    );
    assert_eq!(c.get("jti"), Some(ClaimValue::Str(c.jti.clone())));
    assert_eq!(c.get("label"), Some(ClaimValue::Str("lbl".into())));
    assert_eq!(c.get("exp"), Some(ClaimValue::Int(NOW + HOUR)));
    assert_eq!(c.get("region"), Some(ClaimValue::Str("eu".into())));
    assert_eq!(c.get("n"), Some(ClaimValue::Int(7)));
    assert_eq!(c.get("missing"), None);
    assert_eq!(c.get("n").unwrap().to_string(), "7");
    assert_eq!(c.get("region").unwrap().to_string(), "eu");
}

#[test]
fn lifetime_must_be_positive() {
    let key = key();
    for lifetime in [0, -1, i64::MIN] {
        let mut req = request("r");
        req.lifetime_secs = lifetime;
        assert!(matches!(
            issue(&key, &req, NOW),
            Err(TokenError::InvalidClaim { claim, .. }) if claim == "exp"
        ));
    }
    let mut req = request("r");
    req.lifetime_secs = i64::MAX;
    assert!(matches!(
        issue(&key, &req, NOW),
        Err(TokenError::InvalidClaim { claim, .. }) if claim == "exp"
    ));
}

// ---- keys -------------------------------------------------------------------------------------

#[test]
fn verifier_with_two_keys_accepts_both_and_one_key_rejects_the_other() {
    let (a, b) = (key(), key());
    let ta = issue(&a, &request("r"), NOW).unwrap().token;
    let tb = issue(&b, &request("r"), NOW).unwrap().token;

    let both = Verifier::new([a.public(), b.public()]);
    assert!(both.verify(&ta, NOW, &no_revocations()).is_ok());
    assert!(both.verify(&tb, NOW, &no_revocations()).is_ok());

    let only_a = verifier_for(&a);
    assert!(only_a.verify(&ta, NOW, &no_revocations()).is_ok());
    assert_eq!(
        only_a.verify(&tb, NOW, &no_revocations()),
        Err(TokenError::UnknownKey)
    );

    let mut grown = verifier_for(&a);
    grown.add_key(b.public());
    grown.add_key(b.public());
    assert_eq!(grown.kids().len(), 2);
    assert!(grown.verify(&tb, NOW, &no_revocations()).is_ok());
}

#[test]
fn verifier_without_keys_knows_no_key() {
    let a = key();
    let t = issue(&a, &request("r"), NOW).unwrap().token;
    assert_eq!(
        Verifier::default().verify(&t, NOW, &no_revocations()),
        Err(TokenError::UnknownKey)
    );
}

#[test]
fn footer_kid_edited_to_another_known_key_fails_the_signature() {
    let (a, b) = (key(), key());
    let ta = issue(&a, &request("r"), NOW).unwrap().token;
    let tb = issue(&b, &request("r"), NOW).unwrap().token;
    // A's payload and signature under B's footer (which names B's kid).
    let (pa, pb) = (parts(&ta), parts(&tb));
    let forged = format!("v4.public.{}.{}", pa[2], pb[3]);
    assert_eq!(unverified_kid(&forged).unwrap(), b.public().kid());

    let both = Verifier::new([a.public(), b.public()]);
    assert_eq!(
        both.verify(&forged, NOW, &no_revocations()),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn token_re_signed_by_an_attacker_under_a_known_kid_fails_the_signature() {
    let (gateway_key, attacker) = (key(), key());
    let footer = format!(r#"{{"kid":"{}"}}"#, gateway_key.public().kid());
    let forged = sign_raw_with_footer(&attacker, &payload_with(&[]), &footer);
    assert_eq!(
        verifier_for(&gateway_key).verify(&forged, NOW, &no_revocations()),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn footer_must_be_exactly_a_kid() {
    let key = key();
    let kid = key.public().kid();
    let v = verifier_for(&key);
    let payload = payload_with(&[]);
    for footer in [
        "{}".to_string(),
        "[]".to_string(),
        "not json".to_string(),
        format!(r#"{{"kid":"{kid}","x":1}}"#),
        format!(r#"{{"kid":"{kid}","kid":"{kid}"}}"#),
        r#"{"kid":42}"#.to_string(),
        r#"{"kid":"k4.lid.AAAA"}"#.to_string(),
    ] {
        let t = sign_raw_with_footer(&key, &payload, &footer);
        assert!(
            matches!(
                v.verify(&t, NOW, &no_revocations()),
                Err(TokenError::Malformed(_))
            ),
            "footer {footer}"
        );
    }
    // No footer at all.
    let t = issue(&key, &request("r"), NOW).unwrap().token;
    let p = parts(&t);
    let unfootered = format!("v4.public.{}", p[2]);
    assert!(matches!(
        v.verify(&unfootered, NOW, &no_revocations()),
        Err(TokenError::Malformed(_))
    ));
}

// ---- envelope ---------------------------------------------------------------------------------

#[test]
fn other_versions_and_purposes_are_refused_by_name() {
    let key = key();
    let t = issue(&key, &request("r"), NOW).unwrap().token;
    let v = verifier_for(&key);
    let rest = t.strip_prefix("v4.public.").unwrap();
    for header in [
        "v3.public",
        "v2.public",
        "v1.public",
        "v4.local",
        "v2.local",
        "v4.secret",
    ] {
        let other = format!("{header}.{rest}");
        assert_eq!(
            v.verify(&other, NOW, &no_revocations()),
            Err(TokenError::WrongVersionOrPurpose {
                found: header.into()
            }),
            "{header}"
        );
    }
}

#[test]
fn a_genuine_v4_local_token_is_refused() {
    let key = key();
    let sk = SymmetricKey::<V4>::generate().unwrap();
    let local = LocalToken::encrypt(
        &sk,
        payload_with(&[]).as_bytes(),
        Some(format!(r#"{{"kid":"{}"}}"#, key.public().kid()).as_bytes()),
        None,
    )
    .unwrap();
    assert!(local.starts_with("v4.local."));
    assert_eq!(
        verifier_for(&key).verify(&local, NOW, &no_revocations()),
        Err(TokenError::WrongVersionOrPurpose {
            found: "v4.local".into()
        })
    );
}

#[test]
fn garbage_is_malformed() {
    let key = key();
    let v = verifier_for(&key);
    for garbage in [
        "",
        "secret",
        "postgres://app:secret@db/rental",
        "v4.public.",
        "v4.public",
        "v4.public.!!!!",
        "v4.public.AAAA",
        "v4.public.AAAA.BBBB.CCCC",
        "V4.PUBLIC.AAAA",
        "v4.public\u{0}.AAAA",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
    ] {
        assert!(
            matches!(
                v.verify(garbage, NOW, &no_revocations()),
                Err(TokenError::Malformed(_))
            ),
            "{garbage:?}: {:?}",
            v.verify(garbage, NOW, &no_revocations())
        );
    }
}

#[test]
fn absurdly_large_tokens_are_refused_before_decoding() {
    let key = key();
    let v = verifier_for(&key);
    // Not even valid base64: only the size check can produce TooLarge.
    let huge = format!("v4.public.{}", "!".repeat(MAX_TOKEN_LEN));
    assert_eq!(
        v.verify(&huge, NOW, &no_revocations()),
        Err(TokenError::TooLarge {
            len: huge.len(),
            max: MAX_TOKEN_LEN
        })
    );
    assert!(matches!(
        unverified_claims(&huge),
        Err(TokenError::TooLarge { .. })
    ));
    // A genuinely signed token just over the limit is refused too.
    let big = "x".repeat(200);
    let extras: Vec<(String, serde_json::Value)> =
        (0..40).map(|i| (format!("c{i}"), json!(big))).collect();
    let fields: Vec<(&str, Option<serde_json::Value>)> = extras
        .iter()
        .map(|(k, val)| (k.as_str(), Some(val.clone())))
        .collect();
    let t = sign_raw(&key, &payload_with(&fields));
    assert!(t.len() > MAX_TOKEN_LEN);
    assert!(matches!(
        v.verify(&t, NOW, &no_revocations()),
        Err(TokenError::TooLarge { .. })
    ));
}

#[test]
fn issue_refuses_to_mint_a_token_no_gateway_would_accept() {
    let key = key();
    let extra: Vec<(String, ClaimValue)> = (0..40)
        .map(|i| (format!("c{i}"), ClaimValue::Str("x".repeat(200))))
        .collect();
    let mut req = request("r");
    req.extra = extra.into_iter().collect();
    assert!(matches!(
        issue(&key, &req, NOW),
        Err(TokenError::TooLarge { .. })
    ));
}

#[test]
fn every_single_character_change_is_refused() {
    let key = key();
    let mut req = request_with_extra(&[("n", ClaimValue::Int(1))]);
    req.label = Some("flip".into());
    let token = issue(&key, &req, NOW).unwrap().token;
    let v = verifier_for(&key);
    assert!(v.verify(&token, NOW, &no_revocations()).is_ok());

    let bytes = token.as_bytes();
    let mut tried = 0;
    for i in 0..bytes.len() {
        // Neighbouring base64url characters (change the low bits, the case of a letter, or the
        // class) plus a separator.
        for replacement in [bytes[i] ^ 0x01, bytes[i] ^ 0x20, b'A', b'-', b'.'] {
            if replacement == bytes[i] || !replacement.is_ascii() {
                continue;
            }
            let mut changed = bytes.to_vec();
            changed[i] = replacement;
            let changed = String::from_utf8(changed).unwrap();
            assert!(
                v.verify(&changed, NOW, &no_revocations()).is_err(),
                "changing byte {i} to {:?} still verified",
                replacement as char
            );
            tried += 1;
        }
    }
    assert!(tried > 4 * token.len() - 10);
}

#[test]
fn truncated_or_extended_tokens_are_refused() {
    let key = key();
    let token = issue(&key, &request("r"), NOW).unwrap().token;
    let v = verifier_for(&key);
    for cut in 1..token.len() {
        assert!(v.verify(&token[..cut], NOW, &no_revocations()).is_err());
    }
    for suffix in ["A", ".", "=", " ", "\n", ".AAAA"] {
        assert!(v
            .verify(&format!("{token}{suffix}"), NOW, &no_revocations())
            .is_err());
    }
}

// ---- payload shape ----------------------------------------------------------------------------

#[test]
fn payload_must_be_a_json_object_with_unique_keys() {
    let key = key();
    let v = verifier_for(&key);
    let base = payload_with(&[]);
    let duplicated_role = base.replacen('{', r#"{"role":"admin","#, 1);
    for payload in [
        "[]".to_string(),
        "\"role\"".to_string(),
        "42".to_string(),
        "null".to_string(),
        "not json".to_string(),
        format!("{base} {base}"),
        duplicated_role,
    ] {
        let t = sign_raw(&key, &payload);
        assert!(
            matches!(
                v.verify(&t, NOW, &no_revocations()),
                Err(TokenError::Malformed(_))
            ),
            "payload {payload}: {:?}",
            v.verify(&t, NOW, &no_revocations())
        );
    }
}

#[test]
fn required_claims_must_be_present() {
    let key = key();
    let v = verifier_for(&key);
    for claim in ["role", "exp", "jti", "iat", "nbf"] {
        let t = sign_raw(&key, &payload_with(&[(claim, None)]));
        assert_eq!(
            v.verify(&t, NOW, &no_revocations()),
            Err(TokenError::MissingClaim(claim)),
            "{claim}"
        );
    }
}

#[test]
fn claims_of_the_wrong_type_are_refused() {
    let key = key();
    let v = verifier_for(&key);
    let cases = [
        ("role", json!(1)),
        ("role", json!(null)),
        ("role", json!(["admin"])),
        ("role", json!("")),
        ("tenant_id", json!(7)),
        ("tenant_id", json!(null)),
        ("tenant_id", json!("")),
        ("label", json!(true)),
        ("jti", json!(123)),
        ("jti", json!("has space")),
        ("jti", json!("")),
        ("jti", json!("x".repeat(129))),
        // PASETO times are RFC 3339 strings, not numbers.
        ("exp", json!(1_795_554_000)),
        ("exp", json!("tomorrow")),
        ("exp", json!("2026-11-24T21:00:00.5Z")),
        ("exp", json!("2026-11-24 21:00:00")),
        ("iat", json!({})),
        ("nbf", json!("2026-11-24")),
        ("extra_float", json!(1.5)),
        ("extra_big", json!(u64::MAX)),
        ("extra_bool", json!(true)),
        ("extra_null", json!(null)),
        ("extra_list", json!([1])),
        ("extra_obj", json!({"a": 1})),
        ("iss", json!("someone")),
        ("sub", json!("someone")),
        ("aud", json!("someone")),
        ("Role", json!("admin")),
        ("TENANT_ID", json!("other")),
        ("not-an-identifier", json!("x")),
        ("1starts_with_digit", json!("x")),
        ("", json!("x")),
    ];
    for (claim, value) in cases {
        let t = sign_raw(&key, &payload_with(&[(claim, Some(value.clone()))]));
        assert!(
            matches!(
                v.verify(&t, NOW, &no_revocations()),
                Err(TokenError::InvalidClaim { .. })
            ),
            "{claim} = {value}: {:?}",
            v.verify(&t, NOW, &no_revocations())
        );
    }
}

#[test]
fn times_with_an_offset_are_understood() {
    let key = key();
    let t = sign_raw(
        &key,
        &payload_with(&[("exp", Some(json!("2026-11-24T22:00:00+01:00")))]),
    );
    let c = verifier_for(&key)
        .verify(&t, NOW, &no_revocations())
        .unwrap();
    assert_eq!(c.exp, NOW + HOUR);
}

#[test]
fn a_hand_signed_token_with_valid_claims_is_accepted() {
    // Guards the negative tests above: the fixture payload itself is valid.
    let key = key();
    let t = sign_raw(&key, &payload_with(&[("max_rows", Some(json!(10)))]));
    let c = verifier_for(&key)
        .verify(&t, NOW, &no_revocations())
        .unwrap();
    assert_eq!(c.get("max_rows"), Some(ClaimValue::Int(10)));
}

// ---- time -------------------------------------------------------------------------------------

#[test]
fn expiry_is_exclusive_and_not_before_is_inclusive() {
    let key = key();
    let issued = issue(&key, &request("r"), NOW).unwrap();
    let v = verifier_for(&key);
    let none = no_revocations();

    assert_eq!(
        v.verify(&issued.token, NOW - 1, &none),
        Err(TokenError::NotYetValid { nbf: NOW })
    );
    assert!(v.verify(&issued.token, NOW, &none).is_ok());
    assert!(v.verify(&issued.token, NOW + HOUR - 1, &none).is_ok());
    assert_eq!(
        v.verify(&issued.token, NOW + HOUR, &none),
        Err(TokenError::Expired { exp: NOW + HOUR })
    );
    assert_eq!(
        v.verify(&issued.token, i64::MAX, &none),
        Err(TokenError::Expired { exp: NOW + HOUR })
    );
    // The signature-only check ignores time (for `token inspect`).
    assert!(v.verify_signature_only(&issued.token).is_ok());
}

#[test]
fn check_times_is_what_the_gateway_runs_per_statement() {
    let key = key();
    let claims = issue(&key, &request("r"), NOW).unwrap().claims;
    assert_eq!(check_times(&claims, NOW), Ok(()));
    assert_eq!(
        check_times(&claims, NOW + HOUR),
        Err(TokenError::Expired { exp: NOW + HOUR })
    );
    assert_eq!(
        check_times(&claims, NOW - 1),
        Err(TokenError::NotYetValid { nbf: NOW })
    );
}

#[test]
fn a_future_nbf_in_the_token_is_respected() {
    let key = key();
    let t = sign_raw(
        &key,
        &payload_with(&[("nbf", Some(json!("2026-11-24T20:30:00Z")))]),
    );
    let v = verifier_for(&key);
    assert_eq!(
        v.verify(&t, NOW, &no_revocations()),
        Err(TokenError::NotYetValid { nbf: NOW + 1800 })
    );
    assert!(v.verify(&t, NOW + 1800, &no_revocations()).is_ok());
}

// ---- revocation -------------------------------------------------------------------------------

#[test]
fn a_revoked_jti_is_refused() {
    let key = key();
    let issued = issue(&key, &request("r"), NOW).unwrap();
    let other = issue(&key, &request("r"), NOW).unwrap();
    let list = RevocationList::parse(&format!("# revoked\n{}\n", issued.claims.jti)).unwrap();
    let v = verifier_for(&key);
    assert_eq!(
        v.verify(&issued.token, NOW, &list),
        Err(TokenError::Revoked)
    );
    assert!(v.verify(&other.token, NOW, &list).is_ok());
}

// ---- messages ---------------------------------------------------------------------------------

#[test]
fn public_reasons_reveal_only_expired_and_revoked() {
    assert_eq!(TokenError::Expired { exp: NOW }.public_reason(), "expired");
    assert_eq!(TokenError::Revoked.public_reason(), "revoked");
    for e in [
        TokenError::BadSignature,
        TokenError::UnknownKey,
        TokenError::Malformed("x".into()),
        TokenError::NotYetValid { nbf: NOW },
        TokenError::MissingClaim("role"),
        TokenError::WrongVersionOrPurpose {
            found: "v4.local".into(),
        },
    ] {
        assert_eq!(e.public_reason(), "invalid");
    }
}

#[test]
fn messages_say_what_happened_and_what_to_do() {
    let msg = TokenError::Expired { exp: NOW + HOUR }.to_string();
    assert_eq!(
        msg,
        "token expired at 2026-11-24T21:00:00Z; issue a new one with `sluice token create`"
    );
    assert!(TokenError::UnknownKey
        .to_string()
        .contains("signed by a key this gateway does not know"));
}

fn b64_decode(s: &str) -> Vec<u8> {
    use ct_codecs::{Base64UrlSafeNoPadding, Decoder};
    Base64UrlSafeNoPadding::decode_to_vec(s, None).unwrap()
}

fn b64_encode(b: &[u8]) -> String {
    use ct_codecs::{Base64UrlSafeNoPadding, Encoder};
    Base64UrlSafeNoPadding::encode_to_string(b).unwrap()
}

#[test]
fn every_single_decoded_byte_change_is_refused() {
    let key = key();
    let token = issue(&key, &request("agent_readonly"), NOW).unwrap().token;
    let v = verifier_for(&key);
    let p = parts(&token);
    let (message, footer) = (b64_decode(&p[2]), b64_decode(&p[3]));

    // Payload and signature: the base64 is canonical again, so only the signature can catch it.
    for i in 0..message.len() {
        for flip in [0x01u8, 0x80] {
            let mut m = message.clone();
            m[i] ^= flip;
            let t = format!("v4.public.{}.{}", b64_encode(&m), p[3]);
            assert_eq!(
                v.verify(&t, NOW, &no_revocations()),
                Err(TokenError::BadSignature),
                "message byte {i} ^ {flip:#x}"
            );
        }
    }
    // Footer: either no longer names a known key, no longer parses, or fails the signature.
    for i in 0..footer.len() {
        let mut f = footer.clone();
        f[i] ^= 0x01;
        let t = format!("v4.public.{}.{}", p[2], b64_encode(&f));
        assert!(
            matches!(
                v.verify(&t, NOW, &no_revocations()),
                Err(TokenError::UnknownKey | TokenError::Malformed(_) | TokenError::BadSignature)
            ),
            "footer byte {i}"
        );
    }
}

#[test]
fn a_payload_edited_to_grant_more_fails_the_signature() {
    let key = key();
    let token = issue(&key, &request("agent_readonly"), NOW).unwrap().token;
    let p = parts(&token);
    let message = b64_decode(&p[2]);
    let (payload, sig) = message.split_at(message.len() - 64);
    let edited = String::from_utf8(payload.to_vec())
        .unwrap()
        .replace("agent_readonly", "agent_support_")
        .replace("2026-11-24T21", "2099-11-24T21");
    let mut m = edited.into_bytes();
    m.extend_from_slice(sig);
    let forged = format!("v4.public.{}.{}", b64_encode(&m), p[3]);
    assert_eq!(
        unverified_claims(&forged).unwrap().role,
        "agent_support_",
        "the edit itself is well-formed"
    );
    assert_eq!(
        verifier_for(&key).verify(&forged, NOW, &no_revocations()),
        Err(TokenError::BadSignature)
    );
}
