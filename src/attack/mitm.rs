//! A man in the middle on the line between a shop and its acquirer, as frame
//! rules: he reads (and keeps the track data of) every request, rewrites
//! amounts, or replays requests later. Through TLS he can do none of it: the
//! records are sealed, and a changed one fails its integrity check.

use super::{Stolen, Theft};
use crate::link::{Frame, Rule, Verdict};
use crate::protocol::track::Track2;
use crate::time::{Duration, SimTime};

/// Which terminals' connections TLS seals, and when a rogue certificate
/// breaks the seal of those that do not pin the host's.
#[derive(Debug, Clone, Default)]
pub struct Sealed {
    /// Terminals with TLS that accept any certificate from a known authority.
    pub tls: Vec<String>,
    /// Terminals with TLS that accept only the host's own certificate.
    pub pinned: Vec<String>,
    /// When a man in the middle presents a rogue certificate (from, until).
    pub rogue: Vec<(SimTime, Option<SimTime>)>,
}

impl Sealed {
    fn covers(&self, frame: &Frame<'_>) -> bool {
        let Some(t) = frame.terminal else { return false };
        if self.pinned.iter().any(|s| s == t) {
            return true;
        }
        let fooled = self
            .rogue
            .iter()
            .any(|&(from, until)| frame.at >= from && until.is_none_or(|u| frame.at < u));
        self.tls.iter().any(|s| s == t) && !fooled
    }
}

/// Presents a certificate from a rogue authority to every terminal on the
/// link. A terminal that pins the host's certificate refuses the connection
/// (its frames are lost, and the refusal is what the monitor sees); one that
/// trusts any known authority is fooled, and the other men in the middle on
/// the link read and change its frames as if there were no TLS.
#[derive(Debug)]
pub struct RogueCert {
    owner: usize,
    sealed: Sealed,
}

impl RogueCert {
    /// A rogue certificate of attack `owner` on a link with these TLS terminals.
    pub fn new(owner: usize, sealed: Sealed) -> Self {
        Self { owner, sealed }
    }
}

impl Rule for RogueCert {
    fn name(&self) -> &'static str {
        "mitm_rogue_cert"
    }

    fn on_frame(&mut self, frame: &Frame<'_>, _: &mut crate::link::Draw<'_>) -> Verdict {
        match frame.terminal {
            Some(t) if self.sealed.pinned.iter().any(|p| p == t) => Verdict::Drop,
            // A terminal that accepted the certificate talks to him now.
            Some(t) if self.sealed.tls.iter().any(|p| p == t) => Verdict::Intercept,
            _ => Verdict::Pass,
        }
    }

    fn owner(&self) -> Option<usize> {
        Some(self.owner)
    }
}

/// Reads every frame; keeps the track 2 (field 35) of every request.
#[derive(Debug)]
pub struct Read {
    owner: usize,
    sealed: Sealed,
    taken: Vec<Theft>,
}

impl Read {
    /// A reader for attack `owner`.
    pub fn new(owner: usize, sealed: Sealed) -> Self {
        Self { owner, sealed, taken: Vec::new() }
    }
}

impl Rule for Read {
    fn name(&self) -> &'static str {
        "mitm_read"
    }

    fn on_frame(&mut self, frame: &Frame<'_>, _: &mut crate::link::Draw<'_>) -> Verdict {
        if self.sealed.covers(frame) {
            return Verdict::Pass;
        }
        if let Ok(m) = frame.spec.decode(frame.bytes)
            && let Some(track) = m.track2()
            && let Ok(t2) = Track2::parse(track)
        {
            // From a chip read, field 35 is the chip's copy (tag 57), with its iCVV.
            let chip = m.entry_mode().is_some_and(|e| e.starts_with("05") || e.starts_with("07"));
            let stolen = if chip {
                Stolen::Tag57(track.to_string())
            } else {
                Stolen::Track2(track.to_string())
            };
            self.taken.push(Theft { pan: t2.pan, stolen });
        }
        Verdict::Pass
    }

    fn owner(&self) -> Option<usize> {
        Some(self.owner)
    }

    fn take(&mut self) -> Vec<Theft> {
        std::mem::take(&mut self.taken)
    }
}

/// Rewrites the amount (field 4) of the requests it sees.
#[derive(Debug)]
pub struct TamperAmount {
    owner: usize,
    sealed: Sealed,
    /// The amount written, in minor units.
    amount: i64,
}

impl TamperAmount {
    /// A tamperer for attack `owner` that writes `amount` (minor units).
    pub fn new(owner: usize, sealed: Sealed, amount: i64) -> Self {
        Self { owner, sealed, amount }
    }
}

impl Rule for TamperAmount {
    fn name(&self) -> &'static str {
        "mitm_tamper"
    }

    fn on_frame(&mut self, frame: &Frame<'_>, _: &mut crate::link::Draw<'_>) -> Verdict {
        if self.sealed.covers(frame) {
            return Verdict::Pass;
        }
        let Ok(mut m) = frame.spec.decode(frame.bytes) else { return Verdict::Pass };
        if m.amount().is_none_or(|a| a as i64 == self.amount) {
            return Verdict::Pass;
        }
        m.set(4, format!("{:012}", self.amount));
        frame.spec.encode(&m).map_or(Verdict::Pass, Verdict::Replace)
    }

    fn owner(&self) -> Option<usize> {
        Some(self.owner)
    }
}

/// Sends the requests it sees again, `after` later, at most `left` of them.
#[derive(Debug)]
pub struct Replay {
    owner: usize,
    sealed: Sealed,
    after: Duration,
    left: u32,
}

impl Replay {
    /// A replayer for attack `owner`.
    pub fn new(owner: usize, sealed: Sealed, after: Duration, frames: u32) -> Self {
        Self { owner, sealed, after, left: frames }
    }
}

impl Rule for Replay {
    fn name(&self) -> &'static str {
        "replay"
    }

    fn on_frame(&mut self, frame: &Frame<'_>, _: &mut crate::link::Draw<'_>) -> Verdict {
        if self.left == 0 || self.sealed.covers(frame) {
            return Verdict::Pass;
        }
        self.left -= 1;
        Verdict::Inject { dir: frame.dir, bytes: frame.bytes.to_vec(), after: self.after }
    }

    fn owner(&self) -> Option<usize> {
        Some(self.owner)
    }
}
