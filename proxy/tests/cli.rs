//! End-to-end tests of the `sluice` binary: every command of mission.md, driven as a user would.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sluice_tokens::{IssuerKey, TokenRequest};

const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/roles.yaml");

fn sluice() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
    // Tests must not pick up a developer's SLUICE_* settings.
    for (k, _) in std::env::vars() {
        if k.starts_with("SLUICE_") {
            c.env_remove(k);
        }
    }
    c
}

fn run(args: &[&str]) -> Output {
    sluice().args(args).output().expect("run sluice")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

struct Keys {
    _dir: tempfile::TempDir,
    dir: PathBuf,
}

impl Keys {
    fn new() -> Keys {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("keys");
        let o = run(&["keygen", "--out-dir", dir.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        Keys { _dir: tmp, dir }
    }
    fn secret(&self) -> String {
        self.dir.join("issuer.key").display().to_string()
    }
    fn public(&self) -> String {
        self.dir.join("issuer.pub").display().to_string()
    }
    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
    fn token(&self, extra: &[&str]) -> String {
        let mut args = vec![
            "token",
            "create",
            "--key",
            &*Box::leak(self.secret().into_boxed_str()),
        ];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        assert_eq!(
            out.lines().count(),
            1,
            "token create prints one line: {out}"
        );
        out.trim().to_string()
    }
}

fn inspect(token: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["token", "inspect", token];
    args.extend_from_slice(extra);
    let o = run(&args);
    let json = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("inspect prints JSON ({e}): {} {}", stdout(&o), stderr(&o)));
    (o.status.code().unwrap(), json)
}

#[test]
fn keygen_writes_a_private_key_and_refuses_to_overwrite() {
    let keys = Keys::new();
    let mode = std::fs::metadata(keys.secret())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let secret_before = std::fs::read_to_string(keys.secret()).unwrap();
    assert!(secret_before.starts_with("k4.secret."));
    assert!(std::fs::read_to_string(keys.public())
        .unwrap()
        .starts_with("k4.public."));

    let o = run(&["keygen", "--out-dir", keys.dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(keys.secret()).unwrap(),
        secret_before
    );
}

#[test]
fn keygen_refuses_even_when_only_the_public_key_exists() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("issuer.pub"), "old").unwrap();
    let o = run(&["keygen", "--out-dir", tmp.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!tmp.path().join("issuer.key").exists());
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("issuer.pub")).unwrap(),
        "old"
    );
}

