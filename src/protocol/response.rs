//! Host response codes (field 39) and what they mean (PROTOCOL.md section 8).

use std::borrow::Cow;

/// A field 39 response code.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[non_exhaustive]
pub enum ResponseCode {
    /// 00 approved.
    Approved,
    /// 05 do not honour (issuer rule, e.g. fallback refused).
    DoNotHonour,
    /// 12 invalid transaction (unknown processing code).
    InvalidTransaction,
    /// 13 invalid amount.
    InvalidAmount,
    /// 14 invalid card number.
    InvalidCardNumber,
    /// 30 format error.
    FormatError,
    /// 51 insufficient funds.
    InsufficientFunds,
    /// 54 expired card.
    ExpiredCard,
    /// 55 incorrect PIN.
    IncorrectPin,
    /// 57 transaction not permitted to cardholder.
    NotPermitted,
    /// 58 transaction not permitted to terminal (a device not in the inventory).
    TerminalNotPermitted,
    /// 59 suspected fraud.
    SuspectedFraud,
    /// 63 security violation (bad MAC, ARQC, CVV).
    SecurityViolation,
    /// 65 exceeds frequency limit (too many uses of one card in a window).
    ExceedsFrequency,
    /// 75 PIN tries exceeded.
    PinTriesExceeded,
    /// 91 issuer unavailable.
    IssuerUnavailable,
    /// 94 duplicate transmission.
    Duplicate,
    /// 96 system malfunction.
    SystemMalfunction,
    /// Any other two-character code.
    Other([u8; 2]),
}

const TABLE: [(ResponseCode, &str, &str); 18] = [
    (ResponseCode::Approved, "00", "approved"),
    (ResponseCode::DoNotHonour, "05", "do not honour"),
    (ResponseCode::InvalidTransaction, "12", "invalid transaction"),
    (ResponseCode::InvalidAmount, "13", "invalid amount"),
    (ResponseCode::InvalidCardNumber, "14", "invalid card number"),
    (ResponseCode::FormatError, "30", "format error"),
    (ResponseCode::InsufficientFunds, "51", "insufficient funds"),
    (ResponseCode::ExpiredCard, "54", "expired card"),
    (ResponseCode::IncorrectPin, "55", "incorrect PIN"),
    (ResponseCode::NotPermitted, "57", "transaction not permitted to cardholder"),
    (ResponseCode::TerminalNotPermitted, "58", "transaction not permitted to terminal"),
    (ResponseCode::SuspectedFraud, "59", "suspected fraud"),
    (ResponseCode::SecurityViolation, "63", "security violation"),
    (ResponseCode::ExceedsFrequency, "65", "exceeds frequency limit"),
    (ResponseCode::PinTriesExceeded, "75", "PIN tries exceeded"),
    (ResponseCode::IssuerUnavailable, "91", "issuer unavailable"),
    (ResponseCode::Duplicate, "94", "duplicate transmission"),
    (ResponseCode::SystemMalfunction, "96", "system malfunction"),
];

impl ResponseCode {
    /// Every named code, in numeric order.
    pub fn all() -> impl Iterator<Item = Self> {
        TABLE.iter().map(|t| t.0)
    }

    /// Parses field 39; unknown codes are kept as `Other`.
    pub fn from_code(s: &str) -> Self {
        TABLE.iter().find(|t| t.1 == s).map(|t| t.0).unwrap_or_else(|| {
            let b = s.as_bytes();
            Self::Other([b.first().copied().unwrap_or(b'?'), b.get(1).copied().unwrap_or(b'?')])
        })
    }

    /// Every code the host can send, in table order.
    pub fn known_codes() -> Vec<&'static str> {
        TABLE.iter().map(|t| t.1).collect()
    }

    /// The two characters of field 39.
    pub fn code(&self) -> String {
        self.code_text().into_owned()
    }

    /// The two characters of field 39, borrowed from the code table for a
    /// named code (every response carries one, so no allocation); only
    /// `Other`'s bytes are turned into text.
    pub fn code_text(&self) -> Cow<'static, str> {
        match self {
            Self::Other(b) => Cow::Owned(String::from_utf8_lossy(b).into_owned()),
            known => Cow::Borrowed(TABLE.iter().find(|t| t.0 == *known).map_or("??", |t| t.1)),
        }
    }

    /// What the code means, in words.
    pub fn meaning(&self) -> &'static str {
        TABLE.iter().find(|t| t.0 == *self).map_or("unknown response code", |t| t.2)
    }

    /// True for 00.
    pub fn is_approved(&self) -> bool {
        *self == Self::Approved
    }

    /// The ARC (authorisation response code) for tag 91: the code in ASCII.
    pub fn arc(&self) -> [u8; 2] {
        let c = self.code_text();
        let b = c.as_bytes();
        [b.first().copied().unwrap_or(b'9'), b.get(1).copied().unwrap_or(b'6')]
    }
}

impl std::fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code(), self.meaning())
    }
}

#[cfg(test)]
mod tests {
    use super::ResponseCode;
    use std::borrow::Cow;

    #[test]
    fn the_code_without_allocation_is_the_code() {
        for rc in ResponseCode::all() {
            let code = rc.code();
            assert!(matches!(rc.code_text(), Cow::Borrowed(c) if c == code), "{code}");
            assert_eq!(rc.arc(), <[u8; 2]>::try_from(code.as_bytes()).unwrap());
            let mut m =
                crate::protocol::iso8583::Message::new(crate::protocol::iso8583::Mti::RESPONSE);
            m.set_response_code(rc);
            assert_eq!(m.get(39), Some(code.as_bytes()));
        }
        let other = ResponseCode::from_code("Q7");
        assert!(matches!(other.code_text(), Cow::Owned(_)));
        assert_eq!(other.arc(), *b"Q7");
    }
}
