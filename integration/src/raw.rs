//! A PostgreSQL client at the message level, for tests that need exact control of what is sent
//! (pipelines, Flush without Sync, abandoned portals) and see every reply.

use std::net::SocketAddr;

use anyhow::{bail, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One reply message: its type byte and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub tag: u8,
    pub body: Vec<u8>,
}

impl Reply {
    /// The SQLSTATE of an ErrorResponse.
    pub fn sqlstate(&self) -> Option<String> {
        self.field(b'C')
    }

    /// A field of an ErrorResponse/NoticeResponse.
    pub fn field(&self, code: u8) -> Option<String> {
        if self.tag != b'E' && self.tag != b'N' {
            return None;
        }
        let mut rest = &self.body[..];
        while let Some((&f, tail)) = rest.split_first() {
            let end = tail.iter().position(|b| *b == 0)?;
            if f == code {
                return Some(String::from_utf8_lossy(&tail[..end]).into_owned());
            }
            rest = &tail[end + 1..];
        }
        None
    }

    /// The text columns of a DataRow.
    pub fn columns(&self) -> Vec<Option<String>> {
        let mut out = Vec::new();
        if self.tag != b'D' {
            return out;
        }
        let n = i16::from_be_bytes([self.body[0], self.body[1]]);
        let mut at = 2;
        for _ in 0..n {
            let len = i32::from_be_bytes(self.body[at..at + 4].try_into().unwrap());
            at += 4;
            if len < 0 {
                out.push(None);
            } else {
                let len = len as usize;
                out.push(Some(
                    String::from_utf8_lossy(&self.body[at..at + len]).into_owned(),
                ));
                at += len;
            }
        }
        out
    }
}

/// The command tags of the CommandComplete messages among `replies`, in order.
pub fn command_tags(replies: &[Reply]) -> Vec<String> {
    replies
        .iter()
        .filter(|m| m.tag == b'C')
        .map(|m| String::from_utf8_lossy(m.body.strip_suffix(&[0]).unwrap_or(&m.body)).into_owned())
        .collect()
}

/// An authenticated connection.
pub struct RawPg {
    stream: TcpStream,
    out: Vec<u8>,
}

impl RawPg {
    /// Connects and authenticates with `token` as the password (no TLS).
    pub async fn connect(addr: SocketAddr, database: &str, token: &str) -> Result<RawPg> {
        Self::connect_as(addr, "agent", database, Some(token)).await
    }

    /// The connection itself, for a test that writes and reads bytes its own way. Nothing is
    /// lost: a `RawPg` reads exactly the messages it returns and buffers nothing it has read.
    pub fn into_stream(self) -> TcpStream {
        self.stream
    }

    /// Connects to a test server directly, as its superuser (trust authentication): what a
    /// gateway's replies are compared with.
    pub async fn connect_direct(addr: SocketAddr, database: &str) -> Result<RawPg> {
        Self::connect_as(addr, "postgres", database, None).await
    }

    async fn connect_as(
        addr: SocketAddr,
        user: &str,
        database: &str,
        password: Option<&str>,
    ) -> Result<RawPg> {
        let stream = TcpStream::connect(addr).await?;
        let mut c = RawPg {
            stream,
            out: Vec::new(),
        };
        let mut startup = Vec::new();
        startup.extend_from_slice(&196608i32.to_be_bytes());
        for (k, v) in [("user", user), ("database", database)] {
            startup.extend_from_slice(k.as_bytes());
            startup.push(0);
            startup.extend_from_slice(v.as_bytes());
            startup.push(0);
        }
        startup.push(0);
        let mut packet = ((startup.len() + 4) as i32).to_be_bytes().to_vec();
        packet.extend_from_slice(&startup);
        c.stream.write_all(&packet).await?;
        let auth = c.read().await?;
        if auth.tag != b'R' {
            bail!(
                "expected an authentication request, got {:?}",
                auth.tag as char
            );
        }
        // AuthenticationOk (trust) needs no password.
        let replies = match password {
            Some(token) if auth.body.as_slice() != [0, 0, 0, 0] => {
                let mut pw = token.as_bytes().to_vec();
                pw.push(0);
                c.message(b'p', &pw);
                c.until_ready().await?
            }
            _ => c.until_ready().await?,
        };
        if let Some(e) = replies.iter().find(|r| r.tag == b'E') {
            bail!("authentication failed: {:?}", e.field(b'M'));
        }
        Ok(c)
    }

