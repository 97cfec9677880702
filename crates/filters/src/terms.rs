//! Unstructured term patterns: `ERROR -DEBUG "exact phrase"`, `?ERROR ?WARN` (spec §2).
//!
//! A term matches when it occurs anywhere in the message (substring, case-sensitive). Plain
//! and `-` terms are ANDed; `?` terms are ORed, but only when the pattern has nothing else:
//! mixed with other terms they are ignored, as AWS documents. A quoted phrase that is only
//! whitespace (`" "`) matches every message.

use crate::FilterError;
use crate::literal::Cursor;

/// A parsed term pattern.
#[derive(Clone, Debug, Default)]
pub(crate) struct Terms {
    required: Vec<String>,
    excluded: Vec<String>,
    optional: Vec<String>,
}

impl Terms {
    pub(crate) fn parse(pattern: &str) -> Result<Terms, FilterError> {
        let mut terms = Terms::default();
        let mut cursor = Cursor::new(pattern);
        loop {
            cursor.skip_ws();
            let Some(first) = cursor.peek() else {
                break;
            };
            let list = match first {
                b'?' => {
                    cursor.at += 1;
                    &mut terms.optional
                }
                b'-' => {
                    cursor.at += 1;
                    &mut terms.excluded
                }
                _ => &mut terms.required,
            };
            let text = if cursor.peek() == Some(b'"') {
                cursor.quoted()?
            } else {
                let start = cursor.at;
                while cursor.peek().is_some_and(|b| !b.is_ascii_whitespace()) {
                    cursor.at += 1;
                }
                let bare = &pattern[start..cursor.at];
                if let Some(bad) = bare
                    .chars()
                    .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
                {
                    return Err(FilterError::InvalidCharacters {
                        detail: format!(
                            "term {bare:?} contains {bad:?}; only letters, digits and _ may be unquoted"
                        ),
                    });
                }
                if bare.is_empty() {
                    return Err(FilterError::syntax("a ? or - must be followed by a term"));
                }
                bare.to_owned()
            };
            if cursor.peek().is_some_and(|b| !b.is_ascii_whitespace()) {
                return Err(FilterError::InvalidCharacters {
                    detail: format!("unexpected text after a quoted term at {:?}", cursor.rest()),
                });
            }
            list.push(text);
        }
        Ok(terms)
    }

    pub(crate) fn matches(&self, message: &str) -> bool {
        let occurs = |term: &String| term.trim().is_empty() || message.contains(term.as_str());
        if self.required.is_empty() && self.excluded.is_empty() {
            return self.optional.is_empty() || self.optional.iter().any(occurs);
        }
        self.required.iter().all(occurs) && !self.excluded.iter().any(occurs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, message: &str) -> bool {
        Terms::parse(pattern)
            .unwrap_or_else(|error| panic!("{pattern}: {error:?}"))
            .matches(message)
    }

    #[test]
    fn and_or_exclude_and_phrases() {
        assert!(matches("ERROR ARGUMENTS", "[ERROR 420] INVALID ARGUMENTS"));
        assert!(!matches("ERROR ARGUMENTS", "[ERROR 400] BAD REQUEST"));
        assert!(matches("?ERROR ?ARGUMENTS", "INVALID ARGUMENTS"));
        assert!(!matches("?ERROR ?ARGUMENTS", "[INFO 200] OK"));
        assert!(matches("?ERROR ?ARGUMENTS REQUEST", "[INFO] REQUEST"));
        assert!(matches("ERROR -ARGUMENTS", "[ERROR 401] UNAUTHORIZED"));
        assert!(!matches(
            "ERROR -ARGUMENTS",
            "[ERROR 420] INVALID ARGUMENTS"
        ));
        assert!(!matches("\"ERROR Exception\"", "[ERROR] Caught Exception"));
        assert!(matches(
            "\"ERROR\" \"Exception\"",
            "[ERROR] Caught Exception"
        ));
        assert!(matches("\" \"", "nospace"));
        assert!(matches("\"say \\\"hi\\\"\"", "they say \"hi\""));
        assert!(matches("RRO", "ERROR"));
        assert!(!matches("error", "ERROR"));
    }

    #[test]
    fn unquoted_symbols_are_rejected() {
        for bad in [
            "ORDER-ITEM-1",
            "a:b",
            "user@host",
            "f(x)",
            "-",
            "?",
            "\"a\"b",
            "\"open",
        ] {
            assert!(Terms::parse(bad).is_err(), "{bad} should be rejected");
        }
        assert!(matches!(
            Terms::parse("a:b"),
            Err(FilterError::InvalidCharacters { .. })
        ));
    }
}
