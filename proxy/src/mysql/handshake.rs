//! A MySQL client's connection phase: greeting, optional TLS, and token authentication.
//!
//! The token must reach the gateway in clear to be verified, and a client's first answer to
//! the greeting is a password scramble, which cannot carry it. So the gateway greets with
//! `caching_sha2_password` and then:
//! - over TLS, answers the scramble with "perform full authentication" (0x01 0x04): every
//!   client that speaks caching_sha2_password then sends the password in clear, with no flag;
//! - without TLS (loopback, or `--allow-plaintext`), switches the client to
//!   `mysql_clear_password` (AuthSwitchRequest); clients that guard that plugin need it
//!   enabled (README lists each client's setting);
//! - a client that already answered with `mysql_clear_password` is taken at its word.
//!
//! The greeting and the packets after it are written here because opensrv-mysql gives an auth
//! hook a single round trip after its own fixed greeting, which cannot run either flow above
//! (ARCHITECTURE.md, "MySQL door").

use std::net::SocketAddr;

use mysql_common::io::ParseBuf;
use mysql_common::packets::HandshakeResponse;
use mysql_common::proto::MyDeserialize;

use super::packet::{err_packet, PacketError, PacketIo, SERVER_STATUS_AUTOCOMMIT};
use crate::door::ClientStream;

pub const CLIENT_LONG_PASSWORD: u32 = 0x0000_0001;
pub const CLIENT_FOUND_ROWS: u32 = 0x0000_0002;
pub const CLIENT_LONG_FLAG: u32 = 0x0000_0004;
pub const CLIENT_CONNECT_WITH_DB: u32 = 0x0000_0008;
pub const CLIENT_PROTOCOL_41: u32 = 0x0000_0200;
pub const CLIENT_SSL: u32 = 0x0000_0800;
pub const CLIENT_TRANSACTIONS: u32 = 0x0000_2000;
pub const CLIENT_SECURE_CONNECTION: u32 = 0x0000_8000;
pub const CLIENT_MULTI_STATEMENTS: u32 = 0x0001_0000;
pub const CLIENT_MULTI_RESULTS: u32 = 0x0002_0000;
pub const CLIENT_PS_MULTI_RESULTS: u32 = 0x0004_0000;
pub const CLIENT_PLUGIN_AUTH: u32 = 0x0008_0000;
pub const CLIENT_CONNECT_ATTRS: u32 = 0x0010_0000;
pub const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 0x0020_0000;
pub const CLIENT_DEPRECATE_EOF: u32 = 0x0100_0000;

/// MariaDB's extended capability (the greeting's last four filler bytes, read by clients only
/// when CLIENT_LONG_PASSWORD, "CLIENT_MYSQL", is clear): column definitions carry the data
/// type's name and format (`uuid`, `inet6`, `format=json`).
pub const MARIADB_CLIENT_EXTENDED_METADATA: u32 = 0x0000_0008;

/// What the gateway offers. Not offered: LOCAL_FILES (`LOAD DATA LOCAL`), IGNORE_SPACE and
/// ODBC (they change how the server parses SQL), SESSION_TRACK, compression, query
/// attributes, and of MariaDB's extended capabilities all but EXTENDED_METADATA (bulk
/// execution, metadata caching, progress reports).
const SERVER_CAPABILITIES: u32 = CLIENT_LONG_PASSWORD
    | CLIENT_FOUND_ROWS
    | CLIENT_LONG_FLAG
    | CLIENT_CONNECT_WITH_DB
    | CLIENT_PROTOCOL_41
    | CLIENT_SSL
    | CLIENT_TRANSACTIONS
    | CLIENT_SECURE_CONNECTION
    | CLIENT_MULTI_STATEMENTS
    | CLIENT_MULTI_RESULTS
    | CLIENT_PS_MULTI_RESULTS
    | CLIENT_PLUGIN_AUTH
    | CLIENT_CONNECT_ATTRS
    | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
    | CLIENT_DEPRECATE_EOF;

/// utf8mb4_general_ci
const DEFAULT_COLLATION: u8 = 45;
const CACHING_SHA2: &[u8] = b"caching_sha2_password";
const CLEAR: &[u8] = b"mysql_clear_password";

/// A client that passed the connection phase up to the token check.
pub struct Hello {
    pub io: PacketIo,
    /// The capabilities both sides have.
    pub capabilities: u32,
    /// The client asked for MariaDB's extended column metadata, which was offered.
    pub extended_metadata: bool,
    pub user: String,
    pub database: Option<String>,
    /// The token, as the client sent it.
    pub token: String,
}

/// Why a connection phase ended without a token.
pub enum HandshakeEnd {
    /// The client went away or broke the protocol; nothing more can be said to it.
    Gone(String),
    /// The client is refused; the ERR packet is written already.
    Refused(String),
}

