//! Scripted cases against a host under test (`possim script`): a RON file
//! of messages to send, in order, and what each answer must hold, field by
//! field. Values captured from one answer can be used in later messages
//! (`${name}`), such as the reversal of an approval.
//!
//! ```ron
//! Script(
//!     name: "Purchase, then its reversal",
//!     keys: (tak: "D5E9AB314C4997F8E07FD9F1806497DA"),
//!     steps: [
//!         (
//!             name: "purchase approved",
//!             send: {"t": "0200", "3": "000000", "4": "000000001234", "11": "000321"},
//!             mac: true,
//!             expect: {"39": Equals("00"), "11": Echo, "38": Present, "64": MacValid},
//!             capture: {"auth": "38"},
//!         ),
//!     ],
//! )
//! ```
//!
//! Fields are named as in pyiso8583 and the vectors: `"t"` is the MTI,
//! numbers are field numbers, binary fields (52, 55, 64, 128) are hex.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::protocol::crypto::TdesKey;
use crate::protocol::iso8583::{
    FieldKind, MacCheck, Message, Mti, Spec, encode_with_mac, verify_mac,
};
use crate::protocol::pan::mask_pan;
use crate::scenario::Diagnostic;
use crate::time::Duration;

use super::client::Client;

/// A script file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// What it tests.
    pub name: String,
    /// The dialect: a built-in name or a dialect file. Default `iso87-ascii`.
    #[serde(default = "default_dialect")]
    pub dialect: String,
    /// Keys: the TAK to MAC requests and check answers' MACs.
    #[serde(default)]
    pub keys: ScriptKeys,
    /// The messages, sent in order.
    pub steps: Vec<Step>,
}

fn default_dialect() -> String {
    "iso87-ascii".into()
}

/// The keys a script may use.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptKeys {
    /// Terminal authentication key, hex.
    #[serde(default)]
    pub tak: Option<String>,
}

/// One message and what its answer must hold.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Its name in the results.
    pub name: String,
    /// The message: `"t"` the MTI, field numbers to values (`${name}` is a
    /// captured value).
    pub send: BTreeMap<String, String>,
    /// Compute the MAC (field 64, or 128 with a secondary bitmap) with the TAK.
    #[serde(default)]
    pub mac: bool,
    /// What the answer must hold, per field (`"t"` for its MTI).
    #[serde(default)]
    pub expect: BTreeMap<String, Want>,
    /// Values to keep from the answer: name to field.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// How long to wait for the answer. Default 5 s; `"0s"` sends without
    /// waiting (a message that gets no answer).
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

/// What a field of the answer must be.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub enum Want {
    /// This value (`${name}` allowed).
    Equals(String),
    /// One of these values.
    OneOf(Vec<String>),
    /// The request's value of the same field.
    Echo,
    /// There.
    Present,
    /// Not there.
    Absent,
    /// The answer's MAC verifies under the TAK.
    MacValid,
}

/// Loads and checks a script; errors are located like a scenario's.
pub fn parse(text: &str, file: &str) -> Result<Script, Diagnostic> {
    let script: Script = ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .from_str(text)
        .map_err(|e| crate::scenario::from_ron(file, text, &e))?;
    let spec = Spec::load(&script.dialect).map_err(|e| {
        Diagnostic::find(file, text, &script.dialect, Some("dialect"), e.to_string())
            .help(format!("built in: {}, or a dialect file", Spec::BUILT_IN.join(", ")))
    })?;
    if let Some(t) = &script.keys.tak
        && TdesKey::from_hex(t).is_err()
    {
        return Err(Diagnostic::find(file, text, t, Some("tak"), "not a double-length key")
            .help("32 hex digits"));
    }
    let mut names: Vec<&str> = Vec::new();
    for step in &script.steps {
        let at =
            |needle: &str, msg: String| Diagnostic::find(file, text, needle, Some(&step.name), msg);
        for key in step.send.keys().chain(step.expect.keys()).chain(step.capture.values()) {
            if key != "t" && field_number(key).is_none_or(|n| spec.field(n).is_none()) {
                return Err(at(
                    &format!("\"{key}\""),
                    format!("`{key}`: not a field of {}", script.dialect),
                )
                .help("\"t\" for the MTI, or a field number from 2 to 128"));
            }
        }
        if !step.send.contains_key("t") {
            return Err(at(&step.name, format!("step `{}` sends no MTI", step.name))
                .help("add \"t\": \"0200\" (or the MTI to send) to `send`"));
        }
        if (step.mac || step.expect.values().any(|w| *w == Want::MacValid))
            && script.keys.tak.is_none()
        {
            return Err(at(&step.name, format!("step `{}` needs the TAK", step.name))
                .help("add keys: (tak: \"...\") to the script"));
        }
        for v in step.send.values().chain(step.expect.values().filter_map(|w| match w {
            Want::Equals(v) => Some(v),
            _ => None,
        })) {
            for var in variables(v) {
                if !names.contains(&var) {
                    return Err(at(
                        &format!("${{{var}}}"),
                        format!("`{var}` is not captured by an earlier step"),
                    )
                    .help("capture it first: capture: {\"NAME\": \"FIELD\"}"));
                }
            }
        }
        names.extend(step.capture.keys().map(String::as_str));
    }
    Ok(script)
}

