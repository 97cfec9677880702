//! The query protocol of older SQS clients, translated to and from the JSON shapes the
//! operations work on, driven by the embedded botocore model.
//!
//! The JSON model no longer names the query members, so [`query_name`] restores SQS's query
//! names (`Attribute.1.Name`, `MessageAttribute.1.Value.StringValue`,
//! `SendMessageBatchRequestEntry.1.Id`, …). Lists and maps are flattened in SQS's query
//! protocol: `Name.N` for list elements, `Name.N.Name|Key` and `Name.N.Value` for map entries.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::error::SqsError;

/// The parsed model (shapes and operations).
pub fn model() -> &'static Value {
    static MODEL: OnceLock<Value> = OnceLock::new();
    MODEL.get_or_init(|| {
        serde_json::from_str(opentrail_api::EmbeddedModel::Sqs.json()).unwrap_or(Value::Null)
    })
}

fn shape(name: &str) -> &'static Value {
    &model()["shapes"][name]
}

/// The query name of a member (and the key and value names of a map member).
fn query_name(operation: &str, member: &str) -> (String, &'static str, &'static str) {
    let (name, key, value) = match member {
        "Attributes" => ("Attribute", "Name", "Value"),
        "tags" | "Tags" => ("Tag", "Key", "Value"),
        "AttributeNames" => ("AttributeName", "", ""),
        "MessageAttributeNames" => ("MessageAttributeName", "", ""),
        "MessageSystemAttributeNames" => ("MessageSystemAttributeName", "", ""),
        "MessageAttributes" => ("MessageAttribute", "Name", "Value"),
        "MessageSystemAttributes" => ("MessageSystemAttribute", "Name", "Value"),
        "TagKeys" => ("TagKey", "", ""),
        "AWSAccountIds" => ("AWSAccountId", "", ""),
        "Actions" => ("ActionName", "", ""),
        "StringListValues" => ("StringListValue", "", ""),
        "BinaryListValues" => ("BinaryListValue", "", ""),
        "QueueUrls" | "queueUrls" => ("QueueUrl", "", ""),
        "Messages" => ("Message", "", ""),
        "Failed" => ("BatchResultErrorEntry", "", ""),
        "Entries" => return (format!("{operation}RequestEntry"), "", ""),
        "Successful" => return (format!("{operation}ResultEntry"), "", ""),
        other => (other, "", ""),
    };
    (name.to_owned(), key, value)
}

/// Query parameters → the operation's JSON input.
pub fn query_to_json(operation: &str, params: &[(String, String)]) -> Result<Value, SqsError> {
    let Some(input) = model()["operations"][operation]["input"]["shape"].as_str() else {
        return Ok(Value::Object(Map::new()));
    };
    let lookup = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let value = decode_structure(operation, input, "", &lookup, params)?;
    Ok(value.unwrap_or_else(|| Value::Object(Map::new())))
}

type Lookup<'a> = dyn Fn(&str) -> Option<&'a str> + 'a;

