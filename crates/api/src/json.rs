//! awsJson 1.0 / 1.1 framing: request bodies in, responses and errors out.
//!
//! Requests are `POST /` with `X-Amz-Target` and a JSON object body (an empty body means
//! `{}`). Responses carry `content-type: application/x-amz-json-1.x` and `x-amzn-RequestId`;
//! errors are `{"__type": code, "message": text}` with the code repeated in
//! `x-amzn-ErrorType`, which is what botocore reads. For an `awsQueryCompatible` service
//! (one that used to speak awsQuery, such as CloudWatch) [`with_query_error_header`] adds
//! `x-amzn-query-error: <code>;<Sender|Receiver>`, from which botocore takes the query code.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};

use crate::error::ApiError;
use crate::protocol::Protocol;

/// The header that carries the request id on JSON responses.
pub const REQUEST_ID_HEADER: &str = "x-amzn-requestid";
/// The header that repeats the error code on JSON error responses.
pub const ERROR_TYPE_HEADER: &str = "x-amzn-errortype";
/// The header that carries the awsQuery code and fault of an `awsQueryCompatible` service.
pub const QUERY_ERROR_HEADER: &str = "x-amzn-query-error";

/// A JSON response with the protocol's content type and the request id header.
pub fn json_response(
    status: StatusCode,
    body: &serde_json::Value,
    request_id: &str,
    protocol: Protocol,
) -> Response<Bytes> {
    // Serialising a `Value` cannot fail: its map keys are always strings.
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Bytes::from(bytes));
    *response.status_mut() = status;
    let content_type = protocol
        .json_content_type()
        .unwrap_or("application/x-amz-json-1.1");
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(REQUEST_ID_HEADER, header_value(request_id));
    response
}

/// A JSON error response: `{"__type": code, "message": text}`, status from the error,
/// `x-amzn-ErrorType` and `x-amzn-RequestId` headers.
pub fn json_error_response(
    err: &ApiError,
    request_id: &str,
    protocol: Protocol,
) -> Response<Bytes> {
    let body = serde_json::json!({ "__type": err.code, "message": err.message });
    let mut response = json_response(err.status, &body, request_id, protocol);
    response
        .headers_mut()
        .insert(ERROR_TYPE_HEADER, header_value(&err.code));
    response
}

/// Adds `x-amzn-query-error: <code>;<Sender|Receiver>` (`Receiver` for 5xx) to an error
/// response of an `awsQueryCompatible` service.
pub fn with_query_error_header(response: &mut Response<Bytes>, err: &ApiError) {
    let fault = if err.is_sender_fault() {
        "Sender"
    } else {
        "Receiver"
    };
    response.headers_mut().insert(
        QUERY_ERROR_HEADER,
        header_value(&format!("{};{fault}", err.code)),
    );
}

/// Parses an awsJson request body: empty means `{}`; anything but a JSON object is a
/// `SerializationException`.
pub fn parse_json_body(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Object(serde_json::Map::new()));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|err| ApiError::serialization(format!("request body is not valid json: {err}")))?;
    if !value.is_object() {
        return Err(ApiError::serialization(format!(
            "request body must be a json object, got {}",
            json_kind(&value)
        )));
    }
    Ok(value)
}

/// `string`, `number`, `array`, ... for messages.
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// A header value from arbitrary text; characters HTTP forbids are replaced by `?`.
pub(crate) fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| {
        let cleaned: String = text
            .chars()
            .map(|c| {
                if c == '\t' || (' '..='~').contains(&c) {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        HeaderValue::from_str(&cleaned).unwrap_or_else(|_| HeaderValue::from_static(""))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_shape_matches_botocore_expectations() {
        let err = ApiError::client("TrailNotFoundException", "Unknown trail: x");
        let response = json_error_response(&err, "req-1", Protocol::AwsJson11);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "application/x-amz-json-1.1"
        );
        assert_eq!(
            response.headers()["x-amzn-ErrorType"],
            "TrailNotFoundException"
        );
        assert_eq!(response.headers()["x-amzn-RequestId"], "req-1");
        let body: serde_json::Value = serde_json::from_slice(response.body()).expect("json body");
        assert_eq!(
            body,
            serde_json::json!({"__type": "TrailNotFoundException", "message": "Unknown trail: x"})
        );
    }

    #[test]
    fn query_error_header() {
        let err = ApiError::client("InvalidParameterValue", "bad period");
        let mut response = json_error_response(&err, "r", Protocol::AwsJson10);
        with_query_error_header(&mut response, &err);
        assert_eq!(
            response.headers()["x-amzn-query-error"],
            "InvalidParameterValue;Sender"
        );
        let internal = ApiError::internal();
        let mut response = json_error_response(&internal, "r", Protocol::AwsJson10);
        with_query_error_header(&mut response, &internal);
        assert_eq!(
            response.headers()["x-amzn-query-error"],
            "InternalFailure;Receiver"
        );
    }

    #[test]
    fn response_content_type_follows_protocol() {
        let response = json_response(
            StatusCode::OK,
            &serde_json::json!({"a": 1}),
            "r",
            Protocol::AwsJson10,
        );
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "application/x-amz-json-1.0"
        );
        assert_eq!(response.body().as_ref(), br#"{"a":1}"#);
    }

    #[test]
    fn bad_request_id_does_not_panic() {
        let response = json_response(
            StatusCode::OK,
            &serde_json::json!({}),
            "bad\nid\u{7f}é",
            Protocol::AwsJson11,
        );
        assert_eq!(response.headers()[REQUEST_ID_HEADER], "bad?id??");
    }

    #[test]
    fn parse_body_cases() {
        assert_eq!(parse_json_body(b"").expect("empty"), serde_json::json!({}));
        assert_eq!(
            parse_json_body(b" \n").expect("blank"),
            serde_json::json!({})
        );
        assert_eq!(
            parse_json_body(br#"{"Name":"t"}"#).expect("object"),
            serde_json::json!({"Name": "t"})
        );
        let err = parse_json_body(b"{\"Name\":").expect_err("truncated");
        assert_eq!(err.code, "SerializationException");
        assert!(err.message.contains("not valid json"), "{}", err.message);
        let err = parse_json_body(b"[1]").expect_err("array");
        assert_eq!(err.code, "SerializationException");
        assert!(err.message.contains("got array"), "{}", err.message);
        let deep = "[".repeat(100_000);
        assert!(parse_json_body(deep.as_bytes()).is_err());
        assert!(parse_json_body(b"\xff\xfe").is_err());
    }
}
