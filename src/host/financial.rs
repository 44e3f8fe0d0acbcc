//! The decision on a financial request (0200) as a pipeline of named checks.
//! Each check reads the request, may add to what later checks need, records
//! its verdict, and passes or refuses with a response code. A defence that
//! is switched off still runs (so the journal shows what it would have
//! said) but its refusal is ignored and it changes no state. The ledger
//! moves only after every check passed.

use std::borrow::Cow;

use super::check::Check;
use super::{CardRecord, Decision, HostCore, TerminalRecord, TxnRecord, Verdict, txn_key};
use crate::money::Money;
use crate::protocol::crypto::{self, ArqcInput, TdesKey};
use crate::protocol::iso8583::Message;
use crate::protocol::response::ResponseCode as Rc;
use crate::protocol::tlv;
use crate::protocol::track::{Track2, luhn_valid};
use crate::time::SimTime;

/// What one check says.
pub(super) enum Step {
    /// On to the next check.
    Pass,
    /// Refused with this code, for this reason.
    Refuse(Rc, Cow<'static, str>),
}

fn refuse(rc: Rc, why: &'static str) -> Step {
    Step::Refuse(rc, Cow::Borrowed(why))
}

/// A request under decision, and what the checks found out so far.
pub(super) struct Request<'m> {
    pub now: SimTime,
    pub msg: &'m Message,
    pub tidx: usize,
    pub trec: &'m TerminalRecord,
    pub refund: bool,
    pub amount: Money,
    pub stan: u32,
    pub entry: &'m str,
    pub transmission: u64,
    pub track: Option<Result<Track2, crate::protocol::track::TrackError>>,
    pub pan: String,
    pub card: Option<CardRecord>,
    pub chip_entry: bool,
    /// The card key and ARQC an ARPC answers, once the ARQC is checked.
    pub arpc_for: Option<(TdesKey, [u8; 8])>,
    /// Field 55 indexed once, for the checks that read it (chip entries).
    pub icc: Option<tlv::Index<'m>>,
}

