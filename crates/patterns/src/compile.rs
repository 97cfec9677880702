//! Pattern JSON → alternatives, with event-ruler's validation (its `JsonRuleCompiler`).
//!
//! Grammar: a pattern is a non-empty object; each key is a field name whose value is either a
//! nested object (the path goes one level down) or a non-empty array of matchers, and `$or` maps
//! to an array of at least two objects, each one alternative for the fields around it. A matcher
//! is a string, number, `true`, `false`, `null` (exact match) or a one-key object naming an
//! operator: `prefix`, `suffix` (each also `{"equals-ignore-case": …}`), `equals-ignore-case`,
//! `wildcard`, `anything-but` (a value, a list, or `{prefix|suffix|equals-ignore-case|wildcard}`),
//! `numeric`, `exists`, `cidr`, `exactly`.
//!
//! Error messages are event-ruler's (Jackson's location suffix left out).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::PatternError;
use crate::value::{
    AnythingBut, Glob, IpRange, MAX_SCALED, NumError, NumKey, ValuePattern, fold, parse_cidr,
    parse_ip, parse_scaled,
};

/// More `$or` alternatives than this are refused (the expansion is a product of the `$or`s).
pub(crate) const MAX_ALTERNATIVES: usize = 1000;

const OR: &str = "$or";

/// Operator names that may not be used as field names inside `$or` (event-ruler's reserved list).
const RESERVED_IN_OR: &[&str] = &[
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "=",
    "<",
    "<=",
    ">",
    ">=",
    "regex",
    "not-wildcard",
    "not-equals-ignore-case",
    "date-after",
    "date-on-or-after",
    "date-before",
    "date-on-or-before",
    "in-date-range",
    "ip-address-in-range",
    "ip-address-not-in-range",
];

/// One `$or` alternative: all its conditions must hold.
#[derive(Debug, Clone)]
pub(crate) struct Alternative {
    /// Sorted by path (event-ruler evaluates fields in this order, which matters for
    /// `exists: false` inside arrays).
    pub(crate) conditions: Vec<Condition>,
}

/// The matchers of one path; one of them must accept a leaf at the path, or, when
/// `absent_ok`, the path may have no leaf at all.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub(crate) path: Box<str>,
    /// The matchers other than `exists: false`.
    pub(crate) matchers: Vec<ValuePattern>,
    /// The list holds `{"exists": false}`.
    pub(crate) absent_ok: bool,
}

type Draft = BTreeMap<String, Condition>;

fn err<T>(message: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError::new(message))
}

pub(crate) fn compile(json: &Value) -> Result<Vec<Alternative>, PatternError> {
    let Value::Object(object) = json else {
        return err("Filter is not an object");
    };
    let mut drafts: Vec<Draft> = Vec::new();
    let mut path = Vec::new();
    parse_object(&mut drafts, &mut path, object, false)?;
    Ok(drafts
        .into_iter()
        .map(|draft| Alternative {
            conditions: draft.into_values().collect(),
        })
        .collect())
}

fn parse_object(
    drafts: &mut Vec<Draft>,
    path: &mut Vec<String>,
    object: &Map<String, Value>,
    inside_or: bool,
) -> Result<(), PatternError> {
    if object.is_empty() {
        return err("Empty objects are not allowed");
    }
    for (name, value) in object {
        if name == OR {
            parse_or(drafts, path, value)?;
            continue;
        }
        if inside_or && RESERVED_IN_OR.contains(&name.as_str()) {
            return err(format!(
                "{name} is Ruler reserved fieldName which cannot be used inside {OR}."
            ));
        }
        match value {
            Value::Object(inner) => {
                path.push(name.clone());
                parse_object(drafts, path, inner, inside_or)?;
                path.pop();
            }
            Value::Array(values) => {
                let mut full = path.join(".");
                if !path.is_empty() {
                    full.push('.');
                }
                full.push_str(name);
                write_condition(drafts, full, values)?;
            }
            _ => return err(format!("\"{name}\" must be an object or an array")),
        }
    }
    Ok(())
}

