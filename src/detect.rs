//! Framing and dialect detection (`possim inspect --detect`): the most
//! common reason a captured message "does not parse" is a framing or
//! dialect mismatch. Every usual length header (none, 2-byte binary big-
//! and little-endian, 4 ASCII digits), with or without a 5-byte TPDU, is
//! tried against every dialect given; each combination either decodes the
//! whole input cleanly or says where it fails.

use crate::protocol::iso8583::Spec;

/// A length header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Header {
    /// No length header: the input is the message.
    None,
    /// 2 bytes, binary, big-endian (PROTOCOL.md §1, the most common).
    Binary2Be,
    /// 2 bytes, binary, little-endian.
    Binary2Le,
    /// 4 ASCII digits.
    Ascii4,
}

impl Header {
    /// Every header tried, most common first.
    pub const ALL: [Self; 4] = [Self::Binary2Be, Self::None, Self::Ascii4, Self::Binary2Le];

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "no length header",
            Self::Binary2Be => "2-byte big-endian length",
            Self::Binary2Le => "2-byte little-endian length",
            Self::Ascii4 => "4 ASCII digits length",
        }
    }

    /// The header's length and the body length it announces, or why it
    /// does not fit the input.
    fn split(self, input: &[u8]) -> Result<(usize, usize), String> {
        let (size, announced) = match self {
            Self::None => return Ok((0, input.len())),
            Self::Binary2Be | Self::Binary2Le => {
                let Some(&[a, b]) = input.get(..2) else {
                    return Err("shorter than the header".into());
                };
                let n = if self == Self::Binary2Be {
                    u16::from_be_bytes([a, b])
                } else {
                    u16::from_le_bytes([a, b])
                };
                (2, usize::from(n))
            }
            Self::Ascii4 => {
                let Some(h) = input.get(..4) else {
                    return Err("shorter than the header".into());
                };
                if !h.iter().all(u8::is_ascii_digit) {
                    return Err(format!(
                        "the first 4 bytes are not digits ({})",
                        hex::encode_upper(h)
                    ));
                }
                let n = h.iter().fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
                (4, n)
            }
        };
        let body = input.len() - size;
        if announced != body {
            return Err(format!("announces {announced} bytes, {body} follow"));
        }
        Ok((size, body))
    }
}

/// The 5-byte TPDU some acquirers put before the message (ID 0x60, then
/// destination and source addresses).
pub const TPDU_LEN: usize = 5;

/// One combination tried.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attempt {
    /// The length header.
    pub header: Header,
    /// Whether a TPDU was assumed.
    pub tpdu: bool,
    /// The dialect's name.
    pub dialect: String,
    /// `None` when the whole input decodes cleanly; else where it fails.
    pub failure: Option<String>,
    /// For a clean decode: the MTI and how many fields.
    pub decoded: Option<String>,
}

/// Tries every header, with and without a TPDU, against every dialect.
/// Clean decodes come first (in the order tried), then the failures.
pub fn detect(input: &[u8], dialects: &[Spec]) -> Vec<Attempt> {
    let mut out = Vec::new();
    for header in Header::ALL {
        for tpdu in [false, true] {
            for spec in dialects {
                let mut a = Attempt {
                    header,
                    tpdu,
                    dialect: spec.name().to_string(),
                    failure: None,
                    decoded: None,
                };
                match message(input, header, tpdu) {
                    Err(why) => a.failure = Some(why),
                    Ok(msg) => match spec.decode(msg) {
                        Ok(m) => {
                            a.decoded = Some(format!(
                                "MTI {}, {} fields",
                                m.mti(),
                                m.field_numbers().count()
                            ));
                        }
                        Err(e) => a.failure = Some(e.to_string()),
                    },
                }
                out.push(a);
            }
        }
    }
    out.sort_by_key(|a| a.failure.is_some());
    out
}

/// The message under a header and TPDU assumption, or why not.
fn message(input: &[u8], header: Header, tpdu: bool) -> Result<&[u8], String> {
    let (size, _) = header.split(input)?;
    let body = input.get(size..).unwrap_or_default();
    if !tpdu {
        return Ok(body);
    }
    match body.first() {
        Some(0x60) if body.len() > TPDU_LEN => Ok(body.get(TPDU_LEN..).unwrap_or_default()),
        Some(&b) => Err(format!("no TPDU: it would start 0x60, not 0x{b:02X}")),
        None => Err("nothing after the header".into()),
    }
}