impl From<PacketError> for HandshakeEnd {
    fn from(e: PacketError) -> Self {
        HandshakeEnd::Gone(e.to_string())
    }
}

/// Runs the greeting, TLS and the password exchange, up to the token in clear. `mariadb_ext`
/// is the MariaDB extended capabilities to offer: only what the backend's connections have
/// and the door forwards (0 for a MySQL backend, which makes the greeting a MySQL server's).
pub async fn hello(
    mut io: PacketIo,
    peer: SocketAddr,
    connection_id: u32,
    server_version: &str,
    mariadb_ext: u32,
    tls: &tokio_rustls::TlsAcceptor,
    allow_plaintext: bool,
) -> Result<Hello, HandshakeEnd> {
    let scramble: [u8; 20] = std::array::from_fn(|_| rand::random_range(1u8..=127));
    io.write(&greeting(
        server_version,
        connection_id,
        &scramble,
        mariadb_ext,
    ));
    io.flush()
        .await
        .map_err(|e| HandshakeEnd::Gone(e.to_string()))?;

    let mut payload = io
        .read()
        .await?
        .ok_or_else(|| HandshakeEnd::Gone("closed before answering the greeting".into()))?;
    if payload.len() < 32 {
        return Err(refuse(&mut io, 1043, "08S01", "bad handshake").await);
    }
    let client_caps = u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]);
    if client_caps & CLIENT_PROTOCOL_41 == 0 {
        return Err(refuse(
            &mut io,
            1043,
            "08S01",
            "bad handshake: the client does not speak protocol 4.1, which the gateway requires",
        )
        .await);
    }
    if payload.len() == 32 && client_caps & CLIENT_SSL != 0 {
        // SSLRequest: TLS first, then the real handshake response inside it. Bytes the client
        // sent behind the request are the start of its TLS handshake: they go to the acceptor.
        let ahead = io.take_buffered();
        let ClientStream::Plain(tcp) = io.stream else {
            return Err(HandshakeEnd::Gone("a second TLS request".into()));
        };
        let stream = tls
            .accept(crate::door::Rewind::new(ahead, tcp))
            .await
            .map_err(|e| HandshakeEnd::Gone(format!("TLS handshake failed: {e}")))?;
        let seq = io.seq;
        io = PacketIo::new(ClientStream::Tls(Box::new(stream)), io.limit);
        io.seq = seq;
        payload = io.read().await?.ok_or_else(|| {
            HandshakeEnd::Gone("closed after TLS, before the handshake response".into())
        })?;
    }
    let tls_on = io.stream.is_tls();

    let response = match HandshakeResponse::deserialize((), &mut ParseBuf(&payload)) {
        Ok(r) => r,
        Err(_) => return Err(refuse(&mut io, 1043, "08S01", "bad handshake").await),
    };
    let capabilities = response.capabilities().bits() & SERVER_CAPABILITIES;
    // As MariaDB reads them: only from a client that cleared CLIENT_MYSQL, and only what was
    // offered.
    let client_ext = if response.capabilities().bits() & CLIENT_LONG_PASSWORD == 0 {
        response.mariadb_ext_capabilities().bits() & mariadb_ext
    } else {
        0
    };
    let extended_metadata = client_ext & MARIADB_CLIENT_EXTENDED_METADATA != 0;
    let user = String::from_utf8_lossy(response.user()).into_owned();
    let database = response
        .db_name()
        .filter(|d| !d.is_empty())
        .map(|d| String::from_utf8_lossy(d).into_owned());
    let plugin = response.auth_plugin().map(|p| p.as_bytes().to_vec());
    let first_answer = response.scramble_buf().to_vec();
    drop(response);

    if !tls_on && !allow_plaintext && !peer.ip().is_loopback() {
        return Err(refuse(
            &mut io,
            3159,
            "08004",
            "this gateway takes tokens only over TLS from non-loopback clients: connect with TLS \
             (mysql --ssl, ssl-mode=REQUIRED, ssl=true) or run the gateway with --allow-plaintext",
        )
        .await);
    }

    let token = match plugin.as_deref() {
        Some(CLEAR) => first_answer,
        Some(p) if p == CACHING_SHA2 && tls_on => {
            // "perform full authentication": the client sends the password in clear over TLS.
            io.write(&[0x01, 0x04]);
            io.flush()
                .await
                .map_err(|e| HandshakeEnd::Gone(e.to_string()))?;
            next(&mut io).await?
        }
        _ => {
            let mut switch = vec![0xFE];
            switch.extend_from_slice(CLEAR);
            switch.push(0);
            io.write(&switch);
            io.flush()
                .await
                .map_err(|e| HandshakeEnd::Gone(e.to_string()))?;
            next(&mut io).await?
        }
    };
    let token = token.strip_suffix(&[0]).unwrap_or(&token);
    let Ok(token) = std::str::from_utf8(token) else {
        return Err(refuse_token(&mut io, "invalid").await);
    };
    if token.is_empty() {
        return Err(refuse(
            &mut io,
            1045,
            "28000",
            "access denied: no password given; the password must be a Sluice token (sluice token create)",
        )
        .await);
    }
    Ok(Hello {
        token: token.to_string(),
        io,
        capabilities,
        extended_metadata,
        user,
        database,
    })
}

