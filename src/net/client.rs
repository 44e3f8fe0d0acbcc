//! A minimal ISO 8583 client over TCP or TLS: one request, one answer at a
//! time. Tests, benchmarks and scripted checks against a host use it.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::net::TcpStream;

use super::frame::{self, FrameError, FrameReader};

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting failed.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS handshake failed (an untrusted certificate, a refused client
    /// certificate, an old protocol version).
    #[error("TLS handshake with {addr}: {source}")]
    Tls {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Reading or writing a frame failed.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// The host closed the connection without answering.
    #[error("the host closed the connection without answering")]
    Closed,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A connection to a host.
pub struct Client {
    rd: FrameReader<ReadHalf<Box<dyn Stream>>>,
    wr: WriteHalf<Box<dyn Stream>>,
}

impl Client {
    fn over(s: Box<dyn Stream>) -> Self {
        let (rd, wr) = tokio::io::split(s);
        Self { rd: FrameReader::new(rd), wr }
    }

    /// Connects over plain TCP.
    pub async fn tcp(addr: SocketAddr) -> Result<Self, ClientError> {
        let s = TcpStream::connect(addr)
            .await
            .map_err(|source| ClientError::Connect { addr, source })?;
        let _ = s.set_nodelay(true);
        Ok(Self::over(Box::new(s)))
    }

    /// Connects over TLS, checking the host's certificate against `name`
    /// with the roots in `cfg`.
    pub async fn tls(
        addr: SocketAddr,
        cfg: Arc<rustls::ClientConfig>,
        name: rustls::pki_types::ServerName<'static>,
    ) -> Result<Self, ClientError> {
        let s = TcpStream::connect(addr)
            .await
            .map_err(|source| ClientError::Connect { addr, source })?;
        let _ = s.set_nodelay(true);
        // A host that accepts and then says nothing cannot hang the client.
        let handshake = tokio_rustls::TlsConnector::from(cfg).connect(name, s);
        let s = tokio::time::timeout(std::time::Duration::from_secs(10), handshake)
            .await
            .map_err(|_| ClientError::Tls {
                addr,
                source: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no handshake within 10 s",
                ),
            })?
            .map_err(|source| ClientError::Tls { addr, source })?;
        Ok(Self::over(Box::new(s)))
    }

    /// Sends one message.
    pub async fn send(&mut self, msg: &[u8]) -> Result<(), ClientError> {
        frame::write(&mut self.wr, msg).await?;
        Ok(())
    }

    /// Reads one message.
    pub async fn recv(&mut self) -> Result<Vec<u8>, ClientError> {
        self.rd.next().await?.ok_or(ClientError::Closed)
    }

    /// Sends a message and reads the answer.
    pub async fn call(&mut self, msg: &[u8]) -> Result<Vec<u8>, ClientError> {
        self.send(msg).await?;
        self.recv().await
    }
}
