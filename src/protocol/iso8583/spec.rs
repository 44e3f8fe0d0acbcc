//! ISO 8583 dialects as data.
//!
//! A dialect ([`MessageSpec`]) is a RON document listing, for every field, its
//! name, character kind, length rule and wire encoding, so a user matches their
//! acquirer's dialect by editing a file rather than code (as jPOS packagers and
//! moov-io specs allow). The two built-in dialects are generated from
//! pyiso8583 and embedded in the binary. [`Spec`] is the compiled form the
//! codec uses: a flat table indexed by field number.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The character class a field's value must belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldKind {
    /// Decimal digits (ISO "n").
    N,
    /// Letters, digits and spaces (ISO "a", "an").
    An,
    /// Printable ASCII (ISO "ans").
    Ans,
    /// Track data: digits, `=` or `D` separators, `?` `;` sentinels (ISO "z").
    Z,
    /// Raw bytes (ISO "b"): PIN blocks, ICC data, MACs.
    B,
}

/// For each byte, the kinds that allow it (bit `kind as u8`).
// Built at compile time; every index below is a byte into 256 entries.
#[allow(clippy::indexing_slicing)]
static BYTE_KINDS: [u8; 256] = {
    let kinds = FieldKind::ALL;
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let mut k = 0;
        while k < kinds.len() {
            if kinds[k].allows_by_rule(b as u8) {
                t[b] |= kinds[k].bit();
            }
            k += 1;
        }
        b += 1;
    }
    t
};

impl FieldKind {
    /// Every kind, for the byte table: a new kind goes here as well as into
    /// `allows_by_rule` (whose match will not compile without it).
    const ALL: [Self; 5] = [Self::N, Self::An, Self::Ans, Self::Z, Self::B];

    /// Whether `b` may appear in a text value of this kind.
    #[inline]
    #[allow(clippy::indexing_slicing)] // a byte into 256 entries
    pub fn allows(self, b: u8) -> bool {
        BYTE_KINDS[usize::from(b)] & self.bit() != 0
    }

    /// Where the first byte this kind does not allow is, if any: every text
    /// field of every message is checked, so one table look-up a byte.
    #[inline]
    #[allow(clippy::indexing_slicing)] // a byte into 256 entries
    pub fn first_disallowed(self, bytes: &[u8]) -> Option<usize> {
        let bit = self.bit();
        bytes.iter().position(|&b| BYTE_KINDS[usize::from(b)] & bit == 0)
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The definition [`BYTE_KINDS`] is built from.
    const fn allows_by_rule(self, b: u8) -> bool {
        match self {
            Self::N => b.is_ascii_digit(),
            Self::An => b.is_ascii_alphanumeric() || b == b' ',
            Self::Ans => matches!(b, 0x20..=0x7e),
            Self::Z => b.is_ascii_digit() || matches!(b, b'=' | b'D' | b'd' | b'?' | b';'),
            Self::B => true,
        }
    }

    /// What the kind is, for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::N => "digits",
            Self::An => "letters, digits or spaces",
            Self::Ans => "printable ASCII",
            Self::Z => "track data characters",
            Self::B => "bytes",
        }
    }
}

/// How long a field is: fixed, or variable with a 2- or 3-digit length prefix.
///
/// Sizes count the value (characters, digits or bytes), not wire bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Length {
    /// Exactly this many.
    Fixed(usize),
    /// A 2-digit length prefix, then up to this many.
    LLVar(usize),
    /// A 3-digit length prefix, then up to this many.
    LLLVar(usize),
}

impl Length {
    /// Digits in the length prefix (0 for fixed fields).
    pub fn prefix_digits(self) -> usize {
        match self {
            Self::Fixed(_) => 0,
            Self::LLVar(_) => 2,
            Self::LLLVar(_) => 3,
        }
    }

    /// The fixed size or the maximum.
    pub fn max(self) -> usize {
        match self {
            Self::Fixed(n) | Self::LLVar(n) | Self::LLLVar(n) => n,
        }
    }
}

/// How a field's value is written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Encoding {
    /// ASCII characters, one byte each.
    #[default]
    Ascii,
    /// Raw bytes written as upper-case hex characters, two per byte.
    Hex,
    /// Raw bytes as they are.
    Binary,
    /// Decimal digits packed two per byte (odd counts padded with a leading 0).
    Bcd,
}

/// How a field's length prefix is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PrefixEncoding {
    /// ASCII digits ("LL" is 2 bytes, "LLL" 3).
    #[default]
    Ascii,
    /// Packed BCD ("LL" is 1 byte, "LLL" 2).
    Bcd,
    /// Big-endian binary ("LL" is 1 byte, "LLL" 2).
    Binary,
}

/// What a length prefix counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Count {
    /// The value: characters, digits or bytes.
    #[default]
    Value,
    /// Wire units: hex characters for `Hex`, bytes for `Bcd`.
    Wire,
}

