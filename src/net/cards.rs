//! `possim cards --vpcd ADDR`: the scenario's chip cards in a real PC/SC
//! stack. possim connects to vsmartcard's vpcd (the reader driver inside
//! pcscd) as the card in its reader: any PC/SC software (opensc-tool, a
//! terminal stack, a payment kernel under test) then powers the card, reads
//! its ATR and sends it APDUs, which the same card application the world
//! uses answers. The scenario's chip-side devices (a shimmer, a PIN-bypass
//! wedge) sit between the reader and the card, as they would in a slot, and
//! what they take is journalled.
//!
//! [`Slot`] is the sans-IO part (messages in, answers and records out);
//! [`serve`] is the thin blocking driver around one TCP connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration as WallDuration, Instant};

use crate::attack::{Loot, PinWedge, Shimmer};
use crate::card::vpcd::{Decoder, Message, frame};
use crate::card::{Card, Interface};
use crate::protocol::pan::mask_pan;
use crate::scenario::AttackKind;
use crate::sim::{Apdu, Journal, Mode, MonitorSetup, Plan, Record};
use crate::terminal::{CardChannel, CardTap, through_taps};
use crate::time::SimTime;

/// How `possim cards` presents the scenario's cards.
#[derive(Debug, Clone)]
pub struct CardsOptions {
    /// Where vpcd listens (its first reader: 127.0.0.1:35963).
    pub vpcd: SocketAddr,
    /// Present only this card (its PAN); otherwise each session's card is
    /// the next one, in the scenario's order.
    pub card: Option<String>,
    /// Present the cards as contactless (PPSE, the card's online
    /// cryptogram in GPO) rather than contact.
    pub contactless: bool,
    /// Fit the scenario's chip-side devices (shimmer, PIN-bypass wedge)
    /// between the reader and the card.
    pub attacks: bool,
}

