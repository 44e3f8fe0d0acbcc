//! Attacks as a scenario writes them: a kind with its own parameters, plus
//! the window and filter every kind shares ([`Scoped`]): `from` and `until`
//! say when the device is fitted or the attacker acts, `terminal` which
//! terminal it is fitted to (default: every one) or where the attacker pays.
//! This file is the one place an attack kind is named.

use serde::ser::SerializeStructVariant;
use serde::{Deserialize, Serialize, Serializer};

use super::scoped::{Kind, Scoped};
use crate::money::Money;
use crate::time::Duration;

/// An attack with its window and target.
pub type AttackSpec = Scoped<AttackKind>;

/// What an attack does.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum AttackKind {
    /// An overlay on the swipe slot copies track 2 of every card swiped
    /// through it; with `pin_camera`, a hidden camera films the PINs typed.
    Skimmer {
        /// A camera sees the PIN pad too. Default false.
        #[serde(default)]
        pin_camera: bool,
    },
    /// A shim in the chip slot logs the APDUs on the contacts: tag 57 (track 2
    /// with the iCVV) and any plaintext offline PIN sent in VERIFY.
    Shimmer {},
    /// A keypad overlay on the PIN pad records every PIN typed.
    PinPadOverlay {},
    /// The attacker pays at `terminal` with blank cards written from what
    /// `loot` (another attack's kind, e.g. "skimmer") stole: one card every
    /// `every`, at most `attempts` cards, `amount` each. A copy of a chip card
    /// has no chip: the terminal falls back to the magstripe.
    CashOut {
        /// The attack whose loot is used ("skimmer", "shimmer", "pin_pad_overlay").
        loot: String,
        /// Cards tried at most. Default 10.
        #[serde(default = "ten")]
        attempts: u32,
        /// Spent per card. Default "150.00".
        #[serde(default = "default_amount")]
        amount: Money,
        /// Time between cards. Default "2m".
        #[serde(default = "two_minutes")]
        every: Duration,
        /// Write the loot onto yes-cards: chip clones that accept any PIN
        /// and approve the payment themselves (a TC over a junk
        /// cryptogram), inserted rather than swiped. Default false.
        #[serde(default)]
        yes_card: bool,
    },
    /// A man in the middle on `link` reads every frame. On a connection
    /// without TLS the track data of each request (field 35) is his, and a
    /// cash-out can spend it; through TLS he reads nothing.
    MitmRead {
        /// The link tapped.
        link: String,
    },
    /// A man in the middle on `link` presents a certificate from a rogue
    /// authority. Terminals with `tls: On` trust it: for its window the other
    /// men in the middle on the link see their frames as if there were no
    /// TLS. Terminals with `tls: Pinned` refuse it: their frames are lost and
    /// the monitor raises `CertificateMismatch`.
    MitmRogueCert {
        /// The link tapped.
        link: String,
    },
    /// A man in the middle on `link` rewrites the amount (field 4) of every
    /// purchase request to `amount`. He cannot recompute the MAC or the
    /// ARQC, which both cover the amount; through TLS he cannot change a byte.
    MitmTamperAmount {
        /// The link tapped.
        link: String,
        /// The amount written into field 4.
        amount: Money,
    },
    /// A man in the middle on `link` answers every purchase request himself
    /// with a forged approval (0210, response 00) and swallows the request:
    /// the goods go and the bank never hears of them. His MAC is under a
    /// key of his own; a chip card refuses his missing issuer
    /// authentication; through TLS he can do nothing.
    MitmInject {
        /// The link tapped.
        link: String,
    },
    /// A man in the middle on `link` breaks every TLS handshake. Terminals
    /// with `tls: Opportunistic` fall back to plain TCP, and for the window
    /// the other men in the middle on the link see their frames in clear;
    /// terminals with `On` or `Pinned` get no connection (their frames are lost).
    MitmStripTls {
        /// The link tapped.
        link: String,
    },
    /// A man in the middle on `link` records purchase requests and sends each
    /// again `after` later, at most `frames` of them.
    Replay {
        /// The link tapped.
        link: String,
        /// How long after the original the copy goes out. Default "1h".
        #[serde(default = "one_hour")]
        after: Duration,
        /// Requests replayed at most. Default 5.
        #[serde(default = "five")]
        frames: u32,
    },
    /// Tampered terminal firmware copies every card the terminal reads (the
    /// stripe's track 2, the chip's tag 57, plaintext offline PINs) and sends
    /// it out of the shop over a connection of its own.
    RamScraper {},
    /// A fake technician swaps `terminal` for a look-alike that harvests
    /// every card and PIN and does not hold the shop's keys (its MACs and PIN
    /// blocks are under keys the bank does not know). `until` puts the real
    /// one back.
    TerminalSwap {},
    /// A thief holds the cards of `cards` customers (lost or stolen) and pays
    /// with them at `terminal`: a visit every `every`, at most `attempts`,
    /// `amount` each, tapping (`tap`) or inserting them. Not knowing the
    /// PINs, they type 0000; with `wedge`, a PIN-bypass wedge between card
    /// and terminal answers the card's VERIFY with 9000 itself.
    StolenCards {
        /// Cards taken. Default 3.
        #[serde(default = "three")]
        cards: u32,
        /// Visits at most. Default 10.
        #[serde(default = "ten")]
        attempts: u32,
        /// Spent per visit. Default "50.00".
        #[serde(default = "fifty")]
        amount: Money,
        /// Time between visits. Default "5m".
        #[serde(default = "five_minutes")]
        every: Duration,
        /// Tap the cards (contactless) rather than insert them. Default false.
        #[serde(default)]
        tap: bool,
        /// A PIN-bypass wedge on the cards. Default false.
        #[serde(default)]
        wedge: bool,
        /// A relay that rewrites the cards' CTQ (9F6C) to "consumer device
        /// CVM performed", to pay above the no-PIN limit. Default false.
        #[serde(default)]
        ctq_rewrite: bool,
        /// A relay that swaps the cards' AID for Visa's, so the terminal
        /// runs the Visa kernel on a card of another brand (with
        /// `ctq_rewrite`: the kernel that believes the CTQ). Default false.
        #[serde(default)]
        brand_mixup: bool,
    },
    /// An accomplice holds a reader next to the pockets of `cards` customers
    /// and relays their contactless cards to the attacker's phone at
    /// `terminal`, adding `delay` to every exchange; the attacker taps there
    /// every `every`, at most `attempts` times, `amount` each (under the
    /// no-PIN limit). The customers keep their cards and shop as usual.
    Relay {
        /// Victims. Default 2.
        #[serde(default = "two")]
        cards: u32,
        /// Visits at most. Default 10.
        #[serde(default = "ten")]
        attempts: u32,
        /// Spent per visit. Default "50.00".
        #[serde(default = "fifty")]
        amount: Money,
        /// Time between visits. Default "5m".
        #[serde(default = "five_minutes")]
        every: Duration,
        /// Round trip the relay adds to each exchange. Default "150ms".
        #[serde(default = "relay_delay")]
        delay: Duration,
    },
    /// Tampered firmware in `terminal` harvests cryptograms for later
    /// (pre-play, Bond et al. 2014): when each chip card's purchase is over,
    /// before the card leaves the slot, it runs the card through `harvest`
    /// more sessions, each
    /// asking for an ARQC over the amount of the cash-out that spends this
    /// loot and an unpredictable number that cash-out's terminal will use
    /// (guessable if its numbers come from a counter). It also sees the
    /// PINs typed. A `CashOut(loot: "pre_play")` replays the recordings.
    PrePlay {
        /// Cryptograms asked of each card. Default 20.
        #[serde(default = "twenty")]
        harvest: u32,
    },
    /// A member of staff (`staff`) refunds money to a card of their own at
    /// `terminal`, every `every`, at most `attempts` times. The terminal asks
    /// for the password of someone allowed to refund: the insider gets in
    /// with a weak (shared, written down) or factory-default one; a strong
    /// one they cannot guess, and three wrong tries lock the terminal's
    /// refunds.
    InsiderRefund {
        /// The insider's name, as in `shop.staff`.
        staff: String,
        /// Refunds tried at most. Default 10.
        #[serde(default = "ten")]
        attempts: u32,
        /// Each refund. Default "150.00".
        #[serde(default = "default_amount")]
        amount: Money,
        /// Time between tries. Default "10m".
        #[serde(default = "ten_minutes")]
        every: Duration,
    },
}

