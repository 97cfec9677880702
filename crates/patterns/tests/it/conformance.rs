//! event-ruler conformance: `cases.json` (pattern, event, event-ruler's answer) and
//! `invalid-patterns.json` (patterns event-ruler refuses, with its message).

use std::collections::{BTreeMap, BTreeSet};

use opentrail_patterns::{Machine, Pattern};
use serde_json::Value;

fn data(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", manifest_dir());
    fs_err::read_to_string(path).expect("test data file")
}

struct Case {
    pattern: Value,
    event: Value,
    expected: bool,
    source: String,
}

fn cases() -> Vec<Case> {
    let json: Value = serde_json::from_str(&data("cases.json")).expect("cases.json is JSON");
    json.as_array()
        .expect("an array of cases")
        .iter()
        .map(|case| Case {
            pattern: case["pattern"].clone(),
            event: case["event"].clone(),
            expected: case["match"].as_bool().expect("match is a bool"),
            source: case["source"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

#[test]
fn cases_match_event_ruler_pattern_by_pattern() {
    let cases = cases();
    assert!(cases.len() > 300, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let text = case.pattern.to_string();
        let pattern = match Pattern::parse(&text) {
            Ok(pattern) => pattern,
            Err(e) => {
                failures.push(format!("{}: {text} refused: {e}", case.source));
                continue;
            }
        };
        let event_bytes = case.event.to_string();
        let alone = pattern.matches(&case.event);
        let alone_bytes = pattern
            .matches_json(event_bytes.as_bytes())
            .expect("event JSON");
        let mut machine = Machine::new();
        machine.add(0usize, &pattern);
        let by_machine = machine.matches_for_event(&case.event) == vec![0];
        let by_machine_bytes = machine
            .matches_for_json(event_bytes.as_bytes())
            .expect("event JSON")
            == vec![0];
        if [alone, alone_bytes, by_machine, by_machine_bytes] != [case.expected; 4] {
            failures.push(format!(
                "{}: pattern {text} event {event_bytes}: expected {}, got pattern {alone} / {alone_bytes}, machine {by_machine} / {by_machine_bytes}",
                case.source, case.expected
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn one_machine_with_every_pattern_answers_like_each_pattern() {
    let cases = cases();
    let mut machine = Machine::new();
    let mut patterns = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let pattern = Pattern::parse(&case.pattern.to_string()).expect("valid pattern");
        machine.add(i, &pattern);
        patterns.push(pattern);
    }
    assert_eq!(machine.len(), cases.len());
    let events: BTreeMap<String, &Value> = cases
        .iter()
        .map(|c| (c.event.to_string(), &c.event))
        .collect();
    let mut failures = Vec::new();
    for (text, event) in &events {
        let expected: BTreeSet<usize> = (0..patterns.len())
            .filter(|&i| patterns[i].matches(event))
            .collect();
        // where event-ruler gave the answer for this (pattern, event), it must agree too
        for (i, case) in cases.iter().enumerate() {
            if case.event == **event {
                assert_eq!(expected.contains(&i), case.expected, "{}", case.source);
            }
        }
        let from_value: BTreeSet<usize> = machine.matches_for_event(event).into_iter().collect();
        let from_bytes: BTreeSet<usize> = machine
            .matches_for_json(text.as_bytes())
            .expect("event JSON")
            .into_iter()
            .collect();
        if from_value != expected || from_bytes != expected {
            failures.push(format!(
                "event {text}: patterns {expected:?}, machine {from_value:?} / {from_bytes:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn removing_patterns_from_the_big_machine() {
    let cases = cases();
    let mut machine = Machine::new();
    for (i, case) in cases.iter().enumerate() {
        machine.add(
            i,
            &Pattern::parse(&case.pattern.to_string()).expect("valid pattern"),
        );
    }
    // drop every even id; the rest must answer as before
    for i in (0..cases.len()).step_by(2) {
        machine.remove(&i);
    }
    assert_eq!(machine.len(), cases.len() / 2);
    for (i, case) in cases.iter().enumerate() {
        let matched = machine.matches_for_event(&case.event).contains(&i);
        assert_eq!(matched, i % 2 == 1 && case.expected, "{}", case.source);
    }
}

/// Messages that differ from the ones recorded in `invalid-patterns.json`, and why.
const MESSAGE_DEVIATIONS: &[(&str, &str)] = &[
    // Recorded with event-ruler's legacy compiler, which treats `$or` as a plain field name;
    // EventBridge (and event-ruler's JSON compiler) give `$or` its meaning.
    (
        "Unrecognized match type metricName",
        "There must have at least 2 Objects in $or relationship.",
    ),
    (
        "Unrecognized match type source",
        "Only JSON object is allowed in array of $or relationship.",
    ),
    // Recorded before event-ruler supported `anything-but` with `wildcard`, which cases.json uses.
    ("Unsupported anything-but pattern: wildcard", ""),
    // Recorded before `anything-but` took lists of prefixes; with lists, the empty one is the fault.
    (
        "prefix/suffix match pattern must be a string",
        "Null prefix/suffix not allowed",
    ),
    // `Infinity` is not JSON: the JSON parser refuses it before the pattern compiler sees it.
    (
        "Value of >= must be numeric",
        "event pattern is not valid JSON",
    ),
    (
        "Value of < must be numeric",
        "event pattern is not valid JSON",
    ),
];

#[test]
fn invalid_patterns_are_refused_with_event_rulers_message() {
    // `Infinity` appears bare in two patterns; keep it bare in the text given to the parser
    const MARK: &str = "\"__bare_Infinity__\"";
    let text = data("invalid-patterns.json").replace("Infinity", MARK);
    let json: Value =
        serde_json::from_str(&text).expect("invalid-patterns.json is JSON once Infinity is quoted");
    let entries = json.as_array().expect("an array");
    assert!(entries.len() > 30);
    let mut failures = Vec::new();
    for entry in entries {
        let pattern_text = entry["pattern"].to_string().replace(MARK, "Infinity");
        let recorded = entry["ruler_error"].as_str().expect("ruler_error");
        let recorded = recorded
            .strip_prefix("JsonParseException: ")
            .unwrap_or(recorded);
        let Err(error) = Pattern::parse(&pattern_text) else {
            failures.push(format!("accepted: {pattern_text}"));
            continue;
        };
        let deviation = MESSAGE_DEVIATIONS
            .iter()
            .find(|(from, _)| *from == recorded);
        let acceptable = match deviation {
            None => error.message == recorded,
            Some((_, "")) => true,
            Some((_, ours)) => error.message == recorded || error.message.starts_with(ours),
        };
        if !acceptable {
            failures.push(format!(
                "{pattern_text}: expected {recorded:?}, got {:?}",
                error.message
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn limits() {
    let long = format!(
        r#"{{"source": ["{}"]}}"#,
        "x".repeat(opentrail_patterns::MAX_PATTERN_LEN)
    );
    let error = Pattern::parse(&long).expect_err("too long");
    assert!(error.message.contains("4096"), "{error}");

    // eleven two-way `$or`s expand to 2048 alternatives
    let or = r#"[{"a": ["1"]}, {"b": ["2"]}]"#;
    let nested: Vec<String> = (0..11)
        .map(|i| format!(r#""k{i}": {{"$or": {or}}}"#))
        .collect();
    let error =
        Pattern::parse(&format!("{{{}}}", nested.join(", "))).expect_err("too many alternatives");
    assert!(error.message.contains("alternatives"), "{error}");

    assert!(
        Pattern::parse(r#"{"a": [{"numeric": [">", -5000000000, "<=", 5000000000]}]}"#).is_ok()
    );
    assert!(Pattern::parse(r#"{"a": [{"numeric": [">", 0.000001]}]}"#).is_ok());
    assert!(Pattern::parse(r#"{"a": [{"numeric": [">", 0.0000001]}]}"#).is_err());
    assert!(Pattern::parse(r#"{"a": [{"numeric": [">=", 5, "<=", 5]}]}"#).is_err());
}

#[test]
fn events_must_be_json_objects() {
    let mut machine = Machine::new();
    machine.add(
        "r",
        &Pattern::parse(r#"{"a": [{"exists": false}]}"#).expect("valid"),
    );
    assert_eq!(machine.matches_for_json(b"{}").expect("valid"), vec!["r"]);
    assert!(machine.matches_for_json(b"[]").is_err());
    assert!(machine.matches_for_json(b"{\"a\": ").is_err());
    assert!(machine.matches_for_json(b"{\"b\": 1} trailing").is_err());
}

/// The crate's directory where the tests run (read when they run: a test binary may have been
/// built from a checkout at another path).
fn manifest_dir() -> String {
    std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())
}
