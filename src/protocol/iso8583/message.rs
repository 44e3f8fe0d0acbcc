//! An ISO 8583 message as values, independent of any wire dialect.
//!
//! Text fields hold their ASCII characters; binary fields (PIN block, ICC
//! data, MAC) hold raw bytes. The same message therefore encodes under
//! `iso87-ascii` and `iso87-binary` alike, and a decoded message compares
//! equal whatever dialect it came from. Values live in one buffer with a span
//! per field, so a message costs two allocations however many fields it has.

use crate::protocol::pan::mask_pan;
use crate::protocol::response::ResponseCode;

/// The message type indicator, four ASCII digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mti(pub [u8; 4]);

impl Mti {
    /// Authorisation or financial request: purchase, refund.
    pub const REQUEST: Self = Self(*b"0200");
    /// Its response.
    pub const RESPONSE: Self = Self(*b"0210");
    /// Reversal advice.
    pub const REVERSAL: Self = Self(*b"0400");
    /// Its response.
    pub const REVERSAL_RESPONSE: Self = Self(*b"0410");
    /// Financial advice: a purchase the terminal approved offline, for clearing.
    pub const ADVICE: Self = Self(*b"0220");
    /// Its response.
    pub const ADVICE_RESPONSE: Self = Self(*b"0230");
    /// Network management: sign-on, echo.
    pub const NETWORK: Self = Self(*b"0800");
    /// Its response.
    pub const NETWORK_RESPONSE: Self = Self(*b"0810");

    /// Parses four ASCII digits.
    pub fn parse(s: &str) -> Option<Self> {
        let b: [u8; 4] = s.as_bytes().try_into().ok()?;
        b.iter().all(u8::is_ascii_digit).then_some(Self(b))
    }

    /// The MTI as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("????")
    }

    /// The response MTI for a request (0200 -> 0210).
    pub fn response(self) -> Self {
        let mut b = self.0;
        // Request x0 answers x1, advice x2 answers x3 (0220 → 0230).
        b[2] = if matches!(b[2], b'0' | b'2') { b[2] + 1 } else { b[2] };
        Self(b)
    }

    /// True for responses (third digit odd: x1x0, x3x0).
    pub fn is_response(self) -> bool {
        (self.0[2].wrapping_sub(b'0')) % 2 == 1
    }

    /// The message class (the second digit): 2 financial, 4 reversal, 8 network.
    pub fn class(self) -> u8 {
        self.0[1].wrapping_sub(b'0')
    }
}

impl std::fmt::Display for Mti {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Mti {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Mti {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        let b: [u8; 4] = s
            .as_bytes()
            .try_into()
            .map_err(|_| serde::de::Error::custom(format!("an MTI is 4 characters, not {s:?}")))?;
        Ok(Self(b))
    }
}

impl std::fmt::Debug for Mti {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mti({})", self.as_str())
    }
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

/// An ISO 8583 message: MTI, optional header and fields 2 to 128.
///
/// Field 1 (the secondary bitmap) is implied by the presence of any field
/// above 64 and is never stored.
#[derive(Clone)]
pub struct Message {
    mti: Mti,
    header: Vec<u8>,
    present: [u64; 2],
    spans: [Span; 129],
    data: Vec<u8>,
}

impl Message {
    /// An empty message of this type.
    pub fn new(mti: Mti) -> Self {
        Self::with_capacity(mti, 256)
    }

    /// An empty message whose value buffer holds `bytes` without growing.
    pub fn with_capacity(mti: Mti, bytes: usize) -> Self {
        Self {
            mti,
            header: Vec::new(),
            present: [0; 2],
            spans: [Span::default(); 129],
            data: Vec::with_capacity(bytes),
        }
    }

    /// The message type.
    pub fn mti(&self) -> Mti {
        self.mti
    }

    /// Changes the message type (a response reuses its request's fields).
    pub fn set_mti(&mut self, mti: Mti) {
        self.mti = mti;
    }

    /// The opaque header before the MTI (empty for the built-in dialects).
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// Sets the opaque header.
    pub fn set_header(&mut self, header: &[u8]) {
        self.header = header.to_vec();
    }

    #[inline]
    fn bit(n: u8) -> (usize, u64) {
        let i = usize::from(n - 1);
        (i / 64, 1u64 << (i % 64))
    }

    /// Whether field `n` is present.
    #[inline]
    pub fn has(&self, n: u8) -> bool {
        if !(2..=128).contains(&n) {
            return false;
        }
        let (w, b) = Self::bit(n);
        self.present.get(w).is_some_and(|x| x & b != 0)
    }

    /// The value of field `n`.
    #[inline]
    pub fn get(&self, n: u8) -> Option<&[u8]> {
        if !self.has(n) {
            return None;
        }
        let s = self.spans.get(usize::from(n))?;
        self.data.get(s.start as usize..(s.start + s.len) as usize)
    }

