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

/// A test's own scratch directory, removed when the test passes, so that
/// running the suite leaves nothing behind in the temp dir. A failing test
/// keeps its files and says where they are, for a look at what it wrote.
pub struct Scratch(Option<tempfile::TempDir>);

impl Scratch {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("possim-test-").tempdir().expect("a temp dir");
        Scratch(Some(dir))
    }

    fn root(&self) -> &std::path::Path {
        self.0.as_ref().expect("present until dropped").path()
    }

    /// The directory itself.
    pub fn dir(&self) -> PathBuf {
        self.root().to_path_buf()
    }

    /// A file (or directory) of that name inside it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.root().join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take()
            && std::thread::panicking()
        {
            eprintln!("the failing test's files are kept in {}", dir.keep().display());
        }
    }
}

/// A journal sink the test can read back.
#[derive(Clone, Default)]
pub struct SharedBuf(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs scenario text headless; returns the report and the journal.
pub fn run_text(
    text: &str,
    seed: Option<u64>,
    slice: possim::time::Duration,
) -> (possim::report::RunReport, String) {
    use possim::sim::{self, Journal, Options, Pacing, Plan};
    let s = possim::scenario::parse(text, "test.ron").unwrap_or_else(|d| panic!("{d}"));
    let plan = std::sync::Arc::new(Plan::new(&s, seed).unwrap());
    let buf = SharedBuf::default();
    let journal = Journal::to(Box::new(buf.clone()));
    let mut app = sim::build_app(
        plan,
        Some(journal),
        Pacing::Headless { slice },
        Options { apdus: true, frames: true, stay_open: false },
    );
    let report = sim::run_to_end(&mut app, "test.ron");
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    (report, text)
}

/// Reads a scenario from scenarios/.
pub fn scenario(name: &str) -> String {
    std::fs::read_to_string(root().join("scenarios").join(name)).unwrap()
}

/// The journal lines of one kind, parsed.
pub fn lines_of(journal: &str, kind: &str) -> Vec<serde_json::Value> {
    journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == kind)
        .collect()
}

/// Runs scenario text headless with a command channel: `before` is sent
/// before the first update, each of `during` once virtual time reaches it.
pub fn run_steered(
    text: &str,
    before: Vec<possim::sim::Command>,
    during: Vec<(possim::time::SimTime, possim::sim::Command)>,
) -> (possim::report::RunReport, String) {
    use possim::sim::{self, Clock, Control, Journal, Options, Pacing, Plan};
    let s = possim::scenario::parse(text, "test.ron").unwrap_or_else(|d| panic!("{d}"));
    let plan = std::sync::Arc::new(Plan::new(&s, None).unwrap());
    let buf = SharedBuf::default();
    let journal = Journal::to(Box::new(buf.clone()));
    let mut app = sim::build_app(
        plan,
        Some(journal),
        Pacing::Headless { slice: possim::time::Duration::from_secs(60) },
        Options { apdus: true, frames: true, stay_open: false },
    );
    let (control, tx) = Control::new();
    app.insert_resource(control);
    for c in before {
        tx.send(c).unwrap();
    }
    let mut during = std::collections::VecDeque::from(during);
    loop {
        app.update();
        let now = app.world().resource::<Clock>().now;
        while during.front().is_some_and(|(t, _)| *t <= now) {
            tx.send(during.pop_front().unwrap().1).unwrap();
        }
        if app.world().resource::<Clock>().finished {
            break;
        }
    }
    let report = sim::report(&mut app, "test.ron");
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    (report, text)
}

/// Runs the `possim` binary from the repository root, as a user would.
pub fn possim(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_possim"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the possim binary runs")
}
