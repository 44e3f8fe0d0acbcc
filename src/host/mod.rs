//! The acquirer and issuer host (sans-IO).
//!
//! [`HostCore::handle`] takes one message as received and "now", and returns
//! the response bytes (if any) and a [`Decision`] saying what was checked and
//! why it answered as it did. The checks run in a fixed order (MAC, format,
//! duplicates, card, expiry, fallback, CVV/iCVV, ARQC and ATC, PIN/PVV,
//! funds) and the ledger moves only when every check passed, so a malformed
//! or altered frame never changes it. Reversals are idempotent.

mod check;
mod financial;
mod ledger;

pub use check::{Check, Rules};

use std::collections::VecDeque;

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

pub use ledger::{Ledger, Totals};

use crate::money::Money;
use crate::protocol::crypto::{self, TdesKey};
use crate::protocol::iso8583::{MacCheck, Message, Mti, Spec, encode_with_mac, verify_mac};
use crate::protocol::response::ResponseCode;
use crate::time::{Calendar, Duration, SimTime};
use crate::window::Window;

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
    /// How long approvals stay reversible, and reversals that overtook
    /// their original are remembered: at least as long as any terminal
    /// keeps retrying a reversal and any frame can be held on a link.
    pub reversal_keep: Duration,
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
    /// The serial number of the device on the inventory for this terminal id.
    pub serial: String,
}

/// A terminal's last unpredictable number, the request that carried it, and
/// whether it was a small step above the one before.
#[derive(Debug, Clone, Copy)]
struct LastUn {
    un: u32,
    stan: u32,
    step: bool,
}

/// The result of one check, for the decision record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checks {
    /// Message MAC.
    pub mac: Verdict,
    /// Application cryptogram.
    pub arqc: Verdict,
    /// Online PIN.
    pub pin: Verdict,
    /// CVV or iCVV.
    pub cvv: Verdict,
    /// The terminal's CVM results against the card's CVR.
    pub cvm: Verdict,
    /// The application's brand (AID) against the card number's (BIN).
    pub brand: Verdict,
    /// The terminal's unpredictable number against its last one.
    pub un: Verdict,
    /// A refund against the card's purchases here (watched even when the
    /// refund rule is off, so the monitor can alert).
    pub sale: Verdict,
    /// The signing-on device's serial against the inventory (watched even
    /// when the inventory rule is off).
    pub device: Verdict,
}

impl Default for Checks {
    fn default() -> Self {
        Self {
            mac: Verdict::Skipped,
            arqc: Verdict::Skipped,
            pin: Verdict::Skipped,
            cvv: Verdict::Skipped,
            cvm: Verdict::Skipped,
            brand: Verdict::Skipped,
            un: Verdict::Skipped,
            sale: Verdict::Skipped,
            device: Verdict::Skipped,
        }
    }
}

/// What the ledger did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// A card number as the card table keys it: its length and digits packed
/// into one integer, compared in place. Keyed by `String`, every look-up
/// followed a pointer to the number's own allocation, a memory access that
/// among 100,000 cards is often a cache miss (BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct PanKey(u128);

impl PanKey {
    /// The key of a PAN of 1 to 19 digits; anything else names no card.
    pub(super) fn of(pan: &str) -> Option<Self> {
        if pan.is_empty() || pan.len() > 19 {
            return None;
        }
        let mut digits = 0u128;
        for b in pan.bytes() {
            if !b.is_ascii_digit() {
                return None;
            }
            digits = (digits << 4) | u128::from(b - b'0');
        }
        Some(Self(((pan.len() as u128) << 120) | digits))
    }
}

/// A (terminal, STAN) pair as one number.
fn txn_key(tidx: usize, stan: u32) -> u64 {
    ((tidx as u64) << 32) | u64::from(stan)
}

/// Values by (terminal, STAN) key ([`txn_key`]): one window per terminal,
/// since each terminal numbers its messages in order (see
/// [`crate::window`]). A look-up of the next STAN lands beside the last one
/// instead of anywhere in a table of a day's requests.
#[derive(Debug, Clone)]
struct ByStan<V>(Vec<Window<V>>);

impl<V> Default for ByStan<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> ByStan<V> {
    /// The terminal index and the STAN of a key.
    fn split(key: u64) -> (usize, u64) {
        ((key >> 32) as usize, key & 0xffff_ffff)
    }

    /// The value kept for `key`.
    fn get(&self, key: u64) -> Option<&V> {
        let (t, stan) = Self::split(key);
        self.0.get(t)?.get(stan)
    }

