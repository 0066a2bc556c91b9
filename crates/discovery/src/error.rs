//! Errors of the discovery engine and the scan command.

use std::path::PathBuf;

/// Everything that can go wrong building an engine or scanning.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A custom data identifier breaks one of Macie's limits.
    #[error("invalid custom data identifier {name:?}: {reason}")]
    CustomIdentifier {
        /// The identifier's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An allow list breaks one of Macie's limits.
    #[error("invalid allow list {name:?}: {reason}")]
    AllowList {
        /// The allow list's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A regex does not compile.
    #[error("invalid regex {pattern:?}: {}", regex_reason(source))]
    Regex {
        /// The offending pattern.
        pattern: String,
        /// The compiler's complaint.
        #[source]
        source: Box<regex_automata::meta::BuildError>,
    },
    /// `--identifiers` names an identifier we do not have.
    #[error("unknown managed data identifier {0:?}")]
    UnknownIdentifier(String),
    /// The keyword automaton cannot be built.
    #[error("cannot build the keyword automaton: {0}")]
    Keywords(#[from] aho_corasick::BuildError),
    /// A file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An entry of a configuration file does not have the expected shape.
    #[error("invalid {entry} in {}: {source}", path.display())]
    Entry {
        /// The file.
        path: PathBuf,
        /// Which entry: `custom data identifier 1 ("emp")`.
        entry: String,
        /// The missing, misspelt or wrong field.
        #[source]
        source: serde_json::Error,
    },
    /// A configuration file is not the JSON we expect.
    #[error("invalid JSON in {}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// A command-line value is out of range.
    #[error("invalid value {value:?} for {option}: {reason}")]
    Argument {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
}

/// What is wrong with a regex: the parser's own reason (unclosed class, look-around or
/// backreference not supported) and where, not only "error parsing pattern 0".
pub fn regex_reason(e: &regex_automata::meta::BuildError) -> String {
    match e.syntax_error() {
        Some(regex_syntax::Error::Parse(p)) => {
            format!("{} (at byte {})", p.kind(), p.span().start.offset)
        }
        Some(regex_syntax::Error::Translate(t)) => {
            format!("{} (at byte {})", t.kind(), t.span().start.offset)
        }
        Some(other) => other.to_string(),
        None => e.to_string(),
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
