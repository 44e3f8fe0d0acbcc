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
    /// Terminals that use TLS when the handshake succeeds and plain TCP
    /// when it does not.
    pub opportunistic: Vec<String>,
    /// When a man in the middle breaks every TLS handshake (from, until).
    pub stripped: Vec<(SimTime, Option<SimTime>)>,
}

/// Whether `at` falls in one of `windows`.
fn within(windows: &[(SimTime, Option<SimTime>)], at: SimTime) -> bool {
    windows.iter().any(|&(from, until)| at >= from && until.is_none_or(|u| at < u))
}

impl Sealed {
    fn covers(&self, frame: &Frame<'_>) -> bool {
        let Some(t) = frame.terminal else { return false };
        if self.pinned.iter().any(|s| s == t) {
            return true;
        }
        if self.opportunistic.iter().any(|s| s == t) {
            return !within(&self.stripped, frame.at) && !within(&self.rogue, frame.at);
        }
        self.tls.iter().any(|s| s == t) && !within(&self.rogue, frame.at)
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
            Some(t) if self.sealed.tls.iter().chain(&self.sealed.opportunistic).any(|p| p == t) => {
                Verdict::Intercept
            }
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

/// Breaks every TLS handshake on the link (TLS stripping). A terminal that
/// falls back to plain TCP when TLS fails (`tls: Opportunistic`) now talks
/// in clear, and the other men in the middle on the link read and change
/// its frames; one that insists on TLS (`On` or `Pinned`) gets no
/// connection, and its frames are lost.
#[derive(Debug)]
pub struct StripTls {
    owner: usize,
    sealed: Sealed,
}

impl StripTls {
    /// A stripper of attack `owner` on a link with these TLS terminals.
    pub fn new(owner: usize, sealed: Sealed) -> Self {
        Self { owner, sealed }
    }
}

impl Rule for StripTls {
    fn name(&self) -> &'static str {
        "mitm_strip_tls"
    }

    fn on_frame(&mut self, frame: &Frame<'_>, _: &mut crate::link::Draw<'_>) -> Verdict {
        let Some(t) = frame.terminal else { return Verdict::Pass };
        let has = |list: &[String]| list.iter().any(|p| p == t);
        if has(&self.sealed.pinned) || has(&self.sealed.tls) {
            Verdict::Drop
        } else if has(&self.sealed.opportunistic) {
            Verdict::Intercept
        } else {
            Verdict::Pass
        }
    }

    fn owner(&self) -> Option<usize> {
        Some(self.owner)
    }
}

/// Answers every purchase request himself with a forged approval (a 0210,
/// response 00) and swallows the request: the terminal hands the goods
/// over, and the bank never hears of the purchase. He has no key of the
/// shop's: his MAC is under a key of his own, so a terminal that checks
/// response MACs ignores the answer (and times out), and a chip card
/// refuses the issuer authentication (ARPC) that does not come from its
/// issuer. Through TLS he can do nothing.
#[derive(Debug)]
pub struct ForgeApproval {
    owner: usize,
    sealed: Sealed,
    key: crate::protocol::crypto::TdesKey,
    auth: u32,
}

impl ForgeApproval {
    /// A forger of attack `owner`, whose MACs are under `key`.
    pub fn new(owner: usize, sealed: Sealed, key: crate::protocol::crypto::TdesKey) -> Self {
        Self { owner, sealed, key, auth: 0 }
    }
}

impl Rule for ForgeApproval {
    fn name(&self) -> &'static str {
        "mitm_inject"
    }

    fn on_frame(&mut self, frame: &Frame<'_>, _: &mut crate::link::Draw<'_>) -> Verdict {
        use crate::protocol::iso8583::{Message, Mti, encode_with_mac};
        if frame.dir != crate::link::Dir::Up || self.sealed.covers(frame) {
            return Verdict::Pass;
        }
        let Ok(req) = frame.spec.decode(frame.bytes) else { return Verdict::Pass };
        if req.mti() != Mti::REQUEST {
            return Verdict::Pass;
        }
        let mut m = Message::with_capacity(Mti::RESPONSE, 160);
        for n in [3, 4, 7, 11, 12, 13, 37, 41, 42, 49] {
            if let Some(v) = req.get(n) {
                m.set(n, v);
            }
        }
        self.auth = self.auth % 999_999 + 1;
        m.set(38, format!("{:06}", self.auth));
        m.set_response_code(crate::protocol::response::ResponseCode::Approved);
        match encode_with_mac(frame.spec, &mut m, &self.key) {
            Ok(bytes) => Verdict::Answer(bytes),
            Err(_) => Verdict::Pass,
        }
    }

    fn owner(&self) -> Option<usize> {
        Some(self.owner)
    }
}
