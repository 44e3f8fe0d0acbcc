//! Amounts of money in minor units, written as people write them ("35.00").

use std::fmt;

/// An amount in minor units (cents, fen). Currencies here have 2 decimals.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(pub i64);

impl Money {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// Parses "35", "35.5", "35.00", "-1.25", "1,000.00".
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("expected an amount like \"35.00\" or \"1,000.00\", found {s:?}");
        let trimmed = s.trim();
        // Thousands separators, if any, must group by three: "1,000.00".
        let int_part = trimmed.split('.').next().unwrap_or("").trim_start_matches('-');
        for sep in [',', '_'] {
            if int_part.contains(sep) {
                let groups: Vec<&str> = int_part.split(sep).collect();
                let first = groups.first().map_or(0, |g| g.len());
                if !(1..=3).contains(&first) || groups.iter().skip(1).any(|g| g.len() != 3) {
                    return Err(bad());
                }
            }
        }
        let t: String = trimmed.chars().filter(|&c| c != ',' && c != '_').collect();
        let (neg, t) = t.strip_prefix('-').map_or((false, t.as_str()), |r| (true, r));
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        if int.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > 2
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let whole: i64 = int.parse().map_err(|_| bad())?;
        let cents: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
        let v = whole.checked_mul(100).and_then(|w| w.checked_add(cents)).ok_or_else(bad)?;
        Ok(Self(if neg { -v } else { v }))
    }

    /// Minor units as an unsigned ISO 8583 amount (negative becomes zero).
    pub fn minor(self) -> u64 {
        self.0.max(0) as u64
    }

    /// `self + o`, or `OutOfRange`: money is never wrapped or clamped, so a
    /// posting that cannot be represented is refused whole.
    pub fn checked_add(self, o: Self) -> Result<Self, OutOfRange> {
        self.0.checked_add(o.0).map(Self).ok_or(OutOfRange)
    }

    /// `self - o`, or `OutOfRange`.
    pub fn checked_sub(self, o: Self) -> Result<Self, OutOfRange> {
        self.0.checked_sub(o.0).map(Self).ok_or(OutOfRange)
    }

    /// `self + o` held at the bounds: only for tallies shown to people
    /// (fraud losses, savings), never for a balance or a total that is
    /// compared. Amounts and balances are bounded by `check`, so reaching
    /// the bound takes a run far beyond any scenario's.
    pub fn saturating_add(self, o: Self) -> Self {
        Self(self.0.saturating_add(o.0))
    }

    /// `self - o` held at the bounds: for tallies, as `saturating_add`.
    pub fn saturating_sub(self, o: Self) -> Self {
        Self(self.0.saturating_sub(o.0))
    }
}

/// An amount beyond what an `i64` of minor units holds
/// (±92,233,720,368,547,758.07): the ledger refuses the posting and the
/// host declines it rather than keep a wrong balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("amount out of range")]
pub struct OutOfRange;

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}{}.{:02}", self.0.unsigned_abs() / 100, self.0.unsigned_abs() % 100)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Settlement totals: count and amount of purchases and of refunds. Both
/// sides of settlement keep one (the terminal what it approved, the host what
/// it approved minus what was reversed) and compare them at end of day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Totals {
    /// Purchases.
    pub purchases: u64,
    /// Their amount.
    pub purchase_amount: Money,
    /// Refunds.
    pub refunds: u64,
    /// Their amount.
    pub refund_amount: Money,
}

impl Totals {
    /// Counts one approved purchase or refund; on `OutOfRange` the totals
    /// are left as they were.
    pub fn add(&mut self, amount: Money, refund: bool) -> Result<(), OutOfRange> {
        *self = self.with(amount, refund)?;
        Ok(())
    }

    /// These totals with one more purchase or refund, if they can hold it.
    pub fn with(mut self, amount: Money, refund: bool) -> Result<Self, OutOfRange> {
        let (count, sum) = self.side(refund);
        *count = count.checked_add(1).ok_or(OutOfRange)?;
        *sum = sum.checked_add(amount)?;
        Ok(self)
    }

    /// Takes one back (a reversal); on `OutOfRange` (nothing of the kind
    /// counted, or an amount that cannot be taken) the totals are left as
    /// they were.
    pub fn remove(&mut self, amount: Money, refund: bool) -> Result<(), OutOfRange> {
        let mut t = *self;
        let (count, sum) = t.side(refund);
        *count = count.checked_sub(1).ok_or(OutOfRange)?;
        *sum = sum.checked_sub(amount)?;
        *self = t;
        Ok(())
    }

    /// What the merchant is owed: purchases less refunds.
    pub fn net(&self) -> Result<Money, OutOfRange> {
        self.purchase_amount.checked_sub(self.refund_amount)
    }

    fn side(&mut self, refund: bool) -> (&mut u64, &mut Money) {
        if refund {
            (&mut self.refunds, &mut self.refund_amount)
        } else {
            (&mut self.purchases, &mut self.purchase_amount)
        }
    }
}

impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!(Money::parse("35.00"), Ok(Money(3500)));
        assert_eq!(Money::parse("35"), Ok(Money(3500)));
        assert_eq!(Money::parse("35.5"), Ok(Money(3550)));
        assert_eq!(Money::parse("1,000.05"), Ok(Money(100_005)));
        assert_eq!(Money::parse("-1.25"), Ok(Money(-125)));
        assert!(Money::parse("35.001").is_err());
        assert!(Money::parse("abc").is_err());
        assert!(Money::parse("1,0,0.50").is_err(), "separators group by three");
        assert!(Money::parse(",100.00").is_err());
        assert_eq!(Money::parse("1,234,567.89"), Ok(Money(123_456_789)));
        assert!(Money::parse("99999999999999999999").is_err());
        assert_eq!(Money(100_005).to_string(), "1000.05");
        assert_eq!(Money(-5).to_string(), "-0.05");
        assert_eq!(format!("{:?}", Money(-5)), "-0.05", "debug output reads as money too");
    }

    #[test]
    fn arithmetic_is_refused_past_the_range_and_tallies_stop_at_it() {
        let top = Money(i64::MAX);
        assert_eq!(top.checked_add(Money(1)), Err(OutOfRange));
        assert_eq!(Money(i64::MIN).checked_sub(Money(1)), Err(OutOfRange));
        assert_eq!(Money(5).checked_sub(Money(7)), Ok(Money(-2)));
        assert_eq!(top.saturating_add(Money(1)), top);
        assert_eq!(Money(i64::MIN).saturating_sub(Money(1)), Money(i64::MIN));
        assert_eq!(Money(9).saturating_sub(Money(4)), Money(5));
    }

    #[test]
    fn totals_that_cannot_take_a_sale_or_a_reversal_are_left_as_they_were() {
        let mut t = Totals::default();
        assert_eq!(t.remove(Money(1), false), Err(OutOfRange), "nothing counted to take back");
        assert_eq!(t.add(Money(i64::MAX), false), Ok(()));
        let full = t;
        assert_eq!(t.add(Money(1), false), Err(OutOfRange));
        assert_eq!(t, full);
        assert_eq!(t.add(Money(1), true), Ok(()), "refunds are counted apart");
        assert_eq!(t.net(), Ok(Money(i64::MAX - 1)));
        assert_eq!(t.remove(Money(i64::MAX), false), Ok(()));
        assert_eq!((t.purchases, t.purchase_amount, t.refunds), (0, Money::ZERO, 1));
    }
}