/// Why the cards could not be presented.
#[derive(Debug, thiserror::Error)]
pub enum CardsError {
    /// The scenario has no chip card to present, or not the one asked for.
    #[error("{0}")]
    NoCard(String),
    /// vpcd could not be reached, or the connection failed.
    #[error("vpcd at {addr}: {source}")]
    Io {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// One card as presented: its masked number and the card application.
struct Inserted {
    masked: String,
    card: Card,
}

/// The reader slot vpcd talks to: the cards, the one inserted, the devices
/// between reader and card, and the records of what happened. No IO.
pub struct Slot {
    cards: Vec<Inserted>,
    current: usize,
    fixed: bool,
    interface: Interface,
    atr: Vec<u8>,
    powered: bool,
    /// Sessions so far that exchanged APDUs (pcscd's own power cycles,
    /// with none, do not count).
    pub sessions: u64,
    /// APDUs answered so far.
    pub apdus: u64,
    log: Vec<Apdu>,
    taps: Vec<Box<dyn CardTap>>,
    loot: Loot,
    /// The attack each device belongs to, and its name.
    owners: Vec<(usize, &'static str)>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("cards", &self.cards.len())
            .field("current", &self.current)
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

/// The reader as possim's drivers name it in records.
const READER: &str = "vpcd";

impl Slot {
    /// The plan's chip cards (or the one asked for), with the scenario's
    /// chip-side devices fitted if `attacks`.
    pub fn new(plan: &Plan, opts: &CardsOptions) -> Result<Self, CardsError> {
        let mut cards = Vec::new();
        let issued = plan.issue_cards(|c| {
            let wanted = opts.card.as_deref().is_none_or(|p| p == c.data.pan);
            // A card presented contactless must have the antenna for it.
            let fits = !opts.contactless || c.profile.contactless;
            if wanted && fits && c.profile.chip && !c.broken {
                let masked = mask_pan(&c.data.pan);
                cards.push(Inserted {
                    masked,
                    card: Card::new(c.profile, c.data, Some(c.mk), c.atc),
                });
            }
        });
        if let Err(e) = issued {
            return Err(CardsError::NoCard(format!("the scenario's cards cannot be issued: {e}")));
        }
        if cards.is_empty() {
            return Err(CardsError::NoCard(match &opts.card {
                Some(p) => format!(
                    "no chip card {} in the scenario (possim cards --list shows them)",
                    mask_pan(p)
                ),
                None if opts.contactless => {
                    "the scenario has no working contactless card to present".into()
                }
                None => "the scenario has no working chip card to present".into(),
            }));
        }
        let mut taps: Vec<Box<dyn CardTap>> = Vec::new();
        let mut owners = Vec::new();
        for (i, a) in plan.attacks.iter().enumerate().filter(|_| opts.attacks) {
            match a.kind {
                AttackKind::Shimmer {} => {
                    taps.push(Box::new(Shimmer::new(i)));
                    owners.push((i, a.name()));
                }
                AttackKind::StolenCards { wedge: true, .. } => {
                    taps.push(Box::new(PinWedge::default()));
                    owners.push((i, "pin_wedge"));
                }
                _ => {}
            }
        }
        Ok(Self {
            cards,
            current: 0,
            fixed: opts.card.is_some(),
            interface: if opts.contactless { Interface::Contactless } else { Interface::Contact },
            atr: Vec::new(),
            powered: false,
            sessions: 0,
            apdus: 0,
            log: Vec::new(),
            taps,
            loot: Loot::default(),
            owners,
        })
    }

    /// The masked number of the card in the slot now.
    pub fn inserted(&self) -> &str {
        self.cards.get(self.current).map_or("", |c| c.masked.as_str())
    }

    /// The devices fitted, by name.
    pub fn devices(&self) -> Vec<&'static str> {
        self.taps.iter().map(|t| t.name()).collect()
    }

    /// The card's ATC and PIN tries left (its state persists across sessions).
    pub fn card_state(&self) -> Option<(u16, u8)> {
        self.cards.get(self.current).map(|c| (c.card.atc(), c.card.pin_tries_left()))
    }

    /// One message from vpcd: the answer to send back, if any, and the
    /// records it makes.
    pub fn handle(&mut self, m: Message) -> (Option<Vec<u8>>, Vec<Record>) {
        let mut records = Vec::new();
        let answer = match m {
            Message::PowerOn | Message::Reset => {
                if self.powered {
                    self.end_session(&mut records);
                }
                self.power_on();
                None
            }
            Message::PowerOff => {
                if self.powered {
                    // One after another: after a session that used the card
                    // (not pcscd's own power cycles), the next card.
                    let used = self.end_session(&mut records);
                    self.powered = false;
                    if used && !self.fixed {
                        self.current = (self.current + 1) % self.cards.len().max(1);
                    }
                }
                None
            }
            Message::GetAtr => {
                if !self.powered {
                    self.power_on();
                }
                Some(self.atr.clone())
            }
            Message::Apdu(c) => {
                if !self.powered {
                    self.power_on();
                }
                Some(self.transmit(&c, &mut records))
            }
            Message::Unknown(b) => {
                records.push(Record::CommandApplied {
                    command: "vpcd_control",
                    target: format!("unknown control byte {b:#04x}, ignored"),
                    applied: false,
                });
                None
            }
            Message::Empty => None,
        };
        (answer, records)
    }

    fn power_on(&mut self) {
        let interface = self.interface;
        let (taps, cards, current) = (&mut self.taps, &mut self.cards, self.current);
        let Some(ins) = cards.get_mut(current) else { return };
        let mut slot = Contacts { card: &mut ins.card, seen: 0 };
        self.atr = through_taps(taps, &mut slot, |ch| ch.power_on(interface));
        self.powered = true;
    }

    fn transmit(&mut self, capdu: &[u8], records: &mut Vec<Record>) -> Vec<u8> {
        self.apdus += 1;
        let (taps, cards, current) = (&mut self.taps, &mut self.cards, self.current);
        let Some(ins) = cards.get_mut(current) else { return vec![0x6A, 0x82] };
        let mut slot = Contacts { card: &mut ins.card, seen: 0 };
        let mut r = through_taps(taps, &mut slot, |ch| ch.transmit(capdu));
        if slot.seen == 0 {
            // Answered on the way, in the card's place.
            records.push(Record::DeviceAnswered {
                terminal: READER.into(),
                devices: self.taps.iter().map(|t| t.name()).collect::<Vec<_>>().join(", "),
                command: hex::encode_upper(capdu.get(..4).unwrap_or(capdu)),
                answer: hex::encode_upper(&r),
            });
        }
        if r.is_empty() {
            // A mute chip: vpcd needs an answer, or the PC/SC call waits
            // for ever. 6F00: no precise diagnosis.
            r = vec![0x6F, 0x00];
        }
        self.log.push(Apdu::masked(capdu, &r));
        self.collect(records);
        r
    }

    /// What the devices copied, as `stolen` records.
    fn collect(&mut self, records: &mut Vec<Record>) {
        for (k, tap) in self.taps.iter_mut().enumerate() {
            let Some(&(attack, name)) = self.owners.get(k) else { continue };
            for theft in tap.take() {
                let pan = mask_pan(&theft.pan);
                let what = theft.stolen.what();
                let (card, _) = self.loot.add(attack, theft);
                records.push(Record::Stolen {
                    attack,
                    name,
                    terminal: READER.into(),
                    purchase: None,
                    pan,
                    card,
                    what,
                });
            }
        }
    }

    /// Ends the session; true if it exchanged APDUs.
    fn end_session(&mut self, records: &mut Vec<Record>) -> bool {
        let apdus = std::mem::take(&mut self.log);
        if apdus.is_empty() {
            return false;
        }
        self.sessions += 1;
        let card = Some(self.inserted().to_string());
        records.push(Record::CardSession {
            terminal: READER.into(),
            purchase: self.sessions,
            card,
            apdus,
        });
        true
    }
}

/// The card in the slot, as the devices see it; counts the commands that
/// reach it.
struct Contacts<'a> {
    card: &'a mut Card,
    seen: u32,
}

impl CardChannel for Contacts<'_> {
    fn power_on(&mut self, interface: Interface) -> Vec<u8> {
        self.card.power_on(interface)
    }

    fn transmit(&mut self, capdu: &[u8]) -> Vec<u8> {
        self.seen += 1;
        self.card.transmit(capdu)
    }

    fn swipe(&mut self) -> Option<String> {
        Some(self.card.magstripe())
    }
}

/// What a `possim cards` run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CardsReport {
    /// Connections made to vpcd.
    pub connections: u64,
    /// Sessions (power-ons and resets).
    pub sessions: u64,
    /// APDUs answered.
    pub apdus: u64,
    /// Peers dropped for a message cut short or a broken connection.
    pub dropped: u64,
}

