//! Smithy RPC v2 CBOR: request bodies in, responses and errors out.
//!
//! Requests are `POST /service/<ServiceShape>/operation/<Operation>` with `smithy-protocol:
//! rpc-v2-cbor` and a CBOR (RFC 8949) map body. [`decode`] turns that body into the same JSON
//! value an awsJson request carries, so services work on one shape whatever the protocol:
//!
//! | CBOR                                   | JSON                                      |
//! |----------------------------------------|-------------------------------------------|
//! | unsigned / negative integer            | integer (f64 below `i64::MIN`)            |
//! | byte string (definite or chunked)      | base64 text (standard alphabet, padded)   |
//! | text string (definite or chunked)      | text; invalid UTF-8 is an error           |
//! | array, map (definite or indefinite)    | array, object; map keys must be text      |
//! | tag 1 (epoch time)                     | its number of epoch seconds               |
//! | any other tag                          | its content                               |
//! | half / single / double float           | number; NaN / ±∞ → `"NaN"`, `"Infinity"`, `"-Infinity"` |
//! | true, false, null, undefined           | true, false, null, null                   |
//!
//! An empty body is `{}`; anything but a map at the top is an error. Nesting is bounded by
//! [`MAX_DEPTH`] and no length read from the body is trusted for an allocation. Every failure
//! is a `SerializationException` naming the byte offset of the offending item.
//!
//! Responses go the other way, directed by the operation's output shape
//! ([`ServiceModel::encode_cbor`]): doubles become float64 even when integral, timestamps tag 1
//! around float64 epoch seconds, blobs byte strings. Errors are `{"__type", "message"}` maps;
//! for `awsQueryCompatible` services the query code rides in `x-amzn-query-error`, which is
//! where botocore looks for it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use serde_json::{Map, Number, Value};

use crate::error::ApiError;
use crate::json::{REQUEST_ID_HEADER, header_value, with_query_error_header};
use crate::model::{ServiceModel, Shape, ShapeRef};
use crate::timestamp::timestamp_seconds;

/// Arrays, maps and tags nest at most this deep in a request body.
pub const MAX_DEPTH: usize = 64;

/// The response content type.
pub const CBOR_CONTENT_TYPE: &str = "application/cbor";

const MAJOR_UNSIGNED: u8 = 0;
const MAJOR_NEGATIVE: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_TAG: u8 = 6;
const MAJOR_SIMPLE: u8 = 7;
const BREAK: u8 = 0xff;
const INDEFINITE: u8 = 31;

