//! The MCP door end to end, driven by the official MCP Python SDK (PyPI `mcp`) through
//! `integration/clients/mcp_check.py`: over Streamable HTTP (`/mcp` on the HTTP door) and over
//! stdio (`sluice mcp stdio`, the built binary), each with the 2025-11-25 `initialize` handshake
//! and the 2026-07-28 `server/discover` lifecycle (no handshake, self-contained requests).
//!
//! What is shown, against the seeded two-tenant rental database (PostgreSQL, and MariaDB for the
//! calls):
//! - `tools/list` follows the token's role: `agent_readonly` has no tool that writes and its
//!   `query` is read-only; `agent_support` has `update_reservations` whose `set` allows exactly
//!   `notes` and `status`, `insert_reservations`, and no delete tool; annotations say the truth;
//! - `tools/call` results hold only the token's tenant's rows and readable columns; writes
//!   change only its tenant's rows (the database, read directly, agrees);
//! - denials are tool errors (`isError`) naming the rule (`[sluice: rule]`), including calls of
//!   tools the list does not show;
//! - a missing, forged or revoked token gets 401 over HTTP; over stdio a revoked token cannot
//!   start the server, and a token revoked while it runs stops working at the next call;
//! - every call is audited with `door: "mcp"` and the tool's name, never the token;
//! - `sluice token create --format mcp` prints a configuration the SDK connects with.
//!
//! The SDK is not in Debian: `./scripts/test` installs it with pip into the tests' Python
//! environment (`target/test-venv`).
//! The stdio tests run the `sluice` binary next to this test's own executable, which `cargo
//! test --workspace` builds (`SLUICE_BIN` overrides).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use sluice_integration::rental::{seed_mariadb, seed_pg, ROLES};
use sluice_integration::{shared_mariadb, shared_pg, sluice_bin, Gateway, GatewayOptions};

/// A client run that takes longer than this is taken to hang.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);
/// Reservation 1 is acme's, 16 globex's; acme has 15 reservations and 10 customers.
const ACME_ROW: i64 = 1;
const GLOBEX_ROW: i64 = 16;
const ACME_RESERVATIONS: usize = 15;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// Runs mcp_check.py with `spec` and returns its report.
fn check(spec: Value) -> Value {
    let python = sluice_integration::clients::python();
    let probe = Command::new(&python)
        .args(["-c", "import mcp"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        probe.status.success(),
        "the MCP Python SDK (PyPI `mcp`) is missing for {}: run ./scripts/test, which \
         installs it into the tests' Python environment\n{}",
        python.display(),
        String::from_utf8_lossy(&probe.stderr)
    );
    let clients = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients");
    let mut child = Command::new(&python)
        .arg(clients.join("mcp_check.py"))
        .arg(spec.to_string())
        .current_dir(&clients)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mcp_check.py");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut o = String::new();
        let mut e = String::new();
        let _ = out.read_to_string(&mut o);
        let _ = err.read_to_string(&mut e);
        let _ = tx.send((o, e));
    });
    let (stdout, stderr) = match rx.recv_timeout(CLIENT_TIMEOUT) {
        Ok(r) => r,
        Err(_) => {
            let _ = child.kill();
            panic!("mcp_check.py did not finish within {CLIENT_TIMEOUT:?}");
        }
    };
    let status = child.wait().expect("wait for mcp_check.py");
    assert!(
        status.success(),
        "mcp_check.py failed ({status}):\n{stderr}\n{stdout}"
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("mcp_check.py printed no report ({e}):\n{stdout}\n{stderr}"))
}

fn http_spec(gw: &Gateway, token: &str, handshake: &str, steps: Value) -> Value {
    json!({
        "transport": "http",
        "url": format!("http://{}/mcp", gw.http_addr.expect("HTTP door")),
        "token": token,
        "handshake": handshake,
        "steps": steps,
    })
}

/// The report's steps, after checking that the client connected.
fn steps(report: &Value) -> &Vec<Value> {
    assert_eq!(report["connected"], json!(true), "{report:#}");
    assert!(report.get("error").is_none(), "{report:#}");
    report["steps"].as_array().expect("steps")
}

