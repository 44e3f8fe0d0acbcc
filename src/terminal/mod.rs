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
mod online;
mod reversal;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
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
    /// Send stored reversals before the next purchase, rather than only
    /// when their wait is over.
    pub reversals_first: bool,
    /// Reads chips.
    pub chip: bool,
    /// Reads magstripes.
    pub magstripe: bool,
    /// Reads contactless cards.
    pub contactless: bool,
    /// Contactless amounts up to this need no CVM.
    pub contactless_cvm_limit: Money,
    /// Chip purchases below this may be approved offline by the card (EMV
    /// terminal risk management: an amount at or above it goes online;
    /// 0.00: online only, every purchase goes to the host).
    pub floor_limit: Money,
    /// Accepts offline PIN (VERIFY).
    pub offline_pin: bool,
    /// Unpredictable number source.
    pub un: UnpredictableNumber,
    /// Maps virtual time to the dates on the wire.
    pub calendar: Calendar,
    /// The device's serial number (field 62 of the sign-on).
    pub serial: String,
    /// Relay resistance: the longest a contactless card may take to answer
    /// the whole read; slower, and the terminal declines (a relay adds the
    /// round trip to a card far away). None: no bound, as most terminals.
    pub relay_bound: Option<Duration>,
}

/// How the customer presents the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CvmPerformed {
    /// PIN block sent to the issuer.
    OnlinePin,
    /// PIN checked by the card.
    OfflinePin,
    /// None (contactless under the limit).
    NoCvm,
    /// The cardholder's own device verified them (a phone or watch), as the
    /// card's CTQ (9F6C) says: contactless above the limit without a PIN.
    ConsumerDevice,
}

/// The end of a customer transaction: what the receipt says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Approved: goods handed over.
    Approved,
    /// Declined by the host (the code says why).
    Declined,
    /// Declined by the card or the terminal without going online.
    DeclinedOffline,
    /// Approved by the card without going online, under the terminal's
    /// floor limit; the host hears of it afterwards (0220) and pays or not.
    ApprovedOffline,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// A 0220 advice of an offline approval, for clearing.
    Advice,
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
        #[serde(deserialize_with = "crate::names::intern")]
        reason: crate::names::Static,
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
    /// An advice got no answer after every try: the merchant may never be
    /// paid for that offline approval.
    AdviceAbandoned {
        /// Its STAN.
        stan: u32,
        /// The purchase.
        purchase: u64,
    },
    /// The host answered an advice: it cleared the offline approval (00)
    /// or refused to pay for it.
    AdviceAnswered {
        /// Its STAN.
        stan: u32,
        /// The host's answer.
        response: Option<ResponseCode>,
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
    /// Stored reversals went out first; the purchase waits for their
    /// answers (or the timer with this token).
    AwaitReversals(Purchase, u64),
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
    /// A 0220 advice of an offline approval rather than a 0400: it goes
    /// through the same store-and-forward until the host answers.
    advice: bool,
}

impl PendingReversal {
    fn mti(&self) -> Mti {
        if self.advice { Mti::ADVICE } else { Mti::REVERSAL }
    }

    fn purpose(&self) -> Purpose {
        if self.advice { Purpose::Advice } else { Purpose::Reversal }
    }
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
    /// The timer of the sign-on waiting for its 0810 (or for its retry).
    sign_on_token: Option<u64>,
    /// True while waiting to send the sign-on again.
    sign_on_waiting: bool,
    /// Purchases lately concluded as not approved and not reversed: if an
    /// approval for one still arrives, it is reversed.
    recent: std::collections::VecDeque<(SimTime, Box<Txn>)>,
}

/// How long a terminal remembers a purchase it concluded without approval,
/// for a late approval to be reversed: the host's duplicate window.
const RECENT_FOR: Duration = Duration::from_secs(24 * 3600);
/// The most such purchases it keeps (memory stays bounded).
const RECENT_MAX: usize = 10_000;

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
            sign_on_waiting: false,
            reversals: Vec::new(),
            totals: Totals::default(),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &TerminalConfig {
        &self.cfg
    }

    /// Puts other keys in the device and returns the ones it had: a device
    /// swapped in by a fake technician does not hold the shop's keys.
    pub fn swap_keys(&mut self, tak: TdesKey, tpk: TdesKey) -> (TdesKey, TdesKey) {
        (std::mem::replace(&mut self.cfg.tak, tak), std::mem::replace(&mut self.cfg.tpk, tpk))
    }

    /// Another device takes this terminal id: its own serial (the old one
    /// is returned). The driver has it sign on afresh, as a device does
    /// when it is plugged in.
    pub fn swap_serial(&mut self, serial: String) -> String {
        std::mem::replace(&mut self.cfg.serial, serial)
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

    /// Continues the STAN sequence after `last` (a terminal that starts
    /// afresh against a host that remembers: `possim terminal --pcsc
    /// --connect` run again must not repeat the last run's STANs).
    pub fn continue_stans_after(&mut self, last: u32) {
        self.stan = last % 999_999;
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
        m.set(62, &self.cfg.serial);
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
        if self.totals.with(purchase.amount, purchase.refund).is_err() {
            // A batch whose totals cannot hold the sale must be settled
            // first: an approval the totals could not count would be lost
            // at settlement.
            out.push(Output::Completed(self.completion(
                &purchase,
                Outcome::DeclinedOffline,
                None,
                "the terminal's batch totals are full: settle before the next sale",
                None,
            )));
            return;
        }
        if self.cfg.reversals_first && self.reversals.iter().any(|r| r.waiting) {
            self.reversals_first(now, out);
            let token = self.token();
            out.push(Output::Timer { token, at: now + self.cfg.response_timeout });
            self.stage = Stage::AwaitReversals(purchase, token);
            return;
        }
        self.serve(now, purchase, card, out);
    }

    /// Reads the card and goes on with the purchase.
    fn serve(
        &mut self,
        now: SimTime,
        purchase: Purchase,
        card: &mut dyn CardChannel,
        out: &mut Vec<Output>,
    ) {
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
            CvmPerformed::NoCvm | CvmPerformed::ConsumerDevice => {}
        }
        self.go_online(now, *txn, card, out);
    }

    /// What someone who watched this terminal's unpredictable numbers would
    /// expect its next `n` to be: exact for a counter; for a random source,
    /// a guess that will not come true.
    pub fn next_uns(&self, n: u32) -> Vec<[u8; 4]> {
        (1..=n).map(|k| self.un_counter.wrapping_add(k).to_be_bytes()).collect()
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