fn parse_or(
    drafts: &mut Vec<Draft>,
    path: &mut Vec<String>,
    value: &Value,
) -> Result<(), PatternError> {
    let Value::Array(branches) = value else {
        return err(format!("It must be an Array followed with {OR}."));
    };
    let before = std::mem::take(drafts);
    for branch in branches {
        let Value::Object(object) = branch else {
            return err(format!(
                "Only JSON object is allowed in array of {OR} relationship."
            ));
        };
        let mut forked = before.clone();
        if forked.is_empty() {
            forked.push(Draft::new());
        }
        parse_object(&mut forked, path, object, true)?;
        drafts.extend(forked);
        if drafts.len() > MAX_ALTERNATIVES {
            return err(format!(
                "{OR} combinations expand to more than {MAX_ALTERNATIVES} alternatives"
            ));
        }
    }
    if branches.len() < 2 {
        return err(format!(
            "There must have at least 2 Objects in {OR} relationship."
        ));
    }
    Ok(())
}

fn write_condition(
    drafts: &mut Vec<Draft>,
    path: String,
    values: &[Value],
) -> Result<(), PatternError> {
    let mut matchers = Vec::new();
    let mut absent_ok = false;
    for value in values {
        match value {
            Value::Object(expression) => match match_expression(expression)? {
                Matcher::Value(m) => push_unique(&mut matchers, m),
                Matcher::Absent => absent_ok = true,
            },
            Value::String(s) => match parse_ip(s) {
                Some(ip) => push_unique(&mut matchers, ValuePattern::Ip(IpRange::single(ip))),
                None => push_unique(&mut matchers, ValuePattern::Exact(s.as_str().into())),
            },
            Value::Number(n) => {
                push_unique(&mut matchers, ValuePattern::Number(NumKey::of_json(n)))
            }
            Value::Bool(true) => push_unique(&mut matchers, ValuePattern::True),
            Value::Bool(false) => push_unique(&mut matchers, ValuePattern::False),
            Value::Null => push_unique(&mut matchers, ValuePattern::Null),
            Value::Array(_) => {
                return err("Match value must be String, number, true, false, or null");
            }
        }
    }
    if values.is_empty() {
        return err("Empty arrays are not allowed");
    }
    if drafts.is_empty() {
        drafts.push(Draft::new());
    }
    let condition = Condition {
        path: path.as_str().into(),
        matchers,
        absent_ok,
    };
    for draft in drafts.iter_mut() {
        // a path given twice: the last one wins, as in event-ruler
        draft.insert(path.clone(), condition.clone());
    }
    Ok(())
}

fn push_unique(matchers: &mut Vec<ValuePattern>, matcher: ValuePattern) {
    if !matchers.contains(&matcher) {
        matchers.push(matcher);
    }
}

enum Matcher {
    Value(ValuePattern),
    Absent,
}

/// Checks that an operator object had no key beyond its first.
fn only_one_key(expression: &Map<String, Value>) -> Result<(), PatternError> {
    if expression.len() > 1 {
        return err("Only one key allowed in match expression");
    }
    Ok(())
}

fn string_operand<'a>(value: &'a Value, message: &str) -> Result<&'a str, PatternError> {
    match value {
        Value::String(s) => Ok(s),
        _ => err(message),
    }
}

