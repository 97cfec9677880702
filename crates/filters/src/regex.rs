//! The `%regex%` subset CloudWatch Logs accepts, matched by a small NFA simulation.
//!
//! Grammar (spec §3): top-level alternation `a|b`; no groups (`(` `)` are rejected, use `\x28`);
//! atoms are literals, `.`, classes `[…]` / `[^…]` with ranges, `\d \D \s \S \w \W`, `\xhh` and
//! escaped punctuation; quantifiers `? * +` and `{m}` `{m,}` `{,n}` `{m,n}`; anchors `^` `$`.
//! Only ASCII alphanumerics, space, `: _ # = @ / ; , -` and the operators
//! `^ $ ? [ ] { } | \ * + .` may appear; anything else is "Invalid character(s) in term".
//!
//! Matching is an unanchored, case-sensitive search. Each branch compiles to a list of steps
//! (counted repetition is unrolled into mandatory and optional copies), and the search runs the
//! steps as a Thompson NFA: time is O(text × steps), never exponential.

use crate::FilterError;

/// Upper bound on unrolled steps per branch, so `a{1000}{1000}`-style patterns stay small.
const MAX_STEPS: usize = 2_000;

/// A compiled regex: any branch matching anywhere in the text is a match.
#[derive(Clone, Debug)]
pub(crate) struct Regex {
    branches: Vec<Vec<Step>>,
}

#[derive(Clone, Debug)]
enum Step {
    One(Atom),
    Optional(Atom),
    Star(Atom),
    Start,
    End,
}

#[derive(Clone, Debug)]
enum Atom {
    Char(char),
    /// `.`: any character but a line feed.
    Dot,
    Class {
        negated: bool,
        items: Vec<ClassItem>,
    },
}

#[derive(Clone, Debug)]
enum ClassItem {
    Range(char, char),
    Perl(Perl, bool),
}

#[derive(Clone, Copy, Debug)]
enum Perl {
    Digit,
    Space,
    Word,
}

impl Perl {
    fn matches(self, c: char) -> bool {
        match self {
            Perl::Digit => c.is_ascii_digit(),
            Perl::Space => matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'),
            Perl::Word => c.is_ascii_alphanumeric() || c == '_',
        }
    }
}

impl Atom {
    fn matches(&self, c: char) -> bool {
        match self {
            Atom::Char(expected) => *expected == c,
            Atom::Dot => c != '\n',
            Atom::Class { negated, items } => {
                let hit = items.iter().any(|item| match item {
                    ClassItem::Range(low, high) => (*low..=*high).contains(&c),
                    ClassItem::Perl(perl, positive) => perl.matches(c) == *positive,
                });
                hit != *negated
            }
        }
    }
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            ' ' | ':'
                | '_'
                | '#'
                | '='
                | '@'
                | '/'
                | ';'
                | ','
                | '-'
                | '^'
                | '$'
                | '?'
                | '['
                | ']'
                | '{'
                | '}'
                | '|'
                | '\\'
                | '*'
                | '+'
                | '.'
        )
}

fn syntax(detail: impl Into<String>) -> FilterError {
    FilterError::syntax(detail)
}

impl Regex {
    /// Compiles the text between the `%` delimiters.
    pub(crate) fn parse(source: &str) -> Result<Regex, FilterError> {
        if let Some(bad) = source.chars().find(|c| !allowed(*c)) {
            return Err(FilterError::InvalidCharacters {
                detail: format!("character {bad:?} is not allowed in a regular expression"),
            });
        }
        if source.is_empty() {
            return Err(syntax("empty regular expression"));
        }
        let chars: Vec<char> = source.chars().collect();
        let mut parser = Parser {
            chars: &chars,
            at: 0,
        };
        let mut branches = vec![parser.branch()?];
        while parser.eat('|') {
            branches.push(parser.branch()?);
        }
        debug_assert!(parser.at == chars.len());
        Ok(Regex { branches })
    }

    /// Whether the regex matches anywhere in `text`.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.branches.iter().any(|steps| search(steps, text))
    }
}

