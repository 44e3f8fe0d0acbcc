//! The sans-IO protocol layer: bytes in, values out.
//!
//! Nothing here touches a clock, socket, thread, RNG or Bevy type. Every
//! decoder takes untrusted bytes and returns a typed error, never panics.

#![deny(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

pub mod apdu;
pub mod crypto;
pub mod emv_tags;
pub mod iso8583;
pub mod pan;
mod reader;
pub mod response;
pub mod tlv;
pub mod track;
