//! One purchase at a counter: possim's terminal stack (the scenario's first
//! terminal, signed on) with whatever card is in its reader, a real card
//! over PC/SC (`possim terminal --pcsc`) or any other [`CardChannel`],
//! against the scenario's host, in-process or real software on a socket.
//! The scenario's chip-side devices (a PIN-bypass wedge, a shimmer) sit
//! between the reader and the card, as in the world.
//!
//! Time is virtual: a host that does not answer (or a connection that
//! breaks) lets the terminal's own timers fire at once, so the purchase
//! times out as it would at a real counter and a request that went out is
//! reversed (tried again as the terminal's policy says).

use crate::attack::{PinWedge, Shimmer};
use crate::host::{CardRecord, HostCore, TerminalRecord};
use crate::money::Money;
use crate::rng::Stream;
use crate::scenario::AttackKind;
use crate::sim::Plan;
use crate::terminal::{
    CardChannel, CardTap, Completion, Note, Output, Presentation, Purchase, TerminalCore,
    through_taps,
};
use crate::time::{Duration, SimTime};

/// Where the terminal's frames go.
pub trait Uplink {
    /// One request and its answer (None: no answer came).
    fn call(&mut self, frame: &[u8]) -> Result<Option<Vec<u8>>, String>;
}

/// The scenario's host, in this process: its keys, cards and accounts.
pub struct LocalHost {
    host: HostCore,
    now: SimTime,
}

impl LocalHost {
    /// The plan's host with its terminals and cards registered.
    pub fn new(plan: &Plan) -> Result<Self, String> {
        let mut host = HostCore::new(plan.host.clone());
        for t in &plan.terminals {
            let c = &t.config;
            host.add_terminal(
                &c.tid,
                TerminalRecord {
                    tak: c.tak.clone(),
                    tpk: c.tpk.clone(),
                    mid: c.mid.clone(),
                    serial: c.serial.clone(),
                },
            );
        }
        plan.issue_cards(|c| {
            let account = host.open_account(c.balance);
            let d = &c.data;
            host.add_card(
                &d.pan,
                CardRecord::new(d.psn(), d.expiry(), d.service_code(), d.pvki(), d.pvv(), account),
            );
        })
        .map_err(|e| format!("the scenario's cards cannot be issued: {e}"))?;
        Ok(Self { host, now: SimTime(0) })
    }
}

impl Uplink for LocalHost {
    fn call(&mut self, frame: &[u8]) -> Result<Option<Vec<u8>>, String> {
        self.now = self.now + Duration::from_millis(50);
        Ok(self.host.handle(self.now, frame).response)
    }
}

/// What the purchase came to.
#[derive(Debug)]
pub struct Sale {
    /// The receipt.
    pub completion: Completion,
    /// What the terminal noted on the way (wrong offline PINs, reversals).
    pub notes: Vec<Note>,
    /// Frames sent, and answers received.
    pub frames: (usize, usize),
    /// Tries at the PIN.
    pub pin_tries: u32,
    /// What went wrong on the way to the host (the first few).
    pub transport: Vec<String>,
    /// Reversals the terminal could not deliver (the host may keep the money).
    pub pending_reversals: usize,
}

/// The counter: a signed-on terminal and the devices in its reader.
pub struct Counter {
    term: TerminalCore,
    taps: Vec<Box<dyn CardTap>>,
    now: SimTime,
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counter").field("taps", &self.taps.len()).finish_non_exhaustive()
    }
}

impl Counter {
    /// The plan's first terminal, with the scenario's chip-side devices
    /// fitted if `attacks`, signed on through `uplink`; its STANs continue
    /// after `last_stan` (a real host remembers the last run's).
    pub fn new(
        plan: &Plan,
        attacks: bool,
        last_stan: u32,
        uplink: &mut dyn Uplink,
    ) -> Result<Self, String> {
        let t = plan.terminals.first().ok_or("the scenario has no terminal")?;
        let cfg = t.config.clone();
        let rng = Stream::derive(plan.seed, &format!("terminal/{}", cfg.tid));
        let mut taps: Vec<Box<dyn CardTap>> = Vec::new();
        for (i, a) in plan.attacks.iter().enumerate().filter(|_| attacks) {
            match a.kind {
                AttackKind::Shimmer {} => taps.push(Box::new(Shimmer::new(i))),
                AttackKind::StolenCards { wedge: true, .. } => {
                    taps.push(Box::new(PinWedge::default()));
                }
                _ => {}
            }
        }
        let mut term = TerminalCore::new(cfg, rng);
        term.continue_stans_after(last_stan);
        let mut c = Self { term, taps, now: SimTime(0) };
        let mut out = Vec::new();
        c.term.sign_on(c.now, &mut out);
        let mut none = Null;
        c.run(out, uplink, &mut none, &mut |_| None, &mut Vec::new())?;
        if !c.term.signed_on() {
            return Err("the host did not accept the terminal's sign-on".into());
        }
        Ok(c)
    }

