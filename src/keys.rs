//! A set of working keys read from a JSON or RON file, as in
//! `tests/vectors/keys.json`: any of `tak`, `tpk`, `imk_ac`, `cvk`, `pvk` in hex,
//! optionally with their check values under `kcv` to catch a mistyped key.

use std::collections::BTreeMap;

use crate::protocol::crypto::TdesKey;

/// Why a key file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Neither JSON nor RON.
    #[error("not a JSON or RON map of keys: {0}")]
    Syntax(String),
    /// A key is not 32 hex digits.
    #[error("key {name}: {reason}")]
    BadKey {
        /// Which key.
        name: String,
        /// Why.
        reason: String,
    },
    /// A key does not match the check value given with it.
    #[error("key {name} has check value {computed}, the file says {expected}")]
    CheckValue {
        /// Which key.
        name: String,
        /// The check value computed from the key.
        computed: String,
        /// The check value in the file.
        expected: String,
    },
}

/// The keys a message can be checked with; any may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    /// Terminal authentication key: the message MAC.
    pub tak: Option<TdesKey>,
    /// Terminal PIN key: field 52.
    pub tpk: Option<TdesKey>,
    /// Issuer master key for application cryptograms.
    pub imk_ac: Option<TdesKey>,
    /// Card verification key: CVV and iCVV.
    pub cvk: Option<TdesKey>,
    /// PIN verification key: PVV.
    pub pvk: Option<TdesKey>,
}

/// The key names a file may hold.
pub const KEY_NAMES: [&str; 5] = ["tak", "tpk", "imk_ac", "cvk", "pvk"];

impl KeySet {
    /// Parses a JSON object or a RON map/struct. Unknown entries are ignored,
    /// so a file may carry other keys (imk_smi, imk_smc) too.
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let map: BTreeMap<String, serde_json::Value> = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(json_err) => {
                let syntax = || KeyFileError::Syntax(json_err.to_string());
                let ron_map: BTreeMap<String, ron::Value> = match ron::from_str(text) {
                    Ok(m) => m,
                    Err(_) => ron::from_str::<ron::Value>(text)
                        .map_err(|_| syntax())?
                        .into_rust()
                        .map_err(|_| syntax())?,
                };
                ron_map.into_iter().map(|(k, v)| (k, ron_to_json(v))).collect()
            }
        };
        let mut set = Self::default();
        for name in KEY_NAMES {
            let Some(v) = map.get(name) else { continue };
            let hex = v.as_str().ok_or_else(|| KeyFileError::BadKey {
                name: name.into(),
                reason: "must be a hex string".into(),
            })?;
            let key = TdesKey::from_hex(hex)
                .map_err(|e| KeyFileError::BadKey { name: name.into(), reason: e.to_string() })?;
            if let Some(expected) =
                map.get("kcv").and_then(|k| k.get(name)).and_then(|k| k.as_str())
            {
                let computed = hex::encode_upper(key.kcv());
                if !computed.starts_with(&expected.to_ascii_uppercase()) || expected.is_empty() {
                    return Err(KeyFileError::CheckValue {
                        name: name.into(),
                        computed,
                        expected: expected.into(),
                    });
                }
            }
            *set.slot(name) = Some(key);
        }
        Ok(set)
    }

    fn slot(&mut self, name: &str) -> &mut Option<TdesKey> {
        match name {
            "tak" => &mut self.tak,
            "tpk" => &mut self.tpk,
            "imk_ac" => &mut self.imk_ac,
            "cvk" => &mut self.cvk,
            _ => &mut self.pvk,
        }
    }

    /// (name, key) for every key present.
    pub fn present(&self) -> Vec<(&'static str, &TdesKey)> {
        let all = [&self.tak, &self.tpk, &self.imk_ac, &self.cvk, &self.pvk];
        KEY_NAMES.iter().zip(all).filter_map(|(n, k)| Some((*n, k.as_ref()?))).collect()
    }
}

fn ron_to_json(v: ron::Value) -> serde_json::Value {
    match v {
        ron::Value::String(s) => serde_json::Value::String(s),
        ron::Value::Map(m) => serde_json::Value::Object(
            m.into_iter()
                .filter_map(|(k, v)| match k {
                    ron::Value::String(k) => Some((k, ron_to_json(v))),
                    _ => None,
                })
                .collect(),
        ),
        _ => serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_and_ron_and_checks_kcvs() {
        let json = r#"{"tak": "D5E9AB314C4997F8E07FD9F1806497DA", "kcv": {"tak": "9E61"}, "imk_smi": "00"}"#;
        assert!(KeySet::parse(json).unwrap().tak.is_some());
        let ron = r#"{"tak": "D5E9AB314C4997F8E07FD9F1806497DA", "pvk": "38C275F24AEC046BD6EA8FECA4192FA1"}"#;
        let set = KeySet::parse(ron).unwrap();
        assert_eq!(set.present().len(), 2);
        let ron_struct = r#"(tak: "D5E9AB314C4997F8E07FD9F1806497DA")"#;
        assert!(KeySet::parse(ron_struct).unwrap().tak.is_some());
        let bad = r#"{"tak": "D5E9AB314C4997F8E07FD9F1806497DA", "kcv": {"tak": "0000"}}"#;
        assert!(matches!(KeySet::parse(bad), Err(KeyFileError::CheckValue { .. })));
        assert!(matches!(KeySet::parse(r#"{"tpk": "XYZ"}"#), Err(KeyFileError::BadKey { .. })));
    }
}