fn tools(step: &Value) -> Vec<&Value> {
    step["tools"]
        .as_array()
        .expect("a tools/list step")
        .iter()
        .collect()
}

fn names(step: &Value) -> BTreeSet<&str> {
    tools(step)
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

fn tool<'a>(step: &'a Value, name: &str) -> &'a Value {
    tools(step)
        .into_iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tool {name} in {step:#}"))
}

/// The rows of a successful call.
fn rows(step: &Value) -> &Vec<Value> {
    assert_eq!(step["is_error"], json!(false), "{step:#}");
    step["structured"]["rows"].as_array().expect("rows")
}

fn affected(step: &Value) -> u64 {
    assert_eq!(step["is_error"], json!(false), "{step:#}");
    step["structured"]["affected_rows"]
        .as_u64()
        .expect("affected_rows")
}

/// A tool error naming `rule`.
fn assert_denied(step: &Value, rule: &str) {
    assert_eq!(step["is_error"], json!(true), "not an error: {step:#}");
    let text = step["text"].as_str().unwrap();
    assert!(
        text.ends_with(&format!("[sluice: {rule}]")),
        "expected a denial by {rule}: {text}"
    );
}

fn call(name: &str, args: Value) -> Value {
    json!({"call": name, "args": args})
}

fn pg_gateway() -> (Gateway, String) {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed pg");
    let opts = GatewayOptions {
        http: true,
        ..Default::default()
    };
    let gw = Gateway::start_pg(&pg.url(&db), &db, ROLES, opts).expect("gateway");
    (gw, db)
}

/// `notes` of a reservation, read directly from the backend.
fn pg_notes(db: &str, id: i64) -> Option<String> {
    let url = shared_pg().url(db);
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("direct connection");
            tokio::spawn(conn);
            client
                .query_one(
                    "SELECT notes FROM reservations WHERE id = $1",
                    &[&(id as i32)],
                )
                .await
                .expect("read notes")
                .get(0)
        })
}

