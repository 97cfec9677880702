//! The walk the record-fidelity issue asks for: for every operation of every embedded model,
//! input and output, whose shape graph reaches a map, generate an instance of the shape and
//! check that record shaping keeps every map key and every string value exactly as generated
//! and writes every structure member name in lowerCamel.
//!
//! Instances are generated from the raw model JSON ([`EmbeddedModel::json`]), not from the
//! parsed [`opentrail_api::ServiceModel`], so the check does not lean on the code it checks.
//! Structures get all their members (a shape already being generated is left out, and nesting
//! stops at [`MAX_DEPTH`]), lists one item, maps one entry keyed [`MAP_KEY`]; strings are mixed
//! case and name their shape, so a lowered or swapped value shows.

use std::collections::BTreeMap;

use opentrail_api::models::model;
use opentrail_api::{EmbeddedModel, Side};
use serde_json::{Map, Value, json};

const MAX_DEPTH: usize = 12;
const MAP_KEY: &str = "MixedCase-Key.1";

struct Generator<'a> {
    shapes: &'a Map<String, Value>,
    /// Shapes being generated, to leave out recursive members.
    stack: Vec<&'a str>,
    maps: usize,
}

impl<'a> Generator<'a> {
    fn shape(&self, name: &str) -> &'a Value {
        &self.shapes[name]
    }

    fn instance(&mut self, name: &'a str) -> Option<Value> {
        if self.stack.contains(&name) || self.stack.len() >= MAX_DEPTH {
            return None;
        }
        self.stack.push(name);
        let value = self.build(name);
        self.stack.pop();
        Some(value)
    }

    fn build(&mut self, name: &'a str) -> Value {
        let shape = self.shape(name);
        if shape["document"] == json!(true) {
            return json!({"DocumentKey": {"Nested-Key": "DocumentValue"}});
        }
        let target = |field: &str| -> &'a str {
            shape[field]["shape"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}.{field} has no shape"))
        };
        match shape["type"].as_str().unwrap_or_default() {
            "structure" => {
                let mut object = Map::new();
                for (member, reference) in shape["members"].as_object().into_iter().flatten() {
                    let target = reference["shape"].as_str().expect("member shape");
                    if let Some(value) = self.instance(target) {
                        object.insert(member.clone(), value);
                    }
                }
                Value::Object(object)
            }
            "list" => Value::Array(self.instance(target("member")).into_iter().collect()),
            "map" => {
                self.maps += 1;
                let mut object = Map::new();
                if let Some(value) = self.instance(target("value")) {
                    object.insert(MAP_KEY.to_owned(), value);
                }
                Value::Object(object)
            }
            "string" => Value::String(format!("Mixed-Value.Of-{name}")),
            "integer" | "long" => json!(7),
            "float" | "double" => json!(1.5),
            "boolean" => json!(true),
            "timestamp" => json!(1_700_000_000),
            "blob" => json!("QmxPYg=="),
            other => panic!("shape {name} has unexpected type {other:?}"),
        }
    }
}

