//! Scenario files: the RON schema, loading with located errors, and checks
//! of everything the schema alone cannot say (references between parts,
//! ranges, keys).

mod attack;
mod diagnostic;
mod fault;
mod ranged;
mod schema;
mod scoped;
mod validate;

pub use validate::expand_ids;

pub use attack::{AttackKind, AttackSpec};
pub use diagnostic::{Diagnostic, closest};
pub use fault::{FaultKind, FaultSpec};
pub use ranged::{Probability, RangeValue, Ranged};
pub use schema::*;
pub use scoped::{Kind, SCOPE_FIELDS, ScopeSpec, Scoped};

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        message: String,
    },
    /// The file is not a valid scenario.
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
}

impl ScenarioError {
    /// The process exit code for this error: 2 invalid, 3 I/O.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Io { .. } => 3,
            Self::Invalid(_) => 2,
        }
    }
}

/// Reads and checks a scenario file. A dialect file named in it is found
/// relative to the scenario's directory.
pub fn load(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
    let name = path.display().to_string();
    let mut bytes = crate::file::read_bounded(path, crate::file::MAX_SCENARIO)
        .map_err(|e| ScenarioError::Io { path: name.clone(), message: e.to_string() })?;
    // A byte-order mark some editors write is not part of the text.
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = e.as_bytes().get(..e.utf8_error().valid_up_to()).unwrap_or_default();
            let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
            let column = good.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
            let shown = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let d = Diagnostic::at(
                &name,
                &shown,
                line,
                column,
                1,
                "not UTF-8 text: a scenario is a UTF-8 RON file",
            );
            return Err(ScenarioError::Invalid(Box::new(d)));
        }
    };
    parse_in(&text, &name, path.parent()).map_err(|d| {
        if d.io {
            ScenarioError::Io { path: name.clone(), message: d.message }
        } else {
            ScenarioError::Invalid(Box::new(d))
        }
    })
}

/// Parses and checks scenario text; `file` names it in errors. Relative
/// dialect paths are taken from the current directory.
pub fn parse(text: &str, file: &str) -> Result<Scenario, Diagnostic> {
    parse_in(text, file, None)
}

/// Parses and checks scenario text whose relative dialect path is relative to `base`.
pub fn parse_in(
    text: &str,
    file: &str,
    base: Option<&std::path::Path>,
) -> Result<Scenario, Diagnostic> {
    let mut scenario: Scenario = ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .from_str(text)
        .map_err(|e| from_ron(file, text, &e))?;
    let built_in = crate::protocol::iso8583::Spec::BUILT_IN.contains(&scenario.dialect.as_str());
    if let Some(base) = base
        && !built_in
        && std::path::Path::new(&scenario.dialect).is_relative()
    {
        scenario.dialect = base.join(&scenario.dialect).display().to_string();
    }
    validate::check(&scenario, text, file)?;
    scenario.file = file.into();
    Ok(scenario)
}

/// A RON syntax or shape error, located and explained (also used for
/// other possim files in RON).
pub(crate) fn from_ron(file: &str, text: &str, e: &ron::error::SpannedError) -> Diagnostic {
    use ron::Error as E;
    let (line, mut col) = (e.span.start.line, e.span.start.col);
    let mut width =
        if e.span.end.line == line { e.span.end.col.saturating_sub(col).max(1) } else { 1 };
    // ron spans a string from just inside its opening quote to just past its
    // closing one; the caret covers the whole literal, quotes included.
    let source: Vec<char> =
        text.lines().nth(line.saturating_sub(1)).unwrap_or("").chars().collect();
    let at = |c: usize| c.checked_sub(1).and_then(|i| source.get(i)).copied();
    if col > 1 && at(col - 1) == Some('"') && at(col + width - 1) == Some('"') {
        col -= 1;
        width += 1;
    }
    let d = |msg: String| Diagnostic::at(file, text, line, col, width, msg);
    let within =
        |outer: &Option<String>| outer.as_ref().map(|o| format!(" in {o}")).unwrap_or_default();
    match &e.code {
        E::NoSuchStructField { expected, found, outer } => {
            let diag = d(format!("unknown field `{found}`{}", within(outer)));
            match closest(found, expected) {
                Some(k) => diag
                    .help(format!("did you mean `{k}`? (known fields: {})", expected.join(", "))),
                None => diag.help(format!("known fields: {}", expected.join(", "))),
            }
        }
        E::NoSuchEnumVariant { expected, found, outer } => {
            let diag = d(format!("unknown variant `{found}`{}", within(outer)));
            match closest(found, expected) {
                Some(k) => diag.help(format!(
                    "did you mean `{k}`? (expected one of: {})",
                    expected.join(", ")
                )),
                None => diag.help(format!("expected one of: {}", expected.join(", "))),
            }
        }
        E::MissingStructField { field, outer } => {
            d(format!("missing field `{field}`{}", within(outer)))
        }
        E::DuplicateStructField { field, outer } => {
            d(format!("field `{field}` given twice{}", within(outer)))
        }
        E::ExpectedComma => {
            // The comma is missing after the previous value, not where the
            // parser noticed: point there when the error is at a line start.
            let current = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
            let at_line_start =
                current.chars().take(col.saturating_sub(1)).all(char::is_whitespace);
            let prev = text
                .lines()
                .take(line.saturating_sub(1))
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .last();
            match prev {
                Some((i, l)) if at_line_start => {
                    let end = l.trim_end().chars().count();
                    Diagnostic::at(file, text, i + 1, end + 1, 1, "expected `,` after this value")
                }
                _ => d("expected `,`".into()),
            }
        }
        other => d(other.to_string()),
    }
}
