//! BER-TLV as EMV uses it (EMV Book 3 annex B): multi-byte tags, long-form
//! lengths, constructed templates (6F, 70, 77, A5, BF0C), and data object
//! lists (PDOL, CDOL) with their filling rules.

use crate::protocol::reader::Reader;

/// How deep constructed templates may nest before the input is refused.
pub const MAX_DEPTH: usize = 16;

/// Why BER-TLV bytes did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlvError {
    /// The data ends inside a tag.
    #[error("tag truncated at byte {at}")]
    TruncatedTag {
        /// Offset where the tag starts.
        at: usize,
    },
    /// A tag longer than 4 bytes.
    #[error("tag at byte {at} is longer than 4 bytes")]
    TagTooLong {
        /// Offset where the tag starts.
        at: usize,
    },
    /// The data ends inside a length.
    #[error("length truncated at byte {at}")]
    TruncatedLength {
        /// Offset of the length.
        at: usize,
    },
    /// A length form EMV does not allow (indefinite, or more than 4 bytes).
    #[error("length byte 0x{byte:02X} at byte {at} is not allowed")]
    BadLength {
        /// The first length byte.
        byte: u8,
        /// Its offset.
        at: usize,
    },
    /// The value runs past the end of the data.
    #[error("tag {tag:X} at byte {at} announces {length} bytes, only {available} left")]
    TruncatedValue {
        /// The tag.
        tag: u32,
        /// Offset of the tag.
        at: usize,
        /// Announced length.
        length: usize,
        /// Bytes left.
        available: usize,
    },
    /// Templates nested deeper than [`MAX_DEPTH`].
    #[error("templates nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// A DOL asks for more data than a command can carry.
    #[error("DOL asks for {0} bytes, more than the {MAX_DOL_DATA} a command can carry")]
    DolTooLong(usize),
}

/// The most data a DOL may ask for: one short APDU's worth.
pub const MAX_DOL_DATA: usize = 255;

/// One data object: a tag and either bytes or nested objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// The tag, its bytes big-endian in a u32 (9F26 is 0x9F26).
    pub tag: u32,
    /// The value.
    pub value: TlvValue,
}

/// A data object's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlvValue {
    /// Raw bytes.
    Primitive(Vec<u8>),
    /// Nested data objects (the tag's constructed bit is set).
    Constructed(Vec<Tlv>),
}

/// Whether a tag's first byte has the constructed bit (0x20).
///
/// Reads the first byte arithmetically: this runs for every data object a
/// search steps over, tens of times a purchase, and must not allocate.
pub fn is_constructed(tag: u32) -> bool {
    first_tag_byte(tag) & 0x20 != 0
}

/// The first byte of a tag as written (the most significant non-zero byte;
/// 0 for tag 0), as [`tag_bytes`] would give it.
fn first_tag_byte(tag: u32) -> u8 {
    let skip = (tag.leading_zeros() / 8).min(3);
    (tag >> (8 * (3 - skip))) as u8
}

/// Appends the bytes of a tag (without leading zero bytes).
#[inline]
pub fn write_tag(out: &mut Vec<u8>, tag: u32) {
    let b = tag.to_be_bytes();
    let skip = b.iter().take_while(|&&x| x == 0).count().min(3);
    out.extend_from_slice(b.get(skip..).unwrap_or_default());
}

/// The bytes of a tag, without leading zero bytes.
pub fn tag_bytes(tag: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(4);
    write_tag(&mut v, tag);
    v
}

/// A tag as upper-case hex ("9F26").
pub fn tag_hex(tag: u32) -> String {
    hex::encode_upper(tag_bytes(tag))
}

fn read_tag(r: &mut Reader<'_>) -> Result<u32, TlvError> {
    let at = r.pos();
    let first = r.byte().ok_or(TlvError::TruncatedTag { at })?;
    let mut tag = u32::from(first);
    if first & 0x1f == 0x1f {
        let mut n = 1;
        loop {
            let b = r.byte().ok_or(TlvError::TruncatedTag { at })?;
            n += 1;
            if n > 4 {
                return Err(TlvError::TagTooLong { at });
            }
            tag = (tag << 8) | u32::from(b);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    Ok(tag)
}

fn read_len(r: &mut Reader<'_>) -> Result<usize, TlvError> {
    let at = r.pos();
    let first = r.byte().ok_or(TlvError::TruncatedLength { at })?;
    if first < 0x80 {
        return Ok(usize::from(first));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return Err(TlvError::BadLength { byte: first, at });
    }
    let bytes = r.take(n).ok_or(TlvError::TruncatedLength { at })?;
    Ok(bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b)))
}