fn two() -> u32 {
    2
}
fn relay_delay() -> Duration {
    Duration::from_millis(150)
}
fn three() -> u32 {
    3
}
fn fifty() -> Money {
    Money(5_000)
}
fn five_minutes() -> Duration {
    Duration::from_secs(300)
}
fn ten_minutes() -> Duration {
    Duration::from_secs(600)
}

fn one_hour() -> Duration {
    Duration::from_secs(3600)
}
fn five() -> u32 {
    5
}

fn twenty() -> u32 {
    20
}
fn ten() -> u32 {
    10
}
fn default_amount() -> Money {
    Money(15_000)
}
fn two_minutes() -> Duration {
    Duration::from_secs(120)
}

impl Kind for AttackKind {
    fn name(&self) -> &'static str {
        match self {
            Self::Skimmer { .. } => "skimmer",
            Self::Shimmer {} => "shimmer",
            Self::PinPadOverlay {} => "pin_pad_overlay",
            Self::CashOut { .. } => "cash_out",
            Self::MitmRead { .. } => "mitm_read",
            Self::MitmTamperAmount { .. } => "mitm_tamper",
            Self::Replay { .. } => "replay",
            Self::InsiderRefund { .. } => "insider_refund",
            Self::RamScraper {} => "ram_scraper",
            Self::TerminalSwap {} => "terminal_swap",
            Self::StolenCards { .. } => "stolen_cards",
            Self::MitmRogueCert { .. } => "mitm_rogue_cert",
            Self::Relay { .. } => "relay",
            Self::PrePlay { .. } => "pre_play",
            Self::MitmInject { .. } => "mitm_inject",
            Self::MitmStripTls { .. } => "mitm_strip_tls",
        }
    }

    fn problem(&self) -> Option<String> {
        if let Some((attempts, amount, every)) = self.visits() {
            if attempts == 0 || attempts > 100_000 {
                return Some(format!(
                    "`attempts` must be at least 1 and at most 100000, not {attempts}"
                ));
            }
            if amount.0 <= 0 {
                return Some("`amount` must be more than 0.00".into());
            }
            if every.micros() < 1_000_000 {
                return Some("`every` must be at least 1s".into());
            }
        }
        match self {
            Self::Relay { cards, .. } | Self::StolenCards { cards, .. }
                if *cards == 0 || *cards > 1000 =>
            {
                Some(format!("`cards` must be between 1 and 1000, not {cards}"))
            }
            Self::MitmTamperAmount { amount, .. } if amount.0 <= 0 => {
                Some("`amount` must be more than 0.00".into())
            }
            Self::Replay { after, .. }
                if after.micros() < 1_000_000 || after.micros() > 6 * 3_600_000_000 =>
            {
                Some(format!("`after` must be between 1s and 6h, not {after}"))
            }
            Self::PrePlay { harvest } if *harvest == 0 || *harvest > 1000 => {
                Some(format!("`harvest` must be between 1 and 1000, not {harvest}"))
            }
            Self::Replay { frames, .. } if *frames == 0 || *frames > 100_000 => {
                Some(format!("`frames` must be between 1 and 100000, not {frames}"))
            }
            _ => None,
        }
    }
}