fn field_number(key: &str) -> Option<u8> {
    key.parse::<u8>().ok().filter(|n| (2..=128).contains(n))
}

/// The `${name}` references in a value.
fn variables(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = v;
    while let Some(i) = rest.find("${") {
        let after = rest.get(i + 2..).unwrap_or("");
        let Some(j) = after.find('}') else { break };
        out.push(after.get(..j).unwrap_or(""));
        rest = after.get(j + 1..).unwrap_or("");
    }
    out
}

fn substitute(v: &str, vars: &BTreeMap<String, String>) -> String {
    let mut s = v.to_string();
    for (k, val) in vars {
        s = s.replace(&format!("${{{k}}}"), val);
    }
    s
}

/// A field's value as the script writes it: text, or hex for binary fields.
fn shown(spec: &Spec, n: u8, raw: &[u8]) -> String {
    if spec.field(n).is_some_and(|f| f.kind == FieldKind::B) {
        hex::encode_upper(raw)
    } else {
        String::from_utf8_lossy(raw).into_owned()
    }
}

/// The result of one step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepResult {
    /// The step's name.
    pub name: String,
    /// Every expectation held.
    pub passed: bool,
    /// What did not hold (or why nothing could be checked).
    pub failures: Vec<String>,
    /// The answer's MTI and response code, if any.
    pub answer: Option<String>,
    /// Wall time to the answer, ms.
    pub ms: f64,
    /// The step failed because the host could not be reached or the
    /// connection broke (exit 3, not 1).
    pub io: bool,
}

/// A field's value as it may be printed: card numbers masked, track data,
/// PIN blocks and ICC data (tags 5A, 57) never shown.
fn printable(k: &str, v: &str) -> String {
    match field_number(k) {
        Some(2) => mask_pan(v),
        Some(35 | 45) => "(track data)".into(),
        Some(52) => "(PIN block)".into(),
        Some(55) => format!("(ICC data, {} bytes)", v.len() / 2),
        _ => v.to_string(),
    }
}

