//! vsmartcard's vpcd protocol, the card's side (PROTOCOL.md §7): the PC/SC
//! reader driver inside pcscd (`vsmartcard-vpcd`) listens, a virtual card
//! connects. Every message either way is a 2-byte big-endian length and a
//! payload; from the reader, a 1-byte payload is a control (power off, power
//! on, reset, send the ATR) and anything longer is a command APDU, answered
//! with the response APDU. Sans IO: bytes in, messages out.

/// The port vpcd listens on for its first reader ("Virtual PCD 00 00").
pub const DEFAULT_PORT: u16 = 35963;

/// What the reader asks of the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Power off: the session ends (the card may be taken out).
    PowerOff,
    /// Power on: a new session.
    PowerOn,
    /// Warm reset: a new session, same card.
    Reset,
    /// Send the ATR.
    GetAtr,
    /// A command APDU.
    Apdu(Vec<u8>),
    /// A control byte vpcd does not define (ignored, and journalled).
    Unknown(u8),
    /// An empty message (ignored).
    Empty,
}

/// Splits the byte stream from vpcd into messages.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// Takes bytes as they arrive.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, if one has arrived. A message is at most
    /// 65,535 bytes (its length is two bytes), so memory stays bounded.
    pub fn next_message(&mut self) -> Option<Message> {
        let (head, rest) = self.buf.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*head));
        let payload = rest.get(..len)?.to_vec();
        self.buf.drain(..2 + len);
        Some(match payload.as_slice() {
            [] => Message::Empty,
            [0] => Message::PowerOff,
            [1] => Message::PowerOn,
            [2] => Message::Reset,
            [4] => Message::GetAtr,
            [b] => Message::Unknown(*b),
            _ => Message::Apdu(payload),
        })
    }

    /// Bytes received that are not yet a whole message (a peer that stops
    /// mid-message leaves these).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// One message to vpcd: its length, then the payload (an ATR or a response
/// APDU). A payload longer than 65,535 bytes is cut to that (no card answers
/// with more).
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let body = payload.get(..usize::from(u16::MAX)).unwrap_or(payload);
    let len = u16::try_from(body.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(2 + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    out
}
