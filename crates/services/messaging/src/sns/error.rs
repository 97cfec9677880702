//! [`SnsError`]: SNS's wire errors (awsQuery `<Error><Code>`), with AWS's messages.

use http::StatusCode;
use opentrail_api::ApiError;

/// The namespace of SNS's XML responses.
pub const XMLNS: &str = "http://sns.amazonaws.com/doc/2010-03-31/";

/// One failed SNS call. The messages are AWS's own (capitalised as AWS writes them).
#[derive(Debug, thiserror::Error)]
pub enum SnsError {
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    TagLimitExceeded(String),
    #[error("{0}")]
    InvalidAction(String),
    /// Any other client error: `(code, message)`.
    #[error("{1}")]
    Client(&'static str, String),
    #[error("internal error")]
    Internal,
}

impl opentrail_core::pipeline::ServiceError for SnsError {
    fn to_api(&self) -> ApiError {
        SnsError::to_api(self)
    }
}

impl SnsError {
    pub fn topic_not_found() -> SnsError {
        SnsError::NotFound("Topic does not exist".into())
    }

    pub fn subscription_not_found() -> SnsError {
        SnsError::NotFound("Subscription does not exist".into())
    }

    /// `Invalid parameter: {what}`.
    pub fn invalid(what: &str) -> SnsError {
        SnsError::InvalidParameter(format!("Invalid parameter: {what}"))
    }

    pub fn aws_code(&self) -> &'static str {
        match self {
            SnsError::InvalidParameter(_) => "InvalidParameter",
            SnsError::InvalidParameterValue(_) => "InvalidParameterValue",
            SnsError::NotFound(_) => "NotFound",
            SnsError::ResourceNotFound(_) => "ResourceNotFound",
            SnsError::TagLimitExceeded(_) => "TagLimitExceeded",
            SnsError::InvalidAction(_) => "InvalidAction",
            SnsError::Client(code, _) => code,
            SnsError::Internal => "InternalError",
        }
    }

    pub fn http_status(&self) -> StatusCode {
        match self {
            SnsError::NotFound(_) | SnsError::ResourceNotFound(_) => StatusCode::NOT_FOUND,
            SnsError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub fn to_api(&self) -> ApiError {
        ApiError::new(self.aws_code(), self.http_status(), self.to_string())
    }
}

impl From<opentrail_meta::MetaError> for SnsError {
    fn from(err: opentrail_meta::MetaError) -> SnsError {
        tracing::error!(error = %err, "sns metadata store failed");
        SnsError::Internal
    }
}
