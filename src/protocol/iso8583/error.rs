//! Decode and encode errors that say which element, where, and why.

/// The part of a message an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    /// The dialect's opaque header.
    Header,
    /// The message type indicator.
    Mti,
    /// The primary bitmap.
    PrimaryBitmap,
    /// The secondary bitmap.
    SecondaryBitmap,
    /// A data field.
    Field(u8),
    /// After the last field.
    End,
}

impl Element {
    /// The field number, when the element is a field.
    pub fn field(self) -> Option<u8> {
        match self {
            Self::Field(n) => Some(n),
            _ => None,
        }
    }
}

/// Why a message did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The message ends inside this element.
    #[error("needs {needed} bytes, only {available} left")]
    Truncated {
        /// Bytes the element needs.
        needed: usize,
        /// Bytes left in the message.
        available: usize,
    },
    /// A length prefix is not a number.
    #[error("length prefix {found:?} is not a number")]
    BadPrefix {
        /// The prefix as read (escaped).
        found: String,
    },
    /// A length prefix exceeds the field's maximum.
    #[error("length {length} is over the maximum {max}")]
    TooLong {
        /// The length announced.
        length: usize,
        /// The field's maximum.
        max: usize,
    },
    /// A byte that the element's kind does not allow.
    #[error("byte 0x{byte:02X} at offset {at} is not {expected}")]
    BadCharacter {
        /// The byte found.
        byte: u8,
        /// Its absolute offset in the message.
        at: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// A hex-encoded field with an odd character count.
    #[error("hex length {length} is odd")]
    OddHexLength {
        /// The length announced, in characters.
        length: usize,
    },
    /// The bitmap announces a field that the dialect does not define.
    #[error("the bitmap announces it but the dialect does not define it")]
    NotInSpec,
    /// Bytes are left after the last field the bitmap announces.
    #[error("{count} bytes follow the last field")]
    TrailingData {
        /// How many.
        count: usize,
    },
}

/// A message that did not decode: which element, at which byte offset, and why.
///
/// Displays as "field 4 (Amount, Transaction) at byte 20: byte 0x58 at offset
/// 25 is not digits".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} at byte {offset}: {kind}", describe(self.element, &self.name))]
pub struct DecodeError {
    /// Which element.
    pub element: Element,
    /// The field's name in the dialect (empty for non-fields).
    pub name: String,
    /// Where the element starts in the message.
    pub offset: usize,
    /// What is wrong.
    pub kind: DecodeErrorKind,
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeErrorKind {
    /// A fixed-length value has the wrong length.
    #[error("value is {found} long, the field is fixed at {expected}")]
    WrongLength {
        /// Length of the value.
        found: usize,
        /// The fixed length.
        expected: usize,
    },
    /// A variable-length value is over the maximum.
    #[error("value is {found} long, over the maximum {max}")]
    TooLong {
        /// Length of the value.
        found: usize,
        /// The maximum.
        max: usize,
    },
    /// A character that the field's kind does not allow.
    #[error("byte 0x{byte:02X} at index {index} is not {expected}")]
    BadCharacter {
        /// The byte.
        byte: u8,
        /// Its index in the value.
        index: usize,
        /// What the kind allows.
        expected: &'static str,
    },
    /// The message has a field the dialect does not define.
    #[error("the dialect does not define it")]
    NotInSpec,
    /// The header length does not match the dialect.
    #[error("header is {found} bytes, the dialect wants {expected}")]
    HeaderLength {
        /// Header length of the message.
        found: usize,
        /// Header length of the dialect.
        expected: usize,
    },
    /// The MTI is not four digits.
    #[error("MTI is not four digits")]
    BadMti,
}

/// A message that could not be encoded, and which element is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {kind}", describe(self.element, &self.name))]
pub struct EncodeError {
    /// Which element.
    pub element: Element,
    /// The field's name in the dialect.
    pub name: String,
    /// What is wrong.
    pub kind: EncodeErrorKind,
}

fn describe(e: Element, name: &str) -> String {
    match e {
        Element::Header => "header".into(),
        Element::Mti => "MTI".into(),
        Element::PrimaryBitmap => "primary bitmap".into(),
        Element::SecondaryBitmap => "secondary bitmap".into(),
        Element::Field(n) if name.is_empty() => format!("field {n}"),
        Element::Field(n) => format!("field {n} ({name})"),
        Element::End => "end of message".into(),
    }
}
