//! Input validation driven by a botocore service model (`service-2.json`).
//!
//! [`ServiceModel::validate_input`] walks an operation's input shape the way AWS's Coral
//! front end does and reports constraint failures in its wording:
//!
//! ```text
//! 2 validation errors detected: Value null at 'name' failed to satisfy constraint: Member must
//! not be null; Value '0' at 'maxResults' failed to satisfy constraint: Member must have value
//! greater than or equal to 1
//! ```
//!
//! Member paths are the member names in lowerCamelCase; list elements are
//! `<list>.<1-based index>.member`, map entries `<map>.<key>`. A value of the wrong JSON type
//! is a `SerializationException` instead. Unknown members are ignored, as AWS does; `pattern`
//! constraints are not checked.

use std::collections::HashMap;

use serde_json::Value;

use crate::error::ApiError;
use crate::json::json_kind;

/// At most this many constraint failures are spelled out in one message.
const MAX_LISTED_ERRORS: usize = 10;

/// A botocore service model reduced to what validation needs.
#[derive(Debug, Clone)]
pub struct ServiceModel {
    metadata: Metadata,
    /// Operation name → input shape name (if any), in model order.
    operations: Vec<(String, Option<String>)>,
    shapes: HashMap<String, Shape>,
}

/// The model's `metadata` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// `apiVersion`, e.g. `2013-11-01`.
    pub api_version: Option<String>,
    /// `protocol`, e.g. `json`, `query`, `rest-xml`.
    pub protocol: Option<String>,
    /// `jsonVersion`, e.g. `1.1`.
    pub json_version: Option<String>,
    /// `targetPrefix` of `X-Amz-Target`.
    pub target_prefix: Option<String>,
    /// `signingName`, falling back to `endpointPrefix`.
    pub signing_name: Option<String>,
    /// `xmlNamespace` for awsQuery responses.
    pub xml_namespace: Option<String>,
}

#[derive(Debug, Clone)]
enum Shape {
    Structure {
        /// (member name, target shape), in model order.
        members: Vec<(String, String)>,
        required: Vec<String>,
    },
    List {
        member: String,
        length: Range,
    },
    Map {
        key: String,
        value: String,
        length: Range,
    },
    String {
        length: Range,
        allowed: Option<Vec<String>>,
    },
    Integer {
        bits: u32,
        value: Range,
    },
    Float {
        value: Range,
    },
    Boolean,
    Timestamp,
    Blob,
    /// Documents and anything unknown: accepted as is.
    Any,
}

#[derive(Debug, Clone, Copy, Default)]
struct Range {
    min: Option<f64>,
    max: Option<f64>,
}

impl Range {
    fn from_shape(shape: &Value) -> Range {
        Range {
            min: shape.get("min").and_then(Value::as_f64),
            max: shape.get("max").and_then(Value::as_f64),
        }
    }
}

