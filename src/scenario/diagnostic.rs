//! Errors in scenario files, located and explained: file:line:column, the
//! line itself with a caret, what was expected, and the closest known name
//! for a misspelt field or variant.

use std::fmt;

/// A problem in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file (as given on the command line).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// How many characters to underline.
    pub width: u32,
    /// The text of that line.
    pub source_line: String,
    /// What is wrong.
    pub message: String,
    /// What would fix it ("did you mean ...", "expected one of ...").
    pub help: Option<String>,
    /// True when a file the scenario names could not be read (exit 3, not 2).
    pub io: bool,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)?;
        let gutter = self.line.to_string().len();
        writeln!(f, "{:gutter$} |", "")?;
        writeln!(f, "{} | {}", self.line, self.source_line)?;
        write!(
            f,
            "{:gutter$} | {}{}",
            "",
            " ".repeat(self.column.saturating_sub(1) as usize),
            "^".repeat(self.width.max(1) as usize)
        )?;
        if let Some(h) = &self.help {
            write!(f, "\n{:gutter$} = {h}", "")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

impl Diagnostic {
    /// A diagnostic at a 1-based line and column of `text`.
    pub fn at(
        file: &str,
        text: &str,
        line: usize,
        column: usize,
        width: usize,
        message: impl Into<String>,
    ) -> Self {
        let source_line = text.lines().nth(line.saturating_sub(1)).unwrap_or("").to_string();
        Self {
            file: file.into(),
            line: u32::try_from(line.max(1)).unwrap_or(u32::MAX),
            column: u32::try_from(column.max(1)).unwrap_or(u32::MAX),
            width: u32::try_from(width).unwrap_or(u32::MAX),
            source_line,
            message: message.into(),
            help: None,
            io: false,
        }
    }

    /// Adds a hint.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Places a diagnostic on the first occurrence of `needle` in `text`
    /// (after `after`, if that is found), or on line 1.
    pub fn find(
        file: &str,
        text: &str,
        needle: &str,
        after: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        let start = after.and_then(|a| text.find(a)).unwrap_or(0);
        let at = text.get(start..).and_then(|t| t.find(needle)).map(|i| i + start);
        match at {
            Some(i) => {
                let before = text.get(..i).unwrap_or("");
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                Self::at(file, text, line, column, needle.chars().count(), message)
            }
            None => Self::at(file, text, 1, 1, 1, message),
        }
    }
}

/// The known name closest to `found`, if one is close enough to be a typo.
pub fn closest<'a>(found: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(&found.to_lowercase(), &k.to_lowercase()), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}
