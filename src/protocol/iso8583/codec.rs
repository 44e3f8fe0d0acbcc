//! Encoding and decoding under a [`Spec`].
//!
//! The decoder reads untrusted bytes: every read is bounds-checked and every
//! failure is a [`DecodeError`] naming the element, its offset and the cause.
//! Both directions write straight into one buffer; the hot path allocates
//! only the message's value buffer.

use super::error::{DecodeError, DecodeErrorKind, Element, EncodeError, EncodeErrorKind};
use super::message::{Message, Mti};
use super::spec::{
    BitmapEncoding, Count, Encoding, FieldKind, FieldSpec, Length, MtiEncoding, PrefixEncoding,
    Spec, wire_units,
};
use crate::protocol::reader::Reader;

/// Where each element of a decoded message sits on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// (element, start offset, end offset), in wire order.
    pub elements: Vec<(Element, usize, usize)>,
}

impl Layout {
    /// The byte range of field `n` (length prefix included).
    pub fn field(&self, n: u8) -> Option<std::ops::Range<usize>> {
        self.elements.iter().find(|e| e.0 == Element::Field(n)).map(|e| e.1..e.2)
    }
}

/// The upper-case hex digit for the low nibble of `n`.
#[inline]
pub(crate) fn hex_digit(n: u8) -> u8 {
    let n = n & 0x0f;
    if n < 10 { b'0' + n } else { b'A' + n - 10 }
}

#[inline]
fn hex_nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

struct Decoder<'s> {
    spec: &'s Spec,
}

