//! The emulated terminal stack (sans-IO).
//!
//! One customer transaction at a time: application selection, GET
//! PROCESSING OPTIONS, READ RECORD, cardholder verification (online PIN,
//! offline PIN, or none under the contactless CVM limit), the first GENERATE
//! AC, the 0200, the ARPC check in the second GENERATE AC, and the receipt.
//! A response timeout leads to a reversal (0400) with bounded retries; a
//! reversal that still gets no answer is kept and retried later (store and
//! forward), so a link outage does not lose it. A chip that does not answer
//! sends the terminal to magstripe fallback (entry mode 801).
//!
//! The terminal talks to the card through a [`CardChannel`] the driver
//! provides (so a shimmer or a wedge can sit in between) and to the host by
//! returning [`Output::Send`]; time only arrives as `now` arguments.

mod build;
mod session;
mod tap;

use session::CardRead;
pub use session::SUPPORTED_AIDS;
pub use tap::{CardTap, Tapped, through_taps};

use std::sync::Arc;

use crate::card::Interface;
use crate::money::Money;
use crate::protocol::apdu::{Command, StatusWord, cryptogram};
use crate::protocol::crypto::TdesKey;
use crate::protocol::iso8583::{MacCheck, Message, Mti, Spec, verify_mac};
use crate::protocol::response::ResponseCode;
use crate::protocol::tlv;
use crate::rng::Stream;
use crate::time::{Calendar, Duration, SimTime};

/// What a terminal does when a request gets no response in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum TimeoutPolicy {
    /// Decline, then send a reversal (0400) until the host acknowledges it. Correct.
    #[default]
    Reverse,
    /// Resend the same 0200 (same STAN) up to `reversal_attempts` times, then
    /// reverse; the host's duplicate check answers 94 to the copies.
    ResendSameStan,
    /// Firmware bug: resend as a new transaction (new STAN) and never reverse.
    ResendNewStan,
    /// Firmware bug: decline and forget; the host may keep the approval.
    Nothing,
}

/// How the terminal makes its unpredictable numbers (tag 9F37).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum UnpredictableNumber {
    /// From the terminal's random stream.
    #[default]
    Random,
    /// A counter: predictable, which enables pre-play attacks.
    Counter,
}

/// A terminal's fixed settings.
#[derive(Debug, Clone)]
pub struct TerminalConfig {
    /// Terminal id, field 41 (8 characters).
    pub tid: String,
    /// Merchant id, field 42 (15 characters).
    pub mid: String,
    /// Currency, field 49 and tag 5F2A ("156").
    pub currency: String,
    /// Terminal country code, tag 9F1A ("156").
    pub country: String,
    /// The ISO 8583 dialect it speaks.
    pub spec: Arc<Spec>,
    /// Terminal authentication key (MAC).
    pub tak: TdesKey,
    /// Terminal PIN key.
    pub tpk: TdesKey,
    /// Whether requests carry a MAC and responses must.
    pub mac: bool,
    /// How long to wait for a response.
    pub response_timeout: Duration,
    /// What to do on a timeout.
    pub on_timeout: TimeoutPolicy,
    /// Immediate tries of a reversal before it waits for later.
    pub reversal_attempts: u32,
    /// Wait between later reversal tries.
    pub reversal_retry: Duration,
    /// Give up on a reversal after this many tries in all (an alert).
    pub reversal_max_attempts: u32,
    /// Reads chips.
    pub chip: bool,
    /// Reads magstripes.
    pub magstripe: bool,
    /// Reads contactless cards.
    pub contactless: bool,
    /// Contactless amounts up to this need no CVM.
    pub contactless_cvm_limit: Money,
    /// Accepts offline PIN (VERIFY).
    pub offline_pin: bool,
    /// Unpredictable number source.
    pub un: UnpredictableNumber,
    /// Maps virtual time to the dates on the wire.
    pub calendar: Calendar,
}

/// How the customer presents the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presentation {
    /// Taps it on the contactless reader.
    Tap,
    /// Inserts it in the chip slot.
    Insert,
    /// Swipes it.
    Swipe,
}

/// One thing a customer wants to pay (or be refunded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purchase {
    /// The purchase id (stable across PIN retries).
    pub id: u64,
    /// The amount.
    pub amount: Money,
    /// A refund rather than a purchase.
    pub refund: bool,
    /// How the card is presented.
    pub presentation: Presentation,
}