    /// The value kept for `key`, to change.
    fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        let (t, stan) = Self::split(key);
        self.0.get_mut(t)?.get_mut(stan)
    }

    /// `key`'s terminal index is one the host gave out, so the table grows
    /// to the number of terminals at most.
    fn insert(&mut self, key: u64, value: V) {
        let (t, stan) = Self::split(key);
        if t >= self.0.len() {
            self.0.resize_with(t + 1, Window::default);
        }
        if let Some(w) = self.0.get_mut(t) {
            w.insert(stan, value);
        }
    }

    /// Forgets `key`, returning its value.
    fn remove(&mut self, key: u64) -> Option<V> {
        let (t, stan) = Self::split(key);
        self.0.get_mut(t)?.remove(stan)
    }
}

/// The acquirer/issuer host.
#[derive(Debug, Clone)]
pub struct HostCore {
    cfg: HostConfig,
    cards: HashMap<PanKey, CardEntry>,
    /// Shared, so that a request takes its terminal's record without
    /// copying its keys and strings.
    terminals: HashMap<String, (usize, Arc<TerminalRecord>)>,
    /// Approved transactions, for reversals (kept `reversal_keep`).
    txns: ByStan<TxnRecord>,
    /// Every request seen (RRN, when), for duplicate detection.
    seen: ByStan<([u8; 12], SimTime)>,
    /// Insertion order of `txns`, `seen` and `tombstones`, for expiry.
    txn_order: VecDeque<(SimTime, u64)>,
    seen_order: VecDeque<(SimTime, u64)>,
    /// Reversals whose original had not arrived (so it cannot post later).
    tombstones: ByStan<(u64, SimTime)>,
    tomb_order: VecDeque<(SimTime, u64)>,
    ledger: Ledger,
    auth_seq: u32,
    /// Net purchases per card account at this acquirer (for refunds).
    sales: HashMap<(u32, u32), Money>,
    /// Each terminal's merchant (by terminal index), as an index into `merchants`.
    merchant_of: Vec<u32>,
    /// The merchant ids seen, in the order their first terminal was added.
    merchants: Vec<String>,
    /// Recent approvals per card account (for the velocity limit).
    uses: HashMap<u32, VecDeque<SimTime>>,
    /// The last unpredictable number (9F37) each terminal sent.
    last_un: HashMap<usize, LastUn>,
}

impl HostCore {
    /// Posts to the ledger and keeps the account's net purchases at the
    /// merchant (a purchase adds, a refund takes away, a reversal undoes
    /// either), both or neither: `OutOfRange` if either figure would leave
    /// the range money is kept in, and then nothing changes.
    fn post(
        &mut self,
        tidx: usize,
        account: u32,
        amount: Money,
        refund: bool,
        reversed: bool,
    ) -> Result<(), crate::money::OutOfRange> {
        let key = (self.merchant(tidx), account);
        let before = self.sales.get(&key).copied().unwrap_or_default();
        let sales = if refund == reversed {
            before.checked_add(amount)?
        } else {
            before.checked_sub(amount)?
        };
        if reversed {
            self.ledger.release(tidx, account as usize, amount, refund)?;
        } else {
            self.ledger.post(tidx, account as usize, amount, refund)?;
        }
        self.sales.insert(key, sales);
        Ok(())
    }