/// A response code, the extra fields to send with it, and the reason.
pub(super) type Answer = (Rc, Vec<(u8, Vec<u8>)>, Cow<'static, str>);

type CheckFn = fn(&mut HostCore, &mut Request<'_>, &mut Decision, bool) -> Step;

/// The financial checks in the order they run (format and MAC ran before).
pub(super) const PIPELINE: [(Check, CheckFn); 19] = [
    (Check::MandatoryFields, mandatory_fields),
    // A transmission is decided once: the duplicate check comes before any
    // verdict that depends on the moment (issuer down) or on limits, so a
    // second copy of a request answered 91 cannot be approved later.
    (Check::Duplicates, duplicates),
    (Check::IssuerReachable, issuer_reachable),
    (Check::Amount, amount),
    (Check::Card, card),
    (Check::Expiry, expiry),
    (Check::Blocked, blocked),
    (Check::Fallback, fallback),
    (Check::Cvv, cvv),
    (Check::Arqc, arqc),
    (Check::Atc, atc),
    (Check::AidBrand, aid_brand),
    (Check::UnFreshness, un_freshness),
    (Check::CvmResults, cvm_results),
    (Check::DeviceCvm, device_cvm),
    (Check::Pin, pin),
    (Check::Velocity, velocity),
    (Check::Funds, funds),
    (Check::RefundSale, refund_sale),
];

fn mandatory_fields(h: &mut HostCore, r: &mut Request<'_>, _: &mut Decision, _: bool) -> Step {
    let (Some(pc), Some(amount), Some(stan), Some(entry)) =
        (r.msg.processing_code(), r.msg.amount(), r.msg.stan(), r.msg.entry_mode())
    else {
        return refuse(Rc::FormatError, "a mandatory field is missing (3, 4, 11 or 22)");
    };
    r.refund = match pc.get(..2) {
        Some("00") => false,
        Some("20") => true,
        _ => return refuse(Rc::InvalidTransaction, "unknown processing code"),
    };
    r.amount = Money(i64::try_from(amount).unwrap_or(i64::MAX));
    r.stan = stan;
    r.entry = entry;
    r.transmission = r.msg.transmission_time().and_then(|t| t.parse().ok()).unwrap_or(0);
    if r.amount.0 <= 0 {
        return refuse(Rc::InvalidAmount, "amount is zero");
    }
    // A reversal that overtook its original: the original must never post.
    if h.tombstones.get(txn_key(r.tidx, r.stan)).is_some_and(|t| t.0 == r.transmission) {
        return refuse(Rc::DoNotHonour, "already reversed before it arrived");
    }
    Step::Pass
}

fn issuer_reachable(h: &mut HostCore, r: &mut Request<'_>, _: &mut Decision, _: bool) -> Step {
    if h.cfg.issuer_down.iter().any(|&(a, b)| r.now >= a && r.now < b) {
        return refuse(Rc::IssuerUnavailable, "issuer unreachable");
    }
    Step::Pass
}

fn amount(h: &mut HostCore, r: &mut Request<'_>, _: &mut Decision, _: bool) -> Step {
    if r.amount > h.cfg.rules.max_amount {
        return refuse(Rc::InvalidAmount, "amount over the single-transaction limit");
    }
    Step::Pass
}

fn rrn_key(msg: &Message) -> [u8; 12] {
    let mut key = [b' '; 12];
    for (k, b) in key.iter_mut().zip(msg.rrn().unwrap_or_default().bytes()) {
        *k = b;
    }
    key
}

fn duplicates(h: &mut HostCore, r: &mut Request<'_>, _: &mut Decision, on: bool) -> Step {
    let k = txn_key(r.tidx, r.stan);
    if !on {
        return Step::Pass;
    }
    let key = rrn_key(r.msg);
    let window = h.cfg.rules.duplicate_window;
    if let Some(prev) = h.seen.get(k)
        && prev.0 == key
        && r.now.since(prev.1) <= window
    {
        return refuse(Rc::Duplicate, "duplicate transmission (same TID, STAN and RRN)");
    }
    h.seen.insert(k, (key, r.now));
    h.seen_order.push_back((r.now, k));
    Step::Pass
}

fn card(h: &mut HostCore, r: &mut Request<'_>, _: &mut Decision, _: bool) -> Step {
    r.track = r.msg.track2().map(Track2::parse);
    let Some(pan) = r.msg.card_pan() else {
        return refuse(Rc::FormatError, "no PAN or track 2");
    };
    r.pan = pan.to_string();
    // Card-present entry modes read track data; it must be there, parse,
    // and name the same card as field 2.
    let card_read = ["02", "05", "07", "80", "90", "91"].iter().any(|m| r.entry.starts_with(m));
    match &r.track {
        Some(Ok(t)) if t.pan != r.pan => {
            return refuse(Rc::FormatError, "PAN in field 2 differs from the one in track 2");
        }
        Some(Ok(_)) => {}
        Some(Err(_)) => return refuse(Rc::FormatError, "track 2 does not parse"),
        None if card_read => {
            return refuse(Rc::FormatError, "entry mode reads the card, but track 2 is missing");
        }
        None => {}
    }
    if !luhn_valid(&r.pan) {
        return refuse(Rc::InvalidCardNumber, "PAN fails the Luhn check");
    }
    r.card = h.card(&r.pan).copied();
    if r.card.is_none() {
        return refuse(Rc::InvalidCardNumber, "unknown card");
    }
    r.chip_entry = r.entry.starts_with("05") || r.entry.starts_with("07");
    Step::Pass
}

fn expiry(h: &mut HostCore, r: &mut Request<'_>, _: &mut Decision, _: bool) -> Step {
    let Some(card) = r.card else { return Step::Pass };
    let today = h.cfg.calendar.at(r.now).yymm();
    let expiry = match &r.track {
        Some(Ok(t)) => t.expiry.as_str(),
        _ => card.expiry(),
    };
    if expiry < today.as_str() {
        return refuse(Rc::ExpiredCard, "card expired");
    }
    Step::Pass
}

fn blocked(_: &mut HostCore, r: &mut Request<'_>, _: &mut Decision, _: bool) -> Step {
    if r.card.is_some_and(|c| c.blocked) {
        return refuse(Rc::NotPermitted, "card blocked");
    }
    Step::Pass
}

fn fallback(_: &mut HostCore, r: &mut Request<'_>, _: &mut Decision, _: bool) -> Step {
    let Some(card) = r.card else { return Step::Pass };
    let chip_card = card.service_code().starts_with('2') || card.service_code().starts_with('6');
    if chip_card && !r.chip_entry {
        return refuse(Rc::DoNotHonour, "magstripe read of a chip card (fallback refused)");
    }
    Step::Pass
}

/// CVV on magstripe reads; on chip reads the iCVV of tag 57 (some terminals
/// send the magstripe track, with its CVV, instead: the cryptogram protects
/// chip reads either way). A magstripe read that carries the iCVV is a copy
/// of chip data.
fn cvv(h: &mut HostCore, r: &mut Request<'_>, d: &mut Decision, _: bool) -> Step {
    let Some(Ok(t2)) = &r.track else {
        d.checks.cvv = Verdict::Absent;
        return Step::Pass;
    };
    let found = t2.cvv();
    let cvk = &h.cfg.cvk;
    let cvv = || crypto::cvv(cvk, &t2.pan, &t2.expiry, &t2.service_code).ok();
    let icvv = || crypto::icvv(cvk, &t2.pan, &t2.expiry).ok();
    // Compute what is expected first; the other only when needed.
    let ok = if r.chip_entry {
        found == icvv().as_deref() || found == cvv().as_deref()
    } else {
        found == cvv().as_deref()
    };
    d.checks.cvv = if ok { Verdict::Valid } else { Verdict::Invalid };
    if ok {
        return Step::Pass;
    }
    if r.chip_entry {
        refuse(Rc::SecurityViolation, "neither iCVV nor CVV matches")
    } else if found == icvv().as_deref() {
        refuse(
            Rc::SecurityViolation,
            "CVV is the chip's iCVV: a magstripe made from copied chip data",
        )
    } else {
        refuse(Rc::SecurityViolation, "CVV does not match")
    }
}

fn arqc(h: &mut HostCore, r: &mut Request<'_>, d: &mut Decision, _: bool) -> Step {
    if !r.chip_entry {
        return Step::Pass;
    }
    let icc = r.icc.insert(tlv::Index::new(r.msg.icc_data().unwrap_or_default()));
    let input = ArqcInput::from_tags(|t| icc.get(t));
    let ac = icc.get(0x9F26).and_then(|v| <[u8; 8]>::try_from(v).ok());
    let (Ok(input), Some(ac)) = (input, ac) else {
        d.checks.arqc = Verdict::Absent;
        return refuse(Rc::FormatError, "chip transaction without a complete field 55");
    };
    d.atc = Some(u16::from_be_bytes(input.atc));
    let mk = h.card_key(&r.pan);
    let valid = mk.as_ref().is_some_and(|k| crypto::verify_arqc_cvn10(k, &input, &ac));
    d.checks.arqc = if valid { Verdict::Valid } else { Verdict::Invalid };
    r.arpc_for = mk.map(|k| (k, ac));
    if !valid && r.msg.mti() == crate::protocol::iso8583::Mti::ADVICE {
        return refuse(
            Rc::SecurityViolation,
            "the TC of an offline approval does not verify: not paid at clearing",
        );
    }
    if !valid {
        return refuse(Rc::SecurityViolation, "ARQC does not verify");
    }
    let minor = r.amount.minor();
    if minor >= 1_000_000_000_000 || crypto::amount_n12(minor) != input.amount {
        return refuse(Rc::SecurityViolation, "amount differs from the one the card signed (9F02)");
    }
    Step::Pass
}

fn atc(h: &mut HostCore, r: &mut Request<'_>, d: &mut Decision, on: bool) -> Step {
    let (Some(atc), Some(card)) = (d.atc, r.card) else { return Step::Pass };
    if on && card.atc_high.is_some_and(|high| atc <= high) {
        return refuse(Rc::SuspectedFraud, "ATC not above the highest seen: replay or clone");
    }
    if on
        && d.checks.arqc == Verdict::Valid
        && let Some(c) = h.card_entry_mut(&r.pan)
    {
        c.rec.atc_high = Some(c.rec.atc_high.map_or(atc, |high| high.max(atc)));
    }
    Step::Pass
}

/// The application the terminal ran (84 in field 55) must be of the brand
/// the card number's BIN belongs to: a relay that swapped the AID to make
/// the terminal run another brand's kernel gives itself away here.
fn aid_brand(_: &mut HostCore, r: &mut Request<'_>, d: &mut Decision, _: bool) -> Step {
    use crate::card::Brand;
    if !r.chip_entry {
        return Step::Pass;
    }
    let Some(aid) = r.icc.as_ref().and_then(|i| i.get(0x84)) else { return Step::Pass };
    let (Some(app), Some(bin)) = (Brand::of_aid(aid), Brand::of_pan(&r.pan)) else {
        return Step::Pass;
    };
    d.checks.brand = if app == bin { Verdict::Valid } else { Verdict::Invalid };
    if app == bin {
        Step::Pass
    } else {
        refuse(
            Rc::DoNotHonour,
            "the application (AID in field 55) is another brand's than the card number (BIN)",
        )
    }
}

/// How far above the terminal's last unpredictable number a new one may be
/// and still look like a counter rather than chance (a random 32-bit number
/// lands this close once in about 250 million).
const UN_COUNTER_STEP: u32 = 16;

/// A terminal's unpredictable numbers (9F37) must look unpredictable: two
/// in a row that are each the last plus a small step (or the same) come
/// from a counter, and a cryptogram over a number that could be guessed
/// may have been made in advance (pre-play, Bond et al. 2014). The issuer
/// refuses it (59). Two steps, not one, so chance alone (one in about
/// 6 × 10^16) never refuses an honest customer; a resend of the same
/// request (same STAN) is no new number.
fn un_freshness(h: &mut HostCore, r: &mut Request<'_>, d: &mut Decision, on: bool) -> Step {
    if !r.chip_entry || !on {
        return Step::Pass;
    }
    let Some(un) =
        r.icc.as_ref().and_then(|i| i.get(0x9F37)).and_then(|v| <[u8; 4]>::try_from(v).ok())
    else {
        return Step::Pass;
    };
    let un = u32::from_be_bytes(un);
    let last = h.last_un.get(&r.tidx).copied();
    if last.is_some_and(|l| l.stan == r.stan) {
        return Step::Pass;
    }
    let step = last.is_some_and(|l| un.wrapping_sub(l.un) <= UN_COUNTER_STEP);
    let predictable = step && last.is_some_and(|l| l.step);
    h.last_un.insert(r.tidx, super::LastUn { un, stan: r.stan, step });
    d.checks.un = if predictable { Verdict::Invalid } else { Verdict::Valid };
    if predictable {
        refuse(
            Rc::SuspectedFraud,
            "the terminal's unpredictable numbers (9F37) count up: pre-play possible",
        )
    } else {
        Step::Pass
    }
}

/// The terminal's word (9F34) against the card's (the CVR in 9F10, which the
/// ARQC covers): "the card verified the PIN" must be what the card says too.
fn cvm_results(_: &mut HostCore, r: &mut Request<'_>, d: &mut Decision, _: bool) -> Step {
    use crate::protocol::crypto::CvrBits;
    if !r.chip_entry || d.checks.arqc != Verdict::Valid {
        return Step::Pass;
    }
    let Some(icc) = &r.icc else { return Step::Pass };
    let (Some(cvm), Some(iad)) = (icc.get(0x9F34), icc.get(0x9F10)) else { return Step::Pass };
    // Plaintext or enciphered PIN verified by the card, said to have succeeded.
    let offline_pin = cvm.first().is_some_and(|m| matches!(m & 0x3F, 0x01 | 0x03 | 0x04 | 0x05));
    if !offline_pin || cvm.get(2) != Some(&0x02) {
        d.checks.cvm = Verdict::Absent;
        return Step::Pass;
    }
    // Visa CVN 10 IAD: 06 01 0A, then the CVR's four bytes.
    let Some(&cvr1) = iad.get(4) else { return Step::Pass };
    let verified =
        cvr1 & CvrBits::OFFLINE_PIN_PERFORMED != 0 && cvr1 & CvrBits::OFFLINE_PIN_FAILED == 0;
    d.checks.cvm = if verified { Verdict::Valid } else { Verdict::Invalid };
    if verified {
        Step::Pass
    } else {
        refuse(
            Rc::DoNotHonour,
            "the terminal says the card verified the PIN (9F34); the card says it did not (CVR)",
        )
    }
}

/// A plastic card (form factor 9F6E) cannot have been verified on the
/// cardholder's phone, whatever its CTQ (9F6C, which no cryptogram covers) says.
fn device_cvm(_: &mut HostCore, r: &mut Request<'_>, d: &mut Decision, _: bool) -> Step {
    if !r.chip_entry {
        return Step::Pass;
    }
    let Some(icc) = &r.icc else { return Step::Pass };
    let (Some(ctq), Some(form)) = (icc.get(0x9F6C), icc.get(0x9F6E)) else { return Step::Pass };
    let claims_device = ctq.get(1).is_some_and(|b| b & 0x80 != 0);
    // Form factor byte 1, low five bits 0: a standard (plastic) card.
    let plastic = form.first().is_some_and(|b| b & 0x1F == 0);
    if !claims_device {
        return Step::Pass;
    }
    d.checks.cvm = if plastic { Verdict::Invalid } else { Verdict::Valid };
    if plastic {
        refuse(
            Rc::DoNotHonour,
            "consumer-device verification claimed for a plastic card (9F6C vs 9F6E)",
        )
    } else {
        Step::Pass
    }
}

/// At most so many approvals of one card within the window.
fn velocity(h: &mut HostCore, r: &mut Request<'_>, _: &mut Decision, on: bool) -> Step {
    let Some(card) = r.card else { return Step::Pass };
    if r.refund || !on {
        return Step::Pass;
    }
    let (most, window) = h.cfg.rules.velocity;
    let now = r.now;
    let used = h.uses.entry(card.account).or_default();
    while used.front().is_some_and(|&t| now.since(t) > window) {
        used.pop_front();
    }
    if used.len() as u32 >= most {
        return refuse(Rc::ExceedsFrequency, "too many uses of this card in the window");
    }
    Step::Pass
}

fn pin(h: &mut HostCore, r: &mut Request<'_>, d: &mut Decision, on: bool) -> Step {
    let Some(card) = r.card else { return Step::Pass };
    let Some(block) = r.msg.pin_block() else {
        d.checks.pin = Verdict::Absent;
        return Step::Pass;
    };
    if card.pin_fails >= h.cfg.pin_try_limit {
        d.checks.pin = Verdict::Skipped;
        return refuse(Rc::PinTriesExceeded, "PIN tries exceeded");
    }
    let ok = crypto::decode_pin_block_iso0(&r.trec.tpk, block, &r.pan)
        .ok()
        .and_then(|pin| crypto::pvv(&h.cfg.pvk, &r.pan, card.pvki(), &pin).ok())
        .is_some_and(|pvv| pvv == card.pvv());
    d.checks.pin = if ok { Verdict::Valid } else { Verdict::Invalid };
    if !on {
        return Step::Pass;
    }
    let Some(c) = h.card_entry_mut(&r.pan) else { return Step::Pass };
    if ok {
        c.rec.pin_fails = 0;
        return Step::Pass;
    }
    c.rec.pin_fails = c.rec.pin_fails.saturating_add(1);
    if c.rec.pin_fails >= h.cfg.pin_try_limit {
        refuse(Rc::PinTriesExceeded, "PIN does not match the PVV")
    } else {
        refuse(Rc::IncorrectPin, "PIN does not match the PVV")
    }
}

fn funds(h: &mut HostCore, r: &mut Request<'_>, _: &mut Decision, _: bool) -> Step {
    let Some(card) = r.card else { return Step::Pass };
    if !r.refund && h.ledger.available(card.account as usize) < r.amount {
        return refuse(Rc::InsufficientFunds, "insufficient funds");
    }
    Step::Pass
}

/// A refund must go back to a card that bought at least as much here: an
/// insider cannot pay out to a card of their own.
fn refund_sale(h: &mut HostCore, r: &mut Request<'_>, d: &mut Decision, _: bool) -> Step {
    let Some(card) = r.card else { return Step::Pass };
    if !r.refund {
        return Step::Pass;
    }
    // Sales at this merchant only: a purchase elsewhere is no sale here.
    let key = (h.merchant(r.tidx), card.account);
    let covered = h.sales.get(&key).copied().unwrap_or_default() >= r.amount;
    d.checks.sale = if covered { Verdict::Valid } else { Verdict::Invalid };
    if !covered {
        return refuse(Rc::InvalidTransaction, "refund to a card with no matching sale here");
    }
    Step::Pass
}

impl HostCore {
    /// Runs the pipeline; posts to the ledger when every check passed.
    /// Returns the response code, its extra fields, and the reason.
    pub(super) fn financial(
        &mut self,
        now: SimTime,
        tidx: usize,
        trec: &TerminalRecord,
        msg: &Message,
        d: &mut Decision,
    ) -> Answer {
        let mut r = Request {
            now,
            msg,
            tidx,
            trec,
            refund: false,
            amount: Money(0),
            stan: 0,
            entry: "",
            transmission: 0,
            track: None,
            pan: String::new(),
            card: None,
            chip_entry: false,
            arpc_for: None,
            icc: None,
        };
        // An advice reports goods already handed over: it is cleared, not
        // authorised. Whether the issuer is up now, the funds, the velocity
        // and the PIN were the card's to decide offline; the cryptogram,
        // the card data and the terminal's honesty are checked as ever.
        let advice = msg.mti() == crate::protocol::iso8583::Mti::ADVICE;
        for (check, run) in PIPELINE {
            if advice
                && matches!(
                    check,
                    Check::IssuerReachable | Check::Funds | Check::Velocity | Check::Pin
                )
            {
                continue;
            }
            let on = self.cfg.rules.is_on(check);
            if let Step::Refuse(rc, why) = run(self, &mut r, d, on)
                && on
            {
                let extra = if advice { Vec::new() } else { with_arpc(&r, rc) };
                return (rc, extra, why);
            }
        }
        let Some(card) = r.card else {
            return (Rc::InvalidCardNumber, Vec::new(), Cow::Borrowed("unknown card"));
        };
        if self.post(tidx, card.account, r.amount, r.refund, false).is_err() {
            // Refused whole: a balance or total that cannot be represented
            // is never kept wrong. An advice gets no issuer authentication.
            let why = "posting refused: the account or the merchant's totals would leave the range money is kept in";
            let rc = Rc::SystemMalfunction;
            return (rc, if advice { Vec::new() } else { with_arpc(&r, rc) }, Cow::Borrowed(why));
        }
        if !r.refund && self.cfg.rules.is_on(Check::Velocity) {
            let (most, _) = self.cfg.rules.velocity;
            let used = self.uses.entry(card.account).or_default();
            used.push_back(now);
            while used.len() > most as usize {
                used.pop_front();
            }
        }
        d.ledger = if r.refund { super::LedgerEffect::Credit } else { super::LedgerEffect::Debit };
        let k = txn_key(tidx, r.stan);
        self.txns.insert(
            k,
            TxnRecord {
                amount: r.amount,
                account: card.account,
                refund: r.refund,
                reversed: false,
                transmission: r.transmission,
                at: now,
            },
        );
        self.txn_order.push_back((now, k));
        self.auth_seq = self.auth_seq % 999_999 + 1;
        // No issuer authentication for an advice: the card is long gone.
        let mut extra = if advice { Vec::new() } else { with_arpc(&r, Rc::Approved) };
        extra.push((38, crate::time::zero_padded(u64::from(self.auth_seq), 6).into_bytes()));
        (Rc::Approved, extra, Cow::Borrowed("approved"))
    }
}

/// Field 55 with the ARPC for `rc`, once the ARQC was checked.
fn with_arpc(r: &Request<'_>, rc: Rc) -> Vec<(u8, Vec<u8>)> {
    r.arpc_for.as_ref().map_or_else(Vec::new, |(k, ac)| {
        let arc = rc.arc();
        // Issuer authentication data (91): ARPC || ARC.
        let mut iad = [0u8; 10];
        iad[..8].copy_from_slice(&crypto::arpc_method1(k, *ac, arc));
        iad[8..].copy_from_slice(&arc);
        let mut f55 = Vec::with_capacity(12);
        tlv::write(&mut f55, 0x91, &iad);
        vec![(55, f55)]
    })
}
