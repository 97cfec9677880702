//! Policy variables: `${aws:username}`, `${aws:PrincipalTag/team}`, `${aws:username, 'x'}`
//! (a default for an absent key), and the escapes `${*}`, `${?}`, `${$}` (a literal `*`, `?`,
//! `$`). Only policies of Version 2012-10-17 have variables; elsewhere `${…}` is plain text.
//!
//! A string with variables compiles into [`Template`] segments; rendering substitutes each
//! variable's (first) value as literal text, so a `*` in a user name is never a wildcard.
//! A variable whose key is absent and has no default makes the rendering fail: the element
//! holding it matches nothing.

use crate::context::Scope;
use crate::glob::{Glob, Tok};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Policy text: `*` and `?` are wildcards where the element has wildcards.
    Text(String),
    /// A literal byte from `${*}`, `${?}` or `${$}`.
    Escaped(u8),
    /// A variable: its key lowercased, and its default.
    Variable {
        key: String,
        default: Option<String>,
    },
}

/// A policy string with variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    segments: Vec<Segment>,
}

impl Template {
    /// Splits `text` into segments; `None` when it holds no variable or escape.
    pub(crate) fn parse(text: &str) -> Option<Template> {
        if !text.contains("${") {
            return None;
        }
        let mut segments = Vec::new();
        let mut rest = text;
        let mut literal = String::new();
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start..].find('}') else {
                break;
            };
            literal.push_str(&rest[..start]);
            let inner = &rest[start + 2..start + len];
            rest = &rest[start + len + 1..];
            let segment = match inner {
                "*" => Segment::Escaped(b'*'),
                "?" => Segment::Escaped(b'?'),
                "$" => Segment::Escaped(b'$'),
                _ => {
                    let (key, default) = match inner.split_once(',') {
                        Some((key, default)) => (key, Some(parse_default(default))),
                        None => (inner, None),
                    };
                    Segment::Variable {
                        key: key.trim().to_ascii_lowercase(),
                        default,
                    }
                }
            };
            if !literal.is_empty() {
                segments.push(Segment::Text(std::mem::take(&mut literal)));
            }
            segments.push(segment);
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Text(literal));
        }
        Some(Template { segments })
    }

    /// Renders with every byte literal; `None` when a variable has no value.
    pub(crate) fn render_string(&self, scope: &Scope<'_>) -> Option<String> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => out.push_str(text),
                Segment::Escaped(b) => out.push(char::from(*b)),
                Segment::Variable { key, default } => out.push_str(value(scope, key, default)?),
            }
        }
        Some(out)
    }

    /// Renders into a wildcard pattern: `*` and `?` of the policy text are wildcards, the
    /// escapes and substituted values are literal.
    pub(crate) fn render_glob(&self, scope: &Scope<'_>) -> Option<Glob> {
        let mut toks = Vec::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => toks.extend_from_slice(Glob::new(text).toks()),
                Segment::Escaped(b) => toks.push(Tok::Byte(*b)),
                Segment::Variable { key, default } => {
                    toks.extend(value(scope, key, default)?.bytes().map(Tok::Byte));
                }
            }
        }
        Some(Glob::from_toks(toks))
    }
}

fn value<'s>(scope: &Scope<'s>, key: &str, default: &'s Option<String>) -> Option<&'s str> {
    scope.values(key).first().or(default.as_deref())
}

/// `'x'` (quotes optional) after the comma of `${key, 'x'}`.
fn parse_default(text: &str) -> String {
    let text = text.trim();
    text.strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .unwrap_or(text)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{ConditionContext, Principal, PrincipalKind};

    fn render(text: &str, principal: &Principal<'_>, context: &ConditionContext) -> Option<String> {
        let scope = Scope {
            principal,
            context,
            boundary_attached: false,
        };
        Template::parse(text).and_then(|t| t.render_string(&scope))
    }

    #[test]
    fn variables_defaults_and_escapes() {
        let tags = vec![("Team".to_owned(), "ops".to_owned())];
        let alice = Principal {
            username: Some("alice"),
            tags: &tags,
            ..Principal::new(
                "arn:aws:iam::111122223333:user/alice",
                "111122223333",
                PrincipalKind::User,
            )
        };
        let context = ConditionContext::new().with("aws:SourceIp", "192.0.2.1");
        let r = |text: &str| render(text, &alice, &context);
        assert_eq!(Template::parse("no variables"), None);
        assert_eq!(r("home/${aws:username}/*").as_deref(), Some("home/alice/*"));
        assert_eq!(r("${AWS:UserName}").as_deref(), Some("alice"));
        assert_eq!(r("${aws:PrincipalTag/team}").as_deref(), Some("ops"));
        assert_eq!(r("${aws:SourceIp}").as_deref(), Some("192.0.2.1"));
        assert_eq!(r("${aws:userid}"), None);
        assert_eq!(r("${aws:userid, 'nobody'}").as_deref(), Some("nobody"));
        assert_eq!(r("${aws:userid,nobody}").as_deref(), Some("nobody"));
        assert_eq!(r("a${*}b${?}c${$}d").as_deref(), Some("a*b?c$d"));
        assert_eq!(
            r("unclosed ${aws:username").as_deref(),
            Some("unclosed ${aws:username")
        );
    }

    #[test]
    fn substituted_values_are_literal_in_patterns() {
        let star = Principal {
            username: Some("*"),
            ..Principal::new(
                "arn:aws:iam::111122223333:user/star",
                "111122223333",
                PrincipalKind::User,
            )
        };
        let context = ConditionContext::new();
        let scope = Scope {
            principal: &star,
            context: &context,
            boundary_attached: false,
        };
        let glob = Template::parse("home/${aws:username}/*")
            .and_then(|t| t.render_glob(&scope))
            .unwrap_or_else(|| panic!("renders"));
        assert!(glob.matches("home/*/x"));
        assert!(!glob.matches("home/bob/x"));
    }
}
