//! awsQuery codecs directed by the service model: form parameters in, result XML out.
//!
//! A request's parameters (`Action`, `Version` and the input, URL-decoded by
//! [`parse_query_params`](crate::protocol::parse_query_params)) become the JSON value an awsJson
//! body would carry ([`ServiceModel::query_input`]). Names follow botocore's query serializer:
//!
//! ```text
//! Namespace=App                                structure member (locationName or member name)
//! MetricData.member.1.MetricName=Latency       list element N (1-based; `member` is the list
//! MetricData.member.1.Dimensions.member.1.Name   member's locationName when it has one)
//! Values.1=2.5                                 flattened list
//! Tags.entry.1.key=k / Tags.entry.1.value=v    map entry (key/value locationNames respected;
//!                                              flattened maps drop `entry`)
//! AlarmActions=                                an empty list
//! ```
//!
//! Scalars are typed by their shape: integers and longs become JSON integers, floats and
//! doubles numbers (`NaN` and `±Infinity` the strings awsJson uses), booleans `true`/`false`,
//! timestamps (ISO 8601 or epoch seconds) epoch seconds; strings and blobs (base64) stay text.
//! A value that does not parse as its type is an `InvalidParameterValue` error naming the
//! parameter. Unknown parameters are ignored, as AWS does; a parameter given twice keeps its
//! last value.
//!
//! The response direction ([`ServiceModel::query_output_xml`]) writes the result element's
//! content: members by serialized name in model order, lists as `<Name><member>..</member>
//! </Name>` (flattened: repeated `<Name>`), maps as `<Name><entry><key/><value/></entry>
//! </Name>`, timestamps as ISO 8601 UTC with milliseconds, doubles in a form Python's
//! `float()` reads. Element names come from the model only: members the model does not know
//! are left out, as are nulls.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::Response;
use serde_json::{Map, Value};

use crate::cbor::{float_value, special_float};
use crate::error::ApiError;
use crate::model::{ServiceModel, Shape, ShapeRef};
use crate::timestamp::{epoch_value, format_iso8601_millis, parse_timestamp, timestamp_seconds};
use crate::xml::{XmlWriter, query_response_wrapped};

/// A parameter name may have at most this many `.`-separated parts.
pub const MAX_PARAMETER_PARTS: usize = 64;

/// The parameters as a tree of name parts: `A.member.1=x` is `A` → `member` → `1` = `x`.
#[derive(Debug, Default)]
struct ParamNode<'a> {
    value: Option<&'a str>,
    children: BTreeMap<&'a str, ParamNode<'a>>,
}

impl<'a> ParamNode<'a> {
    fn build(params: &'a [(String, String)]) -> Result<ParamNode<'a>, ApiError> {
        let mut root = ParamNode::default();
        for (name, value) in params {
            if name == "Action" || name == "Version" {
                continue;
            }
            if name.split('.').count() > MAX_PARAMETER_PARTS {
                return Err(invalid(format!(
                    "parameter name {}... has more than {MAX_PARAMETER_PARTS} parts",
                    name.chars().take(100).collect::<String>()
                )));
            }
            let mut node = &mut root;
            for part in name.split('.') {
                node = node.children.entry(part).or_default();
            }
            node.value = Some(value.as_str());
        }
        Ok(root)
    }

    /// The children named by 1-based indexes, sorted by index.
    fn indexed(&self, path: &str) -> Result<Vec<(usize, &ParamNode<'a>)>, ApiError> {
        let mut items = Vec::with_capacity(self.children.len());
        for (part, child) in &self.children {
            let index = part.parse::<usize>().ok().filter(|index| *index >= 1);
            let Some(index) = index else {
                return Err(invalid(format!(
                    "parameter {} has index '{part}', expected a positive integer",
                    join(path, part)
                )));
            };
            items.push((index, child));
        }
        items.sort_by_key(|(index, _)| *index);
        Ok(items)
    }
}

fn invalid(message: String) -> ApiError {
    ApiError::client("InvalidParameterValue", message)
}

fn join(path: &str, part: &str) -> String {
    if path.is_empty() {
        part.to_owned()
    } else {
        format!("{path}.{part}")
    }
}

/// How a structure member is named on the wire: a flattened list takes its member's
/// `locationName` when there is one (as botocore does), anything else its own `locationName`,
/// falling back to the member name.
fn wire_name<'m>(model: &'m ServiceModel, member: &'m str, reference: &'m ShapeRef) -> &'m str {
    if reference.flattened
        && let Shape::List { member: item, .. } = model.shape(&reference.shape)
        && let Some(name) = &item.location_name
    {
        return name;
    }
    reference.location_name.as_deref().unwrap_or(member)
}

