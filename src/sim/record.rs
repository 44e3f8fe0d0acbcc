//! What the journal records and the monitor reads: one value per fact, in
//! virtual-time order. Card data is masked; frames carry their raw bytes so
//! every MAC, PIN block and cryptogram can be checked again afterwards.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};

use crate::host::{Checks, LedgerEffect, Totals as HostTotals};
use crate::link::{Dir, Fired};
use crate::money::Money;
use crate::protocol::iso8583::Mti;
use crate::protocol::response::ResponseCode;
use crate::scenario::AlertKind;
use crate::terminal::{CvmPerformed, Entry, Note, Outcome, Presentation, Purpose, Totals};

fn hex<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode_upper(b))
}

fn de_hex<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = Cow::<str>::deserialize(d)?;
    hex::decode(s.as_ref()).map_err(|e| serde::de::Error::custom(format!("bytes in hex: {e}")))
}

fn de_hex_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    match Option::<Cow<str>>::deserialize(d)? {
        Some(s) => hex::decode(s.as_ref())
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("bytes in hex: {e}"))),
        None => Ok(None),
    }
}

fn de_rc_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ResponseCode>, D::Error> {
    match Option::<Cow<str>>::deserialize(d)? {
        Some(s) if s.len() == 2 => Ok(Some(ResponseCode::from_code(&s))),
        Some(s) => {
            Err(serde::de::Error::custom(format!("a response code is 2 characters, not {s:?}")))
        }
        None => Ok(None),
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A stable id shared by many records (terminal, link) without copying.
pub type Name = Arc<str>;

fn rc_opt<S: serde::Serializer>(rc: &Option<ResponseCode>, s: S) -> Result<S::Ok, S::Error> {
    match rc {
        Some(rc) => s.serialize_str(&rc.code()),
        None => s.serialize_none(),
    }
}

fn hex_opt<S: serde::Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match b {
        Some(b) => s.serialize_str(&hex::encode_upper(b)),
        None => s.serialize_none(),
    }
}

/// One command and response exchanged with a card, in hex with card data
/// masked: the PAN (5A) and track 2 equivalent data (57) show only the first
/// 6 and last 4 digits, and a VERIFY's PIN block is starred out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Apdu {
    /// Command.
    pub c: String,
    /// Response.
    pub r: String,
}

impl Apdu {
    /// Records an exchange, masking card data.
    pub fn masked(command: &[u8], response: &[u8]) -> Self {
        Self { c: mask_command(command), r: mask_response(response) }
    }
}

fn mask_command(c: &[u8]) -> String {
    match c {
        // VERIFY: header and Lc stay, the PIN block does not.
        [cla, 0x20, p1, p2, lc, data @ ..] => {
            format!(
                "{}{}",
                hex::encode_upper([*cla, 0x20, *p1, *p2, *lc]),
                "*".repeat(2 * data.len())
            )
        }
        _ => hex::encode_upper(c),
    }
}

fn mask_response(r: &[u8]) -> String {
    let Some((data, sw)) = r.split_last_chunk::<2>() else {
        return hex::encode_upper(r);
    };
    let mut out = String::with_capacity(2 * r.len());
    if !mask_tlv(data, &mut out, 0) {
        out = format!("({} bytes, not BER-TLV)", data.len());
    }
    out.push_str(&hex::encode_upper(sw));
    out
}

/// Writes `data` as hex, masking 5A and 57 values; false if it is not TLV.
fn mask_tlv(data: &[u8], out: &mut String, depth: usize) -> bool {
    use crate::protocol::pan::mask_pan;
    use crate::protocol::tlv;
    if depth > tlv::MAX_DEPTH {
        return false;
    }
    let base = data.as_ptr() as usize;
    let mut at = 0;
    for item in tlv::iter(data) {
        let Ok((tag, value)) = item else { return false };
        let start = value.as_ptr() as usize - base;
        out.push_str(&hex::encode_upper(data.get(at..start).unwrap_or_default()));
        match tag {
            0x5A | 0x57 => out.push_str(&mask_pan(hex::encode_upper(value).trim_end_matches('F'))),
            t if tlv::is_constructed(t) => {
                if !mask_tlv(value, out, depth + 1) {
                    return false;
                }
            }
            _ => out.push_str(&hex::encode_upper(value)),
        }
        at = start + value.len();
    }
    out.push_str(&hex::encode_upper(data.get(at..).unwrap_or_default()));
    true
}