/// One field of a dialect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The field's name, shown by the inspector and in every error.
    pub name: String,
    /// The characters the value may contain.
    pub kind: FieldKind,
    /// Fixed or variable length, in value units.
    pub length: Length,
    /// How the value is written. Default: `Ascii`.
    #[serde(default)]
    pub encoding: Encoding,
    /// How the length prefix is written. Default: `Ascii`.
    #[serde(default)]
    pub prefix: PrefixEncoding,
    /// What the length prefix counts. Default: `Value`.
    #[serde(default)]
    pub count: Count,
}

/// How the message type indicator is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MtiEncoding {
    /// Four ASCII digits.
    #[default]
    Ascii,
    /// Two bytes of packed BCD.
    Bcd,
}

/// How the bitmaps are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BitmapEncoding {
    /// 16 upper-case hex characters per bitmap.
    #[default]
    Hex,
    /// 8 raw bytes per bitmap.
    Binary,
}

/// A dialect as written in a RON file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSpec {
    /// Short name, used by `--spec`.
    pub name: String,
    /// What it is and where it came from.
    #[serde(default)]
    pub description: String,
    /// Bytes of opaque header before the MTI (a TPDU, for example). Default 0.
    #[serde(default)]
    pub header: usize,
    /// MTI encoding. Default: `Ascii`.
    #[serde(default)]
    pub mti: MtiEncoding,
    /// Bitmap encoding. Default: `Hex`.
    #[serde(default)]
    pub bitmap: BitmapEncoding,
    /// Fields 2 to 128 by number.
    pub fields: BTreeMap<u8, FieldSpec>,
}

/// Why a dialect file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The RON does not parse.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file (or the built-in name).
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the RON parser said.
        message: String,
    },
    /// A field definition is not usable.
    #[error("{spec}: field {field}: {reason}")]
    Field {
        /// The dialect name.
        spec: String,
        /// The field number.
        field: u8,
        /// Why.
        reason: String,
    },
    /// The file could not be read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        message: String,
    },
    /// `--spec` named neither a built-in dialect nor a file.
    #[error("unknown spec '{0}': choose iso87-ascii, iso87-binary or a .ron file")]
    Unknown(String),
}

/// A compiled dialect: the codec's lookup table.
#[derive(Debug, Clone)]
pub struct Spec {
    doc: MessageSpec,
    table: Vec<Option<FieldSpec>>, // index = field number, 0..=128
}

const ASCII_RON: &str = include_str!("dialects/iso87-ascii.ron");
const BINARY_RON: &str = include_str!("dialects/iso87-binary.ron");

impl Spec {
    /// The built-in `iso87-ascii` dialect (pyiso8583 `default_ascii`).
    pub fn iso87_ascii() -> Self {
        Self::from_ron(ASCII_RON, "iso87-ascii").expect("the built-in iso87-ascii dialect is valid")
    }

    /// The built-in `iso87-binary` dialect (pyiso8583 `default`).
    pub fn iso87_binary() -> Self {
        Self::from_ron(BINARY_RON, "iso87-binary")
            .expect("the built-in iso87-binary dialect is valid")
    }

    /// The names of the built-in dialects.
    pub const BUILT_IN: [&'static str; 2] = ["iso87-ascii", "iso87-binary"];

    /// A built-in dialect by name, or a RON file by path.
    pub fn load(name_or_path: &str) -> Result<Self, SpecError> {
        match name_or_path {
            "iso87-ascii" => Ok(Self::iso87_ascii()),
            "iso87-binary" => Ok(Self::iso87_binary()),
            p if Path::new(p).exists() || p.ends_with(".ron") => {
                let text = crate::file::read_text(Path::new(p), crate::file::MAX_SMALL)
                    .map_err(|e| SpecError::Io { path: p.into(), message: e.to_string() })?;
                Self::from_ron(&text, p)
            }
            other => Err(SpecError::Unknown(other.into())),
        }
    }

    /// The RON source of a built-in dialect, to start a custom one from.
    pub fn built_in_source(name: &str) -> Option<&'static str> {
        match name {
            "iso87-ascii" => Some(ASCII_RON),
            "iso87-binary" => Some(BINARY_RON),
            _ => None,
        }
    }

    /// Parses and checks a dialect written in RON; `origin` names it in errors.
    pub fn from_ron(text: &str, origin: &str) -> Result<Self, SpecError> {
        let doc: MessageSpec = ron::from_str(text).map_err(|e| SpecError::Syntax {
            path: origin.into(),
            line: e.span.start.line,
            column: e.span.start.col,
            message: e.code.to_string(),
        })?;
        Self::compile(doc)
    }

