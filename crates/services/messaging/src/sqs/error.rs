//! [`SqsError`]: every failure of an SQS call, with the two codes AWS gives it.
//!
//! SQS moved from the query protocol to awsJson but kept its old error codes: a JSON error
//! carries the shape name in `__type` (`com.amazonaws.sqs#QueueDoesNotExist`, which botocore
//! maps to the modeled exception) and the query code in `x-amzn-query-error`
//! (`AWS.SimpleQueueService.NonExistentQueue;Sender`, which becomes `Error.Code`). Query
//! protocol errors carry the query code only. Messages copy AWS's wording.

use http::{HeaderValue, Response, StatusCode};
use opentrail_api::{ApiError, Protocol};

use bytes::Bytes;

/// The XML namespace of SQS query responses.
pub const XMLNS: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

/// A failed SQS call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SqsError {
    #[error("The specified queue does not exist.")]
    QueueDoesNotExist,
    #[error("{0}")]
    QueueNameExists(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("The request must contain the parameter {0}.")]
    MissingParameter(String),
    #[error("Unknown Attribute {0}.")]
    InvalidAttributeName(String),
    #[error("{0}")]
    InvalidAttributeValue(String),
    #[error("{0}")]
    ReceiptHandleIsInvalid(String),
    #[error(
        "Value {0} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
    )]
    MessageNotInflight(String),
    #[error("There should be at least one {0}RequestEntry in the request.")]
    EmptyBatchRequest(String),
    #[error("Id {0} repeated.")]
    BatchEntryIdsNotDistinct(String),
    #[error("Maximum number of entries per request are 10. You have sent {0}.")]
    TooManyEntriesInBatchRequest(usize),
    #[error(
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."
    )]
    InvalidBatchEntryId,
    #[error("Batch requests cannot be longer than {limit} bytes. You have sent {sent} bytes.")]
    BatchRequestTooLong { limit: usize, sent: usize },
    #[error("{0}")]
    InvalidMessageContents(String),
    #[error("Only one PurgeQueue operation on {0} is allowed every 60 seconds.")]
    PurgeQueueInProgress(String),
    #[error("{0}")]
    OverLimit(String),
    #[error("{0}")]
    InvalidParameterCombination(String),
    #[error("{0}")]
    UnsupportedOperation(String),
    #[error("{0}")]
    InvalidAddress(String),
    #[error("{0}")]
    ResourceNotFound(String),
    /// Model validation failures and other generic client errors (code, message).
    #[error("{1}")]
    Generic(String, String),
    /// A storage failure; logged, then answered as a 500.
    #[error("an internal error occurred")]
    Internal,
}

impl SqsError {
    /// The error shape name (`__type` in JSON).
    pub fn shape_name(&self) -> &str {
        match self {
            SqsError::QueueDoesNotExist => "QueueDoesNotExist",
            SqsError::QueueNameExists(_) => "QueueNameExists",
            SqsError::InvalidParameterValue(_) => "InvalidParameterValue",
            SqsError::MissingParameter(_) => "MissingParameter",
            SqsError::InvalidAttributeName(_) => "InvalidAttributeName",
            SqsError::InvalidAttributeValue(_) => "InvalidAttributeValue",
            SqsError::ReceiptHandleIsInvalid(_) => "ReceiptHandleIsInvalid",
            SqsError::MessageNotInflight(_) => "MessageNotInflight",
            SqsError::EmptyBatchRequest(_) => "EmptyBatchRequest",
            SqsError::BatchEntryIdsNotDistinct(_) => "BatchEntryIdsNotDistinct",
            SqsError::TooManyEntriesInBatchRequest(_) => "TooManyEntriesInBatchRequest",
            SqsError::InvalidBatchEntryId => "InvalidBatchEntryId",
            SqsError::BatchRequestTooLong { .. } => "BatchRequestTooLong",
            SqsError::InvalidMessageContents(_) => "InvalidMessageContents",
            SqsError::PurgeQueueInProgress(_) => "PurgeQueueInProgress",
            SqsError::OverLimit(_) => "OverLimit",
            SqsError::InvalidParameterCombination(_) => "InvalidParameterCombination",
            SqsError::UnsupportedOperation(_) => "UnsupportedOperation",
            SqsError::InvalidAddress(_) => "InvalidAddress",
            SqsError::ResourceNotFound(_) => "ResourceNotFoundException",
            SqsError::Generic(code, _) => code,
            SqsError::Internal => "InternalFailure",
        }
    }

