//! [`EventsError`]: every failure of the EventBridge control plane, with its AWS code.
//!
//! Messages a client sees copy AWS's wording (capitalised, with the final period) because tools
//! and tests compare them.

use http::StatusCode;
use opentrail_api::ApiError;
use opentrail_meta::MetaError;

/// A failed EventBridge call.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceAlreadyExists(String),
    #[error("{0}")]
    Validation(String),
    #[error("Event pattern is not valid. Reason: {0}")]
    InvalidEventPattern(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    ConcurrentModification(String),
    #[error("{0}")]
    IllegalStatus(String),
    #[error("{0}")]
    ManagedRule(String),
    #[error("{0}")]
    Unsupported(String),
    /// A failure inside the server; logged where it happens.
    #[error("an internal error occurred")]
    Internal,
    /// Already an API error (model validation).
    #[error("{}", .0.message)]
    Api(ApiError),
}

impl opentrail_core::pipeline::ServiceError for EventsError {
    fn to_api(&self) -> ApiError {
        EventsError::to_api(self)
    }
}

impl EventsError {
    pub fn aws_code(&self) -> &str {
        match self {
            EventsError::ResourceNotFound(_) => "ResourceNotFoundException",
            EventsError::ResourceAlreadyExists(_) => "ResourceAlreadyExistsException",
            EventsError::Validation(_) => "ValidationException",
            EventsError::InvalidEventPattern(_) => "InvalidEventPatternException",
            EventsError::LimitExceeded(_) => "LimitExceededException",
            EventsError::ConcurrentModification(_) => "ConcurrentModificationException",
            EventsError::IllegalStatus(_) => "IllegalStatusException",
            EventsError::ManagedRule(_) => "ManagedRuleException",
            EventsError::Unsupported(_) => "UnsupportedOperationException",
            EventsError::Internal => "InternalException",
            EventsError::Api(err) => &err.code,
        }
    }

    pub fn http_status(&self) -> StatusCode {
        match self {
            EventsError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            EventsError::Api(err) => err.status,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub fn to_api(&self) -> ApiError {
        match self {
            EventsError::Api(err) => err.clone(),
            other => ApiError::new(other.aws_code(), other.http_status(), other.to_string()),
        }
    }

    /// `Rule <name> does not exist on EventBus <bus>.`
    pub fn rule_not_found_on_bus(rule: &str, bus: &str) -> EventsError {
        EventsError::ResourceNotFound(format!("Rule {rule} does not exist on EventBus {bus}."))
    }

    pub fn bus_not_found(bus: &str) -> EventsError {
        EventsError::ResourceNotFound(format!("Event bus {bus} does not exist."))
    }
}

impl From<MetaError> for EventsError {
    fn from(err: MetaError) -> Self {
        tracing::error!(error = %err, "events metadata store failed");
        EventsError::Internal
    }
}

impl From<ApiError> for EventsError {
    fn from(err: ApiError) -> Self {
        EventsError::Api(err)
    }
}