/// A data object as read: tag, offset, value.
type Raw<'a> = (u32, usize, &'a [u8]);

/// Reads one header and value; `None` at the end of data.
fn read_one<'a>(r: &mut Reader<'a>) -> Result<Option<Raw<'a>>, TlvError> {
    // EMV allows 00 padding before, between and after data objects.
    while r.rest().first() == Some(&0x00) {
        r.byte();
    }
    if r.remaining() == 0 {
        return Ok(None);
    }
    let at = r.pos();
    let tag = read_tag(r)?;
    let length = read_len(r)?;
    let available = r.remaining();
    let value = r.take(length).ok_or(TlvError::TruncatedValue { tag, at, length, available })?;
    Ok(Some((tag, at, value)))
}

fn parse_depth(bytes: &[u8], depth: usize) -> Result<Vec<Tlv>, TlvError> {
    if depth > MAX_DEPTH {
        return Err(TlvError::TooDeep);
    }
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    while let Some((tag, _, value)) = read_one(&mut r)? {
        let value = if is_constructed(tag) {
            TlvValue::Constructed(parse_depth(value, depth + 1)?)
        } else {
            TlvValue::Primitive(value.to_vec())
        };
        out.push(Tlv { tag, value });
    }
    Ok(out)
}

/// Parses a sequence of data objects, descending into constructed ones.
pub fn parse(bytes: &[u8]) -> Result<Vec<Tlv>, TlvError> {
    parse_depth(bytes, 0)
}

/// Iterates the top-level data objects as (tag, value) without copying;
/// constructed values are returned as their raw bytes.
pub fn iter(bytes: &[u8]) -> TlvIter<'_> {
    TlvIter { r: Reader::new(bytes), failed: false }
}

/// Iterator of [`iter`].
#[derive(Debug, Clone)]
pub struct TlvIter<'a> {
    r: Reader<'a>,
    failed: bool,
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Result<(u32, &'a [u8]), TlvError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match read_one(&mut self.r) {
            Ok(Some((tag, _, v))) => Some(Ok((tag, v))),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// The top-level data objects of a byte string, indexed once so that many
/// lookups cost one parse (field 55 has a dozen tags). Holds up to 48.
#[derive(Debug, Clone)]
pub struct Index<'a> {
    items: [(u32, &'a [u8]); 48],
    len: usize,
}

impl<'a> Index<'a> {
    /// Indexes the top-level objects (stops at the first malformed one).
    pub fn new(bytes: &'a [u8]) -> Self {
        let mut items: [(u32, &'a [u8]); 48] = [(0, &[]); 48];
        let mut len = 0;
        for (slot, item) in items.iter_mut().zip(iter(bytes).map_while(Result::ok)) {
            *slot = item;
            len += 1;
        }
        Self { items, len }
    }

    /// The value of `tag`, if present.
    pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
        self.items.get(..self.len)?.iter().find(|i| i.0 == tag).map(|i| i.1)
    }
}

/// Finds a tag among the top-level objects of `bytes` (no copy).
pub fn find(bytes: &[u8], tag: u32) -> Option<&[u8]> {
    iter(bytes).map_while(Result::ok).find(|(t, _)| *t == tag).map(|(_, v)| v)
}

fn write_len(out: &mut Vec<u8>, len: usize) {
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend_from_slice(&[0x81, len as u8]),
        0x100..=0xffff => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
        _ => out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]),
    }
}

/// Appends one primitive data object.
#[inline]
pub fn write(out: &mut Vec<u8>, tag: u32, value: &[u8]) {
    write_tag(out, tag);
    write_len(out, value.len());
    out.extend_from_slice(value);
}

