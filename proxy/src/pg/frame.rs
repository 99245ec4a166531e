//! PostgreSQL message framing: one type byte, a big-endian length that counts itself, a body.
//!
//! Written by hand rather than through pgwire's codec for two reasons: the length is checked
//! against the gateway's own limit *before* any body byte is buffered (pgwire accepts up to 1 GiB
//! from a client), and backend messages are forwarded to the client as the raw frames they
//! arrived in, without decoding and re-encoding every row. Messages the gateway must read are
//! decoded with pgwire's types from the frame.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

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
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// `capacity`: the buffer to start with. It grows for large messages; idle clients keep a
    /// small one, which is what lets one gateway hold many of them.
    pub fn new(inner: R, limit: usize, capacity: usize) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::with_capacity(capacity),
            limit,
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
        Ok(Some(Frame {
            tag: bytes[0],
            bytes,
        }))
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
