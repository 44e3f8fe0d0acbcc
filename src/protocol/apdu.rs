//! ISO 7816-4 command and response APDUs, and the status words a payment
//! card answers with (PROTOCOL.md section 7).

/// Why bytes are not an APDU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApduError {
    /// Shorter than the 4-byte header (or 2-byte status word).
    #[error("APDU is {0} bytes, too short")]
    TooShort(usize),
    /// Lc and the data length disagree.
    #[error("APDU length {found} does not match its Lc {lc}")]
    LengthMismatch {
        /// Bytes received.
        found: usize,
        /// The Lc announced.
        lc: usize,
    },
}

/// A status word (SW1 SW2).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// 9000: success.
    pub const OK: Self = Self(0x9000);
    /// 6700: wrong length.
    pub const WRONG_LENGTH: Self = Self(0x6700);
    /// 6983: authentication method blocked (PIN try limit reached).
    pub const AUTH_BLOCKED: Self = Self(0x6983);
    /// 6984: referenced data invalidated.
    pub const DATA_INVALIDATED: Self = Self(0x6984);
    /// 6985: conditions of use not satisfied.
    pub const CONDITIONS_NOT_SATISFIED: Self = Self(0x6985);
    /// 6A80: incorrect data.
    pub const WRONG_DATA: Self = Self(0x6A80);
    /// 6A81: function not supported.
    pub const FUNCTION_NOT_SUPPORTED: Self = Self(0x6A81);
    /// 6A82: file or application not found.
    pub const FILE_NOT_FOUND: Self = Self(0x6A82);
    /// 6A83: record not found.
    pub const RECORD_NOT_FOUND: Self = Self(0x6A83);
    /// 6A86: incorrect P1 P2.
    pub const WRONG_P1P2: Self = Self(0x6A86);
    /// 6A88: referenced data not found.
    pub const DATA_NOT_FOUND: Self = Self(0x6A88);
    /// 6D00: instruction not supported.
    pub const INS_NOT_SUPPORTED: Self = Self(0x6D00);
    /// 6E00: class not supported.
    pub const CLA_NOT_SUPPORTED: Self = Self(0x6E00);

    /// 63Cx: verification failed, `tries` attempts left.
    pub fn pin_tries_left(tries: u8) -> Self {
        Self(0x63C0 | u16::from(tries.min(15)))
    }

    /// For 63Cx, the tries left.
    pub fn tries_left(self) -> Option<u8> {
        (self.0 & 0xFFF0 == 0x63C0).then_some((self.0 & 0x0F) as u8)
    }

    /// True for 9000.
    pub fn is_ok(self) -> bool {
        self == Self::OK
    }

    /// The two bytes.
    pub fn bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// What the status word means.
    pub fn meaning(self) -> &'static str {
        match self.0 {
            0x9000 => "success",
            0x6700 => "wrong length",
            0x6983 => "authentication method blocked",
            0x6984 => "referenced data invalidated",
            0x6985 => "conditions of use not satisfied",
            0x6A80 => "incorrect data",
            0x6A81 => "function not supported",
            0x6A82 => "file or application not found",
            0x6A83 => "record not found",
            0x6A86 => "incorrect P1 P2",
            0x6A88 => "referenced data not found",
            0x6D00 => "instruction not supported",
            0x6E00 => "class not supported",
            x if x & 0xFFF0 == 0x63C0 => "verification failed",
            x if x >> 8 == 0x61 => "more data available",
            x if x >> 8 == 0x6C => "wrong Le",
            _ => "unknown status",
        }
    }
}

impl std::fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

impl std::fmt::Display for StatusWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04X} {}", self.0, self.meaning())
    }
}

/// Instruction bytes of the commands a payment card answers.
pub mod ins {
    /// SELECT.
    pub const SELECT: u8 = 0xA4;
    /// READ RECORD.
    pub const READ_RECORD: u8 = 0xB2;
    /// GET PROCESSING OPTIONS.
    pub const GET_PROCESSING_OPTIONS: u8 = 0xA8;
    /// GET DATA.
    pub const GET_DATA: u8 = 0xCA;
    /// VERIFY.
    pub const VERIFY: u8 = 0x20;
    /// GENERATE APPLICATION CRYPTOGRAM.
    pub const GENERATE_AC: u8 = 0xAE;
    /// GET CHALLENGE.
    pub const GET_CHALLENGE: u8 = 0x84;
    /// EXTERNAL AUTHENTICATE.
    pub const EXTERNAL_AUTHENTICATE: u8 = 0x82;
}