impl AttackKind {
    /// For an attacker who comes to a till: how many times at most, what
    /// each visit is worth, and how often.
    pub fn visits(&self) -> Option<(u32, Money, Duration)> {
        match self {
            Self::CashOut { attempts, amount, every, .. }
            | Self::InsiderRefund { attempts, amount, every, .. }
            | Self::StolenCards { attempts, amount, every, .. }
            | Self::Relay { attempts, amount, every, .. } => Some((*attempts, *amount, *every)),
            _ => None,
        }
    }

    /// Whether it is a device fitted to a terminal's reader or PIN pad.
    pub fn is_device(&self) -> bool {
        matches!(
            self,
            Self::Skimmer { .. }
                | Self::Shimmer {}
                | Self::PinPadOverlay {}
                | Self::RamScraper {}
                | Self::TerminalSwap {}
                | Self::PrePlay { .. }
        )
    }

    /// The chance that one tamper check of a terminal finds it: an overlay
    /// on the swipe slot or the PIN pad is there to see and tug; a shim
    /// inside the chip slot rarely is; firmware cannot be seen at all; a
    /// swapped terminal gives itself away to someone who compares serials.
    pub fn found_by_inspection(&self) -> f64 {
        match self {
            Self::Skimmer { .. } | Self::PinPadOverlay {} => 0.9,
            Self::TerminalSwap {} => 0.5,
            Self::Shimmer {} => 0.1,
            _ => 0.0,
        }
    }