    /// The value of text field `n` as a string.
    #[inline]
    pub fn get_str(&self, n: u8) -> Option<&str> {
        std::str::from_utf8(self.get(n)?).ok()
    }

    /// Sets field `n` (2 to 128) to `value`.
    ///
    /// # Panics
    /// If `n` is not a field number: that is a bug in the caller, not input.
    pub fn set(&mut self, n: u8, value: impl AsRef<[u8]>) -> &mut Self {
        assert!((2..=128).contains(&n), "ISO 8583 field numbers run from 2 to 128, got {n}");
        let value = value.as_ref();
        let start = self.data.len() as u32;
        self.data.extend_from_slice(value);
        if let Some(s) = self.spans.get_mut(usize::from(n)) {
            *s = Span { start, len: value.len() as u32 };
        }
        let (w, b) = Self::bit(n);
        if let Some(x) = self.present.get_mut(w) {
            *x |= b;
        }
        self
    }

    /// Sets field `n` to whatever `write` appends to the value buffer; the
    /// decoder's way to store a field without an intermediate copy.
    #[inline]
    pub(crate) fn set_with(&mut self, n: u8, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.data.len();
        write(&mut self.data);
        let len = self.data.len() - start;
        if let Some(s) = self.spans.get_mut(usize::from(n)) {
            *s = Span { start: start as u32, len: len as u32 };
        }
        let (w, b) = Self::bit(n);
        if let Some(x) = self.present.get_mut(w) {
            *x |= b;
        }
    }

    /// Removes field `n`.
    pub fn remove(&mut self, n: u8) -> &mut Self {
        if (2..=128).contains(&n) {
            let (w, b) = Self::bit(n);
            if let Some(x) = self.present.get_mut(w) {
                *x &= !b;
            }
        }
        self
    }

    /// True when any field above 64 is present, so a secondary bitmap is needed.
    #[inline]
    pub fn has_secondary(&self) -> bool {
        self.present[1] != 0
    }

    /// The primary and secondary bitmaps as they go on the wire (bit 1 set
    /// when a secondary bitmap follows).
    #[inline]
    pub fn bitmaps(&self) -> (u64, u64) {
        let mut primary = self.present[0];
        if self.has_secondary() {
            primary |= 1;
        }
        (primary.reverse_bits(), self.present[1].reverse_bits())
    }

