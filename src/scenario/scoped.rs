//! A fault or an attack is written once as *kind + window + filter*:
//! `Loss(p: 0.05, from: "1h", until: "2h", direction: Down, mti: "0210")`.
//!
//! The kind is a plain serde enum whose variants carry only their own
//! parameters. [`Scoped`] reads it through a deserializer that takes the
//! window and filter keys (`from`, `until`, `direction`, `mti`, `terminal`,
//! and `chance`, the probability it is there at all in a seed's run)
//! out of the variant's fields first, so every kind gets them, parsed,
//! validated and located in one place, without repeating them per variant
//! (serde's `flatten` cannot be combined with `deny_unknown_fields`).
//! A bad value is reported by the RON parser at its own position.

use std::fmt;
use std::sync::{Mutex, OnceLock};

use serde::Deserialize;
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, VariantAccess, Visitor,
};

use super::Direction;
use crate::protocol::iso8583::Mti;
use crate::time::Duration;

/// The keys every scoped kind accepts besides its own.
pub const SCOPE_FIELDS: &[&str] = &["from", "until", "direction", "mti", "terminal", "chance"];

/// When a fault or attack is active and which frames it sees.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScopeSpec {
    /// Active from (virtual time). Default: the start.
    pub from: Option<Duration>,
    /// Active until (virtual time). Default: the end.
    pub until: Option<Duration>,
    /// Only frames this way (Up = requests, Down = responses). Default both.
    pub direction: Option<Direction>,
    /// Only frames with this MTI ("0210"). Default all.
    pub mti: Option<Mti>,
    /// Only frames of this terminal. Default all.
    pub terminal: Option<String>,
    /// Present in a given seed's run with this probability (drawn per seed
    /// at plan time, so a sweep mixes faults and attacks). Default 1.
    pub chance: Option<super::Probability>,
}

/// What a kind can say about itself once its fields are read.
pub trait Kind {
    /// Its name in reports and journals.
    fn name(&self) -> &'static str;
    /// A range or consistency problem with its own parameters, if any.
    fn problem(&self) -> Option<String> {
        None
    }
}

/// A kind with its scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Scoped<K> {
    /// What it does.
    pub kind: K,
    /// When and to what.
    pub scope: ScopeSpec,
}

impl<'de, K: Deserialize<'de> + Kind> Deserialize<'de> for Scoped<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut scope = ScopeSpec::default();
        let kind = K::deserialize(Wrap { inner: d, scope: &mut scope })?;
        if let Some(problem) = kind.problem() {
            return Err(de::Error::custom(format!("{}: {problem}", kind.name())));
        }
        Ok(Self { kind, scope })
    }
}

/// The derived enum deserializer, with the scope keys taken out of its map.
struct Wrap<'s, D> {
    inner: D,
    scope: &'s mut ScopeSpec,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Wrap<'_, D> {
    type Error = D::Error;

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_enum(
            name,
            variants,
            WrapVisitor { inner: visitor, scope: self.scope },
        )
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_any(WrapVisitor { inner: visitor, scope: self.scope })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

struct WrapVisitor<'s, V> {
    inner: V,
    scope: &'s mut ScopeSpec,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for WrapVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(WrapEnum { inner: data, scope: self.scope })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.inner.visit_str(v)
    }
}

struct WrapEnum<'s, A> {
    inner: A,
    scope: &'s mut ScopeSpec,
}

impl<'de, 's, A: EnumAccess<'de>> EnumAccess<'de> for WrapEnum<'s, A> {
    type Error = A::Error;
    type Variant = WrapVariant<'s, A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), Self::Error> {
        let (value, variant) = self.inner.variant_seed(seed)?;
        Ok((value, WrapVariant { inner: variant, scope: self.scope }))
    }
}

struct WrapVariant<'s, A> {
    inner: A,
    scope: &'s mut ScopeSpec,
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for WrapVariant<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.newtype_variant_seed(seed)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.inner.tuple_variant(len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let all = with_scope_fields(fields);
        self.inner
            .struct_variant(all, FieldsVisitor { inner: visitor, scope: self.scope, fields, all })
    }
}