impl Decoder<'_> {
    fn err(&self, element: Element, offset: usize, kind: DecodeErrorKind) -> DecodeError {
        let name = match element {
            Element::Field(n) => self.spec.field_name(n).to_string(),
            _ => String::new(),
        };
        DecodeError { element, name, offset, kind }
    }

    #[inline]
    fn take<'a>(
        &self,
        r: &mut Reader<'a>,
        n: usize,
        el: Element,
        start: usize,
    ) -> Result<&'a [u8], DecodeError> {
        let available = r.remaining();
        r.take(n)
            .ok_or_else(|| self.err(el, start, DecodeErrorKind::Truncated { needed: n, available }))
    }

    fn bitmap(&self, r: &mut Reader<'_>, el: Element) -> Result<u64, DecodeError> {
        let start = r.pos();
        match self.spec.doc().bitmap {
            BitmapEncoding::Binary => {
                let b = self.take(r, 8, el, start)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Ok(u64::from_be_bytes(a))
            }
            BitmapEncoding::Hex => {
                let b = self.take(r, 16, el, start)?;
                let mut v = 0u64;
                for (i, &c) in b.iter().enumerate() {
                    let nib = hex_nibble(c).ok_or_else(|| {
                        self.err(
                            el,
                            start,
                            DecodeErrorKind::BadCharacter {
                                byte: c,
                                at: start + i,
                                expected: "a hex digit",
                            },
                        )
                    })?;
                    v = (v << 4) | u64::from(nib);
                }
                Ok(v)
            }
        }
    }

    fn prefix(
        &self,
        r: &mut Reader<'_>,
        f: &FieldSpec,
        el: Element,
        start: usize,
    ) -> Result<usize, DecodeError> {
        let digits = f.length.prefix_digits();
        let bad = |raw: &[u8]| {
            self.err(
                el,
                start,
                DecodeErrorKind::BadPrefix { found: raw.escape_ascii().to_string() },
            )
        };
        match f.prefix {
            PrefixEncoding::Ascii => {
                let raw = self.take(r, digits, el, start)?;
                let mut n = 0usize;
                for &c in raw {
                    if !c.is_ascii_digit() {
                        return Err(bad(raw));
                    }
                    n = n * 10 + usize::from(c - b'0');
                }
                Ok(n)
            }
            PrefixEncoding::Bcd => {
                let raw = self.take(r, digits.div_ceil(2), el, start)?;
                let mut n = 0usize;
                for &c in raw {
                    let (hi, lo) = (c >> 4, c & 0x0f);
                    if hi > 9 || lo > 9 {
                        return Err(bad(raw));
                    }
                    n = n * 100 + usize::from(hi) * 10 + usize::from(lo);
                }
                Ok(n)
            }
            PrefixEncoding::Binary => {
                let raw = self.take(r, digits.div_ceil(2), el, start)?;
                Ok(raw.iter().fold(0usize, |n, &c| (n << 8) | usize::from(c)))
            }
        }
    }

    fn field(&self, r: &mut Reader<'_>, n: u8, msg: &mut Message) -> Result<(), DecodeError> {
        let el = Element::Field(n);
        let start = r.pos();
        let f =
            self.spec.field(n).ok_or_else(|| self.err(el, start, DecodeErrorKind::NotInSpec))?;
        let value_len = match f.length {
            Length::Fixed(len) => len,
            Length::LLVar(max) | Length::LLLVar(max) => {
                let count = self.prefix(r, f, el, start)?;
                let len = match (f.count, f.encoding) {
                    (Count::Wire, Encoding::Hex) => {
                        if count % 2 == 1 {
                            return Err(self.err(
                                el,
                                start,
                                DecodeErrorKind::OddHexLength { length: count },
                            ));
                        }
                        count / 2
                    }
                    (Count::Wire, Encoding::Bcd) => count * 2,
                    _ => count,
                };
                if len > max {
                    return Err(self.err(
                        el,
                        start,
                        DecodeErrorKind::TooLong {
                            length: count,
                            max: if f.count == Count::Wire { wire_units(f, max) } else { max },
                        },
                    ));
                }
                len
            }
        };
        let value_at = r.pos();
        let raw = self.take(r, wire_units(f, value_len), el, start)?;
        match f.encoding {
            Encoding::Ascii => {
                if f.kind != FieldKind::B
                    && let Some(i) = f.kind.first_disallowed(raw)
                {
                    let byte = raw.get(i).copied().unwrap_or_default();
                    return Err(self.err(
                        el,
                        start,
                        DecodeErrorKind::BadCharacter {
                            byte,
                            at: value_at + i,
                            expected: f.kind.describe(),
                        },
                    ));
                }
                msg.set_with(n, |buf| buf.extend_from_slice(raw));
            }
            Encoding::Binary => msg.set_with(n, |buf| buf.extend_from_slice(raw)),
            Encoding::Hex => {
                let mut bad = None;
                msg.set_with(n, |buf| {
                    // Sized once and written in place: field 55 is hundreds of digits.
                    let at = buf.len();
                    buf.resize(at + raw.len() / 2, 0);
                    let dst = buf.get_mut(at..).unwrap_or_default();
                    for (i, (d, pair)) in dst.iter_mut().zip(raw.chunks_exact(2)).enumerate() {
                        let (a, b) =
                            (pair.first().copied().unwrap_or(0), pair.get(1).copied().unwrap_or(0));
                        match (hex_nibble(a), hex_nibble(b)) {
                            (Some(h), Some(l)) => *d = (h << 4) | l,
                            (None, _) => {
                                bad = Some((a, 2 * i));
                                return;
                            }
                            (_, None) => {
                                bad = Some((b, 2 * i + 1));
                                return;
                            }
                        }
                    }
                });
                if let Some((byte, i)) = bad {
                    msg.remove(n);
                    return Err(self.err(
                        el,
                        start,
                        DecodeErrorKind::BadCharacter {
                            byte,
                            at: value_at + i,
                            expected: "a hex digit",
                        },
                    ));
                }
            }
            Encoding::Bcd => {
                let skip = value_len % 2; // odd digit counts carry a leading pad nibble
                let mut bad = None;
                msg.set_with(n, |buf| {
                    for i in skip..skip + value_len {
                        let byte = raw.get(i / 2).copied().unwrap_or(0);
                        let nib = if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
                        let c = match nib {
                            0..=9 => b'0' + nib,
                            0x0d if f.kind == FieldKind::Z => b'=',
                            _ => {
                                bad = Some((byte, i / 2));
                                return;
                            }
                        };
                        buf.push(c);
                    }
                });
                if let Some((byte, i)) = bad {
                    msg.remove(n);
                    return Err(self.err(
                        el,
                        start,
                        DecodeErrorKind::BadCharacter {
                            byte,
                            at: value_at + i,
                            expected: "packed BCD digits",
                        },
                    ));
                }
            }
        }
        Ok(())
    }

    /// Decodes into `slot`; on error `slot` keeps what was decoded before it
    /// (None if even the MTI was unreadable).
    fn message(
        &self,
        wire: &[u8],
        mut layout: Option<&mut Layout>,
        slot: &mut Option<Message>,
    ) -> Result<(), DecodeError> {
        let mut r = Reader::new(wire);
        let doc = self.spec.doc();
        let mut note = |el: Element, start: usize, end: usize| {
            if let Some(l) = layout.as_deref_mut() {
                l.elements.push((el, start, end));
            }
        };
        let header = self.take(&mut r, doc.header, Element::Header, 0)?;
        if doc.header > 0 {
            note(Element::Header, 0, r.pos());
        }
        let start = r.pos();
        let mti = match doc.mti {
            MtiEncoding::Ascii => {
                let b = self.take(&mut r, 4, Element::Mti, start)?;
                let mut m = [0u8; 4];
                m.copy_from_slice(b);
                m
            }
            MtiEncoding::Bcd => {
                let b = self.take(&mut r, 2, Element::Mti, start)?;
                let mut m = [0u8; 4];
                for (i, c) in m.iter_mut().enumerate() {
                    let byte = b.get(i / 2).copied().unwrap_or(0);
                    *c = b'0' + if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
                }
                m
            }
        };
        if let Some(i) = mti.iter().position(|c| !c.is_ascii_digit()) {
            let byte = wire.get(start + i).copied().unwrap_or_default();
            return Err(self.err(
                Element::Mti,
                start,
                DecodeErrorKind::BadCharacter { byte, at: start + i, expected: "digits" },
            ));
        }
        note(Element::Mti, start, r.pos());
        let msg = slot.insert(Message::with_capacity(Mti(mti), wire.len()));
        if !header.is_empty() {
            msg.set_header(header);
        }
        let start = r.pos();
        let primary = self.bitmap(&mut r, Element::PrimaryBitmap)?;
        note(Element::PrimaryBitmap, start, r.pos());
        let secondary = if primary & (1 << 63) != 0 {
            let start = r.pos();
            let s = self.bitmap(&mut r, Element::SecondaryBitmap)?;
            note(Element::SecondaryBitmap, start, r.pos());
            s
        } else {
            0
        };
        for (word, base) in [(primary & !(1 << 63), 0u8), (secondary, 64u8)] {
            let mut bits = word;
            while bits != 0 {
                let lz = bits.leading_zeros() as u8;
                bits &= !(1u64 << (63 - lz));
                let n = base + lz + 1;
                let start = r.pos();
                self.field(&mut r, n, msg)?;
                note(Element::Field(n), start, r.pos());
            }
        }
        if r.remaining() > 0 {
            return Err(self.err(
                Element::End,
                r.pos(),
                DecodeErrorKind::TrailingData { count: r.remaining() },
            ));
        }
        Ok(())
    }
}

