//! Space-delimited patterns: `[ip, user, ..., status=4* || status=500, size > 1000]` (spec §5).
//!
//! The message is split on spaces; text between `[` `]` or `"` `"` is one field, without the
//! brackets or quotes. Pattern entries are names, conditioned names (conditions on the same
//! name joined with `&&` / `||`, `&&` binding tighter), `...` (any number of fields) and empty
//! entries (one unnamed field). Decisions on the undocumented arity (spec §13.6): fewer fields
//! than entries never matches; with no `...`, extra fields are absorbed by the last entry, whose
//! value is then the rest of the message. `[]` matches every message.
//!
//! Extracted values: a named entry gives `$name`; fields under `...` and empty entries give
//! `$N`, N the field's 1-based position in the message.

use std::borrow::Cow;

use crate::FilterError;
use crate::literal::{Cursor, Literal, Op, parse_number};

#[derive(Clone, Debug)]
enum Entry {
    Ellipsis,
    Empty,
    Named {
        name: String,
        condition: Option<Condition>,
    },
}

/// Conditions on one field: OR of ANDs.
#[derive(Clone, Debug)]
struct Condition {
    any_of: Vec<Vec<(Op, Literal)>>,
}

/// A parsed space-delimited pattern.
#[derive(Clone, Debug)]
pub(crate) struct SpacePattern {
    entries: Vec<Entry>,
    pub(crate) regexes: usize,
}

/// A message field: its text and where it starts in the message.
#[derive(Clone, Debug)]
pub(crate) struct Field<'a> {
    text: &'a str,
    start: usize,
}

impl SpacePattern {
    /// Parses the text between the outer brackets.
    pub(crate) fn parse(inner: &str) -> Result<SpacePattern, FilterError> {
        if inner.trim().is_empty() {
            return Ok(SpacePattern {
                entries: vec![Entry::Ellipsis],
                regexes: 0,
            });
        }
        let mut cursor = Cursor::new(inner);
        let mut entries = Vec::new();
        let mut regexes = 0;
        loop {
            cursor.skip_ws();
            let entry = if cursor.is_done() || cursor.peek() == Some(b',') {
                Entry::Empty
            } else if cursor.eat("...") {
                Entry::Ellipsis
            } else {
                let (name, condition) = named_entry(&mut cursor, &mut regexes)?;
                Entry::Named { name, condition }
            };
            entries.push(entry);
            cursor.skip_ws();
            if cursor.is_done() {
                break;
            }
            if !cursor.eat(",") {
                return Err(FilterError::syntax(format!(
                    "expected , between fields at {:?}",
                    cursor.rest()
                )));
            }
        }
        Ok(SpacePattern { entries, regexes })
    }

    pub(crate) fn has_name(&self, wanted: &str) -> bool {
        self.entries
            .iter()
            .any(|entry| matches!(entry, Entry::Named { name, .. } if name == wanted))
    }

    /// Matches a split message; on a match, returns the extracted values.
    pub(crate) fn extract<'a>(
        &self,
        message: &'a str,
        fields: &[Field<'a>],
    ) -> Option<Vec<(String, Cow<'a, str>)>> {
        let absorb_last = !self
            .entries
            .iter()
            .any(|entry| matches!(entry, Entry::Ellipsis));
        let mut bound = Vec::new();
        let mut search = Search {
            entries: &self.entries,
            fields,
            absorb_last,
            message,
            dead: vec![false; (self.entries.len() + 1) * (fields.len() + 1)],
        };
        if !search.align(0, 0, &mut bound) {
            return None;
        }
        let mut values = Vec::with_capacity(bound.len());
        for (entry, position, text) in bound {
            let key = match &self.entries[entry] {
                Entry::Named { name, .. } => format!("${name}"),
                Entry::Ellipsis | Entry::Empty => format!("${}", position + 1),
            };
            values.push((key, Cow::Borrowed(text)));
        }
        Some(values)
    }
}

/// The state of one alignment of entries to fields.
struct Search<'p, 'a> {
    entries: &'p [Entry],
    fields: &'p [Field<'a>],
    absorb_last: bool,
    message: &'a str,
    /// (entry, field) pairs known not to align: keeps several `...` from going exponential.
    dead: Vec<bool>,
}

