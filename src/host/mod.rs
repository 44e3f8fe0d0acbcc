//! The acquirer and issuer host (sans-IO).
//!
//! [`HostCore::handle`] takes one message as received and "now", and returns
//! the response bytes (if any) and a [`Decision`] saying what was checked and
//! why it answered as it did. The checks run in a fixed order (MAC, format,
//! duplicates, card, expiry, fallback, CVV/iCVV, ARQC and ATC, PIN/PVV,
//! funds) and the ledger moves only when every check passed, so a malformed
//! or altered frame never changes it. Reversals are idempotent.

mod ledger;

use std::collections::VecDeque;

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

pub use ledger::{Ledger, Totals};

use crate::money::Money;
use crate::protocol::crypto::{self, ArqcInput, TdesKey};
use crate::protocol::iso8583::{MacCheck, Message, Mti, Spec, encode_with_mac, verify_mac};
use crate::protocol::response::ResponseCode;
use crate::protocol::tlv;
use crate::protocol::track::{Track2, luhn_valid};
use crate::time::{Calendar, Duration, SimTime};

/// Which defences the issuer applies; each can be switched off to show
/// what it is worth.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rules {
    /// Check the message MAC (63 when wrong or missing).
    pub verify_mac: bool,
    /// Check the ARQC of chip transactions (63 when wrong).
    pub verify_arqc: bool,
    /// Refuse an ATC at or below the highest seen (59).
    pub atc_replay: bool,
    /// Check online PINs against the PVV (55, then 75).
    pub verify_pin: bool,
    /// Check the CVV (magstripe) or iCVV (chip) in track 2 (63).
    pub verify_cvv: bool,
    /// Refuse magstripe reads (fallback or not) of chip cards (05).
    pub refuse_fallback_for_chip_cards: bool,
    /// Answer 94 to a repeated TID + STAN + RRN within this window.
    pub duplicate_window: Option<Duration>,
    /// Largest single amount (13 above it).
    pub max_amount: Money,
}

impl Default for Rules {
    /// Every defence on; duplicate window 24h; single-transaction limit 50,000.00.
    fn default() -> Self {
        Self {
            verify_mac: true,
            verify_arqc: true,
            atc_replay: true,
            verify_pin: true,
            verify_cvv: true,
            refuse_fallback_for_chip_cards: true,
            duplicate_window: Some(Duration::from_secs(86_400)),
            max_amount: Money(5_000_000),
        }
    }
}

/// The host's settings and issuer keys.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The dialect it speaks.
    pub spec: Arc<Spec>,
    /// Issuer master key for application cryptograms.
    pub imk_ac: TdesKey,
    /// Card verification key.
    pub cvk: TdesKey,
    /// PIN verification key.
    pub pvk: TdesKey,
    /// Defences.
    pub rules: Rules,
    /// Wrong online PINs in a row before the card is PIN-blocked.
    pub pin_try_limit: u8,
    /// Maps virtual time to dates (expiry checks).
    pub calendar: Calendar,
    /// Windows in which the issuer is unreachable (91).
    pub issuer_down: Vec<(SimTime, SimTime)>,
}

/// What the issuer knows about a card (compact: a host holds many).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CardRecord {
    psn: [u8; 2],
    expiry: [u8; 4],
    service_code: [u8; 3],
    pvv: [u8; 4],
    pvki: [u8; 1],
    /// The account it draws on.
    pub account: u32,
    /// Highest ATC seen in a valid cryptogram.
    pub atc_high: Option<u16>,
    /// Wrong online PINs in a row.
    pub pin_fails: u8,
    /// Blocked for fraud (57).
    pub blocked: bool,
}

impl std::fmt::Debug for CardRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CardRecord(exp {} sc {})", self.expiry(), self.service_code())
    }
}

fn fixed<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [b'0'; N];
    for (o, b) in out.iter_mut().zip(s.bytes()) {
        *o = b;
    }
    out
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

