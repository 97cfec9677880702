//! CloudWatch Logs filter patterns: parse a pattern, match log events, extract metric values.
//!
//! Pure: no IO. Serves FilterLogEvents, metric filters, subscription filters and
//! `opentrail filter`. The language is specified in `shared/spec/filter-patterns.md`; the
//! conformance cases in `shared/data/filter-patterns/cases.json` run in `tests/it`.
//!
//! A pattern is dispatched on its trimmed text (spec §1): empty matches everything, `{…}` is
//! a JSON pattern, `[…]` space-delimited, `%…%` a regex, anything else unstructured terms.
//! Matching is case-sensitive throughout.
//!
//! [`FilterSet`] matches many patterns against one message with a single JSON parse, building
//! only the values the patterns read (the CIS filters of a CloudTrail log group).
//!
//! # Layout
//!
//! - `cis`: the CIS / Security Hub CloudWatch.1–14 patterns, verbatim.
//! - `error`: [`FilterError`], AWS's InvalidParameterException messages.
//! - `terms`: unstructured terms, `?` / `-` / quoted phrases.
//! - `regex`: the `%regex%` subset, an NFA search.
//! - `literal`: comparison operators, literals (`*` wildcards, numbers), the pattern cursor.
//! - `json`: JSON patterns, `&&` / `||` precedence, absent-field semantics.
//! - `doc`: selectors and the selective, borrowing JSON parse of events.
//! - `space`: space-delimited patterns, field splitting, `...` alignment, extraction.

#![deny(clippy::unwrap_used)]

pub mod cis;
mod doc;
mod error;
mod json;
mod literal;
mod regex;
mod space;
mod terms;

use std::borrow::Cow;
use std::cell::OnceCell;

pub use error::FilterError;

use doc::{EVERYTHING, Interest, Node, Selector};
use json::JsonPattern;
use regex::Regex;
use space::{Field, SpacePattern};
use terms::Terms;

/// At most this many `%regex%` per pattern (spec §3).
const MAX_REGEXES: usize = 2;

/// A parsed filter pattern.
#[derive(Clone, Debug)]
pub struct FilterPattern {
    text: String,
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    Everything,
    Terms(Terms),
    Regex(Regex),
    Json(JsonPattern),
    Space(SpacePattern),
}

