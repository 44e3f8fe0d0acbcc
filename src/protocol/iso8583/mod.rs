//! ISO 8583:1987 messages: dialects as data, the codec, the MAC and framing.
//!
//! ```text
//!   wire bytes --Spec::decode--> Message --Spec::encode--> wire bytes
//!                                   |
//!                       verify_mac / encode_with_mac (TAK)
//! ```

mod codec;
mod error;
mod framing;
mod mac;
mod message;
mod spec;

pub use codec::Layout;
pub(crate) use codec::hex_digit;
pub use error::{DecodeError, DecodeErrorKind, Element, EncodeError, EncodeErrorKind};
pub use framing::{FrameDecoder, FrameError, MAX_FRAME_LEN, frame, split_frame, write_frame};
pub use mac::{MacCheck, encode_with_mac, encode_with_mac_into, verify_mac};
pub use message::{Message, Mti, OriginalData};
pub use spec::{
    BitmapEncoding, Count, Encoding, FieldKind, FieldSpec, Length, MessageSpec, MtiEncoding,
    PrefixEncoding, Spec, SpecError,
};