impl ServiceModel {
    /// Turns awsQuery parameters into the awsJson-shaped input of `operation` (see the module
    /// docs); `Action` and `Version` are skipped.
    pub fn query_input(
        &self,
        operation: &str,
        params: &[(String, String)],
    ) -> Result<Value, ApiError> {
        if !self.has_operation(operation) {
            return Err(ApiError::client(
                "InvalidAction",
                format!("unknown operation {operation}"),
            ));
        }
        let root = ParamNode::build(params)?;
        match self.input_shape(operation) {
            Some(shape) => Ok(self
                .query_value(&ShapeRef::to(shape), &root, "")?
                .unwrap_or_else(|| Value::Object(Map::new()))),
            None => Ok(Value::Object(Map::new())),
        }
    }

    /// The value of the parameters under `node`; `None` when a scalar has no value.
    fn query_value(
        &self,
        reference: &ShapeRef,
        node: &ParamNode<'_>,
        path: &str,
    ) -> Result<Option<Value>, ApiError> {
        let shape = self.shape(&reference.shape);
        match shape {
            Shape::Structure { members, .. } => {
                let mut object = Map::new();
                for (member, member_ref) in members {
                    let name = wire_name(self, member, member_ref);
                    let Some(child) = node.children.get(name) else {
                        continue;
                    };
                    let child_path = join(path, name);
                    if let Some(value) = self.query_value(member_ref, child, &child_path)? {
                        object.insert(member.clone(), value);
                    }
                }
                Ok(Some(Value::Object(object)))
            }
            Shape::List { member, .. } => {
                let (container, container_path) = if reference.flattened {
                    (Some(node), path.to_owned())
                } else {
                    let name = member.location_name.as_deref().unwrap_or("member");
                    (node.children.get(name), join(path, name))
                };
                let items = match container {
                    Some(container) => container.indexed(&container_path)?,
                    None => Vec::new(),
                };
                if items.is_empty()
                    && let Some(text) = node.value.filter(|text| !text.is_empty())
                {
                    return Err(invalid(format!(
                        "invalid value '{text}' for parameter {path}: expected a list as {container_path}.N"
                    )));
                }
                let mut values = Vec::with_capacity(items.len());
                for (index, item) in items {
                    let item_path = join(&container_path, &index.to_string());
                    if let Some(value) = self.query_value(member, item, &item_path)? {
                        values.push(value);
                    }
                }
                Ok(Some(Value::Array(values)))
            }
            Shape::Map { key, value, .. } => {
                let (container, container_path) = if reference.flattened {
                    (Some(node), path.to_owned())
                } else {
                    (node.children.get("entry"), join(path, "entry"))
                };
                let entries = match container {
                    Some(container) => container.indexed(&container_path)?,
                    None => Vec::new(),
                };
                let key_name = key.location_name.as_deref().unwrap_or("key");
                let value_name = value.location_name.as_deref().unwrap_or("value");
                let mut object = Map::new();
                for (index, entry) in entries {
                    let entry_path = join(&container_path, &index.to_string());
                    let Some(entry_key) = entry
                        .children
                        .get(key_name)
                        .and_then(|key_node| key_node.value)
                    else {
                        return Err(invalid(format!(
                            "parameter {} is missing",
                            join(&entry_path, key_name)
                        )));
                    };
                    let value_path = join(&entry_path, value_name);
                    let entry_value = match entry.children.get(value_name) {
                        Some(value_node) => self.query_value(value, value_node, &value_path)?,
                        None => None,
                    };
                    let Some(entry_value) = entry_value else {
                        return Err(invalid(format!("parameter {value_path} is missing")));
                    };
                    object.insert(entry_key.to_owned(), entry_value);
                }
                Ok(Some(Value::Object(object)))
            }
            scalar => {
                let Some(text) = node.value else {
                    return Ok(None);
                };
                query_scalar(scalar, text, path).map(Some)
            }
        }
    }

