//! Pieces shared by the JSON and space-delimited grammars: a byte cursor, comparison
//! operators, and the literal on the right of a comparison (string, `*` wildcard, number, regex).

use crate::FilterError;
use crate::regex::Regex;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    pub(crate) fn compare(self, left: f64, right: f64) -> bool {
        match self {
            Op::Eq => left == right,
            Op::Ne => left != right,
            Op::Lt => left < right,
            Op::Le => left <= right,
            Op::Gt => left > right,
            Op::Ge => left >= right,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// The value a field is compared with.
#[derive(Clone, Debug)]
pub(crate) enum Literal {
    /// `*` or `"*"`: present with any (scalar) value.
    Any,
    /// Exact text.
    Text(String),
    /// `*x`, `x*`, `*x*`: suffix, prefix, contains. A `*` inside the text is literal (spec §4).
    Wild {
        leading: bool,
        trailing: bool,
        core: String,
    },
    /// An unquoted number, compared numerically as an IEEE double.
    Number {
        value: f64,
        text: String,
    },
    Regex(Regex),
}

impl Literal {
    /// A quoted value: text, or a wildcard when it starts or ends with `*`.
    pub(crate) fn quoted(text: String) -> Literal {
        if text == "*" {
            return Literal::Any;
        }
        let leading = text.starts_with('*');
        let trailing = text.len() > 1 && text.ends_with('*');
        if !leading && !trailing {
            return Literal::Text(text);
        }
        let core = &text[usize::from(leading)..text.len() - usize::from(trailing)];
        Literal::Wild {
            leading,
            trailing,
            core: core.to_owned(),
        }
    }

    /// An unquoted value: a number when it reads as one, else like a quoted value.
    pub(crate) fn unquoted(text: &str) -> Literal {
        match parse_number(text) {
            Some(value) => Literal::Number {
                value,
                text: text.to_owned(),
            },
            None => Literal::quoted(text.to_owned()),
        }
    }

    /// Whether a string value equals this literal (`=` on a string).
    pub(crate) fn matches_text(&self, text: &str) -> bool {
        match self {
            Literal::Any => true,
            Literal::Text(expected) => text == expected,
            Literal::Wild {
                leading,
                trailing,
                core,
            } => match (leading, trailing) {
                (true, true) => text.contains(core.as_str()),
                (true, false) => text.ends_with(core.as_str()),
                (false, true) => text.starts_with(core.as_str()),
                (false, false) => text == core,
            },
            Literal::Number { text: literal, .. } => text == literal,
            Literal::Regex(regex) => regex.is_match(text),
        }
    }

    /// Rejects an operator that does not apply to this literal (`<` on a string).
    pub(crate) fn check_op(&self, op: Op) -> Result<(), FilterError> {
        if matches!(op, Op::Eq | Op::Ne) || matches!(self, Literal::Number { .. }) {
            return Ok(());
        }
        Err(FilterError::syntax(format!(
            "operator {} needs a number on its right",
            op.symbol()
        )))
    }

    pub(crate) fn is_regex(&self) -> bool {
        matches!(self, Literal::Regex(_))
    }
}

/// A number in the pattern grammar `[+-]? digits ('.' digits)? ([eE] [+-]? digits)?`.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    let mut at = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        at += 1;
    }
    let digits = |at: &mut usize| {
        let start = *at;
        while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
            *at += 1;
        }
        *at > start
    };
    if !digits(&mut at) {
        return None;
    }
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        if !digits(&mut at) {
            return None;
        }
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        if !digits(&mut at) {
            return None;
        }
    }
    if at != bytes.len() {
        return None;
    }
    text.parse().ok()
}

/// A cursor over pattern text. Every token boundary it stops at is an ASCII byte, so slicing
/// at its positions is always on a character boundary.
pub(crate) struct Cursor<'s> {
    pub(crate) src: &'s str,
    pub(crate) at: usize,
}

