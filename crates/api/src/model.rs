//! A botocore service model (`service-2.json`) and input validation driven by it.
//!
//! [`ServiceModel`] keeps a reduced form of the model: operations with their input and output
//! shapes (and awsQuery `resultWrapper`), error shapes with their wire code, status and fault,
//! and per shape what validation and the codecs need — constraints, integer/long and
//! float/double widths, and the serialization traits (`locationName`, `flattened`,
//! `timestampFormat`) merged from each member reference over its target shape, as botocore
//! does. The codecs that use them live in [`crate::cbor`] and [`crate::query`].
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

/// A botocore service model reduced to what validation and the codecs need.
#[derive(Debug, Clone)]
pub struct ServiceModel {
    metadata: Metadata,
    /// Operations in model order.
    operations: Vec<Operation>,
    shapes: HashMap<String, Shape>,
    /// Error shapes (those with an `error` or `exception` trait), in model order.
    errors: Vec<ErrorShape>,
}

#[derive(Debug, Clone)]
struct Operation {
    name: String,
    input: Option<String>,
    output: Option<String>,
    /// awsQuery `resultWrapper` of the output, e.g. `DescribeAlarmsResult`.
    result_wrapper: Option<String>,
}

/// A modeled error: what botocore maps an error code to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorShape {
    /// The shape name, e.g. `DashboardNotFoundError`.
    pub shape: String,
    /// The wire code (`error.code`, falling back to the shape name), e.g. `ResourceNotFound`.
    pub code: String,
    /// `error.httpStatusCode`, 400 when the model has none.
    pub http_status: u16,
    /// `error.senderFault`; when absent, whether the status is below 500.
    pub sender_fault: bool,
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
    /// Whether the metadata has `awsQueryCompatible`: the service used to speak awsQuery, and
    /// its JSON/CBOR errors carry the query code in `x-amzn-query-error`.
    pub query_compatible: bool,
}

/// A reference to a shape from a structure member, a list member or a map key or value, with
/// the serialization traits of the reference merged over those of its target shape.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShapeRef {
    /// The target shape name.
    pub(crate) shape: String,
    /// `locationName`: the member's name on the wire (XML element, query parameter part).
    pub(crate) location_name: Option<String>,
    /// `flattened` on the reference or on the target list or map.
    pub(crate) flattened: bool,
    /// `timestampFormat` on the reference or on the target timestamp.
    pub(crate) timestamp_format: Option<String>,
}

