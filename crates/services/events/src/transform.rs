//! What a target receives: the whole event, a constant `Input`, the part an `InputPath` selects,
//! or an `InputTransformer` template filled from the event.
//!
//! Template rules (AWS's): a `<name>` inside a JSON string is replaced by the value's text
//! (strings unquoted and JSON-escaped, other values as JSON); outside a string by the value as
//! JSON (strings quoted). A path that selects nothing gives `null` outside strings and nothing
//! inside them. A template that is not JSON (plain text) gets the values' text as is. The
//! predefined names `aws.events.rule-arn`, `aws.events.rule-name`, `aws.events.event`,
//! `aws.events.event.json` and `aws.events.event.ingestion-time` are always available.

use std::collections::HashMap;

use serde_json::Value;

/// Why a target's input configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransformError(pub String);

/// Values of one event the predefined template names refer to.
pub struct Context<'a> {
    pub rule_arn: &'a str,
    pub rule_name: &'a str,
    pub ingestion_time: &'a str,
}

/// The text a target receives for `event` under its configuration (`target` in API shape).
pub fn input_for(target: &Value, event: &Value, context: &Context<'_>) -> String {
    if let Some(input) = target.get("Input").and_then(Value::as_str) {
        return input.to_owned();
    }
    if let Some(path) = target.get("InputPath").and_then(Value::as_str) {
        return select(event, path).map_or_else(String::new, |value| value.to_string());
    }
    if let Some(transformer) = target.get("InputTransformer") {
        let template = transformer
            .get("InputTemplate")
            .and_then(Value::as_str)
            .unwrap_or("");
        let paths: HashMap<&str, &str> = transformer
            .get("InputPathsMap")
            .and_then(Value::as_object)
            .map(|map| {
                map.iter()
                    .filter_map(|(name, path)| Some((name.as_str(), path.as_str()?)))
                    .collect()
            })
            .unwrap_or_default();
        return fill(template, &paths, event, context);
    }
    event.to_string()
}

/// Checks a JSONPath of `InputPath` or `InputPathsMap` (`$`, `$.a.b`, `$.a[0]`, `$['a']`).
pub fn check_path(path: &str) -> Result<(), TransformError> {
    parse_path(path).map(|_| ())
}

/// Checks an input transformer: paths valid, names not reserved, placeholders defined.
pub fn check_transformer(transformer: &Value) -> Result<(), TransformError> {
    if let Some(map) = transformer.get("InputPathsMap").and_then(Value::as_object) {
        for (name, path) in map {
            if name.starts_with("aws.") {
                return Err(TransformError(format!(
                    "Input transformer key {name} is reserved: keys cannot start with \"aws.\""
                )));
            }
            let Some(path) = path.as_str() else {
                return Err(TransformError(format!(
                    "The value of InputPathsMap key {name} must be a string"
                )));
            };
            check_path(path)?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Result<Vec<Step>, TransformError> {
    let invalid = || TransformError(format!("{path} is an invalid JSONPath"));
    let rest = path.trim().strip_prefix('$').ok_or_else(invalid)?;
    let mut steps = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut key = String::new();
                while let Some(&next) = chars.peek() {
                    if next == '.' || next == '[' {
                        break;
                    }
                    key.push(next);
                    chars.next();
                }
                if key.is_empty() {
                    return Err(invalid());
                }
                steps.push(Step::Key(key));
            }
            '[' => {
                let mut inside = String::new();
                for next in chars.by_ref() {
                    if next == ']' {
                        break;
                    }
                    inside.push(next);
                }
                let inside = inside.trim();
                if let Some(quoted) = inside
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inside.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                {
                    steps.push(Step::Key(quoted.to_owned()));
                } else {
                    let index = inside.parse::<usize>().map_err(|_| invalid())?;
                    steps.push(Step::Index(index));
                }
            }
            _ => return Err(invalid()),
        }
    }
    Ok(steps)
}

/// The value a JSONPath selects, if any.
pub fn select<'v>(event: &'v Value, path: &str) -> Option<&'v Value> {
    let steps = parse_path(path).ok()?;
    let mut current = event;
    for step in &steps {
        current = match step {
            Step::Key(key) => current.get(key.as_str())?,
            Step::Index(index) => current.get(*index)?,
        };
    }
    Some(current)
}