/// Appends a constructed data object whose content `fill` writes, patching
/// the length afterwards (no intermediate buffer).
pub fn write_constructed(out: &mut Vec<u8>, tag: u32, fill: impl FnOnce(&mut Vec<u8>)) {
    write_tag(out, tag);
    let len_at = out.len();
    out.push(0);
    let start = out.len();
    fill(out);
    let len = out.len() - start;
    if len < 0x80 {
        if let Some(b) = out.get_mut(len_at) {
            *b = len as u8;
        }
    } else {
        let mut l = Vec::with_capacity(4);
        write_len(&mut l, len);
        out.splice(len_at..=len_at, l);
    }
}

/// Finds a tag anywhere in `bytes`, descending into constructed data
/// objects, without allocating. Stops at the first malformed object.
pub fn find_deep(bytes: &[u8], tag: u32) -> Option<&[u8]> {
    fn go(bytes: &[u8], tag: u32, depth: usize) -> Option<&[u8]> {
        if depth > MAX_DEPTH {
            return None;
        }
        for item in iter(bytes) {
            let (t, v) = item.ok()?;
            if t == tag {
                return Some(v);
            }
            if is_constructed(t)
                && let Some(found) = go(v, tag, depth + 1)
            {
                return Some(found);
            }
        }
        None
    }
    go(bytes, tag, 0)
}

/// Every data object of a byte string, nested ones included, in the order
/// [`find_deep`] visits them: one walk for a card's records, from which the
/// terminal takes five tags (five walks were about 1.5% of a run's
/// instructions, with those of the card's answers).
#[derive(Debug, Clone, Default)]
pub struct DeepIndex<'a> {
    items: Vec<(u32, &'a [u8])>,
}

impl<'a> DeepIndex<'a> {
    /// Walks `bytes` once; a malformed object ends its own template, as in
    /// [`find_deep`].
    pub fn new(bytes: &'a [u8]) -> Self {
        fn go<'a>(bytes: &'a [u8], depth: usize, items: &mut Vec<(u32, &'a [u8])>) {
            if depth > MAX_DEPTH {
                return;
            }
            for item in iter(bytes) {
                let Ok((t, v)) = item else { return };
                items.push((t, v));
                if is_constructed(t) {
                    go(v, depth + 1, items);
                }
            }
        }
        let mut items = Vec::with_capacity(32);
        go(bytes, 0, &mut items);
        Self { items }
    }

    /// The value of the first `tag`, as [`find_deep`] would find it.
    pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
        self.items.iter().find(|i| i.0 == tag).map(|i| i.1)
    }
}

impl Tlv {
    /// A primitive data object.
    pub fn primitive(tag: u32, value: impl Into<Vec<u8>>) -> Self {
        Self { tag, value: TlvValue::Primitive(value.into()) }
    }

    /// A constructed data object (template).
    pub fn constructed(tag: u32, children: Vec<Tlv>) -> Self {
        Self { tag, value: TlvValue::Constructed(children) }
    }

    /// Appends the encoding (minimal-length form).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match &self.value {
            TlvValue::Primitive(v) => write(out, self.tag, v),
            TlvValue::Constructed(children) => {
                let inner = encode(children);
                write(out, self.tag, &inner);
            }
        }
    }

    /// Finds a data object by tag here or anywhere below.
    pub fn find(&self, tag: u32) -> Option<&Tlv> {
        if self.tag == tag {
            return Some(self);
        }
        match &self.value {
            TlvValue::Constructed(c) => find_in(c, tag),
            TlvValue::Primitive(_) => None,
        }
    }

    /// The value bytes of a primitive object.
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.value {
            TlvValue::Primitive(v) => Some(v),
            TlvValue::Constructed(_) => None,
        }
    }
}

/// Finds a data object by tag anywhere in a parsed sequence.
pub fn find_in(tlvs: &[Tlv], tag: u32) -> Option<&Tlv> {
    tlvs.iter().find_map(|t| t.find(tag))
}

/// Encodes a sequence of data objects.
pub fn encode(tlvs: &[Tlv]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in tlvs {
        t.encode_into(&mut out);
    }
    out
}

/// A data object list (PDOL, CDOL1, CDOL2): tags and lengths without values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dol(pub Vec<(u32, usize)>);

