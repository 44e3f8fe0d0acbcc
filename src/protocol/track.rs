//! Track 2 (magstripe and ISO 8583 field 35) and the chip's Track 2
//! Equivalent Data (tag 57), plus the Luhn check.
//!
//! Layout (PROTOCOL.md section 4): `PAN = YYMM service-code PVKI PVV CVV 000`.
//! On the magstripe the last three digits of the verification data are the
//! CVV; in tag 57 they are the iCVV (CVV with service code 999), so chip data
//! copied by a shimmer cannot pass as a magstripe.

/// Why track data did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrackError {
    /// No `=` (field 35) or `D` (tag 57) separator.
    #[error("no field separator")]
    NoSeparator,
    /// The PAN is not 12 to 19 digits.
    #[error("PAN must be 12 to 19 digits, found {0}")]
    BadPan(usize),
    /// Expiry and service code (7 digits) do not follow the separator.
    #[error("expiry and service code must be 7 digits after the separator")]
    ShortData,
    /// A character that track 2 does not allow.
    #[error("character {0:?} is not allowed in track 2")]
    BadCharacter(char),
    /// Longer than the 37 characters track 2 holds.
    #[error("track 2 is {0} characters, at most 37")]
    TooLong(usize),
}

/// Parsed track 2 data.
#[derive(Clone, PartialEq, Eq)]
pub struct Track2 {
    /// Primary account number.
    pub pan: String,
    /// Expiry, YYMM.
    pub expiry: String,
    /// Service code (201 chip, 101 magstripe only).
    pub service_code: String,
    /// Discretionary data: PVKI, PVV, CVV or iCVV, zero fill.
    pub discretionary: String,
}

impl std::fmt::Debug for Track2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Track2({})", crate::protocol::pan::mask_pan(&self.to_field35()))
    }
}

impl Track2 {
    /// Builds track data in possim's layout.
    pub fn new(
        pan: &str,
        expiry: &str,
        service_code: &str,
        pvki: &str,
        pvv: &str,
        cvv: &str,
    ) -> Self {
        Self {
            pan: pan.into(),
            expiry: expiry.into(),
            service_code: service_code.into(),
            discretionary: format!("{pvki}{pvv}{cvv}000"),
        }
    }

    /// Parses the ASCII form of field 35 (`PAN=YYMMSSS...`).
    pub fn parse(s: &str) -> Result<Self, TrackError> {
        if s.len() > 37 {
            return Err(TrackError::TooLong(s.len()));
        }
        if let Some(c) = s.chars().find(|c| !c.is_ascii_digit() && *c != '=') {
            return Err(TrackError::BadCharacter(c));
        }
        let (pan, rest) = s.split_once('=').ok_or(TrackError::NoSeparator)?;
        Self::from_parts(pan, rest)
    }

    fn from_parts(pan: &str, rest: &str) -> Result<Self, TrackError> {
        if !(12..=19).contains(&pan.len()) {
            return Err(TrackError::BadPan(pan.len()));
        }
        if rest.len() < 7 || !rest.is_char_boundary(7) {
            return Err(TrackError::ShortData);
        }
        if let Some(c) = rest.chars().find(|c| !c.is_ascii_digit()) {
            return Err(TrackError::BadCharacter(c));
        }
        Ok(Self {
            pan: pan.into(),
            expiry: rest[..4].into(),
            service_code: rest[4..7].into(),
            discretionary: rest[7..].into(),
        })
    }

    /// The field 35 form.
    pub fn to_field35(&self) -> String {
        // Every chip request carries it: joined without `format!`.
        [self.pan.as_str(), "=", &self.expiry, &self.service_code, &self.discretionary].concat()
    }

    /// Parses tag 57: packed nibbles, `D` separator, `F` padding.
    pub fn parse_tag57(bytes: &[u8]) -> Result<Self, TrackError> {
        let mut s = String::with_capacity(bytes.len() * 2);
        for (i, nib) in bytes.iter().flat_map(|b| [b >> 4, b & 0x0f]).enumerate() {
            match nib {
                0..=9 => s.push(char::from(b'0' + nib)),
                0x0d => s.push('D'),
                0x0f if i + 1 == bytes.len() * 2 => {}
                _ => {
                    return Err(TrackError::BadCharacter(
                        char::from_digit(u32::from(nib), 16).unwrap_or('?'),
                    ));
                }
            }
        }
        if s.len() > 37 {
            return Err(TrackError::TooLong(s.len()));
        }
        let (pan, rest) = s.split_once('D').ok_or(TrackError::NoSeparator)?;
        Self::from_parts(pan, rest)
    }

    /// The tag 57 form.
    pub fn to_tag57(&self) -> Vec<u8> {
        let s = format!("{}D{}{}{}", self.pan, self.expiry, self.service_code, self.discretionary);
        let mut nibbles: Vec<u8> =
            s.bytes().map(|c| if c == b'D' { 0x0d } else { c.wrapping_sub(b'0') & 0x0f }).collect();
        if !nibbles.len().is_multiple_of(2) {
            nibbles.push(0x0f);
        }
        nibbles
            .chunks(2)
            .map(|p| (p.first().copied().unwrap_or(0) << 4) | p.get(1).copied().unwrap_or(0))
            .collect()
    }

    /// The PIN verification key index (first discretionary digit).
    pub fn pvki(&self) -> Option<&str> {
        self.discretionary.get(0..1)
    }

    /// The PVV (discretionary digits 2 to 5).
    pub fn pvv(&self) -> Option<&str> {
        self.discretionary.get(1..5)
    }

    /// The CVV, or iCVV in tag 57 (discretionary digits 6 to 8).
    pub fn cvv(&self) -> Option<&str> {
        self.discretionary.get(5..8)
    }

    /// True when the service code says the card has a chip (first digit 2 or 6).
    pub fn has_chip(&self) -> bool {
        matches!(self.service_code.as_bytes().first(), Some(b'2' | b'6'))
    }
}

/// True when `pan` is all digits and passes the Luhn (mod 10) check.
pub fn luhn_valid(pan: &str) -> bool {
    !pan.is_empty()
        && pan.bytes().all(|b| b.is_ascii_digit())
        && luhn_sum(pan.as_bytes(), false).is_multiple_of(10)
}

/// The check digit to append to `partial` (digits only).
pub fn luhn_check_digit(partial: &str) -> u8 {
    ((10 - luhn_sum(partial.as_bytes(), true) % 10) % 10) as u8
}

fn luhn_sum(digits: &[u8], double_first: bool) -> u32 {
    digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let v = u32::from(d.wrapping_sub(b'0'));
            if (i % 2 == 0) == double_first {
                let x = v * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                v
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        assert!(luhn_valid("4073662585178123"));
        assert!(!luhn_valid("4073662585178124"));
        assert_eq!(luhn_check_digit("407366258517812"), 3);
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("40736625851781a3"));
    }
}
