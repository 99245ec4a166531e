//! MySQL packets on the client connection: framing (3-byte length, sequence id, payloads split
//! at 16 MiB) and the few server packets the door writes itself (OK, ERR, EOF).
//!
//! Written by hand: opensrv-mysql owns the connection and its framing behind a fixed handshake
//! (see ARCHITECTURE.md), and mysql_common has packet bodies but no server-side framing.

use bytes::{Buf, BytesMut};
use tokio::io::AsyncReadExt;

use crate::door::ClientStream;

/// Largest payload of one wire packet; a longer payload continues in the next packet.
const MAX_CHUNK: usize = 0xFF_FFFF;
/// Pending output is written once it reaches this size.
const FLUSH_AT: usize = 64 * 1024;

pub const SERVER_STATUS_IN_TRANS: u16 = 0x0001;
pub const SERVER_STATUS_AUTOCOMMIT: u16 = 0x0002;
pub const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;

/// One client connection's packets.
pub struct PacketIo {
    pub stream: ClientStream,
    rbuf: BytesMut,
    out: Vec<u8>,
    /// The sequence id the next packet (read or written) carries.
    pub seq: u8,
    /// Largest payload accepted from the client.
    pub limit: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PacketError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("packet of {0} bytes or more is over the gateway's limit of {1} bytes")]
    TooLarge(usize, usize),
    #[error("packet out of order (sequence id {got}, expected {want})")]
    OutOfOrder { got: u8, want: u8 },
}

impl PacketIo {
    pub fn new(stream: ClientStream, limit: usize) -> PacketIo {
        PacketIo {
            stream,
            rbuf: BytesMut::with_capacity(8 * 1024),
            out: Vec::with_capacity(8 * 1024),
            seq: 0,
            limit,
        }
    }

    /// Takes the bytes received but not yet read as packets (the start of the TLS stream of a
    /// client that sent its ClientHello right behind its SSLRequest).
    pub fn take_buffered(&mut self) -> bytes::Bytes {
        self.rbuf.split().freeze()
    }

    /// The next payload from the client, or `None` when it closed the connection between
    /// packets. Cancel-safe: bytes read so far stay buffered.
    pub async fn read(&mut self) -> Result<Option<Vec<u8>>, PacketError> {
        loop {
            if let Some(p) = self.parse()? {
                return Ok(Some(p));
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                if self.rbuf.is_empty() {
                    return Ok(None);
                }
                return Err(PacketError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the client closed the connection in the middle of a packet",
                )));
            }
        }
    }

    /// A whole payload from the buffer, if it holds one (all its chunks).
    fn parse(&mut self) -> Result<Option<Vec<u8>>, PacketError> {
        let mut at = 0;
        let mut total = 0usize;
        let mut seq = self.seq;
        // First pass: find where the payload ends without copying.
        loop {
            let Some(header) = self.rbuf.get(at..at + 4) else {
                return self.need(at + 4);
            };
            let len =
                usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
            if header[3] != seq {
                return Err(PacketError::OutOfOrder {
                    got: header[3],
                    want: seq,
                });
            }
            total += len;
            if total > self.limit {
                return Err(PacketError::TooLarge(total, self.limit));
            }
            if self.rbuf.len() < at + 4 + len {
                return self.need(at + 4 + len);
            }
            at += 4 + len;
            seq = seq.wrapping_add(1);
            if len < MAX_CHUNK {
                break;
            }
        }
        let mut payload = Vec::with_capacity(total);
        let mut chunk_seq = self.seq;
        while chunk_seq != seq {
            let len = usize::from(self.rbuf[0])
                | usize::from(self.rbuf[1]) << 8
                | usize::from(self.rbuf[2]) << 16;
            self.rbuf.advance(4);
            payload.extend_from_slice(&self.rbuf[..len]);
            self.rbuf.advance(len);
            chunk_seq = chunk_seq.wrapping_add(1);
        }
        self.seq = seq;
        if self.rbuf.is_empty() && self.rbuf.capacity() > 1 << 20 {
            // One large packet must not pin its buffer for the rest of the session.
            self.rbuf = BytesMut::with_capacity(8 * 1024);
        }
        Ok(Some(payload))
    }

    fn need(&mut self, bytes: usize) -> Result<Option<Vec<u8>>, PacketError> {
        self.rbuf
            .reserve(bytes.saturating_sub(self.rbuf.len()).min(1 << 20));
        Ok(None)
    }

    /// Queues one payload (split into chunks as needed) with the next sequence ids.
    pub fn write(&mut self, payload: &[u8]) {
        let mut rest = payload;
        loop {
            let n = rest.len().min(MAX_CHUNK);
            self.out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
            self.out.push(self.seq);
            self.seq = self.seq.wrapping_add(1);
            self.out.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if n < MAX_CHUNK {
                break;
            }
        }
    }

    /// Queues a payload built in place: `build` appends it to the output after room for the
    /// header is made, which saves a copy per row.
    pub fn write_with(&mut self, build: impl FnOnce(&mut Vec<u8>)) {
        let start = self.out.len();
        self.out.extend_from_slice(&[0, 0, 0, 0]);
        build(&mut self.out);
        let len = self.out.len() - start - 4;
        if len < MAX_CHUNK {
            self.out[start..start + 3].copy_from_slice(&(len as u32).to_le_bytes()[..3]);
            self.out[start + 3] = self.seq;
            self.seq = self.seq.wrapping_add(1);
        } else {
            let payload = self.out.split_off(start + 4);
            self.out.truncate(start);
            self.write(&payload);
        }
    }

    /// Writes out what is queued once it is large enough to be worth a system call.
    pub async fn flush_if_full(&mut self) -> std::io::Result<()> {
        if self.out.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes everything queued to the client.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        crate::door::write_to_client(&mut self.stream, &self.out).await?;
        self.out.clear();
        if self.out.capacity() > 4 << 20 {
            self.out = Vec::with_capacity(8 * 1024);
        }
        Ok(())
    }
}

