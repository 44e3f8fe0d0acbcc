//! Going online and hearing back: the first GENERATE AC, the 0200, the
//! response with its ARPC and the second GENERATE AC, and what a careful
//! terminal does with an answer it cannot trust (a 94, a decline after
//! copies were resent): it reverses.

use super::*;

impl TerminalCore {
    /// First GENERATE AC (chip), then the 0200.
    pub(super) fn go_online(
        &mut self,
        now: SimTime,
        mut txn: Txn,
        card: &mut dyn CardChannel,
        out: &mut Vec<Output>,
    ) {
        let offline_ok = self.cfg.floor_limit.0 > 0
            && !txn.purchase.refund
            && txn.purchase.amount < self.cfg.floor_limit;
        let mut offline_tc = false;
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
            // Terminal risk management: under a floor limit the terminal
            // asks the card to approve offline (a TC); else to go online.
            let requested = if offline_ok { cryptogram::TC } else { cryptogram::ARQC };
            let Some(resp) = exchange(card, &Command::generate_ac(requested, &cdol_data))
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
            let answer = tlv::DeepIndex::new(resp.data());
            let get = |tag: u32| answer.get(tag);
            let cid = get(0x9F27).and_then(|c| c.first().copied()).map(|c| c & 0xC0);
            // A card may answer with less than was asked (AAC < ARQC < TC),
            // never more: a TC to a request for an ARQC is no genuine card.
            let refused = match cid {
                Some(cryptogram::ARQC) => None,
                Some(cryptogram::TC) if offline_ok => None,
                Some(cryptogram::TC) => {
                    Some("the card approved by itself (TC) a payment the terminal sends online")
                }
                _ => Some("card declined (AAC)"),
            };
            if let Some(reason) = refused {
                out.push(Output::Completed(self.completion(
                    &txn.purchase,
                    Outcome::DeclinedOffline,
                    None,
                    reason,
                    Some(&txn),
                )));
                return;
            }
            offline_tc = cid == Some(cryptogram::TC);
            let mut icc = Vec::with_capacity(96);
            let mut has_cvm = false;
            for (tag, v) in cdol.split(&cdol_data).unwrap_or_default() {
                has_cvm |= tag == 0x9F34;
                tlv::write(&mut icc, tag, v);
            }
            // The terminal's own account of the cardholder verification,
            // which the issuer can hold against the card's CVR.
            if !has_cvm && let Some(cvm) = data.get(0x9F34) {
                tlv::write(&mut icc, 0x9F34, cvm);
            }
            tlv::write(&mut icc, 0x82, &txn.read.aip);
            for tag in [0x9F36, 0x9F26, 0x9F27, 0x9F10] {
                tlv::write(&mut icc, tag, get(tag).unwrap_or_default());
            }
            if let Some(psn) = txn.read.psn {
                tlv::write(&mut icc, 0x5F34, &[psn]);
            }
            if !txn.read.aid.is_empty() {
                tlv::write(&mut icc, 0x84, &txn.read.aid);
            }
            txn.read.icc = icc;
        }
        let now = now + card.elapsed();
        txn.stan = self.next_stan();
        let when = self.cfg.calendar.at(now);
        txn.transmission = when.mmddhhmmss();
        txn.rrn = when.rrn(txn.stan);
        if offline_tc {
            self.approve_offline(now, txn, &when, out);
            return;
        }
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

    /// The card approved offline under the floor limit: the goods go, and
    /// the purchase is sent to the host as an advice (0220) for clearing,
    /// where the issuer checks the TC and pays, or refuses to.
    fn approve_offline(
        &mut self,
        now: SimTime,
        txn: Txn,
        when: &crate::time::DateTime,
        out: &mut Vec<Output>,
    ) {
        let msg = build::advice(&self.fields, &txn, when);
        match build::seal(&self.cfg, msg) {
            Ok(wire) => {
                // Stored and forwarded like a reversal, until the host answers.
                let token = self.token();
                out.push(Output::Send(Outgoing {
                    bytes: wire.clone(),
                    mti: Mti::ADVICE,
                    stan: txn.stan,
                    purpose: Purpose::Advice,
                    purchase: Some(txn.purchase.id),
                }));
                out.push(Output::Timer { token, at: now + self.cfg.response_timeout });
                self.reversals.push(PendingReversal {
                    purchase: txn.purchase.id,
                    stan: txn.stan,
                    wire,
                    attempts: 1,
                    token,
                    waiting: false,
                    advice: true,
                });
            }
            Err(_) => out.push(Output::Note(Note::AdviceAbandoned {
                stan: txn.stan,
                purchase: txn.purchase.id,
            })),
        }
        self.count(&txn);
        out.push(Output::Completed(self.completion(
            &txn.purchase,
            Outcome::ApprovedOffline,
            None,
            "approved offline by the card under the floor limit (TC)",
            Some(&txn),
        )));
    }

    /// Counts an approved sale in the batch totals. `start` refused any
    /// sale they could not hold, and one sale is served at a time, so this
    /// always fits.
    fn count(&mut self, txn: &Txn) {
        let fits = self.totals.add(txn.purchase.amount, txn.purchase.refund);
        debug_assert!(fits.is_ok(), "start() checks the totals can hold the sale");
    }

    pub(super) fn completion(
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
                match self.reversals.iter().position(|r| !r.advice && Some(r.stan) == stan) {
                    Some(i) if approved => {
                        let r = self.reversals.remove(i);
                        out.push(Output::Note(Note::ReversalAcknowledged {
                            stan: r.stan,
                            purchase: r.purchase,
                        }));
                        // The last of those sent ahead of a purchase: go on.
                        if matches!(self.stage, Stage::AwaitReversals(..))
                            && self.reversals.iter().all(|r| r.waiting)
                        {
                            self.reversals_done(now, card, out);
                        }
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
            // Any answer, paid or refused, ends the advice's store-and-forward.
            Mti::ADVICE_RESPONSE => {
                if let Some(i) =
                    self.reversals.iter().position(|r| r.advice && Some(r.stan) == stan)
                {
                    self.reversals.remove(i);
                }
                out.push(Output::Note(Note::AdviceAnswered {
                    stan: stan.unwrap_or(0),
                    response: msg.response_code(),
                }));
            }
            _ => out.push(Output::Note(Note::ResponseIgnored {
                reason: "unexpected message type",
                stan,
            })),
        }
    }

    pub(super) fn on_response(
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
            let late = self.recent.iter().position(|(_, t)| Some(t.stan) == stan);
            if let (true, Some(i)) = (approved, late)
                && let Some((_, txn)) = self.recent.remove(i)
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
            self.count(&txn);
        } else if !reversed && careful {
            self.remember(now, txn);
        }
        out.push(Output::Completed(c));
    }
}
