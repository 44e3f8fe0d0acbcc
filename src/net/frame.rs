//! The framing of PROTOCOL.md §1 on a byte stream: a 2-byte big-endian
//! length, then the message. A length above [`MAX_FRAME`] is a framing
//! error: the reader answers nothing and the connection is closed.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The longest message a peer may send.
pub const MAX_FRAME: usize = 8192;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length header says more than [`MAX_FRAME`].
    #[error("frame of {0} bytes (at most {MAX_FRAME})")]
    TooLong(usize),
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed inside a frame ({got} of {want} bytes)")]
    Truncated {
        /// Bytes received.
        got: usize,
        /// Bytes announced (header included).
        want: usize,
    },
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Prepends the length header.
pub fn encode(msg: &[u8]) -> Result<Vec<u8>, FrameError> {
    if msg.len() > MAX_FRAME {
        return Err(FrameError::TooLong(msg.len()));
    }
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    out.extend_from_slice(msg);
    Ok(out)
}

/// Reads one frame. `Ok(None)` is a clean end of stream between frames.
pub async fn read<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Vec<u8>>, FrameError> {
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        let n = r.read(&mut head[got..]).await?;
        if n == 0 {
            return if got == 0 { Ok(None) } else { Err(FrameError::Truncated { got, want: 2 }) };
        }
        got += n;
    }
    let len = usize::from(u16::from_be_bytes(head));
    if len > MAX_FRAME {
        return Err(FrameError::TooLong(len));
    }
    let mut body = vec![0u8; len];
    let mut got = 0;
    while got < len {
        let n = r.read(&mut body[got..]).await?;
        if n == 0 {
            return Err(FrameError::Truncated { got: got + 2, want: len + 2 });
        }
        got += n;
    }
    Ok(Some(body))
}

/// Writes one frame (header and message in one write).
pub async fn write<W: AsyncWrite + Unpin>(w: &mut W, msg: &[u8]) -> Result<(), FrameError> {
    w.write_all(&encode(msg)?).await?;
    Ok(())
}