fn match_expression(expression: &Map<String, Value>) -> Result<Matcher, PatternError> {
    let Some((name, operand)) = expression.iter().next() else {
        return err("Match expression name not found");
    };
    let matcher = match name.as_str() {
        "exactly" => {
            let s = string_operand(operand, "exact match pattern must be a string")?;
            ValuePattern::Exact(s.into())
        }
        "prefix" => match operand {
            Value::Object(inner) => {
                let s = ignore_case_operand(inner, "Prefix", "prefix")?;
                ValuePattern::PrefixIgnoreCase(fold(s).into())
            }
            _ => ValuePattern::Prefix(
                string_operand(operand, "prefix match pattern must be a string")?.into(),
            ),
        },
        "suffix" => match operand {
            Value::Object(inner) => {
                let s = ignore_case_operand(inner, "Suffix", "suffix")?;
                ValuePattern::SuffixIgnoreCase(fold(s).into())
            }
            _ => ValuePattern::Suffix(
                string_operand(operand, "suffix match pattern must be a string")?.into(),
            ),
        },
        "equals-ignore-case" => {
            let s = string_operand(operand, "equals-ignore-case match pattern must be a string")?;
            ValuePattern::EqualsIgnoreCase(fold(s).into())
        }
        "wildcard" => {
            let s = string_operand(operand, "wildcard match pattern must be a string")?;
            ValuePattern::Wildcard(Glob::parse(s).map_err(PatternError::new)?)
        }
        "numeric" => {
            let Value::Array(terms) = operand else {
                return err("Value of numeric must be an array.");
            };
            let (low, high) = numeric_range(terms)?;
            if expression.len() > 1 {
                return err("Too many elements in numeric expression");
            }
            ValuePattern::Numeric { low, high }
        }
        "anything-but" => ValuePattern::AnythingBut(anything_but(operand)?),
        "exists" => {
            let exists = match operand {
                Value::Bool(b) => *b,
                _ => return err("exists match pattern must be either true or false."),
            };
            only_one_key(expression)?;
            return Ok(if exists {
                Matcher::Value(ValuePattern::Exists)
            } else {
                Matcher::Absent
            });
        }
        "cidr" => {
            let s = string_operand(operand, "cidr match pattern must be a string")?;
            ValuePattern::Ip(parse_cidr(s).map_err(PatternError::new)?)
        }
        other => return err(format!("Unrecognized match type {other}")),
    };
    only_one_key(expression)?;
    Ok(Matcher::Value(matcher))
}

/// `{"equals-ignore-case": "…"}` inside `prefix` / `suffix`.
fn ignore_case_operand<'a>(
    inner: &'a Map<String, Value>,
    title: &str,
    lower: &str,
) -> Result<&'a str, PatternError> {
    let Some((name, operand)) = inner.iter().next() else {
        return err(format!("{title} expression name not found"));
    };
    if name != "equals-ignore-case" {
        return err(format!("Unsupported {lower} pattern: {name}"));
    }
    let s = string_operand(operand, "equals-ignore-case match pattern must be a string")?;
    only_one_key(inner)?;
    Ok(s)
}

/// How Jackson would print the token at `terms[i]` (for event-ruler's messages).
fn token_text(terms: &[Value], i: usize) -> String {
    match terms.get(i) {
        None => "]".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(_)) => "[".into(),
        Some(Value::Object(_)) => "{".into(),
        Some(other) => other.to_string(),
    }
}

fn numeric_operand(terms: &[Value], i: usize, operator: &str) -> Result<i64, PatternError> {
    let Some(Value::Number(n)) = terms.get(i) else {
        return err(format!("Value of {operator} must be numeric"));
    };
    parse_scaled(&n.to_string()).map_err(|e| PatternError::new(e.message()))
}

