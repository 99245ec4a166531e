//! Claim values that could never be a safe SQL literal are refused at issue and again at verify.

mod common;

use common::*;
use serde_json::json;
use sluice_tokens::{issue, ClaimValue, TokenError, MAX_CLAIM_VALUE_LEN};

/// Strings no claim may hold: every class of control character, and one byte too many.
fn unsafe_values() -> Vec<String> {
    let mut v: Vec<String> = [
        "acme\0",
        "acme\n",
        "acme\r",
        "acme\t",
        "a\u{1b}[31m",
        "a\u{7f}",
        "a\u{80}",
        "a\u{85}",
        "a\u{9f}",
        "\u{1}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("x".repeat(MAX_CLAIM_VALUE_LEN + 1));
    // 129 two-byte characters: 258 bytes although only 129 characters.
    v.push("é".repeat(129));
    v
}

#[test]
fn safe_edge_values_are_accepted() {
    let key = key();
    let mut req = request_with_extra(&[
        ("quote", ClaimValue::Str("o'brien \"x\" \\ ; --".into())),
        ("longest", ClaimValue::Str("x".repeat(MAX_CLAIM_VALUE_LEN))),
        ("unicode", ClaimValue::Str("é".repeat(128))),
        ("a", ClaimValue::Int(i64::MIN)),
        ("_", ClaimValue::Str("".into())),
    ]);
    req.label = Some(String::new());
    let issued = issue(&key, &req, NOW).unwrap();
    let c = verifier_for(&key)
        .verify(&issued.token, NOW, &no_revocations())
        .unwrap();
    assert_eq!(c, issued.claims);
}

#[test]
fn unsafe_values_are_refused_at_issue() {
    let key = key();
    for bad in unsafe_values() {
        let mut cases = Vec::new();
        cases.push(("role", request(&bad)));
        let mut r = request("r");
        r.tenant_id = Some(bad.clone());
        cases.push(("tenant_id", r));
        let mut r = request("r");
        r.label = Some(bad.clone());
        cases.push(("label", r));
        cases.push((
            "region",
            request_with_extra(&[("region", ClaimValue::Str(bad.clone()))]),
        ));
        for (claim, req) in cases {
            match issue(&key, &req, NOW) {
                Err(TokenError::UnsafeClaimValue { claim: c, .. }) => assert_eq!(c, claim),
                other => panic!("{claim} = {bad:?}: {other:?}"),
            }
        }
    }
}

#[test]
fn unsafe_values_are_refused_at_verify() {
    // Signed with pasetors directly, so the issue-side check never ran.
    let key = key();
    let v = verifier_for(&key);
    for bad in unsafe_values() {
        for claim in ["role", "tenant_id", "label", "region"] {
            let t = sign_raw(&key, &payload_with(&[(claim, Some(json!(bad)))]));
            match v.verify(&t, NOW, &no_revocations()) {
                Err(TokenError::UnsafeClaimValue { claim: c, .. }) => assert_eq!(c, claim),
                other => panic!("{claim} = {bad:?}: {other:?}"),
            }
            // Not even shown as untrusted claims.
            assert!(matches!(
                sluice_tokens::unverified_claims(&t),
                Err(TokenError::UnsafeClaimValue { .. })
            ));
        }
    }
}

#[test]
fn escaped_control_characters_in_json_are_still_control_characters() {
    let key = key();
    let payload = payload_with(&[]).replace("acme-rentals", "acme\\u0000-rentals");
    assert!(payload.contains("\\u0000"));
    let t = sign_raw(&key, &payload);
    assert!(matches!(
        verifier_for(&key).verify(&t, NOW, &no_revocations()),
        Err(TokenError::UnsafeClaimValue { claim, .. }) if claim == "tenant_id"
    ));
}

#[test]
fn empty_role_or_tenant_is_refused_at_issue() {
    let key = key();
    assert!(matches!(
        issue(&key, &request(""), NOW),
        Err(TokenError::InvalidClaim { claim, .. }) if claim == "role"
    ));
    let mut r = request("r");
    r.tenant_id = Some(String::new());
    assert!(matches!(
        issue(&key, &r, NOW),
        Err(TokenError::InvalidClaim { claim, .. }) if claim == "tenant_id"
    ));
}

#[test]
fn extra_claim_names_must_be_identifiers_and_not_reserved() {
    let key = key();
    let too_long = "a".repeat(65);
    for name in [
        "role",
        "tenant_id",
        "exp",
        "iat",
        "nbf",
        "jti",
        "label",
        "iss",
        "sub",
        "aud",
        "ROLE",
        "Tenant_Id",
        "",
        "1abc",
        "a-b",
        "a.b",
        "a b",
        "naïve",
        "a\0",
        too_long.as_str(),
    ] {
        let req = request_with_extra(&[(name, ClaimValue::Int(1))]);
        assert!(
            matches!(issue(&key, &req, NOW), Err(TokenError::InvalidClaim { .. })),
            "{name:?}"
        );
    }
    let ok_name = "a".repeat(64);
    for name in ["_", "_x", "Region", "tenant", "role2", ok_name.as_str()] {
        let req = request_with_extra(&[(name, ClaimValue::Int(1))]);
        assert!(issue(&key, &req, NOW).is_ok(), "{name:?}");
    }
}

#[test]
fn error_names_from_untrusted_payloads_are_escaped_and_bounded() {
    let key = key();
    let evil_name = format!("\n{}", "x".repeat(500));
    let t = sign_raw(&key, &payload_with(&[(evil_name.as_str(), Some(json!(1)))]));
    match verifier_for(&key).verify(&t, NOW, &no_revocations()) {
        Err(TokenError::InvalidClaim { claim, .. }) => {
            assert!(!claim.contains('\n'));
            assert!(claim.len() < 100, "{claim}");
        }
        other => panic!("{other:?}"),
    }
}