impl CardRecord {
    /// A card on file.
    pub fn new(
        psn: &str,
        expiry: &str,
        service_code: &str,
        pvki: &str,
        pvv: &str,
        account: usize,
    ) -> Self {
        Self {
            psn: fixed(psn),
            expiry: fixed(expiry),
            service_code: fixed(service_code),
            pvv: fixed(pvv),
            pvki: fixed(pvki),
            account: account as u32,
            atc_high: None,
            pin_fails: 0,
            blocked: false,
        }
    }
    /// PAN sequence number.
    pub fn psn(&self) -> &str {
        text(&self.psn)
    }
    /// Expiry YYMM.
    pub fn expiry(&self) -> &str {
        text(&self.expiry)
    }
    /// Service code.
    pub fn service_code(&self) -> &str {
        text(&self.service_code)
    }
    /// PVV on file.
    pub fn pvv(&self) -> &str {
        text(&self.pvv)
    }
    /// PVKI on file.
    pub fn pvki(&self) -> &str {
        text(&self.pvki)
    }
}

#[derive(Debug, Clone)]
struct CardEntry {
    rec: CardRecord,
    /// The ICC master key, derived on first use and kept.
    mk: Option<TdesKey>,
}

/// A terminal the acquirer knows, with its working keys.
#[derive(Debug, Clone)]
pub struct TerminalRecord {
    /// Terminal authentication key.
    pub tak: TdesKey,
    /// Terminal PIN key.
    pub tpk: TdesKey,
    /// Its merchant.
    pub mid: String,
}

/// The result of one check, for the decision record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Checked and right.
    Valid,
    /// Checked and wrong.
    Invalid,
    /// Not present in the message.
    Absent,
    /// Not checked (rule off, or an earlier check decided).
    Skipped,
}

/// The checks behind a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Checks {
    /// Message MAC.
    pub mac: Verdict,
    /// Application cryptogram.
    pub arqc: Verdict,
    /// Online PIN.
    pub pin: Verdict,
    /// CVV or iCVV.
    pub cvv: Verdict,
}

impl Default for Checks {
    fn default() -> Self {
        Self {
            mac: Verdict::Skipped,
            arqc: Verdict::Skipped,
            pin: Verdict::Skipped,
            cvv: Verdict::Skipped,
        }
    }
}

/// What the ledger did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerEffect {
    /// Nothing moved.
    None,
    /// A purchase was debited to the cardholder.
    Debit,
    /// A refund was credited to the cardholder.
    Credit,
    /// A reversal released an earlier posting.
    Release,
}

/// Why the host answered as it did: the evidence for the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// MTI received (None if unreadable).
    pub mti: Option<Mti>,
    /// Terminal id.
    pub tid: Option<String>,
    /// STAN.
    pub stan: Option<u32>,
    /// RRN.
    pub rrn: Option<String>,
    /// PAN (full; mask before printing).
    pub pan: Option<String>,
    /// Amount.
    pub amount: Option<Money>,
    /// The response code sent (None: no response).
    pub response: Option<ResponseCode>,
    /// Why, in words.
    pub reason: std::borrow::Cow<'static, str>,
    /// The checks.
    pub checks: Checks,
    /// What the ledger did.
    pub ledger: LedgerEffect,
    /// For a reversal: the STAN it reverses.
    pub reverses: Option<u32>,
    /// ATC of the cryptogram, if any.
    pub atc: Option<u16>,
}

/// The host's answer to one frame.
#[derive(Debug, Clone)]
pub struct HostOutput {
    /// Response bytes, if it answers.
    pub response: Option<Vec<u8>>,
    /// The decision.
    pub decision: Decision,
}

#[derive(Debug, Clone, Copy)]
struct TxnRecord {
    amount: Money,
    account: u32,
    refund: bool,
    reversed: bool,
    transmission: u64,
    at: SimTime,
}

/// A (terminal, STAN) pair as one number.
fn txn_key(tidx: usize, stan: u32) -> u64 {
    ((tidx as u64) << 32) | u64::from(stan)
}