    /// A host with its configuration and no cards yet.
    pub fn new(cfg: HostConfig) -> Self {
        Self {
            cfg,
            cards: HashMap::default(),
            terminals: HashMap::default(),
            txns: ByStan::default(),
            seen: ByStan::default(),
            txn_order: VecDeque::new(),
            seen_order: VecDeque::new(),
            tombstones: ByStan::default(),
            tomb_order: VecDeque::new(),
            sales: HashMap::default(),
            merchant_of: Vec::new(),
            merchants: Vec::new(),
            uses: HashMap::default(),
            last_un: HashMap::default(),
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

    /// Makes room for `n` more cards and their accounts, so that filing a
    /// large population does not rehash the files a doubling at a time.
    pub fn reserve_cards(&mut self, n: usize) {
        self.cards.reserve(n);
        self.ledger.reserve_accounts(n);
    }

    /// Puts a card on file. A PAN that is not 1 to 19 digits can name no
    /// card a request carries, and is not filed.
    pub fn add_card(&mut self, pan: &str, card: CardRecord) {
        if let Some(key) = PanKey::of(pan) {
            self.cards.insert(key, CardEntry { rec: card, mk: None });
        }
    }

    /// Registers a terminal and its keys.
    pub fn add_terminal(&mut self, tid: &str, rec: TerminalRecord) {
        let idx = self.terminals.len();
        let m = match self.merchants.iter().position(|m| *m == rec.mid) {
            Some(m) => m,
            None => {
                self.merchants.push(rec.mid.clone());
                self.merchants.len() - 1
            }
        };
        self.merchant_of.push(m as u32);
        self.terminals.insert(tid.trim_end().to_string(), (idx, Arc::new(rec)));
    }

    /// The merchant a terminal (by index) trades for, as an index.
    fn merchant(&self, tidx: usize) -> u32 {
        self.merchant_of.get(tidx).copied().unwrap_or(u32::MAX)
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// A card on file.
    pub fn card(&self, pan: &str) -> Option<&CardRecord> {
        self.cards.get(&PanKey::of(pan)?).map(|c| &c.rec)
    }

    /// A card on file, to update.
    fn card_entry_mut(&mut self, pan: &str) -> Option<&mut CardEntry> {
        self.cards.get_mut(&PanKey::of(pan)?)
    }

    /// Switches a defence on or off by its check name ("mac", "arqc");
    /// false if there is no such defence.
    pub fn set_check(&mut self, name: &str, on: bool) -> bool {
        Check::from_name(name).is_some_and(|c| self.cfg.rules.set(c, on))
    }

    /// Blocks a card (57 from now on).
    pub fn block_card(&mut self, pan: &str) {
        if let Some(c) = self.card_entry_mut(pan) {
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
            map: &mut ByStan<V>,
            keep: Duration,
            now: SimTime,
            at_of: impl Fn(&V) -> SimTime,
        ) {
            while let Some(&(at, key)) = order.front() {
                if now.since(at) <= keep {
                    break;
                }
                order.pop_front();
                if map.get(key).is_some_and(|v| at_of(v) == at) {
                    map.remove(key);
                }
            }
        }
        let window = self.cfg.rules.duplicate_window;
        drain(&mut self.seen_order, &mut self.seen, window, now, |v| v.1);
        let keep = self.cfg.reversal_keep;
        drain(&mut self.txn_order, &mut self.txns, keep, now, |v| v.at);
        drain(&mut self.tomb_order, &mut self.tombstones, keep, now, |v| v.1);
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
                       mut d: Decision,
                       rc: ResponseCode,
                       reason: &'static str,
                       extra: &[(u8, Vec<u8>)]| {
            d.response = Some(rc);
            if d.reason.is_empty() {
                d.reason = std::borrow::Cow::Borrowed(reason);
            }
            let resp = host.response(&msg, rc, extra, term.as_ref().map(|t| &*t.1));
            HostOutput { response: resp, decision: d }
        };
        if let Some(e) = err {
            d.reason = format!("format error: {e}").into();
            return respond(self, d, ResponseCode::FormatError, "", &[]);
        }
        if msg.mti() == Mti::NETWORK {
            // A device signing on under a terminal id gives its serial (62):
            // one the inventory does not list for that id is someone else's.
            // Only a sign-on (70 = 001) brings a device: an echo does not.
            if let Some((_, trec)) = term.as_ref().filter(|_| msg.get_str(70) == Some("001")) {
                let known = msg.get_str(62).is_some_and(|s| s.trim() == trec.serial.trim());
                d.checks.device = if known { Verdict::Valid } else { Verdict::Invalid };
                if !known && self.cfg.rules.is_on(Check::Inventory) {
                    return respond(
                        self,
                        d,
                        ResponseCode::TerminalNotPermitted,
                        "sign-on refused: the device's serial is not the one on the inventory for this terminal",
                        &[],
                    );
                }
            }
            return respond(self, d, ResponseCode::Approved, "network management", &[]);
        }
        // Acquirer: which terminal, and is the message authentic?
        let Some((tidx, trec)) = term.clone() else {
            return respond(self, d, ResponseCode::SecurityViolation, "unknown terminal", &[]);
        };
        d.checks.mac = match verify_mac(&self.cfg.spec, wire, &msg, &trec.tak) {
            MacCheck::Valid => Verdict::Valid,
            MacCheck::Invalid => Verdict::Invalid,
            MacCheck::Absent => Verdict::Absent,
        };
        if self.cfg.rules.is_on(Check::Mac) && d.checks.mac != Verdict::Valid {
            let why = if d.checks.mac == Verdict::Absent {
                "no MAC"
            } else {
                "MAC does not verify: altered in transit or wrong key"
            };
            return respond(self, d, ResponseCode::SecurityViolation, why, &[]);
        }
        match msg.mti() {
            // An advice is a purchase the terminal approved offline: it is
            // cleared (posted) only if it passes the same checks, its TC
            // verified as an ARQC would be; otherwise the issuer refuses to
            // pay for it and the merchant is left with the loss.
            Mti::REQUEST | Mti::ADVICE => {
                let (rc, extra, why) = self.financial(now, tidx, &trec, &msg, &mut d);
                d.reason = why;
                respond(self, d, rc, "", &extra)
            }
            Mti::REVERSAL => self.reversal(now, tidx, &msg, d, respond),
            _ => {
                respond(self, d, ResponseCode::InvalidTransaction, "unsupported message type", &[])
            }
        }
    }

    fn reversal(
        &mut self,
        now: SimTime,
        tidx: usize,
        msg: &Message,
        mut d: Decision,
        respond: impl Fn(
            &mut Self,
            Decision,
            ResponseCode,
            &'static str,
            &[(u8, Vec<u8>)],
        ) -> HostOutput,
    ) -> HostOutput {
        let Some(od) = msg.original_data() else {
            return respond(
                self,
                d,
                ResponseCode::FormatError,
                "reversal without valid field 90",
                &[],
            );
        };
        d.reverses = Some(od.stan);
        let transmission = od.transmission_time.parse().unwrap_or(0u64);
        let key = txn_key(tidx, od.stan);
        match self.txns.get_mut(key) {
            Some(t) if t.transmission == transmission && !t.reversed => {
                let t = *t;
                if self.post(tidx, t.account, t.amount, t.refund, true).is_err() {
                    // Not released, so not marked reversed: the terminal
                    // tries again, and the books stay right meanwhile.
                    return respond(
                        self,
                        d,
                        ResponseCode::SystemMalfunction,
                        "release refused: the account or the merchant's totals would leave the range money is kept in",
                        &[],
                    );
                }
                if let Some(t) = self.txns.get_mut(key) {
                    t.reversed = true;
                }
                d.ledger = LedgerEffect::Release;
                respond(self, d, ResponseCode::Approved, "reversed", &[])
            }
            Some(t) if t.transmission == transmission => respond(
                self,
                d,
                ResponseCode::Approved,
                "already reversed: nothing released again",
                &[],
            ),
            _ => {
                self.tombstones.insert(key, (transmission, now));
                self.tomb_order.push_back((now, key));
                respond(
                    self,
                    d,
                    ResponseCode::Approved,
                    "original not approved here: remembered so it cannot post later",
                    &[],
                )
            }
        }
    }

    /// The ICC master key of a card, derived once and cached.
    fn card_key(&mut self, pan: &str) -> Option<TdesKey> {
        // Fields, not `card_entry_mut`: the key is borrowed beside the table.
        let imk = &self.cfg.imk_ac;
        let c = self.cards.get_mut(&PanKey::of(pan)?)?;
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

#[cfg(test)]
mod tests {
    use super::{ByStan, PanKey, txn_key};

    #[test]
    fn requests_by_stan_keep_terminals_apart_and_survive_a_wrap() {
        let mut t = ByStan::default();
        // Two terminals with the same STANs, one of them wrapping.
        for stan in 999_990..=999_999 {
            t.insert(txn_key(0, stan), (0, stan));
            t.insert(txn_key(3, stan), (3, stan));
        }
        for stan in 1..=10 {
            t.insert(txn_key(0, stan), (0, stan));
        }
        assert_eq!(t.get(txn_key(0, 999_995)), Some(&(0, 999_995)));
        assert_eq!(t.get(txn_key(3, 999_995)), Some(&(3, 999_995)));
        assert_eq!(t.get(txn_key(0, 5)), Some(&(0, 5)));
        assert_eq!(t.get(txn_key(3, 5)), None);
        assert_eq!(t.get(txn_key(7, 5)), None, "a terminal never seen");
        if let Some(v) = t.get_mut(txn_key(0, 5)) {
            v.1 = 55;
        }
        assert_eq!(t.remove(txn_key(0, 5)), Some((0, 55)));
        assert_eq!(t.get(txn_key(0, 5)), None);
        assert_eq!(t.remove(txn_key(0, 999_990)), Some((0, 999_990)));
        assert_eq!(t.get(txn_key(0, 999_991)), Some(&(0, 999_991)));
    }

    #[test]
    fn a_pan_key_tells_every_card_number_apart() {
        let key = |p: &str| PanKey::of(p);
        assert_eq!(key("4111111111111111"), key("4111111111111111"));
        assert_ne!(key("4111111111111111"), key("4111111111111112"));
        // Leading zeros and length count: these are different numbers.
        assert_ne!(key("0123"), key("123"));
        assert_ne!(key("1"), key("01"));
        assert_ne!(key("1234567890123456789"), key("234567890123456789"));
        assert!(key("9999999999999999999").is_some());
        // Nothing else can name a card.
        for bad in ["", "12345678901234567890", "4111 1111", "411111111111111x", "٣"] {
            assert_eq!(key(bad), None, "{bad:?}");
        }
    }
}
