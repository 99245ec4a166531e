//! Messages the gateway writes to PostgreSQL clients and backends, encoded with pgwire's types.

use bytes::{BufMut, BytesMut};
use pgwire::messages::response::{
    CommandComplete, ErrorResponse, NoticeResponse, ReadyForQuery, TransactionStatus,
};
use pgwire::messages::Message;

/// An error the client sees. `detail` and `hint` say what happened and what to do.
#[derive(Debug, Clone)]
pub struct PgError {
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

impl PgError {
    pub fn error(code: &'static str, message: impl Into<String>) -> PgError {
        PgError {
            severity: "ERROR",
            code,
            message: message.into(),
            hint: None,
        }
    }
    pub fn fatal(code: &'static str, message: impl Into<String>) -> PgError {
        PgError {
            severity: "FATAL",
            code,
            message: message.into(),
            hint: None,
        }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> PgError {
        self.hint = Some(hint.into());
        self
    }

    pub fn encode(&self, out: &mut BytesMut) {
        let mut fields = vec![
            (b'S', self.severity.to_string()),
            (b'V', self.severity.to_string()),
            (b'C', self.code.to_string()),
            (b'M', self.message.clone()),
        ];
        if let Some(h) = &self.hint {
            fields.push((b'H', h.clone()));
        }
        encode(&ErrorResponse::new(fields), out);
    }
}

pub fn notice(out: &mut BytesMut, code: &str, message: &str) {
    let fields = vec![
        (b'S', "WARNING".to_string()),
        (b'V', "WARNING".to_string()),
        (b'C', code.to_string()),
        (b'M', message.to_string()),
    ];
    encode(&NoticeResponse::new(fields), out);
}

pub fn ready(out: &mut BytesMut, status: u8) {
    let status = match status {
        b'T' => TransactionStatus::Transaction,
        b'E' => TransactionStatus::Error,
        _ => TransactionStatus::Idle,
    };
    encode(&ReadyForQuery::new(status), out);
}

pub fn command_complete(out: &mut BytesMut, tag: &str) {
    encode(&CommandComplete::new(tag.to_string()), out);
}

pub fn empty_query(out: &mut BytesMut) {
    bodyless(out, b'I');
}

/// A bodyless message: ParseComplete ('1'), BindComplete ('2'), CloseComplete ('3'), NoData ('n').
pub fn bodyless(out: &mut BytesMut, tag: u8) {
    out.put_u8(tag);
    out.put_i32(4);
}

pub fn encode<M: Message>(m: &M, out: &mut BytesMut) {
    // Encoding into a BytesMut fails only for a message over pgwire's size limit, which the
    // gateway's own messages never reach.
    if let Err(e) = m.encode(out) {
        tracing::error!("cannot encode a protocol message: {e}");
    }
}

/// What replaces the DETAIL of a database error or notice that the client sees.
pub const DETAIL_WITHHELD: &str = "withheld by Sluice: the database's detail can show columns and rows outside this token's scope";

/// An ErrorResponse or NoticeResponse from the backend, as the client may see it.
///
/// PostgreSQL writes row contents into DETAIL ("Failing row contains (…)", "Key (…)=(…)
/// conflicts with existing key (…)=(…)") and context into WHERE, leaving out only what the
/// *database user* may not read. The gateway's backend user reads everything, so these fields
/// would show hidden columns and other tenants' rows: DETAIL is replaced by
/// [`DETAIL_WITHHELD`] and WHERE is dropped. Severity, code, message, hint, position and the
/// schema/table/column/constraint names (which ORMs map errors by) are kept. Any other message
/// passes unchanged.
///
/// Read by hand rather than with pgwire's decoder, which trusts the lengths inside a body (see
/// `session::decode`); a report that does not parse is replaced by a generic error rather than
/// forwarded.
pub fn redact_backend_report(bytes: &[u8]) -> BytesMut {
    let tag = bytes.first().copied().unwrap_or(0);
    if !matches!(tag, b'E' | b'N') {
        return BytesMut::from(bytes);
    }
    let mut fields = Vec::new();
    let mut rest = bytes.get(5..).unwrap_or_default();
    let complete = loop {
        match rest.split_first() {
            Some((0, _)) => break true,
            Some((&code, tail)) => match tail.iter().position(|b| *b == 0) {
                Some(end) => {
                    fields.push((code, String::from_utf8_lossy(&tail[..end]).into_owned()));
                    rest = &tail[end + 1..];
                }
                None => break false,
            },
            None => break false,
        }
    };
    let mut out = BytesMut::new();
    if !complete {
        PgError::error(
            "XX000",
            "the database reported an error the gateway could not read",
        )
        .encode(&mut out);
        return out;
    }
    let fields = fields
        .into_iter()
        .filter(|(code, _)| *code != b'W')
        .map(|(code, value)| match code {
            b'D' => (code, DETAIL_WITHHELD.to_string()),
            _ => (code, value),
        })
        .collect();
    if tag == b'E' {
        encode(&ErrorResponse::new(fields), &mut out);
    } else {
        encode(&NoticeResponse::new(fields), &mut out);
    }
    out
}

#[cfg(test)]
mod redaction_tests {
    use super::*;

    fn fields(bytes: &[u8]) -> Vec<(u8, String)> {
        let mut out = Vec::new();
        let mut rest = &bytes[5..];
        while let Some((&code, tail)) = rest.split_first() {
            if code == 0 {
                break;
            }
            let end = tail.iter().position(|b| *b == 0).unwrap();
            out.push((code, String::from_utf8(tail[..end].to_vec()).unwrap()));
            rest = &tail[end + 1..];
        }
        out
    }

    #[test]
    fn detail_is_withheld_where_is_dropped_and_the_rest_is_kept() {
        let mut report = BytesMut::new();
        encode(
            &ErrorResponse::new(vec![
                (b'S', "ERROR".into()),
                (b'C', "23502".into()),
                (b'M', "null value in column \"status\"".into()),
                (b'D', "Failing row contains (1, acme, 80).".into()),
                (b'W', "SQL function \"f\" statement 1".into()),
                (b'n', "reservations_status_not_null".into()),
            ]),
            &mut report,
        );
        let out = redact_backend_report(&report);
        assert_eq!(out[0], b'E');
        assert_eq!(
            fields(&out),
            vec![
                (b'S', "ERROR".to_string()),
                (b'C', "23502".to_string()),
                (b'M', "null value in column \"status\"".to_string()),
                (b'D', DETAIL_WITHHELD.to_string()),
                (b'n', "reservations_status_not_null".to_string()),
            ]
        );
        let mut notice = BytesMut::new();
        encode(
            &NoticeResponse::new(vec![(b'M', "m".into()), (b'D', "row (1, 2)".into())]),
            &mut notice,
        );
        let out = redact_backend_report(&notice);
        assert_eq!(out[0], b'N');
        assert!(!String::from_utf8_lossy(&out).contains("row (1, 2)"));
    }

    #[test]
    fn a_report_that_does_not_parse_is_not_forwarded() {
        // A DETAIL field without its terminating NUL.
        let bad = BytesMut::from(&b"E\0\0\0\x10DFailing row"[..]);
        let out = redact_backend_report(&bad);
        assert!(!String::from_utf8_lossy(&out).contains("Failing row"));
        assert_eq!(out[0], b'E');
        // Other messages pass unchanged.
        let row = b"D\0\0\0\x06\0\0";
        assert_eq!(&redact_backend_report(row)[..], &row[..]);
    }
}
