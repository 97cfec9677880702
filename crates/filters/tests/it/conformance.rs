//! The conformance cases: `pattern` against `message` must give `match`.
//!
//! Cases marked `uncertain` are checked against [`DECISIONS`], which records what this
//! implementation does and why; an uncertain case with no decision fails the test, so new
//! ones get decided rather than skipped.

use opentrail_filters::{FilterPattern, FilterSet};
use serde_json::Value;

/// Decisions for the uncertain cases: (pattern, decided outcome, why).
const DECISIONS: &[(&str, bool, &str)] = &[
    (
        r#"" ""#,
        true,
        "the doc says `\" \"` matches everything; a whitespace-only phrase therefore matches \
         every message, even one without a space (spec §2, safe reading)",
    ),
    (
        r#"{ $.eventType = "Up*Trail" }"#,
        false,
        "the 2014-2021 docs say a mid-string * is literal ('Ev*ent will only match Ev*ent'); \
         nothing since contradicts it, so only a leading or trailing * is a wildcard",
    ),
    (
        r#"{ $.eventType != %Trail% }"#,
        false,
        "!= is the negation of = on a present scalar; = with a regex is an unanchored search, \
         which finds Trail in UpdateTrail",
    ),
    (
        r#"{ $.msg = "日本語" }"#,
        true,
        "quoted values may hold any Unicode text (FPS-2021) and compare as whole strings",
    ),
    (
        "{ $.errorCode = 400 }",
        true,
        "number literals compare numerically as doubles, so 400 equals 400.0",
    ),
    (
        r#"{ $.errorCode = "400" }"#,
        false,
        "a quoted literal is a string and only compares with JSON strings; \
         the JSON number 400 is not the string \"400\"",
    ),
    (
        "{ $.id = 9007199254740993 }",
        true,
        "the backends compare IEEE doubles (spec §4 precision): 2^53+1 rounds to 2^53",
    ),
    (
        "{ $.a.b NOT EXISTS }",
        true,
        "NOT EXISTS is true when the selector reaches nothing, whatever step is missing",
    ),
    (
        "{ $.objectList[*].id = 2 }",
        true,
        "a wildcard selector holds when any element it reaches satisfies the condition; \
         further steps after [*] apply to each element",
    ),
    (
        "[ip, user, username, timestamp, request, status_code, bytes]",
        false,
        "with fewer message fields than pattern fields there is nothing to bind the last \
         fields to, so the event does not match",
    ),
];

fn cases() -> Vec<Value> {
    let path = format!("{}/tests/data/cases.json", manifest_dir());
    let text = fs_err::read_to_string(path).expect("cases.json is readable");
    let cases: Value = serde_json::from_str(&text).expect("cases.json is JSON");
    cases.as_array().expect("cases.json is an array").clone()
}

fn field<'c>(case: &'c Value, name: &str) -> &'c str {
    case[name]
        .as_str()
        .unwrap_or_else(|| panic!("case without {name}: {case}"))
}

#[test]
fn every_certain_case_gives_the_expected_outcome() {
    let cases = cases();
    assert!(cases.len() >= 100, "only {} cases", cases.len());
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in &cases {
        if case["uncertain"].as_bool() == Some(true) {
            continue;
        }
        let pattern = field(case, "pattern");
        let message = field(case, "message");
        let expected = case["match"].as_bool().expect("match is a boolean");
        match FilterPattern::parse(pattern) {
            Ok(parsed) if parsed.matches(message) == expected => checked += 1,
            Ok(_) => failures.push(format!(
                "{pattern:?} on {message:?}: expected {expected} ({})",
                field(case, "note")
            )),
            Err(error) => failures.push(format!(
                "{pattern:?} rejected: {error} {:?}",
                error.detail()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 100, "only {checked} certain cases checked");
}

#[test]
fn every_uncertain_case_is_decided() {
    let mut decided = 0;
    for case in cases() {
        if case["uncertain"].as_bool() != Some(true) {
            continue;
        }
        let pattern = field(&case, "pattern");
        let message = field(&case, "message");
        let Some((_, outcome, why)) = DECISIONS.iter().find(|(p, _, _)| *p == pattern) else {
            panic!("uncertain case {pattern:?} on {message:?} has no decision");
        };
        let parsed = FilterPattern::parse(pattern).expect("uncertain cases still parse");
        assert_eq!(
            parsed.matches(message),
            *outcome,
            "{pattern:?} on {message:?}: {why}"
        );
        decided += 1;
    }
    assert!(decided > 0);
}

/// A set of all the JSON patterns gives, for every JSON message, the same answers as each
/// pattern alone: the shared selective parse loses nothing.
#[test]
fn a_filter_set_agrees_with_single_patterns_on_every_case() {
    let cases = cases();
    let mut patterns: Vec<&str> = cases.iter().map(|case| field(case, "pattern")).collect();
    patterns.sort_unstable();
    patterns.dedup();
    let parsed: Vec<FilterPattern> = patterns
        .iter()
        .map(|pattern| FilterPattern::parse(pattern).expect("cases parse"))
        .collect();
    let set = FilterSet::new(parsed.iter().cloned());
    let mut out = Vec::new();
    for case in &cases {
        let message = field(case, "message");
        set.matching(message, &mut out);
        let alone: Vec<usize> = parsed
            .iter()
            .enumerate()
            .filter(|(_, pattern)| pattern.matches(message))
            .map(|(index, _)| index)
            .collect();
        assert_eq!(out, alone, "{message}");
    }
}

/// The crate's directory where the tests run (read when they run: a test binary may have been
/// built from a checkout at another path).
fn manifest_dir() -> String {
    std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())
}