/// Tags in EMV numeric format (n): padded and truncated on the left.
const NUMERIC_TAGS: [u32; 11] =
    [0x9F02, 0x9F03, 0x9F1A, 0x5F2A, 0x9A, 0x9C, 0x9F21, 0x5F34, 0x9F41, 0x5F25, 0x5F24];

impl Dol {
    /// Parses a DOL (tag, length pairs).
    pub fn parse(bytes: &[u8]) -> Result<Self, TlvError> {
        let mut r = Reader::new(bytes);
        // An entry takes at least two bytes: room for all of them at once.
        let mut out = Vec::with_capacity(bytes.len() / 2);
        let mut total = 0usize;
        while r.remaining() > 0 {
            let tag = read_tag(&mut r)?;
            let len = read_len(&mut r)?;
            total = total.saturating_add(len);
            if total > MAX_DOL_DATA {
                return Err(TlvError::DolTooLong(total));
            }
            out.push((tag, len));
        }
        Ok(Self(out))
    }

    /// Encodes the DOL.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for &(tag, len) in &self.0 {
            write_tag(&mut out, tag);
            write_len(&mut out, len);
        }
        out
    }

    /// Total length of the data the DOL asks for.
    pub fn data_len(&self) -> usize {
        self.0.iter().map(|d| d.1).sum()
    }

    /// Builds the DOL-related data from a lookup, by EMV Book 3 section 5.4:
    /// missing objects are zeros; numeric ones are padded or cut on the left,
    /// others on the right.
    pub fn fill<'a>(&self, lookup: impl Fn(u32) -> Option<&'a [u8]>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data_len());
        self.fill_into(&mut out, lookup);
        out
    }

    /// Like [`Self::fill`], appending to `out`.
    pub fn fill_into<'a>(&self, out: &mut Vec<u8>, lookup: impl Fn(u32) -> Option<&'a [u8]>) {
        for &(tag, len) in &self.0 {
            let v = lookup(tag).unwrap_or_default();
            let numeric = NUMERIC_TAGS.contains(&tag);
            if v.len() >= len {
                let cut = if numeric { v.get(v.len() - len..) } else { v.get(..len) };
                out.extend_from_slice(cut.unwrap_or_default());
            } else if numeric {
                out.extend(std::iter::repeat_n(0, len - v.len()));
                out.extend_from_slice(v);
            } else {
                out.extend_from_slice(v);
                out.extend(std::iter::repeat_n(0, len - v.len()));
            }
        }
    }

    /// Splits DOL-related data back into (tag, value) pairs.
    pub fn split<'a>(&self, data: &'a [u8]) -> Option<Vec<(u32, &'a [u8])>> {
        let mut r = Reader::new(data);
        self.0.iter().map(|&(tag, len)| Some((tag, r.take(len)?))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constructed_bit_is_read_from_the_tags_first_written_byte() {
        for tag in [
            0u32,
            0x20,
            0x57,
            0x6F,
            0x70,
            0x77,
            0x9F38,
            0xBF0C,
            0xFF20,
            0x3F_8101,
            0xDF_8F_01,
            0x7F_FF_FF_01,
        ] {
            let first = tag_bytes(tag)[0];
            assert_eq!(first_tag_byte(tag), first, "{tag:X}");
            assert_eq!(is_constructed(tag), first & 0x20 != 0, "{tag:X}");
        }
        assert!(is_constructed(0x70) && is_constructed(0xBF0C) && is_constructed(0x7F_FF_FF_01));
        assert!(!is_constructed(0x57) && !is_constructed(0x9F38) && !is_constructed(0));
    }

    #[test]
    fn parses_nested_templates_and_long_lengths() {
        let mut inner = Vec::new();
        write(&mut inner, 0x50, b"VISA");
        write(&mut inner, 0x9F38, &[0x9F, 0x02, 0x06]);
        let mut long = vec![0u8; 200];
        long[0] = 1;
        let fci = Tlv::constructed(
            0x6F,
            vec![
                Tlv::primitive(0x84, b"2PAY.SYS.DDF01".to_vec()),
                Tlv::constructed(
                    0xA5,
                    vec![Tlv::constructed(0xBF0C, vec![Tlv::primitive(0x9F4D, long.clone())])],
                ),
            ],
        );
        let bytes = encode(std::slice::from_ref(&fci));
        assert_eq!(&bytes[..1], &[0x6F]);
        let back = parse(&bytes).unwrap();
        assert_eq!(back, vec![fci]);
        assert_eq!(find_in(&back, 0x9F4D).and_then(Tlv::bytes), Some(&long[..]));
        // 200 bytes need the 0x81 long form.
        assert!(bytes.windows(2).any(|w| w == [0x81, 200]));
    }

    /// Templates nested past the depth limit hide their contents from both
    /// searches alike, and a malformed object ends only its own template.
    #[test]
    fn a_deep_index_stops_where_find_deep_stops() {
        for depth in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 2] {
            let mut tree = Tlv::primitive(0x5A, vec![0x42]);
            for _ in 0..depth {
                tree = Tlv::constructed(0x70, vec![tree]);
            }
            let bytes = encode(&[tree, Tlv::primitive(0x57, vec![1])]);
            let index = DeepIndex::new(&bytes);
            assert_eq!(index.get(0x5A).is_some(), depth <= MAX_DEPTH, "depth {depth}");
            for tag in [0x5A, 0x57, 0x70] {
                assert_eq!(index.get(tag), find_deep(&bytes, tag), "depth {depth}, tag {tag:X}");
            }
        }
        // 70 { 5A (truncated length) } 57: the template ends, 57 is found.
        let bytes = [0x70, 0x02, 0x5A, 0x05, 0x57, 0x01, 0x09];
        let index = DeepIndex::new(&bytes);
        assert_eq!(index.get(0x57), Some(&[0x09][..]));
        assert_eq!(index.get(0x57), find_deep(&bytes, 0x57));
        assert_eq!(index.get(0x5A), find_deep(&bytes, 0x5A));
    }

    #[test]
    fn dol_filling_pads_numeric_left_and_others_right() {
        let dol =
            Dol::parse(&[0x9F, 0x02, 0x06, 0x95, 0x05, 0x9F, 0x37, 0x04, 0x8A, 0x02]).unwrap();
        assert_eq!(dol.data_len(), 17);
        let data = dol.fill(|t| match t {
            0x9F02 => Some(&[0x12, 0x34][..]),
            0x9F37 => Some(&[1, 2, 3, 4, 5][..]),
            _ => None,
        });
        assert_eq!(hex::encode_upper(&data), "0000000012340000000000010203040000");
        assert_eq!(dol.encode(), vec![0x9F, 0x02, 0x06, 0x95, 0x05, 0x9F, 0x37, 0x04, 0x8A, 0x02]);
    }

    #[test]
    fn fuzz_oom_a_dol_cannot_ask_for_gigabytes() {
        // Found by cargo fuzz (tlv target): a 4-byte DOL length made fill()
        // allocate 3.5 GB. Committed as fuzz/regressions/tlv-dol-oom.
        let input =
            [2, 132, 211, 211, 211, 211, 211, 0, 0, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50];
        assert!(matches!(Dol::parse(&input), Err(TlvError::DolTooLong(_))));
    }

    #[test]
    fn constructed_writes_and_deep_finds_agree_with_the_tree() {
        let mut out = Vec::new();
        write_constructed(&mut out, 0x77, |o| {
            write(o, 0x9F27, &[0x80]);
            write_constructed(o, 0x70, |o| write(o, 0x5A, &[0x41; 200]));
        });
        let tree = parse(&out).unwrap();
        assert_eq!(find_in(&tree, 0x5A).and_then(Tlv::bytes), Some(&[0x41; 200][..]));
        assert_eq!(find_deep(&out, 0x5A), Some(&[0x41; 200][..]));
        assert_eq!(find_deep(&out, 0x9F27), Some(&[0x80][..]));
        assert_eq!(find_deep(&out, 0x9F26), None);
    }

    #[test]
    fn refuses_indefinite_lengths_and_deep_nesting() {
        assert!(matches!(parse(&[0x70, 0x80]), Err(TlvError::BadLength { .. })));
        let mut deep = vec![];
        for _ in 0..40 {
            deep = encode(&[Tlv { tag: 0x70, value: TlvValue::Primitive(deep) }]);
        }
        assert_eq!(parse(&deep), Err(TlvError::TooDeep));
    }
}
