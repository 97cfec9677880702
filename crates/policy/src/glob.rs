//! Wildcard patterns: `*` (any run of characters, possibly empty) and `?` (exactly one
//! character), the only wildcards IAM knows.
//!
//! A pattern is compiled once into [`Glob`], a list of tokens, so that a literal `*` that came
//! from the `${*}` policy variable stays a literal. Matching is the classic greedy algorithm with
//! one backtrack point (the last `*` seen): linear in practice, no allocation. Characters are
//! compared byte by byte; `?` consumes one whole UTF-8 character.

/// One token of a compiled pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    /// This byte, literally.
    Byte(u8),
    /// `*`: any run of bytes.
    Star,
    /// `?`: one character.
    One,
}

/// A compiled wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    toks: Vec<Tok>,
    /// How the pattern can be matched without the general algorithm.
    shape: Shape,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    /// `*` alone: matches everything.
    Any,
    /// No wildcard at all.
    Exact,
    /// Literal bytes then one trailing `*`.
    Prefix,
    General,
}

impl Glob {
    /// Compiles `text`, where `*` and `?` are wildcards.
    pub(crate) fn new(text: &str) -> Glob {
        Glob::from_toks(
            text.bytes()
                .map(|b| match b {
                    b'*' => Tok::Star,
                    b'?' => Tok::One,
                    other => Tok::Byte(other),
                })
                .collect(),
        )
    }

    pub(crate) fn from_toks(toks: Vec<Tok>) -> Glob {
        let wildcards = toks.iter().filter(|t| !matches!(t, Tok::Byte(_))).count();
        let shape = if toks == [Tok::Star] {
            Shape::Any
        } else if wildcards == 0 {
            Shape::Exact
        } else if wildcards == 1 && toks.last() == Some(&Tok::Star) {
            Shape::Prefix
        } else {
            Shape::General
        };
        Glob { toks, shape }
    }

    /// The same pattern with its literal bytes lowercased (for case-insensitive matching).
    pub(crate) fn lowercased(mut self) -> Glob {
        for tok in &mut self.toks {
            if let Tok::Byte(b) = tok {
                *b = b.to_ascii_lowercase();
            }
        }
        self
    }

    pub(crate) fn is_any(&self) -> bool {
        self.shape == Shape::Any
    }

    pub(crate) fn toks(&self) -> &[Tok] {
        &self.toks
    }

    /// Whether `text` matches, byte for byte.
    pub(crate) fn matches(&self, text: &str) -> bool {
        self.matches_bytes(text.as_bytes(), false)
    }

    /// Whether `text` matches, ASCII case ignored. The pattern must have been lowercased.
    pub(crate) fn matches_ignore_case(&self, text: &str) -> bool {
        self.matches_bytes(text.as_bytes(), true)
    }

    fn matches_bytes(&self, text: &[u8], fold: bool) -> bool {
        let literal_len = || self.toks.len() - usize::from(self.shape == Shape::Prefix);
        match self.shape {
            Shape::Any => true,
            Shape::Exact => text.len() == self.toks.len() && literal_eq(&self.toks, text, fold),
            Shape::Prefix => {
                let n = literal_len();
                text.len() >= n && literal_eq(&self.toks[..n], &text[..n], fold)
            }
            Shape::General => glob_match(&self.toks, text, fold),
        }
    }
}

fn literal_eq(toks: &[Tok], text: &[u8], fold: bool) -> bool {
    toks.iter().zip(text).all(|(tok, &b)| match tok {
        Tok::Byte(p) => byte_eq(*p, b, fold),
        _ => false,
    })
}

fn byte_eq(pattern: u8, text: u8, fold: bool) -> bool {
    if fold {
        pattern == text.to_ascii_lowercase()
    } else {
        pattern == text
    }
}

/// Length in bytes of the UTF-8 character starting with `lead`.
fn char_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// The general matcher: greedy, remembering the last `*` to backtrack to.
pub(crate) fn glob_match(toks: &[Tok], text: &[u8], fold: bool) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match toks.get(p) {
            Some(Tok::Star) => {
                star = Some((p, t));
                p += 1;
                continue;
            }
            Some(Tok::One) => {
                p += 1;
                t += char_len(text[t]);
                continue;
            }
            Some(Tok::Byte(b)) if byte_eq(*b, text[t], fold) => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((star_p, star_t)) => {
                let next = star_t + char_len(text[star_t]);
                star = Some((star_p, next));
                p = star_p + 1;
                t = next;
            }
            None => return false,
        }
    }
    toks[p.min(toks.len())..]
        .iter()
        .all(|tok| *tok == Tok::Star)
        && t == text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(Glob::new("*").matches(""));
        assert!(Glob::new("s3:Get*").matches("s3:GetObject"));
        assert!(!Glob::new("s3:Get*").matches("s3:PutObject"));
        assert!(Glob::new("a*b*c").matches("aXXbYYc"));
        assert!(!Glob::new("a*b*c").matches("aXXbYY"));
        assert!(Glob::new("a?c").matches("abc"));
        assert!(Glob::new("a?c").matches("aéc"));
        assert!(!Glob::new("a?c").matches("ac"));
        assert!(Glob::new("*Object").matches("GetObject"));
        assert!(Glob::new("**").matches("x"));
        assert!(
            Glob::new("S3:get*")
                .lowercased()
                .matches_ignore_case("s3:GetObject")
        );
        assert!(Glob::new("ab").matches("ab"));
        assert!(!Glob::new("ab").matches("abc"));
    }

    /// The obvious recursive matcher, as a model for the fast one.
    fn model(pattern: &[u8], text: &[u8]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((b'*', rest)) => (0..=text.len()).any(|i| model(rest, &text[i..])),
            Some((b'?', rest)) => !text.is_empty() && model(rest, &text[1..]),
            Some((c, rest)) => text.first() == Some(c) && model(rest, &text[1..]),
        }
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_model(pattern in "[ab*?]{0,8}", text in "[ab]{0,10}") {
            let fast = Glob::new(&pattern).matches(&text);
            proptest::prop_assert_eq!(fast, model(pattern.as_bytes(), text.as_bytes()));
        }
    }
}
