//! [`ApiError`]: the wire-level failure every protocol module renders.
//!
//! An `ApiError` carries exactly what a client sees: the AWS error code (`__type` in awsJson,
//! `<Code>` in XML), a human message and the HTTP status. Service layers convert their own
//! error enums into it at the edge.

use http::StatusCode;

/// An AWS-shaped error: code, message and HTTP status.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// AWS error code, e.g. `TrailNotFoundException` or `NoSuchKey`.
    pub code: String,
    /// Human-readable message sent to the client.
    pub message: String,
    /// HTTP status of the response.
    pub status: StatusCode,
}

impl ApiError {
    /// An error with an explicit code, status and message.
    pub fn new(code: impl Into<String>, status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            status,
        }
    }

    /// A 400 error caused by the client.
    pub fn client(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(code, StatusCode::BAD_REQUEST, message)
    }

    /// The generic 500 `InternalFailure`; log the cause before returning it.
    pub fn internal() -> Self {
        Self::new(
            "InternalFailure",
            StatusCode::INTERNAL_SERVER_ERROR,
            "an internal error occurred",
        )
    }

    /// A 400 `ValidationException`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::client("ValidationException", message)
    }

    /// A 400 `SerializationException`: the body could not be decoded into the input shape.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::client("SerializationException", message)
    }

    /// Whether the fault lies with the sender (4xx) rather than the server (5xx).
    pub fn is_sender_fault(&self) -> bool {
        !self.status.is_server_error()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            self.status.as_u16(),
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_set_code_and_status() {
        let internal = ApiError::internal();
        assert_eq!(internal.code, "InternalFailure");
        assert_eq!(internal.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(internal.message, "an internal error occurred");
        assert!(!internal.is_sender_fault());

        let validation = ApiError::validation("bad");
        assert_eq!(validation.code, "ValidationException");
        assert_eq!(validation.status, StatusCode::BAD_REQUEST);
        assert!(validation.is_sender_fault());

        let client = ApiError::client("TrailNotFoundException", "no trail");
        assert_eq!(client.to_string(), "TrailNotFoundException (400): no trail");
    }
}