/// How long one wait for vpcd lasts before the stop flag is looked at.
const POLL: WallDuration = WallDuration::from_millis(200);

/// Presents the cards to vpcd until `stop` is set: connects (and connects
/// again if pcscd goes away), answers every message, journals each session.
/// Returns an error only if vpcd cannot be reached at all at the start.
pub fn serve(
    plan: &Plan,
    opts: &CardsOptions,
    mut journal: Option<Journal>,
    stop: Arc<AtomicBool>,
    mut on_connect: impl FnMut(&Slot),
) -> Result<CardsReport, CardsError> {
    let mut slot = Slot::new(plan, opts)?;
    let started = Instant::now();
    let mut seq = 0u64;
    let mut write = |journal: &mut Option<Journal>, r: &Record| {
        if let Some(j) = journal.as_mut() {
            seq += 1;
            let t = SimTime(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
            j.write(seq, t, r);
            // Each session is on disk when it ends, whatever happens next.
            if matches!(r, Record::CardSession { .. }) {
                j.flush();
            }
        }
    };
    write(&mut journal, &run_started(plan));
    let mut report = CardsReport::default();
    let mut stream = Some(connect(opts.vpcd)?);
    while !stop.load(Ordering::SeqCst) {
        let Some(s) = stream.as_mut() else {
            // pcscd went away: try again, as a card stays in its reader.
            std::thread::sleep(POLL);
            stream = connect(opts.vpcd).ok();
            continue;
        };
        report.connections += 1;
        on_connect(&slot);
        let end = session(s, &mut slot, &stop, &mut |r| write(&mut journal, r));
        if end.is_err() {
            report.dropped += 1;
        }
        stream = None;
    }
    // The session in progress ends with the run.
    let (_, records) = slot.handle(Message::PowerOff);
    for r in &records {
        write(&mut journal, r);
    }
    report.sessions = slot.sessions;
    report.apdus = slot.apdus;
    write(
        &mut journal,
        &Record::RunFinished {
            transactions: 0,
            frames: 0,
            in_flight: 0,
            in_flight_purchases: Vec::new(),
            pending_reversals: 0,
            digest: None,
        },
    );
    if let Some(j) = journal.as_mut() {
        j.flush();
        if let Some(e) = &j.error {
            return Err(CardsError::Io {
                addr: opts.vpcd,
                source: std::io::Error::other(format!("writing the journal: {e}")),
            });
        }
    }
    Ok(report)
}

fn connect(addr: SocketAddr) -> Result<TcpStream, CardsError> {
    let s = TcpStream::connect_timeout(&addr, WallDuration::from_secs(5))
        .map_err(|source| CardsError::Io { addr, source })?;
    s.set_read_timeout(Some(POLL)).map_err(|source| CardsError::Io { addr, source })?;
    // A peer that never reads is dropped, not waited for.
    s.set_write_timeout(Some(WallDuration::from_secs(5)))
        .map_err(|source| CardsError::Io { addr, source })?;
    s.set_nodelay(true).map_err(|source| CardsError::Io { addr, source })?;
    Ok(s)
}

/// One connection: until vpcd closes it, it breaks, or the run stops. An
/// error is a peer dropped (closed mid-message, or the socket failed).
fn session(
    s: &mut TcpStream,
    slot: &mut Slot,
    stop: &AtomicBool,
    record: &mut dyn FnMut(&Record),
) -> std::io::Result<()> {
    let mut decoder = Decoder::default();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let n = match s.read(&mut buf) {
            Ok(0) if decoder.pending() > 0 => {
                return Err(std::io::Error::other("vpcd closed the connection mid-message"));
            }
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        decoder.push(buf.get(..n).unwrap_or_default());
        while let Some(m) = decoder.next_message() {
            let (answer, records) = slot.handle(m);
            for r in &records {
                record(r);
            }
            if let Some(a) = answer {
                s.write_all(&frame(&a))?;
            }
        }
    }
    Ok(())
}

/// The journal's first line for a cards run: what the world's would say,
/// with no traffic.
fn run_started(plan: &Plan) -> Record {
    Record::RunStarted {
        scenario: plan.name.clone(),
        seed: plan.seed,
        start: plan.start.to_string(),
        duration: plan.duration.to_string(),
        dialect: plan.spec.name().to_string(),
        dialect_file: plan.dialect_file.clone(),
        terminals: 0,
        cardholders: plan.card_count(),
        faults: Vec::new(),
        mode: Mode::Cards,
        file: plan.file.clone(),
        description: plan.description.clone(),
        monitor: Box::new(MonitorSetup::of(plan)),
    }
}