    /// Checks a dialect and builds its lookup table.
    pub fn compile(doc: MessageSpec) -> Result<Self, SpecError> {
        let mut table: Vec<Option<FieldSpec>> = vec![None; 129];
        for (&n, f) in &doc.fields {
            let bad =
                |reason: String| SpecError::Field { spec: doc.name.clone(), field: n, reason };
            if !(2..=128).contains(&n) {
                return Err(bad(
                    "field numbers run from 2 to 128 (1 is the secondary bitmap)".into()
                ));
            }
            let max = f.length.max();
            if max == 0 {
                return Err(bad("length must be at least 1".into()));
            }
            match (f.kind, f.encoding) {
                (FieldKind::B, Encoding::Hex | Encoding::Binary) => {}
                (FieldKind::B, e) => {
                    return Err(bad(format!(
                        "kind B (bytes) needs encoding Hex or Binary, not {e:?}"
                    )));
                }
                (k, Encoding::Hex | Encoding::Binary) => {
                    return Err(bad(format!(
                        "encoding {:?} is for kind B; kind {k:?} is text",
                        f.encoding
                    )));
                }
                (FieldKind::N | FieldKind::Z, Encoding::Bcd) | (_, Encoding::Ascii) => {}
                (k, Encoding::Bcd) => {
                    return Err(bad(format!("BCD holds digits only; kind {k:?} is not numeric")));
                }
            }
            let digits = f.length.prefix_digits();
            if digits > 0 {
                let wire_max = wire_units(f, max);
                let counted = if f.count == Count::Wire { wire_max } else { max };
                let limit = if digits == 2 { 99 } else { 999 };
                if counted > limit {
                    return Err(bad(format!(
                        "a {digits}-digit length prefix cannot count {counted} (most {limit})"
                    )));
                }
            }
            if let Some(slot) = table.get_mut(usize::from(n)) {
                *slot = Some(f.clone());
            }
        }
        Ok(Self { doc, table })
    }

    /// The dialect as written.
    pub fn doc(&self) -> &MessageSpec {
        &self.doc
    }

    /// The dialect's name.
    pub fn name(&self) -> &str {
        &self.doc.name
    }

    /// The spec of field `n`, if the dialect defines it.
    #[inline]
    pub fn field(&self, n: u8) -> Option<&FieldSpec> {
        self.table.get(usize::from(n)).and_then(Option::as_ref)
    }

    /// The name of field `n`, or "unknown".
    pub fn field_name(&self, n: u8) -> &str {
        self.field(n).map_or("unknown", |f| f.name.as_str())
    }

    /// Serialises the dialect back to RON (round-trips through [`Self::from_ron`]).
    pub fn to_ron(&self) -> String {
        ron::ser::to_string_pretty(&self.doc, ron::ser::PrettyConfig::default()).unwrap_or_default()
    }
}

/// Wire units (bytes) for a value of `n` units under this field's encoding.
#[inline]
pub(crate) fn wire_units(f: &FieldSpec, n: usize) -> usize {
    match f.encoding {
        Encoding::Ascii | Encoding::Binary => n,
        Encoding::Hex => 2 * n,
        Encoding::Bcd => n.div_ceil(2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_dialects_round_trip_through_ron() {
        for spec in [Spec::iso87_ascii(), Spec::iso87_binary()] {
            let again = Spec::from_ron(&spec.to_ron(), "again").expect("round trip");
            assert_eq!(again.doc(), spec.doc());
            assert_eq!(spec.doc().fields.len(), 127);
        }
    }

    #[test]
    fn a_bad_dialect_names_the_field() {
        let err = Spec::from_ron(
            r#"MessageSpec(name: "x", fields: { 4: (name: "Amount", kind: N, length: Fixed(12), encoding: Hex) })"#,
            "x.ron",
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "x: field 4: encoding Hex is for kind B; kind N is text");
    }

    #[test]
    fn the_byte_table_says_what_the_rules_say() {
        for kind in FieldKind::ALL {
            for b in 0..=255u8 {
                assert_eq!(kind.allows(b), kind.allows_by_rule(b), "{kind:?} {b:#04x}");
            }
            assert_eq!(kind.first_disallowed(b"0123"), None);
        }
        assert_eq!(FieldKind::N.first_disallowed(b"12a4"), Some(2));
        assert_eq!(FieldKind::An.first_disallowed(b"AB 1=2"), Some(4));
        assert_eq!(FieldKind::Ans.first_disallowed(b"ok\x7f"), Some(2));
        assert_eq!(FieldKind::Z.first_disallowed(b"41D28=;?x"), Some(8));
        assert_eq!(FieldKind::B.first_disallowed(&[0, 0xff]), None);
    }

    #[test]
    fn a_syntax_error_has_a_position() {
        let err =
            Spec::from_ron("MessageSpec(name: \"x\",\n fields: { 4: (nam: \"A\") })", "d.ron")
                .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("d.ron:2:"), "{text}");
    }
}