/// GENERATE AC reference control parameter (P1): which cryptogram is asked for.
pub mod cryptogram {
    /// AAC: decline.
    pub const AAC: u8 = 0x00;
    /// TC: approve offline / complete.
    pub const TC: u8 = 0x40;
    /// ARQC: go online.
    pub const ARQC: u8 = 0x80;
}

/// A command APDU borrowed from the bytes it was parsed from (no copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandView<'a> {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data.
    pub data: &'a [u8],
    /// Expected response length, if any.
    pub le: Option<usize>,
}

impl<'a> CommandView<'a> {
    /// Parses a command APDU (short or extended length, cases 1 to 4).
    pub fn parse(b: &'a [u8]) -> Result<Self, ApduError> {
        let (&[cla, ins, p1, p2], body) =
            b.split_first_chunk::<4>().ok_or(ApduError::TooShort(b.len()))?;
        let cmd = |data: &'a [u8], le| Ok(Self { cla, ins, p1, p2, data, le });
        let short_le = |x: u8| if x == 0 { 256 } else { usize::from(x) };
        let ext_le = |hi: u8, lo: u8| match u16::from_be_bytes([hi, lo]) {
            0 => 65536,
            x => usize::from(x),
        };
        match body {
            [] => cmd(&[], None),
            [le] => cmd(&[], Some(short_le(*le))),
            [0, hi, lo] => cmd(&[], Some(ext_le(*hi, *lo))),
            [0, hi, lo, rest @ ..] => {
                let lc = usize::from(u16::from_be_bytes([*hi, *lo]));
                match rest.len().checked_sub(lc) {
                    Some(0) => cmd(rest, None),
                    Some(2) => match rest.split_at_checked(lc) {
                        Some((data, &[hi, lo])) => cmd(data, Some(ext_le(hi, lo))),
                        _ => Err(ApduError::LengthMismatch { found: b.len(), lc }),
                    },
                    _ => Err(ApduError::LengthMismatch { found: b.len(), lc }),
                }
            }
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                match rest.len().checked_sub(lc) {
                    Some(0) => cmd(rest, None),
                    Some(1) => {
                        cmd(rest.get(..lc).unwrap_or_default(), rest.get(lc).map(|x| short_le(*x)))
                    }
                    _ => Err(ApduError::LengthMismatch { found: b.len(), lc }),
                }
            }
        }
    }

    /// An owned copy.
    pub fn to_command(&self) -> Command {
        Command {
            cla: self.cla,
            ins: self.ins,
            p1: self.p1,
            p2: self.p2,
            data: self.data.to_vec(),
            le: self.le,
        }
    }
}

/// A command APDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (Lc is its length).
    pub data: Vec<u8>,
    /// Expected response length (256 for a short Le of 00), if any.
    pub le: Option<usize>,
}