    /// The content of an operation's awsQuery result element (see the module docs); `None`
    /// when the operation has no output shape.
    pub fn query_output_xml(&self, operation: &str, output: &Value) -> Option<String> {
        let shape = self.output_shape(operation)?;
        let mut xml = XmlWriter::new();
        if let (Shape::Structure { members, .. }, Value::Object(entries)) =
            (self.shape(shape), output)
        {
            self.xml_members(&mut xml, members, entries);
        }
        Some(xml.finish())
    }

    /// A complete awsQuery success response: [`ServiceModel::query_output_xml`] inside the
    /// model's `resultWrapper` (or `{Op}Result`), in `{Op}Response` with the model's
    /// `xmlNamespace` and the request id.
    pub fn query_output_response(
        &self,
        operation: &str,
        output: &Value,
        request_id: &str,
    ) -> Response<Bytes> {
        let xmlns = self.metadata().xml_namespace.as_deref().unwrap_or_default();
        let result = self.query_output_xml(operation, output);
        let wrapper = self
            .result_wrapper(operation)
            .unwrap_or_else(|| format!("{operation}Result"));
        query_response_wrapped(operation, &wrapper, xmlns, request_id, result.as_deref())
    }

    fn xml_members(
        &self,
        xml: &mut XmlWriter,
        members: &[(String, ShapeRef)],
        entries: &Map<String, Value>,
    ) {
        for (member, member_ref) in members {
            let Some(value) = entries.get(member) else {
                continue;
            };
            let name = member_ref.location_name.as_deref().unwrap_or(member);
            self.xml_value(xml, name, member_ref, value);
        }
    }

    /// Writes `value` as element(s) called `name`.
    fn xml_value(&self, xml: &mut XmlWriter, name: &str, reference: &ShapeRef, value: &Value) {
        let shape = self.shape(&reference.shape);
        match (shape, value) {
            (_, Value::Null) => {}
            (Shape::Structure { members, .. }, Value::Object(entries)) => {
                xml.open(name);
                self.xml_members(xml, members, entries);
                xml.close(name);
            }
            (Shape::List { member, .. }, Value::Array(items)) => {
                if reference.flattened {
                    let item_name = member.location_name.as_deref().unwrap_or(name);
                    for item in items {
                        self.xml_value(xml, item_name, member, item);
                    }
                } else {
                    let item_name = member.location_name.as_deref().unwrap_or("member");
                    xml.open(name);
                    for item in items {
                        self.xml_value(xml, item_name, member, item);
                    }
                    xml.close(name);
                }
            }
            (
                Shape::Map {
                    key,
                    value: value_ref,
                    ..
                },
                Value::Object(entries),
            ) => {
                let key_name = key.location_name.as_deref().unwrap_or("key");
                let value_name = value_ref.location_name.as_deref().unwrap_or("value");
                if !reference.flattened {
                    xml.open(name);
                }
                let entry_name = if reference.flattened { name } else { "entry" };
                for (entry_key, entry_value) in entries {
                    if entry_value.is_null() {
                        continue;
                    }
                    xml.open(entry_name).elem(key_name, entry_key);
                    self.xml_value(xml, value_name, value_ref, entry_value);
                    xml.close(entry_name);
                }
                if !reference.flattened {
                    xml.close(name);
                }
            }
            (scalar, value) => {
                if let Some(text) = xml_scalar(scalar, value) {
                    xml.elem(name, &text);
                }
            }
        }
    }
}

