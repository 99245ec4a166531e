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