impl FilterPattern {
    /// Parses a filter pattern ("" matches everything). Err carries AWS's
    /// InvalidParameterException message.
    pub fn parse(pattern: &str) -> Result<FilterPattern, FilterError> {
        let trimmed = pattern.trim();
        let kind = if trimmed.is_empty() {
            Kind::Everything
        } else if let Some(rest) = trimmed.strip_prefix('{') {
            let inner = rest.strip_suffix('}').ok_or(FilterError::UnclosedJson)?;
            let json = JsonPattern::parse(inner)?;
            if json.regexes > MAX_REGEXES {
                return Err(FilterError::TooManyRegexes);
            }
            Kind::Json(json)
        } else if let Some(rest) = trimmed.strip_prefix('[') {
            let inner = rest
                .strip_suffix(']')
                .ok_or(FilterError::UnclosedSpaceDelimited)?;
            let space = SpacePattern::parse(inner)?;
            if space.regexes > MAX_REGEXES {
                return Err(FilterError::TooManyRegexes);
            }
            Kind::Space(space)
        } else if let Some(body) = trimmed
            .strip_prefix('%')
            .and_then(|rest| rest.strip_suffix('%'))
        {
            Kind::Regex(Regex::parse(body)?)
        } else {
            Kind::Terms(Terms::parse(trimmed)?)
        };
        Ok(FilterPattern {
            text: pattern.to_owned(),
            kind,
        })
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is a JSON pattern (`{…}`).
    pub fn is_json(&self) -> bool {
        matches!(self.kind, Kind::Json(_))
    }

    /// Whether this is a space-delimited pattern (`[…]`).
    pub fn is_space_delimited(&self) -> bool {
        matches!(self.kind, Kind::Space(_))
    }

    /// Whether a log event message matches.
    pub fn matches(&self, message: &str) -> bool {
        let event = Event::new(message, self.interest());
        self.matches_event(&event)
    }

    /// Matches and, on a match, gives access to values for metric values / dimensions.
    pub fn extract<'a>(&self, message: &'a str) -> Option<Extracted<'a>> {
        let values = match &self.kind {
            Kind::Everything | Kind::Terms(_) | Kind::Regex(_) => {
                if !self.matches(message) {
                    return None;
                }
                Values::Nothing
            }
            Kind::Json(json) => {
                let root = EVERYTHING.parse(message)?;
                if !json.matches(&root) {
                    return None;
                }
                Values::Json(root)
            }
            Kind::Space(space) => Values::Fields(space.extract(message, &space::split(message))?),
        };
        Some(Extracted { values })
    }

    /// Checks a metric-filter selector against this pattern as PutMetricFilter does:
    /// `$.a.b` / `$.a[0]` only for JSON patterns, `$name` only for a named field of a
    /// space-delimited pattern (or `$N`, a field's position), or a plain number literal
    /// (for metricValue). Err has AWS's message.
    pub fn check_selector(&self, selector: &str) -> Result<(), FilterError> {
        let reject = |detail: String| {
            Err(FilterError::InvalidSelector {
                selector: selector.to_owned(),
                detail,
            })
        };
        if literal::parse_number(selector).is_some() {
            return Ok(());
        }
        if selector.starts_with("$.") || selector.starts_with("$[") {
            if !self.is_json() {
                return reject(format!(
                    "{selector} names a JSON field, but the pattern is not a JSON pattern"
                ));
            }
            return match Selector::parse(selector) {
                Ok(_) => Ok(()),
                Err(error) => reject(error.detail().unwrap_or_default().to_owned()),
            };
        }
        let Some(name) = selector.strip_prefix('$') else {
            return reject(format!("{selector} is neither a number nor a $ selector"));
        };
        let Kind::Space(space) = &self.kind else {
            return reject(format!(
                "{selector} names a field, but the pattern is not a space-delimited pattern"
            ));
        };
        let positional =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) && name != "0";
        if positional || space.has_name(name) {
            return Ok(());
        }
        reject(format!("the pattern has no field named {name}"))
    }

    fn interest(&self) -> &Interest {
        match &self.kind {
            Kind::Json(json) => &json.interest,
            _ => &EVERYTHING,
        }
    }

    fn matches_event(&self, event: &Event<'_, '_>) -> bool {
        match &self.kind {
            Kind::Everything => true,
            Kind::Terms(terms) => terms.matches(event.message),
            Kind::Regex(regex) => regex.is_match(event.message),
            Kind::Json(json) => event.json().is_some_and(|root| json.matches(root)),
            Kind::Space(space) => space.extract(event.message, event.fields()).is_some(),
        }
    }
}

/// One log event, parsed lazily and at most once however many patterns look at it.
struct Event<'a, 'i> {
    message: &'a str,
    interest: &'i Interest,
    json: OnceCell<Option<Node<'a>>>,
    fields: OnceCell<Vec<Field<'a>>>,
}

impl<'a, 'i> Event<'a, 'i> {
    fn new(message: &'a str, interest: &'i Interest) -> Event<'a, 'i> {
        Event {
            message,
            interest,
            json: OnceCell::new(),
            fields: OnceCell::new(),
        }
    }

    fn json(&self) -> Option<&Node<'a>> {
        self.json
            .get_or_init(|| self.interest.parse(self.message))
            .as_ref()
    }

    fn fields(&self) -> &[Field<'a>] {
        self.fields.get_or_init(|| space::split(self.message))
    }
}

/// Several patterns matched together: one JSON parse per message serves them all.
#[derive(Clone, Debug, Default)]
pub struct FilterSet {
    patterns: Vec<FilterPattern>,
    interest: Interest,
}