/// Runs a script's steps in order on one connection. A step that cannot
/// send or gets no answer fails, and the steps after it still run on a new
/// connection.
pub async fn run(
    script: &Script,
    connect: impl Fn() -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Client, super::client::ClientError>> + Send>,
    >,
) -> Vec<StepResult> {
    let Ok(spec) = Spec::load(&script.dialect) else { return Vec::new() };
    let spec = Arc::new(spec);
    let tak = script.keys.tak.as_deref().and_then(|t| TdesKey::from_hex(t).ok());
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut client: Option<Client> = None;
    let mut results = Vec::new();
    for step in &script.steps {
        let mut r = StepResult {
            name: step.name.clone(),
            passed: false,
            failures: Vec::new(),
            answer: None,
            ms: 0.0,
            io: false,
        };
        // The request.
        let mut msg = Message::new(Mti::default());
        let mut bad = Vec::new();
        // A value captured from an answer that never came is named as such,
        // not sent as the literal `${name}`.
        let missing: std::collections::BTreeSet<&str> = step
            .send
            .values()
            .flat_map(|v| variables(v))
            .filter(|name| !vars.contains_key(*name))
            .collect();
        for name in missing {
            bad.push(format!(
                "`${{{name}}}` was never captured: the step that captures it got no answer carrying that field"
            ));
        }
        for (k, v) in &step.send {
            let v = substitute(v, &vars);
            if k == "t" {
                match Mti::parse(&v) {
                    Some(m) => msg.set_mti(m),
                    None => bad.push(format!("MTI `{v}` is not four digits")),
                }
                continue;
            }
            let Some(n) = field_number(k) else { continue };
            if spec.field(n).is_some_and(|f| f.kind == FieldKind::B) {
                match hex::decode(&v) {
                    Ok(b) => {
                        msg.set(n, b);
                    }
                    Err(_) => bad.push(format!("field {n}: `{v}` is not hex")),
                }
            } else {
                msg.set(n, v.as_bytes());
            }
        }
        if !bad.is_empty() {
            r.failures = bad;
            results.push(r);
            continue;
        }
        let wire = match (&tak, step.mac) {
            (Some(k), true) => encode_with_mac(&spec, &mut msg, k),
            _ => spec.encode(&msg),
        };
        let wire = match wire {
            Ok(w) => w,
            Err(e) => {
                r.failures.push(format!("cannot encode the request: {e}"));
                results.push(r);
                continue;
            }
        };
        // Send, and wait for the answer.
        if client.is_none() {
            match connect().await {
                Ok(c) => client = Some(c),
                Err(e) => {
                    r.failures.push(e.to_string());
                    r.io = true;
                    results.push(r);
                    continue;
                }
            }
        }
        let Some(c) = client.as_mut() else { continue };
        let started = std::time::Instant::now();
        if let Err(e) = c.send(&wire).await {
            r.failures.push(format!("sending: {e}"));
            r.io = true;
            client = None;
            results.push(r);
            continue;
        }
        if step.timeout.micros() == 0 {
            r.passed = step.expect.is_empty();
            if !r.passed {
                r.failures.push("expectations need an answer: give the step a timeout".into());
            }
            // An answer it may get anyway must not pass for the next step's.
            client = None;
            results.push(r);
            continue;
        }
        let wait = std::time::Duration::from_micros(step.timeout.micros());
        let answer = match tokio::time::timeout(wait, c.recv()).await {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                r.failures.push(format!("no answer: {e}"));
                r.io = true;
                client = None;
                results.push(r);
                continue;
            }
            Err(_) => {
                r.failures.push(format!("no answer within {}", step.timeout));
                client = None; // an answer may still come: start afresh
                results.push(r);
                continue;
            }
        };
        r.ms = started.elapsed().as_secs_f64() * 1000.0;
        let (resp, err) = spec.decode_partial(&answer);
        let Some(resp) = resp else {
            r.failures.push(format!(
                "the answer does not decode: {}",
                err.map(|e| e.to_string()).unwrap_or_default()
            ));
            results.push(r);
            continue;
        };
        r.answer = Some(format!(
            "{} {}",
            resp.mti(),
            resp.get_str(39).map_or_else(|| "(no 39)".to_string(), |c| format!("39={c}"))
        ));
        let value = |m: &Message, k: &str| -> Option<String> {
            if k == "t" {
                return Some(m.mti().to_string());
            }
            let n = field_number(k)?;
            m.get(n).map(|raw| shown(&spec, n, raw))
        };
        let safe = printable;
        for (k, want) in &step.expect {
            let got = value(&resp, k);
            let fail = match want {
                Want::Equals(v) if variables(v).iter().any(|n| !vars.contains_key(*n)) => {
                    let missing: Vec<&str> =
                        variables(v).into_iter().filter(|n| !vars.contains_key(*n)).collect();
                    Some(format!(
                        "field {k}: `${{{}}}` was never captured: the step that captures it got no answer carrying that field",
                        missing.join("}`, `${")
                    ))
                }
                Want::Equals(v) => {
                    let v = substitute(v, &vars);
                    (got.as_deref() != Some(v.as_str())).then(|| {
                        format!(
                            "field {k}: expected {}, got {}",
                            safe(k, &v),
                            got.as_deref().map_or("nothing".into(), |g| safe(k, g))
                        )
                    })
                }
                Want::OneOf(vs) => (!got.as_ref().is_some_and(|g| vs.contains(g))).then(|| {
                    format!(
                        "field {k}: expected one of {}, got {}",
                        vs.iter().map(|v| safe(k, v)).collect::<Vec<_>>().join(" "),
                        got.as_deref().map_or("nothing".into(), |g| safe(k, g))
                    )
                }),
                Want::Echo => {
                    let sent = value(&msg, k);
                    (sent != got).then(|| {
                        format!(
                            "field {k}: not echoed (sent {}, got {})",
                            sent.as_deref().map_or("nothing".into(), |s| safe(k, s)),
                            got.as_deref().map_or("nothing".into(), |g| safe(k, g))
                        )
                    })
                }
                Want::Present => got.is_none().then(|| format!("field {k}: absent")),
                Want::Absent => {
                    got.as_deref().map(|g| format!("field {k}: present ({})", safe(k, g)))
                }
                Want::MacValid => {
                    match tak.as_ref().map(|t| verify_mac(&spec, &answer, &resp, t)) {
                        Some(MacCheck::Valid) => None,
                        Some(MacCheck::Invalid) => Some("the answer's MAC does not verify".into()),
                        Some(MacCheck::Absent) => Some("the answer carries no MAC".into()),
                        None => Some("no TAK to check the MAC with".into()),
                    }
                }
            };
            r.failures.extend(fail);
        }
        for (name, k) in &step.capture {
            match value(&resp, k) {
                Some(v) => {
                    vars.insert(name.clone(), v);
                }
                None => r.failures.push(format!("capture `{name}`: field {k} is absent")),
            }
        }
        r.passed = r.failures.is_empty();
        results.push(r);
    }
    results
}