impl ServiceModel {
    /// Reads a botocore `service-2.json` (uncompressed).
    pub fn from_json(text: &str) -> Result<ServiceModel, String> {
        let root: Value = serde_json::from_str(text)
            .map_err(|err| format!("service model is not json: {err}"))?;
        let object = root
            .as_object()
            .ok_or_else(|| "service model must be a json object".to_owned())?;
        let text_field =
            |value: &Value, name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        let metadata_value = object.get("metadata").cloned().unwrap_or(Value::Null);
        let metadata = Metadata {
            api_version: text_field(&metadata_value, "apiVersion"),
            protocol: text_field(&metadata_value, "protocol"),
            json_version: text_field(&metadata_value, "jsonVersion"),
            target_prefix: text_field(&metadata_value, "targetPrefix"),
            signing_name: text_field(&metadata_value, "signingName")
                .or_else(|| text_field(&metadata_value, "endpointPrefix")),
            xml_namespace: text_field(&metadata_value, "xmlNamespace"),
        };

        let operations_value = object
            .get("operations")
            .and_then(Value::as_object)
            .ok_or_else(|| "service model has no operations object".to_owned())?;
        let operations = operations_value
            .iter()
            .map(|(name, operation)| {
                let input = operation
                    .get("input")
                    .and_then(|input| input.get("shape"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                (name.clone(), input)
            })
            .collect();

        let shapes_value = object
            .get("shapes")
            .and_then(Value::as_object)
            .ok_or_else(|| "service model has no shapes object".to_owned())?;
        let mut shapes = HashMap::with_capacity(shapes_value.len());
        for (name, shape) in shapes_value {
            shapes.insert(name.clone(), parse_shape(name, shape)?);
        }
        let model = ServiceModel {
            metadata,
            operations,
            shapes,
        };
        model.check_references()?;
        Ok(model)
    }

    /// Every shape a structure, list or map points at must exist.
    fn check_references(&self) -> Result<(), String> {
        let missing = |from: &str, target: &str| -> Result<(), String> {
            if self.shapes.contains_key(target) {
                Ok(())
            } else {
                Err(format!("shape {from} refers to missing shape {target}"))
            }
        };
        for (name, shape) in &self.shapes {
            match shape {
                Shape::Structure { members, .. } => {
                    for (_, target) in members {
                        missing(name, target)?;
                    }
                }
                Shape::List { member, .. } => missing(name, member)?,
                Shape::Map { key, value, .. } => {
                    missing(name, key)?;
                    missing(name, value)?;
                }
                _ => {}
            }
        }
        for (operation, input) in &self.operations {
            if let Some(input) = input {
                missing(operation, input)?;
            }
        }
        Ok(())
    }

    /// The model's metadata block.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// All operation names, in model order.
    pub fn operation_names(&self) -> Vec<&str> {
        self.operations
            .iter()
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// Whether the model defines `name`.
    pub fn has_operation(&self, name: &str) -> bool {
        self.operations.iter().any(|(known, _)| known == name)
    }

    /// The input shape name of an operation, if it has one.
    pub fn input_shape(&self, operation: &str) -> Option<&str> {
        self.operations
            .iter()
            .find(|(known, _)| known == operation)
            .and_then(|(_, input)| input.as_deref())
    }

    /// Checks `input` (the parsed JSON body) against the operation's input shape.
    pub fn validate_input(&self, operation: &str, input: &Value) -> Result<(), ApiError> {
        let Some((_, input_shape)) = self.operations.iter().find(|(known, _)| known == operation)
        else {
            return Err(ApiError::client(
                "UnknownOperationException",
                format!("unknown operation {operation}"),
            ));
        };
        if !input.is_object() {
            return Err(ApiError::serialization(format!(
                "request body must be a json object, got {}",
                json_kind(input)
            )));
        }
        let Some(input_shape) = input_shape else {
            return Ok(());
        };
        let mut violations = Vec::new();
        self.validate_structure(input_shape, input, "", &mut violations)?;
        match violations.len() {
            0 => Ok(()),
            count => {
                let listed: Vec<&str> = violations
                    .iter()
                    .take(MAX_LISTED_ERRORS)
                    .map(String::as_str)
                    .collect();
                let noun = if count == 1 { "error" } else { "errors" };
                Err(ApiError::validation(format!(
                    "{count} validation {noun} detected: {}",
                    listed.join("; ")
                )))
            }
        }
    }

    fn shape(&self, name: &str) -> &Shape {
        self.shapes.get(name).unwrap_or(&Shape::Any)
    }

    fn validate_structure(
        &self,
        shape_name: &str,
        value: &Value,
        path: &str,
        violations: &mut Vec<String>,
    ) -> Result<(), ApiError> {
        let Shape::Structure { members, required } = self.shape(shape_name) else {
            return self.validate(shape_name, value, path, violations);
        };
        let Some(object) = value.as_object() else {
            return Err(type_mismatch(path, "a structure (json object)", value));
        };
        for (member, target) in members {
            let member_path = join_path(path, &lower_camel(member));
            match object.get(member) {
                None | Some(Value::Null) => {
                    if required.contains(member) {
                        violations.push(format!(
                            "Value null at '{member_path}' failed to satisfy constraint: Member must not be null"
                        ));
                    }
                }
                Some(member_value) => {
                    self.validate(target, member_value, &member_path, violations)?
                }
            }
        }
        Ok(())
    }

    fn validate(
        &self,
        shape_name: &str,
        value: &Value,
        path: &str,
        violations: &mut Vec<String>,
    ) -> Result<(), ApiError> {
        let mut violate = |constraint: String| {
            violations.push(format!(
                "Value {} at '{path}' failed to satisfy constraint: {constraint}",
                render_value(value)
            ));
        };
        match self.shape(shape_name) {
            Shape::Structure { .. } => {
                return self.validate_structure(shape_name, value, path, violations);
            }
            Shape::List { member, length } => {
                let Some(items) = value.as_array() else {
                    return Err(type_mismatch(path, "a list (json array)", value));
                };
                check_length(items.len(), *length, &mut violate);
                for (index, item) in items.iter().enumerate() {
                    if item.is_null() {
                        continue;
                    }
                    let item_path = format!("{}.{}.member", display_path(path), index + 1);
                    self.validate(member, item, &item_path, violations)?;
                }
            }
            Shape::Map {
                key,
                value: value_shape,
                length,
            } => {
                let Some(entries) = value.as_object() else {
                    return Err(type_mismatch(path, "a map (json object)", value));
                };
                check_length(entries.len(), *length, &mut violate);
                for (entry_key, entry_value) in entries {
                    let entry_path = format!("{}.{entry_key}", display_path(path));
                    self.validate(
                        key,
                        &Value::String(entry_key.clone()),
                        &entry_path,
                        violations,
                    )?;
                    if !entry_value.is_null() {
                        self.validate(value_shape, entry_value, &entry_path, violations)?;
                    }
                }
            }
            Shape::String { length, allowed } => {
                let Some(text) = value.as_str() else {
                    return Err(type_mismatch(path, "a string", value));
                };
                // Coral counts UTF-16 code units, like Java's String.length().
                check_length(text.encode_utf16().count(), *length, &mut violate);
                if let Some(allowed) = allowed
                    && !allowed.iter().any(|known| known == text)
                {
                    violate(format!(
                        "Member must satisfy enum value set: [{}]",
                        allowed.join(", ")
                    ));
                }
            }
            Shape::Integer { bits, value: range } => {
                let number = match value {
                    Value::Number(number) => number.as_i64().filter(|n| fits(*n, *bits)),
                    _ => return Err(type_mismatch(path, "an integer", value)),
                };
                let Some(number) = number else {
                    return Err(type_mismatch(path, &format!("a {bits}-bit integer"), value));
                };
                #[allow(clippy::cast_precision_loss)]
                check_value(number as f64, *range, &mut violate);
            }
            Shape::Float { value: range } => {
                let Some(number) = value.as_f64() else {
                    return Err(type_mismatch(path, "a number", value));
                };
                check_value(number, *range, &mut violate);
            }
            Shape::Boolean => {
                if !value.is_boolean() {
                    return Err(type_mismatch(path, "a boolean", value));
                }
            }
            Shape::Timestamp => {
                if !(value.is_number() || value.is_string()) {
                    return Err(type_mismatch(
                        path,
                        "a timestamp (epoch seconds or a date string)",
                        value,
                    ));
                }
            }
            Shape::Blob => {
                if !value.is_string() {
                    return Err(type_mismatch(path, "a base64 string", value));
                }
            }
            Shape::Any => {}
        }
        Ok(())
    }
}

fn parse_shape(name: &str, shape: &Value) -> Result<Shape, String> {
    let kind = shape
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("shape {name} has no type"))?;
    let target = |field: &str| -> Result<String, String> {
        shape
            .get(field)
            .and_then(|reference| reference.get("shape"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{kind} shape {name} has no {field}.shape"))
    };
    if shape.get("document").and_then(Value::as_bool) == Some(true) {
        return Ok(Shape::Any);
    }
    Ok(match kind {
        "structure" => {
            let members = shape
                .get("members")
                .and_then(Value::as_object)
                .map(|members| {
                    members
                        .iter()
                        .filter_map(|(member, reference)| {
                            let target = reference.get("shape").and_then(Value::as_str)?;
                            Some((member.clone(), target.to_owned()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let required = shape
                .get("required")
                .and_then(Value::as_array)
                .map(|names| {
                    names
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            Shape::Structure { members, required }
        }
        "list" => Shape::List {
            member: target("member")?,
            length: Range::from_shape(shape),
        },
        "map" => Shape::Map {
            key: target("key")?,
            value: target("value")?,
            length: Range::from_shape(shape),
        },
        "string" => Shape::String {
            length: Range::from_shape(shape),
            allowed: shape.get("enum").and_then(Value::as_array).map(|values| {
                values
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            }),
        },
        "integer" => Shape::Integer {
            bits: 32,
            value: Range::from_shape(shape),
        },
        "long" => Shape::Integer {
            bits: 64,
            value: Range::from_shape(shape),
        },
        "float" | "double" => Shape::Float {
            value: Range::from_shape(shape),
        },
        "boolean" => Shape::Boolean,
        "timestamp" => Shape::Timestamp,
        "blob" => Shape::Blob,
        _ => Shape::Any,
    })
}

fn fits(number: i64, bits: u32) -> bool {
    bits >= 64 || i32::try_from(number).is_ok()
}

fn check_length(length: usize, range: Range, violate: &mut impl FnMut(String)) {
    #[allow(clippy::cast_precision_loss)]
    let length = length as f64;
    if let Some(min) = range.min
        && length < min
    {
        violate(format!(
            "Member must have length greater than or equal to {}",
            render_number(min)
        ));
    }
    if let Some(max) = range.max
        && length > max
    {
        violate(format!(
            "Member must have length less than or equal to {}",
            render_number(max)
        ));
    }
}

fn check_value(number: f64, range: Range, violate: &mut impl FnMut(String)) {
    if let Some(min) = range.min
        && number < min
    {
        violate(format!(
            "Member must have value greater than or equal to {}",
            render_number(min)
        ));
    }
    if let Some(max) = range.max
        && number > max
    {
        violate(format!(
            "Member must have value less than or equal to {}",
            render_number(max)
        ));
    }
}

fn render_number(number: f64) -> String {
    if number.fract() == 0.0 && number.abs() < 1e18 {
        #[allow(clippy::cast_possible_truncation)]
        let whole = number as i64;
        whole.to_string()
    } else {
        number.to_string()
    }
}

/// How Coral prints a value in a constraint message: `null`, `'text'`, `'5'`, `'[a, b]'`.
fn render_value(value: &Value) -> String {
    fn inner(value: &Value) -> String {
        match value {
            Value::Null => "null".to_owned(),
            Value::String(text) => text.clone(),
            Value::Array(items) => format!(
                "[{}]",
                items.iter().map(inner).collect::<Vec<_>>().join(", ")
            ),
            Value::Object(entries) => format!(
                "{{{}}}",
                entries
                    .iter()
                    .map(|(key, value)| format!("{key}={}", inner(value)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => other.to_string(),
        }
    }
    match value {
        Value::Null => "null".to_owned(),
        other => format!("'{}'", inner(other)),
    }
}

fn type_mismatch(path: &str, expected: &str, value: &Value) -> ApiError {
    ApiError::serialization(format!(
        "value at '{}' must be {expected}, got {}",
        display_path(path),
        json_kind(value)
    ))
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "input" } else { path }
}

fn join_path(parent: &str, member: &str) -> String {
    if parent.is_empty() {
        member.to_owned()
    } else {
        format!("{parent}.{member}")
    }
}

/// `TrailName` → `trailName`, `S3BucketName` → `s3BucketName`.
fn lower_camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: &str = r#"{
      "metadata": {"apiVersion": "2020-01-01", "protocol": "json", "jsonVersion": "1.1",
                   "targetPrefix": "Toy_20200101", "signingName": "toy"},
      "operations": {
        "Put": {"input": {"shape": "PutRequest"}},
        "Ping": {}
      },
      "shapes": {
        "PutRequest": {"type": "structure", "required": ["Name"], "members": {
          "Name": {"shape": "Name"}, "Count": {"shape": "Count"}, "Ratio": {"shape": "Ratio"},
          "Tags": {"shape": "TagMap"}, "Items": {"shape": "Items"}, "Doc": {"shape": "Doc"},
          "Big": {"shape": "Big"}, "Flag": {"shape": "Flag"}, "Data": {"shape": "Data"}}},
        "Name": {"type": "string", "min": 3, "max": 5},
        "Count": {"type": "integer", "min": 1, "max": 10},
        "Big": {"type": "long"},
        "Ratio": {"type": "double", "min": 0.5},
        "Flag": {"type": "boolean"},
        "Data": {"type": "blob"},
        "TagMap": {"type": "map", "key": {"shape": "Name"}, "value": {"shape": "Name"}, "max": 2},
        "Items": {"type": "list", "member": {"shape": "Item"}, "min": 1},
        "Item": {"type": "structure", "required": ["Kind"], "members": {"Kind": {"shape": "Kind"}}},
        "Kind": {"type": "string", "enum": ["A", "B"]},
        "Doc": {"type": "structure", "members": {}, "document": true}
      }
    }"#;

    fn model() -> ServiceModel {
        ServiceModel::from_json(MODEL).expect("toy model parses")
    }

    fn message(input: Value) -> String {
        model()
            .validate_input("Put", &input)
            .expect_err("invalid input")
            .message
    }

    #[test]
    fn metadata_and_operations() {
        let model = model();
        assert_eq!(model.operation_names(), vec!["Put", "Ping"]);
        assert!(model.has_operation("Ping"));
        assert!(!model.has_operation("Pong"));
        assert_eq!(
            model.metadata().target_prefix.as_deref(),
            Some("Toy_20200101")
        );
        assert_eq!(model.input_shape("Put"), Some("PutRequest"));
        assert_eq!(model.input_shape("Ping"), None);
        assert!(
            model
                .validate_input("Ping", &serde_json::json!({"Anything": 1}))
                .is_ok()
        );
        let err = model
            .validate_input("Pong", &serde_json::json!({}))
            .expect_err("unknown");
        assert_eq!(err.code, "UnknownOperationException");
    }

    #[test]
    fn valid_input_passes_and_unknown_members_are_ignored() {
        let input = serde_json::json!({
            "Name": "abc", "Count": 10, "Ratio": 0.5, "Tags": {"key": "val"},
            "Items": [{"Kind": "A"}, {"Kind": "B", "Extra": true}], "Doc": [1, {"x": null}],
            "Big": 9_000_000_000_i64, "Flag": false, "Data": "aGk=", "Unknown": {"deep": []}
        });
        assert_eq!(model().validate_input("Put", &input), Ok(()));
    }

    #[test]
    fn constraint_messages() {
        assert_eq!(
            message(serde_json::json!({})),
            "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(
            message(serde_json::json!({"Name": null, "Count": 0})),
            "2 validation errors detected: Value null at 'name' failed to satisfy constraint: Member must not be null; Value '0' at 'count' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
        assert_eq!(
            message(serde_json::json!({"Name": "ab", "Ratio": 0.25})),
            "2 validation errors detected: Value 'ab' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 3; Value '0.25' at 'ratio' failed to satisfy constraint: Member must have value greater than or equal to 0.5"
        );
        assert_eq!(
            message(serde_json::json!({"Name": "abcdef"})),
            "1 validation error detected: Value 'abcdef' at 'name' failed to satisfy constraint: Member must have length less than or equal to 5"
        );
        assert_eq!(
            message(
                serde_json::json!({"Name": "abc", "Items": [{"Kind": "A"}, {"Kind": "C"}, {}]})
            ),
            "2 validation errors detected: Value 'C' at 'items.2.member.kind' failed to satisfy constraint: Member must satisfy enum value set: [A, B]; Value null at 'items.3.member.kind' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(
            message(serde_json::json!({"Name": "abc", "Items": []})),
            "1 validation error detected: Value '[]' at 'items' failed to satisfy constraint: Member must have length greater than or equal to 1"
        );
        assert_eq!(
            message(
                serde_json::json!({"Name": "abc", "Tags": {"k": "vvv", "key": "value1", "kkk": "vvv"}})
            ),
            "3 validation errors detected: Value '{k=vvv, key=value1, kkk=vvv}' at 'tags' failed to satisfy constraint: Member must have length less than or equal to 2; Value 'k' at 'tags.k' failed to satisfy constraint: Member must have length greater than or equal to 3; Value 'value1' at 'tags.key' failed to satisfy constraint: Member must have length less than or equal to 5"
        );
    }

    #[test]
    fn message_lists_at_most_ten_errors() {
        let items: Vec<Value> = (0..15).map(|_| serde_json::json!({})).collect();
        let text = message(serde_json::json!({"Name": "abc", "Items": items}));
        assert!(
            text.starts_with("15 validation errors detected: "),
            "{text}"
        );
        assert_eq!(text.matches("Member must not be null").count(), 10);
    }

    #[test]
    fn type_mismatches_are_serialization_errors() {
        let cases = [
            serde_json::json!({"Name": 5}),
            serde_json::json!({"Name": "abc", "Count": "5"}),
            serde_json::json!({"Name": "abc", "Count": 1.5}),
            serde_json::json!({"Name": "abc", "Count": 5_000_000_000_i64}),
            serde_json::json!({"Name": "abc", "Items": {}}),
            serde_json::json!({"Name": "abc", "Items": [5]}),
            serde_json::json!({"Name": "abc", "Tags": []}),
            serde_json::json!({"Name": "abc", "Flag": "true"}),
            serde_json::json!({"Name": "abc", "Data": 1}),
            serde_json::json!({"Name": "abc", "Ratio": "x"}),
        ];
        for case in cases {
            let err = model()
                .validate_input("Put", &case)
                .expect_err("type mismatch");
            assert_eq!(err.code, "SerializationException", "{case}");
        }
        let err = model()
            .validate_input(
                "Put",
                &serde_json::json!({"Name": "abc", "Items": [{"Kind": 1}]}),
            )
            .expect_err("nested mismatch");
        assert_eq!(
            err.message,
            "value at 'items.1.member.kind' must be a string, got number"
        );
        let err = model()
            .validate_input("Put", &serde_json::json!([]))
            .expect_err("array input");
        assert_eq!(err.code, "SerializationException");
    }

    #[test]
    fn broken_models_are_rejected() {
        assert!(ServiceModel::from_json("not json").is_err());
        assert!(ServiceModel::from_json("[]").is_err());
        assert!(ServiceModel::from_json(r#"{"operations": {}}"#).is_err());
        let dangling = r#"{"operations": {"A": {"input": {"shape": "Missing"}}}, "shapes": {}}"#;
        let err = ServiceModel::from_json(dangling).expect_err("dangling reference");
        assert!(err.contains("Missing"), "{err}");
        let bad_list = r#"{"operations": {}, "shapes": {"L": {"type": "list"}}}"#;
        assert!(ServiceModel::from_json(bad_list).is_err());
    }

    #[test]
    fn lower_camel_paths() {
        assert_eq!(lower_camel("TrailName"), "trailName");
        assert_eq!(lower_camel("S3BucketName"), "s3BucketName");
        assert_eq!(lower_camel(""), "");
    }
}