/// How a world ran, for `possim replay` (each judges differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The whole shop (`possim run`, `possim sweep`).
    Run,
    /// The host only, for real terminals (`possim host`).
    Host,
    /// The terminals only, against a real host (`possim terminal --connect`).
    Terminal,
    /// The cards only, in a real PC/SC stack (`possim cards --vpcd`).
    Cards,
}

impl Mode {
    /// The mode a plan runs in.
    pub fn of(plan: &super::plan::Plan) -> Self {
        if plan.external_terminals {
            Self::Host
        } else if plan.remote_host {
            Self::Terminal
        } else {
            Self::Run
        }
    }
}

/// A journal record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// A command changed the running world (see `sim::Command`).
    CommandApplied {
        /// What: "install_rule", "defence_off", "pause" ...
        #[serde(deserialize_with = "crate::names::intern")]
        command: crate::names::Static,
        /// What it named: a link and rule, a check, a terminal.
        target: String,
        /// False when nothing by that name was found.
        applied: bool,
    },
    /// Part of the world could not be built: the run fails.
    SetupFailed {
        /// What and why.
        what: String,
    },
    /// The run begins.
    RunStarted {
        /// Scenario name.
        scenario: String,
        /// Seed.
        seed: u64,
        /// Calendar time of virtual zero.
        start: String,
        /// Trading duration.
        duration: String,
        /// Dialect.
        dialect: String,
        /// The dialect's file, when it is not a built-in one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dialect_file: Option<String>,
        /// Terminals.
        terminals: usize,
        /// Cardholders.
        cardholders: usize,
        /// The link faults as this seed runs them (ranges drawn).
        faults: Vec<String>,
        /// How the world ran: whole, or as the host or the terminals of real
        /// software on sockets.
        mode: Mode,
        /// The scenario file, as given.
        file: String,
        /// The scenario's description.
        description: String,
        /// What the monitor judges by (thresholds, expectations, the faults
        /// and attacks as this seed runs them): `possim replay` rebuilds the
        /// report from the journal and this alone. No key, PIN or card.
        monitor: Box<super::monitor::Setup>,
    },
    /// A customer joins a terminal's queue.
    CustomerArrived {
        /// Terminal id.
        terminal: Name,
        /// Purchase id.
        purchase: u64,
        /// Cardholder number.
        cardholder: u32,
        /// Amount.
        amount: Money,
        /// Refund.
        refund: bool,
        /// How the card will be presented.
        presentation: Presentation,
        /// People waiting before them.
        queue: usize,
    },
    /// APDUs exchanged with the card in one step.
    CardSession {
        /// Terminal id.
        terminal: Name,
        /// Purchase id (`possim cards`: the session's number).
        purchase: u64,
        /// The card, masked, where the reader knows it (`possim cards`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        card: Option<String>,
        /// The exchanges.
        apdus: Vec<Apdu>,
    },
    /// The customer typed a PIN (never the PIN itself).
    PinEntered {
        /// Terminal id.
        terminal: Name,
        /// Purchase id.
        purchase: u64,
        /// Whether they mistyped it.
        typo: bool,
    },
    /// A frame enters a link.
    FrameSent {
        /// Frame id.
        frame: u64,
        /// Link id ("direct" for external connections).
        link: Name,
        /// Direction.
        dir: Dir,
        /// Sender.
        from: Name,
        /// Receiver.
        to: Name,
        /// MTI.
        mti: Option<Mti>,
        /// STAN.
        stan: Option<u32>,
        /// Why.
        purpose: Option<Purpose>,
        /// The frame id it answers.
        answers: Option<u64>,
        /// The purchase it belongs to.
        purchase: Option<u64>,
        /// Raw bytes (no framing header); empty when no journal is kept.
        #[serde(serialize_with = "hex", deserialize_with = "de_hex")]
        bytes: Vec<u8>,
    },
    /// A fault acted on a frame.
    FrameFault {
        /// Frame id.
        frame: u64,
        /// Link id.
        link: Name,
        /// Direction.
        dir: Dir,
        /// The purchase the frame belongs to, if known.
        purchase: Option<u64>,
        /// What happened.
        #[serde(flatten)]
        fired: Fired,
    },
    /// A frame arrived.
    FrameDelivered {
        /// Frame id.
        frame: u64,
        /// Link id.
        link: Name,
        /// Direction.
        dir: Dir,
        /// Receiver.
        to: Name,
        /// The duplicate copy.
        duplicate: bool,
        /// The bytes as received, when a fault changed them.
        #[serde(
            serialize_with = "hex_opt",
            deserialize_with = "de_hex_opt",
            skip_serializing_if = "Option::is_none",
            default
        )]
        bytes: Option<Vec<u8>>,
        /// How long it waited for the link's bandwidth (microseconds).
        #[serde(skip_serializing_if = "is_zero", default)]
        queued_us: u64,
    },
    /// The host's answer and its evidence.
    HostDecision {
        /// The request's frame id.
        frame: u64,
        /// The purchase the request was sent for (none for outside frames).
        purchase: Option<u64>,
        /// Terminal id.
        terminal: Option<String>,
        /// MTI received.
        mti: Option<Mti>,
        /// STAN.
        stan: Option<u32>,
        /// RRN.
        rrn: Option<String>,
        /// Masked PAN.
        pan: Option<String>,
        /// Amount.
        amount: Option<Money>,
        /// Response code.
        #[serde(serialize_with = "rc_opt", deserialize_with = "de_rc_opt")]
        response: Option<ResponseCode>,
        /// Why.
        reason: Cow<'static, str>,
        /// Checks.
        checks: Checks,
        /// Ledger effect.
        ledger: LedgerEffect,
        /// The STAN a reversal reverses.
        reverses: Option<u32>,
        /// ATC of the cryptogram.
        atc: Option<u16>,
    },
    /// A terminal reports something.
    TerminalNote {
        /// Terminal id.
        terminal: Name,
        /// What.
        #[serde(flatten)]
        note: Note,
    },
    /// A customer transaction ended.
    Completed {
        /// Terminal id.
        terminal: Name,
        /// Purchase id.
        purchase: u64,
        /// Outcome.
        outcome: Outcome,
        /// Response code.
        #[serde(serialize_with = "rc_opt", deserialize_with = "de_rc_opt")]
        response: Option<ResponseCode>,
        /// Why.
        reason: Cow<'static, str>,
        /// Entry mode.
        entry: Option<Entry>,
        /// CVM.
        cvm: Option<CvmPerformed>,
        /// STAN.
        stan: Option<u32>,
        /// RRN.
        rrn: Option<String>,
        /// Amount.
        amount: Money,
        /// Refund.
        refund: bool,
        /// Request round trip in microseconds.
        round_trip_us: Option<u64>,
    },
    /// An attack begins: a device is fitted, or the attacker sets out.
    AttackStarted {
        /// Its index in the scenario's `attacks`.
        attack: usize,
        /// Its name ("skimmer").
        #[serde(deserialize_with = "crate::names::intern")]
        name: crate::names::Static,
        /// The terminals it is fitted to or pays at.
        terminals: Vec<Name>,
    },
    /// An attack ends: the device is removed.
    AttackEnded {
        /// Its index in the scenario's `attacks`.
        attack: usize,
        /// Its name.
        #[serde(deserialize_with = "crate::names::intern")]
        name: crate::names::Static,
    },
    /// An attack took card data or a PIN (never the data itself).
    Stolen {
        /// The attack.
        attack: usize,
        /// Its name.
        #[serde(deserialize_with = "crate::names::intern")]
        name: crate::names::Static,
        /// Where.
        terminal: Name,
        /// The purchase being made.
        purchase: Option<u64>,
        /// The card, masked.
        pan: String,
        /// The card's number among those the attackers hold (from 0, in
        /// the order first seen): masked PANs can coincide.
        card: usize,
        /// What: "track2", "tag57" or "pin".
        #[serde(deserialize_with = "crate::names::intern")]
        what: crate::names::Static,
    },
    /// The attacker pays with a card made from stolen data (a cash-out) or a
    /// stolen card, or has no card left to pay with.
    CashOut {
        /// The cash-out attack.
        attack: usize,
        /// Where.
        terminal: Name,
        /// The purchase (None: no usable loot yet).
        purchase: Option<u64>,
        /// The copied card, masked.
        pan: Option<String>,
        /// The copy was made from chip data (tag 57, with its iCVV).
        from_chip: bool,
        /// The attacker knows the PIN.
        pin_known: bool,
    },
    /// A device between reader and card answered a command in the card's
    /// place: the card never saw it (a PIN-bypass wedge's VERIFY).
    DeviceAnswered {
        /// Where (`vpcd` for `possim cards`).
        terminal: Name,
        /// The devices fitted there.
        devices: String,
        /// The command's header (CLA INS P1 P2), hex.
        command: String,
        /// The answer the reader got, hex.
        answer: String,
    },
    /// A tamper check found a device of attack `attack` on `terminal` and removed it.
    TamperFound {
        /// The attack's index.
        attack: usize,
        /// The terminal.
        terminal: Name,
        /// What was found ("skimmer").
        #[serde(deserialize_with = "crate::names::intern")]
        device: crate::names::Static,
    },
    /// A terminal sent card data out of the shop, to somewhere other than
    /// its acquirer (tampered firmware, a swapped device).
    Egress {
        /// The attack.
        attack: usize,
        /// The terminal.
        terminal: Name,
        /// Pieces of card data or PINs sent.
        items: usize,
    },
    /// An insider tries to refund money to a card of their own.
    InsiderRefund {
        /// The attack.
        attack: usize,
        /// Where.
        terminal: Name,
        /// Whose password authorised it (None: none could be had).
        login: Option<String>,
        /// The refund (None: not authorised).
        purchase: Option<u64>,
        /// Wrong passwords at this terminal so far.
        failures: u32,
        /// The terminal's supervisor functions are locked.
        locked: bool,
    },
    /// The monitor raised an alert.
    Alert {
        /// Kind.
        alert: AlertKind,
        /// Terminal, if one.
        terminal: Option<String>,
        /// Detail.
        detail: String,
    },
    /// End-of-day settlement of one terminal.
    Settlement {
        /// Terminal id.
        terminal: Name,
        /// What the terminal approved.
        terminal_totals: Totals,
        /// What the host settles.
        host_totals: HostTotals,
        /// Whether they agree (never when one side is real software).
        balanced: bool,
        /// The only side known, when the other is real software on a socket.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        only: Option<crate::report::Side>,
    },
    /// The host's ledger at the end of the day.
    Ledger {
        /// What left cardholder accounts.
        cardholder_outflow: Money,
        /// What merchants are owed.
        merchant_position: Money,
        /// Whether the two agree.
        balanced: bool,
    },
    /// The run ends.
    RunFinished {
        /// Customer transactions completed.
        transactions: u64,
        /// Frames sent.
        frames: u64,
        /// Frames still in flight when the run stopped (0 when it settled).
        in_flight: u64,
        /// The purchases those frames belong to (the first few).
        in_flight_purchases: Vec<u64>,
        /// Reversals the terminals still had to deliver.
        pending_reversals: u64,
        /// SHA-256 of every journal line before this one, set by the journal
        /// as it writes this line: `possim replay` refuses a journal whose
        /// lines were changed after the run (it catches edits, not forgery).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<String>,
    },
}
