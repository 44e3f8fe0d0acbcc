//! `possim diff A B`: where two journals part ("why does this seed fail
//! today?"). Journals are compared event by event; the first difference is
//! named with both events, the keys that differ, and, for frames, the
//! ISO 8583 fields that differ (card data masked).

use std::collections::BTreeSet;
use std::io::BufRead;

use serde_json::Value;

use crate::protocol::iso8583::{FieldKind, Spec};
use crate::protocol::pan::mask_pan;

/// Why two journals could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// A line is not a journal event.
    #[error("{file}:{line}: not a journal event: {why}")]
    BadLine {
        /// Which journal.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// Reading failed.
    #[error("reading {file}: {source}")]
    Io {
        /// Which journal.
        file: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The outcome of a comparison.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Diff {
    /// Every event is the same.
    Same {
        /// How many events.
        events: usize,
    },
    /// They part at `line`.
    Differ {
        /// 1-based line where they part.
        line: usize,
        /// A's event there (`None`: A ended).
        a: Option<Value>,
        /// B's event there (`None`: B ended).
        b: Option<Value>,
        /// The keys whose values differ (for events of the same kind).
        keys: Vec<String>,
        /// For frames: each differing ISO 8583 field, as "field N: A -> B".
        fields: Vec<String>,
    },
}

fn next_event(
    r: &mut impl BufRead,
    file: &str,
    line: usize,
    buf: &mut String,
) -> Result<Option<Value>, DiffError> {
    let text = match super::journal::next_line(r, buf) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(None),
        Err(super::journal::LineError::Io(source)) => {
            return Err(DiffError::Io { file: file.into(), source });
        }
        Err(super::journal::LineError::Bad(why)) => {
            return Err(DiffError::BadLine { file: file.into(), line, why });
        }
    };
    let v: Value = serde_json::from_str(text).map_err(|e| DiffError::BadLine {
        file: file.into(),
        line,
        why: e.to_string(),
    })?;
    if !v.get("kind").is_some_and(Value::is_string) {
        return Err(DiffError::BadLine { file: file.into(), line, why: "no \"kind\"".into() });
    }
    Ok(Some(v))
}

/// Compares two journals; `a_name` and `b_name` name them in errors.
pub fn diff(
    mut a: impl BufRead,
    a_name: &str,
    mut b: impl BufRead,
    b_name: &str,
) -> Result<Diff, DiffError> {
    let (mut ba, mut bb) = (String::new(), String::new());
    let mut spec: Option<Spec> = None;
    let mut line = 0;
    loop {
        line += 1;
        let ea = next_event(&mut a, a_name, line, &mut ba)?;
        let eb = next_event(&mut b, b_name, line, &mut bb)?;
        // The dialect the frames are in, from the run's first event.
        if spec.is_none()
            && let Some(d) = ea.as_ref().and_then(|e| e.get("dialect")).and_then(Value::as_str)
        {
            spec = Spec::load(d).ok();
        }
        let (ea, eb) = (ea.map(comparable), eb.map(comparable));
        match (ea, eb) {
            (None, None) => return Ok(Diff::Same { events: line - 1 }),
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => {
                let (keys, fields) = match (&x, &y) {
                    (Some(x), Some(y)) if x.get("kind") == y.get("kind") => {
                        (differing_keys(x, y), frame_fields(spec.as_ref(), x, y))
                    }
                    _ => (Vec::new(), Vec::new()),
                };
                return Ok(Diff::Differ { line, a: x.map(mask), b: y.map(mask), keys, fields });
            }
        }
    }
}

/// An event as compared: a `run_started` without its `file` (the same
/// scenario may be run from another directory or machine), a
/// `run_finished` without the digest of the lines (which are compared
/// themselves).
fn comparable(mut v: Value) -> Value {
    let drop = match v.get("kind").and_then(Value::as_str) {
        Some("run_started") => "file",
        Some("run_finished") => "digest",
        _ => return v,
    };
    if let Some(o) = v.as_object_mut() {
        o.remove(drop);
    }
    v
}

/// The keys whose values differ; inside objects (a `run_started`'s
/// `monitor`), the nested keys, as "monitor.expect".
fn differing_keys(x: &Value, y: &Value) -> Vec<String> {
    let (Some(x), Some(y)) = (x.as_object(), y.as_object()) else { return Vec::new() };
    let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
    let mut out = Vec::new();
    for k in keys.into_iter().filter(|k| x.get(*k) != y.get(*k)) {
        match (x.get(k), y.get(k)) {
            (Some(a @ Value::Object(_)), Some(b @ Value::Object(_))) => {
                out.extend(differing_keys(a, b).into_iter().map(|n| format!("{k}.{n}")));
            }
            _ => out.push(k.clone()),
        }
    }
    out
}

/// Frame bytes are shown decoded, not as hex (which would carry card data).
fn mask(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut()
        && let Some(b) = o.get_mut("bytes")
        && let Some(h) = b.as_str()
    {
        *b = Value::String(format!("({} bytes)", h.len() / 2));
    }
    v
}

fn shown(spec: &Spec, n: u8, raw: &[u8]) -> String {
    match n {
        2 => mask_pan(&String::from_utf8_lossy(raw)),
        35 | 45 => "(track data)".into(),
        52 => "(PIN block)".into(),
        _ if spec.field(n).is_some_and(|f| f.kind == FieldKind::B) => hex::encode_upper(raw),
        _ => String::from_utf8_lossy(raw).into_owned(),
    }
}

/// For two frame events: the fields that differ, decoded with the dialect.
fn frame_fields(spec: Option<&Spec>, x: &Value, y: &Value) -> Vec<String> {
    let (Some(spec), Some(hx), Some(hy)) =
        (spec, x.get("bytes").and_then(Value::as_str), y.get("bytes").and_then(Value::as_str))
    else {
        return Vec::new();
    };
    let (Ok(bx), Ok(by)) = (hex::decode(hx), hex::decode(hy)) else { return Vec::new() };
    let (mx, my) = (spec.decode_partial(&bx).0, spec.decode_partial(&by).0);
    let (Some(mx), Some(my)) = (mx, my) else {
        return vec!["the frames do not decode".into()];
    };
    let mut out = Vec::new();
    if mx.mti() != my.mti() {
        out.push(format!("MTI: {} -> {}", mx.mti(), my.mti()));
    }
    let numbers: BTreeSet<u8> = mx.field_numbers().chain(my.field_numbers()).collect();
    for n in numbers {
        let (vx, vy) = (mx.get(n), my.get(n));
        if vx != vy {
            let show = |v: Option<&[u8]>| v.map_or_else(|| "absent".into(), |r| shown(spec, n, r));
            let name = spec.field(n).map(|f| f.name.as_str()).unwrap_or("");
            out.push(format!("field {n} ({name}): {} -> {}", show(vx), show(vy)));
        }
    }
    out
}
