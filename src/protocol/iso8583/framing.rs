//! The 2-byte big-endian length framing of terminal-host connections.
//!
//! Sans-IO: [`FrameDecoder`] takes bytes as they arrive and yields whole
//! frames; the caller owns the socket. A frame longer than
//! [`MAX_FRAME_LEN`] is a framing error, after which the connection must be
//! closed: the decoder keeps returning the error.

/// The largest message a frame may carry.
pub const MAX_FRAME_LEN: usize = 8192;

/// A framing violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length header announces more than [`MAX_FRAME_LEN`] bytes.
    #[error("frame length {length} exceeds the maximum {MAX_FRAME_LEN}")]
    TooLong {
        /// The announced or attempted length.
        length: usize,
    },
}

/// Prefixes a message with its 2-byte length.
pub fn frame(msg: &[u8]) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(msg.len() + 2);
    write_frame(msg, &mut out)?;
    Ok(out)
}

/// Appends a framed message to `out`.
pub fn write_frame(msg: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    if msg.len() > MAX_FRAME_LEN {
        return Err(FrameError::TooLong { length: msg.len() });
    }
    out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    out.extend_from_slice(msg);
    Ok(())
}

/// A complete frame's message and the bytes after it.
pub type Split<'a> = (&'a [u8], &'a [u8]);

/// Splits the first complete frame off `buf`: `Ok(Some((message, rest)))`,
/// `Ok(None)` when more bytes are needed.
pub fn split_frame(buf: &[u8]) -> Result<Option<Split<'_>>, FrameError> {
    let Some(&[hi, lo]) = buf.get(..2) else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLong { length: len });
    }
    Ok(buf.get(2..2 + len).map(|m| (m, buf.get(2 + len..).unwrap_or_default())))
}

/// Reassembles frames from a byte stream.
#[derive(Debug, Default, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    failed: Option<FrameError>,
}

impl FrameDecoder {
    /// A decoder with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The next complete message, if one has arrived. After a framing error
    /// every call returns that error.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        match split_frame(&self.buf) {
            Ok(Some((msg, _))) => {
                let out = msg.to_vec();
                self.buf.drain(..2 + out.len());
                Ok(Some(out))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.failed = Some(e);
                self.buf.clear();
                Err(e)
            }
        }
    }

    /// Bytes received but not yet part of a complete frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_arrive_in_pieces() {
        let mut d = FrameDecoder::new();
        let mut wire = frame(b"0800abc").unwrap();
        wire.extend(frame(b"0810").unwrap());
        d.push(&wire[..3]);
        assert_eq!(d.next_frame(), Ok(None));
        d.push(&wire[3..]);
        assert_eq!(d.next_frame(), Ok(Some(b"0800abc".to_vec())));
        assert_eq!(d.next_frame(), Ok(Some(b"0810".to_vec())));
        assert_eq!(d.next_frame(), Ok(None));
    }

    #[test]
    fn an_oversized_frame_poisons_the_stream() {
        let mut d = FrameDecoder::new();
        d.push(&[0x20, 0x01]);
        assert_eq!(d.next_frame(), Err(FrameError::TooLong { length: 8193 }));
        d.push(&frame(b"0800").unwrap());
        assert_eq!(d.next_frame(), Err(FrameError::TooLong { length: 8193 }));
        assert!(frame(&[0u8; 8193]).is_err());
    }
}