/// Parses the text of a scalar parameter as its shape's type.
fn query_scalar(shape: &Shape, text: &str, path: &str) -> Result<Value, ApiError> {
    let mismatch = |expected: &str| {
        invalid(format!(
            "invalid value '{text}' for parameter {path}: expected {expected}"
        ))
    };
    match shape {
        Shape::Integer { bits, .. } => {
            let number = text.parse::<i64>().map_err(|_| {
                mismatch(if *bits == 32 {
                    "an integer"
                } else {
                    "a long integer"
                })
            })?;
            if *bits == 32 && i32::try_from(number).is_err() {
                return Err(mismatch("a 32-bit integer"));
            }
            Ok(Value::from(number))
        }
        Shape::Float { bits, .. } => {
            let number = text
                .parse::<f64>()
                .map_err(|_| mismatch(if *bits == 32 { "a float" } else { "a double" }))?;
            Ok(float_value(number))
        }
        Shape::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(mismatch("true or false")),
        },
        Shape::Timestamp => parse_timestamp(text)
            .map(epoch_value)
            .ok_or_else(|| mismatch("an ISO 8601 timestamp or epoch seconds")),
        _ => Ok(Value::String(text.to_owned())),
    }
}

/// The text of a scalar output value, or `None` for a value that has no text form.
fn xml_scalar(shape: &Shape, value: &Value) -> Option<String> {
    match (shape, value) {
        (Shape::Float { .. }, Value::Number(number)) => number.as_f64().map(format_double),
        (Shape::Float { .. }, Value::String(text)) => {
            Some(special_float(text).map_or_else(|| text.clone(), format_double))
        }
        (Shape::Integer { .. }, Value::Number(number)) => match number.as_f64() {
            Some(float)
                if number.as_i64().is_none()
                    && number.as_u64().is_none()
                    && float.fract() == 0.0
                    && float.abs() < 9e18 =>
            {
                #[allow(clippy::cast_possible_truncation)]
                let whole = float as i64;
                Some(whole.to_string())
            }
            _ => Some(number.to_string()),
        },
        (Shape::Timestamp, _) => match timestamp_seconds(value).and_then(format_iso8601_millis) {
            Some(text) => Some(text),
            None => value.as_str().map(str::to_owned),
        },
        (_, Value::String(text)) => Some(text.clone()),
        (_, Value::Bool(flag)) => Some(flag.to_string()),
        (_, Value::Number(number)) => Some(number.to_string()),
        _ => None,
    }
}

