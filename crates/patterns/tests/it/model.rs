//! Model check: on random small patterns and events, a machine holding all the patterns answers
//! exactly the ids whose pattern matches alone (and JSON bytes answer like parsed values).

use opentrail_patterns::{Machine, Pattern};
use proptest::prelude::*;
use serde_json::{Value, json};

const KEYS: &[&str] = &["a", "b", "c"];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "x", "y", "xy", "Xy", "YX", "", "10.0.0.7", "a.b", "x*y"
        ])
        .prop_map(|s| json!(s)),
        prop::sample::select(vec![0.0, 1.0, 1.5, -2.0, 5000000001.0, 0.1234567])
            .prop_map(|n| json!(n)),
        prop::sample::select(vec![0i64, 1, 3]).prop_map(|n| json!(n)),
        Just(json!(true)),
        Just(json!(false)),
        Just(Value::Null),
    ]
}

fn event_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(KEYS.to_vec()), inner, 0..3).prop_map(
                |m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            ),
        ]
    })
}

fn event() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop::sample::select(vec!["a", "b", "c", "a.b"]),
        event_value(),
        0..4,
    )
    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

fn matcher() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!("x"),
        json!("xy"),
        json!(""),
        json!("10.0.0.7"),
        json!(1),
        json!(1.5),
        json!(0),
        json!(true),
        json!(null),
        json!({"prefix": "x"}),
        json!({"prefix": ""}),
        json!({"suffix": "y"}),
        json!({"equals-ignore-case": "xy"}),
        json!({"prefix": {"equals-ignore-case": "X"}}),
        json!({"suffix": {"equals-ignore-case": "Y"}}),
        json!({"wildcard": "*y"}),
        json!({"wildcard": "x*"}),
        json!({"wildcard": "x\\*y"}),
        json!({"anything-but": "x"}),
        json!({"anything-but": [0, 1]}),
        json!({"anything-but": {"prefix": "x"}}),
        json!({"anything-but": {"suffix": "y"}}),
        json!({"anything-but": {"equals-ignore-case": ["XY", "y"]}}),
        json!({"anything-but": {"wildcard": "*y*"}}),
        json!({"numeric": [">", 0]}),
        json!({"numeric": [">=", 0, "<", 1.5]}),
        json!({"numeric": ["=", 1]}),
        json!({"exists": true}),
        json!({"exists": false}),
        json!({"cidr": "10.0.0.0/8"}),
    ])
}

fn pattern_object() -> impl Strategy<Value = Value> {
    let leaf = || prop::collection::vec(matcher(), 1..3).prop_map(Value::Array);
    let level = |inner: BoxedStrategy<Value>| {
        prop::collection::btree_map(prop::sample::select(KEYS.to_vec()), inner, 1..3)
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
    };
    let nested = level(leaf().boxed());
    let value = prop_oneof![3 => leaf(), 1 => nested];
    level(value.boxed())
}

fn pattern() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => pattern_object(),
        1 => (pattern_object(), pattern_object(), pattern_object()).prop_map(|(base, left, right)| {
            let mut object = base.as_object().cloned().unwrap_or_default();
            object.insert("$or".into(), json!([left, right]));
            Value::Object(object)
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn machine_answers_the_union_of_its_patterns(
        patterns in prop::collection::vec(pattern(), 1..12),
        events in prop::collection::vec(event(), 1..6),
    ) {
        let parsed: Vec<Pattern> = patterns
            .iter()
            .filter_map(|p| Pattern::parse(&p.to_string()).ok())
            .collect();
        let mut machine = Machine::new();
        for (i, pattern) in parsed.iter().enumerate() {
            machine.add(i, pattern);
        }
        for event in &events {
            let expected: Vec<usize> = (0..parsed.len()).filter(|&i| parsed[i].matches(event)).collect();
            prop_assert_eq!(&machine.matches_for_event(event), &expected, "event {}", event);
            let bytes = event.to_string();
            prop_assert_eq!(&machine.matches_for_json(bytes.as_bytes()).expect("event JSON"), &expected);
            for (i, pattern) in parsed.iter().enumerate() {
                prop_assert_eq!(pattern.matches_json(bytes.as_bytes()).expect("event JSON"), expected.contains(&i));
            }
        }
    }
}

#[test]
fn generated_patterns_are_mostly_valid() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = pattern();
    let valid = (0..200)
        .filter(|_| {
            let tree = strategy.new_tree(&mut runner).expect("a value");
            Pattern::parse(&tree.current().to_string()).is_ok()
        })
        .count();
    assert!(
        valid > 150,
        "only {valid} of 200 generated patterns are valid"
    );
}

#[test]
fn arrays_of_objects_keep_fields_together() {
    let pattern = Pattern::parse(r#"{"d": {"a": ["1"], "b": ["2"]}}"#).expect("valid");
    let mut machine = Machine::new();
    machine.add("r", &pattern);
    let together = json!({"d": [{"a": "1", "b": "2"}]});
    let apart = json!({"d": [{"a": "1"}, {"b": "2"}]});
    assert!(pattern.matches(&together));
    assert!(!pattern.matches(&apart));
    assert_eq!(machine.matches_for_event(&together), vec!["r"]);
    assert!(machine.matches_for_event(&apart).is_empty());
}

#[test]
fn add_replaces_and_remove_forgets() {
    let mut machine = Machine::new();
    let event = json!({"source": "aws.s3"});
    machine.add(
        "r",
        &Pattern::parse(r#"{"source": ["aws.ec2"]}"#).expect("valid"),
    );
    assert!(machine.matches_for_event(&event).is_empty());
    machine.add(
        "r",
        &Pattern::parse(r#"{"source": ["aws.s3"]}"#).expect("valid"),
    );
    assert_eq!(machine.len(), 1);
    assert_eq!(machine.matches_for_event(&event), vec!["r"]);
    machine.add(
        "s",
        &Pattern::parse(r#"{"source": [{"prefix": "aws."}]}"#).expect("valid"),
    );
    assert_eq!(machine.matches_for_event(&event), vec!["r", "s"]);
    machine.remove(&"r");
    assert_eq!(machine.matches_for_event(&event), vec!["s"]);
    assert!(!machine.contains(&"r"));
    machine.remove(&"s");
    assert!(machine.is_empty());
    assert!(machine.matches_for_event(&event).is_empty());
}