/// How the card data was captured (field 22).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// Contact chip, 051.
    Chip,
    /// Contactless chip, 071.
    Contactless,
    /// Magstripe swipe, 021.
    Magstripe,
    /// Magstripe after a chip failure, 801.
    Fallback,
}

impl Entry {
    /// Field 22.
    pub fn code(self) -> &'static str {
        match self {
            Self::Chip => "051",
            Self::Contactless => "071",
            Self::Magstripe => "021",
            Self::Fallback => "801",
        }
    }
}

/// How the cardholder was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CvmPerformed {
    /// PIN block sent to the issuer.
    OnlinePin,
    /// PIN checked by the card.
    OfflinePin,
    /// None (contactless under the limit).
    NoCvm,
}

/// The end of a customer transaction: what the receipt says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Approved: goods handed over.
    Approved,
    /// Declined by the host (the code says why).
    Declined,
    /// Declined by the card or the terminal without going online.
    DeclinedOffline,
    /// No response in time.
    Timeout,
    /// The card could not be read at all.
    CardUnreadable,
}

/// A finished customer transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Purchase id.
    pub purchase: u64,
    /// The outcome.
    pub outcome: Outcome,
    /// The host's response code, if one arrived.
    pub response: Option<ResponseCode>,
    /// Why, in words (for offline declines and failures).
    pub reason: &'static str,
    /// How the card was read.
    pub entry: Option<Entry>,
    /// Cardholder verification used.
    pub cvm: Option<CvmPerformed>,
    /// STAN of the request, if one was sent.
    pub stan: Option<u32>,
    /// RRN of the request.
    pub rrn: Option<String>,
    /// Amount.
    pub amount: Money,
    /// Refund rather than purchase.
    pub refund: bool,
    /// Time from the request to the response, if both happened.
    pub round_trip: Option<Duration>,
}

/// Why a frame was sent, for the journal and the monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A 0200 for a customer.
    Request,
    /// The same 0200 again.
    Resend,
    /// A 0400 reversal (first try or repeat).
    Reversal,
    /// An 0800 sign-on.
    SignOn,
}

/// A frame for the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The wire bytes (no framing header).
    pub bytes: Vec<u8>,
    /// Its MTI.
    pub mti: Mti,
    /// Its STAN.
    pub stan: u32,
    /// Why.
    pub purpose: Purpose,
    /// The purchase it belongs to (reversals: the reversed purchase).
    pub purchase: Option<u64>,
}

/// Things the terminal reports that are not frames or completions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum Note {
    /// The chip did not answer; falling back to the magstripe.
    ChipFailed {
        /// Purchase id.
        purchase: u64,
    },
    /// A response was ignored.
    ResponseIgnored {
        /// Why.
        reason: &'static str,
        /// Its STAN, if readable.
        stan: Option<u32>,
    },
    /// The card declined after the host approved (bad ARPC): reversing.
    CardDeclinedAfterApproval {
        /// Purchase id.
        purchase: u64,
    },
    /// A reversal was acknowledged.
    ReversalAcknowledged {
        /// Its STAN.
        stan: u32,
        /// The reversed purchase.
        purchase: u64,
    },
    /// A reversal got no answer after its immediate tries; kept for later.
    ReversalStored {
        /// Its STAN.
        stan: u32,
    },
    /// A reversal was abandoned after all tries (the host may keep the money).
    ReversalAbandoned {
        /// Its STAN.
        stan: u32,
        /// The purchase.
        purchase: u64,
    },
    /// An offline PIN was wrong.
    OfflinePinWrong {
        /// Tries the card says are left.
        tries_left: u8,
    },
    /// The host acknowledged the sign-on.
    SignedOn,
    /// An approval arrived for a purchase already concluded as declined or
    /// timed out: it is reversed.
    LateApprovalReversed {
        /// STAN of the request.
        stan: u32,
        /// Purchase id.
        purchase: u64,
    },
}

/// What the terminal asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Ask the cardholder for the PIN on the PIN pad.
    RequestPin {
        /// Purchase id.
        purchase: u64,
    },
    /// Send a frame to the host.
    Send(Outgoing),
    /// Wake the terminal with `timer(token)` at `at`.
    Timer {
        /// Token to hand back.
        token: u64,
        /// When.
        at: SimTime,
    },
    /// A customer transaction ended.
    Completed(Completion),
    /// Something worth recording.
    Note(Note),
}