/// A double as Python's `float()` (and Java's `Double.parseDouble`) reads it: shortest
/// round-trip digits, `NaN`, `Infinity`, `-Infinity`.
fn format_double(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        format!("{value:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A toy query model exercising every serialization trait CloudWatch does not use.
    const MODEL: &str = r#"{
      "metadata": {"apiVersion": "2020-01-01", "protocol": "query",
                   "xmlNamespace": "https://toy.example/doc/2020-01-01/"},
      "operations": {
        "Put": {"input": {"shape": "PutInput"},
                "output": {"shape": "PutOutput", "resultWrapper": "PutOutcome"}},
        "Ping": {}
      },
      "shapes": {
        "PutInput": {"type": "structure", "members": {
          "Name": {"shape": "Text", "locationName": "name"},
          "Count": {"shape": "Int"}, "Big": {"shape": "Long"}, "Ratio": {"shape": "Double"},
          "Flag": {"shape": "Bool"}, "When": {"shape": "Time"}, "Data": {"shape": "Data"},
          "Items": {"shape": "Items"}, "Flat": {"shape": "FlatItems"},
          "Renamed": {"shape": "RenamedItems"}, "FlatNamed": {"shape": "FlatNamedItems"},
          "Tags": {"shape": "Tags"}, "FlatTags": {"shape": "Tags", "flattened": true},
          "Inner": {"shape": "Inner"}}},
        "PutOutput": {"type": "structure", "members": {
          "Name": {"shape": "Text", "locationName": "name"},
          "Count": {"shape": "Int"}, "Ratio": {"shape": "Double"}, "Flag": {"shape": "Bool"},
          "When": {"shape": "Time"}, "Items": {"shape": "Items"},
          "Flat": {"shape": "FlatItems"}, "FlatNamed": {"shape": "FlatNamedItems"},
          "Renamed": {"shape": "RenamedItems"}, "Tags": {"shape": "Tags"},
          "FlatTags": {"shape": "Tags", "flattened": true}, "Inner": {"shape": "Inner"}}},
        "Inner": {"type": "structure", "members": {
          "Values": {"shape": "Doubles"}, "Note": {"shape": "Text"}}},
        "Text": {"type": "string"},
        "Int": {"type": "integer"},
        "Long": {"type": "long"},
        "Double": {"type": "double"},
        "Bool": {"type": "boolean"},
        "Time": {"type": "timestamp"},
        "Data": {"type": "blob"},
        "Items": {"type": "list", "member": {"shape": "Inner"}},
        "Doubles": {"type": "list", "member": {"shape": "Double"}},
        "FlatItems": {"type": "list", "member": {"shape": "Text"}, "flattened": true},
        "RenamedItems": {"type": "list", "member": {"shape": "Text", "locationName": "item"}},
        "FlatNamedItems": {"type": "list", "flattened": true,
                           "member": {"shape": "Text", "locationName": "Thing"}},
        "Tags": {"type": "map", "key": {"shape": "Text", "locationName": "k"},
                 "value": {"shape": "Text", "locationName": "v"}}
      }
    }"#;

    fn model() -> ServiceModel {
        ServiceModel::from_json(MODEL).expect("toy model parses")
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn input(pairs: &[(&str, &str)]) -> Result<Value, ApiError> {
        model().query_input("Put", &params(pairs))
    }

    #[test]
    fn every_trait_decodes() {
        let value = input(&[
            ("Action", "Put"),
            ("Version", "2020-01-01"),
            ("name", "n"),
            ("Count", "-5"),
            ("Big", "9000000000"),
            ("Ratio", "2.5"),
            ("Flag", "true"),
            ("When", "2024-01-02T03:04:05.5Z"),
            ("Data", "aGk="),
            ("Items.member.2.Note", "second"),
            ("Items.member.1.Values.member.1", "1"),
            ("Items.member.1.Values.member.2", "Infinity"),
            ("Items.member.10.Values", ""),
            ("Flat.2", "b"),
            ("Flat.1", "a"),
            ("Renamed.item.1", "r"),
            ("Thing.1", "t"),
            ("Tags.entry.1.k", "key"),
            ("Tags.entry.1.v", "value"),
            ("FlatTags.1.k", "fk"),
            ("FlatTags.1.v", "fv"),
            ("Inner.Values", ""),
            ("Unknown.member.1", "ignored"),
        ])
        .expect("valid params");
        assert_eq!(
            value,
            json!({
                "Name": "n", "Count": -5, "Big": 9_000_000_000_i64, "Ratio": 2.5, "Flag": true,
                "When": 1_704_164_645.5, "Data": "aGk=",
                "Items": [{"Values": [1.0, "Infinity"]}, {"Note": "second"}, {"Values": []}],
                "Flat": ["a", "b"], "Renamed": ["r"], "FlatNamed": ["t"],
                "Tags": {"key": "value"}, "FlatTags": {"fk": "fv"}, "Inner": {"Values": []}
            })
        );
        assert_eq!(
            model().query_input("Ping", &params(&[("Action", "Ping")])),
            Ok(json!({}))
        );
        assert_eq!(
            input(&[("When", "1704164645")]),
            Ok(json!({"When": 1_704_164_645}))
        );
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "Count",
                "1.5",
                "invalid value '1.5' for parameter Count: expected an integer",
            ),
            ("Count", "3000000000", "expected a 32-bit integer"),
            ("Big", "x", "expected a long integer"),
            ("Ratio", "fast", "parameter Ratio: expected a double"),
            ("Flag", "yes", "parameter Flag: expected true or false"),
            (
                "When",
                "tomorrow",
                "expected an ISO 8601 timestamp or epoch seconds",
            ),
            (
                "Items.member.1.Values.member.1",
                "x",
                "parameter Items.member.1.Values.member.1",
            ),
            (
                "Items.member.x.Note",
                "n",
                "parameter Items.member.x has index 'x'",
            ),
            (
                "Items.member.0.Note",
                "n",
                "has index '0', expected a positive integer",
            ),
            (
                "Flat",
                "oops",
                "invalid value 'oops' for parameter Flat: expected a list as Flat.N",
            ),
            ("Items", "oops", "expected a list as Items.member.N"),
            ("Tags.entry.1.v", "v", "parameter Tags.entry.1.k is missing"),
            ("Tags.entry.1.k", "k", "parameter Tags.entry.1.v is missing"),
        ];
        for (name, value, expected) in cases {
            let err = input(&[(name, value)]).expect_err("invalid parameter");
            assert_eq!(err.code, "InvalidParameterValue");
            assert_eq!(err.status, http::StatusCode::BAD_REQUEST);
            assert!(
                err.message.contains(expected),
                "{name}={value}: {}",
                err.message
            );
        }
        let deep = vec!["a"; MAX_PARAMETER_PARTS + 1].join(".");
        let err = input(&[(&deep, "x")]).expect_err("too deep");
        assert!(
            err.message.contains("more than 64 parts"),
            "{}",
            err.message
        );
        let err = model()
            .query_input("Nope", &[])
            .expect_err("unknown operation");
        assert_eq!(err.code, "InvalidAction");
    }

    #[test]
    fn output_xml_follows_traits() {
        let output = json!({
            "Name": "a<b", "Count": 3.0, "Ratio": 1, "Flag": false,
            "When": "2024-01-02T03:04:05.678Z",
            "Items": [{"Values": [0.1, "NaN", 1e300], "Note": null}, null],
            "Flat": ["x", "y"], "FlatNamed": ["t"], "Renamed": [],
            "Tags": {"k1": "v1", "k2": null}, "FlatTags": {"a": "b"},
            "Inner": {"Values": []}, "NotInModel": "dropped"
        });
        let xml = model()
            .query_output_xml("Put", &output)
            .expect("has output");
        assert_eq!(
            xml,
            "<name>a&lt;b</name><Count>3</Count><Ratio>1.0</Ratio><Flag>false</Flag>\
             <When>2024-01-02T03:04:05.678Z</When>\
             <Items><member><Values><member>0.1</member><member>NaN</member><member>1e300</member></Values></member></Items>\
             <Flat>x</Flat><Flat>y</Flat><Thing>t</Thing><Renamed></Renamed>\
             <Tags><entry><k>k1</k><v>v1</v></entry></Tags><FlatTags><k>a</k><v>b</v></FlatTags>\
             <Inner><Values></Values></Inner>"
        );
        assert_eq!(model().query_output_xml("Ping", &json!({})), None);
        assert_eq!(
            model().query_output_xml("Put", &json!([])),
            Some(String::new())
        );
    }

    #[test]
    fn output_response_uses_result_wrapper() {
        let response = model().query_output_response("Put", &json!({"Count": 1}), "rid");
        assert_eq!(
            std::str::from_utf8(response.body()).expect("utf8"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><PutResponse xmlns=\"https://toy.example/doc/2020-01-01/\">\
             <PutOutcome><Count>1</Count></PutOutcome>\
             <ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></PutResponse>"
        );
        let response = model().query_output_response("Ping", &json!({}), "rid");
        let text = std::str::from_utf8(response.body())
            .expect("utf8")
            .to_owned();
        assert!(
            text.contains("<PingResponse") && !text.contains("PingResult"),
            "{text}"
        );
    }

    #[test]
    fn doubles_print_for_python() {
        assert_eq!(format_double(3.0), "3.0");
        assert_eq!(format_double(-0.5), "-0.5");
        assert_eq!(format_double(1e-7), "1e-7");
        assert_eq!(format_double(f64::INFINITY), "Infinity");
        assert_eq!(format_double(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(format_double(f64::NAN), "NaN");
    }
}