    /// Whether it takes data a cash-out can spend.
    pub fn steals(&self) -> bool {
        self.is_device() || matches!(self, Self::MitmRead { .. })
    }

    /// Whether it can cost money by itself (so `FraudLossAtMost` measures something).
    pub fn costs_money(&self) -> bool {
        matches!(
            self,
            Self::CashOut { .. }
                | Self::MitmTamperAmount { .. }
                | Self::Replay { .. }
                | Self::InsiderRefund { .. }
                | Self::StolenCards { .. }
                | Self::Relay { .. }
                | Self::MitmInject { .. }
        )
    }

    /// The alerts a monitor should raise because of it (its window's start
    /// is their cause, for `AlertWithin`).
    pub fn alerts(&self) -> &'static [super::AlertKind] {
        use super::AlertKind as A;
        match self {
            Self::MitmTamperAmount { .. } => &[A::SecurityViolations],
            Self::Replay { .. } => &[A::Duplicates, A::AtcReplay],
            Self::InsiderRefund { .. } => {
                &[A::RefundVelocity, A::LoginLockout, A::RefundWithoutSale]
            }
            Self::RamScraper {} => &[A::UnexpectedEgress],
            Self::TerminalSwap {} => {
                &[A::SecurityViolations, A::UnexpectedEgress, A::TamperDetected, A::UnknownSerial]
            }
            Self::StolenCards { .. } => &[A::CvmMismatch, A::CardVelocity],
            Self::MitmRogueCert { .. } => &[A::CertificateMismatch],
            Self::PrePlay { .. } => &[A::UnPattern],
            Self::Skimmer { .. } | Self::PinPadOverlay {} | Self::Shimmer {} => {
                &[A::TamperDetected]
            }
            _ => &[],
        }
    }

    /// The link it acts on, for a man in the middle.
    pub fn link(&self) -> Option<&str> {
        match self {
            Self::MitmRead { link }
            | Self::MitmRogueCert { link }
            | Self::MitmTamperAmount { link, .. }
            | Self::MitmInject { link }
            | Self::MitmStripTls { link }
            | Self::Replay { link, .. } => Some(link),
            Self::Skimmer { .. }
            | Self::Shimmer {}
            | Self::PinPadOverlay {}
            | Self::CashOut { .. }
            | Self::RamScraper {}
            | Self::TerminalSwap {}
            | Self::InsiderRefund { .. }
            | Self::StolenCards { .. }
            | Self::Relay { .. }
            | Self::PrePlay { .. } => None,
        }
    }

    /// Whether it sees the PINs typed on the PIN pad.
    pub fn sees_pins(&self) -> bool {
        matches!(
            self,
            Self::Skimmer { pin_camera: true }
                | Self::PinPadOverlay {}
                | Self::TerminalSwap {}
                | Self::PrePlay { .. }
        )
    }

    /// The kind as the file spells it ("Skimmer").
    pub fn written(&self) -> &'static str {
        match self {
            Self::Skimmer { .. } => "Skimmer",
            Self::Shimmer {} => "Shimmer",
            Self::PinPadOverlay {} => "PinPadOverlay",
            Self::CashOut { .. } => "CashOut",
            Self::MitmRead { .. } => "MitmRead",
            Self::MitmTamperAmount { .. } => "MitmTamperAmount",
            Self::Replay { .. } => "Replay",
            Self::InsiderRefund { .. } => "InsiderRefund",
            Self::RamScraper {} => "RamScraper",
            Self::TerminalSwap {} => "TerminalSwap",
            Self::StolenCards { .. } => "StolenCards",
            Self::MitmRogueCert { .. } => "MitmRogueCert",
            Self::Relay { .. } => "Relay",
            Self::PrePlay { .. } => "PrePlay",
            Self::MitmInject { .. } => "MitmInject",
            Self::MitmStripTls { .. } => "MitmStripTls",
        }
    }
}