/// What is wrong with a CBOR body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum CborError {
    #[error("cbor body is truncated: the item at byte {offset} needs {needed} more bytes")]
    Truncated { offset: usize, needed: u64 },
    #[error("cbor item at byte {offset} uses reserved additional information {info}")]
    Reserved { offset: usize, info: u8 },
    #[error("cbor item at byte {offset} is a break code outside an indefinite-length item")]
    UnexpectedBreak { offset: usize },
    #[error("cbor item at byte {offset} of major type {major} cannot have an indefinite length")]
    IndefiniteNotAllowed { offset: usize, major: u8 },
    #[error(
        "chunk at byte {offset} of an indefinite-length string must be a definite-length string of the same type"
    )]
    BadChunk { offset: usize },
    #[error("cbor text string at byte {offset} is not valid utf-8")]
    InvalidUtf8 { offset: usize },
    #[error("cbor map key at byte {offset} must be a text string, got {found}")]
    NonTextKey { offset: usize, found: &'static str },
    #[error("cbor map at byte {offset} repeats the key '{key}'")]
    DuplicateKey { offset: usize, key: String },
    #[error("cbor item at byte {offset} nests deeper than {MAX_DEPTH} levels")]
    TooDeep { offset: usize },
    #[error("cbor item at byte {offset} is the unsupported simple value {value}")]
    UnsupportedSimple { offset: usize, value: u8 },
    #[error("cbor tag 1 (epoch time) at byte {offset} must hold a number, got {found}")]
    BadEpochTime { offset: usize, found: &'static str },
    #[error("cbor request body must be a map, got {found}")]
    TopLevelNotMap { found: &'static str },
    #[error("cbor body has {count} trailing bytes after the top-level item, from byte {offset}")]
    TrailingBytes { offset: usize, count: usize },
}

/// Decodes a CBOR request body into the JSON value an awsJson body would be (see the module
/// docs for the mapping); an empty body is `{}`.
pub fn decode(bytes: &[u8]) -> Result<Value, ApiError> {
    decode_body(bytes).map_err(|err| ApiError::serialization(err.to_string()))
}

fn decode_body(bytes: &[u8]) -> Result<Value, CborError> {
    if bytes.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let mut decoder = Decoder { bytes, pos: 0 };
    let value = decoder.item(0)?;
    if !value.is_object() {
        return Err(CborError::TopLevelNotMap {
            found: crate::json::json_kind(&value),
        });
    }
    if decoder.pos < bytes.len() {
        return Err(CborError::TrailingBytes {
            offset: decoder.pos,
            count: bytes.len() - decoder.pos,
        });
    }
    Ok(value)
}

/// The initial byte of an item and its argument.
#[derive(Debug, Clone, Copy)]
struct Head {
    offset: usize,
    major: u8,
    /// The low five bits of the initial byte.
    info: u8,
    /// The argument; `None` for an indefinite length (or the break code, major type 7).
    argument: Option<u64>,
}

struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Decoder<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// Takes `count` bytes belonging to the item at `offset`.
    fn take(&mut self, count: u64, offset: usize) -> Result<&[u8], CborError> {
        let truncated = || CborError::Truncated {
            offset,
            needed: count,
        };
        let count = usize::try_from(count).map_err(|_| truncated())?;
        if count > self.remaining() {
            return Err(truncated());
        }
        let start = self.pos;
        self.pos += count;
        self.bytes.get(start..self.pos).ok_or_else(truncated)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Consumes a break code if one comes next; a body that ends here is truncated.
    fn at_break(&mut self, container: usize) -> Result<bool, CborError> {
        match self.peek() {
            Some(BREAK) => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Err(CborError::Truncated {
                offset: container,
                needed: 1,
            }),
        }
    }

    fn head(&mut self) -> Result<Head, CborError> {
        let offset = self.pos;
        let initial = self.take(1, offset)?.first().copied().unwrap_or(0);
        let major = initial >> 5;
        let info = initial & 0x1f;
        let width = match info {
            0..=23 => {
                return Ok(Head {
                    offset,
                    major,
                    info,
                    argument: Some(u64::from(info)),
                });
            }
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            28..=30 => return Err(CborError::Reserved { offset, info }),
            INDEFINITE.. => {
                return match major {
                    MAJOR_BYTES | MAJOR_TEXT | MAJOR_ARRAY | MAJOR_MAP | MAJOR_SIMPLE => Ok(Head {
                        offset,
                        major,
                        info,
                        argument: None,
                    }),
                    _ => Err(CborError::IndefiniteNotAllowed { offset, major }),
                };
            }
        };
        let argument = self
            .take(width, offset)?
            .iter()
            .fold(0u64, |value, byte| (value << 8) | u64::from(*byte));
        Ok(Head {
            offset,
            major,
            info,
            argument: Some(argument),
        })
    }

    fn item(&mut self, depth: usize) -> Result<Value, CborError> {
        let head = self.head()?;
        match (head.major, head.argument) {
            (MAJOR_UNSIGNED, Some(value)) => Ok(Value::from(value)),
            (MAJOR_NEGATIVE, Some(value)) => Ok(negative(value)),
            (MAJOR_BYTES, _) => {
                let bytes = self.string(head)?;
                Ok(Value::String(BASE64.encode(bytes)))
            }
            (MAJOR_TEXT, _) => Ok(Value::String(self.text(head)?)),
            (MAJOR_ARRAY, length) => {
                let depth = self.nested(depth, head)?;
                self.array(head, length, depth)
            }
            (MAJOR_MAP, length) => {
                let depth = self.nested(depth, head)?;
                self.map(head, length, depth)
            }
            (MAJOR_TAG, Some(tag)) => {
                let depth = self.nested(depth, head)?;
                let content = self.item(depth)?;
                if tag == 1 && !content.is_number() {
                    return Err(CborError::BadEpochTime {
                        offset: head.offset,
                        found: crate::json::json_kind(&content),
                    });
                }
                Ok(content)
            }
            _ => self.simple(head),
        }
    }

    fn nested(&self, depth: usize, head: Head) -> Result<usize, CborError> {
        if depth >= MAX_DEPTH {
            return Err(CborError::TooDeep {
                offset: head.offset,
            });
        }
        Ok(depth + 1)
    }

    /// The bytes of a byte or text string, joining the chunks of an indefinite-length one.
    fn string(&mut self, head: Head) -> Result<Vec<u8>, CborError> {
        if let Some(length) = head.argument {
            return Ok(self.take(length, head.offset)?.to_vec());
        }
        let mut joined = Vec::new();
        while !self.at_break(head.offset)? {
            let chunk = self.head()?;
            let (true, Some(length)) = (chunk.major == head.major, chunk.argument) else {
                return Err(CborError::BadChunk {
                    offset: chunk.offset,
                });
            };
            let bytes = self.take(length, chunk.offset)?;
            if head.major == MAJOR_TEXT && std::str::from_utf8(bytes).is_err() {
                return Err(CborError::InvalidUtf8 {
                    offset: chunk.offset,
                });
            }
            joined.extend_from_slice(bytes);
        }
        Ok(joined)
    }

    fn text(&mut self, head: Head) -> Result<String, CborError> {
        let bytes = self.string(head)?;
        String::from_utf8(bytes).map_err(|_| CborError::InvalidUtf8 {
            offset: head.offset,
        })
    }

    fn array(&mut self, head: Head, length: Option<u64>, depth: usize) -> Result<Value, CborError> {
        let mut items = Vec::new();
        match length {
            Some(length) => {
                // Every item takes at least one byte, so this bounds the allocation.
                let bounded = usize::try_from(length).map_or(usize::MAX, |n| n);
                items.reserve(bounded.min(self.remaining()));
                for _ in 0..length {
                    items.push(self.item(depth)?);
                }
            }
            None => {
                while !self.at_break(head.offset)? {
                    items.push(self.item(depth)?);
                }
            }
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, head: Head, length: Option<u64>, depth: usize) -> Result<Value, CborError> {
        let mut entries = Map::new();
        let mut entry = |decoder: &mut Self| -> Result<(), CborError> {
            let key_head = decoder.head()?;
            if key_head.major != MAJOR_TEXT {
                let found = match key_head.major {
                    MAJOR_UNSIGNED | MAJOR_NEGATIVE => "an integer",
                    MAJOR_BYTES => "a byte string",
                    MAJOR_ARRAY => "an array",
                    MAJOR_MAP => "a map",
                    MAJOR_TAG => "a tag",
                    _ if key_head.argument.is_none() => "a break code",
                    _ => "a simple value or float",
                };
                return Err(CborError::NonTextKey {
                    offset: key_head.offset,
                    found,
                });
            }
            let key = decoder.text(key_head)?;
            let value = decoder.item(depth)?;
            if entries.contains_key(&key) {
                return Err(CborError::DuplicateKey {
                    offset: key_head.offset,
                    key: key.chars().take(100).collect(),
                });
            }
            entries.insert(key, value);
            Ok(())
        };
        match length {
            Some(length) => {
                for _ in 0..length {
                    entry(self)?;
                }
            }
            None => {
                while !self.at_break(head.offset)? {
                    entry(self)?;
                }
            }
        }
        Ok(Value::Object(entries))
    }

    /// Major type 7: simple values and floats.
    fn simple(&mut self, head: Head) -> Result<Value, CborError> {
        debug_assert_eq!(head.major, MAJOR_SIMPLE);
        let Some(argument) = head.argument else {
            return Err(CborError::UnexpectedBreak {
                offset: head.offset,
            });
        };
        match head.info {
            20 => Ok(Value::Bool(false)),
            21 => Ok(Value::Bool(true)),
            22 | 23 => Ok(Value::Null),
            25 => Ok(float_value(half_to_f64(
                u16::try_from(argument).unwrap_or(0),
            ))),
            26 => Ok(float_value(f64::from(f32::from_bits(
                u32::try_from(argument).unwrap_or(0),
            )))),
            27 => Ok(float_value(f64::from_bits(argument))),
            _ => Err(CborError::UnsupportedSimple {
                offset: head.offset,
                value: u8::try_from(argument).unwrap_or(u8::MAX),
            }),
        }
    }
}

/// CBOR negative integer `-1 - n`.
fn negative(n: u64) -> Value {
    match i64::try_from(n) {
        Ok(n) => Value::from(-1 - n),
        #[allow(clippy::cast_precision_loss)]
        Err(_) => float_value(-1.0 - n as f64),
    }
}

/// IEEE 754 binary16 → f64.
fn half_to_f64(bits: u16) -> f64 {
    let exponent = i32::from((bits >> 10) & 0x1f);
    let mantissa = f64::from(bits & 0x3ff);
    let magnitude = match exponent {
        0 => mantissa * 2f64.powi(-24),
        31 if mantissa == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (mantissa + 1024.0) * 2f64.powi(exponent - 25),
    };
    if bits & 0x8000 == 0 {
        magnitude
    } else {
        -magnitude
    }
}

/// A float as awsJson carries it: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub(crate) fn float_value(value: f64) -> Value {
    match Number::from_f64(value) {
        Some(number) => Value::Number(number),
        None if value.is_nan() => Value::String("NaN".to_owned()),
        None if value > 0.0 => Value::String("Infinity".to_owned()),
        None => Value::String("-Infinity".to_owned()),
    }
}

/// `"NaN"`, `"Infinity"`, `"-Infinity"` → the float they name.
pub(crate) fn special_float(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// Appends CBOR items with minimal-length heads and definite lengths.
#[derive(Debug, Default)]
struct CborWriter {
    out: Vec<u8>,
}

impl CborWriter {
    fn head(&mut self, major: u8, argument: u64) {
        let major = major << 5;
        match argument {
            0..=23 => self.out.push(major | u8::try_from(argument).unwrap_or(0)),
            24..=0xff => {
                self.out.push(major | 24);
                self.out.extend_from_slice(&argument.to_be_bytes()[7..]);
            }
            0x100..=0xffff => {
                self.out.push(major | 25);
                self.out.extend_from_slice(&argument.to_be_bytes()[6..]);
            }
            0x1_0000..=0xffff_ffff => {
                self.out.push(major | 26);
                self.out.extend_from_slice(&argument.to_be_bytes()[4..]);
            }
            _ => {
                self.out.push(major | 27);
                self.out.extend_from_slice(&argument.to_be_bytes());
            }
        }
    }

    fn length(&mut self, major: u8, length: usize) {
        self.head(major, u64::try_from(length).unwrap_or(u64::MAX));
    }

    fn int(&mut self, value: i64) {
        match u64::try_from(value) {
            Ok(unsigned) => self.head(MAJOR_UNSIGNED, unsigned),
            // -1 - value is non-negative for a negative value, and cannot overflow.
            Err(_) => self.head(MAJOR_NEGATIVE, u64::try_from(-1 - value).unwrap_or(0)),
        }
    }

    fn float64(&mut self, value: f64) {
        self.out.push((MAJOR_SIMPLE << 5) | 27);
        self.out.extend_from_slice(&value.to_bits().to_be_bytes());
    }

    fn text(&mut self, text: &str) {
        self.length(MAJOR_TEXT, text.len());
        self.out.extend_from_slice(text.as_bytes());
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.length(MAJOR_BYTES, bytes.len());
        self.out.extend_from_slice(bytes);
    }

    fn bool(&mut self, value: bool) {
        self.out
            .push((MAJOR_SIMPLE << 5) | if value { 21 } else { 20 });
    }

    fn null(&mut self) {
        self.out.push((MAJOR_SIMPLE << 5) | 22);
    }

    fn number(&mut self, number: &Number) {
        if let Some(unsigned) = number.as_u64() {
            self.head(MAJOR_UNSIGNED, unsigned);
        } else if let Some(signed) = number.as_i64() {
            self.int(signed);
        } else {
            self.float64(number.as_f64().unwrap_or(f64::NAN));
        }
    }

    /// Any JSON value, without a shape: numbers as integers when they are, else float64.
    fn json(&mut self, value: &Value) {
        match value {
            Value::Null => self.null(),
            Value::Bool(flag) => self.bool(*flag),
            Value::Number(number) => self.number(number),
            Value::String(text) => self.text(text),
            Value::Array(items) => {
                self.length(MAJOR_ARRAY, items.len());
                items.iter().for_each(|item| self.json(item));
            }
            Value::Object(entries) => {
                self.length(MAJOR_MAP, entries.len());
                for (key, item) in entries {
                    self.text(key);
                    self.json(item);
                }
            }
        }
    }
}

impl ServiceModel {
    /// Encodes an operation's output (awsJson-shaped) as CBOR, directed by its output shape:
    /// structures keep their present non-null members (unknown ones encoded without a shape),
    /// doubles become float64, timestamps tag 1 with float64 epoch seconds (from a number or
    /// an ISO 8601 string), blobs byte strings from their base64 text. Null list elements and
    /// map values are left out. An operation without an output shape encodes `{}`.
    pub fn encode_cbor(&self, operation: &str, output: &Value) -> Vec<u8> {
        let mut writer = CborWriter::default();
        match self.output_shape(operation) {
            Some(shape) => self.encode_shaped(&mut writer, &ShapeRef::to(shape), output),
            None => writer.length(MAJOR_MAP, 0),
        }
        writer.out
    }

    /// A 200 Smithy RPC v2 CBOR response carrying [`ServiceModel::encode_cbor`] of `output`.
    pub fn cbor_response(
        &self,
        operation: &str,
        output: &Value,
        request_id: &str,
    ) -> Response<Bytes> {
        cbor_http_response(
            StatusCode::OK,
            self.encode_cbor(operation, output),
            request_id,
        )
    }

    fn encode_shaped(&self, writer: &mut CborWriter, reference: &ShapeRef, value: &Value) {
        match (self.shape(&reference.shape), value) {
            (Shape::Structure { members, .. }, Value::Object(entries)) => {
                let known = |name: &str| members.iter().any(|(member, _)| member == name);
                let present = entries.values().filter(|item| !item.is_null()).count();
                writer.length(MAJOR_MAP, present);
                for (member, member_ref) in members {
                    if let Some(item) = entries.get(member).filter(|item| !item.is_null()) {
                        writer.text(member);
                        self.encode_shaped(writer, member_ref, item);
                    }
                }
                for (key, item) in entries {
                    if !item.is_null() && !known(key) {
                        writer.text(key);
                        writer.json(item);
                    }
                }
            }
            (Shape::List { member, .. }, Value::Array(items)) => {
                let present = items.iter().filter(|item| !item.is_null()).count();
                writer.length(MAJOR_ARRAY, present);
                for item in items.iter().filter(|item| !item.is_null()) {
                    self.encode_shaped(writer, member, item);
                }
            }
            (
                Shape::Map {
                    value: value_ref, ..
                },
                Value::Object(entries),
            ) => {
                let present = entries.values().filter(|item| !item.is_null()).count();
                writer.length(MAJOR_MAP, present);
                for (key, item) in entries.iter().filter(|(_, item)| !item.is_null()) {
                    writer.text(key);
                    self.encode_shaped(writer, value_ref, item);
                }
            }
            (Shape::Integer { .. }, Value::Number(number)) => match number.as_f64() {
                Some(float)
                    if number.as_i64().is_none()
                        && number.as_u64().is_none()
                        && float.fract() == 0.0
                        && float.abs() < 9e18 =>
                {
                    #[allow(clippy::cast_possible_truncation)]
                    writer.int(float as i64);
                }
                _ => writer.number(number),
            },
            (Shape::Float { .. }, Value::Number(number)) => {
                writer.float64(number.as_f64().unwrap_or(f64::NAN));
            }
            (Shape::Float { .. }, Value::String(text)) if special_float(text).is_some() => {
                writer.float64(special_float(text).unwrap_or(f64::NAN));
            }
            (Shape::Timestamp, _) if timestamp_seconds(value).is_some() => {
                writer.head(MAJOR_TAG, 1);
                writer.float64(timestamp_seconds(value).unwrap_or(0.0));
            }
            (Shape::Blob, Value::String(text)) => match BASE64.decode(text) {
                Ok(bytes) => writer.bytes(&bytes),
                Err(_) => writer.bytes(text.as_bytes()),
            },
            _ => writer.json(value),
        }
    }
}

fn cbor_http_response(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(CBOR_CONTENT_TYPE));
    headers.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    headers.insert(REQUEST_ID_HEADER, header_value(request_id));
    response
}

/// A Smithy RPC v2 CBOR error: body `{"__type": code, "message": text}`, status from the
/// error, and — for an `awsQueryCompatible` service — `x-amzn-query-error: <code>;<fault>`.
pub fn cbor_error_response(
    err: &ApiError,
    request_id: &str,
    query_compatible: bool,
) -> Response<Bytes> {
    let mut writer = CborWriter::default();
    writer.length(MAJOR_MAP, 2);
    writer.text("__type");
    writer.text(&err.code);
    writer.text("message");
    writer.text(&err.message);
    let mut response = cbor_http_response(err.status, writer.out, request_id);
    if query_compatible {
        with_query_error_header(&mut response, err);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hex(text: &str) -> Vec<u8> {
        hex::decode(text.replace(' ', "")).expect("test hex")
    }

    fn decoded(text: &str) -> Value {
        decode(&hex(text)).expect("valid cbor")
    }

    fn error(text: &str) -> String {
        let err = decode(&hex(text)).expect_err("invalid cbor");
        assert_eq!(err.code, "SerializationException");
        err.message
    }

    /// Wraps one item as the value of key "a" in a one-entry map.
    fn in_map(item: &str) -> String {
        format!("a1 6161 {item}")
    }

    fn value_of(item: &str) -> Value {
        decoded(&in_map(item))["a"].clone()
    }

    #[test]
    fn rfc8949_appendix_a_scalars() {
        let cases: &[(&str, Value)] = &[
            ("00", json!(0)),
            ("17", json!(23)),
            ("1818", json!(24)),
            ("1903e8", json!(1000)),
            ("1a000f4240", json!(1_000_000)),
            ("1b000000e8d4a51000", json!(1_000_000_000_000_u64)),
            ("1bffffffffffffffff", json!(u64::MAX)),
            ("20", json!(-1)),
            ("3863", json!(-100)),
            ("3b7fffffffffffffff", json!(i64::MIN)),
            ("3bffffffffffffffff", json!(-18_446_744_073_709_551_616.0)),
            ("f90000", json!(0.0)),
            ("f93c00", json!(1.0)),
            ("f93e00", json!(1.5)),
            ("f97bff", json!(65504.0)),
            ("f90001", json!(5.960_464_477_539_063e-8)),
            ("f9c400", json!(-4.0)),
            ("fa47c35000", json!(100_000.0)),
            ("fb3ff199999999999a", json!(1.1)),
            ("fb7e37e43c8800759c", json!(1.0e300)),
            ("f97c00", json!("Infinity")),
            ("f97e00", json!("NaN")),
            ("f9fc00", json!("-Infinity")),
            ("fa7f800000", json!("Infinity")),
            ("fb7ff8000000000000", json!("NaN")),
            ("f4", json!(false)),
            ("f5", json!(true)),
            ("f6", json!(null)),
            ("f7", json!(null)),
            ("c11a514b67b0", json!(1_363_896_240)),
            ("c1fb41d452d9ec200000", json!(1_363_896_240.5)),
            ("d74401020304", json!("AQIDBA==")),
            ("40", json!("")),
            ("4401020304", json!("AQIDBA==")),
            ("60", json!("")),
            ("6449455446", json!("IETF")),
            ("62225c", json!("\"\\")),
            ("62c3bc", json!("\u{fc}")),
            ("64f0908591", json!("\u{10151}")),
            ("5f42010243030405ff", json!("AQIDBAU=")),
            ("7f657374726561646d696e67ff", json!("streaming")),
        ];
        for (item, expected) in cases {
            assert_eq!(&value_of(item), expected, "{item}");
        }
    }

    #[test]
    fn rfc8949_appendix_a_containers() {
        assert_eq!(value_of("80"), json!([]));
        assert_eq!(value_of("83010203"), json!([1, 2, 3]));
        assert_eq!(value_of("8301820203820405"), json!([1, [2, 3], [4, 5]]));
        assert_eq!(value_of("9fff"), json!([]));
        assert_eq!(value_of("9f018202039f0405ffff"), json!([1, [2, 3], [4, 5]]));
        assert_eq!(value_of("a26161016162820203"), json!({"a": 1, "b": [2, 3]}));
        assert_eq!(
            decoded("bf6346756ef563416d7421ff"),
            json!({"Fun": true, "Amt": -2})
        );
        assert_eq!(
            value_of("a56161614161626142616361436164614461656145"),
            json!({"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"})
        );
        assert_eq!(decoded(""), json!({}));
        assert_eq!(decoded("a0"), json!({}));
        assert_eq!(decoded("bf7f6161ff01ff"), json!({"a": 1}));
    }

    #[test]
    fn malformed_bodies_say_what_and_where() {
        let cases: &[(&str, &str)] = &[
            (
                "a1 6161",
                "truncated: the item at byte 3 needs 1 more bytes",
            ),
            (
                "a1 6561",
                "truncated: the item at byte 1 needs 5 more bytes",
            ),
            (
                "a1 6161 19 01",
                "truncated: the item at byte 3 needs 2 more bytes",
            ),
            (
                "a1 6161 5b ffffffffffffffff",
                "needs 18446744073709551615 more bytes",
            ),
            (
                "a1 6161 9b 00000000ffffffff",
                "truncated: the item at byte 12 needs 1",
            ),
            (
                "a1 6161 9f 01",
                "truncated: the item at byte 3 needs 1 more bytes",
            ),
            (
                "a1 6161 1c",
                "byte 3 uses reserved additional information 28",
            ),
            ("a1 6161 ff", "byte 3 is a break code outside"),
            (
                "a1 6161 1f",
                "byte 3 of major type 0 cannot have an indefinite length",
            ),
            (
                "a1 6161 df 00",
                "major type 6 cannot have an indefinite length",
            ),
            (
                "a1 6161 5f 6161 ff",
                "chunk at byte 4 of an indefinite-length string",
            ),
            ("a1 6161 7f 7f ff ff", "chunk at byte 4"),
            (
                "a1 6161 62 c328",
                "text string at byte 3 is not valid utf-8",
            ),
            (
                "a1 6161 7f 61c3 61bc ff",
                "text string at byte 4 is not valid utf-8",
            ),
            (
                "a1 01 02",
                "map key at byte 1 must be a text string, got an integer",
            ),
            ("a1 41 61 02", "got a byte string"),
            ("a2 6161 01 6161 02", "map at byte 4 repeats the key 'a'"),
            ("a1 6161 f0", "byte 3 is the unsupported simple value 16"),
            ("a1 6161 f8 20", "unsupported simple value 32"),
            (
                "a1 6161 c1 6161",
                "tag 1 (epoch time) at byte 3 must hold a number, got string",
            ),
            ("80", "must be a map, got array"),
            ("01", "must be a map, got number"),
            (
                "a0 00",
                "1 trailing bytes after the top-level item, from byte 1",
            ),
        ];
        for (input, expected) in cases {
            let message = error(input);
            assert!(message.contains(expected), "{input}: {message}");
            assert!(
                message.starts_with("cbor") || message.starts_with("chunk"),
                "{message}"
            );
        }
    }

    #[test]
    fn depth_is_bounded() {
        let within = format!("a1 6161 {} 00", "81".repeat(MAX_DEPTH - 1));
        assert!(decode(&hex(&within)).is_ok());
        let beyond = format!("a1 6161 {} 00", "81".repeat(MAX_DEPTH));
        assert!(error(&beyond).contains("nests deeper than 64 levels"));
        let tags = format!("a1 6161 {} 00", "c2".repeat(1000));
        assert!(error(&tags).contains("nests deeper"));
        let indefinite = "9f".repeat(100_000);
        assert!(decode(&hex(&format!("a1 6161 {indefinite}"))).is_err());
    }

    #[test]
    fn writer_uses_minimal_heads() {
        let mut writer = CborWriter::default();
        for value in [
            0,
            23,
            24,
            255,
            256,
            65535,
            65536,
            4_294_967_295,
            4_294_967_296,
            -1,
            -24,
            -25,
            -256,
            -257,
            i64::MIN,
        ] {
            writer.int(value);
        }
        assert_eq!(
            hex::encode(&writer.out),
            "0017181818ff190100 19ffff 1a00010000 1affffffff 1b0000000100000000 20 37 3818 38ff 390100 3b7fffffffffffffff"
                .replace(' ', "")
        );
        let mut writer = CborWriter::default();
        writer.json(&json!({"a": [1.5, -2, "x", null, true], "b": {}}));
        let round_trip = decode(&writer.out).expect("own output decodes");
        assert_eq!(
            round_trip,
            json!({"a": [1.5, -2, "x", null, true], "b": {}})
        );
    }

    #[test]
    fn error_response_shape() {
        let err = ApiError::new(
            "ResourceNotFound",
            StatusCode::NOT_FOUND,
            "no such dashboard",
        );
        let response = cbor_error_response(&err, "rid", true);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/cbor");
        assert_eq!(response.headers()["smithy-protocol"], "rpc-v2-cbor");
        assert_eq!(response.headers()["x-amzn-requestid"], "rid");
        assert_eq!(
            response.headers()["x-amzn-query-error"],
            "ResourceNotFound;Sender"
        );
        assert_eq!(
            decode(response.body()).expect("cbor body"),
            json!({"__type": "ResourceNotFound", "message": "no such dashboard"})
        );
        let internal = cbor_error_response(&ApiError::internal(), "rid", true);
        assert_eq!(
            internal.headers()["x-amzn-query-error"],
            "InternalFailure;Receiver"
        );
        let plain = cbor_error_response(&err, "rid", false);
        assert!(plain.headers().get("x-amzn-query-error").is_none());
    }
}