struct Parser<'c> {
    chars: &'c [char],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            return true;
        }
        false
    }

    fn next(&mut self) -> Result<char, FilterError> {
        let c = self
            .peek()
            .ok_or_else(|| syntax("regular expression ends too early"))?;
        self.at += 1;
        Ok(c)
    }

    fn branch(&mut self) -> Result<Vec<Step>, FilterError> {
        let mut steps = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                '|' => break,
                '^' => {
                    self.at += 1;
                    steps.push(Step::Start);
                }
                '$' => {
                    self.at += 1;
                    steps.push(Step::End);
                }
                '?' | '*' | '+' | '{' => {
                    return Err(syntax(format!(
                        "quantifier {c:?} has nothing to repeat in the regular expression"
                    )));
                }
                _ => {
                    let atom = self.atom()?;
                    let (min, max) = self.quantifier()?;
                    unroll(&mut steps, atom, min, max)?;
                }
            }
        }
        Ok(steps)
    }

    fn atom(&mut self) -> Result<Atom, FilterError> {
        match self.next()? {
            '.' => Ok(Atom::Dot),
            '[' => self.class(),
            ']' | '}' => Err(syntax("unbalanced bracket in the regular expression")),
            '\\' => self.escape().map(|item| match item {
                ClassItem::Range(low, high) if low == high => Atom::Char(low),
                other => Atom::Class {
                    negated: false,
                    items: vec![other],
                },
            }),
            c => Ok(Atom::Char(c)),
        }
    }

    /// After a backslash: a Perl class, `\xhh`, or an escaped literal.
    fn escape(&mut self) -> Result<ClassItem, FilterError> {
        let c = self.next()?;
        let item = match c {
            'd' => ClassItem::Perl(Perl::Digit, true),
            'D' => ClassItem::Perl(Perl::Digit, false),
            's' => ClassItem::Perl(Perl::Space, true),
            'S' => ClassItem::Perl(Perl::Space, false),
            'w' => ClassItem::Perl(Perl::Word, true),
            'W' => ClassItem::Perl(Perl::Word, false),
            't' => ClassItem::Range('\t', '\t'),
            'n' => ClassItem::Range('\n', '\n'),
            'r' => ClassItem::Range('\r', '\r'),
            'x' => {
                let high = self.next()?;
                let low = self.next()?;
                let code = high
                    .to_digit(16)
                    .zip(low.to_digit(16))
                    .map(|(h, l)| h * 16 + l)
                    .ok_or_else(|| syntax("\\x must be followed by two hex digits"))?;
                let c = char::from_u32(code).ok_or_else(|| syntax("invalid \\x escape"))?;
                ClassItem::Range(c, c)
            }
            c if c.is_ascii_alphanumeric() => {
                return Err(syntax(format!(
                    "unsupported escape \\{c} in the regular expression"
                )));
            }
            c => ClassItem::Range(c, c),
        };
        Ok(item)
    }

    fn class(&mut self) -> Result<Atom, FilterError> {
        let negated = self.eat('^');
        let mut items = Vec::new();
        let mut first = true;
        loop {
            let c = self
                .next()
                .map_err(|_| syntax("unclosed [ in the regular expression"))?;
            if c == ']' && !first {
                break;
            }
            first = false;
            let low = if c == '\\' {
                match self.escape()? {
                    ClassItem::Range(low, _) => low,
                    perl => {
                        items.push(perl);
                        continue;
                    }
                }
            } else {
                c
            };
            let is_range = self.peek() == Some('-') && self.chars.get(self.at + 1) != Some(&']');
            if !is_range {
                items.push(ClassItem::Range(low, low));
                continue;
            }
            self.at += 1;
            let high = match self.next()? {
                '\\' => match self.escape()? {
                    ClassItem::Range(high, _) => high,
                    ClassItem::Perl(..) => {
                        return Err(syntax("a class cannot end a range"));
                    }
                },
                high => high,
            };
            if high < low {
                return Err(syntax(format!("range {low}-{high} is out of order")));
            }
            items.push(ClassItem::Range(low, high));
        }
        Ok(Atom::Class { negated, items })
    }

    /// An optional quantifier after an atom: (min, max), max None = unbounded.
    fn quantifier(&mut self) -> Result<(u32, Option<u32>), FilterError> {
        let bounds = match self.peek() {
            Some('?') => (0, Some(1)),
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('{') => {
                self.at += 1;
                let min = self.number();
                let max = if self.eat(',') {
                    self.number()
                } else {
                    Some(min.ok_or_else(|| syntax("{} needs a count"))?)
                };
                if !self.eat('}') {
                    return Err(syntax("unclosed { in the regular expression"));
                }
                let min = min.unwrap_or(0);
                if max.is_some_and(|max| max < min) {
                    return Err(syntax(format!("repetition {{{min},…}} is out of order")));
                }
                // Already past the `}`: return without the shared advance below.
                self.lazy_suffix();
                return Ok((min, max));
            }
            _ => return Ok((1, Some(1))),
        };
        self.at += 1;
        self.lazy_suffix();
        Ok(bounds)
    }

    /// A lazy `?` after a quantifier changes nothing for a yes/no match.
    fn lazy_suffix(&mut self) {
        self.eat('?');
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        self.chars[start..self.at]
            .iter()
            .collect::<String>()
            .parse()
            .ok()
    }
}