/// Written back out the way it is read: `Skimmer(pin_camera: true, from: "1h")`.
impl Serialize for AttackSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sc = &self.scope;
        let (index, n) = match &self.kind {
            AttackKind::Skimmer { .. } => (0, 1),
            AttackKind::Shimmer {} => (1, 0),
            AttackKind::PinPadOverlay {} => (2, 0),
            AttackKind::CashOut { .. } => (3, 5),
            AttackKind::MitmRead { .. } => (4, 1),
            AttackKind::MitmTamperAmount { .. } => (5, 2),
            AttackKind::Replay { .. } => (6, 3),
            AttackKind::InsiderRefund { .. } => (7, 4),
            AttackKind::RamScraper {} => (8, 0),
            AttackKind::TerminalSwap {} => (9, 0),
            AttackKind::StolenCards { .. } => (10, 8),
            AttackKind::MitmRogueCert { .. } => (11, 1),
            AttackKind::Relay { .. } => (12, 5),
            AttackKind::PrePlay { .. } => (14, 1),
            AttackKind::MitmInject { .. } => (15, 1),
            AttackKind::MitmStripTls { .. } => (16, 1),
        };
        let n = n
            + usize::from(sc.from.is_some())
            + usize::from(sc.until.is_some())
            + usize::from(sc.terminal.is_some())
            + usize::from(sc.chance.is_some());
        let mut v = s.serialize_struct_variant("AttackKind", index, self.kind.written(), n)?;
        match &self.kind {
            AttackKind::Skimmer { pin_camera } => v.serialize_field("pin_camera", pin_camera)?,
            AttackKind::CashOut { loot, attempts, amount, every, yes_card } => {
                v.serialize_field("loot", loot)?;
                v.serialize_field("yes_card", yes_card)?;
                v.serialize_field("attempts", attempts)?;
                v.serialize_field("amount", amount)?;
                v.serialize_field("every", every)?;
            }
            AttackKind::MitmRead { link } | AttackKind::MitmRogueCert { link } => {
                v.serialize_field("link", link)?;
            }
            AttackKind::MitmTamperAmount { link, amount } => {
                v.serialize_field("link", link)?;
                v.serialize_field("amount", amount)?;
            }
            AttackKind::Replay { link, after, frames } => {
                v.serialize_field("link", link)?;
                v.serialize_field("after", after)?;
                v.serialize_field("frames", frames)?;
            }
            AttackKind::InsiderRefund { staff, attempts, amount, every } => {
                v.serialize_field("staff", staff)?;
                v.serialize_field("attempts", attempts)?;
                v.serialize_field("amount", amount)?;
                v.serialize_field("every", every)?;
            }
            AttackKind::StolenCards {
                cards,
                attempts,
                amount,
                every,
                tap,
                wedge,
                ctq_rewrite,
                brand_mixup,
            } => {
                v.serialize_field("cards", cards)?;
                v.serialize_field("attempts", attempts)?;
                v.serialize_field("amount", amount)?;
                v.serialize_field("every", every)?;
                v.serialize_field("tap", tap)?;
                v.serialize_field("wedge", wedge)?;
                v.serialize_field("ctq_rewrite", ctq_rewrite)?;
                v.serialize_field("brand_mixup", brand_mixup)?;
            }
            AttackKind::PrePlay { harvest } => v.serialize_field("harvest", harvest)?,
            AttackKind::MitmInject { link } | AttackKind::MitmStripTls { link } => {
                v.serialize_field("link", link)?
            }
            AttackKind::Relay { cards, attempts, amount, every, delay } => {
                v.serialize_field("cards", cards)?;
                v.serialize_field("attempts", attempts)?;
                v.serialize_field("amount", amount)?;
                v.serialize_field("every", every)?;
                v.serialize_field("delay", delay)?;
            }
            AttackKind::Shimmer {}
            | AttackKind::PinPadOverlay {}
            | AttackKind::RamScraper {}
            | AttackKind::TerminalSwap {} => {}
        }
        if let Some(from) = sc.from {
            v.serialize_field("from", &from)?;
        }
        if let Some(until) = sc.until {
            v.serialize_field("until", &until)?;
        }
        if let Some(t) = &sc.terminal {
            v.serialize_field("terminal", t)?;
        }
        if let Some(p) = sc.chance {
            v.serialize_field("chance", &p.0)?;
        }
        v.end()
    }
}
