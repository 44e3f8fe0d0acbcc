//! The framing of PROTOCOL.md §1 on a socket: the sans-IO
//! [`FrameDecoder`] of `protocol::iso8583` fed from an async reader, and
//! whole framed writes. A length above 8192 is a framing error: the reader
//! answers nothing and the connection is closed.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::protocol::iso8583::{FrameDecoder, frame};

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length header says more than 8192 bytes.
    #[error("{0}")]
    Framing(#[from] crate::protocol::iso8583::FrameError),
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed inside a frame ({0} bytes received)")]
    Truncated(usize),
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Reads whole frames from a byte stream (one read usually brings a whole
/// frame, often several).
pub struct FrameReader<R> {
    rd: R,
    dec: FrameDecoder,
    buf: Box<[u8]>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads frames from `rd`.
    pub fn new(rd: R) -> Self {
        Self { rd, dec: FrameDecoder::new(), buf: vec![0u8; 16 * 1024].into_boxed_slice() }
    }

    /// The next message. `Ok(None)` is a clean end of stream between frames.
    /// Cancel-safe: bytes already read stay buffered.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        loop {
            if let Some(m) = self.dec.next_frame()? {
                return Ok(Some(m));
            }
            let n = self.rd.read(&mut self.buf).await?;
            if n == 0 {
                return match self.dec.buffered() {
                    0 => Ok(None),
                    got => Err(FrameError::Truncated(got)),
                };
            }
            self.dec.push(self.buf.get(..n).unwrap_or_default());
        }
    }
}

/// Writes one frame (header and message in one write).
pub async fn write<W: AsyncWrite + Unpin>(w: &mut W, msg: &[u8]) -> Result<(), FrameError> {
    w.write_all(&frame(msg)?).await?;
    Ok(())
}
