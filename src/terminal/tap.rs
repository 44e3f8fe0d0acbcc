//! Devices between a card and a terminal. A skimmer on the swipe path, a
//! shimmer on the chip contacts, a PIN-bypass wedge: each is a [`CardTap`]
//! that sees, and may change, every power-on, APDU and swipe on its way
//! through. Taps stack: the driver wraps the reader's channel in each tap in
//! turn, so the first tap sits nearest the card and the last nearest the
//! terminal.

use super::CardChannel;
use crate::card::Interface;
use crate::time::Duration;

/// A decorator on the card channel. Every method gets the channel on the
/// card's side; the defaults pass everything through unchanged.
pub trait CardTap: Send + Sync + std::fmt::Debug {
    /// Its name in journals and reports ("skimmer", "shimmer").
    fn name(&self) -> &'static str;

    /// The card is powered on.
    fn power_on(&mut self, interface: Interface, card: &mut dyn CardChannel) -> Vec<u8> {
        card.power_on(interface)
    }

    /// One command on its way to the card, and the card's answer on its way back.
    fn transmit(&mut self, capdu: &[u8], card: &mut dyn CardChannel) -> Vec<u8> {
        card.transmit(capdu)
    }

    /// The magstripe passes the read head.
    fn swipe(&mut self, card: &mut dyn CardChannel) -> Option<String> {
        card.swipe()
    }

    /// The attack that fitted it (its index in the scenario), so the driver
    /// can remove it when the attack's window ends.
    fn owner(&self) -> Option<usize> {
        None
    }

    /// What it copied since last asked.
    fn take(&mut self) -> Vec<crate::attack::Theft> {
        Vec::new()
    }

    /// The device itself, for a driver that must brief it (what a tampered
    /// terminal's firmware is told to predict). None: nothing to brief.
    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        None
    }

    /// The time it has added to the card's answers so far (a relay).
    fn added(&self) -> Duration {
        Duration::ZERO
    }
}

/// A channel seen through one tap.
pub struct Tapped<'a> {
    tap: &'a mut dyn CardTap,
    inner: &'a mut dyn CardChannel,
}

impl<'a> Tapped<'a> {
    /// `inner` seen through `tap`.
    pub fn new(tap: &'a mut dyn CardTap, inner: &'a mut dyn CardChannel) -> Self {
        Self { tap, inner }
    }
}

impl CardChannel for Tapped<'_> {
    fn power_on(&mut self, interface: Interface) -> Vec<u8> {
        self.tap.power_on(interface, self.inner)
    }

    fn transmit(&mut self, capdu: &[u8]) -> Vec<u8> {
        self.tap.transmit(capdu, self.inner)
    }

    fn swipe(&mut self) -> Option<String> {
        self.tap.swipe(self.inner)
    }

    fn elapsed(&self) -> Duration {
        Duration(self.inner.elapsed().micros().saturating_add(self.tap.added().micros()))
    }
}

/// Runs `f` with `card` seen through every tap in `taps` (the first nearest
/// the card).
pub fn through_taps<R>(
    taps: &mut [Box<dyn CardTap>],
    card: &mut dyn CardChannel,
    f: impl FnOnce(&mut dyn CardChannel) -> R,
) -> R {
    match taps.split_first_mut() {
        None => f(card),
        Some((first, rest)) => {
            let mut tapped = Tapped { tap: first.as_mut(), inner: card };
            through_taps(rest, &mut tapped, f)
        }
    }
}