impl Command {
    /// A command with no data and Le 00.
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self { cla, ins, p1, p2, data: Vec::new(), le: Some(256) }
    }

    /// With command data.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// SELECT by DF name (AID or PPSE/PSE name).
    pub fn select(name: &[u8]) -> Self {
        Self::new(0x00, ins::SELECT, 0x04, 0x00).with_data(name)
    }

    /// GET PROCESSING OPTIONS with PDOL data wrapped in tag 83.
    pub fn get_processing_options(pdol_data: &[u8]) -> Self {
        let mut d = vec![0x83];
        d.push(pdol_data.len() as u8);
        d.extend_from_slice(pdol_data);
        Self::new(0x80, ins::GET_PROCESSING_OPTIONS, 0, 0).with_data(d)
    }

    /// READ RECORD `record` of short file `sfi`.
    pub fn read_record(record: u8, sfi: u8) -> Self {
        Self::new(0x00, ins::READ_RECORD, record, (sfi << 3) | 0x04)
    }

    /// GET DATA for a two-byte tag (9F36 ATC, 9F17 PIN try counter).
    pub fn get_data(tag: u16) -> Self {
        let [p1, p2] = tag.to_be_bytes();
        Self::new(0x80, ins::GET_DATA, p1, p2)
    }

    /// VERIFY with a plaintext offline PIN (format 2 PIN block, P2 = 80).
    pub fn verify_plaintext_pin(pin: &str) -> Self {
        // Control nibble 2, length, PIN digits, F filler: 16 nibbles.
        let digits = pin.bytes().take(12).map(|b| b.wrapping_sub(b'0') & 0x0f);
        let nibbles: Vec<u8> = [2, pin.len().min(12) as u8]
            .into_iter()
            .chain(digits)
            .chain(std::iter::repeat(0x0f))
            .take(16)
            .collect();
        let block: Vec<u8> =
            nibbles.chunks_exact(2).map(|p| p.iter().fold(0, |acc, n| (acc << 4) | n)).collect();
        Self { le: None, ..Self::new(0x00, ins::VERIFY, 0x00, 0x80).with_data(block) }
    }

    /// GENERATE AC asking for `kind` ([`cryptogram`]) with CDOL data.
    pub fn generate_ac(kind: u8, cdol_data: &[u8]) -> Self {
        Self::new(0x80, ins::GENERATE_AC, kind, 0x00).with_data(cdol_data)
    }

    /// Parses a command APDU (short or extended length, cases 1 to 4).
    pub fn parse(b: &[u8]) -> Result<Self, ApduError> {
        CommandView::parse(b).map(|v| v.to_command())
    }

    /// Encodes the command, choosing short or extended lengths as needed.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Header, at most 3 bytes of Lc, the data and at most 3 of Le: one
        // allocation, not a vector grown a piece at a time.
        let mut out = Vec::with_capacity(10 + self.data.len());
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        let extended = self.data.len() > 255 || self.le.is_some_and(|le| le > 256);
        if extended {
            out.push(0);
            if !self.data.is_empty() {
                out.extend_from_slice(&(self.data.len() as u16).to_be_bytes());
                out.extend_from_slice(&self.data);
            }
            if let Some(le) = self.le {
                out.extend_from_slice(&((le % 65536) as u16).to_be_bytes());
            }
        } else {
            if !self.data.is_empty() {
                out.push(self.data.len() as u8);
                out.extend_from_slice(&self.data);
            }
            if let Some(le) = self.le {
                out.push((le % 256) as u8);
            }
        }
        out
    }
}

/// A response APDU: data and status word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Response data.
    pub data: Vec<u8>,
    /// Status word.
    pub sw: StatusWord,
}

impl Response {
    /// Success with data.
    pub fn ok(data: impl Into<Vec<u8>>) -> Self {
        Self { data: data.into(), sw: StatusWord::OK }
    }

    /// A bare status word.
    pub fn status(sw: StatusWord) -> Self {
        Self { data: Vec::new(), sw }
    }

    /// Parses data followed by SW1 SW2.
    pub fn parse(b: &[u8]) -> Result<Self, ApduError> {
        let (data, &[sw1, sw2]) = b.split_last_chunk::<2>().ok_or(ApduError::TooShort(b.len()))?;
        Ok(Self { data: data.to_vec(), sw: StatusWord(u16::from_be_bytes([sw1, sw2])) })
    }

    /// Data then status word.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.data.clone();
        out.extend_from_slice(&self.sw.bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_ppse_encodes_as_case_4() {
        let c = Command::select(b"2PAY.SYS.DDF01");
        assert_eq!(hex::encode_upper(c.to_bytes()), "00A404000E325041592E5359532E444446303100");
        assert_eq!(Command::parse(&c.to_bytes()), Ok(c));
    }

    #[test]
    fn all_four_cases_parse() {
        assert_eq!(Command::parse(&[0, 0xB2, 1, 0x0C]).unwrap().le, None);
        assert_eq!(Command::parse(&[0, 0xB2, 1, 0x0C, 0]).unwrap().le, Some(256));
        let c3 = Command::parse(&[0, 0x20, 0, 0x80, 2, 0x24, 0x12]).unwrap();
        assert_eq!((c3.data.as_slice(), c3.le), (&[0x24, 0x12][..], None));
        assert!(Command::parse(&[0, 0x20, 0, 0x80, 5, 1]).is_err());
        let big = Command {
            le: Some(1000),
            ..Command::new(0x80, 0xAE, 0x80, 0).with_data(vec![7u8; 300])
        };
        assert_eq!(Command::parse(&big.to_bytes()), Ok(big));
    }

    #[test]
    fn pin_tries_status() {
        assert_eq!(StatusWord::pin_tries_left(2), StatusWord(0x63C2));
        assert_eq!(StatusWord(0x63C2).tries_left(), Some(2));
        assert_eq!(StatusWord::OK.tries_left(), None);
    }
}