    /// The present fields in ascending order.
    pub fn field_numbers(&self) -> impl Iterator<Item = u8> + '_ {
        self.present.iter().enumerate().flat_map(|(w, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let t = bits.trailing_zeros();
                bits &= bits - 1;
                Some((w as u32 * 64 + t + 1) as u8)
            })
        })
    }

    /// The present fields with their values, in ascending order.
    pub fn fields(&self) -> impl Iterator<Item = (u8, &[u8])> + '_ {
        self.field_numbers().filter_map(move |n| Some((n, self.get(n)?)))
    }

    /// Drops value bytes no longer referenced (after many `set`s of one field).
    pub fn compact(&mut self) {
        let mut fresh = Self::with_capacity(self.mti, self.data.len());
        fresh.header = std::mem::take(&mut self.header);
        for (n, v) in self.fields() {
            fresh.set(n, v);
        }
        *self = fresh;
    }

    // Typed access to the fields possim uses (PROTOCOL.md section 2).

    fn get_num<T: std::str::FromStr>(&self, n: u8) -> Option<T> {
        self.get_str(n)?.parse().ok()
    }

    /// Field 2, the PAN.
    pub fn pan(&self) -> Option<&str> {
        self.get_str(2)
    }

    /// The PAN from field 2, or else from the track 2 data in field 35.
    pub fn card_pan(&self) -> Option<&str> {
        self.pan().or_else(|| {
            let t = self.track2()?;
            Some(t.split(['=', 'D', 'd']).next().unwrap_or(t))
        })
    }

    /// Field 3, processing code.
    pub fn processing_code(&self) -> Option<&str> {
        self.get_str(3)
    }

    /// Field 4, amount in minor units.
    pub fn amount(&self) -> Option<u64> {
        self.get_num(4)
    }

    /// Sets field `n` to `value` as `width` decimal digits, zero-filled on
    /// the left (higher digits are dropped), without a temporary string.
    pub fn set_digits(&mut self, n: u8, value: u64, width: usize) -> &mut Self {
        assert!((2..=128).contains(&n), "ISO 8583 field numbers run from 2 to 128, got {n}");
        self.set_with(n, |buf| {
            let start = buf.len();
            buf.resize(start + width, b'0');
            let mut v = value;
            for d in buf.iter_mut().skip(start).rev() {
                *d = b'0' + (v % 10) as u8;
                v /= 10;
            }
        });
        self
    }

    /// Sets field 4 from minor units (12 digits).
    pub fn set_amount(&mut self, minor: u64) -> &mut Self {
        self.set_digits(4, minor, 12)
    }

    /// Field 7, transmission date and time MMDDhhmmss.
    pub fn transmission_time(&self) -> Option<&str> {
        self.get_str(7)
    }

    /// Field 11, the system trace audit number.
    pub fn stan(&self) -> Option<u32> {
        self.get_num(11)
    }

    /// Sets field 11 (6 digits).
    pub fn set_stan(&mut self, stan: u32) -> &mut Self {
        self.set_digits(11, u64::from(stan), 6)
    }

    /// Field 14, card expiry YYMM.
    pub fn expiry(&self) -> Option<&str> {
        self.get_str(14)
    }

    /// Field 22, POS entry mode (051 chip+PIN, 071 contactless, 021 swipe, 801 fallback, 011 keyed).
    pub fn entry_mode(&self) -> Option<&str> {
        self.get_str(22)
    }

    /// Field 23, PAN sequence number (3 digits on the wire).
    pub fn pan_sequence(&self) -> Option<&str> {
        self.get_str(23)
    }

    /// Field 35, track 2 data.
    pub fn track2(&self) -> Option<&str> {
        self.get_str(35)
    }

    /// Field 37, retrieval reference number.
    pub fn rrn(&self) -> Option<&str> {
        self.get_str(37)
    }

    /// Field 38, authorisation code.
    pub fn auth_code(&self) -> Option<&str> {
        self.get_str(38)
    }

    /// Field 39, the response code.
    pub fn response_code(&self) -> Option<ResponseCode> {
        self.get_str(39).map(ResponseCode::from_code)
    }

    /// Sets field 39.
    pub fn set_response_code(&mut self, rc: ResponseCode) -> &mut Self {
        self.set(39, rc.code_text().as_bytes())
    }

    /// Field 41, terminal id.
    pub fn terminal_id(&self) -> Option<&str> {
        self.get_str(41)
    }

    /// Field 42, merchant id.
    pub fn merchant_id(&self) -> Option<&str> {
        self.get_str(42)
    }

    /// Field 49, currency code.
    pub fn currency(&self) -> Option<&str> {
        self.get_str(49)
    }

    /// Field 52, the encrypted PIN block.
    pub fn pin_block(&self) -> Option<[u8; 8]> {
        self.get(52)?.try_into().ok()
    }

    /// Field 55, ICC data (BER-TLV).
    pub fn icc_data(&self) -> Option<&[u8]> {
        self.get(55)
    }

    /// Field 70, network management code (001 sign-on, 301 echo).
    pub fn network_code(&self) -> Option<&str> {
        self.get_str(70)
    }

    /// Field 90, original data elements of a reversal.
    pub fn original_data(&self) -> Option<OriginalData> {
        OriginalData::parse(self.get_str(90)?)
    }

    /// The field that carries the MAC in this message: 128 when a secondary
    /// bitmap is present, else 64.
    pub fn mac_field(&self) -> u8 {
        if self.has_secondary() || self.has(128) { 128 } else { 64 }
    }

    /// The MAC (field 64 or 128), if present.
    pub fn mac(&self) -> Option<&[u8]> {
        self.get(128).or_else(|| self.get(64))
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.mti == other.mti
            && self.header == other.header
            && self.present == other.present
            && self.fields().zip(other.fields()).all(|(a, b)| a == b)
    }
}

impl Eq for Message {}

impl std::fmt::Debug for Message {
    /// Masks the PAN and track data: `Debug` output ends up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        m.entry(&"mti", &self.mti.as_str());
        for (n, v) in self.fields() {
            let shown = match n {
                2 | 35 => mask_pan(&String::from_utf8_lossy(v)),
                52 | 55 | 64 | 128 => hex::encode_upper(v),
                _ => String::from_utf8_lossy(v).into_owned(),
            };
            m.entry(&n, &shown);
        }
        m.finish()
    }
}

/// Field 90 of a reversal: which message it reverses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalData {
    /// The original MTI.
    pub mti: Mti,
    /// The original STAN.
    pub stan: u32,
    /// The original field 7, MMDDhhmmss.
    pub transmission_time: String,
}

impl OriginalData {
    /// Parses 42 digits: MTI (4), STAN (6), field 7 (10), then 22 zeros.
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != 42 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            mti: Mti::parse(s.get(0..4)?)?,
            stan: s.get(4..10)?.parse().ok()?,
            transmission_time: s.get(10..20)?.to_string(),
        })
    }

    /// The 42-digit field 90 value.
    pub fn to_field(&self) -> String {
        format!(
            "{}{:06}{:0>10}{}",
            self.mti,
            self.stan % 1_000_000,
            self.transmission_time,
            "0".repeat(22)
        )
    }
}
