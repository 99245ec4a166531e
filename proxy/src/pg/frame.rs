//! PostgreSQL message framing: one type byte, a big-endian length that counts itself, a body.
//!
//! Written by hand rather than through pgwire's codec for two reasons: the length is checked
//! against the gateway's own limit *before* any body byte is buffered (pgwire accepts up to 1 GiB
//! from a client), and backend messages are forwarded to the client as the raw frames they
//! arrived in, without decoding and re-encoding every row. Messages the gateway must read are
//! decoded with pgwire's types from the frame.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Frames larger than this are not allowed to leave their buffer behind.
const SHRINK_AFTER: usize = 64 * 1024;

/// A message's type byte and its whole frame (type byte and length included).
#[derive(Debug)]
pub struct Frame {
    pub tag: u8,
    pub bytes: BytesMut,
}

impl Frame {
    /// The body, after the type byte and length.
    pub fn body(&self) -> &[u8] {
        &self.bytes[5..]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("a message of {len} bytes is larger than the {limit} bytes Sluice accepts")]
    TooLarge { len: usize, limit: usize },
    #[error("a message declares an impossible length {0}")]
    BadLength(i32),
}

/// Reads typed frames from one direction of a connection.
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
    limit: usize,
    /// The buffer a read starts with after [`FrameReader::next_idle`] gave the last one back.
    capacity: usize,
}

