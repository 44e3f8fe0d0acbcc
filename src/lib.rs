//! possim: a hardware-in-the-loop point-of-sale simulator.
//!
//! The payment logic is a set of sans-IO state machines (the way rustls and
//! quinn-proto are built): they take bytes, events and "now" as a number, and
//! return bytes, events and the next time they want to be woken.
//!
//! ```text
//!   protocol   ISO 8583, BER-TLV, track 2, APDU, TDES MAC, PIN, PVV, CVV, EMV
//! ```
//!
//! The public interface is the module tree below; start with
//! [`protocol::iso8583::Spec`] to decode a message.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod card;
pub mod file;
pub mod host;
pub mod inspect;
pub mod keys;
pub mod link;
pub mod money;
pub mod protocol;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod terminal;
pub mod time;