fn fill(
    template: &str,
    paths: &HashMap<&str, &str>,
    event: &Value,
    context: &Context<'_>,
) -> String {
    let json_template = matches!(template.trim_start().chars().next(), Some('{' | '[' | '"'));
    let lookup = |name: &str| -> Option<Option<Value>> {
        match name {
            "aws.events.rule-arn" => Some(Some(Value::String(context.rule_arn.to_owned()))),
            "aws.events.rule-name" => Some(Some(Value::String(context.rule_name.to_owned()))),
            "aws.events.event.ingestion-time" => {
                Some(Some(Value::String(context.ingestion_time.to_owned())))
            }
            "aws.events.event" | "aws.events.event.json" => Some(Some(event.clone())),
            _ => paths.get(name).map(|path| select(event, path).cloned()),
        }
    };
    let mut out = String::with_capacity(template.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if c == '<'
            && let Some(end) = rest[1..].find('>')
        {
            let name = &rest[1..1 + end];
            if let Some(value) = lookup(name) {
                out.push_str(&render(value.as_ref(), json_template, in_string));
                rest = &rest[end + 2..];
                escaped = false;
                continue;
            }
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn render(value: Option<&Value>, json_template: bool, in_string: bool) -> String {
    let Some(value) = value else {
        return if in_string || !json_template {
            String::new()
        } else {
            "null".to_owned()
        };
    };
    if !json_template {
        return match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
    }
    if in_string {
        return match value {
            Value::String(text) => escape_json(text),
            other => escape_json(&other.to_string()),
        };
    }
    value.to_string()
}

fn escape_json(text: &str) -> String {
    let quoted = Value::String(text.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context() -> Context<'static> {
        Context {
            rule_arn: "arn:aws:events:us-east-1:123456789012:rule/r",
            rule_name: "r",
            ingestion_time: "2026-01-01T00:00:00Z",
        }
    }

    #[test]
    fn paths_select_values() {
        let event = json!({"detail": {"a": [1, {"b": "x"}]}, "dotted.key": 2});
        assert_eq!(select(&event, "$.detail.a[1].b"), Some(&json!("x")));
        assert_eq!(select(&event, "$['dotted.key']"), Some(&json!(2)));
        assert_eq!(select(&event, "$"), Some(&event));
        assert_eq!(select(&event, "$.missing"), None);
        assert!(check_path("detail").is_err());
    }

    #[test]
    fn templates_follow_the_quoting_rules() {
        let event = json!({"detail": {"name": "i-1 \"x\"", "n": 5, "o": {"k": true}}});
        let target = json!({"InputTransformer": {
            "InputPathsMap": {"name": "$.detail.name", "n": "$.detail.n", "o": "$.detail.o", "gone": "$.nope"},
            "InputTemplate": "{\"s\": \"<name> is <n>\", \"raw\": <name>, \"obj\": <o>, \"none\": <gone>, \"rule\": \"<aws.events.rule-name>\"}"
        }});
        let text = input_for(&target, &event, &context());
        let out: Value = serde_json::from_str(&text).expect("valid json");
        assert_eq!(
            out,
            json!({"s": "i-1 \"x\" is 5", "raw": "i-1 \"x\"", "obj": {"k": true}, "none": null, "rule": "r"})
        );
        let plain = json!({"InputTransformer": {
            "InputPathsMap": {"name": "$.detail.name"},
            "InputTemplate": "instance <name> changed"
        }});
        assert_eq!(
            input_for(&plain, &event, &context()),
            "instance i-1 \"x\" changed"
        );
    }

    #[test]
    fn input_and_input_path() {
        let event = json!({"detail": {"a": 1}});
        assert_eq!(
            input_for(&json!({"Input": "{\"c\":1}"}), &event, &context()),
            "{\"c\":1}"
        );
        assert_eq!(
            input_for(&json!({"InputPath": "$.detail"}), &event, &context()),
            "{\"a\":1}"
        );
        assert_eq!(input_for(&json!({}), &event, &context()), event.to_string());
    }
}
