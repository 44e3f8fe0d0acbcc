//! Masking of card data for every log, report and screen.

/// Masks a PAN (or anything that starts with one, like track 2) to its first
/// 6 and last 4 digits; characters after a `=` or `D` separator are hidden too.
///
/// `4073662585178123` becomes `407366******8123`.
pub fn mask_pan(s: &str) -> String {
    let pan_end = s.find(['=', 'D', 'd', '^']).unwrap_or(s.len());
    let (pan, rest) = s.split_at(pan_end);
    let mut out = String::with_capacity(s.len());
    let n = pan.chars().count();
    for (i, c) in pan.chars().enumerate() {
        if n <= 10 || i < 6 || i >= n - 4 {
            out.push(c);
        } else {
            out.push('*');
        }
    }
    if !rest.is_empty() {
        // Keep the separator and expiry shape visible but not the secrets after it.
        out.push_str(&rest[..1]);
        out.extend(std::iter::repeat_n('*', rest.chars().count() - 1));
    }
    out
}

/// A PAN whose `Display` and `Debug` are masked, for types that carry one.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Pan(pub String);

impl Pan {
    /// The full PAN, for the code that needs it (crypto, the ledger).
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The masked form.
    pub fn masked(&self) -> String {
        mask_pan(&self.0)
    }
}

impl std::fmt::Display for Pan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

impl std::fmt::Debug for Pan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pan({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_first_six_last_four() {
        assert_eq!(mask_pan("4073662585178123"), "407366******8123");
        assert_eq!(
            mask_pan("4073662585178123=330620110868831000"),
            "407366******8123=******************"
        );
        assert_eq!(
            mask_pan("4073662585178123D330620110868550000F"),
            "407366******8123D*******************"
        );
        assert_eq!(format!("{}", Pan("4499962283038835".into())), "449996******8835");
    }
}
