//! The issuer's ledger: cardholder accounts, merchant settlement positions
//! per terminal, and the double-entry invariant between them.

use crate::money::Money;
pub use crate::money::Totals;

/// Accounts and settlement positions.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    available: Vec<Money>,
    opening: Money,
    terminals: Vec<Totals>,
    postings: u64,
}

impl Ledger {
    /// Opens an account; returns its index.
    pub fn open_account(&mut self, available: Money) -> usize {
        self.available.push(available);
        self.opening += available;
        self.available.len() - 1
    }

    /// An account's available balance.
    pub fn available(&self, account: usize) -> Money {
        self.available.get(account).copied().unwrap_or_default()
    }

    fn terminal(&mut self, t: usize) -> &mut Totals {
        if self.terminals.len() <= t {
            self.terminals.resize(t + 1, Totals::default());
        }
        &mut self.terminals[t]
    }

    /// Posts a purchase (debit) or refund (credit) through terminal `t`.
    pub fn post(&mut self, t: usize, account: usize, amount: Money, refund: bool) {
        self.postings += 1;
        if let Some(a) = self.available.get_mut(account) {
            *a = if refund { *a + amount } else { *a - amount };
        }
        self.terminal(t).add(amount, refund);
    }

    /// Undoes a posting (a reversal).
    pub fn release(&mut self, t: usize, account: usize, amount: Money, refund: bool) {
        self.postings += 1;
        if let Some(a) = self.available.get_mut(account) {
            *a = if refund { *a - amount } else { *a + amount };
        }
        self.terminal(t).remove(amount, refund);
    }

    /// Settlement totals of terminal `t`.
    pub fn terminal_totals(&self, t: usize) -> Totals {
        self.terminals.get(t).copied().unwrap_or_default()
    }

    /// Double entry: what left the cardholders' accounts equals what the
    /// merchants are owed. Returns (cardholders' net outflow, merchants' net position).
    pub fn double_entry(&self) -> (Money, Money) {
        let now: Money = self.available.iter().fold(Money::ZERO, |a, b| a + *b);
        let outflow = self.opening - now;
        let merchants =
            self.terminals.iter().fold(Money::ZERO, |a, t| a + t.purchase_amount - t.refund_amount);
        (outflow, merchants)
    }

    /// Postings made (including releases).
    pub fn postings(&self) -> u64 {
        self.postings
    }
}
