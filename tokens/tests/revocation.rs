//! The plain-text revocation list.

use sluice_tokens::{issue, jti_of, IssuerKey, RevocationError, RevocationList, TokenError};

#[test]
fn parses_jtis_comments_and_blank_lines() {
    let text = "\
# revoked by ops, 2026-04-29
0123456789abcdef0123456789abcdef

   fedcba9876543210fedcba9876543210   
abc_DEF-123 # leaked in a CI log
\t# indented comment
with-tab\t# tab before the comment
";
    let list = RevocationList::parse(text).unwrap();
    assert_eq!(list.len(), 4);
    assert!(!list.is_empty());
    for jti in [
        "0123456789abcdef0123456789abcdef",
        "fedcba9876543210fedcba9876543210",
        "abc_DEF-123",
        "with-tab",
    ] {
        assert!(list.contains(jti), "{jti}");
    }
    assert!(!list.contains("# revoked by ops, 2026-04-29"));
    assert!(!list.contains(""));
}

#[test]
fn duplicates_and_crlf_are_fine() {
    let list = RevocationList::parse("a1\r\na1\r\nb2\r\n").unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.contains("a1") && list.contains("b2"));
}

#[test]
fn empty_text_and_default_revoke_nothing() {
    for list in [
        RevocationList::parse("").unwrap(),
        RevocationList::parse("# nothing yet\n\n").unwrap(),
        RevocationList::default(),
        RevocationList::empty(),
    ] {
        assert!(list.is_empty());
        assert_eq!(list.len(), 0);
        assert!(!list.contains("abc"));
    }
}

#[test]
fn a_bad_line_is_an_error_naming_its_line_number() {
    let cases = [
        ("ok1\nnot a jti\n", 2),
        ("ok1\n\n# c\nabc#def\n", 4),
        ("ok1\nok2\nok3\n\u{0}\n", 4),
        ("x\ny\n$(rm -rf /)\n", 3),
        ("é\n", 1),
        ("ok1\n'; DROP TABLE t; --\n", 2),
    ];
    for (text, line) in cases {
        match RevocationList::parse(text) {
            Err(RevocationError { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
            Ok(_) => panic!("{text:?} parsed"),
        }
    }
    let too_long = "a".repeat(129);
    assert_eq!(RevocationList::parse(&too_long).unwrap_err().line, 1);
    assert!(RevocationList::parse(&"a".repeat(128)).is_ok());
}

#[test]
fn the_error_does_not_echo_the_line() {
    let err = RevocationList::parse("ok\npostgres://app:hunter2@db/rental\n").unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("revocation list line 2:"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[test]
fn a_whole_token_on_a_line_is_explained() {
    let key = IssuerKey::generate().unwrap();
    let t = issue(&key, &request(), 0).unwrap().token;
    let err = RevocationList::parse(&t).unwrap_err();
    assert_eq!(err.line, 1);
    assert!(err.reason.contains("whole token"), "{}", err.reason);
}

#[test]
fn from_jtis_drops_implausible_entries() {
    let list = RevocationList::from_jtis(["abc", "not a jti", ""]);
    assert_eq!(list.len(), 1);
    assert!(list.contains("abc"));
}

#[test]
fn jti_of_accepts_a_token_or_a_jti() {
    let key = IssuerKey::generate().unwrap();
    let issued = issue(&key, &request(), 0).unwrap();
    assert_eq!(jti_of(&issued.token).unwrap(), issued.claims.jti);
    assert_eq!(
        jti_of(&format!(" {}\n", issued.token)).unwrap(),
        issued.claims.jti
    );
    assert_eq!(jti_of("abc-123").unwrap(), "abc-123");
    assert!(matches!(
        jti_of("not a jti"),
        Err(TokenError::InvalidClaim { .. })
    ));
    assert!(matches!(
        jti_of("v4.public.AAAA"),
        Err(TokenError::Malformed(_))
    ));
    // What `token revoke` writes, the list reads back and the verifier honours.
    let list = RevocationList::parse(&format!("{}\n", jti_of(&issued.token).unwrap())).unwrap();
    assert!(list.contains(&issued.claims.jti));
}

fn request() -> sluice_tokens::TokenRequest {
    sluice_tokens::TokenRequest {
        role: "agent_readonly".into(),
        tenant_id: None,
        extra: Default::default(),
        lifetime_secs: 60,
        label: None,
    }
}
