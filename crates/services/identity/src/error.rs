//! [`IdentityError`]: the wire errors of IAM and STS (awsQuery `<Error><Code>`), with AWS's
//! codes, statuses and messages.

use http::StatusCode;
use opentrail_api::ApiError;

/// The namespace of IAM's XML responses.
pub const IAM_XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
/// The namespace of STS's XML responses.
pub const STS_XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// One failed IAM or STS call. The messages are AWS's own (capitalised as AWS writes them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// `NoSuchEntity` (404).
    #[error("{0}")]
    NoSuchEntity(String),
    /// `EntityAlreadyExists` (409).
    #[error("{0}")]
    EntityAlreadyExists(String),
    /// `LimitExceeded` (409).
    #[error("{0}")]
    LimitExceeded(String),
    /// `MalformedPolicyDocument` (400).
    #[error("{0}")]
    MalformedPolicyDocument(String),
    /// `DeleteConflict` (409).
    #[error("{0}")]
    DeleteConflict(String),
    /// `ValidationError` (400).
    #[error("{0}")]
    Validation(String),
    /// `InvalidInput` (400).
    #[error("{0}")]
    InvalidInput(String),
    /// `AccessDenied` (403).
    #[error("{0}")]
    AccessDenied(String),
    /// `InvalidAction` (400): an operation the service does not have.
    #[error("{0}")]
    InvalidAction(String),
    /// Any other client error: `(code, status, message)`.
    #[error("{2}")]
    Client(&'static str, u16, String),
    /// `ServiceFailure` / `InternalFailure` (500); the cause is logged where it happened.
    #[error("internal error")]
    Internal,
}

impl IdentityError {
    pub fn aws_code(&self) -> &'static str {
        match self {
            IdentityError::NoSuchEntity(_) => "NoSuchEntity",
            IdentityError::EntityAlreadyExists(_) => "EntityAlreadyExists",
            IdentityError::LimitExceeded(_) => "LimitExceeded",
            IdentityError::MalformedPolicyDocument(_) => "MalformedPolicyDocument",
            IdentityError::DeleteConflict(_) => "DeleteConflict",
            IdentityError::Validation(_) => "ValidationError",
            IdentityError::InvalidInput(_) => "InvalidInput",
            IdentityError::AccessDenied(_) => "AccessDenied",
            IdentityError::InvalidAction(_) => "InvalidAction",
            IdentityError::Client(code, _, _) => code,
            IdentityError::Internal => "ServiceFailure",
        }
    }

    pub fn http_status(&self) -> StatusCode {
        match self {
            IdentityError::NoSuchEntity(_) => StatusCode::NOT_FOUND,
            IdentityError::EntityAlreadyExists(_)
            | IdentityError::LimitExceeded(_)
            | IdentityError::DeleteConflict(_) => StatusCode::CONFLICT,
            IdentityError::AccessDenied(_) => StatusCode::FORBIDDEN,
            IdentityError::Client(_, status, _) => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST)
            }
            IdentityError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub fn to_api(&self) -> ApiError {
        ApiError::new(self.aws_code(), self.http_status(), self.to_string())
    }

    /// `The user with name {name} cannot be found.` and its kin.
    pub fn no_such(kind: &str, name: &str) -> IdentityError {
        IdentityError::NoSuchEntity(format!("The {kind} with name {name} cannot be found."))
    }

    /// `1 validation error detected: Value '{value}' at '{member}' failed to satisfy
    /// constraint: {constraint}`.
    pub fn constraint(value: &str, member: &str, constraint: &str) -> IdentityError {
        IdentityError::Validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
        ))
    }
}

impl opentrail_core::pipeline::ServiceError for IdentityError {
    fn to_api(&self) -> ApiError {
        IdentityError::to_api(self)
    }
}

/// Errors of the shared layers: the model check becomes IAM's `ValidationError`, a query
/// decoding error keeps its code.
impl From<ApiError> for IdentityError {
    fn from(err: ApiError) -> IdentityError {
        match err.code.as_str() {
            "ValidationException" | "SerializationException" => {
                IdentityError::Validation(err.message)
            }
            "InvalidParameterValue" => {
                IdentityError::Client("InvalidParameterValue", err.status.as_u16(), err.message)
            }
            _ if err.status.is_server_error() => IdentityError::Internal,
            _ => IdentityError::InvalidInput(err.message),
        }
    }
}

impl From<opentrail_meta::MetaError> for IdentityError {
    fn from(err: opentrail_meta::MetaError) -> IdentityError {
        tracing::error!(error = %err, "identity metadata store failed");
        IdentityError::Internal
    }
}

/// A result of IAM or STS.
pub type Result<T, E = IdentityError> = std::result::Result<T, E>;