/// The acquirer/issuer host.
#[derive(Debug, Clone)]
pub struct HostCore {
    cfg: HostConfig,
    cards: HashMap<String, CardEntry>,
    terminals: HashMap<String, (usize, TerminalRecord)>,
    /// Approved transactions, for reversals (kept [`REVERSAL_KEEP`]).
    txns: HashMap<u64, TxnRecord>,
    /// Every request seen (RRN, when), for duplicate detection.
    seen: HashMap<u64, ([u8; 12], SimTime)>,
    /// Insertion order of `txns`, `seen` and `tombstones`, for expiry.
    txn_order: VecDeque<(SimTime, u64)>,
    seen_order: VecDeque<(SimTime, u64)>,
    /// Reversals whose original had not arrived (so it cannot post later).
    tombstones: HashMap<u64, (u64, SimTime)>,
    tomb_order: VecDeque<(SimTime, u64)>,
    ledger: Ledger,
    auth_seq: u32,
}

/// How long approvals stay reversible (stored reversals retry for under an hour).
const REVERSAL_KEEP: Duration = Duration::from_secs(6 * 3600);

impl HostCore {
    /// A host with its configuration and no cards yet.
    pub fn new(cfg: HostConfig) -> Self {
        Self {
            cfg,
            cards: HashMap::default(),
            terminals: HashMap::default(),
            txns: HashMap::default(),
            seen: HashMap::default(),
            txn_order: VecDeque::new(),
            seen_order: VecDeque::new(),
            tombstones: HashMap::default(),
            tomb_order: VecDeque::new(),
            ledger: Ledger::default(),
            auth_seq: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HostConfig {
        &self.cfg
    }

    /// Opens an account with an available balance; returns its index.
    pub fn open_account(&mut self, available: Money) -> usize {
        self.ledger.open_account(available)
    }

    /// Puts a card on file.
    pub fn add_card(&mut self, pan: &str, card: CardRecord) {
        self.cards.insert(pan.to_string(), CardEntry { rec: card, mk: None });
    }

    /// Registers a terminal and its keys.
    pub fn add_terminal(&mut self, tid: &str, rec: TerminalRecord) {
        let idx = self.terminals.len();
        self.terminals.insert(tid.trim_end().to_string(), (idx, rec));
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// A card on file.
    pub fn card(&self, pan: &str) -> Option<&CardRecord> {
        self.cards.get(pan).map(|c| &c.rec)
    }

    /// Blocks a card (57 from now on).
    pub fn block_card(&mut self, pan: &str) {
        if let Some(c) = self.cards.get_mut(pan) {
            c.rec.blocked = true;
        }
    }

    /// Settlement totals per terminal id.
    pub fn totals(&self, tid: &str) -> Totals {
        self.terminals
            .get(tid.trim_end())
            .map(|(i, _)| self.ledger.terminal_totals(*i))
            .unwrap_or_default()
    }

    fn expire(&mut self, now: SimTime) {
        fn drain<V>(
            order: &mut VecDeque<(SimTime, u64)>,
            map: &mut HashMap<u64, V>,
            keep: Duration,
            now: SimTime,
            at_of: impl Fn(&V) -> SimTime,
        ) {
            while let Some(&(at, key)) = order.front() {
                if now.since(at) <= keep {
                    break;
                }
                order.pop_front();
                if map.get(&key).is_some_and(|v| at_of(v) == at) {
                    map.remove(&key);
                }
            }
        }
        let window = self.cfg.rules.duplicate_window.unwrap_or(Duration::ZERO);
        drain(&mut self.seen_order, &mut self.seen, window, now, |v| v.1);
        drain(&mut self.txn_order, &mut self.txns, REVERSAL_KEEP, now, |v| v.at);
        drain(&mut self.tomb_order, &mut self.tombstones, REVERSAL_KEEP, now, |v| v.1);
    }

    /// Handles one message as received.
    pub fn handle(&mut self, now: SimTime, wire: &[u8]) -> HostOutput {
        self.expire(now);
        let (msg, err) = self.cfg.spec.decode_partial(wire);
        let mut d = Decision {
            mti: msg.as_ref().map(Message::mti),
            tid: msg.as_ref().and_then(|m| m.terminal_id()).map(|t| t.trim_end().to_string()),
            stan: msg.as_ref().and_then(Message::stan),
            rrn: msg.as_ref().and_then(|m| m.rrn()).map(String::from),
            pan: msg.as_ref().and_then(|m| m.card_pan()).map(String::from),
            amount: msg.as_ref().and_then(Message::amount).map(|a| Money(a as i64)),
            response: None,
            reason: std::borrow::Cow::Borrowed(""),
            checks: Checks::default(),
            ledger: LedgerEffect::None,
            reverses: None,
            atc: None,
        };
        let Some(msg) = msg else {
            d.reason = format!(
                "unreadable frame, no response: {}",
                err.map(|e| e.to_string()).unwrap_or_default()
            )
            .into();
            return HostOutput { response: None, decision: d };
        };
        let term = d.tid.as_deref().and_then(|t| self.terminals.get(t)).cloned();
        let respond = |host: &mut Self,
                       d: &mut Decision,
                       rc: ResponseCode,
                       reason: &'static str,
                       extra: &[(u8, Vec<u8>)]| {
            d.response = Some(rc);
            if d.reason.is_empty() {
                d.reason = std::borrow::Cow::Borrowed(reason);
            }
            let resp = host.response(&msg, rc, extra, term.as_ref().map(|t| &t.1));
            HostOutput { response: resp, decision: d.clone() }
        };
        if let Some(e) = err {
            d.reason = format!("format error: {e}").into();
            return respond(self, &mut d, ResponseCode::FormatError, "", &[]);
        }
        if msg.mti() == Mti::NETWORK {
            return respond(self, &mut d, ResponseCode::Approved, "network management", &[]);
        }
        // Acquirer: which terminal, and is the message authentic?
        let Some((tidx, trec)) = term.clone() else {
            return respond(self, &mut d, ResponseCode::SecurityViolation, "unknown terminal", &[]);
        };
        d.checks.mac = match verify_mac(&self.cfg.spec, wire, &msg, &trec.tak) {
            MacCheck::Valid => Verdict::Valid,
            MacCheck::Invalid => Verdict::Invalid,
            MacCheck::Absent => Verdict::Absent,
        };
        if self.cfg.rules.verify_mac && d.checks.mac != Verdict::Valid {
            let why = if d.checks.mac == Verdict::Absent {
                "no MAC"
            } else {
                "MAC does not verify: altered in transit or wrong key"
            };
            return respond(self, &mut d, ResponseCode::SecurityViolation, why, &[]);
        }
        match msg.mti() {
            Mti::REQUEST => self.financial(now, tidx, &trec, &msg, d, respond),
            Mti::REVERSAL => self.reversal(now, tidx, &msg, d, respond),
            _ => respond(
                self,
                &mut d,
                ResponseCode::InvalidTransaction,
                "unsupported message type",
                &[],
            ),
        }
    }

    #[allow(clippy::too_many_lines)]
    fn financial(
        &mut self,
        now: SimTime,
        tidx: usize,
        trec: &TerminalRecord,
        msg: &Message,
        mut d: Decision,
        respond: impl Fn(
            &mut Self,
            &mut Decision,
            ResponseCode,
            &'static str,
            &[(u8, Vec<u8>)],
        ) -> HostOutput,
    ) -> HostOutput {
        use ResponseCode as Rc;
        let (Some(pc), Some(amount), Some(stan), Some(entry)) =
            (msg.processing_code(), msg.amount(), msg.stan(), msg.entry_mode())
        else {
            return respond(
                self,
                &mut d,
                Rc::FormatError,
                "a mandatory field is missing (3, 4, 11 or 22)",
                &[],
            );
        };
        let refund = match pc.get(..2) {
            Some("00") => false,
            Some("20") => true,
            _ => {
                return respond(
                    self,
                    &mut d,
                    Rc::InvalidTransaction,
                    "unknown processing code",
                    &[],
                );
            }
        };
        if self.cfg.issuer_down.iter().any(|&(a, b)| now >= a && now < b) {
            return respond(self, &mut d, Rc::IssuerUnavailable, "issuer unreachable", &[]);
        }
        let amount = Money(amount as i64);
        if amount.0 <= 0 || amount > self.cfg.rules.max_amount {
            return respond(
                self,
                &mut d,
                Rc::InvalidAmount,
                "amount is zero or over the limit",
                &[],
            );
        }
        let rrn = msg.rrn().unwrap_or_default();
        let mut rrn_key = [b' '; 12];
        for (k, b) in rrn_key.iter_mut().zip(rrn.bytes()) {
            *k = b;
        }
        let transmission = msg.transmission_time().and_then(|t| t.parse().ok()).unwrap_or(0u64);
        if self.tombstones.get(&txn_key(tidx, stan)).is_some_and(|t| t.0 == transmission) {
            return respond(
                self,
                &mut d,
                Rc::DoNotHonour,
                "already reversed before it arrived",
                &[],
            );
        }
        if let (Some(window), Some(prev)) =
            (self.cfg.rules.duplicate_window, self.seen.get(&txn_key(tidx, stan)))
            && prev.0 == rrn_key
            && now.since(prev.1) <= window
        {
            return respond(
                self,
                &mut d,
                Rc::Duplicate,
                "duplicate transmission (same TID, STAN and RRN)",
                &[],
            );
        }
        if self.cfg.rules.duplicate_window.is_some() {
            let k = txn_key(tidx, stan);
            self.seen.insert(k, (rrn_key, now));
            self.seen_order.push_back((now, k));
        }
        let track = msg.track2().map(Track2::parse);
        let Some(pan) = msg.card_pan().map(String::from) else {
            return respond(self, &mut d, Rc::FormatError, "no PAN or track 2", &[]);
        };
        // Card-present entry modes read track data; it must be there, parse,
        // and name the same card as field 2.
        let card_read = ["02", "05", "07", "80", "90", "91"].iter().any(|m| entry.starts_with(m));
        match &track {
            Some(Ok(t)) if t.pan != pan => {
                return respond(
                    self,
                    &mut d,
                    Rc::FormatError,
                    "PAN in field 2 differs from the one in track 2",
                    &[],
                );
            }
            Some(Ok(_)) => {}
            Some(Err(_)) => {
                return respond(self, &mut d, Rc::FormatError, "track 2 does not parse", &[]);
            }
            None if card_read => {
                return respond(
                    self,
                    &mut d,
                    Rc::FormatError,
                    "entry mode reads the card, but track 2 is missing",
                    &[],
                );
            }
            None => {}
        }
        if !luhn_valid(&pan) {
            return respond(self, &mut d, Rc::InvalidCardNumber, "PAN fails the Luhn check", &[]);
        }
        let Some(card) = self.cards.get(&pan).map(|c| c.rec) else {
            return respond(self, &mut d, Rc::InvalidCardNumber, "unknown card", &[]);
        };
        let today = self.cfg.calendar.at(now).yymm();
        let expiry = match &track {
            Some(Ok(t)) => t.expiry.clone(),
            _ => card.expiry().to_string(),
        };
        if expiry < today {
            return respond(self, &mut d, Rc::ExpiredCard, "card expired", &[]);
        }
        if card.blocked {
            return respond(self, &mut d, Rc::NotPermitted, "card blocked", &[]);
        }
        let chip_card =
            card.service_code().starts_with('2') || card.service_code().starts_with('6');
        let chip_entry = entry.starts_with("05") || entry.starts_with("07");
        if self.cfg.rules.refuse_fallback_for_chip_cards && chip_card && !chip_entry {
            return respond(
                self,
                &mut d,
                Rc::DoNotHonour,
                "magstripe read of a chip card (fallback refused)",
                &[],
            );
        }
        // CVV on magstripe reads; on chip reads the iCVV of tag 57 (some
        // terminals send the magstripe track, with its CVV, instead: the
        // cryptogram protects chip reads either way). A magstripe read that
        // carries the iCVV is a copy of chip data.
        if let Some(Ok(t2)) = &track {
            let found = t2.cvv();
            let cvv = || crypto::cvv(&self.cfg.cvk, &t2.pan, &t2.expiry, &t2.service_code).ok();
            let icvv = || crypto::icvv(&self.cfg.cvk, &t2.pan, &t2.expiry).ok();
            // Compute what is expected first; the other only when needed.
            let ok = if chip_entry {
                found == icvv().as_deref() || found == cvv().as_deref()
            } else {
                found == cvv().as_deref()
            };
            d.checks.cvv = if ok { Verdict::Valid } else { Verdict::Invalid };
            if self.cfg.rules.verify_cvv && !ok {
                let why = if chip_entry {
                    "neither iCVV nor CVV matches"
                } else if found == icvv().as_deref() {
                    "CVV is the chip's iCVV: a magstripe made from copied chip data"
                } else {
                    "CVV does not match"
                };
                return respond(self, &mut d, Rc::SecurityViolation, why, &[]);
            }
        } else {
            d.checks.cvv = Verdict::Absent;
        }
        // The chip's cryptogram.
        let mut arpc_for = None;
        if chip_entry {
            let icc = tlv::Index::new(msg.icc_data().unwrap_or_default());
            let input = ArqcInput::from_tags(|t| icc.get(t));
            let ac = icc.get(0x9F26).and_then(|v| <[u8; 8]>::try_from(v).ok());
            let (Ok(input), Some(ac)) = (input, ac) else {
                d.checks.arqc = Verdict::Absent;
                return respond(
                    self,
                    &mut d,
                    Rc::FormatError,
                    "chip transaction without a complete field 55",
                    &[],
                );
            };
            let atc = u16::from_be_bytes(input.atc);
            d.atc = Some(atc);
            let mk = self.card_key(&pan);
            let valid = mk.as_ref().is_some_and(|k| crypto::verify_arqc_cvn10(k, &input, &ac));
            d.checks.arqc = if valid { Verdict::Valid } else { Verdict::Invalid };
            if self.cfg.rules.verify_arqc {
                if !valid {
                    return respond(
                        self,
                        &mut d,
                        Rc::SecurityViolation,
                        "ARQC does not verify",
                        &[],
                    );
                }
                let amount_bcd = format!("{:012}", amount.minor());
                if hex::encode(input.amount) != amount_bcd {
                    return respond(
                        self,
                        &mut d,
                        Rc::SecurityViolation,
                        "amount differs from the one the card signed (9F02)",
                        &[],
                    );
                }
            }
            if self.cfg.rules.atc_replay && card.atc_high.is_some_and(|h| atc <= h) {
                return respond(
                    self,
                    &mut d,
                    Rc::SuspectedFraud,
                    "ATC not above the highest seen: replay or clone",
                    &[],
                );
            }
            if valid && let Some(c) = self.cards.get_mut(&pan) {
                c.rec.atc_high = Some(c.rec.atc_high.map_or(atc, |h| h.max(atc)));
            }
            arpc_for = mk.map(|k| (k, ac));
        }
        let with_arpc = |rc: ResponseCode| -> Vec<(u8, Vec<u8>)> {
            arpc_for.as_ref().map_or_else(Vec::new, |(k, ac)| {
                let arc = rc.arc();
                let mut iad = crypto::arpc_method1(k, *ac, arc).to_vec();
                iad.extend_from_slice(&arc);
                let mut f55 = Vec::with_capacity(12);
                tlv::write(&mut f55, 0x91, &iad);
                vec![(55, f55)]
            })
        };
        // Online PIN.
        if let Some(block) = msg.pin_block() {
            if card.pin_fails >= self.cfg.pin_try_limit {
                d.checks.pin = Verdict::Skipped;
                return respond(
                    self,
                    &mut d,
                    Rc::PinTriesExceeded,
                    "PIN tries exceeded",
                    &with_arpc(Rc::PinTriesExceeded),
                );
            }
            let ok = crypto::decode_pin_block_iso0(&trec.tpk, block, &pan)
                .ok()
                .and_then(|pin| crypto::pvv(&self.cfg.pvk, &pan, card.pvki(), &pin).ok())
                .is_some_and(|pvv| pvv == card.pvv());
            d.checks.pin = if ok { Verdict::Valid } else { Verdict::Invalid };
            if self.cfg.rules.verify_pin {
                let c = self.cards.get_mut(&pan);
                if ok {
                    if let Some(c) = c {
                        c.rec.pin_fails = 0;
                    }
                } else {
                    let fails = c.map(|c| {
                        c.rec.pin_fails += 1;
                        c.rec.pin_fails
                    });
                    let rc = if fails.unwrap_or(0) >= self.cfg.pin_try_limit {
                        Rc::PinTriesExceeded
                    } else {
                        Rc::IncorrectPin
                    };
                    return respond(self, &mut d, rc, "PIN does not match the PVV", &with_arpc(rc));
                }
            }
        } else {
            d.checks.pin = Verdict::Absent;
        }
        // Funds, then the ledger.
        if !refund && self.ledger.available(card.account as usize) < amount {
            return respond(
                self,
                &mut d,
                Rc::InsufficientFunds,
                "insufficient funds",
                &with_arpc(Rc::InsufficientFunds),
            );
        }
        self.ledger.post(tidx, card.account as usize, amount, refund);
        d.ledger = if refund { LedgerEffect::Credit } else { LedgerEffect::Debit };
        let k = txn_key(tidx, stan);
        self.txns.insert(
            k,
            TxnRecord {
                amount,
                account: card.account,
                refund,
                reversed: false,
                transmission,
                at: now,
            },
        );
        self.txn_order.push_back((now, k));
        self.auth_seq = self.auth_seq % 999_999 + 1;
        let mut extra = with_arpc(Rc::Approved);
        extra.push((38, format!("{:06}", self.auth_seq).into_bytes()));
        respond(self, &mut d, Rc::Approved, "approved", &extra)
    }

    fn reversal(
        &mut self,
        now: SimTime,
        tidx: usize,
        msg: &Message,
        mut d: Decision,
        respond: impl Fn(
            &mut Self,
            &mut Decision,
            ResponseCode,
            &'static str,
            &[(u8, Vec<u8>)],
        ) -> HostOutput,
    ) -> HostOutput {
        let Some(od) = msg.original_data() else {
            return respond(
                self,
                &mut d,
                ResponseCode::FormatError,
                "reversal without valid field 90",
                &[],
            );
        };
        d.reverses = Some(od.stan);
        let transmission = od.transmission_time.parse().unwrap_or(0u64);
        let key = txn_key(tidx, od.stan);
        match self.txns.get_mut(&key) {
            Some(t) if t.transmission == transmission && !t.reversed => {
                t.reversed = true;
                let t = *t;
                self.ledger.release(tidx, t.account as usize, t.amount, t.refund);
                d.ledger = LedgerEffect::Release;
                respond(self, &mut d, ResponseCode::Approved, "reversed", &[])
            }
            Some(t) if t.transmission == transmission => respond(
                self,
                &mut d,
                ResponseCode::Approved,
                "already reversed: nothing released again",
                &[],
            ),
            _ => {
                self.tombstones.insert(key, (transmission, now));
                self.tomb_order.push_back((now, key));
                respond(
                    self,
                    &mut d,
                    ResponseCode::Approved,
                    "original not approved here: remembered so it cannot post later",
                    &[],
                )
            }
        }
    }

    /// The ICC master key of a card, derived once and cached.
    fn card_key(&mut self, pan: &str) -> Option<TdesKey> {
        let imk = &self.cfg.imk_ac;
        let c = self.cards.get_mut(pan)?;
        if c.mk.is_none() {
            c.mk = crypto::derive_icc_master_key(imk, pan, c.rec.psn()).ok();
        }
        c.mk.clone()
    }

    fn response(
        &self,
        req: &Message,
        rc: ResponseCode,
        extra: &[(u8, Vec<u8>)],
        term: Option<&TerminalRecord>,
    ) -> Option<Vec<u8>> {
        let mti = req.mti().response();
        let mut m = Message::with_capacity(mti, 160);
        let echo: &[u8] = match req.mti() {
            Mti::NETWORK => &[7, 11, 41, 70],
            Mti::REVERSAL => &[3, 4, 7, 11, 37, 41, 42, 49],
            _ => &[3, 4, 7, 11, 12, 13, 37, 41, 42, 49],
        };
        for &n in echo {
            if let Some(v) = req.get(n) {
                m.set(n, v);
            }
        }
        m.set_response_code(rc);
        for (n, v) in extra {
            m.set(*n, v);
        }
        match (req.mti(), term) {
            (Mti::NETWORK, _) | (_, None) => self.cfg.spec.encode(&m).ok(),
            (_, Some(t)) => encode_with_mac(&self.cfg.spec, &mut m, &t.tak).ok(),
        }
    }
}
