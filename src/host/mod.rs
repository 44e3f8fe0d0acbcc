//! The acquirer and issuer host (sans-IO).
//!
//! [`HostCore::handle`] takes one message as received and "now", and returns
//! the response bytes (if any) and a [`Decision`] saying what was checked and
//! why it answered as it did. The checks run in a fixed order (MAC, format,
//! duplicates, card, expiry, fallback, CVV/iCVV, ARQC and ATC, PIN/PVV,
//! funds) and the ledger moves only when every check passed, so a malformed
//! or altered frame never changes it. Reversals are idempotent.

mod ledger;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

pub use ledger::{Ledger, Totals};

use crate::money::Money;
use crate::protocol::crypto::{self, ArqcInput, TdesKey};
use crate::protocol::iso8583::{
    MacCheck, Message, Mti, OriginalData, Spec, encode_with_mac, verify_mac,
};
use crate::protocol::pan::mask_pan;
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

/// What the issuer knows about a card.
#[derive(Clone)]
pub struct CardRecord {
    /// PAN.
    pub pan: String,
    /// PAN sequence number.
    pub psn: String,
    /// Expiry YYMM.
    pub expiry: String,
    /// Service code.
    pub service_code: String,
    /// PVV on file.
    pub pvv: String,
    /// PVKI on file.
    pub pvki: String,
    /// The account it draws on.
    pub account: usize,
    /// Highest ATC seen in a valid cryptogram.
    pub atc_high: Option<u16>,
    /// Wrong online PINs in a row.
    pub pin_fails: u8,
    /// Blocked for fraud (57).
    pub blocked: bool,
    mk: Option<TdesKey>,
}

impl std::fmt::Debug for CardRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CardRecord({})", mask_pan(&self.pan))
    }
}

impl CardRecord {
    /// A card on file.
    pub fn new(
        pan: &str,
        psn: &str,
        expiry: &str,
        service_code: &str,
        pvki: &str,
        pvv: &str,
        account: usize,
    ) -> Self {
        Self {
            pan: pan.into(),
            psn: psn.into(),
            expiry: expiry.into(),
            service_code: service_code.into(),
            pvv: pvv.into(),
            pvki: pvki.into(),
            account,
            atc_high: None,
            pin_fails: 0,
            blocked: false,
            mk: None,
        }
    }
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
    pub reason: String,
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
    rrn: [u8; 12],
    amount: Money,
    account: usize,
    refund: bool,
    approved: bool,
    reversed: bool,
    transmission: u64,
    at: SimTime,
}

/// The acquirer/issuer host.
#[derive(Debug, Clone)]
pub struct HostCore {
    cfg: HostConfig,
    cards: HashMap<String, CardRecord>,
    terminals: HashMap<String, (usize, TerminalRecord)>,
    txns: HashMap<(usize, u32), TxnRecord>,
    expiry: VecDeque<(SimTime, (usize, u32))>,
    tombstones: HashMap<(usize, u32), u64>,
    ledger: Ledger,
    auth_seq: u32,
}

/// Keeps transaction records this long at least (for reversals).
const RECORD_KEEP: Duration = Duration::from_secs(2 * 86_400);