    /// The devices fitted between reader and card.
    pub fn devices(&self) -> Vec<&'static str> {
        self.taps.iter().map(|t| t.name()).collect()
    }

    /// One purchase of `amount` with the card in `card`; `pin` is asked for
    /// the PIN each time the terminal wants it (its argument: tries so far),
    /// None cancels.
    pub fn purchase(
        &mut self,
        card: &mut dyn CardChannel,
        amount: Money,
        uplink: &mut dyn Uplink,
        pin: &mut dyn FnMut(u32) -> Option<String>,
    ) -> Result<Sale, String> {
        let p = Purchase { id: 1, amount, refund: false, presentation: Presentation::Insert };
        let mut out = Vec::new();
        let taps = &mut self.taps;
        let (term, now) = (&mut self.term, self.now);
        through_taps(taps, card, |ch| term.start(now, p, ch, &mut out));
        let mut notes = Vec::new();
        let sale = self.run(out, uplink, card, pin, &mut notes)?;
        sale.ok_or_else(|| "the purchase did not complete".into())
    }

    /// Timers the terminal asked for, not yet fired.
    fn due(timers: &mut Vec<(u64, SimTime)>) -> Option<(u64, SimTime)> {
        let i = (0..timers.len()).min_by_key(|&i| timers.get(i).map(|t| t.1))?;
        Some(timers.swap_remove(i))
    }

    /// Runs the terminal's outputs until none is left; when the host is
    /// silent, the terminal's timers fire (a timeout, its reversal).
    fn run(
        &mut self,
        mut outs: Vec<Output>,
        uplink: &mut dyn Uplink,
        card: &mut dyn CardChannel,
        pin: &mut dyn FnMut(u32) -> Option<String>,
        notes: &mut Vec<Note>,
    ) -> Result<Option<Sale>, String> {
        let (mut sent, mut answered, mut tries) = (0, 0, 0u32);
        let mut done = None;
        let mut timers: Vec<(u64, SimTime)> = Vec::new();
        let mut transport = Vec::new();
        // Enough for a timeout and every try at its reversal.
        let mut fired = 0;
        loop {
            if outs.is_empty() {
                let waiting = done.is_none() || self.term.pending_reversals() > 0;
                match Self::due(&mut timers).filter(|_| waiting && fired < 64) {
                    Some((token, at)) => {
                        fired += 1;
                        self.now = self.now.max(at);
                        let (term, taps, now) = (&mut self.term, &mut self.taps, self.now);
                        through_taps(taps, card, |ch| term.timer(now, token, ch, &mut outs));
                        continue;
                    }
                    None => break,
                }
            }
            let mut next = Vec::new();
            for o in outs {
                self.now = self.now + Duration::from_millis(20);
                let now = self.now;
                let (term, taps) = (&mut self.term, &mut self.taps);
                match o {
                    Output::RequestPin { .. } => {
                        let typed = pin(tries);
                        tries += 1;
                        through_taps(taps, card, |ch| {
                            term.pin_entered(now, typed.as_deref(), ch, &mut next)
                        });
                    }
                    Output::Send(f) => {
                        sent += 1;
                        let answer = uplink.call(&f.bytes).unwrap_or_else(|e| {
                            if transport.len() < 5 {
                                transport.push(e);
                            }
                            None
                        });
                        if let Some(answer) = answer {
                            answered += 1;
                            through_taps(taps, card, |ch| {
                                term.receive(now, &answer, ch, &mut next)
                            });
                        }
                    }
                    Output::Timer { token, at } => timers.push((token, at)),
                    Output::Completed(c) => done = Some(c),
                    Output::Note(n) => notes.push(n),
                }
            }
            outs = next;
        }
        Ok(done.map(|completion| Sale {
            completion,
            notes: std::mem::take(notes),
            frames: (sent, answered),
            pin_tries: tries,
            transport,
            pending_reversals: self.term.pending_reversals(),
        }))
    }
}

/// No card (the sign-on needs none).
struct Null;

impl CardChannel for Null {
    fn power_on(&mut self, _: crate::card::Interface) -> Vec<u8> {
        Vec::new()
    }
    fn transmit(&mut self, _: &[u8]) -> Vec<u8> {
        Vec::new()
    }
    fn swipe(&mut self) -> Option<String> {
        None
    }
}