/// A connection that can say when it has bytes to read, before a buffer is set aside for them.
///
/// A poll, not a future: the wait is part of every idle client's task, and a poll needs no
/// state of its own in it (tokio's `readable()` future is some 170 bytes a client).
pub trait Readable {
    fn poll_readable(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>>;
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// `capacity`: the buffer to start with. It grows for large messages; idle clients keep a
    /// small one, which is what lets one gateway hold many of them.
    pub fn new(inner: R, limit: usize, capacity: usize) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::with_capacity(capacity),
            limit,
            capacity,
        }
    }

    /// Changes the largest frame accepted from now on.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Bytes already read from the socket but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next frame. `Closed` only at a clean message boundary.
    pub async fn next(&mut self) -> Result<Frame, FrameError> {
        loop {
            if let Some(frame) = self.try_split()? {
                return Ok(frame);
            }
            let n = self.inner.read_buf(&mut self.buf).await?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Err(FrameError::Closed)
                } else {
                    Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()))
                };
            }
        }
    }

    /// [`FrameReader::next`] for a connection that may sit idle for long: while nothing is
    /// buffered, the buffer is given back and the read waits for the connection to have bytes
    /// before taking one again, so an idle client holds no buffer. Safe to cancel.
    pub async fn next_idle(&mut self) -> Result<Frame, FrameError>
    where
        R: Readable,
    {
        if self.buf.is_empty() {
            if self.buf.capacity() > 0 {
                self.buf = BytesMut::new();
            }
            std::future::poll_fn(|cx| self.inner.poll_readable(cx)).await?;
            self.buf.reserve(self.capacity);
        }
        self.next().await
    }

    /// A frame if one is complete in the buffer, without reading.
    pub fn try_split(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let declared = (&self.buf[1..5]).get_i32();
        if declared < 4 {
            return Err(FrameError::BadLength(declared));
        }
        let total = declared as usize + 1;
        if total > self.limit {
            return Err(FrameError::TooLarge {
                len: total,
                limit: self.limit,
            });
        }
        if self.buf.len() < total {
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        let bytes = self.buf.split_to(total);
        if total > SHRINK_AFTER {
            // The rest of the buffer shares the large allocation; start a small one so that an
            // idle connection does not keep the memory of its largest message.
            let mut fresh = BytesMut::with_capacity(self.buf.len().max(1024));
            fresh.extend_from_slice(&self.buf);
            self.buf = fresh;
        }
        Ok(Some(Frame {
            tag: bytes[0],
            bytes,
        }))
    }

    /// Reads once from the connection into the buffer: `Ok(0)` when it is closed. Safe to
    /// cancel (bytes read stay in the buffer), so a session can wait on it beside its client.
    pub async fn fill(&mut self) -> std::io::Result<usize> {
        self.inner.read_buf(&mut self.buf).await
    }

    /// Reads an untyped startup-phase packet (length, then body): SSLRequest, StartupMessage,
    /// CancelRequest. Returns the whole packet including the length.
    pub async fn next_startup(&mut self, limit: usize) -> Result<BytesMut, FrameError> {
        loop {
            if self.buf.len() >= 4 {
                let declared = (&self.buf[0..4]).get_i32();
                if declared < 8 {
                    return Err(FrameError::BadLength(declared));
                }
                let total = declared as usize;
                if total > limit {
                    return Err(FrameError::TooLarge { len: total, limit });
                }
                if self.buf.len() >= total {
                    return Ok(self.buf.split_to(total));
                }
            }
            let n = self.inner.read_buf(&mut self.buf).await?;
            if n == 0 {
                return Err(FrameError::Closed);
            }
        }
    }

    pub fn into_parts(self) -> (R, BytesMut) {
        (self.inner, self.buf)
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

/// Whether a client message body has the structure its type requires: every count and length
/// inside it fits the body, strings end in NUL, nothing is left over. Checked before pgwire
/// decodes the message, because pgwire's decoders trust those counts and panic when they lie.
pub fn well_formed(tag: u8, body: &[u8]) -> bool {
    let mut r = Reader(body);
    let ok = match tag {
        b'Q' => r.cstr(),
        b'P' => r.cstr() && r.cstr() && r.counted(|r| r.skip(4)),
        b'B' => {
            r.cstr()
                && r.cstr()
                && r.counted(|r| r.skip(2))
                && r.counted(|r| match r.i32() {
                    Some(-1) => true,
                    Some(n) if n >= 0 => r.skip(n as usize),
                    _ => false,
                })
                && r.counted(|r| r.skip(2))
        }
        b'D' | b'C' => r.skip(1) && r.cstr(),
        b'E' => r.cstr() && r.skip(4),
        b'p' => r.cstr(),
        b'H' | b'S' | b'X' => true,
        _ => return true,
    };
    ok && r.0.is_empty()
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn skip(&mut self, n: usize) -> bool {
        match self.0.get(n..) {
            Some(rest) => {
                self.0 = rest;
                true
            }
            None => false,
        }
    }
    fn cstr(&mut self) -> bool {
        match self.0.iter().position(|b| *b == 0) {
            Some(end) => self.skip(end + 1),
            None => false,
        }
    }
    fn i16(&mut self) -> Option<i16> {
        let v = i16::from_be_bytes(self.0.get(..2)?.try_into().ok()?);
        self.skip(2);
        Some(v)
    }
    fn i32(&mut self) -> Option<i32> {
        let v = i32::from_be_bytes(self.0.get(..4)?.try_into().ok()?);
        self.skip(4);
        Some(v)
    }
    /// An i16 count, then that many items.
    fn counted(&mut self, mut item: impl FnMut(&mut Self) -> bool) -> bool {
        match self.i16() {
            Some(n) if n >= 0 => (0..n).all(|_| item(self)),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::well_formed;

    #[test]
    fn lying_counts_and_lengths_are_malformed() {
        assert!(well_formed(b'Q', b"SELECT 1\0"));
        assert!(!well_formed(b'Q', b"SELECT 1"));
        assert!(well_formed(b'P', b"s\0SELECT $1\0\x00\x01\x00\x00\x00\x17"));
        assert!(!well_formed(b'P', b"s\0SELECT $1\0\x03\xe8"));
        assert!(well_formed(
            b'B',
            b"\0s\0\x00\x00\x00\x01\x00\x00\x00\x01x\x00\x00"
        ));
        assert!(!well_formed(
            b'B',
            b"\0s\0\x00\x00\x00\x01\x00\x00\x00\x09x\x00\x00"
        ));
        assert!(!well_formed(b'E', b"\0"));
        assert!(well_formed(b'E', b"\0\x00\x00\x00\x00"));
        assert!(!well_formed(b'D', b""));
        assert!(!well_formed(b'C', b""));
        assert!(!well_formed(b'D', b"Pname\0extra"));
    }
}
