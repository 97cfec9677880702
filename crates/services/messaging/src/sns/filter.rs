//! Subscription filter policies: the EventBridge pattern language ([`opentrail_patterns`]),
//! matched against the message attributes (scope `MessageAttributes`: an object of attribute
//! name → value, `Number` values as numbers, `String.Array` values as arrays) or against the
//! parsed JSON body (scope `MessageBody`).

use std::collections::BTreeMap;

use opentrail_patterns::Pattern;
use serde_json::{Map, Value};

use super::error::SnsError;
use super::message::Attribute;

/// AWS's limit on the value combinations of one policy.
const MAX_COMBINATIONS: u64 = 150;

/// The number of value combinations of a policy: the product over its keys of their value
/// counts (nested objects multiply in, `$or` alternatives add up).
fn combinations(policy: &Value) -> u64 {
    match policy {
        Value::Object(map) => map
            .iter()
            .map(|(key, value)| match (key.as_str(), value) {
                ("$or", Value::Array(alternatives)) => alternatives
                    .iter()
                    .map(combinations)
                    .fold(0u64, u64::saturating_add)
                    .max(1),
                (_, Value::Array(values)) => values.len().max(1) as u64,
                (_, nested) => combinations(nested),
            })
            .fold(1u64, u64::saturating_mul),
        _ => 1,
    }
}

/// A parsed filter policy and the scope it applies to.
#[derive(Debug, Clone)]
pub struct FilterPolicy {
    /// `None` for the empty policy `{}`, which passes everything.
    pattern: Option<Pattern>,
    body_scope: bool,
}

impl FilterPolicy {
    /// Parses a policy for `scope` (`MessageAttributes` or `MessageBody`).
    pub fn parse(text: &str, scope: &str) -> Result<FilterPolicy, SnsError> {
        let json: Value = serde_json::from_str(text)
            .map_err(|_| SnsError::invalid("FilterPolicy: failed to parse JSON."))?;
        let Some(map) = json.as_object() else {
            return Err(SnsError::invalid(
                "FilterPolicy: Filter policy must be a JSON object",
            ));
        };
        let body_scope = scope == "MessageBody";
        if map.is_empty() {
            return Ok(FilterPolicy {
                pattern: None,
                body_scope,
            });
        }
        if !body_scope
            && map
                .iter()
                .any(|(key, value)| key != "$or" && value.is_object())
        {
            return Err(SnsError::invalid(
                "Filter policy scope MessageAttributes does not support nested filter policy",
            ));
        }
        if combinations(&json) > MAX_COMBINATIONS {
            return Err(SnsError::invalid(
                "FilterPolicy: Filter policy is too complex",
            ));
        }
        let pattern = Pattern::from_value(&json)
            .map(Some)
            .map_err(|err| SnsError::invalid(&format!("FilterPolicy: {err}")))?;
        Ok(FilterPolicy {
            pattern,
            body_scope,
        })
    }

    /// Whether a message with this body and these attributes passes the policy.
    pub fn matches(&self, body: &str, attributes: &BTreeMap<String, Attribute>) -> bool {
        let Some(pattern) = &self.pattern else {
            return true;
        };
        if self.body_scope {
            return serde_json::from_str::<Value>(body)
                .is_ok_and(|parsed| parsed.is_object() && pattern.matches(&parsed));
        }
        let mut object = Map::new();
        for (name, attribute) in attributes {
            let value = match attribute.data_type.split('.').next() {
                Some("Number") => attribute
                    .string_value
                    .as_deref()
                    .and_then(|text| serde_json::from_str::<serde_json::Number>(text.trim()).ok())
                    .map_or(Value::Null, Value::Number),
                _ if attribute.data_type == "String.Array" => attribute
                    .string_value
                    .as_deref()
                    .and_then(|text| serde_json::from_str::<Value>(text).ok())
                    .filter(Value::is_array)
                    .unwrap_or(Value::Null),
                Some("Binary") => continue,
                _ => Value::String(attribute.string_value.clone().unwrap_or_default()),
            };
            object.insert(name.clone(), value);
        }
        pattern.matches(&Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(data_type: &str, value: &str) -> Attribute {
        Attribute {
            data_type: data_type.to_owned(),
            string_value: Some(value.to_owned()),
            binary_value: None,
        }
    }

    #[test]
    fn attribute_scope_matches_strings_numbers_and_arrays() {
        let policy = FilterPolicy::parse(
            r#"{"color": ["red"], "size": [{"numeric": [">", 3]}], "tags": ["b"]}"#,
            "MessageAttributes",
        )
        .expect("policy");
        let mut attributes = BTreeMap::new();
        attributes.insert("color".to_owned(), attr("String", "red"));
        attributes.insert("size".to_owned(), attr("Number", "5"));
        attributes.insert("tags".to_owned(), attr("String.Array", r#"["a","b"]"#));
        assert!(policy.matches("", &attributes));
        attributes.insert("size".to_owned(), attr("Number", "2"));
        assert!(!policy.matches("", &attributes));
    }

    #[test]
    fn body_scope_matches_nested_json_and_rejects_plain_text() {
        let policy =
            FilterPolicy::parse(r#"{"order": {"kind": ["big"]}}"#, "MessageBody").expect("policy");
        assert!(policy.matches(r#"{"order": {"kind": "big"}}"#, &BTreeMap::new()));
        assert!(!policy.matches(r#"{"order": {"kind": "small"}}"#, &BTreeMap::new()));
        assert!(!policy.matches("big", &BTreeMap::new()));
        assert!(FilterPolicy::parse(r#"{"a": {"b": ["c"]}}"#, "MessageAttributes").is_err());
        assert!(
            FilterPolicy::parse("{}", "MessageBody")
                .expect("empty")
                .matches("x", &BTreeMap::new())
        );
        let values: Vec<String> = (0..151).map(|i| i.to_string()).collect();
        let too_complex = serde_json::json!({"store": values}).to_string();
        assert!(FilterPolicy::parse(&too_complex, "MessageAttributes").is_err());
    }
}