/// Checks `recorded` against `sent`, an instance of shape `name`; returns the failures.
fn check(
    shapes: &Map<String, Value>,
    name: &str,
    sent: &Value,
    recorded: &Value,
    path: &str,
    failures: &mut Vec<String>,
) {
    let shape = &shapes[name];
    let mut fail = |what: String| failures.push(format!("{path}: {what}"));
    if shape["document"] == json!(true) {
        if sent != recorded {
            fail(format!("document changed: {sent} became {recorded}"));
        }
        return;
    }
    match (shape["type"].as_str().unwrap_or_default(), sent, recorded) {
        ("structure", Value::Object(sent), Value::Object(recorded)) => {
            if sent.len() != recorded.len() {
                fail(format!(
                    "{} members sent, {} recorded",
                    sent.len(),
                    recorded.len()
                ));
            }
            for (member, inner) in sent {
                let mut chars = member.chars();
                let expected: String = chars
                    .next()
                    .map(|first| first.to_lowercase().chain(chars).collect())
                    .unwrap_or_default();
                let Some(recorded_inner) = recorded.get(&expected) else {
                    failures.push(format!(
                        "{path}: member {member} not recorded as {expected}"
                    ));
                    continue;
                };
                let target = shape["members"][member]["shape"]
                    .as_str()
                    .unwrap_or_default();
                let inner_path = format!("{path}.{expected}");
                check(shapes, target, inner, recorded_inner, &inner_path, failures);
            }
        }
        ("list", Value::Array(sent), Value::Array(recorded)) if sent.len() == recorded.len() => {
            let target = shape["member"]["shape"].as_str().unwrap_or_default();
            for (index, (inner, recorded_inner)) in sent.iter().zip(recorded).enumerate() {
                let inner_path = format!("{path}[{index}]");
                check(shapes, target, inner, recorded_inner, &inner_path, failures);
            }
        }
        ("map", Value::Object(sent), Value::Object(recorded)) => {
            let sent_keys: Vec<&String> = sent.keys().collect();
            let recorded_keys: Vec<&String> = recorded.keys().collect();
            if sent_keys != recorded_keys {
                fail(format!("map keys {sent_keys:?} became {recorded_keys:?}"));
                return;
            }
            let target = shape["value"]["shape"].as_str().unwrap_or_default();
            for (key, inner) in sent {
                let inner_path = format!("{path}.{key}");
                check(shapes, target, inner, &recorded[key], &inner_path, failures);
            }
        }
        ("structure" | "list" | "map", _, _) => {
            fail(format!("{sent} became {recorded}"));
        }
        _ => {
            if sent != recorded {
                fail(format!("value {sent} became {recorded}"));
            }
        }
    }
}

/// Every string value and object key in `value`, counted.
fn strings_and_keys(value: &Value, strings: &mut BTreeMap<String, usize>, keys: &mut usize) {
    match value {
        Value::String(text) => *strings.entry(text.clone()).or_default() += 1,
        Value::Array(items) => items
            .iter()
            .for_each(|item| strings_and_keys(item, strings, keys)),
        Value::Object(object) => {
            for (key, inner) in object {
                if key == MAP_KEY {
                    *keys += 1;
                }
                strings_and_keys(inner, strings, keys);
            }
        }
        _ => {}
    }
}

#[test]
fn every_map_reaching_operation_keeps_map_keys_and_values() {
    let mut with_maps: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for service in EmbeddedModel::ALL {
        let root: Value = serde_json::from_str(service.json()).expect("embedded json");
        let shapes = root["shapes"].as_object().expect("shapes");
        let operations = root["operations"].as_object().expect("operations");
        let parsed = model(service);
        let count = with_maps.entry(service.signing_name()).or_default();
        for (operation, definition) in operations {
            for (side, field) in [(Side::Input, "input"), (Side::Output, "output")] {
                let Some(shape) = definition[field]["shape"].as_str() else {
                    continue;
                };
                let mut generator = Generator {
                    shapes,
                    stack: Vec::new(),
                    maps: 0,
                };
                let sent = generator.instance(shape).expect("top-level instance");
                if generator.maps == 0 {
                    continue;
                }
                *count += 1;
                let recorded = parsed.record_elements(operation, side, &sent);
                let path = format!("{}:{operation}:{field}", service.signing_name());
                check(shapes, shape, &sent, &recorded, &path, &mut failures);

                // Independently of the shapes: the same strings and map keys, as many times.
                let (mut sent_strings, mut sent_keys) = (BTreeMap::new(), 0);
                strings_and_keys(&sent, &mut sent_strings, &mut sent_keys);
                let (mut recorded_strings, mut recorded_keys) = (BTreeMap::new(), 0);
                strings_and_keys(&recorded, &mut recorded_strings, &mut recorded_keys);
                if sent_strings != recorded_strings || sent_keys != recorded_keys {
                    failures.push(format!("{path}: strings or map keys changed"));
                }
            }
        }
    }
    println!("operation sides whose shapes reach a map: {with_maps:?}");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let total: usize = with_maps.values().sum();
    assert!(with_maps["logs"] >= 5, "{with_maps:?}");
    assert!(with_maps["sqs"] >= 3, "{with_maps:?}");
    assert!(with_maps["sns"] >= 3, "{with_maps:?}");
    assert!(total >= 50, "{with_maps:?}");
}