    fn message(&mut self, tag: u8, body: &[u8]) -> &mut Self {
        self.out.push(tag);
        self.out
            .extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        self.out.extend_from_slice(body);
        self
    }

    pub fn query(&mut self, sql: &str) -> &mut Self {
        self.message(b'Q', &cstr(sql))
    }

    pub fn parse(&mut self, name: &str, sql: &str, types: &[u32]) -> &mut Self {
        let mut b = cstr(name);
        b.extend_from_slice(&cstr(sql));
        b.extend_from_slice(&(types.len() as i16).to_be_bytes());
        for t in types {
            b.extend_from_slice(&t.to_be_bytes());
        }
        self.message(b'P', &b)
    }

    /// Bind with text parameters and text results.
    pub fn bind(&mut self, portal: &str, statement: &str, params: &[Option<&str>]) -> &mut Self {
        let mut b = cstr(portal);
        b.extend_from_slice(&cstr(statement));
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&(params.len() as i16).to_be_bytes());
        for p in params {
            match p {
                None => b.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(v) => {
                    b.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    b.extend_from_slice(v.as_bytes());
                }
            }
        }
        b.extend_from_slice(&0i16.to_be_bytes());
        self.message(b'B', &b)
    }

    pub fn describe(&mut self, kind: u8, name: &str) -> &mut Self {
        let mut b = vec![kind];
        b.extend_from_slice(&cstr(name));
        self.message(b'D', &b)
    }

    pub fn execute(&mut self, portal: &str, max_rows: i32) -> &mut Self {
        let mut b = cstr(portal);
        b.extend_from_slice(&max_rows.to_be_bytes());
        self.message(b'E', &b)
    }

    pub fn close(&mut self, kind: u8, name: &str) -> &mut Self {
        let mut b = vec![kind];
        b.extend_from_slice(&cstr(name));
        self.message(b'C', &b)
    }

    pub fn sync(&mut self) -> &mut Self {
        self.message(b'S', &[])
    }

    pub fn flush_message(&mut self) -> &mut Self {
        self.message(b'H', &[])
    }

    /// Sends everything queued.
    pub async fn flush(&mut self) -> Result<()> {
        let out = std::mem::take(&mut self.out);
        self.stream.write_all(&out).await?;
        Ok(())
    }

    /// The next reply.
    pub async fn read(&mut self) -> Result<Reply> {
        let tag = self.stream.read_u8().await?;
        let len = self.stream.read_i32().await?;
        let mut body = vec![0; (len as usize).saturating_sub(4)];
        self.stream.read_exact(&mut body).await?;
        Ok(Reply { tag, body })
    }

    /// Sends what is queued, then reads replies up to and including ReadyForQuery.
    pub async fn until_ready(&mut self) -> Result<Vec<Reply>> {
        self.flush().await?;
        let mut replies = Vec::new();
        loop {
            let r = self.read().await?;
            let done = r.tag == b'Z';
            replies.push(r);
            if done {
                return Ok(replies);
            }
        }
    }

    /// Closes the connection without Terminate.
    pub fn abandon(self) {}

    /// Says goodbye (Terminate) and closes the connection.
    pub async fn terminate(mut self) -> Result<()> {
        self.message(b'X', &[]);
        self.flush().await?;
        self.stream.shutdown().await?;
        Ok(())
    }
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}