fn unroll(
    steps: &mut Vec<Step>,
    atom: Atom,
    min: u32,
    max: Option<u32>,
) -> Result<(), FilterError> {
    let total = max.unwrap_or(min).max(min) as usize + usize::from(max.is_none());
    if steps.len() + total > MAX_STEPS {
        return Err(syntax("regular expression repeats too much"));
    }
    for _ in 0..min {
        steps.push(Step::One(atom.clone()));
    }
    match max {
        None => steps.push(Step::Star(atom)),
        Some(max) => {
            for _ in min..max {
                steps.push(Step::Optional(atom.clone()));
            }
        }
    }
    Ok(())
}

/// Unanchored NFA search; states are step indices, `steps.len()` is the accepting state.
fn search(steps: &[Step], text: &str) -> bool {
    let accept = steps.len();
    let mut current = vec![false; accept + 1];
    let mut next = vec![false; accept + 1];
    let mut chars = text.chars().peekable();
    let mut at_start = true;
    loop {
        current[0] = true;
        let at_end = chars.peek().is_none();
        // Epsilon edges only go forward (i → i+1), so one forward pass is the closure.
        for index in 0..accept {
            if !current[index] {
                continue;
            }
            let passes = match &steps[index] {
                Step::Optional(_) | Step::Star(_) => true,
                Step::Start => at_start,
                Step::End => at_end,
                Step::One(_) => false,
            };
            if passes {
                current[index + 1] = true;
            }
        }
        if current[accept] {
            return true;
        }
        let Some(c) = chars.next() else {
            return false;
        };
        next.fill(false);
        for index in 0..accept {
            if !current[index] {
                continue;
            }
            match &steps[index] {
                Step::One(atom) | Step::Optional(atom) if atom.matches(c) => next[index + 1] = true,
                Step::Star(atom) if atom.matches(c) => next[index] = true,
                _ => {}
            }
        }
        std::mem::swap(&mut current, &mut next);
        at_start = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(regex: &str, text: &str) -> bool {
        Regex::parse(regex)
            .unwrap_or_else(|error| panic!("{regex}: {error:?}"))
            .is_match(text)
    }

    #[test]
    fn searches_unanchored_with_anchors_when_asked() {
        assert!(matches("AUTHORIZED", "UNAUTHORIZED REQUEST"));
        assert!(matches("^[hc]at", "hat trick"));
        assert!(!matches("^[hc]at", "the cat"));
        assert!(!matches("[hc]at$", "cats"));
        assert!(matches("[hc]at$", "the cat"));
        assert!(matches("^$", ""));
    }

    #[test]
    fn quantifiers_and_counted_repetition() {
        assert!(matches("colou?r", "color"));
        assert!(matches("colou?r", "colour"));
        assert!(matches("a{3,5}", "baaab"));
        assert!(!matches("ba{3,5}b", "baab"));
        assert!(!matches("ba{3,5}b", "baaaaaab"));
        assert!(matches("ba{2,}b", "baaaaaab"));
        assert!(matches("ba{,2}b", "bb"));
        assert!(matches("ab*c", "ac"));
        assert!(!matches("ab+c", "ac"));
        assert!(matches("a.c", "abc"));
        assert!(!matches("a.c", "a\nc"));
    }

    #[test]
    fn classes_escapes_and_alternation() {
        assert!(matches("\\d", "a1"));
        assert!(!matches("\\d", "abc"));
        assert!(matches("\\D", "1a"));
        assert!(matches("\\s", "a b"));
        assert!(matches("\\w+@\\w+", "me@host"));
        assert!(matches("[^0-9]", "12a"));
        assert!(!matches("[^0-9]", "123"));
        assert!(matches("\\x28", "f(x)"));
        assert!(matches("10\\.10", "10.10"));
        assert!(!matches("10\\.10", "10010"));
        assert!(matches("gra|ey", "grey"));
        assert!(!matches("gra|ey", "green"));
        assert!(matches("[a\\-z]", "-"));
        assert!(matches("[\\d_]", "_"));
    }

    #[test]
    fn rejects_what_aws_rejects() {
        for bad in [
            "(a)", "a!", "é", "a%b", "", "*a", "a{2", "[ab", "a{3,1}", "\\q",
        ] {
            assert!(Regex::parse(bad).is_err(), "{bad} should be rejected");
        }
        assert!(matches!(
            Regex::parse("(x)"),
            Err(FilterError::InvalidCharacters { .. })
        ));
    }

    #[test]
    fn long_texts_stay_linear() {
        let text = "a".repeat(20_000);
        assert!(!matches("a*a*a*a*a*a*b", &text));
    }
}
