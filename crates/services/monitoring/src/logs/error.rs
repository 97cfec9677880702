//! [`LogsError`]: every failure of a CloudWatch Logs call, with its AWS code and status.
//!
//! Messages copy AWS's wording (they end with a period where AWS's do), because clients and
//! tests compare them.

use std::sync::atomic::{AtomicBool, Ordering};

use http::StatusCode;
use opentrail_api::ApiError;

/// A failed CloudWatch Logs call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LogsError {
    #[error("The specified log group already exists")]
    LogGroupExists,
    #[error("The specified log stream already exists")]
    LogStreamExists,
    #[error("The specified log group does not exist.")]
    LogGroupNotFound,
    #[error("The specified log stream does not exist.")]
    LogStreamNotFound,
    #[error("The specified metric filter does not exist.")]
    MetricFilterNotFound,
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    InvalidOperation(String),
    #[error("{0} is not supported by this server")]
    Unsupported(String),
    /// A request that does not decode, or names no Logs operation: answered as it is.
    #[error("{}", .0.message)]
    Wire(ApiError),
    /// A storage failure; logged, then answered as a 500.
    #[error("an internal error occurred: {0}")]
    Internal(String),
}

impl LogsError {
    /// The AWS error code (`__type`).
    pub fn code(&self) -> &'static str {
        match self {
            LogsError::LogGroupExists | LogsError::LogStreamExists => {
                "ResourceAlreadyExistsException"
            }
            LogsError::LogGroupNotFound
            | LogsError::LogStreamNotFound
            | LogsError::MetricFilterNotFound
            | LogsError::ResourceNotFound(_) => "ResourceNotFoundException",
            LogsError::InvalidParameter(_) => "InvalidParameterException",
            LogsError::LimitExceeded(_) => "LimitExceededException",
            LogsError::InvalidOperation(_) => "InvalidOperationException",
            LogsError::Unsupported(_) => "UnsupportedOperationException",
            LogsError::Wire(_) => "SerializationException",
            LogsError::Internal(_) => "ServiceUnavailableException",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            LogsError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The wire error.
    pub fn to_api(&self) -> ApiError {
        match self {
            LogsError::Internal(_) => ApiError::internal(),
            LogsError::Wire(err) => err.clone(),
            other => ApiError::new(other.code(), other.status(), other.to_string()),
        }
    }
}

impl opentrail_core::pipeline::ServiceError for LogsError {
    fn to_api(&self) -> ApiError {
        LogsError::to_api(self)
    }
}

impl From<ApiError> for LogsError {
    /// Model validation failures: CloudWatch Logs answers them as InvalidParameterException
    /// with the same "N validation errors detected" text.
    fn from(err: ApiError) -> LogsError {
        if err.status.is_server_error() {
            return LogsError::Internal(err.message);
        }
        LogsError::InvalidParameter(err.message)
    }
}

impl From<opentrail_meta::MetaError> for LogsError {
    fn from(err: opentrail_meta::MetaError) -> LogsError {
        LogsError::Internal(err.to_string())
    }
}

impl From<fjall::Error> for LogsError {
    fn from(err: fjall::Error) -> LogsError {
        LogsError::Internal(err.to_string())
    }
}

/// `result` of a write, marking the store `failed` when fjall poisoned it or the file system
/// failed it (a full disk).
pub(crate) fn written<T>(failed: &AtomicBool, result: fjall::Result<T>) -> Result<T, LogsError> {
    result.map_err(|err| {
        if matches!(
            err,
            fjall::Error::Poisoned | fjall::Error::Io(_) | fjall::Error::Storage(_)
        ) {
            failed.store(true, Ordering::Release);
        }
        LogsError::from(err)
    })
}