// ---- server packets ---------------------------------------------------------------------------

pub fn put_lenenc_int(buf: &mut Vec<u8>, n: u64) {
    match n {
        0..=250 => buf.push(n as u8),
        251..=0xFFFF => {
            buf.push(0xFC);
            buf.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xFF_FFFF => {
            buf.push(0xFD);
            buf.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        }
        _ => {
            buf.push(0xFE);
            buf.extend_from_slice(&n.to_le_bytes());
        }
    }
}

pub fn put_lenenc_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_lenenc_int(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// What an OK packet reports.
#[derive(Debug, Clone, Default)]
pub struct Ok {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status: u16,
    pub warnings: u16,
    pub info: Vec<u8>,
}

/// An OK packet; `header` is 0x00, or 0xFE when it ends a result set (CLIENT_DEPRECATE_EOF).
pub fn ok_packet(ok: &Ok, header: u8) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + ok.info.len());
    b.push(header);
    put_lenenc_int(&mut b, ok.affected_rows);
    put_lenenc_int(&mut b, ok.last_insert_id);
    b.extend_from_slice(&ok.status.to_le_bytes());
    b.extend_from_slice(&ok.warnings.to_le_bytes());
    // The protocol documents `info` as string<EOF>; servers write it length-encoded
    // (net_send_ok), and clients read it so.
    if !ok.info.is_empty() {
        put_lenenc_bytes(&mut b, &ok.info);
    }
    b
}

/// The old EOF packet (clients without CLIENT_DEPRECATE_EOF).
pub fn eof_packet(status: u16, warnings: u16) -> Vec<u8> {
    let mut b = vec![0xFE];
    b.extend_from_slice(&warnings.to_le_bytes());
    b.extend_from_slice(&status.to_le_bytes());
    b
}

/// An ERR packet (protocol 4.1 form, with an SQLSTATE).
pub fn err_packet(code: u16, sqlstate: &str, message: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(9 + message.len());
    b.push(0xFF);
    b.extend_from_slice(&code.to_le_bytes());
    b.push(b'#');
    let state = sqlstate.as_bytes();
    let mut s = [b'H', b'Y', b'0', b'0', b'0'];
    if state.len() == 5 {
        s.copy_from_slice(state);
    }
    b.extend_from_slice(&s);
    b.extend_from_slice(message.as_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_ints_take_the_right_widths() {
        for (n, len) in [
            (0u64, 1),
            (250, 1),
            (251, 3),
            (65535, 3),
            (65536, 4),
            (0xFF_FFFF, 4),
            (0x100_0000, 9),
            (u64::MAX, 9),
        ] {
            let mut b = Vec::new();
            put_lenenc_int(&mut b, n);
            assert_eq!(b.len(), len, "{n}");
        }
    }

    #[test]
    fn err_packet_layout() {
        let p = err_packet(1142, "42000", "no");
        assert_eq!(p, b"\xff\x76\x04#42000no");
    }
}