/// The card as the terminal sees it: a reader slot, a contactless field and
/// a swipe slot. The driver implements it (and attacks can wrap it).
pub trait CardChannel {
    /// Powers the card on an interface; returns the ATR (empty if mute).
    fn power_on(&mut self, interface: Interface) -> Vec<u8>;
    /// Exchanges one APDU; an empty answer means the card is mute.
    fn transmit(&mut self, capdu: &[u8]) -> Vec<u8>;
    /// Reads the magstripe (track 2, field 35 form), if there is one.
    fn swipe(&mut self) -> Option<String>;
    /// Virtual time the exchanges so far have taken (the driver knows how
    /// long a reader takes; the terminal adds it to "now" when it sends).
    fn elapsed(&self) -> Duration {
        Duration::ZERO
    }
}

#[derive(Debug, Clone)]
struct Txn {
    purchase: Purchase,
    read: CardRead,
    un: [u8; 4],
    tvr: [u8; 5],
    pin_block: Option<[u8; 8]>,
    stan: u32,
    rrn: String,
    transmission: String,
    wire: Vec<u8>,
    sent_at: SimTime,
    token: u64,
    sends: u32,
}

impl Txn {
    /// A transaction with no card read yet, for data the card asks before.
    fn probe(purchase: Purchase) -> Self {
        Self {
            purchase,
            read: CardRead::none(Entry::Chip),
            un: [0; 4],
            tvr: [0; 5],
            pin_block: None,
            stan: 0,
            rrn: String::new(),
            transmission: String::new(),
            wire: Vec::new(),
            sent_at: SimTime(0),
            token: 0,
            sends: 0,
        }
    }
}

/// Fixed field values of a terminal's messages, padded once.
#[derive(Debug, Clone)]
struct Fields {
    tid_field: String,
    mid_field: String,
    currency: String,
}

/// Two BCD bytes of a 3-digit numeric code ("156" -> 01 56).
fn code_bcd(code: &str) -> [u8; 2] {
    let v: u16 = code.parse().unwrap_or(0);
    [(v / 100) as u8, (((v / 10 % 10) << 4) | (v % 10)) as u8]
}

#[derive(Debug, Clone)]
enum Stage {
    Idle,
    AwaitPin(Box<Txn>),
    AwaitResponse(Box<Txn>),
}

#[derive(Debug, Clone)]
struct PendingReversal {
    purchase: u64,
    stan: u32,
    wire: Vec<u8>,
    attempts: u32,
    token: u64,
    waiting: bool,
}

pub use crate::money::Totals;

/// The terminal stack.
#[derive(Debug, Clone)]
pub struct TerminalCore {
    cfg: TerminalConfig,
    fields: Fields,
    country: [u8; 2],
    currency: [u8; 2],
    rng: Stream,
    stan: u32,
    un_counter: u32,
    next_token: u64,
    stage: Stage,
    reversals: Vec<PendingReversal>,
    totals: Totals,
    /// False from a sign-on until the host approves it: a terminal that is
    /// not signed on takes no payments.
    signed_on: bool,
    /// The timer of the sign-on waiting for its 0810.
    sign_on_token: Option<u64>,
    /// Purchases lately concluded as not approved and not reversed: if an
    /// approval for one still arrives, it is reversed.
    recent: std::collections::VecDeque<Box<Txn>>,
}

/// How many concluded purchases a terminal remembers for late approvals.
const RECENT: usize = 8;

