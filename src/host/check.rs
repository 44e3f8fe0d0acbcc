//! The host's checks by name. Each step of the decision is one [`Check`];
//! a defence can be switched off (by the scenario, or mid-run by a command)
//! to show what it is worth, while the steps without which nothing can be
//! decided (reading the message, finding the card) cannot.

use std::collections::BTreeSet;

use crate::money::Money;
use crate::time::Duration;

/// One named step of the host's decision, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Check {
    /// The frame decodes under the dialect (30).
    Format,
    /// The message MAC verifies under the terminal's key (63).
    Mac,
    /// Fields 3, 4, 11 and 22 are there and the processing code is known (30, 12).
    MandatoryFields,
    /// A repeated TID + STAN + RRN within the window is answered 94.
    Duplicates,
    /// The issuer can be reached (91).
    IssuerReachable,
    /// The amount is under the single-transaction limit (13).
    Amount,
    /// The card number is well formed, matches track 2, and is on file (14, 30).
    Card,
    /// The card has not expired (54).
    Expiry,
    /// The card is not blocked (62).
    Blocked,
    /// Magstripe reads of chip cards are refused (05).
    Fallback,
    /// The CVV (magstripe) or iCVV (chip) in track 2 matches (63).
    Cvv,
    /// The chip's ARQC verifies and signs the amount of field 4 (63).
    Arqc,
    /// The ATC is above the highest seen: no replay, no clone (59).
    Atc,
    /// The application's brand (AID, tag 84) is the card number's (BIN): a
    /// relay that swapped the AID to pick another kernel is refused (05).
    AidBrand,
    /// The terminal's unpredictable number (9F37) is not its last plus a
    /// small step: a counter lets cryptograms be pre-played (59).
    UnFreshness,
    /// The terminal's CVM results (9F34) agree with the card's own record
    /// in the CVR (9F10): a terminal that says the card verified the PIN
    /// while the card says it did not met a PIN-bypass wedge (05).
    CvmResults,
    /// A card whose form factor (9F6E) says it is plastic cannot have been
    /// verified by a consumer device, whatever its CTQ (9F6C) says (05).
    DeviceCvm,
    /// The online PIN matches the PVV (55, then 75).
    Pin,
    /// The account has the funds (51).
    Funds,
    /// No more than `velocity.0` approvals of one card within `velocity.1` (65).
    /// Off unless a scenario lists it.
    Velocity,
    /// A device signing on must have the serial the inventory lists for its
    /// terminal id (58). Off unless a scenario lists it.
    Inventory,
    /// A refund goes only to a card with at least as much bought here (12).
    /// Off unless a scenario lists it: most shops' refunds reference nothing.
    RefundSale,
}

impl Check {
    /// Every check, in the order they run.
    pub const ALL: [Self; 22] = [
        Self::Format,
        Self::Inventory,
        Self::Mac,
        Self::MandatoryFields,
        Self::Duplicates,
        Self::IssuerReachable,
        Self::Amount,
        Self::Card,
        Self::Expiry,
        Self::Blocked,
        Self::Fallback,
        Self::Cvv,
        Self::Arqc,
        Self::Atc,
        Self::AidBrand,
        Self::UnFreshness,
        Self::CvmResults,
        Self::DeviceCvm,
        Self::Pin,
        Self::Velocity,
        Self::Funds,
        Self::RefundSale,
    ];

    /// Its name in journals, reports and commands ("verify_mac" style is
    /// the scenario's; this is the check's own: "mac").
    pub fn name(self) -> &'static str {
        match self {
            Self::Format => "format",
            Self::Inventory => "inventory",
            Self::Mac => "mac",
            Self::MandatoryFields => "mandatory_fields",
            Self::IssuerReachable => "issuer_reachable",
            Self::Amount => "amount",
            Self::Duplicates => "duplicates",
            Self::Card => "card",
            Self::Expiry => "expiry",
            Self::Blocked => "blocked",
            Self::Fallback => "fallback",
            Self::Cvv => "cvv",
            Self::Arqc => "arqc",
            Self::Atc => "atc",
            Self::AidBrand => "aid_brand",
            Self::UnFreshness => "un_freshness",
            Self::CvmResults => "cvm_results",
            Self::DeviceCvm => "device_cvm",
            Self::Velocity => "velocity",
            Self::Pin => "pin",
            Self::Funds => "funds",
            Self::RefundSale => "refund_sale",
        }
    }

    /// The check with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// True for a defence (it can be switched off); false for a step the
    /// host cannot decide without.
    pub fn is_defence(self) -> bool {
        !matches!(self, Self::Format | Self::MandatoryFields | Self::IssuerReachable | Self::Card)
    }

    /// The names of the defences, for messages that list them.
    pub fn defence_names() -> Vec<&'static str> {
        Self::ALL.into_iter().filter(|c| c.is_defence()).map(Self::name).collect()
    }
}

/// Which defences the issuer applies, and their parameters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rules {
    /// Defences switched off.
    pub off: BTreeSet<Check>,
    /// Answer 94 to a repeated TID + STAN + RRN within this window.
    pub duplicate_window: Duration,
    /// Largest single amount (13 above it).
    pub max_amount: Money,
    /// Most approvals of one card, and the window they are counted over.
    pub velocity: (u32, Duration),
}

impl Default for Rules {
    /// Every defence on but the refund-to-a-sale rule, the velocity limit
    /// and the device inventory; duplicate window 24h; single-transaction
    /// limit 50,000.00; velocity 5 approvals an hour when on.
    fn default() -> Self {
        Self {
            off: BTreeSet::from([Check::RefundSale, Check::Velocity, Check::Inventory]),
            duplicate_window: Duration::from_secs(86_400),
            max_amount: Money(5_000_000),
            velocity: (5, Duration::from_secs(3600)),
        }
    }
}

impl Rules {
    /// Only these defences on (the essential steps always are).
    pub fn only(on: &[Check]) -> Self {
        let off = Check::ALL.into_iter().filter(|c| c.is_defence() && !on.contains(c)).collect();
        Self { off, ..Self::default() }
    }

    /// True when the check runs and may refuse.
    pub fn is_on(&self, c: Check) -> bool {
        !c.is_defence() || !self.off.contains(&c)
    }

    /// Switches a defence; false if `c` is not one.
    pub fn set(&mut self, c: Check, on: bool) -> bool {
        if !c.is_defence() {
            return false;
        }
        if on {
            self.off.remove(&c);
        } else {
            self.off.insert(c);
        }
        true
    }
}
