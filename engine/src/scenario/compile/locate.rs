//! Where in a scenario file something went wrong: the error type, and
//! turning byte offsets and parse messages into line, column and key.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A scenario that cannot be used, located in its file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ScenarioError {
    /// The scenario file.
    pub file: PathBuf,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// The key at fault, e.g. `user[0].task[1].step[0].path`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: key '{}': {}",
            self.file.display(),
            self.line,
            self.column,
            OneLine(&self.key),
            OneLine(&self.message)
        )
    }
}

/// Text shown on one line: control characters (a key or value of the file
/// may hold line breaks) written as escapes.
struct OneLine<'a>(&'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// 1-based line and column of a byte offset.
pub(super) fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

pub(super) fn locate(
    file: &Path,
    source: &str,
    span: Range<usize>,
    key: String,
    message: String,
) -> ScenarioError {
    let (line, column) = if span == (0..0) {
        (0, 0)
    } else {
        line_col(source, span.start)
    };
    ScenarioError {
        file: file.to_path_buf(),
        line,
        column,
        key,
        message,
    }
}

/// The key a parse error is about: named in the message (`unknown field
/// `x``), or else the key on the error's line.
pub(super) fn key_at(source: &str, span: &Range<usize>, message: &str) -> String {
    if let Some(start) = message.find('`') {
        if let Some(len) = message[start + 1..].find('`') {
            return message[start + 1..start + 1 + len].to_string();
        }
    }
    let start = source[..span.start.min(source.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = source[start..].lines().next().unwrap_or("");
    match line.split_once('=') {
        Some((key, _)) => key.trim().trim_matches('"').to_string(),
        None => line.trim().trim_matches(['[', ']']).to_string(),
    }
}