async fn next(io: &mut PacketIo) -> Result<Vec<u8>, HandshakeEnd> {
    io.read()
        .await?
        .ok_or_else(|| HandshakeEnd::Gone("closed during authentication".into()))
}

/// Refuses a token with error 1045 and a reason that does not help a forger.
pub async fn refuse_token(io: &mut PacketIo, reason: &str) -> HandshakeEnd {
    refuse(
        io,
        1045,
        "28000",
        &format!(
            "access denied: token {reason}; the password must be a current Sluice token (sluice token create)"
        ),
    )
    .await
}

/// Writes an ERR packet and ends the connection phase.
pub async fn refuse(io: &mut PacketIo, code: u16, state: &str, message: &str) -> HandshakeEnd {
    io.write(&err_packet(code, state, message));
    let _ = io.flush().await;
    HandshakeEnd::Refused(message.to_string())
}

/// Protocol 10 greeting. Written here: twenty lines, with every byte the gateway offers in
/// plain sight (mysql_common's `HandshakePacket` would do, at the cost of hiding them). With
/// MariaDB extended capabilities to offer, CLIENT_LONG_PASSWORD ("CLIENT_MYSQL") is cleared
/// and they fill the last four of the ten reserved bytes, as a MariaDB server writes them.
fn greeting(
    server_version: &str,
    connection_id: u32,
    scramble: &[u8; 20],
    mariadb_ext: u32,
) -> Vec<u8> {
    let capabilities = if mariadb_ext != 0 {
        SERVER_CAPABILITIES & !CLIENT_LONG_PASSWORD
    } else {
        SERVER_CAPABILITIES
    };
    let mut b = Vec::with_capacity(128);
    b.push(10);
    b.extend_from_slice(server_version.replace('\0', "").as_bytes());
    b.push(0);
    b.extend_from_slice(&connection_id.to_le_bytes());
    b.extend_from_slice(&scramble[..8]);
    b.push(0);
    b.extend_from_slice(&(capabilities as u16).to_le_bytes());
    b.push(DEFAULT_COLLATION);
    b.extend_from_slice(&SERVER_STATUS_AUTOCOMMIT.to_le_bytes());
    b.extend_from_slice(&((capabilities >> 16) as u16).to_le_bytes());
    b.push(21); // length of the scramble, with its trailing NUL
    b.extend_from_slice(&[0; 6]);
    b.extend_from_slice(&mariadb_ext.to_le_bytes());
    b.extend_from_slice(&scramble[8..]);
    b.push(0);
    b.extend_from_slice(CACHING_SHA2);
    b.push(0);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capabilities(greeting: &[u8], version: &str) -> (u32, u32) {
        // protocol, version, NUL, connection id, scramble (8), NUL
        let at = 1 + version.len() + 1 + 4 + 8 + 1;
        let low = u16::from_le_bytes([greeting[at], greeting[at + 1]]) as u32;
        let high = u16::from_le_bytes([greeting[at + 5], greeting[at + 6]]) as u32;
        // auth data length, then 6 reserved bytes, then MariaDB's 4.
        let ext = at + 7 + 1 + 6;
        let mariadb = u32::from_le_bytes(greeting[ext..ext + 4].try_into().unwrap());
        (low | high << 16, mariadb)
    }

    #[test]
    fn the_greeting_offers_mariadb_extended_metadata_only_when_asked_to() {
        let scramble = [7u8; 20];
        let version = "5.5.5-10.11.19-MariaDB-sluice";
        // Without: a MySQL server's greeting (CLIENT_MYSQL set, the reserved bytes zero).
        let plain = greeting(version, 1, &scramble, 0);
        assert_eq!(capabilities(&plain, version), (SERVER_CAPABILITIES, 0));
        // With: a MariaDB server's (CLIENT_MYSQL clear, the capability in the last four bytes).
        let ext = greeting(version, 1, &scramble, MARIADB_CLIENT_EXTENDED_METADATA);
        assert_eq!(
            capabilities(&ext, version),
            (
                SERVER_CAPABILITIES & !CLIENT_LONG_PASSWORD,
                MARIADB_CLIENT_EXTENDED_METADATA
            )
        );
        assert_eq!(plain.len(), ext.len());
    }
}