impl<'a> Search<'_, 'a> {
    /// Tries to match `entries[entry..]` against `fields[at..]`, recording
    /// (entry, field position, text) in `bound`.
    fn align(&mut self, entry: usize, at: usize, bound: &mut Vec<(usize, usize, &'a str)>) -> bool {
        let key = entry * (self.fields.len() + 1) + at;
        if self.dead[key] {
            return false;
        }
        let aligned = self.align_uncached(entry, at, bound);
        if !aligned {
            self.dead[key] = true;
        }
        aligned
    }

    fn align_uncached(
        &mut self,
        entry: usize,
        at: usize,
        bound: &mut Vec<(usize, usize, &'a str)>,
    ) -> bool {
        let entries = self.entries;
        let fields = self.fields;
        let Some(current) = entries.get(entry) else {
            return at == fields.len();
        };
        match current {
            Entry::Ellipsis => {
                let mark = bound.len();
                for taken in 0..=fields.len() - at {
                    for (offset, field) in fields[at..at + taken].iter().enumerate() {
                        bound.push((entry, at + offset, field.text));
                    }
                    if self.align(entry + 1, at + taken, bound) {
                        return true;
                    }
                    bound.truncate(mark);
                }
                false
            }
            Entry::Empty | Entry::Named { .. } => {
                let Some(field) = fields.get(at) else {
                    return false;
                };
                let is_last = entry + 1 == entries.len();
                let (text, next) = if is_last && self.absorb_last && fields.len() > at + 1 {
                    (
                        self.message[field.start..].trim_end_matches(' '),
                        fields.len(),
                    )
                } else {
                    (field.text, at + 1)
                };
                if let Entry::Named {
                    condition: Some(condition),
                    ..
                } = current
                    && !condition.holds(text)
                {
                    return false;
                }
                let mark = bound.len();
                bound.push((entry, at, text));
                if self.align(entry + 1, next, bound) {
                    return true;
                }
                bound.truncate(mark);
                false
            }
        }
    }
}

fn named_entry(
    cursor: &mut Cursor<'_>,
    regexes: &mut usize,
) -> Result<(String, Option<Condition>), FilterError> {
    let mut name: Option<String> = None;
    let mut any_of = vec![Vec::new()];
    loop {
        cursor.skip_ws();
        let start = cursor.at;
        while cursor
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        {
            cursor.at += 1;
        }
        let this = &cursor.src[start..cursor.at];
        if this.is_empty() {
            return Err(FilterError::syntax(format!(
                "expected a field name at {:?}",
                cursor.rest()
            )));
        }
        match &name {
            None => name = Some(this.to_owned()),
            Some(first) if first != this => {
                return Err(FilterError::syntax(format!(
                    "conditions joined with && or || must be on one field, found {first} and {this}"
                )));
            }
            Some(_) => {}
        }
        let Some(op) = cursor.op() else {
            if any_of.iter().all(Vec::is_empty) {
                break;
            }
            return Err(FilterError::syntax(format!(
                "expected an operator after {this}"
            )));
        };
        let literal = cursor.literal(b",")?;
        literal.check_op(op)?;
        if literal.is_regex() {
            *regexes += 1;
        }
        if let Some(last) = any_of.last_mut() {
            last.push((op, literal));
        }
        if cursor.eat("&&") {
            continue;
        }
        if cursor.eat("||") {
            any_of.push(Vec::new());
            continue;
        }
        break;
    }
    let name = name.unwrap_or_default();
    let condition = (!any_of.iter().all(Vec::is_empty)).then_some(Condition { any_of });
    Ok((name, condition))
}

impl Condition {
    fn holds(&self, text: &str) -> bool {
        self.any_of
            .iter()
            .any(|all| all.iter().all(|(op, literal)| compare(*op, literal, text)))
    }
}

fn compare(op: Op, literal: &Literal, text: &str) -> bool {
    if let Literal::Number { value, .. } = literal
        && let Some(number) = parse_number(text)
    {
        return op.compare(number, *value);
    }
    match op {
        Op::Eq => literal.matches_text(text),
        Op::Ne => !literal.matches_text(text),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => false,
    }
}

/// Splits a message into fields: on spaces, with `[…]` and `"…"` kept whole and unwrapped.
pub(crate) fn split(message: &str) -> Vec<Field<'_>> {
    let bytes = message.as_bytes();
    let mut fields = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b' ' {
            at += 1;
            continue;
        }
        let start = at;
        let closer = match bytes[at] {
            b'[' => Some(b']'),
            b'"' => Some(b'"'),
            _ => None,
        };
        if let Some(closer) = closer
            && let Some(offset) = bytes[at + 1..].iter().position(|b| *b == closer)
        {
            let close = at + 1 + offset;
            if bytes.get(close + 1).is_none_or(|b| *b == b' ') {
                fields.push(Field {
                    text: &message[at + 1..close],
                    start,
                });
                at = close + 1;
                continue;
            }
        }
        while at < bytes.len() && bytes[at] != b' ' {
            at += 1;
        }
        fields.push(Field {
            text: &message[start..at],
            start,
        });
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    const APACHE: &str =
        r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534"#;

    fn extract(pattern: &str, message: &str) -> Option<Vec<(String, String)>> {
        let pattern =
            SpacePattern::parse(pattern).unwrap_or_else(|error| panic!("{pattern}: {error:?}"));
        pattern.extract(message, &split(message)).map(|values| {
            values
                .into_iter()
                .map(|(k, v)| (k, v.into_owned()))
                .collect()
        })
    }

    #[test]
    fn splits_brackets_and_quotes() {
        let texts: Vec<&str> = split(APACHE).iter().map(|field| field.text).collect();
        assert_eq!(
            texts,
            [
                "127.0.0.1",
                "-",
                "frank",
                "10/Oct/2000:13:25:15 -0700",
                "GET /apache_pb.gif HTTP/1.0",
                "200",
                "1534"
            ]
        );
        let texts: Vec<&str> = split("a  [b c]d \"e")
            .iter()
            .map(|field| field.text)
            .collect();
        assert_eq!(texts, ["a", "[b", "c]d", "\"e"]);
    }

    #[test]
    fn extracts_like_test_metric_filter() {
        let values = extract("..., size", APACHE).expect("match");
        let keys: Vec<&str> = values.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(keys, ["$1", "$2", "$3", "$4", "$5", "$6", "$size"]);
        assert_eq!(values[3].1, "10/Oct/2000:13:25:15 -0700");
        assert_eq!(values[6].1, "1534");
        assert_eq!(extract("", APACHE).expect("match").len(), 7);
        let values = extract("..., status=2*,", APACHE).expect("match");
        assert_eq!(
            values.last().map(|(k, v)| (k.as_str(), v.as_str())),
            Some(("$7", "1534"))
        );
    }

    #[test]
    fn arity() {
        assert!(extract("a, b, c", "x y").is_none());
        let values = extract("w1=ERROR, w2", "ERROR something went wrong").expect("match");
        assert_eq!(
            values[1],
            ("$w2".to_owned(), "something went wrong".to_owned())
        );
        assert!(extract("a, ..., b", "x").is_none());
        assert!(extract("a, ..., b", "x y").is_some());
        assert!(extract("..., a=3, ...", "1 2 3 4 5").is_some());
        assert!(extract("..., a=6, ...", "1 2 3 4 5").is_none());
    }

    #[test]
    fn conditions() {
        assert!(extract("w1=ERROR || w1=WARN, w2", "WARN message").is_some());
        assert!(extract("w1!=ERROR && w1!=WARNING, w2", "ERROR message").is_none());
        assert!(extract("w1!=ERROR && w1!=WARNING, w2", "INFO message").is_some());
        assert!(extract("..., bytes > 1000", "a 1534").is_some());
        assert!(extract("..., bytes > 1000", "a 287").is_none());
        assert!(extract("..., bytes > 1000", "a -").is_none());
        assert!(extract("..., s = 404", "a 404").is_some());
        assert!(extract("..., s = 404", "a 404.0").is_some());
        assert!(extract("ip=%^127\\.0%, ...", APACHE).is_some());
        assert!(SpacePattern::parse("a=1 && b=2, c").is_err());
        assert!(SpacePattern::parse("a < x").is_err());
        assert!(SpacePattern::parse("a b").is_err());
    }
}