impl HostCore {
    /// A host with its configuration and no cards yet.
    pub fn new(cfg: HostConfig) -> Self {
        Self {
            cfg,
            cards: HashMap::new(),
            terminals: HashMap::new(),
            txns: HashMap::new(),
            expiry: VecDeque::new(),
            tombstones: HashMap::new(),
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
    pub fn add_card(&mut self, card: CardRecord) {
        self.cards.insert(card.pan.clone(), card);
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
        self.cards.get(pan)
    }

    /// Blocks a card (57 from now on).
    pub fn block_card(&mut self, pan: &str) {
        if let Some(c) = self.cards.get_mut(pan) {
            c.blocked = true;
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
        let keep = self.cfg.rules.duplicate_window.unwrap_or(Duration::ZERO).max(RECORD_KEEP);
        while let Some(&(at, key)) = self.expiry.front() {
            if now.since(at) <= keep {
                break;
            }
            self.expiry.pop_front();
            if self.txns.get(&key).is_some_and(|t| t.at == at) {
                self.txns.remove(&key);
            }
        }
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
            reason: String::new(),
            checks: Checks::default(),
            ledger: LedgerEffect::None,
            reverses: None,
            atc: None,
        };
        let Some(msg) = msg else {
            d.reason = format!(
                "unreadable frame, no response: {}",
                err.map(|e| e.to_string()).unwrap_or_default()
            );
            return HostOutput { response: None, decision: d };
        };
        let term = d.tid.as_deref().and_then(|t| self.terminals.get(t)).cloned();
        let respond = |host: &mut Self,
                       d: &mut Decision,
                       rc: ResponseCode,
                       reason: &str,
                       extra: &[(u8, Vec<u8>)]| {
            d.response = Some(rc);
            if d.reason.is_empty() {
                d.reason = reason.to_string();
            }
            let resp = host.response(&msg, rc, extra, term.as_ref().map(|t| &t.1));
            HostOutput { response: resp, decision: d.clone() }
        };
        if let Some(e) = err {
            d.reason = format!("format error: {e}");
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
            Mti::REVERSAL => self.reversal(tidx, &msg, d, respond),
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
        respond: impl Fn(&mut Self, &mut Decision, ResponseCode, &str, &[(u8, Vec<u8>)]) -> HostOutput,
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
        if self.tombstones.get(&(tidx, stan)) == Some(&transmission) {
            return respond(
                self,
                &mut d,
                Rc::DoNotHonour,
                "already reversed before it arrived",
                &[],
            );
        }
        if let (Some(window), Some(prev)) =
            (self.cfg.rules.duplicate_window, self.txns.get(&(tidx, stan)))
            && prev.rrn == rrn_key
            && now.since(prev.at) <= window
        {
            return respond(
                self,
                &mut d,
                Rc::Duplicate,
                "duplicate transmission (same TID, STAN and RRN)",
                &[],
            );
        }
        let track = msg.track2().map(Track2::parse);
        let Some(pan) = msg.card_pan().map(String::from) else {
            return respond(self, &mut d, Rc::FormatError, "no PAN or track 2", &[]);
        };
        if !luhn_valid(&pan) {
            return respond(self, &mut d, Rc::InvalidCardNumber, "PAN fails the Luhn check", &[]);
        }
        let Some(card) = self.cards.get(&pan).cloned() else {
            return respond(self, &mut d, Rc::InvalidCardNumber, "unknown card", &[]);
        };
        let today = self.cfg.calendar.at(now).yymm();
        let expiry = match &track {
            Some(Ok(t)) => t.expiry.clone(),
            _ => card.expiry.clone(),
        };
        if expiry < today {
            return respond(self, &mut d, Rc::ExpiredCard, "card expired", &[]);
        }
        if card.blocked {
            return respond(self, &mut d, Rc::NotPermitted, "card blocked", &[]);
        }
        let chip_card = card.service_code.starts_with('2') || card.service_code.starts_with('6');
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
            let cvv = crypto::cvv(&self.cfg.cvk, &t2.pan, &t2.expiry, &t2.service_code).ok();
            let icvv = crypto::icvv(&self.cfg.cvk, &t2.pan, &t2.expiry).ok();
            let found = t2.cvv();
            let ok = if chip_entry {
                found == cvv.as_deref() || found == icvv.as_deref()
            } else {
                found == cvv.as_deref()
            };
            d.checks.cvv = if ok { Verdict::Valid } else { Verdict::Invalid };
            if self.cfg.rules.verify_cvv && !ok {
                let why = if chip_entry {
                    "neither iCVV nor CVV matches"
                } else if found == icvv.as_deref() {
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
            let icc = msg.icc_data().unwrap_or_default();
            let input = ArqcInput::from_tags(|t| tlv::find(icc, t));
            let ac = tlv::find(icc, 0x9F26).and_then(|v| <[u8; 8]>::try_from(v).ok());
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
                c.atc_high = Some(c.atc_high.map_or(atc, |h| h.max(atc)));
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
                .and_then(|pin| crypto::pvv(&self.cfg.pvk, &pan, &card.pvki, &pin).ok())
                .is_some_and(|pvv| pvv == card.pvv);
            d.checks.pin = if ok { Verdict::Valid } else { Verdict::Invalid };
            if self.cfg.rules.verify_pin {
                let c = self.cards.get_mut(&pan);
                if ok {
                    if let Some(c) = c {
                        c.pin_fails = 0;
                    }
                } else {
                    let fails = c.map(|c| {
                        c.pin_fails += 1;
                        c.pin_fails
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
        if !refund && self.ledger.available(card.account) < amount {
            return respond(
                self,
                &mut d,
                Rc::InsufficientFunds,
                "insufficient funds",
                &with_arpc(Rc::InsufficientFunds),
            );
        }
        self.ledger.post(tidx, card.account, amount, refund);
        d.ledger = if refund { LedgerEffect::Credit } else { LedgerEffect::Debit };
        self.txns.insert(
            (tidx, stan),
            TxnRecord {
                rrn: rrn_key,
                amount,
                account: card.account,
                refund,
                approved: true,
                reversed: false,
                transmission,
                at: now,
            },
        );
        self.expiry.push_back((now, (tidx, stan)));
        self.auth_seq = self.auth_seq % 999_999 + 1;
        let mut extra = with_arpc(Rc::Approved);
        extra.push((38, format!("{:06}", self.auth_seq).into_bytes()));
        let _ = &trec.mid;
        respond(self, &mut d, Rc::Approved, "approved", &extra)
    }

    fn reversal(
        &mut self,
        tidx: usize,
        msg: &Message,
        mut d: Decision,
        respond: impl Fn(&mut Self, &mut Decision, ResponseCode, &str, &[(u8, Vec<u8>)]) -> HostOutput,
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
        match self.txns.get_mut(&(tidx, od.stan)) {
            Some(t) if t.transmission == transmission && t.approved && !t.reversed => {
                t.reversed = true;
                let t = *t;
                self.ledger.release(tidx, t.account, t.amount, t.refund);
                d.ledger = LedgerEffect::Release;
                respond(self, &mut d, ResponseCode::Approved, "reversed", &[])
            }
            Some(t) if t.transmission == transmission => respond(
                self,
                &mut d,
                ResponseCode::Approved,
                "already reversed (or never approved): nothing released",
                &[],
            ),
            _ => {
                let _ = OriginalData::parse;
                self.tombstones.insert((tidx, od.stan), transmission);
                respond(
                    self,
                    &mut d,
                    ResponseCode::Approved,
                    "original not found: remembered so it cannot post later",
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
            c.mk = crypto::derive_icc_master_key(imk, &c.pan, &c.psn).ok();
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