struct Encoder<'s> {
    spec: &'s Spec,
}

impl Encoder<'_> {
    fn err(&self, element: Element, kind: EncodeErrorKind) -> EncodeError {
        let name = match element {
            Element::Field(n) => self.spec.field_name(n).to_string(),
            _ => String::new(),
        };
        EncodeError { element, name, kind }
    }

    fn bitmap(&self, out: &mut Vec<u8>, v: u64) {
        match self.spec.doc().bitmap {
            BitmapEncoding::Binary => out.extend_from_slice(&v.to_be_bytes()),
            BitmapEncoding::Hex => {
                for i in (0..16).rev() {
                    out.push(hex_digit((v >> (4 * i)) as u8));
                }
            }
        }
    }

    fn field(&self, out: &mut Vec<u8>, n: u8, value: &[u8]) -> Result<(), EncodeError> {
        let el = Element::Field(n);
        let f = self.spec.field(n).ok_or_else(|| self.err(el, EncodeErrorKind::NotInSpec))?;
        match f.length {
            Length::Fixed(len) if value.len() != len => {
                return Err(self
                    .err(el, EncodeErrorKind::WrongLength { found: value.len(), expected: len }));
            }
            Length::LLVar(max) | Length::LLLVar(max) if value.len() > max => {
                return Err(self.err(el, EncodeErrorKind::TooLong { found: value.len(), max }));
            }
            _ => {}
        }
        if f.kind != FieldKind::B
            && let Some(i) = f.kind.first_disallowed(value)
        {
            let byte = value.get(i).copied().unwrap_or_default();
            return Err(self.err(
                el,
                EncodeErrorKind::BadCharacter { byte, index: i, expected: f.kind.describe() },
            ));
        }
        let digits = f.length.prefix_digits();
        if digits > 0 {
            let count = match (f.count, f.encoding) {
                (Count::Wire, Encoding::Bcd) => value.len().div_ceil(2),
                (Count::Wire, _) => wire_units(f, value.len()),
                (Count::Value, _) => value.len(),
            };
            match f.prefix {
                PrefixEncoding::Ascii => {
                    if digits == 3 {
                        out.push(b'0' + (count / 100 % 10) as u8);
                    }
                    out.push(b'0' + (count / 10 % 10) as u8);
                    out.push(b'0' + (count % 10) as u8);
                }
                PrefixEncoding::Bcd => {
                    if digits == 3 {
                        out.push((count / 100 % 10) as u8);
                    }
                    out.push((((count / 10 % 10) as u8) << 4) | (count % 10) as u8);
                }
                PrefixEncoding::Binary => {
                    if digits == 3 {
                        out.push((count >> 8) as u8);
                    }
                    out.push(count as u8);
                }
            }
        }
        match f.encoding {
            Encoding::Ascii | Encoding::Binary => out.extend_from_slice(value),
            Encoding::Hex => {
                // Sized once and written in place: field 55 is hundreds of digits.
                let at = out.len();
                out.resize(at + 2 * value.len(), 0);
                let dst = out.get_mut(at..).unwrap_or_default();
                for (pair, &b) in dst.chunks_exact_mut(2).zip(value) {
                    if let [hi, lo] = pair {
                        *hi = hex_digit(b >> 4);
                        *lo = hex_digit(b);
                    }
                }
            }
            Encoding::Bcd => {
                let nib = |c: u8| if c == b'=' { 0x0d } else { c.wrapping_sub(b'0') & 0x0f };
                let mut it = value.iter().copied();
                if value.len() % 2 == 1 {
                    out.push(it.next().map_or(0, nib));
                }
                while let (Some(a), Some(b)) = (it.next(), it.next()) {
                    out.push((nib(a) << 4) | nib(b));
                }
            }
        }
        Ok(())
    }

    fn message(&self, msg: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let doc = self.spec.doc();
        if msg.header().len() != doc.header {
            return Err(self.err(
                Element::Header,
                EncodeErrorKind::HeaderLength { found: msg.header().len(), expected: doc.header },
            ));
        }
        out.extend_from_slice(msg.header());
        let mti = msg.mti().0;
        if !mti.iter().all(u8::is_ascii_digit) {
            return Err(self.err(Element::Mti, EncodeErrorKind::BadMti));
        }
        match doc.mti {
            MtiEncoding::Ascii => out.extend_from_slice(&mti),
            MtiEncoding::Bcd => {
                out.push(((mti[0] - b'0') << 4) | (mti[1] - b'0'));
                out.push(((mti[2] - b'0') << 4) | (mti[3] - b'0'));
            }
        }
        let (primary, secondary) = msg.bitmaps();
        self.bitmap(out, primary);
        if msg.has_secondary() {
            self.bitmap(out, secondary);
        }
        for (n, v) in msg.fields() {
            self.field(out, n, v)?;
        }
        Ok(())
    }
}

