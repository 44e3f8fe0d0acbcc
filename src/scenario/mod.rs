//! Scenario files: the RON schema, loading with located errors, and checks
//! of everything the schema alone cannot say (references between parts,
//! ranges, keys).

mod diagnostic;
mod schema;
mod validate;

pub use validate::expand_ids;

pub use diagnostic::{Diagnostic, closest};
pub use schema::*;

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

/// Reads and checks a scenario file.
pub fn load(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScenarioError::Io { path: name.clone(), message: e.to_string() })?;
    parse(&text, &name).map_err(|d| ScenarioError::Invalid(Box::new(d)))
}

/// Parses and checks scenario text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Scenario, Diagnostic> {
    let scenario: Scenario = ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .from_str(text)
        .map_err(|e| from_ron(file, text, &e))?;
    validate::check(&scenario, text, file)?;
    Ok(scenario)
}

fn from_ron(file: &str, text: &str, e: &ron::error::SpannedError) -> Diagnostic {
    use ron::Error as E;
    let (line, col) = (e.span.start.line, e.span.start.col);
    let width = if e.span.end.line == line { e.span.end.col.saturating_sub(col).max(1) } else { 1 };
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
