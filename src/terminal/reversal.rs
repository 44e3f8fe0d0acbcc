//! Timeouts and reversals: resending under `ResendSameStan`, the reversal
//! after a timeout, its immediate tries, then store-and-forward retries
//! until the host acknowledges it or the terminal gives up (an alert), and
//! the memory of recent declines that lets a late approval be reversed.

use super::*;

impl TerminalCore {
    /// Keeps a purchase concluded without approval, so a late approval for
    /// it can still be reversed.
    pub(super) fn remember(&mut self, now: SimTime, txn: Box<Txn>) {
        while self.recent.front().is_some_and(|(at, _)| now.since(*at) > RECENT_FOR)
            || self.recent.len() >= RECENT_MAX
        {
            self.recent.pop_front();
        }
        self.recent.push_back((now, txn));
    }

    pub(super) fn queue_reversal(&mut self, now: SimTime, txn: &Txn, out: &mut Vec<Output>) {
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
            advice: false,
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
            // No 0810 in time: wait `reversal_retry`, then sign on again.
            if self.sign_on_waiting {
                self.sign_on_waiting = false;
                self.sign_on(now, out);
            } else {
                self.sign_on_waiting = true;
                let wait = self.token();
                self.sign_on_token = Some(wait);
                out.push(Output::Timer { token: wait, at: now + self.cfg.reversal_retry });
            }
            return;
        }
        // The reversals sent ahead got no answer in time: the purchase goes
        // on (they keep their own retries).
        if matches!(self.stage, Stage::AwaitReversals(_, t) if t == token) {
            self.reversals_done(now, card, out);
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

    /// The reversals sent ahead of a purchase are answered (or given up
    /// on): the purchase goes on.
    pub(super) fn reversals_done(
        &mut self,
        now: SimTime,
        card: &mut dyn CardChannel,
        out: &mut Vec<Output>,
    ) {
        if let Stage::AwaitReversals(p, _) = std::mem::replace(&mut self.stage, Stage::Idle) {
            self.serve(now, p, card, out);
        }
    }

    /// Sends every stored reversal now, ahead of the purchase about to
    /// start: the host releases what they hold before it authorises
    /// anything new from this terminal (a card is not refused for money a
    /// failed earlier try still holds).
    pub(super) fn reversals_first(&mut self, now: SimTime, out: &mut Vec<Output>) {
        for i in 0..self.reversals.len() {
            if self.reversals[i].waiting {
                self.retry_reversal(now, i, out);
            }
        }
    }

    pub(super) fn retry_reversal(&mut self, now: SimTime, i: usize, out: &mut Vec<Output>) {
        let token = self.token();
        let cfg = &self.cfg;
        let Some(r) = self.reversals.get_mut(i) else { return };
        r.token = token;
        if r.waiting {
            // The wait of a stored reversal is over: try again.
            r.waiting = false;
        } else if r.attempts >= cfg.reversal_max_attempts {
            let r = self.reversals.remove(i);
            let (stan, purchase) = (r.stan, r.purchase);
            out.push(Output::Note(if r.advice {
                Note::AdviceAbandoned { stan, purchase }
            } else {
                Note::ReversalAbandoned { stan, purchase }
            }));
            return;
        } else if r.attempts >= cfg.reversal_attempts {
            // Immediate tries used up: keep it and try again later.
            if r.attempts == cfg.reversal_attempts && !r.advice {
                out.push(Output::Note(Note::ReversalStored { stan: r.stan }));
            }
            r.waiting = true;
            out.push(Output::Timer { token, at: now + cfg.reversal_retry });
            return;
        }
        r.attempts += 1;
        out.push(Output::Send(Outgoing {
            bytes: r.wire.clone(),
            mti: r.mti(),
            stan: r.stan,
            purpose: r.purpose(),
            purchase: Some(r.purchase),
        }));
        out.push(Output::Timer { token, at: now + cfg.response_timeout });
    }
}