/// Never returned: a successful decode always has a message.
fn unreachable_mti() -> DecodeError {
    DecodeError {
        element: Element::Mti,
        name: String::new(),
        offset: 0,
        kind: DecodeErrorKind::Truncated { needed: 4, available: 0 },
    }
}

impl Spec {
    /// Decodes one message (without the framing header).
    pub fn decode(&self, wire: &[u8]) -> Result<Message, DecodeError> {
        let mut slot = None;
        Decoder { spec: self }.message(wire, None, &mut slot)?;
        slot.ok_or_else(unreachable_mti)
    }

    /// Decodes as far as possible: the fields before the first error, and
    /// the error. A host uses this to answer 30 to a damaged frame with the
    /// STAN and terminal id it could still read. `None` if not even the MTI
    /// is readable.
    pub fn decode_partial(&self, wire: &[u8]) -> (Option<Message>, Option<DecodeError>) {
        let mut slot = None;
        let err = Decoder { spec: self }.message(wire, None, &mut slot).err();
        (slot, err)
    }

    /// Decodes one message and reports where each element sits, for the
    /// inspector and for checking a MAC over the bytes as received.
    pub fn decode_with_layout(&self, wire: &[u8]) -> Result<(Message, Layout), DecodeError> {
        let mut layout = Layout::default();
        let mut slot = None;
        Decoder { spec: self }.message(wire, Some(&mut layout), &mut slot)?;
        Ok((slot.ok_or_else(unreachable_mti)?, layout))
    }