impl ShapeRef {
    fn parse(reference: &Value) -> Option<ShapeRef> {
        Some(ShapeRef {
            shape: reference.get("shape").and_then(Value::as_str)?.to_owned(),
            location_name: reference
                .get("locationName")
                .and_then(Value::as_str)
                .map(str::to_owned),
            flattened: reference.get("flattened").and_then(Value::as_bool) == Some(true),
            timestamp_format: reference
                .get("timestampFormat")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }

    /// A reference with no traits of its own, e.g. to an operation's output shape.
    pub(crate) fn to(shape: &str) -> ShapeRef {
        ShapeRef {
            shape: shape.to_owned(),
            ..ShapeRef::default()
        }
    }

    /// Adds the target shape's own traits where the reference has none.
    fn merge(&mut self, target: &ShapeTraits) {
        if self.location_name.is_none() {
            self.location_name.clone_from(&target.location_name);
        }
        self.flattened |= target.flattened;
        if self.timestamp_format.is_none() {
            self.timestamp_format.clone_from(&target.timestamp_format);
        }
    }
}

/// Serialization traits declared on a shape itself, merged into every reference to it.
#[derive(Debug, Clone, Default)]
struct ShapeTraits {
    location_name: Option<String>,
    flattened: bool,
    timestamp_format: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum Shape {
    Structure {
        /// (member name, reference), in model order.
        members: Vec<(String, ShapeRef)>,
        required: Vec<String>,
    },
    List {
        member: ShapeRef,
        length: Range,
    },
    Map {
        key: ShapeRef,
        value: ShapeRef,
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
        /// 32 for `float`, 64 for `double`.
        bits: u32,
        value: Range,
    },
    Boolean,
    Timestamp,
    Blob,
    /// Documents and anything unknown: accepted as is.
    Any,
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Range {
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
            query_compatible: metadata_value.get("awsQueryCompatible").is_some(),
        };

        let operations_value = object
            .get("operations")
            .and_then(Value::as_object)
            .ok_or_else(|| "service model has no operations object".to_owned())?;
        let operations = operations_value
            .iter()
            .map(|(name, operation)| {
                let shape_of = |field: &str| {
                    operation
                        .get(field)
                        .and_then(|reference| reference.get("shape"))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                };
                Operation {
                    name: name.clone(),
                    input: shape_of("input"),
                    output: shape_of("output"),
                    result_wrapper: operation
                        .get("output")
                        .and_then(|output| output.get("resultWrapper"))
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                }
            })
            .collect();

        let shapes_value = object
            .get("shapes")
            .and_then(Value::as_object)
            .ok_or_else(|| "service model has no shapes object".to_owned())?;
        let mut shapes = HashMap::with_capacity(shapes_value.len());
        let mut traits = HashMap::with_capacity(shapes_value.len());
        let mut errors = Vec::new();
        for (name, shape) in shapes_value {
            shapes.insert(name.clone(), parse_shape(name, shape)?);
            traits.insert(name.as_str(), parse_traits(shape));
            if let Some(error) = parse_error(name, shape) {
                errors.push(error);
            }
        }
        merge_traits(&mut shapes, &traits);
        let model = ServiceModel {
            metadata,
            operations,
            shapes,
            errors,
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
                        missing(name, &target.shape)?;
                    }
                }
                Shape::List { member, .. } => missing(name, &member.shape)?,
                Shape::Map { key, value, .. } => {
                    missing(name, &key.shape)?;
                    missing(name, &value.shape)?;
                }
                _ => {}
            }
        }
        for operation in &self.operations {
            for shape in [&operation.input, &operation.output].into_iter().flatten() {
                missing(&operation.name, shape)?;
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
            .map(|operation| operation.name.as_str())
            .collect()
    }

    /// Whether the model defines `name`.
    pub fn has_operation(&self, name: &str) -> bool {
        self.operation(name).is_some()
    }

    fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.iter().find(|known| known.name == name)
    }

    /// The input shape name of an operation, if it has one.
    pub fn input_shape(&self, operation: &str) -> Option<&str> {
        self.operation(operation)
            .and_then(|operation| operation.input.as_deref())
    }

    /// The output shape name of an operation, if it has one.
    pub fn output_shape(&self, operation: &str) -> Option<&str> {
        self.operation(operation)
            .and_then(|operation| operation.output.as_deref())
    }

    /// The awsQuery element that wraps an operation's output: the model's `resultWrapper`,
    /// `{Op}Result` when it has none; `None` when the operation has no output shape.
    pub fn result_wrapper(&self, operation: &str) -> Option<String> {
        let operation = self.operation(operation)?;
        operation.output.as_ref()?;
        Some(
            operation
                .result_wrapper
                .clone()
                .unwrap_or_else(|| format!("{}Result", operation.name)),
        )
    }

    /// Whether the service is `awsQueryCompatible` (errors carry `x-amzn-query-error`).
    pub fn is_query_compatible(&self) -> bool {
        self.metadata.query_compatible
    }

    /// The modeled error with wire code (or shape name) `code`, if any.
    pub fn error_shape(&self, code: &str) -> Option<&ErrorShape> {
        self.errors
            .iter()
            .find(|error| error.code == code)
            .or_else(|| self.errors.iter().find(|error| error.shape == code))
    }

    /// An [`ApiError`] with the status the model gives `code` (400 for an unmodeled code).
    pub fn modeled_error(&self, code: &str, message: impl Into<String>) -> ApiError {
        let status = self
            .error_shape(code)
            .and_then(|error| http::StatusCode::from_u16(error.http_status).ok())
            .unwrap_or(http::StatusCode::BAD_REQUEST);
        ApiError::new(code, status, message)
    }