/// A POST to the gateway's /mcp with `authorization` (if any); the status and the body.
fn raw_post(gw: &Gateway, authorization: Option<&str>) -> (u16, String) {
    let addr = gw.http_addr.expect("HTTP door");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "POST /mcp HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
         accept: application/json, text/event-stream\r\ncontent-type: application/json\r\n\
         mcp-protocol-version: 2025-11-25\r\ncontent-length: {}\r\n",
        body.len()
    );
    if let Some(a) = authorization {
        req.push_str(&format!("authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

fn sluice(args: &[&str]) -> String {
    let out = Command::new(sluice_bin())
        .args(args)
        .output()
        .expect("run sluice");
    assert!(
        out.status.success(),
        "sluice {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Keys, a role file and a revocation list in a temp dir, for the processes started here.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        let f = Files { dir };
        sluice(&["keygen", "--out-dir", f.path("keys").to_str().unwrap()]);
        std::fs::write(f.path("roles.yaml"), ROLES).unwrap();
        std::fs::write(f.path("revoked.txt"), "").unwrap();
        f
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn s(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_string()
    }

    /// `sluice token create` with extra arguments; its standard output.
    fn token(&self, role: &str, tenant: &str, extra: &[&str]) -> String {
        let key = self.s("keys/issuer.key");
        let roles = self.s("roles.yaml");
        let mut args = vec![
            "token",
            "create",
            "--key",
            &key,
            "--role",
            role,
            "--tenant-id",
            tenant,
            "--expires-in",
            "10m",
            "--rbac-config",
            &roles,
        ];
        args.extend_from_slice(extra);
        sluice(&args).trim().to_string()
    }

    /// The spec for `sluice mcp stdio` with `token`, against the database at `backend`.
    fn stdio_spec(&self, token: &str, backend: &str, steps: Value) -> Value {
        json!({
            "transport": "stdio",
            "command": sluice_bin(),
            "args": [
                "mcp", "stdio",
                "--rbac-config", self.s("roles.yaml"),
                "--public-key", self.s("keys/issuer.pub"),
                "--revocations", self.s("revoked.txt"),
                "--audit-log", self.s("audit.jsonl"),
            ],
            "env": {"SLUICE_TOKEN": token, "SLUICE_PG_BACKEND": backend},
            "handshake": "initialize",
            "steps": steps,
        })
    }

    fn audit(&self) -> String {
        std::fs::read_to_string(self.path("audit.jsonl")).unwrap_or_default()
    }
}

/// A `sluice serve` process, killed when dropped.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn tool_lists_follow_the_role() {
    let (gw, _db) = pg_gateway();
    let readonly = gw.token("agent_readonly", Some("acme"), 600);
    let support = gw.token("agent_support", Some("acme"), 600);

    let report = check(http_spec(
        &gw,
        &readonly,
        "initialize",
        json!([{"list": true}]),
    ));
    assert_eq!(
        report["protocol_version"],
        json!("2025-11-25"),
        "{report:#}"
    );
    assert_eq!(report["server"]["name"], json!("sluice"), "{report:#}");
    let list = &steps(&report)[0];
    assert_eq!(
        names(list),
        BTreeSet::from([
            "list_tables",
            "describe_table",
            "select_customers",
            "select_reservations",
            "select_vehicles",
            "query",
        ]),
        "{list:#}"
    );
    for t in tools(list) {
        assert_eq!(
            t["annotations"]["readOnlyHint"],
            json!(true),
            "a read-only token's tool must say it only reads: {t:#}"
        );
    }
    // The column list of the role is the select tool's column enum: ssn does not exist for it.
    assert_eq!(
        tool(list, "select_customers")["inputSchema"]["properties"]["columns"]["items"]["enum"],
        json!(["id", "tenant_id", "name", "email"])
    );

    let report = check(http_spec(
        &gw,
        &support,
        "initialize",
        json!([{"list": true}]),
    ));
    let list = &steps(&report)[0];
    assert_eq!(
        names(list),
        BTreeSet::from([
            "list_tables",
            "describe_table",
            "select_customers",
            "select_reservations",
            "select_vehicles",
            "insert_reservations",
            "update_reservations",
            "query",
        ]),
        "no delete tool (DELETE is forbidden), no write on other tables: {list:#}"
    );
    let update = tool(list, "update_reservations");
    let set = &update["inputSchema"]["properties"]["set"];
    assert_eq!(
        set["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        BTreeSet::from(["notes", "status"]),
        "{update:#}"
    );
    assert_eq!(set["additionalProperties"], json!(false), "{update:#}");
    assert_eq!(
        update["inputSchema"]["required"],
        json!(["set", "filter"]),
        "{update:#}"
    );
    assert_eq!(update["annotations"]["readOnlyHint"], json!(false));
    assert_eq!(update["annotations"]["destructiveHint"], json!(true));
    let insert = tool(list, "insert_reservations");
    assert_eq!(insert["annotations"]["readOnlyHint"], json!(false));
    assert_eq!(insert["annotations"]["destructiveHint"], json!(false));
    assert!(
        insert["inputSchema"]["properties"]["rows"]["items"]["properties"]
            .get("internal_score")
            .is_none(),
        "{insert:#}"
    );
    let query = tool(list, "query");
    assert_eq!(query["annotations"]["readOnlyHint"], json!(false));
    assert_eq!(query["annotations"]["destructiveHint"], json!(true));
    for name in ["select_reservations", "list_tables", "describe_table"] {
        assert_eq!(tool(list, name)["annotations"]["readOnlyHint"], json!(true));
    }

    // The 2026-07-28 revision: no handshake, no session, every request self-contained.
    let report = check(http_spec(
        &gw,
        &support,
        "discover",
        json!([{"list": true}, call("select_vehicles", json!({"limit": 2}))]),
    ));
    assert_eq!(
        report["protocol_version"],
        json!("2026-07-28"),
        "{report:#}"
    );
    let s = steps(&report);
    assert!(names(&s[0]).contains("update_reservations"));
    assert_eq!(rows(&s[1]).len(), 2, "{report:#}");
}

#[test]
fn calls_are_confined_and_denials_name_the_rule() {
    let (gw, db) = pg_gateway();
    let support = gw.token("agent_support", Some("acme"), 600);
    let report = check(http_spec(
        &gw,
        &support,
        "initialize",
        json!([
            call("select_reservations", json!({})),
            call(
                "select_reservations",
                json!({"columns": ["id", "notes"], "filter": {"id": format!("eq.{GLOBEX_ROW}")}})
            ),
            call(
                "select_reservations",
                json!({
                    "columns": ["id", "status"],
                    "filter": {"status": "in.(active,booked)", "id": ["gte.1", "lte.8"]},
                    "order": "id.desc",
                    "limit": 3,
                })
            ),
            call(
                "query",
                json!({"sql": "SELECT DISTINCT tenant_id FROM reservations"})
            ),
            call(
                "query",
                json!({"sql": "SELECT count(*) AS n FROM customers"})
            ),
            call("select_customers", json!({"columns": ["ssn"]})),
            call("query", json!({"sql": "DELETE FROM reservations"})),
            call("delete_reservations", json!({"filter": {"id": "eq.1"}})),
            call(
                "update_reservations",
                json!({"set": {"price": 0}, "filter": {"id": "eq.1"}})
            ),
            call(
                "update_reservations",
                json!({"set": {"notes": "called back"}, "filter": {"id": format!("eq.{ACME_ROW}")}})
            ),
            call(
                "update_reservations",
                json!({"set": {"notes": "hijacked"}, "filter": {"id": format!("eq.{GLOBEX_ROW}")}})
            ),
            call(
                "query",
                json!({"sql": "UPDATE reservations SET status = 'active' WHERE id IN (2, 16)"})
            ),
            call(
                "update_reservations",
                json!({"set": {"notes": "everything"}, "filter": {}})
            ),
            call("describe_table", json!({"table": "reservations"})),
            call("list_tables", json!({})),
            call(
                "select_reservations",
                json!({"filter": {"or": "(id.eq.1,id.eq.16)"}, "columns": ["id", "notes"]})
            ),
            call("query", json!({"sql": "SELECT 1; SELECT 2"})),
            call("no_such_tool", json!({})),
        ]),
    ));
    let s = steps(&report);

    // Every row is acme's, and no hidden column comes back.
    let all = rows(&s[0]);
    assert_eq!(all.len(), ACME_RESERVATIONS, "{:#}", s[0]);
    for r in all {
        assert_eq!(r["tenant_id"], json!("acme"), "{r}");
        assert!(r.get("internal_score").is_none(), "{r}");
    }
    assert!(
        s[0]["text"].as_str().unwrap().contains("\"rows\""),
        "the text rendering is the rows' JSON: {:#}",
        s[0]
    );
    assert_eq!(
        rows(&s[1]),
        &Vec::<Value>::new(),
        "globex's row is out of reach"
    );
    assert_eq!(
        rows(&s[2]),
        &vec![
            json!({"id": 8, "status": "active"}),
            json!({"id": 7, "status": "booked"}),
            json!({"id": 4, "status": "booked"}),
        ]
    );
    assert_eq!(rows(&s[3]), &vec![json!({"tenant_id": "acme"})]);
    assert_eq!(rows(&s[4]), &vec![json!({"n": 10})]);

    // Denials: tool errors naming the rule, for listed and unlisted tools alike.
    // A hidden column does not exist for the token's statements.
    assert_eq!(s[5]["is_error"], json!(true), "{:#}", s[5]);
    assert!(
        s[5]["text"]
            .as_str()
            .unwrap()
            .contains("\"ssn\" does not exist"),
        "{:#}",
        s[5]
    );
    assert_denied(&s[6], "forbidden_operation");
    assert_denied(&s[7], "forbidden_operation");
    assert_denied(&s[8], "column_not_granted");

    // Writes reach only acme's rows.
    assert_eq!(affected(&s[9]), 1);
    assert_eq!(affected(&s[10]), 0);
    assert_eq!(affected(&s[11]), 1, "only acme's row 2 of rows 2 and 16");
    assert_eq!(
        s[12]["is_error"],
        json!(true),
        "an update without a filter: {:#}",
        s[12]
    );
    assert!(
        s[12]["text"].as_str().unwrap().contains("filter"),
        "{:#}",
        s[12]
    );

    assert_eq!(
        s[13]["structured"],
        json!({
            "table": "reservations",
            "operations": {
                "SELECT": {"columns": ["id", "tenant_id", "customer_id", "vehicle_id", "status", "notes", "starts_on", "price"]},
                "INSERT": {"columns": ["customer_id", "vehicle_id", "status", "notes", "starts_on", "price", "tenant_id"]},
                "UPDATE": {"columns": ["notes", "status"]},
            },
            // From the schema model, only what the role sees (internal_score is hidden).
            "columns": {
                "id": {"type": "integer", "nullable": false},
                "tenant_id": {"type": "character varying(32)", "nullable": false},
                "customer_id": {"type": "integer", "nullable": false},
                "vehicle_id": {"type": "integer", "nullable": false},
                "status": {"type": "character varying(20)", "nullable": false},
                "notes": {"type": "character varying(500)", "nullable": true},
                "starts_on": {"type": "date", "nullable": false},
                "price": {"type": "numeric(10,2)", "nullable": false},
            },
            "primary_key": ["id"],
            "rows_filtered": true,
        }),
        "{:#}",
        s[13]
    );
    let tables = s[14]["structured"]["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 3, "{:#}", s[14]);
    assert!(tables.contains(&json!({
        "table": "reservations",
        "operations": ["SELECT", "INSERT", "UPDATE"],
        "tools": ["select_reservations", "insert_reservations", "update_reservations"],
    })));
    assert_eq!(
        rows(&s[15]),
        &vec![json!({"id": 1, "notes": "called back"})]
    );
    assert_eq!(s[16]["is_error"], json!(true), "{:#}", s[16]);
    assert_eq!(s[17]["is_error"], json!(true), "{:#}", s[17]);

    // The database agrees.
    assert_eq!(pg_notes(&db, ACME_ROW).as_deref(), Some("called back"));
    assert_eq!(pg_notes(&db, GLOBEX_ROW).as_deref(), Some("smooth"));

    // The read-only token may not write, whatever it calls.
    let readonly = gw.token("agent_readonly", Some("acme"), 600);
    let report = check(http_spec(
        &gw,
        &readonly,
        "initialize",
        json!([
            call(
                "update_reservations",
                json!({"set": {"notes": "x"}, "filter": {"id": "eq.1"}})
            ),
            call(
                "query",
                json!({"sql": "UPDATE reservations SET notes = 'x' WHERE id = 1"})
            ),
        ]),
    ));
    let s = steps(&report);
    assert_denied(&s[0], "table_not_granted");
    assert_denied(&s[1], "table_not_granted");
    assert_eq!(pg_notes(&db, ACME_ROW).as_deref(), Some("called back"));

    // One audit line per call, door mcp, the tool named, never the token.
    let text = gw.audit_text();
    assert!(!text.contains(&support), "the audit log holds a token");
    let lines = gw.audit();
    let mcp: Vec<&Value> = lines.iter().filter(|l| l["door"] == "mcp").collect();
    assert_eq!(mcp.len(), 20, "{mcp:#?}");
    let update = mcp
        .iter()
        .find(|l| {
            l["statement"]
                .as_str()
                .unwrap()
                .starts_with("tool update_reservations")
                && l["decision"] == "deny"
        })
        .expect("the denied update's audit line");
    assert_eq!(update["rule"], json!("column_not_granted"), "{update:#}");
    assert_eq!(update["role"], json!("agent_support"));
    assert_eq!(update["tenant"], json!("acme"));
    let allowed = mcp
        .iter()
        .find(|l| l["statement"].as_str().unwrap().contains("called back"))
        .expect("the allowed update's audit line");
    assert_eq!(allowed["decision"], json!("allow"));
    assert_eq!(allowed["rows"], json!(1));
    assert!(allowed["rendered"]
        .as_str()
        .unwrap()
        .contains("tenant_id = 'acme'"));
}

#[test]
fn bad_and_revoked_tokens_are_refused() {
    let (gw, _db) = pg_gateway();
    let (status, body) = raw_post(&gw, None);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("token missing"), "{body}");
    let (status, body) = raw_post(&gw, Some("Bearer v4.public.forged"));
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("token invalid"), "{body}");
    let expired = gw
        .token_at(
            &sluice_tokens::TokenRequest {
                role: "agent_readonly".into(),
                tenant_id: Some("acme".into()),
                extra: Default::default(),
                lifetime_secs: 60,
                label: None,
            },
            sluice_proxy::now_unix() - 3600,
        )
        .unwrap();
    let (status, body) = raw_post(&gw, Some(&format!("Bearer {expired}")));
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("token expired"), "{body}");

    // Revoked while a client uses it: its next request is refused.
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let (status, _) = raw_post(&gw, Some(&format!("Bearer {token}")));
    assert_eq!(status, 200);
    let jti = sluice_tokens::jti_of(&token).unwrap();
    let report = check(http_spec(
        &gw,
        &token,
        "initialize",
        json!([
            call("select_vehicles", json!({"limit": 1})),
            {"append": {"path": gw.revocations_path(), "line": jti}},
            {"sleep": 1.5},
            call("select_vehicles", json!({"limit": 1})),
        ]),
    ));
    let s = steps(&report);
    assert_eq!(rows(&s[0]).len(), 1);
    let refused = s[3]["protocol_error"].as_str().unwrap_or_default();
    assert!(refused.contains("token revoked"), "{report:#}");
    let (status, body) = raw_post(&gw, Some(&format!("Bearer {token}")));
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("token revoked"), "{body}");
    let report = check(http_spec(&gw, &token, "initialize", json!([])));
    assert_eq!(report["connected"], json!(false), "{report:#}");
    assert!(
        report["error"].as_str().unwrap().contains("token revoked"),
        "{report:#}"
    );
    let denied = gw
        .audit()
        .into_iter()
        .filter(|l| l["door"] == "mcp" && l["rule"] == "token")
        .count();
    assert!(denied >= 4, "refused tokens are audited");
}

#[test]
fn stdio_serves_one_token() {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed pg");
    let files = Files::new();
    let token = files.token("agent_support", "acme", &[]);
    let jti = sluice_tokens::jti_of(&token).unwrap();
    let report = check(files.stdio_spec(
        &token,
        &pg.url(&db),
        json!([
            {"list": true},
            call("select_reservations", json!({"columns": ["tenant_id"]})),
            call("update_reservations", json!({"set": {"price": 0}, "filter": {"id": "eq.1"}})),
            call("update_reservations", json!({"set": {"status": "active"}, "filter": {"id": "in.(1,16)"}})),
            {"append": {"path": files.path("revoked.txt"), "line": jti}},
            {"sleep": 1.5},
            call("select_reservations", json!({})),
        ]),
    ));
    assert_eq!(
        report["protocol_version"],
        json!("2025-11-25"),
        "{report:#}"
    );
    let s = steps(&report);
    assert!(names(&s[0]).contains("update_reservations"));
    assert!(!names(&s[0]).iter().any(|n| n.starts_with("delete_")));
    let tenants: BTreeSet<&str> = rows(&s[1])
        .iter()
        .map(|r| r["tenant_id"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, BTreeSet::from(["acme"]));
    assert_eq!(rows(&s[1]).len(), ACME_RESERVATIONS);
    assert_denied(&s[2], "column_not_granted");
    assert_eq!(affected(&s[3]), 1);
    assert_denied(&s[6], "token");
    assert!(
        s[6]["text"].as_str().unwrap().contains("revoked"),
        "{:#}",
        s[6]
    );

    let audit = files.audit();
    assert!(!audit.contains(&token), "the audit log holds the token");
    let lines: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{audit}");
    assert!(lines
        .iter()
        .all(|l| l["door"] == "mcp" && l["peer"] == "stdio"));

    // The 2026-07-28 lifecycle over stdio: `server/discover`, then self-contained requests.
    let readonly = files.token("agent_readonly", "acme", &[]);
    let mut spec = files.stdio_spec(
        &readonly,
        &pg.url(&db),
        json!([{"list": true}, call("query", json!({"sql": "SELECT count(*) AS n FROM customers"}))]),
    );
    spec["handshake"] = json!("discover");
    let report = check(spec);
    assert_eq!(
        report["protocol_version"],
        json!("2026-07-28"),
        "{report:#}"
    );
    let s = steps(&report);
    assert!(!names(&s[0]).iter().any(|n| n.starts_with("update_")));
    assert_eq!(rows(&s[1]), &vec![json!({"n": 10})]);

    // A revoked token cannot start the server; the process says why.
    let report = check(files.stdio_spec(&token, &pg.url(&db), json!([])));
    assert_eq!(report["connected"], json!(false), "{report:#}");
    let out = Command::new(sluice_bin())
        .args(["mcp", "stdio", "--rbac-config"])
        .arg(files.path("roles.yaml"))
        .arg("--public-key")
        .arg(files.path("keys/issuer.pub"))
        .arg("--revocations")
        .arg(files.path("revoked.txt"))
        .env("SLUICE_TOKEN", &token)
        .env("SLUICE_PG_BACKEND", pg.url(&db))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the token is revoked"), "{stderr}");
}

#[test]
fn token_create_prints_a_working_client_configuration() {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed pg");
    let files = Files::new();
    let mut child = Command::new(sluice_bin())
        .arg("serve")
        .arg("--rbac-config")
        .arg(files.path("roles.yaml"))
        .arg("--public-key")
        .arg(files.path("keys/issuer.pub"))
        .arg("--audit-log")
        .arg(files.path("audit.jsonl"))
        .args(["--http-listen", "127.0.0.1:0"])
        .env("SLUICE_PG_BACKEND", pg.url(&db))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let served = Served(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("sluice ready: http=")
        .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
        .to_string();
    let url = format!("http://{addr}/mcp");
    let config: Value = serde_json::from_str(&files.token(
        "agent_readonly",
        "acme",
        &["--format", "mcp", "--mcp-url", &url],
    ))
    .expect("--format mcp prints JSON");
    let server = &config["mcpServers"]["sluice"];
    assert_eq!(server["url"], json!(url), "{config:#}");
    assert_eq!(server["type"], json!("http"), "{config:#}");
    let report = check(json!({
        "transport": "http",
        "url": server["url"],
        "headers": server["headers"],
        "steps": [call("select_customers", json!({"columns": ["tenant_id"]}))],
    }));
    let s = steps(&report);
    assert_eq!(rows(&s[0]).len(), 10);
    assert!(rows(&s[0]).iter().all(|r| r["tenant_id"] == "acme"));
    drop(served);
}

#[test]
fn calls_are_confined_on_mariadb() {
    let my = shared_mariadb();
    let db = seed_mariadb(my).expect("seed mariadb");
    let opts = GatewayOptions {
        http: true,
        ..Default::default()
    };
    let gw = Gateway::start_mysql(&my.url(&db), &db, ROLES, opts).expect("gateway");
    let support = gw.token("agent_support", Some("acme"), 600);
    let report = check(http_spec(
        &gw,
        &support,
        "initialize",
        json!([
            {"list": true},
            call("select_reservations", json!({"columns": ["id", "tenant_id", "price"], "order": "id", "limit": 2})),
            call("query", json!({"sql": "SELECT DISTINCT tenant_id FROM reservations"})),
            call("update_reservations", json!({"set": {"notes": "called back"}, "filter": {"id": "in.(1,16)"}})),
            call("update_reservations", json!({"set": {"price": 0}, "filter": {"id": "eq.1"}})),
            call("query", json!({"sql": "DELETE FROM reservations WHERE id = 1"})),
        ]),
    ));
    let s = steps(&report);
    assert!(tool(&s[0], "query")["description"]
        .as_str()
        .unwrap()
        .contains("MySQL"));
    assert_eq!(
        rows(&s[1]),
        &vec![
            json!({"id": 1, "tenant_id": "acme", "price": "195.00"}),
            json!({"id": 2, "tenant_id": "acme", "price": "499.50"}),
        ]
    );
    assert_eq!(rows(&s[2]), &vec![json!({"tenant_id": "acme"})]);
    assert_eq!(affected(&s[3]), 1);
    assert_denied(&s[4], "column_not_granted");
    assert_denied(&s[5], "forbidden_operation");
}