impl FilterSet {
    pub fn new(patterns: impl IntoIterator<Item = FilterPattern>) -> FilterSet {
        let patterns: Vec<FilterPattern> = patterns.into_iter().collect();
        let mut interest = Interest::default();
        for pattern in &patterns {
            if let Kind::Json(json) = &pattern.kind {
                interest.merge(&json.interest);
            }
        }
        FilterSet { patterns, interest }
    }

    /// The patterns, in the order given.
    pub fn patterns(&self) -> &[FilterPattern] {
        &self.patterns
    }

    /// Fills `out` with the indices of the patterns `message` matches.
    pub fn matching(&self, message: &str, out: &mut Vec<usize>) {
        out.clear();
        let event = Event::new(message, &self.interest);
        for (index, pattern) in self.patterns.iter().enumerate() {
            if pattern.matches_event(&event) {
                out.push(index);
            }
        }
    }

    /// Whether any pattern matches `message`.
    pub fn matches_any(&self, message: &str) -> bool {
        let event = Event::new(message, &self.interest);
        self.patterns
            .iter()
            .any(|pattern| pattern.matches_event(&event))
    }
}

/// The values of a matched event, for metric values and dimensions.
#[derive(Clone, Debug)]
pub struct Extracted<'a> {
    values: Values<'a>,
}