    /// The query-protocol code (`Error.Code` as clients see it).
    pub fn query_code(&self) -> &str {
        match self {
            SqsError::QueueDoesNotExist => "AWS.SimpleQueueService.NonExistentQueue",
            SqsError::QueueNameExists(_) => "QueueAlreadyExists",
            SqsError::MessageNotInflight(_) => "AWS.SimpleQueueService.MessageNotInflight",
            SqsError::EmptyBatchRequest(_) => "AWS.SimpleQueueService.EmptyBatchRequest",
            SqsError::BatchEntryIdsNotDistinct(_) => {
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
            }
            SqsError::TooManyEntriesInBatchRequest(_) => {
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
            }
            SqsError::InvalidBatchEntryId => "AWS.SimpleQueueService.InvalidBatchEntryId",
            SqsError::BatchRequestTooLong { .. } => "AWS.SimpleQueueService.BatchRequestTooLong",
            SqsError::PurgeQueueInProgress(_) => "AWS.SimpleQueueService.PurgeQueueInProgress",
            SqsError::UnsupportedOperation(_) => "AWS.SimpleQueueService.UnsupportedOperation",
            other => other.shape_name(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            SqsError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            SqsError::OverLimit(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The error as the recorder and the query protocol see it.
    pub fn to_api_error(&self) -> ApiError {
        ApiError::new(self.query_code(), self.status(), self.to_string())
    }

    /// Renders the error in `protocol`.
    pub fn response(&self, protocol: Protocol, request_id: &str) -> Response<Bytes> {
        if protocol == Protocol::AwsQuery {
            return opentrail_api::query_error_response(&self.to_api_error(), request_id, XMLNS);
        }
        let typed = ApiError::new(
            format!("com.amazonaws.sqs#{}", self.shape_name()),
            self.status(),
            self.to_string(),
        );
        let mut response = opentrail_api::json_error_response(&typed, request_id, protocol);
        let fault = if self.status().is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        if let Ok(value) = HeaderValue::from_str(&format!("{};{fault}", self.query_code())) {
            response.headers_mut().insert("x-amzn-query-error", value);
        }
        response
    }
}

/// An error that is not one of [`SqsError`]'s (a refused call) in SQS's shape: the query
/// error, or the JSON error with its `x-amzn-query-error` header.
pub fn api_error_response(err: &ApiError, protocol: Protocol, request_id: &str) -> Response<Bytes> {
    if protocol == Protocol::AwsQuery {
        return opentrail_api::query_error_response(err, request_id, XMLNS);
    }
    let typed = ApiError::new(
        format!("com.amazonaws.sqs#{}", err.code),
        err.status,
        err.message.clone(),
    );
    let mut response = opentrail_api::json_error_response(&typed, request_id, protocol);
    if let Ok(value) = HeaderValue::from_str(&format!("{};Sender", err.code)) {
        response.headers_mut().insert("x-amzn-query-error", value);
    }
    response
}

impl opentrail_core::pipeline::ServiceError for SqsError {
    fn to_api(&self) -> ApiError {
        self.to_api_error()
    }
}

impl From<ApiError> for SqsError {
    fn from(err: ApiError) -> Self {
        if err.status.is_server_error() {
            return SqsError::Internal;
        }
        SqsError::Generic(err.code, err.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_error_carries_shape_and_query_code() {
        let response = SqsError::QueueDoesNotExist.response(Protocol::AwsJson10, "rid");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()["x-amzn-query-error"],
            "AWS.SimpleQueueService.NonExistentQueue;Sender"
        );
        let body: serde_json::Value = serde_json::from_slice(response.body()).expect("json");
        assert_eq!(body["__type"], "com.amazonaws.sqs#QueueDoesNotExist");
        assert_eq!(body["message"], "The specified queue does not exist.");
    }

    #[test]
    fn query_error_uses_query_code() {
        let response = SqsError::QueueNameExists("x".into()).response(Protocol::AwsQuery, "r");
        let text = String::from_utf8(response.body().to_vec()).expect("utf8");
        assert!(text.contains("<Code>QueueAlreadyExists</Code>"), "{text}");
        assert!(text.contains(XMLNS), "{text}");
    }
}