#[test]
fn a_world_readable_issuer_key_is_refused() {
    let keys = Keys::new();
    std::fs::set_permissions(keys.secret(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = run(&[
        "token",
        "create",
        "--key",
        &keys.secret(),
        "--role",
        "r",
        "--expires-in",
        "1h",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("chmod 600"), "{}", stderr(&o));
}

#[test]
fn create_prints_a_token_that_inspect_accepts() {
    let keys = Keys::new();
    let token = keys.token(&[
        "--role",
        "agent_support",
        "--tenant-id",
        "acme-rentals",
        "--claim",
        "region=7",
        "--claim",
        "team=ops",
        "--claim",
        "zip=01234",
        "--expires-in",
        "1h",
        "--label",
        "support-agent-2026-04-29",
        "--rbac-config",
        SEED,
    ]);
    assert!(token.starts_with("v4.public."));
    let (code, json) = inspect(
        &token,
        &[
            "--public-key",
            &keys.public(),
            "--revocations",
            &keys.path("rev"),
        ],
    );
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["valid"], true);
    assert_eq!(json["checks"]["signature"], "ok");
    let c = &json["claims"];
    assert_eq!(c["role"], "agent_support");
    assert_eq!(c["tenant_id"], "acme-rentals");
    assert_eq!(c["region"], 7);
    assert_eq!(c["team"], "ops");
    assert_eq!(c["zip"], "01234");
    assert_eq!(c["label"], "support-agent-2026-04-29");
    assert_eq!(c["jti"].as_str().unwrap().len(), 32);
}

#[test]
fn create_json_and_dsn_formats() {
    let keys = Keys::new();
    let o = run(&[
        "token",
        "create",
        "--key",
        &keys.secret(),
        "--role",
        "agent_readonly",
        "--tenant-id",
        "t1",
        "--expires-in",
        "15m",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json["claims"]["role"], "agent_readonly");
    assert!(json["token"].as_str().unwrap().starts_with("v4.public."));

    let o = run(&[
        "token",
        "create",
        "--key",
        &keys.secret(),
        "--role",
        "agent_readonly",
        "--expires-in",
        "15m",
        "--format",
        "dsn",
        "--dsn-base",
        "postgresql://agent@127.0.0.1:6432/rental",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dsn = stdout(&o).trim().to_string();
    let token = dsn
        .strip_prefix("postgresql://agent:")
        .unwrap()
        .strip_suffix("@127.0.0.1:6432/rental")
        .unwrap();
    let (code, _) = inspect(
        token,
        &[
            "--public-key",
            &keys.public(),
            "--revocations",
            &keys.path("rev"),
        ],
    );
    assert_eq!(code, 0);

    let o = run(&[
        "token",
        "create",
        "--key",
        &keys.secret(),
        "--role",
        "r",
        "--expires-in",
        "15m",
        "--format",
        "dsn",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--dsn-base"), "{}", stderr(&o));
}

#[test]
fn create_checks_the_role_file() {
    let keys = Keys::new();
    let o = run(&[
        "token",
        "create",
        "--key",
        &keys.secret(),
        "--role",
        "agent_admin",
        "--tenant-id",
        "a",
        "--expires-in",
        "1h",
        "--rbac-config",
        SEED,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("role `agent_admin` does not exist"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty());

    let o = run(&[
        "token",
        "create",
        "--key",
        &keys.secret(),
        "--role",
        "agent_support",
        "--expires-in",
        "1h",
        "--rbac-config",
        SEED,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("add --tenant-id"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
}

#[test]
fn create_refuses_long_lifetimes_and_unsafe_claims() {
    let keys = Keys::new();
    let o = run(&[
        "token",
        "create",
        "--key",
        &keys.secret(),
        "--role",
        "r",
        "--expires-in",
        "25h",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("maximum lifetime"), "{}", stderr(&o));
    // Raised deliberately, it works.
    keys.token(&[
        "--role",
        "r",
        "--expires-in",
        "25h",
        "--max-lifetime",
        "48h",
    ]);

    let o = run(&[
        "token",
        "create",
        "--key",
        &keys.secret(),
        "--role",
        "r",
        "--tenant-id",
        "a\nb",
        "--expires-in",
        "1h",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).is_empty());
    let long = "x".repeat(257);
    let o = run(&[
        "token",
        "create",
        "--key",
        &keys.secret(),
        "--role",
        "r",
        "--tenant-id",
        &long,
        "--expires-in",
        "1h",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let o = run(&[
        "token",
        "create",
        "--key",
        &keys.secret(),
        "--role",
        "r",
        "--claim",
        "novalue",
        "--expires-in",
        "1h",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("KEY=VALUE"), "{}", stderr(&o));
}

#[test]
fn flags_come_from_the_environment_too() {
    let keys = Keys::new();
    let o = sluice()
        .args(["token", "create"])
        .env("SLUICE_KEY", keys.secret())
        .env("SLUICE_ROLE", "agent_support")
        .env("SLUICE_TENANT_ID", "acme")
        .env("SLUICE_EXPIRES_IN", "10m")
        .env("SLUICE_RBAC_CONFIG", SEED)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let token = stdout(&o).trim().to_string();
    let o = sluice()
        .args(["token", "inspect"])
        .env("SLUICE_TOKEN", &token)
        .env("SLUICE_PUBLIC_KEY", keys.public())
        .env("SLUICE_REVOCATIONS", keys.path("rev"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn inspect_fails_a_tampered_token() {
    let keys = Keys::new();
    let token = keys.token(&[
        "--role",
        "agent_readonly",
        "--tenant-id",
        "acme",
        "--expires-in",
        "1h",
    ]);
    // Re-encode the payload with another tenant and keep the signature.
    let forged = {
        let claims = sluice_tokens::unverified_claims(&token).unwrap();
        let mut json = claims.to_json();
        json["tenant_id"] = "other".into();
        let parts: Vec<&str> = token.split('.').collect();
        let body = base64url_decode(parts[2]);
        let sig = &body[body.len() - 64..];
        let mut new_body = serde_json::to_vec(&json).unwrap();
        new_body.extend_from_slice(sig);
        format!("v4.public.{}.{}", base64url_encode(&new_body), parts[3])
    };
    let (code, json) = inspect(
        &forged,
        &[
            "--public-key",
            &keys.public(),
            "--revocations",
            &keys.path("rev"),
        ],
    );
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["valid"], false);
    assert!(
        json["checks"]["signature"]
            .as_str()
            .unwrap()
            .contains("signature is invalid"),
        "{json}"
    );
    assert_eq!(
        json["claims"]["tenant_id"], "other",
        "inspect shows what the token claims"
    );

    // One flipped character anywhere in the signature part.
    let mut chars: Vec<char> = token.chars().collect();
    let i = token.rfind('.').unwrap() - 10;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let flipped: String = chars.into_iter().collect();
    let o = run(&["token", "inspect", &flipped, "--public-key", &keys.public()]);
    assert_ne!(o.status.code(), Some(0));
}

#[test]
fn inspect_fails_a_token_of_another_key_and_without_a_key() {
    let keys = Keys::new();
    let other = Keys::new();
    let token = other.token(&["--role", "r", "--expires-in", "1h"]);
    let (code, json) = inspect(
        &token,
        &[
            "--public-key",
            &keys.public(),
            "--revocations",
            &keys.path("rev"),
        ],
    );
    assert_eq!(code, 1);
    assert!(
        json["checks"]["signature"]
            .as_str()
            .unwrap()
            .contains("does not know"),
        "{json}"
    );
    // Either key of a rotation verifies.
    let (code, _) = inspect(
        &token,
        &[
            "--public-key",
            &keys.public(),
            "--public-key",
            &other.public(),
            "--revocations",
            &keys.path("rev"),
        ],
    );
    assert_eq!(code, 0);
    // Without a public key nothing is verified, and the exit status says so.
    let (code, json) = inspect(&token, &[]);
    assert_eq!(code, 1);
    assert!(json["checks"]["signature"]
        .as_str()
        .unwrap()
        .starts_with("not checked"));
}

#[test]
fn inspect_reports_expired_and_revoked() {
    let keys = Keys::new();
    let secret = std::fs::read_to_string(keys.secret()).unwrap();
    let key = IssuerKey::from_paserk(secret.trim()).unwrap();
    let req = TokenRequest {
        role: "r".into(),
        tenant_id: None,
        extra: Default::default(),
        lifetime_secs: 60,
        label: None,
    };
    let expired = sluice_tokens::issue(&key, &req, 1_000_000_000)
        .unwrap()
        .token;
    let (code, json) = inspect(
        &expired,
        &[
            "--public-key",
            &keys.public(),
            "--revocations",
            &keys.path("rev"),
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(json["checks"]["signature"], "ok");
    assert!(
        json["checks"]["time"].as_str().unwrap().contains("expired"),
        "{json}"
    );

    let token = keys.token(&["--role", "r", "--expires-in", "1h"]);
    let rev = keys.path("revoked.txt");
    let o = run(&["token", "revoke", "--revocations", &rev, &token]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (code, json) = inspect(
        &token,
        &["--public-key", &keys.public(), "--revocations", &rev],
    );
    assert_eq!(code, 1);
    assert!(
        json["checks"]["revocation"]
            .as_str()
            .unwrap()
            .starts_with("revoked"),
        "{json}"
    );
}

#[test]
fn revoke_is_idempotent_and_accepts_a_jti() {
    let keys = Keys::new();
    let rev = keys.path("rev.txt");
    std::fs::write(&rev, "# revoked tokens\nabc123").unwrap(); // no trailing newline
    let token = keys.token(&["--role", "r", "--expires-in", "1h"]);
    let jti = sluice_tokens::unverified_claims(&token).unwrap().jti;
    for _ in 0..2 {
        let o = run(&["token", "revoke", "--revocations", &rev, &token]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = run(&["token", "revoke", "--revocations", &rev, &jti]);
    assert!(stdout(&o).contains("already revoked"), "{}", stdout(&o));
    assert_eq!(
        std::fs::read_to_string(&rev).unwrap(),
        format!("# revoked tokens\nabc123\n{jti}\n")
    );

    let o = run(&["token", "revoke", "--revocations", &rev, "not a jti!"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn concurrent_revokes_lose_no_line() {
    let keys = Keys::new();
    let rev = keys.path("rev.txt");
    let jtis: Vec<String> = (0..24).map(|i| format!("{i:032x}")).collect();
    // Every jti is revoked by two processes at once: 48 racing appends.
    let children: Vec<_> = jtis
        .iter()
        .chain(jtis.iter())
        .map(|j| {
            sluice()
                .args(["token", "revoke", "--revocations", &rev, j])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let text = std::fs::read_to_string(&rev).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 24, "{text}");
    lines.sort();
    let mut expected: Vec<&str> = jtis.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(lines, expected);
}

#[test]
fn check_validates_and_explains() {
    let o = run(&["check", "--rbac-config", SEED]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("ok, 2 role(s): agent_readonly, agent_support"));

    let o = run(&["check", "--rbac-config", SEED, "--explain", "agent_support"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for needle in [
        "inherits: agent_readonly",
        "UPDATE: notes, status",
        "rows where: tenant_id = {{ token.tenant_id }} (from role agent_readonly)",
        "forbidden: DELETE (forbidden_operations), DROP (forbidden_operations), TRUNCATE (forbidden_operations)",
        "rate limit: 200/min",
    ] {
        assert!(out.contains(needle), "missing `{needle}` in:\n{out}");
    }

    let o = run(&["check", "--rbac-config", SEED, "--explain", "nobody"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no role `nobody`"));

    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "roles:\n  r:\n    tables:\n      t: [SELECT, DELTE]\n",
    )
    .unwrap();
    let o = run(&["check", "--rbac-config", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&format!(
            "{}:4:19: unknown operation `DELTE`",
            bad.display()
        )),
        "{}",
        stderr(&o)
    );

    let o = run(&["check", "--rbac-config", "/nonexistent/roles.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read role file /nonexistent/roles.yaml"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn check_db_lints_the_role_file_against_the_database() {
    use sluice_integration::rental::{self, seed_mariadb, seed_mariadb_with_keys, seed_pg};
    let tmp = tempfile::tempdir().unwrap();
    let roles = tmp.path().join("roles.yaml");
    std::fs::write(&roles, rental::ROLES).unwrap();
    let roles = roles.to_str().unwrap();
    let pg = sluice_integration::shared_pg();
    let my = sluice_integration::shared_mariadb();

    // No index on tenant_id: agent_support's UPDATE of reservations scans every tenant's rows.
    for (url, effect) in [
        (pg.url(&seed_pg(pg).unwrap()), "40001"),
        (my.url(&seed_mariadb(my).unwrap()), "1205"),
    ] {
        let o = run(&["check", "--rbac-config", roles, "--db", &url]);
        assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
        let out = stdout(&o);
        let findings: Vec<&str> = out.lines().filter(|l| l.starts_with("role ")).collect();
        assert_eq!(findings.len(), 1, "{out}");
        assert!(
            findings[0].starts_with(
                "role agent_support, table reservations: no index starts with tenant_id"
            ) && findings[0].contains("CREATE INDEX ON reservations (tenant_id)")
                && findings[0].contains(effect),
            "{out}"
        );
        assert!(out.ends_with("1 finding(s)\n"), "{out}");
    }

    // With an index that starts with tenant_id, and unique keys no role of the file can write.
    let db = rental::seed_pg_with_keys(pg).unwrap();
    let o = sluice()
        .args(["check", "--rbac-config", roles])
        .env("SLUICE_CHECK_DB", pg.url(&db))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).ends_with("nothing to report\n"),
        "{}",
        stdout(&o)
    );
    let url = my.url(&seed_mariadb_with_keys(my).unwrap());
    let o = run(&["check", "--rbac-config", roles, "--db", &url]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));

    // A database that cannot be read is an error that does not repeat the password.
    let o = run(&[
        "check",
        "--rbac-config",
        roles,
        "--db",
        "postgres://app:hunter2secret@127.0.0.1:1/rental",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read the schema of the PostgreSQL backend 127.0.0.1:1/rental"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("hunter2secret"), "{}", stderr(&o));

    let o = run(&["check", "--help"]);
    assert!(
        stdout(&o).contains("--db <URL>") && stdout(&o).contains("unique keys"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn serve_validates_before_listening() {
    let keys = Keys::new();
    // A bad backend connection string is reported without echoing it (it holds a password).
    let o = run(&[
        "serve",
        "--rbac-config",
        SEED,
        "--public-key",
        &keys.public(),
        "--pg-listen",
        "127.0.0.1:0",
        "--pg-backend",
        "postgres://app:hunter2@127.0.0.1:5432/db?nonsense_option=1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("parameter `nonsense_option` is refused"),
        "{}",
        stderr(&o)
    );
    assert!(
        !stderr(&o).contains("hunter2"),
        "the backend password must not be echoed"
    );

    let o = run(&[
        "serve",
        "--rbac-config",
        SEED,
        "--public-key",
        &keys.public(),
        "--mysql-listen",
        "127.0.0.1:0",
        "--mysql-backend",
        "mysql://app:hunter2@127.0.0.1/db?nonsense_option=1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--mysql-backend: the parameter `nonsense_option` is refused"),
        "{}",
        stderr(&o)
    );
    assert!(
        !stderr(&o).contains("hunter2"),
        "the backend password must not be echoed"
    );
    let o = run(&[
        "serve",
        "--rbac-config",
        SEED,
        "--public-key",
        &keys.public(),
        "--mysql-listen",
        "127.0.0.1:0",
        "--mysql-backend",
        "mysql://app:hunter2@127.0.0.1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--mysql-backend names no database"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "serve",
        "--rbac-config",
        SEED,
        "--public-key",
        &keys.public(),
        "--mysql-listen",
        "127.0.0.1:0",
    ]);
    assert!(
        stderr(&o).contains("needs --mysql-backend"),
        "{}",
        stderr(&o)
    );

    let o = run(&[
        "serve",
        "--rbac-config",
        SEED,
        "--public-key",
        &keys.public(),
        "--http-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--http-listen needs a backend"),
        "{}",
        stderr(&o)
    );

    let o = run(&[
        "serve",
        "--rbac-config",
        SEED,
        "--public-key",
        &keys.public(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nothing to serve"), "{}", stderr(&o));

    let o = run(&[
        "serve",
        "--rbac-config",
        SEED,
        "--public-key",
        &keys.public(),
        "--pg-listen",
        "127.0.0.1:0",
    ]);
    assert!(stderr(&o).contains("needs --pg-backend"), "{}", stderr(&o));

    let o = run(&[
        "serve",
        "--rbac-config",
        SEED,
        "--public-key",
        &keys.secret(),
        "--pg-listen",
        "127.0.0.1:0",
        "--pg-backend",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is not a public key"), "{}", stderr(&o));
}

#[test]
fn help_everywhere() {
    for args in [
        vec!["--help"],
        vec!["keygen", "--help"],
        vec!["token", "--help"],
        vec!["token", "create", "--help"],
        vec!["token", "inspect", "--help"],
        vec!["token", "revoke", "--help"],
        vec!["check", "--help"],
        vec!["serve", "--help"],
    ] {
        let o = run(&args);
        assert!(o.status.success(), "{args:?}");
        let out = stdout(&o);
        assert!(out.contains("Usage: sluice"), "{args:?}: {out}");
    }
    let o = run(&["token", "create", "--help"]);
    assert!(
        stdout(&o).contains("[env: SLUICE_EXPIRES_IN=]"),
        "{}",
        stdout(&o)
    );
}

fn base64url_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url"),
        }
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for &c in s.as_bytes() {
        acc = (acc << 6) | val(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn base64url_encode(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0);
    for &x in b {
        acc = (acc << 8) | x as u32;
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(A[((acc >> bits) & 63) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(A[((acc << (6 - bits)) & 63) as usize] as char);
    }
    out
}

#[allow(dead_code)]
fn _unused(_: &Path) {}