/// A `numeric` expression → inclusive bounds on scaled values.
fn numeric_range(terms: &[Value]) -> Result<(i64, i64), PatternError> {
    let Some(Value::String(operator)) = terms.first() else {
        return err(format!(
            "Invalid member in numeric match: {}",
            token_text(terms, 0)
        ));
    };
    let too_many = || err("Too many elements in numeric expression");
    match operator.as_str() {
        "=" => {
            let Some(Value::Number(n)) = terms.get(1) else {
                return err("Value of equals must be numeric");
            };
            let v = parse_scaled(&n.to_string())
                .map_err(|e: NumError| PatternError::new(e.message()))?;
            if terms.len() > 2 {
                return too_many();
            }
            Ok((v, v))
        }
        "<" | "<=" => {
            let top = numeric_operand(terms, 1, operator)?;
            if terms.len() > 2 {
                return too_many();
            }
            let high = if operator == "<" { top - 1 } else { top };
            Ok((-MAX_SCALED, high))
        }
        ">" | ">=" => {
            let bottom = numeric_operand(terms, 1, operator)?;
            let low = if operator == ">" { bottom + 1 } else { bottom };
            if terms.len() == 2 {
                return Ok((low, MAX_SCALED));
            }
            let Some(Value::String(upper)) = terms.get(2) else {
                return err(format!(
                    "Bad value in numeric range: {}",
                    token_text(terms, 2)
                ));
            };
            if upper != "<" && upper != "<=" {
                return err(format!("Bad numeric range operator: {upper}"));
            }
            let top = numeric_operand(terms, 3, upper)?;
            if terms.len() > 4 {
                return err("Too many terms in numeric range expression");
            }
            if bottom >= top {
                return err("Bottom must be less than top");
            }
            let high = if upper == "<" { top - 1 } else { top };
            Ok((low, high))
        }
        other => err(format!("Unrecognized numeric range operator: {other}")),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum ButKind {
    IgnoreCase,
    Prefix,
    Suffix,
    Wildcard,
}

fn anything_but(operand: &Value) -> Result<AnythingBut, PatternError> {
    let Value::Object(inner) = operand else {
        return anything_but_values(operand);
    };
    let Some((name, value)) = inner.iter().next() else {
        return err("Anything-But expression name not found");
    };
    let kind = match name.as_str() {
        "equals-ignore-case" => ButKind::IgnoreCase,
        "prefix" => ButKind::Prefix,
        "suffix" => ButKind::Suffix,
        "wildcard" => ButKind::Wildcard,
        other => return err(format!("Unsupported anything-but pattern: {other}")),
    };
    let set = anything_but_set(kind, value)?;
    only_one_key(inner)?;
    Ok(set)
}

/// The operand as a list: an array's items, or a single string / number.
fn operand_items(operand: &Value) -> Result<&[Value], PatternError> {
    match operand {
        Value::Array(items) => Ok(items),
        Value::String(_) | Value::Number(_) => Ok(std::slice::from_ref(operand)),
        _ => err("Value of anything-but must be an array or single string/number value."),
    }
}

/// Plain `anything-but`: strings only or numbers only.
fn anything_but_values(operand: &Value) -> Result<AnythingBut, PatternError> {
    let items = operand_items(operand)?;
    let mut strings = Vec::new();
    let mut numbers = Vec::new();
    for item in items {
        match item {
            Value::String(s) => strings.push(Box::<str>::from(s.as_str())),
            Value::Number(n) => numbers
                .push(parse_scaled(&n.to_string()).map_err(|e| PatternError::new(e.message()))?),
            _ => return err("Inside anything but list, start|null|boolean is not supported."),
        }
    }
    if strings.is_empty() == numbers.is_empty() {
        return err(
            "Inside anything but list, either all values are number or string, mixed type is not supported",
        );
    }
    Ok(if numbers.is_empty() {
        AnythingBut::Strings(strings)
    } else {
        AnythingBut::Numbers(numbers)
    })
}

/// `anything-but` with `equals-ignore-case`, `prefix`, `suffix` or `wildcard`: strings only.
fn anything_but_set(kind: ButKind, operand: &Value) -> Result<AnythingBut, PatternError> {
    let items = operand_items(operand)?;
    let mut texts = Vec::new();
    for item in items {
        let Value::String(s) = item else {
            return err(match kind {
                ButKind::IgnoreCase => {
                    "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
                }
                ButKind::Wildcard => "wildcard match pattern must be a string",
                ButKind::Prefix | ButKind::Suffix => "prefix/suffix match pattern must be a string",
            });
        };
        if matches!(kind, ButKind::Prefix | ButKind::Suffix) && s.is_empty() {
            return err("Null prefix/suffix not allowed");
        }
        texts.push(s.as_str());
    }
    Ok(match kind {
        ButKind::IgnoreCase => {
            AnythingBut::IgnoreCase(texts.into_iter().map(|s| fold(s).into()).collect())
        }
        ButKind::Prefix => AnythingBut::Prefixes(texts.into_iter().map(Into::into).collect()),
        ButKind::Suffix => AnythingBut::Suffixes(texts.into_iter().map(Into::into).collect()),
        ButKind::Wildcard => AnythingBut::Wildcards(
            texts
                .into_iter()
                .map(|s| Glob::parse(s).map_err(PatternError::new))
                .collect::<Result<_, _>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_text(text: &str) -> Result<Vec<Alternative>, PatternError> {
        compile(&serde_json::from_str(text).expect("json"))
    }

    #[test]
    fn or_forks_alternatives_and_keeps_surrounding_fields() {
        let alternatives = compile_text(
            r#"{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["a"]}, {"namespace": ["b"], "metricType": ["c"]}, {"scope": ["d"]}]}"#,
        )
        .expect("valid");
        let paths: Vec<Vec<&str>> = alternatives
            .iter()
            .map(|a| a.conditions.iter().map(|c| &*c.path).collect())
            .collect();
        assert_eq!(
            paths,
            vec![
                vec!["metricName", "source"],
                vec!["metricType", "namespace", "source"],
                vec!["scope", "source"]
            ]
        );
    }

    #[test]
    fn numeric_bounds_are_inclusive_scaled() {
        let alternatives =
            compile_text(r#"{"x": [{"numeric": [">", 0, "<=", 5]}]}"#).expect("valid");
        assert_eq!(
            alternatives[0].conditions[0].matchers,
            vec![ValuePattern::Numeric {
                low: 1,
                high: 5_000_000
            }]
        );
    }

    #[test]
    fn messages() {
        let cases = [
            (r#"[1]"#, "Filter is not an object"),
            (r#"{}"#, "Empty objects are not allowed"),
            (r#"{"a": []}"#, "Empty arrays are not allowed"),
            (r#"{"a": 1}"#, "\"a\" must be an object or an array"),
            (
                r#"{"a": [[1]]}"#,
                "Match value must be String, number, true, false, or null",
            ),
            (r#"{"a": [{}]}"#, "Match expression name not found"),
            (
                r#"{"$or": [{"a": [1]}]}"#,
                "There must have at least 2 Objects in $or relationship.",
            ),
            (
                r#"{"$or": {"a": [1]}}"#,
                "It must be an Array followed with $or.",
            ),
            (
                r#"{"$or": [{"a": [1]}, {"prefix": [1]}]}"#,
                "prefix is Ruler reserved fieldName which cannot be used inside $or.",
            ),
            (
                r#"{"a": [{"numeric": [">", 1e-7]}]}"#,
                "Only values upto 6 decimals are supported",
            ),
            (
                r#"{"a": [{"numeric": [">", 5000000001]}]}"#,
                "Value must be between -5.0E9 and 5.0E9, inclusive",
            ),
            (
                r#"{"a": [{"numeric": [5]}]}"#,
                "Invalid member in numeric match: 5",
            ),
            (
                r#"{"a": [{"numeric": []}]}"#,
                "Invalid member in numeric match: ]",
            ),
            (
                r#"{"a": [{"numeric": [">", 1, 2]}]}"#,
                "Bad value in numeric range: 2",
            ),
            (
                r#"{"a": [{"numeric": [">", 1, ">", 2]}]}"#,
                "Bad numeric range operator: >",
            ),
            (
                r#"{"a": [{"cidr": "10.0.0.0"}]}"#,
                "Malformed CIDR, one '/' required",
            ),
            (
                r#"{"a": [{"anything-but": true}]}"#,
                "Value of anything-but must be an array or single string/number value.",
            ),
            (
                r#"{"a": [{"anything-but": [null]}]}"#,
                "Inside anything but list, start|null|boolean is not supported.",
            ),
            (
                r#"{"a": [{"anything-but": []}]}"#,
                "Inside anything but list, either all values are number or string, mixed type is not supported",
            ),
            (
                r#"{"a": [{"anything-but": {}}]}"#,
                "Anything-But expression name not found",
            ),
            (
                r#"{"a": [{"prefix": {}}]}"#,
                "Prefix expression name not found",
            ),
            (
                r#"{"a": [{"suffix": {"x": "y"}}]}"#,
                "Unsupported suffix pattern: x",
            ),
        ];
        for (text, message) in cases {
            let got = compile_text(text).expect_err(text);
            assert_eq!(got.message, message, "{text}");
        }
    }
}
