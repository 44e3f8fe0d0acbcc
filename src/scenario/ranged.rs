//! Fault parameters a sweep can vary: a value is written as usual (`0.05`,
//! `"200ms"`), or as a range `(0.0, 0.3)` / `("1s", "40s")` from which each
//! seed draws its own value. The draw comes from the seed and the fault's
//! place in the file, so `possim run --seed N` replays exactly what
//! `possim sweep` ran.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::rng::Stream;
use crate::time::Duration;

/// A probability: a number from 0.0 to 1.0, checked where it is written.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Probability(pub f64);

/// What a ranged value can be.
pub trait RangeValue: Copy + PartialOrd + fmt::Display + Sized {
    /// What it is, for messages.
    const WHAT: &'static str;
    /// From a number in the file.
    fn from_number(v: f64) -> Result<Self, String>;
    /// From a string in the file.
    fn from_text(s: &str) -> Result<Self, String>;
    /// The point `u` (0..1) of the way from `lo` to `hi`.
    fn lerp(lo: Self, hi: Self, u: f64) -> Self;
    /// Written back out.
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error>;
}

impl fmt::Display for Probability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl RangeValue for Probability {
    const WHAT: &'static str = "a probability (0.0 to 1.0)";
    fn from_number(v: f64) -> Result<Self, String> {
        if v.is_finite() && (0.0..=1.0).contains(&v) {
            Ok(Self(v))
        } else {
            Err(format!("a probability must be between 0.0 and 1.0, found {v}"))
        }
    }
    fn from_text(s: &str) -> Result<Self, String> {
        Err(format!("a probability is a number like 0.05, found the text {s:?}"))
    }
    fn lerp(lo: Self, hi: Self, u: f64) -> Self {
        Self((lo.0 + (hi.0 - lo.0) * u).clamp(0.0, 1.0))
    }
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

impl Serialize for Probability {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

/// Read as a number, refused outside 0.0 to 1.0 where it is written.
impl<'de> Deserialize<'de> for Probability {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::from_number(f64::deserialize(d)?).map_err(de::Error::custom)
    }
}

impl RangeValue for Duration {
    const WHAT: &'static str = "a duration (\"200ms\")";
    fn from_number(v: f64) -> Result<Self, String> {
        Err(format!("a duration is text with a unit, like \"200ms\", found the number {v}"))
    }
    fn from_text(s: &str) -> Result<Self, String> {
        Duration::parse(s)
    }
    fn lerp(lo: Self, hi: Self, u: f64) -> Self {
        let span = hi.micros().saturating_sub(lo.micros()) as f64;
        Duration(lo.micros().saturating_add((span * u) as u64))
    }
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.serialize(s)
    }
}

/// One value, or a range each seed draws from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ranged<T> {
    /// Always this.
    Fixed(T),
    /// Drawn uniformly from low to high, per seed.
    Between(T, T),
}

impl<T: RangeValue> Ranged<T> {
    /// The value (the low end of a range that was not drawn yet).
    pub fn value(&self) -> T {
        match *self {
            Self::Fixed(v) | Self::Between(v, _) => v,
        }
    }

    /// The highest value it can take.
    pub fn high(&self) -> T {
        match *self {
            Self::Fixed(v) | Self::Between(_, v) => v,
        }
    }

    /// This seed's value.
    pub fn draw(&self, rng: &mut Stream) -> Self {
        match *self {
            Self::Fixed(v) => Self::Fixed(v),
            Self::Between(lo, hi) => Self::Fixed(T::lerp(lo, hi, rng.f64())),
        }
    }
}

impl<T: RangeValue> fmt::Display for Ranged<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(v) => write!(f, "{v}"),
            Self::Between(lo, hi) => write!(f, "{lo} to {hi}"),
        }
    }
}

impl<T: RangeValue> From<T> for Ranged<T> {
    fn from(v: T) -> Self {
        Self::Fixed(v)
    }
}

impl<T: RangeValue> Serialize for Ranged<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        match self {
            Self::Fixed(v) => v.write(s),
            Self::Between(lo, hi) => {
                let mut t = s.serialize_tuple(2)?;
                t.serialize_element(&Written(*lo))?;
                t.serialize_element(&Written(*hi))?;
                t.end()
            }
        }
    }
}

struct Written<T>(T);

impl<T: RangeValue> Serialize for Written<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.write(s)
    }
}

impl<'de, T: RangeValue> Deserialize<'de> for Ranged<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RangedVisitor(PhantomData))
    }
}

struct RangedVisitor<T>(PhantomData<T>);

impl<'de, T: RangeValue> Visitor<'de> for RangedVisitor<T> {
    type Value = Ranged<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, or a range (low, high)", T::WHAT)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        T::from_number(v).map(Ranged::Fixed).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.visit_f64(v as f64)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.visit_f64(v as f64)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        T::from_text(v).map(Ranged::Fixed).map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let one = |v: Option<Ranged<T>>| match v {
            Some(Ranged::Fixed(v)) => Ok(v),
            _ => Err(de::Error::custom(format!("a range is (low, high): two of {}", T::WHAT))),
        };
        let lo = one(seq.next_element()?)?;
        let hi = one(seq.next_element()?)?;
        if seq.next_element::<Ranged<T>>()?.is_some() {
            return Err(de::Error::custom("a range has two ends: (low, high)"));
        }
        if lo > hi {
            return Err(de::Error::custom(format!(
                "the range ({lo}, {hi}) is empty: low is above high"
            )));
        }
        Ok(Ranged::Between(lo, hi))
    }
}