impl TerminalCore {
    /// A terminal with its settings and random stream.
    pub fn new(cfg: TerminalConfig, rng: Stream) -> Self {
        Self {
            fields: Fields {
                tid_field: format!("{:<8}", cfg.tid),
                mid_field: format!("{:<15}", cfg.mid),
                currency: cfg.currency.clone(),
            },
            country: code_bcd(&cfg.country),
            currency: code_bcd(&cfg.currency),
            cfg,
            rng,
            stan: 0,
            un_counter: 0,
            next_token: 0,
            stage: Stage::Idle,
            recent: std::collections::VecDeque::new(),
            signed_on: true,
            sign_on_token: None,
            reversals: Vec::new(),
            totals: Totals::default(),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &TerminalConfig {
        &self.cfg
    }

    /// True while a customer transaction is under way.
    pub fn busy(&self) -> bool {
        !matches!(self.stage, Stage::Idle)
    }

    /// Reversals not yet acknowledged.
    pub fn pending_reversals(&self) -> usize {
        self.reversals.len()
    }

    /// What it approved so far.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    fn next_stan(&mut self) -> u32 {
        self.stan = self.stan % 999_999 + 1;
        self.stan
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    /// Sends the start-of-day sign-on (0800, network code 001, no MAC).
    /// Until the host approves one, the terminal takes no payments; an
    /// unanswered or refused sign-on is sent again after the response timeout.
    pub fn sign_on(&mut self, now: SimTime, out: &mut Vec<Output>) {
        self.signed_on = false;
        let stan = self.next_stan();
        let mut m = Message::new(Mti::NETWORK);
        m.set(7, self.cfg.calendar.at(now).mmddhhmmss());
        m.set_stan(stan);
        m.set(41, &self.fields.tid_field);
        m.set(70, "001");
        let token = self.token();
        self.sign_on_token = Some(token);
        out.push(Output::Timer { token, at: now + self.cfg.response_timeout });
        match self.cfg.spec.encode(&m) {
            Ok(bytes) => out.push(Output::Send(Outgoing {
                bytes,
                mti: Mti::NETWORK,
                stan,
                purpose: Purpose::SignOn,
                purchase: None,
            })),
            Err(_) => out.push(Output::Note(Note::ResponseIgnored {
                reason: "the dialect cannot encode the sign-on",
                stan: None,
            })),
        }
    }

    /// True once the host has approved a sign-on (or none was needed).
    pub fn signed_on(&self) -> bool {
        self.signed_on
    }

    /// A customer presents a card for `purchase`.
    pub fn start(
        &mut self,
        now: SimTime,
        purchase: Purchase,
        card: &mut dyn CardChannel,
        out: &mut Vec<Output>,
    ) {
        if self.busy() {
            return;
        }
        if !self.signed_on {
            out.push(Output::Completed(self.completion(
                &purchase,
                Outcome::DeclinedOffline,
                None,
                "terminal not signed on to the host",
                None,
            )));
            return;
        }
        let read = match self.read_card(now, &purchase, card, out) {
            Ok(r) => r,
            Err(reason) => {
                out.push(Output::Completed(self.completion(
                    &purchase,
                    Outcome::CardUnreadable,
                    None,
                    reason,
                    None,
                )));
                return;
            }
        };
        let un = self.unpredictable_number();
        let txn = Txn { read, un, sent_at: now, ..Txn::probe(purchase) };
        if matches!(txn.read.cvm, CvmPerformed::OnlinePin | CvmPerformed::OfflinePin) {
            out.push(Output::RequestPin { purchase: purchase.id });
            self.stage = Stage::AwaitPin(Box::new(txn));
        } else {
            self.go_online(now, txn, card, out);
        }
    }

    /// The cardholder typed a PIN (or `None`: cancelled).
    pub fn pin_entered(
        &mut self,
        now: SimTime,
        pin: Option<&str>,
        card: &mut dyn CardChannel,
        out: &mut Vec<Output>,
    ) {
        let Stage::AwaitPin(mut txn) = std::mem::replace(&mut self.stage, Stage::Idle) else {
            return;
        };
        let Some(pin) = pin else {
            out.push(Output::Completed(self.completion(
                &txn.purchase,
                Outcome::DeclinedOffline,
                None,
                "cardholder cancelled",
                Some(&txn),
            )));
            return;
        };
        match txn.read.cvm {
            CvmPerformed::OfflinePin => {
                let resp = exchange(card, &Command::verify_plaintext_pin(pin));
                match resp.map(|r| r.sw()) {
                    Some(StatusWord::OK) => {}
                    Some(sw) if sw.tries_left().is_some_and(|t| t > 0) => {
                        out.push(Output::Note(Note::OfflinePinWrong {
                            tries_left: sw.tries_left().unwrap_or(0),
                        }));
                        out.push(Output::RequestPin { purchase: txn.purchase.id });
                        self.stage = Stage::AwaitPin(txn);
                        return;
                    }
                    _ => {
                        // PIN try limit exceeded: the card will decline.
                        txn.tvr[2] |= 0x20 | 0x80;
                    }
                }
            }
            CvmPerformed::OnlinePin => {
                match crate::protocol::crypto::pin_block_iso0(&self.cfg.tpk, pin, &txn.read.pan) {
                    Ok(b) => txn.pin_block = Some(b),
                    Err(_) => {
                        out.push(Output::Completed(self.completion(
                            &txn.purchase,
                            Outcome::DeclinedOffline,
                            None,
                            "PIN not accepted by the PIN pad",
                            Some(&txn),
                        )));
                        return;
                    }
                }
            }
            CvmPerformed::NoCvm => {}
        }
        self.go_online(now, *txn, card, out);
    }

    fn unpredictable_number(&mut self) -> [u8; 4] {
        match self.cfg.un {
            UnpredictableNumber::Random => (self.rng.u64() as u32).to_be_bytes(),
            UnpredictableNumber::Counter => {
                self.un_counter = self.un_counter.wrapping_add(1);
                self.un_counter.to_be_bytes()
            }
        }
    }

    /// First GENERATE AC (chip), then the 0200.
    fn go_online(
        &mut self,
        now: SimTime,
        mut txn: Txn,
        card: &mut dyn CardChannel,
        out: &mut Vec<Output>,
    ) {
        if txn.read.entry == Entry::Chip && !txn.read.ac_ready {
            let data = self.term_data(&txn, now);
            let Some(cdol) = txn.read.cdol1.clone() else {
                out.push(Output::Completed(self.completion(
                    &txn.purchase,
                    Outcome::CardUnreadable,
                    None,
                    "card has no CDOL1",
                    Some(&txn),
                )));
                return;
            };
            let cdol_data = cdol.fill(|t| data.get(t));
            let Some(resp) = exchange(card, &Command::generate_ac(cryptogram::ARQC, &cdol_data))
                .filter(|r| r.sw().is_ok())
            else {
                out.push(Output::Completed(self.completion(
                    &txn.purchase,
                    Outcome::CardUnreadable,
                    None,
                    "card removed during the transaction",
                    Some(&txn),
                )));
                return;
            };
            let get = |tag: u32| tlv::find_deep(resp.data(), tag);
            if get(0x9F27)
                .and_then(|c| c.first().copied())
                .is_none_or(|c| c & 0xC0 != cryptogram::ARQC)
            {
                out.push(Output::Completed(self.completion(
                    &txn.purchase,
                    Outcome::DeclinedOffline,
                    None,
                    "card declined (AAC)",
                    Some(&txn),
                )));
                return;
            }
            let mut icc = Vec::with_capacity(96);
            for (tag, v) in cdol.split(&cdol_data).unwrap_or_default() {
                tlv::write(&mut icc, tag, v);
            }
            tlv::write(&mut icc, 0x82, &txn.read.aip);
            for tag in [0x9F36, 0x9F26, 0x9F27, 0x9F10] {
                tlv::write(&mut icc, tag, get(tag).unwrap_or_default());
            }
            if let Some(psn) = &txn.read.psn {
                tlv::write(&mut icc, 0x5F34, &[u8::from_str_radix(psn, 16).unwrap_or(0)]);
            }
            txn.read.icc = icc;
        }
        let now = now + card.elapsed();
        txn.stan = self.next_stan();
        let when = self.cfg.calendar.at(now);
        txn.transmission = when.mmddhhmmss();
        txn.rrn = format!(
            "{}{:03}{:02}{:06}",
            when.year.rem_euclid(10),
            when.day_of_year(),
            when.hour,
            txn.stan
        );
        let msg = build::request(&self.fields, &txn, &when);
        let Ok(wire) = build::seal(&self.cfg, msg) else {
            out.push(Output::Completed(self.completion(
                &txn.purchase,
                Outcome::DeclinedOffline,
                None,
                "terminal could not build the request",
                Some(&txn),
            )));
            return;
        };
        txn.wire = wire.clone();
        txn.sent_at = now;
        txn.sends = 1;
        txn.token = self.token();
        out.push(Output::Send(Outgoing {
            bytes: wire,
            mti: Mti::REQUEST,
            stan: txn.stan,
            purpose: Purpose::Request,
            purchase: Some(txn.purchase.id),
        }));
        out.push(Output::Timer { token: txn.token, at: now + self.cfg.response_timeout });
        self.stage = Stage::AwaitResponse(Box::new(txn));
    }

    fn completion(
        &self,
        p: &Purchase,
        outcome: Outcome,
        response: Option<ResponseCode>,
        reason: &'static str,
        txn: Option<&Txn>,
    ) -> Completion {
        Completion {
            purchase: p.id,
            outcome,
            response,
            reason,
            entry: txn.map(|t| t.read.entry),
            cvm: txn.map(|t| t.read.cvm),
            stan: txn.map(|t| t.stan).filter(|&s| s != 0),
            rrn: txn.map(|t| t.rrn.clone()).filter(|r| !r.is_empty()),
            amount: p.amount,
            refund: p.refund,
            round_trip: None,
        }
    }

    /// A frame from the host.
    pub fn receive(
        &mut self,
        now: SimTime,
        bytes: &[u8],
        card: &mut dyn CardChannel,
        out: &mut Vec<Output>,
    ) {
        let Ok(msg) = self.cfg.spec.decode(bytes) else {
            out.push(Output::Note(Note::ResponseIgnored { reason: "does not decode", stan: None }));
            return;
        };
        let stan = msg.stan();
        if msg.terminal_id().map(str::trim_end) != Some(self.cfg.tid.trim_end()) {
            out.push(Output::Note(Note::ResponseIgnored { reason: "for another terminal", stan }));
            return;
        }
        if msg.mti() == Mti::NETWORK_RESPONSE {
            if msg.response_code().is_some_and(|rc| rc.is_approved()) && !self.signed_on {
                self.signed_on = true;
                self.sign_on_token = None;
                out.push(Output::Note(Note::SignedOn));
            }
            return;
        }
        if self.cfg.mac && verify_mac(&self.cfg.spec, bytes, &msg, &self.cfg.tak) != MacCheck::Valid
        {
            out.push(Output::Note(Note::ResponseIgnored {
                reason: "MAC missing or invalid",
                stan,
            }));
            return;
        }
        match msg.mti() {
            Mti::REVERSAL_RESPONSE => {
                let approved = msg.response_code().is_some_and(|rc| rc.is_approved());
                match self.reversals.iter().position(|r| Some(r.stan) == stan) {
                    Some(i) if approved => {
                        let r = self.reversals.remove(i);
                        out.push(Output::Note(Note::ReversalAcknowledged {
                            stan: r.stan,
                            purchase: r.purchase,
                        }));
                    }
                    // Refused (a damaged copy, say): keep it; the timer sends it again.
                    Some(_) => out.push(Output::Note(Note::ResponseIgnored {
                        reason: "reversal refused by the host; will retry",
                        stan,
                    })),
                    None => out.push(Output::Note(Note::ResponseIgnored {
                        reason: "reversal response for no pending reversal",
                        stan,
                    })),
                }
            }
            Mti::RESPONSE => self.on_response(now, &msg, stan, card, out),
            _ => out.push(Output::Note(Note::ResponseIgnored {
                reason: "unexpected message type",
                stan,
            })),
        }
    }

    fn on_response(
        &mut self,
        now: SimTime,
        msg: &Message,
        stan: Option<u32>,
        card: &mut dyn CardChannel,
        out: &mut Vec<Output>,
    ) {
        let matches = matches!(&self.stage, Stage::AwaitResponse(t) if Some(t.stan) == stan);
        if !matches {
            let approved = msg.response_code().is_some_and(|rc| rc.is_approved());
            let late = self.recent.iter().position(|t| Some(t.stan) == stan);
            if let (true, Some(i)) = (approved, late)
                && let Some(txn) = self.recent.remove(i)
            {
                // The host posted a purchase the customer left without:
                // undo it, or money is lost.
                out.push(Output::Note(Note::LateApprovalReversed {
                    stan: txn.stan,
                    purchase: txn.purchase.id,
                }));
                self.queue_reversal(now, &txn, out);
                return;
            }
            out.push(Output::Note(Note::ResponseIgnored {
                reason: "no request waiting for it (late or duplicate)",
                stan,
            }));
            return;
        }
        let Stage::AwaitResponse(txn) = std::mem::replace(&mut self.stage, Stage::Idle) else {
            return;
        };
        let rc = msg.response_code().unwrap_or(ResponseCode::FormatError);
        let mut approved = rc.is_approved();
        let mut reason = rc.meaning();
        if txn.read.entry == Entry::Chip {
            let issuer_auth = msg.icc_data().and_then(|d| tlv::find(d, 0x91)).unwrap_or(&[0; 10]);
            let arc = rc.arc();
            let td = self.term_data(&txn, now);
            let data = txn.read.cdol2.clone().unwrap_or_default().fill(|t| match t {
                0x8A => Some(&arc[..]),
                0x91 => Some(issuer_auth),
                other => td.get(other),
            });
            let kind = if approved { cryptogram::TC } else { cryptogram::AAC };
            let card_says_tc = exchange(card, &Command::generate_ac(kind, &data))
                .filter(|r| r.sw().is_ok())
                .and_then(|r| tlv::find_deep(r.data(), 0x9F27).and_then(|c| c.first().copied()))
                .is_some_and(|c| c & 0xC0 == cryptogram::TC);
            if approved && !card_says_tc {
                approved = false;
                reason = "card declined the issuer's response (ARPC)";
                out.push(Output::Note(Note::CardDeclinedAfterApproval {
                    purchase: txn.purchase.id,
                }));
                self.queue_reversal(now + card.elapsed(), &txn, out);
            }
        }
        let mut c = self.completion(
            &txn.purchase,
            if approved { Outcome::Approved } else { Outcome::Declined },
            Some(rc),
            reason,
            Some(&txn),
        );
        c.round_trip = Some(now.since(txn.sent_at));
        let careful =
            matches!(self.cfg.on_timeout, TimeoutPolicy::Reverse | TimeoutPolicy::ResendSameStan);
        let mut reversed = approved != rc.is_approved();
        // 94 says the host already has this request, not what it decided:
        // the outcome is unknown, so a careful terminal reverses it.
        if rc == ResponseCode::Duplicate && careful {
            c.reason = "duplicate: the host has the request but its outcome is unknown; reversed";
            self.queue_reversal(now + card.elapsed(), &txn, out);
            reversed = true;
        } else if !approved && !reversed && txn.sends > 1 && careful {
            // Copies share a STAN: a decline may answer a damaged or late
            // copy while the original was posted. Not proven for the
            // original, so it is reversed (the host releases it, or
            // remembers that it must never post).
            c.reason = "declined, but the answer may be for a copy: reversed to be sure";
            self.queue_reversal(now + card.elapsed(), &txn, out);
            reversed = true;
        }
        if approved {
            self.totals.add(txn.purchase.amount, txn.purchase.refund);
        } else if !reversed && careful {
            self.remember(txn);
        }
        out.push(Output::Completed(c));
    }

    /// Keeps a purchase concluded without approval, so a late approval for
    /// it can still be reversed.
    fn remember(&mut self, txn: Box<Txn>) {
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(txn);
    }

    fn queue_reversal(&mut self, now: SimTime, txn: &Txn, out: &mut Vec<Output>) {
        let stan = self.next_stan();
        let when = self.cfg.calendar.at(now);
        let msg = build::reversal(&self.fields, txn, stan, &when);
        let Ok(wire) = build::seal(&self.cfg, msg) else {
            // Never silently: a reversal that cannot be built is given up
            // at once, which the monitor alerts on.
            out.push(Output::Note(Note::ReversalAbandoned { stan, purchase: txn.purchase.id }));
            return;
        };
        let token = self.token();
        out.push(Output::Send(Outgoing {
            bytes: wire.clone(),
            mti: Mti::REVERSAL,
            stan,
            purpose: Purpose::Reversal,
            purchase: Some(txn.purchase.id),
        }));
        out.push(Output::Timer { token, at: now + self.cfg.response_timeout });
        self.reversals.push(PendingReversal {
            purchase: txn.purchase.id,
            stan,
            wire,
            attempts: 1,
            token,
            waiting: false,
        });
    }

    /// A timer set earlier fired.
    pub fn timer(
        &mut self,
        now: SimTime,
        token: u64,
        card: &mut dyn CardChannel,
        out: &mut Vec<Output>,
    ) {
        if let Some(i) = self.reversals.iter().position(|r| r.token == token) {
            self.retry_reversal(now, i, out);
            return;
        }
        if self.sign_on_token == Some(token) && !self.signed_on {
            self.sign_on(now, out);
            return;
        }
        let is_current = matches!(&self.stage, Stage::AwaitResponse(t) if t.token == token);
        if !is_current {
            return;
        }
        let Stage::AwaitResponse(mut txn) = std::mem::replace(&mut self.stage, Stage::Idle) else {
            return;
        };
        match self.cfg.on_timeout {
            TimeoutPolicy::ResendSameStan | TimeoutPolicy::ResendNewStan
                if txn.sends < self.cfg.reversal_attempts.max(1) =>
            {
                if self.cfg.on_timeout == TimeoutPolicy::ResendNewStan {
                    txn.stan = self.next_stan();
                    let when = self.cfg.calendar.at(now);
                    txn.transmission = when.mmddhhmmss();
                    let msg = build::request(&self.fields, &txn, &when);
                    if let Ok(w) = build::seal(&self.cfg, msg) {
                        txn.wire = w;
                    }
                }
                txn.sends += 1;
                txn.token = self.token();
                out.push(Output::Send(Outgoing {
                    bytes: txn.wire.clone(),
                    mti: Mti::REQUEST,
                    stan: txn.stan,
                    purpose: Purpose::Resend,
                    purchase: Some(txn.purchase.id),
                }));
                out.push(Output::Timer { token: txn.token, at: now + self.cfg.response_timeout });
                self.stage = Stage::AwaitResponse(txn);
                return;
            }
            _ => {}
        }
        // Unable to go online: the card is told so (ARC Z3) and declines.
        if txn.read.entry == Entry::Chip {
            let td = self.term_data(&txn, now);
            let data = txn.read.cdol2.clone().unwrap_or_default().fill(|t| match t {
                0x8A => Some(&b"Z3"[..]),
                0x91 => Some(&[0; 10][..]),
                other => td.get(other),
            });
            let _ = exchange(card, &Command::generate_ac(cryptogram::AAC, &data));
        }
        let mut c = self.completion(
            &txn.purchase,
            Outcome::Timeout,
            None,
            "no response from the host",
            Some(&txn),
        );
        c.round_trip = None;
        out.push(Output::Completed(c));
        if matches!(self.cfg.on_timeout, TimeoutPolicy::Reverse | TimeoutPolicy::ResendSameStan) {
            self.queue_reversal(now + card.elapsed(), &txn, out);
        }
    }

    fn retry_reversal(&mut self, now: SimTime, i: usize, out: &mut Vec<Output>) {
        let token = self.token();
        let cfg = &self.cfg;
        let Some(r) = self.reversals.get_mut(i) else { return };
        r.token = token;
        if r.waiting {
            // The wait of a stored reversal is over: try again.
            r.waiting = false;
        } else if r.attempts >= cfg.reversal_max_attempts {
            let r = self.reversals.remove(i);
            out.push(Output::Note(Note::ReversalAbandoned { stan: r.stan, purchase: r.purchase }));
            return;
        } else if r.attempts >= cfg.reversal_attempts {
            // Immediate tries used up: keep it and try again later.
            if r.attempts == cfg.reversal_attempts {
                out.push(Output::Note(Note::ReversalStored { stan: r.stan }));
            }
            r.waiting = true;
            out.push(Output::Timer { token, at: now + cfg.reversal_retry });
            return;
        }
        r.attempts += 1;
        out.push(Output::Send(Outgoing {
            bytes: r.wire.clone(),
            mti: Mti::REVERSAL,
            stan: r.stan,
            purpose: Purpose::Reversal,
            purchase: Some(r.purchase),
        }));
        out.push(Output::Timer { token, at: now + cfg.response_timeout });
    }
}

/// Sends one command; `None` when the card is mute or answers garbage.
fn exchange(card: &mut dyn CardChannel, cmd: &Command) -> Option<Reply> {
    let raw = card.transmit(&cmd.to_bytes());
    (raw.len() >= 2).then_some(Reply { raw })
}

/// A card's answer as received: data then SW1 SW2, not copied apart.
struct Reply {
    raw: Vec<u8>,
}

impl Reply {
    fn sw(&self) -> StatusWord {
        let n = self.raw.len();
        StatusWord(u16::from_be_bytes([
            self.raw.get(n - 2).copied().unwrap_or(0),
            self.raw.get(n - 1).copied().unwrap_or(0),
        ]))
    }

    fn data(&self) -> &[u8] {
        self.raw.get(..self.raw.len() - 2).unwrap_or_default()
    }

    fn into_data(mut self) -> Vec<u8> {
        self.raw.truncate(self.raw.len() - 2);
        self.raw
    }
}
