//! The class exercises, as rules with no drawing in them (the window asks
//! them; tests check them against real runs):
//!
//! - *spot the skimmer*: the trainee points at the terminal they suspect;
//!   [`spot`] says whether a device someone could find by looking is on it;
//! - *what would have stopped it*: the trainee picks a defence, the same
//!   seed reruns with it, and [`Verdict::of`] says what it changed.

use crate::money::Money;

use super::View;

/// Attacks that are a thing fitted to the terminal, which a careful look
/// and a tug can find (malware and people at the till are not).
pub const SPOTTABLE: &[&str] = &["skimmer", "shimmer", "pin_pad_overlay", "terminal_swap"];

/// The answer to "which terminal has been tampered with?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spot {
    /// Right: these devices are fitted there.
    Right(Vec<String>),
    /// That terminal is clean, but another one is not.
    Clean,
    /// Nothing is fitted now, but something was: it has been taken away
    /// (go back on the timeline and look again).
    Gone,
    /// Nothing has been fitted anywhere yet.
    NothingFitted,
}

/// What the trainee's pick finds on `tid` as the view stands.
pub fn spot(view: &View, tid: &str) -> Spot {
    let fitted = |names: &Vec<String>| -> Vec<String> {
        names.iter().filter(|n| SPOTTABLE.contains(&n.as_str())).cloned().collect()
    };
    let here = view.devices.get(tid).map(fitted).unwrap_or_default();
    if !here.is_empty() {
        Spot::Right(here)
    } else if view.devices.values().any(|d| !fitted(d).is_empty()) {
        Spot::Clean
    } else if view.started.iter().any(|n| SPOTTABLE.contains(&n.as_str())) {
        Spot::Gone
    } else {
        Spot::NothingFitted
    }
}

/// What a defence changed, the run without it against the run with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No money lost and no card data taken with it, where there was without.
    Stopped,
    /// No money lost with it, but card data or PINs were still taken.
    SavedTheMoney,
    /// Less money lost, or as much money and less card data taken.
    Reduced,
    /// Nothing changed that the shop would notice.
    NoDifference,
    /// Worse with it (a defence can refuse honest customers).
    Worse,
    /// There was nothing to stop: no loss and nothing taken without it.
    NothingToStop,
}

impl Verdict {
    /// Compares (money lost, cards or PINs stolen) without and with the defence.
    pub fn of(without: (Money, u64), with: (Money, u64)) -> Self {
        let ((l0, s0), (l1, s1)) = (without, with);
        if l0.0 <= 0 && s0 == 0 {
            Self::NothingToStop
        } else if l1.0 <= 0 && s1 == 0 {
            Self::Stopped
        } else if l1.0 <= 0 && l0.0 > 0 {
            Self::SavedTheMoney
        } else if l1.0 < l0.0 || (l1.0 == l0.0 && s1 < s0) {
            Self::Reduced
        } else if l1.0 > l0.0 {
            Self::Worse
        } else {
            Self::NoDifference
        }
    }

    /// Its key in the words file.
    pub fn key(self) -> &'static str {
        match self {
            Self::Stopped => "verdict.stopped",
            Self::SavedTheMoney => "verdict.saved_money",
            Self::Reduced => "verdict.reduced",
            Self::NoDifference => "verdict.no_difference",
            Self::Worse => "verdict.worse",
            Self::NothingToStop => "verdict.nothing_to_stop",
        }
    }
}