#[derive(Clone, Debug)]
enum Values<'a> {
    /// Unstructured and regex patterns extract nothing.
    Nothing,
    Json(Node<'a>),
    Fields(Vec<(String, Cow<'a, str>)>),
}

impl Extracted<'_> {
    /// The value a selector names in the matched event (`$.latency`, `$.a[0].b`, `$size`,
    /// `$3`), as text; None if absent. Strings come bare, other JSON values as compact JSON
    /// (`1.5`, `true`, `null`); a wildcard selector gives its first value. A plain number
    /// (metricValue `"1"`) gives itself.
    pub fn value(&self, selector: &str) -> Option<String> {
        if literal::parse_number(selector).is_some() {
            return Some(selector.to_owned());
        }
        match &self.values {
            Values::Nothing => None,
            Values::Json(root) => {
                let selector = Selector::parse(selector).ok()?;
                let mut found = Vec::new();
                selector.resolve(root, &mut found);
                found.first().map(|node| node.to_text())
            }
            Values::Fields(fields) => fields
                .iter()
                .find(|(name, _)| name == selector)
                .map(|(_, value)| value.to_string()),
        }
    }

    /// TestMetricFilter's `extractedValues`: `$name` / `$N` → value for space-delimited
    /// patterns, in field order; empty for the other kinds.
    pub fn values(&self) -> Vec<(String, String)> {
        match &self.values {
            Values::Fields(fields) => fields
                .iter()
                .map(|(name, value)| (name.clone(), value.to_string()))
                .collect(),
            Values::Nothing | Values::Json(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pattern: &str) -> FilterPattern {
        FilterPattern::parse(pattern).unwrap_or_else(|error| panic!("{pattern}: {error:?}"))
    }

    #[test]
    fn dispatches_on_the_first_character() {
        assert!(parse("").matches("anything"));
        assert!(parse("   ").matches(""));
        assert!(parse("{ $.a = 1 }").is_json());
        assert!(parse("[a, b]").is_space_delimited());
        assert!(parse("%^ab%").matches("abc"));
        assert!(parse("ERROR").matches("an ERROR here"));
        assert_eq!(parse(" ERROR ").as_str(), " ERROR ");
    }

    #[test]
    fn unbalanced_patterns_use_aws_messages() {
        let error = FilterPattern::parse("{ $.a = 1").expect_err("unclosed");
        assert_eq!(
            error.to_string(),
            "If a filter pattern starts with '{' it must end with '}'"
        );
        let error = FilterPattern::parse("[a, b").expect_err("unclosed");
        assert_eq!(error, FilterError::UnclosedSpaceDelimited);
        let error = FilterPattern::parse("ORDER-ITEM-1").expect_err("dash");
        assert_eq!(error.to_string(), "Invalid character(s) in term");
        assert!(
            error
                .detail()
                .is_some_and(|detail| detail.contains("ORDER-ITEM-1"))
        );
        let error =
            FilterPattern::parse("{ $.a = %a% || $.b = %b% || $.c = %c% }").expect_err("3 regexes");
        assert_eq!(error, FilterError::TooManyRegexes);
    }

    #[test]
    fn extracts_json_and_space_values() {
        let json = parse("{ $.latency = * }");
        let extracted = json
            .extract(r#"{"latency":50,"a":[{"b":"x"}],"f":1.5}"#)
            .expect("match");
        assert_eq!(extracted.value("$.latency").as_deref(), Some("50"));
        assert_eq!(extracted.value("$.a[0].b").as_deref(), Some("x"));
        assert_eq!(extracted.value("$.f").as_deref(), Some("1.5"));
        assert_eq!(extracted.value("$.missing"), None);
        assert_eq!(extracted.value("1").as_deref(), Some("1"));
        assert!(extracted.values().is_empty());
        assert!(json.extract(r#"{"other":1}"#).is_none());

        let space = parse("[ip, user, ..., size]");
        let extracted = space.extract("1.2.3.4 bob x y 1534").expect("match");
        assert_eq!(extracted.value("$size").as_deref(), Some("1534"));
        assert_eq!(extracted.value("$ip").as_deref(), Some("1.2.3.4"));
        assert_eq!(extracted.value("$3").as_deref(), Some("x"));
        assert_eq!(extracted.value("$nope"), None);
        assert_eq!(extracted.values().len(), 5);

        let terms = parse("ERROR");
        assert!(
            terms
                .extract("ERROR x")
                .is_some_and(|e| e.value("$.a").is_none())
        );
        assert!(terms.extract("x").is_none());
    }

    #[test]
    fn selectors_are_checked_against_the_pattern_kind() {
        let json = parse("{ $.a = 1 }");
        assert!(json.check_selector("$.latency").is_ok());
        assert!(json.check_selector("$.a[0].b").is_ok());
        assert!(json.check_selector("1").is_ok());
        assert!(json.check_selector("$size").is_err());
        assert!(json.check_selector("$.a[").is_err());
        assert!(json.check_selector("latency").is_err());
        let space = parse("[ip, size]");
        assert!(space.check_selector("$size").is_ok());
        assert!(space.check_selector("$2").is_ok());
        assert!(space.check_selector("$bytes").is_err());
        assert!(space.check_selector("$.size").is_err());
        let terms = parse("ERROR");
        assert!(terms.check_selector("1").is_ok());
        assert!(terms.check_selector("$.a").is_err());
        let error = terms.check_selector("$x").expect_err("not space-delimited");
        assert!(error.to_string().contains("$x"));
    }

    #[test]
    fn a_set_matches_like_each_pattern_alone() {
        let patterns = [
            "{ $.a = 1 }",
            "{ $.b.c = \"x\" || $.a > 5 }",
            "{ $.arr[*] = 2 }",
            "ERROR",
            "[w1, w2=x*]",
        ];
        let set = FilterSet::new(patterns.iter().map(|p| parse(p)));
        let messages = [
            r#"{"a":1,"b":{"c":"x"}}"#,
            r#"{"a":6,"arr":[1,2]}"#,
            r#"{"b":{"c":"y"},"ERROR":1}"#,
            "ERROR xyz",
            "not json",
        ];
        let mut out = Vec::new();
        for message in messages {
            set.matching(message, &mut out);
            let alone: Vec<usize> = patterns
                .iter()
                .enumerate()
                .filter(|(_, p)| parse(p).matches(message))
                .map(|(index, _)| index)
                .collect();
            assert_eq!(out, alone, "{message}");
            assert_eq!(set.matches_any(message), !alone.is_empty());
        }
        assert_eq!(set.patterns().len(), 5);
    }

    #[test]
    fn patterns_are_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync + Clone + std::fmt::Debug>() {}
        assert_send_sync::<FilterPattern>();
        assert_send_sync::<FilterSet>();
        assert_send_sync::<FilterError>();
    }
}
