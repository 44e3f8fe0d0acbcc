//! The issuer's ledger: cardholder accounts, merchant settlement positions
//! per terminal, and the double-entry invariant between them.
//!
//! Money here is checked, never wrapped or clamped: a posting that would
//! take an account, a terminal's totals or either side of the double entry
//! out of range is refused whole, and the host declines it.

pub use crate::money::Totals;
use crate::money::{Money, OutOfRange};

/// Accounts and settlement positions.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    available: Vec<Money>,
    terminals: Vec<Totals>,
    /// What has left the cardholders' accounts, net: the sum of every
    /// change to an account, with the sign turned. Kept as postings are
    /// made, from the accounts' side only.
    outflow: Money,
    /// What the merchants are owed, net: the sum of every change to a
    /// terminal's purchases less refunds. Kept from the terminals' side only.
    owed: Money,
    postings: u64,
}

impl Ledger {
    /// Opens an account; returns its index.
    pub fn open_account(&mut self, available: Money) -> usize {
        self.available.push(available);
        self.available.len() - 1
    }

    /// Makes room for `n` more accounts.
    pub fn reserve_accounts(&mut self, n: usize) {
        self.available.reserve(n);
    }

    /// An account's available balance.
    pub fn available(&self, account: usize) -> Money {
        self.available.get(account).copied().unwrap_or_default()
    }

    /// Posts a purchase (debit) or refund (credit) through terminal `t`.
    /// On `OutOfRange` nothing changes.
    pub fn post(
        &mut self,
        t: usize,
        account: usize,
        amount: Money,
        refund: bool,
    ) -> Result<(), OutOfRange> {
        let change = if refund { amount } else { Money::ZERO.checked_sub(amount)? };
        let totals = self.terminal_totals(t).with(amount, refund)?;
        self.apply(t, account, change, totals)
    }

    /// Undoes a posting (a reversal). On `OutOfRange` nothing changes.
    pub fn release(
        &mut self,
        t: usize,
        account: usize,
        amount: Money,
        refund: bool,
    ) -> Result<(), OutOfRange> {
        let change = if refund { Money::ZERO.checked_sub(amount)? } else { amount };
        let mut totals = self.terminal_totals(t);
        totals.remove(amount, refund)?;
        self.apply(t, account, change, totals)
    }

    /// Moves `change` into the account and sets terminal `t`'s totals, if
    /// every figure stays in range; otherwise changes nothing.
    fn apply(
        &mut self,
        t: usize,
        account: usize,
        change: Money,
        totals: Totals,
    ) -> Result<(), OutOfRange> {
        let before = self.terminal_totals(t).net()?;
        let owed = self.owed.checked_add(totals.net()?.checked_sub(before)?)?;
        let (balance, outflow) = match self.available.get(account) {
            Some(a) => (Some(a.checked_add(change)?), self.outflow.checked_sub(change)?),
            None => (None, self.outflow),
        };
        if let (Some(b), Some(a)) = (balance, self.available.get_mut(account)) {
            *a = b;
        }
        if self.terminals.len() <= t {
            self.terminals.resize(t + 1, Totals::default());
        }
        self.terminals[t] = totals;
        self.outflow = outflow;
        self.owed = owed;
        self.postings += 1;
        Ok(())
    }

    /// Settlement totals of terminal `t`.
    pub fn terminal_totals(&self, t: usize) -> Totals {
        self.terminals.get(t).copied().unwrap_or_default()
    }

    /// Double entry: what left the cardholders' accounts equals what the
    /// merchants are owed. Returns (cardholders' net outflow, merchants' net
    /// position), each kept from its own side of every posting.
    pub fn double_entry(&self) -> (Money, Money) {
        (self.outflow, self.owed)
    }

    /// Postings made (including releases).
    pub fn postings(&self) -> u64 {
        self.postings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_posting_that_would_overflow_changes_nothing() {
        let mut l = Ledger::default();
        let rich = l.open_account(Money(i64::MAX - 10));
        assert_eq!(l.post(0, rich, Money(11), true), Err(OutOfRange));
        assert_eq!(l.available(rich), Money(i64::MAX - 10));
        assert_eq!((l.terminal_totals(0), l.postings()), (Totals::default(), 0));
        assert_eq!(l.double_entry(), (Money::ZERO, Money::ZERO));
        assert_eq!(l.post(0, rich, Money(10), true), Ok(()));
        assert_eq!(l.available(rich), Money(i64::MAX));
        assert_eq!(l.double_entry(), (Money(-10), Money(-10)));
    }

    #[test]
    fn a_posting_that_misses_its_account_shows_in_the_double_entry() {
        let mut l = Ledger::default();
        let a = l.open_account(Money(5_000));
        assert_eq!(l.post(1, a, Money(700), false), Ok(()));
        assert_eq!(l.release(1, a, Money(200), true), Err(OutOfRange), "no refund to take back");
        assert_eq!(l.post(1, a + 1, Money(300), false), Ok(()));
        let (outflow, owed) = l.double_entry();
        assert_eq!((outflow, owed), (Money(700), Money(1_000)), "the books do not balance");
        assert_eq!(l.terminal_totals(1).purchases, 2);
        assert_eq!(l.terminal_totals(0), Totals::default());
    }
}
