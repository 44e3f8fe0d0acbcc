//! The card reader between a terminal and a card: it powers the card, passes
//! APDUs, reads the magstripe, counts the exchanges (which take time) and
//! keeps the APDU log for the journal. Skimmers and shimmers sit here.

use crate::card::{Card, Interface};
use crate::terminal::CardChannel;
use crate::time::Duration;

use super::record::Apdu;

/// The reader slot with the customer's card in it (or empty).
pub struct ReaderChannel<'a> {
    card: Option<&'a mut Card>,
    log: Option<Vec<Apdu>>,
    per_exchange: Duration,
    /// Exchanges so far (power-on counts as one).
    pub exchanges: u32,
}

impl<'a> ReaderChannel<'a> {
    /// A reader with `card` in it; each exchange takes `per_exchange`; `log`
    /// keeps the APDUs.
    pub fn new(card: Option<&'a mut Card>, per_exchange: Duration, log: bool) -> Self {
        Self { card, log: log.then(Vec::new), per_exchange, exchanges: 0 }
    }

    /// The APDUs exchanged, if logged.
    pub fn take_log(&mut self) -> Vec<Apdu> {
        self.log.take().unwrap_or_default()
    }
}

impl CardChannel for ReaderChannel<'_> {
    fn power_on(&mut self, interface: Interface) -> Vec<u8> {
        self.exchanges += 1;
        self.card.as_mut().map(|c| c.power_on(interface)).unwrap_or_default()
    }

    fn transmit(&mut self, capdu: &[u8]) -> Vec<u8> {
        self.exchanges += 1;
        let r = self.card.as_mut().map(|c| c.transmit(capdu)).unwrap_or_default();
        if let Some(log) = self.log.as_mut() {
            log.push(Apdu::masked(capdu, &r));
        }
        r
    }

    fn swipe(&mut self) -> Option<String> {
        self.exchanges += 1;
        self.card.as_ref().map(|c| c.magstripe())
    }

    fn elapsed(&self) -> Duration {
        Duration(self.per_exchange.micros() * u64::from(self.exchanges))
    }
}