impl<'s> Cursor<'s> {
    pub(crate) fn new(src: &'s str) -> Cursor<'s> {
        Cursor { src, at: 0 }
    }

    pub(crate) fn rest(&self) -> &'s str {
        &self.src[self.at..]
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.at).copied()
    }

    pub(crate) fn is_done(&self) -> bool {
        self.at >= self.src.len()
    }

    pub(crate) fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    /// Skips whitespace, then consumes `token` if it comes next.
    pub(crate) fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(token) {
            self.at += token.len();
            return true;
        }
        false
    }

    /// An operator, if one comes next.
    pub(crate) fn op(&mut self) -> Option<Op> {
        self.skip_ws();
        let rest = self.rest();
        let (op, len) = if rest.starts_with("!=") {
            (Op::Ne, 2)
        } else if rest.starts_with("<=") {
            (Op::Le, 2)
        } else if rest.starts_with(">=") {
            (Op::Ge, 2)
        } else if rest.starts_with('=') {
            (Op::Eq, 1)
        } else if rest.starts_with('<') {
            (Op::Lt, 1)
        } else if rest.starts_with('>') {
            (Op::Gt, 1)
        } else {
            return None;
        };
        self.at += len;
        Some(op)
    }

    /// The body of a `"…"` string, the cursor on its opening quote; `\"` and `\\` are escapes.
    pub(crate) fn quoted(&mut self) -> Result<String, FilterError> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        self.at += 1;
        let mut text = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((offset, c)) = chars.next() {
            match c {
                '"' => {
                    self.at += offset + 1;
                    return Ok(text);
                }
                '\\' => match chars.next() {
                    Some((_, escaped @ ('"' | '\\'))) => text.push(escaped),
                    Some((_, other)) => {
                        text.push('\\');
                        text.push(other);
                    }
                    None => break,
                },
                c => text.push(c),
            }
        }
        Err(FilterError::syntax("unterminated quoted string"))
    }

    /// The body of a `%…%` regex, the cursor on its opening `%`.
    pub(crate) fn regex(&mut self) -> Result<Regex, FilterError> {
        debug_assert_eq!(self.peek(), Some(b'%'));
        self.at += 1;
        let Some(len) = self.rest().find('%') else {
            return Err(FilterError::syntax("unterminated %regex%"));
        };
        let body = &self.rest()[..len];
        self.at += len + 1;
        Regex::parse(body)
    }

    /// An unquoted value: up to whitespace, `)`, `&&`, `||`, or any of `stops`.
    pub(crate) fn bare(&mut self, stops: &[u8]) -> &'s str {
        let start = self.at;
        while let Some(b) = self.peek() {
            let rest = self.rest();
            if b.is_ascii_whitespace()
                || b == b')'
                || stops.contains(&b)
                || rest.starts_with("&&")
                || rest.starts_with("||")
            {
                break;
            }
            self.at += self.rest().chars().next().map_or(1, char::len_utf8);
        }
        &self.src[start..self.at]
    }

    /// A literal value: quoted, `%regex%`, or bare.
    pub(crate) fn literal(&mut self, stops: &[u8]) -> Result<Literal, FilterError> {
        self.skip_ws();
        match self.peek() {
            Some(b'"') => self.quoted().map(Literal::quoted),
            Some(b'%') => self.regex().map(Literal::Regex),
            _ => {
                let bare = self.bare(stops);
                if bare.is_empty() {
                    return Err(FilterError::syntax(format!(
                        "expected a value at {:?}",
                        self.rest()
                    )));
                }
                Ok(Literal::unquoted(bare))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_pattern_grammar() {
        assert_eq!(parse_number("1e+3"), Some(1000.0));
        assert_eq!(parse_number("+1000"), Some(1000.0));
        assert_eq!(parse_number("-0.5"), Some(-0.5));
        for not_number in [
            "",
            "1.",
            ".5",
            "1e",
            "inf",
            "NaN",
            "1_0",
            "0x10",
            "123.123.*",
        ] {
            assert_eq!(parse_number(not_number), None, "{not_number}");
        }
    }

    #[test]
    fn wildcards_only_at_the_ends() {
        assert!(Literal::quoted("Update*".into()).matches_text("UpdateTrail"));
        assert!(Literal::quoted("*Trail".into()).matches_text("UpdateTrail"));
        assert!(Literal::quoted("*dateT*".into()).matches_text("UpdateTrail"));
        assert!(Literal::quoted("UpdateTrail*".into()).matches_text("UpdateTrail"));
        assert!(!Literal::quoted("Up*Trail".into()).matches_text("UpdateTrail"));
        assert!(Literal::quoted("Up*Trail".into()).matches_text("Up*Trail"));
        assert!(matches!(Literal::quoted("*".into()), Literal::Any));
    }
}
