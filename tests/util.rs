//! Shared helpers for the integration tests.

#![allow(dead_code)]

use std::path::PathBuf;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Reads a JSON file from tests/vectors.
pub fn vector(name: &str) -> serde_json::Value {
    let p = root().join("tests/vectors").join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).expect("vector files are JSON")
}

/// A string member of a JSON object.
pub fn s<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("missing {key} in {v}"))
}

/// Decodes hex.
pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("valid hex in a vector")
}
