//! [`CwError`]: every failure of a CloudWatch call, with the code, status and wording AWS uses.
//!
//! CloudWatch began as an awsQuery service and keeps its query-era codes (`ResourceNotFound`,
//! `InvalidParameterValue`, `ValidationError`) on every protocol; messages copy AWS's wording
//! because clients and tests compare them.

use http::StatusCode;
use opentrail_api::ApiError;

/// A failed CloudWatch call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CwError {
    /// A request member breaks a modelled constraint or a documented rule.
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    InvalidParameterCombination(String),
    #[error("{0}")]
    MissingParameter(String),
    /// An alarm (or another resource of the query era) that does not exist.
    #[error("{0}")]
    ResourceNotFound(String),
    /// A tagged resource that does not exist (TagResource and friends).
    #[error("{0}")]
    ResourceNotFoundException(String),
    #[error("{0}")]
    InvalidFormat(String),
    #[error("{0}")]
    InvalidNextToken(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0} is not supported by this server")]
    Unsupported(String),
    /// An operation name CloudWatch does not have.
    #[error("{0}")]
    InvalidAction(String),
    /// A storage failure; logged, then answered as a 500.
    #[error("an internal error occurred: {0}")]
    Internal(String),
}

impl CwError {
    /// The AWS error code.
    pub fn code(&self) -> &'static str {
        match self {
            CwError::Validation(_) => "ValidationError",
            CwError::InvalidParameterValue(_) => "InvalidParameterValue",
            CwError::InvalidParameterCombination(_) => "InvalidParameterCombination",
            CwError::MissingParameter(_) => "MissingParameter",
            CwError::ResourceNotFound(_) => "ResourceNotFound",
            CwError::ResourceNotFoundException(_) => "ResourceNotFoundException",
            CwError::InvalidFormat(_) => "InvalidFormat",
            CwError::InvalidNextToken(_) => "InvalidNextToken",
            CwError::LimitExceeded(_) => "LimitExceeded",
            CwError::Unsupported(_) => "UnsupportedOperation",
            CwError::InvalidAction(_) => "InvalidAction",
            CwError::Internal(_) => "InternalServiceError",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            CwError::ResourceNotFound(_) | CwError::ResourceNotFoundException(_) => {
                StatusCode::NOT_FOUND
            }
            CwError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The wire error.
    pub fn to_api(&self) -> ApiError {
        ApiError::new(self.code(), self.status(), self.to_string())
    }
}

impl opentrail_core::pipeline::ServiceError for CwError {
    fn to_api(&self) -> ApiError {
        CwError::to_api(self)
    }
}

impl From<ApiError> for CwError {
    /// Decoding and model-validation failures keep their text; CloudWatch answers constraint
    /// failures as `ValidationError`.
    fn from(err: ApiError) -> CwError {
        if err.status.is_server_error() {
            return CwError::Internal(err.message);
        }
        match err.code.as_str() {
            "InvalidParameterValue" => CwError::InvalidParameterValue(err.message),
            _ => CwError::Validation(err.message),
        }
    }
}

impl From<opentrail_meta::MetaError> for CwError {
    fn from(err: opentrail_meta::MetaError) -> CwError {
        CwError::Internal(err.to_string())
    }
}

impl From<crate::logs::LogsError> for CwError {
    fn from(err: crate::logs::LogsError) -> CwError {
        CwError::Internal(err.to_string())
    }
}
