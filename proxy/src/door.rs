//! What every wire door shares below the protocol: the accept loop with its client limit and
//! drain on shutdown, the client stream (plain TCP or TLS), and the cap on one token's sessions.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// Accepts clients until `shutdown` turns true, handing each to `session` with a permit from
/// `clients` (`None` when the door is full: the session must refuse the client), then waits for
/// open sessions to end, at most `drain`; sessions still open then are closed.
pub async fn serve<F, Fut>(
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    clients: Arc<Semaphore>,
    drain: Duration,
    door: &'static str,
    session: F,
) where
    F: Fn(TcpStream, SocketAddr, Option<OwnedSemaphorePermit>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a moment, keep serving.
                        tracing::warn!("{door} door: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let permit = clients.clone().try_acquire_owned().ok();
                sessions.spawn(session(stream, peer, permit));
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    let deadline = tokio::time::sleep(drain);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = sessions.join_next() => if next.is_none() { break },
            _ = &mut deadline => {
                tracing::warn!("{} {door} session(s) still open after the drain timeout; closing them", sessions.len());
                sessions.abort_all();
                break;
            }
        }
    }
}

/// Open sessions per token (by `jti`), capped, for doors whose sessions each hold a backend
/// connection (the MySQL door; the PostgreSQL door in session pool mode): without a cap, one
/// token (leaked, or an agent in a loop) could take every connection of the pool and lock every
/// other token out.
pub struct TokenSessions {
    max: usize,
    open: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

/// A session counted against its token's cap; uncounted when dropped.
pub struct TokenSession {
    sessions: Arc<TokenSessions>,
    jti: String,
}

impl TokenSessions {
    /// At most `max` sessions per token (at least one).
    pub fn new(max: usize) -> Arc<TokenSessions> {
        Arc::new(TokenSessions {
            max: max.max(1),
            open: Default::default(),
        })
    }

    /// Counts a session of `jti`, or `None` when the token holds its most already.
    pub fn open(self: &Arc<Self>, jti: &str) -> Option<TokenSession> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(jti.to_string()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(TokenSession {
            sessions: self.clone(),
            jti: jti.to_string(),
        })
    }

    /// What a refused client is told.
    pub fn refusal(&self) -> String {
        format!(
            "too many connections for this token: it holds {} sessions, the most the gateway allows (--max-sessions-per-token); close one of them or use another token",
            self.max
        )
    }
}

impl Drop for TokenSession {
    fn drop(&mut self) {
        let mut open = self.sessions.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.jti) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.jti);
            }
        }
    }
}

/// A client that does not read its results for this long loses its connection.
const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Writes `bytes` to a client and flushes. A client that stops reading would hold its backend
/// connection forever, so the write fails after [`CLIENT_WRITE_TIMEOUT`].
pub async fn write_to_client(stream: &mut ClientStream, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    // What the socket takes at once needs no timer (the common case: a reply fits the
    // socket's buffer); only a write that has to wait is timed.
    let mut bytes = bytes;
    if let ClientStream::Plain(tcp) = stream {
        while !bytes.is_empty() {
            match tcp.try_write(bytes) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        if bytes.is_empty() {
            return Ok(());
        }
    }
    let write = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    match tokio::time::timeout(CLIENT_WRITE_TIMEOUT, write).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the client did not read its results for 60 s",
        )),
    }
}

/// A client connection, plain or TLS.
pub enum ClientStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<Rewind>>),
}

impl ClientStream {
    pub fn is_tls(&self) -> bool {
        matches!(self, ClientStream::Tls(_))
    }
}

impl crate::pg::frame::Readable for ClientStream {
    /// A plain connection waits for the socket; a TLS one answers at once (its session may hold
    /// decrypted bytes the socket no longer shows, and it keeps its own buffers anyway).
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self {
            ClientStream::Plain(s) => s.poll_read_ready(cx),
            ClientStream::Tls(_) => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ClientStream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ClientStream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ClientStream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ClientStream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A TCP stream that first gives back bytes already read from it. The MySQL protocol lets a
/// client send its TLS ClientHello right behind the SSLRequest packet, so the first bytes of the
/// TLS stream can already sit in the door's read buffer; they go to the TLS acceptor (which
/// reads them as TLS records, never as application data), not into the session.
pub struct Rewind {
    prefix: bytes::Bytes,
    inner: TcpStream,
}

impl Rewind {
    pub fn new(prefix: bytes::Bytes, inner: TcpStream) -> Rewind {
        Rewind { prefix, inner }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