    /// Checks `input` (the parsed JSON body) against the operation's input shape.
    pub fn validate_input(&self, operation: &str, input: &Value) -> Result<(), ApiError> {
        let Some(Operation {
            input: input_shape, ..
        }) = self.operation(operation)
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

    /// The shape called `name`; [`Shape::Any`] for a name the model lacks.
    pub(crate) fn shape(&self, name: &str) -> &Shape {
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
            let member_path = join_path(path, &lower_first(member));
            match object.get(member) {
                None | Some(Value::Null) => {
                    if required.contains(member) {
                        violations.push(format!(
                            "Value null at '{member_path}' failed to satisfy constraint: Member must not be null"
                        ));
                    }
                }
                Some(member_value) => {
                    self.validate(&target.shape, member_value, &member_path, violations)?
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
                    self.validate(&member.shape, item, &item_path, violations)?;
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
                        &key.shape,
                        &Value::String(entry_key.clone()),
                        &entry_path,
                        violations,
                    )?;
                    if !entry_value.is_null() {
                        self.validate(&value_shape.shape, entry_value, &entry_path, violations)?;
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
            Shape::Float { value: range, .. } => {
                // The JSON protocols carry the non-finite doubles as these strings; whether
                // such a value is allowed is the service's to decide.
                if matches!(value.as_str(), Some("NaN" | "Infinity" | "-Infinity")) {
                    return Ok(());
                }
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
    let target = |field: &str| -> Result<ShapeRef, String> {
        shape
            .get(field)
            .and_then(ShapeRef::parse)
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
                            Some((member.clone(), ShapeRef::parse(reference)?))
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
        "float" => Shape::Float {
            bits: 32,
            value: Range::from_shape(shape),
        },
        "double" => Shape::Float {
            bits: 64,
            value: Range::from_shape(shape),
        },
        "boolean" => Shape::Boolean,
        "timestamp" => Shape::Timestamp,
        "blob" => Shape::Blob,
        _ => Shape::Any,
    })
}

/// The serialization traits a shape declares on itself.
fn parse_traits(shape: &Value) -> ShapeTraits {
    ShapeTraits {
        location_name: shape
            .get("locationName")
            .and_then(Value::as_str)
            .map(str::to_owned),
        flattened: shape.get("flattened").and_then(Value::as_bool) == Some(true),
        timestamp_format: shape
            .get("timestampFormat")
            .and_then(Value::as_str)
            .map(str::to_owned),
    }
}

/// The error a structure shape models, if it has an `error` or `exception` trait.
fn parse_error(name: &str, shape: &Value) -> Option<ErrorShape> {
    let error = shape.get("error");
    if error.is_none() && shape.get("exception").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let field = |key: &str| error.and_then(|error| error.get(key));
    let http_status = field("httpStatusCode")
        .and_then(Value::as_u64)
        .and_then(|status| u16::try_from(status).ok())
        .unwrap_or(400);
    Some(ErrorShape {
        shape: name.to_owned(),
        code: field("code")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_owned(),
        http_status,
        sender_fault: field("senderFault")
            .and_then(Value::as_bool)
            .unwrap_or(http_status < 500),
    })
}

/// Merges each target shape's own traits into every reference to it, as botocore does.
fn merge_traits(shapes: &mut HashMap<String, Shape>, traits: &HashMap<&str, ShapeTraits>) {
    let merge = |reference: &mut ShapeRef| {
        if let Some(target) = traits.get(reference.shape.as_str()) {
            reference.merge(target);
        }
    };
    for shape in shapes.values_mut() {
        match shape {
            Shape::Structure { members, .. } => {
                members
                    .iter_mut()
                    .for_each(|(_, reference)| merge(reference));
            }
            Shape::List { member, .. } => merge(member),
            Shape::Map { key, value, .. } => {
                merge(key);
                merge(value);
            }
            _ => {}
        }
    }
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

/// `TrailName` → `trailName`, `S3BucketName` → `s3BucketName`, `TrailARN` → `trailARN`: the
/// first character lowered, the rest kept.
pub fn lower_first(name: &str) -> String {
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
}
