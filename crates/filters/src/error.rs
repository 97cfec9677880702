//! The one error type of the crate: why a pattern or a selector was rejected.

/// A rejected filter pattern or metric selector.
///
/// `Display` is the message CloudWatch Logs puts in its InvalidParameterException. Messages
/// seen from AWS are used verbatim ("Invalid character(s) in term", "Invalid filter pattern",
/// "If a filter pattern starts with '{' it must end with '}'"); the others follow their style
/// (spec §2–§5). [`FilterError::detail`] says precisely what was wrong, for logs and the CLI.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    /// A term or regex holds a character that must be quoted or written as `\xhh`.
    #[error("Invalid character(s) in term")]
    InvalidCharacters { detail: String },
    /// The pattern does not follow the grammar.
    #[error("Invalid filter pattern")]
    Syntax { detail: String },
    /// A JSON pattern that opens with `{` and does not close with `}`.
    #[error("If a filter pattern starts with '{{' it must end with '}}'")]
    UnclosedJson,
    /// A space-delimited pattern that opens with `[` and does not close with `]`.
    #[error("If a filter pattern starts with '[' it must end with ']'")]
    UnclosedSpaceDelimited,
    /// More than two `%regex%` in one pattern.
    #[error("A filter pattern can contain at most 2 regular expressions")]
    TooManyRegexes,
    /// A selector with two wildcards, or more than three wildcard selectors in a pattern.
    #[error("A filter pattern can contain at most 3 wildcard selectors, each with one wildcard")]
    TooManyWildcards,
    /// A metric value or dimension that does not name a field of the pattern.
    #[error("Invalid metric value or dimension selector {selector} for the filter pattern")]
    InvalidSelector { selector: String, detail: String },
}

impl FilterError {
    /// What exactly was wrong, beyond AWS's terse message.
    pub fn detail(&self) -> Option<&str> {
        match self {
            FilterError::InvalidCharacters { detail }
            | FilterError::Syntax { detail }
            | FilterError::InvalidSelector { detail, .. } => Some(detail),
            FilterError::UnclosedJson
            | FilterError::UnclosedSpaceDelimited
            | FilterError::TooManyRegexes
            | FilterError::TooManyWildcards => None,
        }
    }

    pub(crate) fn syntax(detail: impl Into<String>) -> FilterError {
        FilterError::Syntax {
            detail: detail.into(),
        }
    }
}
