//! The HTTP door's REST reads end to end, against PostgreSQL and MariaDB: bearer tokens, the
//! PostgREST grammar, confinement, denials as 403 in PostgREST's error shape, `Prefer:
//! count=exact`, `Range`, the rate limit (429 with Retry-After), health endpoints and audit.
//!
//! The client is a minimal HTTP/1.1 client written here (one request per connection), so that
//! what is asserted is exactly what went over the wire.

use std::net::SocketAddr;

use serde_json::Value;
use sluice_integration::rental::{seed_mariadb, seed_pg, ROLES};
use sluice_integration::{shared_mariadb, shared_pg, Gateway, GatewayOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
    text: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    request(addr, "GET", path, headers, "").await
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "content-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a full response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect::<Vec<_>>();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Reply {
        status,
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
        headers,
        text: body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

fn gateways() -> Vec<(&'static str, Gateway)> {
    let opts = GatewayOptions {
        http: true,
        ..Default::default()
    };
    let pg = shared_pg();
    let pg_db = seed_pg(pg).expect("seed pg");
    let my = shared_mariadb();
    let my_db = seed_mariadb(my).expect("seed mariadb");
    vec![
        (
            "postgres",
            Gateway::start_pg(&pg.url(&pg_db), &pg_db, ROLES, opts.clone()).expect("gateway"),
        ),
        (
            "mariadb",
            Gateway::start_mysql(&my.url(&my_db), &my_db, ROLES, opts).expect("gateway"),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_confined_and_shaped_like_postgrest() {
    for (engine, gw) in gateways() {
        let addr = gw.http_addr.expect("HTTP door");
        let token = gw.token("agent_readonly", Some("acme"), 600);
        let bearer = format!("Bearer {token}");
        let auth = [("authorization", bearer.as_str())];

        // Health needs no token.
        let r = get(addr, "/healthz", &[]).await;
        assert_eq!(r.status, 200, "{engine}: {}", r.text);
        let r = get(addr, "/readyz", &[]).await;
        assert_eq!(r.status, 200, "{engine}: {}", r.text);

        // Only acme's rows, only the granted columns.
        let r = get(
            addr,
            "/rest/v1/customers?select=id,name,tenant_id&order=id",
            &auth,
        )
        .await;
        assert_eq!(r.status, 200, "{engine}: {}", r.text);
        let rows = r.body.as_array().expect("an array");
        assert_eq!(rows.len(), 10, "{engine}: {}", r.text);
        assert!(rows.iter().all(|c| c["tenant_id"] == "acme"), "{engine}");
        assert_eq!(rows[0]["name"], "Alice Smith", "{engine}");
        assert_eq!(rows[0]["id"], 1, "{engine}: ids are JSON numbers");
        let r = get(addr, "/rest/v1/customers?limit=1", &auth).await;
        let keys: Vec<&String> = r.body[0].as_object().expect("an object").keys().collect();
        assert!(!keys.iter().any(|k| *k == "ssn"), "{engine}: {keys:?}");

        // A filter aimed at the other tenant finds nothing.
        let r = get(addr, "/rest/v1/customers?tenant_id=eq.globex", &auth).await;
        assert_eq!(r.status, 200, "{engine}: {}", r.text);
        assert_eq!(r.body, Value::Array(vec![]), "{engine}");
        let r = get(
            addr,
            "/rest/v1/reservations?or=(tenant_id.eq.globex,status.eq.returned)&select=id,tenant_id",
            &auth,
        )
        .await;
        assert!(
            r.body
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x["tenant_id"] == "acme"),
            "{engine}: {}",
            r.text
        );

        // Count and range.
        let r = get(
            addr,
            "/rest/v1/customers?select=id&order=id",
            &[
                ("authorization", bearer.as_str()),
                ("prefer", "count=exact"),
                ("range", "2-4"),
            ],
        )
        .await;
        assert_eq!(r.status, 200, "{engine}: {}", r.text);
        assert_eq!(r.body.as_array().unwrap().len(), 3, "{engine}");
        assert_eq!(r.header("content-range"), Some("2-4/10"), "{engine}");

        // Denials: a table the role has no grant for, a hidden column.
        let r = get(addr, "/rest/v1/payments", &auth).await;
        assert_eq!(r.status, 403, "{engine}: {}", r.text);
        assert_eq!(r.body["code"], "42501", "{engine}");
        assert!(
            r.body["details"].as_str().unwrap().contains("[sluice: "),
            "{engine}"
        );
        assert!(r.body.get("hint").is_some(), "{engine}");
        let r = get(addr, "/rest/v1/customers?select=ssn", &auth).await;
        assert!(
            r.status == 403 || r.status == 400,
            "{engine}: {} {}",
            r.status,
            r.text
        );
        assert!(!r.text.contains("111-11"), "{engine}: {}", r.text);

        // Bad requests and bad tokens.
        let r = get(addr, "/rest/v1/customers?id=zz.1", &auth).await;
        assert_eq!(r.status, 400, "{engine}: {}", r.text);
        assert_eq!(r.body["code"], "PGRST100", "{engine}");
        let r = get(addr, "/rest/v1/customers", &[]).await;
        assert_eq!(r.status, 401, "{engine}: {}", r.text);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{engine}");
        let r = get(
            addr,
            "/rest/v1/customers",
            &[("authorization", "Bearer v4.public.forged")],
        )
        .await;
        assert_eq!(r.status, 401, "{engine}");
        assert_eq!(r.body["message"], "token invalid", "{engine}");
        gw.revoke(&token).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        let r = get(addr, "/rest/v1/customers", &auth).await;
        assert_eq!(r.status, 401, "{engine}");
        assert_eq!(r.body["message"], "token revoked", "{engine}");

        // The rate limit.
        let limited = format!("Bearer {}", gw.token("agent_limited", Some("acme"), 600));
        let mut last = None;
        for _ in 0..8 {
            let r = get(
                addr,
                "/rest/v1/vehicles?select=id",
                &[("authorization", &limited)],
            )
            .await;
            if r.status == 429 {
                last = Some(r);
                break;
            }
        }
        let r = last.unwrap_or_else(|| panic!("{engine}: no 429 within 8 requests at 5/min"));
        assert!(r.header("retry-after").is_some(), "{engine}");

        // Audit: door rest, the rendered statement holds the tenant filter, never the token.
        gw.shutdown();
        let text = gw.audit_text();
        assert!(
            !text.contains(&token),
            "{engine}: the audit log holds the token"
        );
        let lines = gw.audit();
        let allowed: Vec<_> = lines
            .iter()
            .filter(|l| l["door"] == "rest" && l["decision"] == "allow")
            .collect();
        assert!(!allowed.is_empty(), "{engine}");
        assert!(
            allowed
                .iter()
                .any(|l| l["rendered"].as_str().unwrap().contains("tenant_id")),
            "{engine}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l["door"] == "rest" && l["decision"] == "deny"),
            "{engine}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_confined_and_refused_outside_the_scope() {
    for (engine, gw) in gateways() {
        let addr = gw.http_addr.expect("HTTP door");
        let support = format!("Bearer {}", gw.token("agent_support", Some("acme"), 600));
        let auth = [("authorization", support.as_str())];
        let new = r#"{"customer_id": 1, "vehicle_id": 2, "status": "booked", "notes": "via rest", "starts_on": "2026-12-24", "price": 120.5}"#;

        // Insert: the tenant comes from the token.
        let r = request(addr, "POST", "/rest/v1/reservations", &auth, new).await;
        assert_eq!(r.status, 201, "{engine}: {}", r.text);
        assert_eq!(r.header("content-range"), Some("*/1"), "{engine}");
        let r = get(
            addr,
            "/rest/v1/reservations?notes=eq.via%20rest&select=tenant_id,status",
            &auth,
        )
        .await;
        assert_eq!(
            r.body,
            serde_json::json!([{"tenant_id": "acme", "status": "booked"}]),
            "{engine}: {}",
            r.text
        );
        let other = new.replace(
            r#""customer_id""#,
            r#""tenant_id": "globex", "customer_id""#,
        );
        let r = request(addr, "POST", "/rest/v1/reservations", &auth, &other).await;
        assert_eq!(r.status, 403, "{engine}: {}", r.text);
        if engine == "postgres" {
            let mut with = auth.to_vec();
            with.push(("prefer", "return=representation"));
            let r = request(
                addr,
                "POST",
                "/rest/v1/reservations?select=tenant_id,notes",
                &with,
                new,
            )
            .await;
            assert_eq!(r.status, 201, "{engine}: {}", r.text);
            assert_eq!(
                r.body,
                serde_json::json!([{"tenant_id": "acme", "notes": "via rest"}]),
                "{engine}"
            );
        } else {
            let r = request(
                addr,
                "POST",
                "/rest/v1/reservations",
                &[
                    ("authorization", support.as_str()),
                    ("prefer", "return=representation"),
                ],
                new,
            )
            .await;
            assert_eq!(r.status, 400, "{engine}: {}", r.text);
            assert_eq!(r.body["code"], "PGRST127", "{engine}");
        }

        // Update: own rows only, granted columns only, never without a filter.
        let r = request(
            addr,
            "PATCH",
            "/rest/v1/reservations?id=eq.1",
            &auth,
            r#"{"notes": "patched"}"#,
        )
        .await;
        assert_eq!(r.status, 204, "{engine}: {}", r.text);
        assert_eq!(r.header("content-range"), Some("*/1"), "{engine}");
        let r = get(addr, "/rest/v1/reservations?id=eq.1&select=notes", &auth).await;
        assert_eq!(
            r.body,
            serde_json::json!([{"notes": "patched"}]),
            "{engine}"
        );
        let r = request(
            addr,
            "PATCH",
            "/rest/v1/reservations?tenant_id=eq.globex",
            &auth,
            r#"{"notes": "leak"}"#,
        )
        .await;
        assert_eq!(r.status, 204, "{engine}: {}", r.text);
        assert_eq!(
            r.header("content-range"),
            Some("*/0"),
            "{engine}: another tenant's rows"
        );
        let r = request(
            addr,
            "PATCH",
            "/rest/v1/reservations?id=eq.1",
            &auth,
            r#"{"price": 1}"#,
        )
        .await;
        assert_eq!(r.status, 403, "{engine}: {}", r.text);
        assert!(
            r.body["details"]
                .as_str()
                .unwrap()
                .contains("column_not_granted"),
            "{engine}"
        );
        let r = request(
            addr,
            "PATCH",
            "/rest/v1/reservations",
            &auth,
            r#"{"notes": "all"}"#,
        )
        .await;
        assert_eq!(r.status, 400, "{engine}: {}", r.text);
        assert_eq!(r.body["code"], "PGRST106", "{engine}");

        // Delete is forbidden for every role of this file; a read-only token cannot write.
        let r = request(addr, "DELETE", "/rest/v1/reservations?id=eq.1", &auth, "").await;
        assert_eq!(r.status, 403, "{engine}: {}", r.text);
        assert!(
            r.body["details"]
                .as_str()
                .unwrap()
                .contains("forbidden_operation"),
            "{engine}"
        );
        let ro = format!("Bearer {}", gw.token("agent_readonly", Some("acme"), 600));
        let r = request(
            addr,
            "POST",
            "/rest/v1/reservations",
            &[("authorization", ro.as_str())],
            new,
        )
        .await;
        assert_eq!(r.status, 403, "{engine}: {}", r.text);
        let r = request(addr, "POST", "/rest/v1/reservations", &auth, "{not json").await;
        assert_eq!(r.status, 400, "{engine}: {}", r.text);
        assert_eq!(r.body["code"], "PGRST102", "{engine}");
    }
}

/// Requests that try to leave the token's scope through the REST grammar: other tenants' rows
/// through filters, logic trees, `in` lists and ordering, hidden columns through select, order
/// and filters, injection in names and values, embedded resources. Nothing of globex's rows and
/// no SSN may appear in any answer, whatever its status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_grammar_cannot_leave_the_scope() {
    let attacks = [
        "/rest/v1/customers?tenant_id=eq.globex",
        "/rest/v1/customers?tenant_id=neq.acme",
        "/rest/v1/customers?or=(tenant_id.eq.globex,tenant_id.eq.acme)",
        "/rest/v1/customers?not.tenant_id=eq.acme",
        "/rest/v1/customers?id=in.(11,12,13,14,15,16,17,18)",
        "/rest/v1/customers?name=like.*",
        "/rest/v1/customers?name=ilike.*GLOBEX*",
        "/rest/v1/customers?email=like.*globex*",
        "/rest/v1/customers?tenant_id=eq.acme%27%20OR%20%271%27=%271",
        "/rest/v1/customers?tenant_id=eq.acme%27)%20OR%20(%271%27=%271",
        "/rest/v1/customers?tenant_id=eq.acme\\%27%20OR%201=1%20--%20",
        "/rest/v1/customers?select=ssn",
        "/rest/v1/customers?select=id,ssn",
        "/rest/v1/customers?select=s:ssn",
        "/rest/v1/customers?ssn=like.111*",
        "/rest/v1/customers?order=ssn",
        "/rest/v1/customers?select=*,reservations(*)",
        "/rest/v1/customers?select=id&or=(ssn.like.222*)",
        "/rest/v1/reservations?select=internal_score",
        "/rest/v1/reservations?internal_score=gt.0",
        "/rest/v1/customers%3Bdrop%20table%20customers",
        "/rest/v1/pg_user",
        "/rest/v1/information_schema.tables",
        "/rest/v1/customers?select=id)%20FROM%20customers%20--",
        "/rest/v1/customers?order=id.desc;DELETE",
        "/rest/v1/customers?limit=1;DROP",
    ];
    for (engine, gw) in gateways() {
        let addr = gw.http_addr.expect("HTTP door");
        let bearer = format!("Bearer {}", gw.token("agent_readonly", Some("acme"), 600));
        let auth = [("authorization", bearer.as_str())];
        for path in attacks {
            let r = get(addr, path, &auth).await;
            assert!(
                r.status < 500,
                "{engine} {path}: server error {} {}",
                r.status,
                r.text
            );
            for marker in ["globex", "222-22", "111-11", "Scorpio", "Simpson"] {
                assert!(
                    !r.text.to_lowercase().contains(&marker.to_lowercase()),
                    "{engine} {path}: {marker} leaked: {}",
                    r.text
                );
            }
            if r.status == 200 {
                for row in r.body.as_array().expect("rows") {
                    if let Some(t) = row.get("tenant_id") {
                        assert_eq!(t, "acme", "{engine} {path}");
                    }
                }
            }
        }
        // Another tenant's token sees its own rows only, through the same requests.
        let globex = format!("Bearer {}", gw.token("agent_readonly", Some("globex"), 600));
        let r = get(
            addr,
            "/rest/v1/customers?tenant_id=eq.acme",
            &[("authorization", &globex)],
        )
        .await;
        assert_eq!(r.body, Value::Array(vec![]), "{engine}");
    }
}

/// The REST door over TLS (the gateway's self-signed certificate; the first byte of a TLS
/// handshake selects TLS on the shared port), with Python's own TLS client, and an expired
/// token refused as `token expired`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_on_the_shared_port_and_expired_tokens() {
    for (engine, gw) in gateways() {
        let addr = gw.http_addr.expect("HTTP door");
        let token = gw.token("agent_readonly", Some("acme"), 600);
        let script = r#"
import json, ssl, sys, urllib.request
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
req = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
with urllib.request.urlopen(req, context=ctx) as r:
    print(json.dumps({"status": r.status, "rows": json.load(r)}))
"#;
        let url = format!(
            "https://127.0.0.1:{}/rest/v1/customers?select=tenant_id",
            addr.port()
        );
        let out = tokio::process::Command::new(sluice_integration::clients::python())
            .args(["-c", script, &url, &token])
            .output()
            .await
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{engine}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
        assert_eq!(report["status"], 200, "{engine}");
        let rows = report["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 10, "{engine}");
        assert!(rows.iter().all(|r| r["tenant_id"] == "acme"), "{engine}");

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
            .expect("a token");
        let bearer = format!("Bearer {expired}");
        let r = get(addr, "/rest/v1/customers", &[("authorization", &bearer)]).await;
        assert_eq!(r.status, 401, "{engine}: {}", r.text);
        assert_eq!(r.body["message"], "token expired", "{engine}");
    }
}

/// PostgREST's media types for reads: `application/vnd.pgrst.object+json` (supabase-js's
/// `.single()`) answers the one row as an object, or 406 PGRST116 when there is not exactly one;
/// `text/csv` (`.csv()`) a header line in the table's column order and one line per row (only
/// the role's columns and rows); an unknown type 406 PGRST107.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_answer_in_the_media_type_asked_for() {
    for (engine, gw) in gateways() {
        let addr = gw.http_addr.expect("HTTP door");
        let token = gw.token("agent_readonly", Some("acme"), 600);
        let bearer = format!("Bearer {token}");
        let object = [
            ("authorization", bearer.as_str()),
            ("accept", "application/vnd.pgrst.object+json"),
        ];
        let r = get(addr, "/rest/v1/customers?select=id,name&id=eq.1", &object).await;
        assert_eq!(r.status, 200, "{engine}: {}", r.text);
        assert_eq!(
            r.body,
            serde_json::json!({"id": 1, "name": "Alice Smith"}),
            "{engine}"
        );
        assert!(r
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/vnd.pgrst.object+json")));
        // globex's customer 11 is not in scope: no row, not an object.
        for path in ["/rest/v1/customers?id=eq.11", "/rest/v1/customers?id=lt.3"] {
            let r = get(addr, path, &object).await;
            assert_eq!(r.status, 406, "{engine} {path}: {}", r.text);
            assert_eq!(r.body["code"], "PGRST116", "{engine}");
        }
        let csv = [("authorization", bearer.as_str()), ("accept", "text/csv")];
        let r = get(addr, "/rest/v1/customers?order=id&limit=3", &csv).await;
        assert_eq!(r.status, 200, "{engine}: {}", r.text);
        assert_eq!(
            r.text,
            "id,tenant_id,name,email\n\
             1,acme,Alice Smith,alice@acme.example\n\
             2,acme,Bob Jones,bob@acme.example\n\
             3,acme,Carol White,",
            "{engine}"
        );
        let r = get(
            addr,
            "/rest/v1/customers",
            &[
                ("authorization", bearer.as_str()),
                ("accept", "application/xml"),
            ],
        )
        .await;
        assert_eq!(r.status, 406, "{engine}: {}", r.text);
        assert_eq!(r.body["code"], "PGRST107", "{engine}");
    }
}
