//! possim: a hardware-in-the-loop point-of-sale simulator.
//!
//! The payment logic is a set of sans-IO state machines (the way rustls and
//! quinn-proto are built): they take bytes, events and "now" as a number, and
//! return bytes, events and the next time they want to be woken. Drivers
//! (the headless Bevy world in [`sim`], and the tokio servers in [`net`])
//! only move bytes and time between them.
//!
//! ```text
//!   protocol   ISO 8583 (dialects as data), BER-TLV, track 2, APDU,
//!              TDES, retail MAC, PIN blocks, PVV, CVV, EMV CVN 10
//!   card       the chip application, its magstripe and contactless side
//!   terminal   card session -> CVM -> 0200 -> response -> reversal;
//!              it reaches the card only through a CardChannel that taps
//!              (skimmers, shimmers, wedges) can wrap
//!   host       the acquirer/issuer: a pipeline of named checks, each
//!              defence switchable, then the ledger and settlement
//!   link       frames in transit: a rule engine (faults and attacks are
//!              Rules returning Verdicts), latency, bandwidth, outages
//!   attack     the attacks as taps and rules (skimmer, shimmer, PIN
//!              wedge, relay, MITM, pre-play, insider and more), sans IO
//!   scenario   the RON file: schema, faults as kind + window + filter,
//!              ranges for sweeps, validation with positions
//!   sim        the Bevy world: one plugin per concern, a record stream
//!              with subscribers, commands into a running world
//!   report     summary, JSON, JUnit, HTML, pcap, journal replay and diff
//!   view       what the trainer view shows, kept from the record stream
//!   gui        the trainer view drawn with egui (feature `gui`)
//!   lesson     what each scenario teaches, in English and Chinese
//!   net        the real-time drivers: host, terminals, fault proxy, load,
//!              scripts and PC/SC cards on tokio and rustls; framing, PKI
//!   assess     one real shop's profile against the whole catalogue
//!   inspect    one captured frame explained (detect: its framing)
//!   keys, file, money, time, rng, names
//!              key files, hostile files, amounts, virtual time and
//!              calendar, seeded streams, names read back from journals
//! ```
//!
//! The public interface is the module tree below, and these names:

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod assess;
pub mod attack;
pub mod card;
pub mod detect;
pub mod file;
#[cfg(feature = "gui")]
pub mod gui;
pub mod host;
pub mod inspect;
pub mod keys;
pub mod lesson;
pub mod link;
pub mod money;
pub mod names;
pub mod net;
pub mod protocol;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod terminal;
pub mod time;
pub mod view;
mod window;

pub use host::{Check, HostCore};
pub use link::{Frame, LinkCore, Rule, Scope, Verdict};
pub use report::RunReport;
pub use scenario::{FaultKind, Scenario};
pub use sim::{Command, Plan, Record, Subscriber};
pub use terminal::{CardChannel, CardTap, TerminalCore};