fn decode_structure<'a>(
    operation: &str,
    shape_name: &str,
    prefix: &str,
    lookup: &Lookup<'a>,
    params: &[(String, String)],
) -> Result<Option<Value>, SqsError> {
    let mut out = Map::new();
    let Some(members) = shape(shape_name)["members"].as_object() else {
        return Ok(None);
    };
    for (member, reference) in members {
        let Some(target) = reference["shape"].as_str() else {
            continue;
        };
        let (name, key_name, value_name) = query_name(operation, member);
        let path = format!("{prefix}{name}");
        if let Some(value) = decode(
            operation, target, &path, key_name, value_name, lookup, params,
        )? {
            out.insert(member.clone(), value);
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

#[allow(clippy::too_many_arguments)]
fn decode<'a>(
    operation: &str,
    shape_name: &str,
    path: &str,
    key_name: &str,
    value_name: &str,
    lookup: &Lookup<'a>,
    params: &[(String, String)],
) -> Result<Option<Value>, SqsError> {
    let definition = shape(shape_name);
    match definition["type"].as_str().unwrap_or("string") {
        "structure" => decode_structure(operation, shape_name, &format!("{path}."), lookup, params),
        "list" => {
            let member = definition["member"]["shape"].as_str().unwrap_or("String");
            let mut items = Vec::new();
            for index in 1.. {
                let item_path = format!("{path}.{index}");
                let alternative = format!("{path}.member.{index}");
                let found = decode(operation, member, &item_path, "", "", lookup, params)?.or(
                    decode(operation, member, &alternative, "", "", lookup, params)?,
                );
                match found {
                    Some(item) => items.push(item),
                    None => break,
                }
            }
            Ok((!items.is_empty()).then_some(Value::Array(items)))
        }
        "map" => {
            let value_shape = definition["value"]["shape"].as_str().unwrap_or("String");
            let (key_name, value_name) = if key_name.is_empty() {
                ("Name", "Value")
            } else {
                (key_name, value_name)
            };
            let mut entries = Map::new();
            for index in 1.. {
                let Some(key) = lookup(&format!("{path}.{index}.{key_name}")) else {
                    break;
                };
                let value_path = format!("{path}.{index}.{value_name}");
                let value = decode(operation, value_shape, &value_path, "", "", lookup, params)?
                    .unwrap_or(Value::Null);
                entries.insert(key.to_owned(), value);
            }
            Ok((!entries.is_empty()).then_some(Value::Object(entries)))
        }
        kind => {
            let Some(text) = lookup(path) else {
                return Ok(None);
            };
            let value = match kind {
                "integer" | "long" => match text.trim().parse::<i64>() {
                    Ok(number) => Value::from(number),
                    Err(_) => {
                        return Err(SqsError::InvalidParameterValue(format!(
                            "Value {text} for parameter {path} is invalid. Reason: must be an integer."
                        )));
                    }
                },
                "boolean" => Value::Bool(text.eq_ignore_ascii_case("true")),
                _ => Value::String(text.to_owned()),
            };
            Ok(Some(value))
        }
    }
}

/// The operation's JSON output → the XML inside `<{Op}Result>`.
pub fn json_to_xml(operation: &str, output: &Value) -> String {
    let mut xml = opentrail_api::XmlWriter::new();
    if let Some(shape_name) = model()["operations"][operation]["output"]["shape"].as_str() {
        encode_members(operation, shape_name, output, &mut xml);
    }
    xml.finish()
}

fn encode_members(
    operation: &str,
    shape_name: &str,
    value: &Value,
    xml: &mut opentrail_api::XmlWriter,
) {
    let Some(members) = shape(shape_name)["members"].as_object() else {
        return;
    };
    for (member, reference) in members {
        let (Some(target), Some(member_value)) = (reference["shape"].as_str(), value.get(member))
        else {
            continue;
        };
        let (name, key_name, value_name) = query_name(operation, member);
        encode(
            operation,
            target,
            &name,
            key_name,
            value_name,
            member_value,
            xml,
        );
    }
}

fn encode(
    operation: &str,
    shape_name: &str,
    name: &str,
    key_name: &str,
    value_name: &str,
    value: &Value,
    xml: &mut opentrail_api::XmlWriter,
) {
    let definition = shape(shape_name);
    match definition["type"].as_str().unwrap_or("string") {
        "structure" => {
            xml.open(name);
            encode_members(operation, shape_name, value, xml);
            xml.close(name);
        }
        "list" => {
            let member = definition["member"]["shape"].as_str().unwrap_or("String");
            for item in value.as_array().into_iter().flatten() {
                encode(operation, member, name, "", "", item, xml);
            }
        }
        "map" => {
            let value_shape = definition["value"]["shape"].as_str().unwrap_or("String");
            let (key_name, value_name) = if key_name.is_empty() {
                ("Name", "Value")
            } else {
                (key_name, value_name)
            };
            for (key, entry) in value.as_object().into_iter().flatten() {
                xml.open(name).elem(key_name, key);
                encode(operation, value_shape, value_name, "", "", entry, xml);
                xml.close(name);
            }
        }
        _ => {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Null => return,
                other => other.to_string(),
            };
            xml.elem(name, &text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn query_input_decodes_flattened_maps_lists_and_numbers() {
        let input = query_to_json(
            "CreateQueue",
            &params(&[
                ("Action", "CreateQueue"),
                ("QueueName", "q"),
                ("Attribute.1.Name", "VisibilityTimeout"),
                ("Attribute.1.Value", "60"),
                ("Tag.1.Key", "k"),
                ("Tag.1.Value", "v"),
            ]),
        )
        .expect("decodes");
        assert_eq!(
            input,
            json!({"QueueName": "q", "Attributes": {"VisibilityTimeout": "60"}, "tags": {"k": "v"}})
        );
        let input = query_to_json(
            "SendMessageBatch",
            &params(&[
                ("QueueUrl", "u"),
                ("SendMessageBatchRequestEntry.1.Id", "a"),
                ("SendMessageBatchRequestEntry.1.MessageBody", "x"),
                ("SendMessageBatchRequestEntry.1.DelaySeconds", "5"),
                (
                    "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name",
                    "n",
                ),
                (
                    "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType",
                    "String",
                ),
                (
                    "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue",
                    "s",
                ),
                ("SendMessageBatchRequestEntry.2.Id", "b"),
                ("SendMessageBatchRequestEntry.2.MessageBody", "y"),
            ]),
        )
        .expect("decodes");
        assert_eq!(
            input,
            json!({"QueueUrl": "u", "Entries": [
                {"Id": "a", "MessageBody": "x", "DelaySeconds": 5,
                 "MessageAttributes": {"n": {"DataType": "String", "StringValue": "s"}}},
                {"Id": "b", "MessageBody": "y"}]})
        );
        assert!(query_to_json("ReceiveMessage", &params(&[("MaxNumberOfMessages", "x")])).is_err());
    }

    #[test]
    fn output_encodes_flattened_members() {
        let xml = json_to_xml(
            "ReceiveMessage",
            &json!({"Messages": [{"MessageId": "m", "Body": "a<b", "Attributes": {"SenderId": "s"}}]}),
        );
        assert_eq!(
            xml,
            "<Message><MessageId>m</MessageId><Body>a&lt;b</Body><Attribute><Name>SenderId</Name><Value>s</Value></Attribute></Message>"
        );
        let xml = json_to_xml("ListQueues", &json!({"QueueUrls": ["a", "b"]}));
        assert_eq!(xml, "<QueueUrl>a</QueueUrl><QueueUrl>b</QueueUrl>");
        let xml = json_to_xml(
            "SendMessageBatch",
            &json!({"Successful": [{"Id": "1", "MessageId": "m"}], "Failed": [{"Id": "2", "SenderFault": true, "Code": "c"}]}),
        );
        assert!(
            xml.contains("<SendMessageBatchResultEntry><Id>1</Id>"),
            "{xml}"
        );
        assert!(
            xml.contains("<BatchResultErrorEntry><Id>2</Id><SenderFault>true</SenderFault>"),
            "{xml}"
        );
    }
}