struct FieldsVisitor<'s, V> {
    inner: V,
    scope: &'s mut ScopeSpec,
    fields: &'static [&'static str],
    all: &'static [&'static str],
}

impl<'de, V: Visitor<'de>> Visitor<'de> for FieldsVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
        self.inner.visit_map(ScopeKeys {
            inner: map,
            scope: self.scope,
            fields: self.fields,
            all: self.all,
            seen: Vec::new(),
        })
    }
}

/// The variant's map with the scope keys taken out.
struct ScopeKeys<'s, M> {
    inner: M,
    scope: &'s mut ScopeSpec,
    fields: &'static [&'static str],
    all: &'static [&'static str],
    seen: Vec<&'static str>,
}

impl<'de, M: MapAccess<'de>> MapAccess<'de> for ScopeKeys<'_, M> {
    type Error = M::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, M::Error> {
        loop {
            let Some(key) = self.inner.next_key::<String>()? else { return Ok(None) };
            let Some(&scope_key) = SCOPE_FIELDS.iter().find(|k| **k == key) else {
                if !self.fields.contains(&key.as_str()) {
                    return Err(de::Error::unknown_field(&key, self.all));
                }
                return seed.deserialize(de::value::StringDeserializer::new(key)).map(Some);
            };
            if self.seen.contains(&scope_key) {
                return Err(de::Error::duplicate_field(scope_key));
            }
            self.seen.push(scope_key);
            let s = &mut *self.scope;
            match scope_key {
                "from" => {
                    s.from =
                        Some(self.inner.next_value_seed(Bound { until: s.until, from: None })?);
                }
                "until" => {
                    s.until =
                        Some(self.inner.next_value_seed(Bound { from: s.from, until: None })?);
                }
                "direction" => s.direction = Some(self.inner.next_value()?),
                "mti" => {
                    let text: String = self.inner.next_value()?;
                    let mti = Mti::parse(&text).ok_or_else(|| {
                        de::Error::custom(format!(
                            "`mti` must be 4 digits like \"0210\", found {text:?}"
                        ))
                    })?;
                    s.mti = Some(mti);
                }
                "chance" => {
                    let v: f64 = self.inner.next_value()?;
                    let p = <super::Probability as super::RangeValue>::from_number(v)
                        .map_err(|e| de::Error::custom(format!("`chance`: {e}")))?;
                    s.chance = Some(p);
                }
                _ => s.terminal = Some(self.inner.next_value()?),
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, M::Error> {
        self.inner.next_value_seed(seed)
    }
}

/// One bound of a window, checked against the other (when already read)
/// inside the value's own deserialization, so an inverted window is reported
/// at the second bound's value, whichever order they are written in.
struct Bound {
    from: Option<Duration>,
    until: Option<Duration>,
}

impl<'de> DeserializeSeed<'de> for Bound {
    type Value = Duration;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Duration, D::Error> {
        let value = Duration::deserialize(d)?;
        let (from, until) = (self.from.unwrap_or(value), self.until.unwrap_or(value));
        if (self.from.is_some() || self.until.is_some()) && from >= until {
            return Err(de::Error::custom(format!(
                "the window must end after it starts (`from` {from} is not before `until` {until})"
            )));
        }
        Ok(value)
    }
}

/// `fields` followed by the scope keys, made once per variant.
type Names = &'static [&'static str];

fn with_scope_fields(fields: Names) -> Names {
    static MADE: OnceLock<Mutex<Vec<(usize, Names)>>> = OnceLock::new();
    let made = MADE.get_or_init(Mutex::default);
    let mut made = made.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let key = fields.as_ptr() as usize ^ fields.len();
    if let Some((_, all)) = made.iter().find(|(k, _)| *k == key) {
        return all;
    }
    let all: Vec<&'static str> = fields.iter().chain(SCOPE_FIELDS).copied().collect();
    // Bounded by the number of variants in the schema: leaked once each.
    let all: &'static [&'static str] = Box::leak(all.into_boxed_slice());
    made.push((key, all));
    all
}