    /// Encodes a message (without the framing header).
    pub fn encode(&self, msg: &Message) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(512);
        self.encode_into(msg, &mut out)?;
        Ok(out)
    }

    /// Appends the encoded message to `out`.
    pub fn encode_into(&self, msg: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        Encoder { spec: self }.message(msg, out)
    }

    /// Appends one encoded field (prefix and value) to `out`.
    pub(crate) fn encode_field(
        &self,
        out: &mut Vec<u8>,
        n: u8,
        value: &[u8],
    ) -> Result<(), EncodeError> {
        Encoder { spec: self }.field(out, n, value)
    }

    /// The MTI of a message without decoding the rest (for link filters),
    /// if the first bytes after the header are one.
    pub fn peek_mti(&self, wire: &[u8]) -> Option<Mti> {
        let h = self.doc().header;
        let mut m = [0u8; 4];
        match self.doc().mti {
            MtiEncoding::Ascii => m.copy_from_slice(wire.get(h..h + 4)?),
            MtiEncoding::Bcd => {
                let b = wire.get(h..h + 2)?;
                for (i, c) in m.iter_mut().enumerate() {
                    let byte = b.get(i / 2).copied().unwrap_or(0);
                    *c = b'0' + if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
                }
            }
        }
        m.iter().all(u8::is_ascii_digit).then_some(Mti(m))
    }

    /// How many wire bytes field `n` takes with a value of `value_len` units.
    pub fn wire_len(&self, n: u8, value_len: usize) -> Option<usize> {
        let f = self.field(n)?;
        let prefix = match f.prefix {
            PrefixEncoding::Ascii => f.length.prefix_digits(),
            PrefixEncoding::Bcd | PrefixEncoding::Binary => f.length.prefix_digits().div_ceil(2),
        };
        Some(prefix + wire_units(f, value_len))
    }
}
