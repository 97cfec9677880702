//! [`S3Error`]: every way an S3 call fails, with its wire code and HTTP status.

use http::StatusCode;
use opentrail_api::ApiError;
use opentrail_meta::MetaError;
use opentrail_objects::StoreError;

/// A failed S3 call.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("bucket {0} does not exist")]
    NoSuchBucket(String),
    #[error("key {0:?} does not exist")]
    NoSuchKey(String),
    #[error(
        "bucket {0} exists and belongs to another account; bucket names are global, pick another"
    )]
    BucketAlreadyExists(String),
    #[error("bucket {0} already exists and you own it")]
    BucketAlreadyOwnedByYou(String),
    #[error("bucket {0} is not empty; delete its objects first")]
    BucketNotEmpty(String),
    #[error("bucket name {name:?} is not valid: {reason}")]
    InvalidBucketName { name: String, reason: String },
    #[error("the XML body is not well-formed or does not match the schema: {0}")]
    MalformedXml(String),
    #[error("{0}")]
    MalformedPolicy(String),
    #[error("bucket {0} has no bucket policy")]
    NoSuchBucketPolicy(String),
    #[error("the requested range is not satisfiable for an object of {size} bytes")]
    InvalidRange { size: u64 },
    #[error("object key is {0} bytes long, at most 1024 are allowed")]
    KeyTooLong(usize),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    BadDigest(String),
    #[error("{0}")]
    InvalidDigest(String),
    #[error("{0}")]
    IllegalLocationConstraint(String),
    #[error("the location constraint {0:?} is not valid")]
    InvalidLocationConstraint(String),
    #[error("the request path is not valid percent-encoded utf-8")]
    InvalidUri,
    #[error("user metadata is {0} bytes, at most 2048 are allowed")]
    MetadataTooLarge(usize),
    #[error("a precondition in the request headers does not hold")]
    PreconditionFailed,
    #[error("the body is {received} bytes but x-amz-decoded-content-length says {expected}")]
    IncompleteBody { expected: u64, received: usize },
    #[error("this S3 operation is not implemented: {0}")]
    NotImplemented(&'static str),
    /// An error already in wire form (from the shared decoders).
    #[error("{0}")]
    Api(ApiError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl S3Error {
    /// The S3 error code.
    pub fn code(&self) -> &str {
        match self {
            S3Error::NoSuchBucket(_) => "NoSuchBucket",
            S3Error::NoSuchKey(_) => "NoSuchKey",
            S3Error::BucketAlreadyExists(_) => "BucketAlreadyExists",
            S3Error::BucketAlreadyOwnedByYou(_) => "BucketAlreadyOwnedByYou",
            S3Error::BucketNotEmpty(_) => "BucketNotEmpty",
            S3Error::InvalidBucketName { .. } => "InvalidBucketName",
            S3Error::MalformedXml(_) => "MalformedXML",
            S3Error::MalformedPolicy(_) => "MalformedPolicy",
            S3Error::NoSuchBucketPolicy(_) => "NoSuchBucketPolicy",
            S3Error::InvalidRange { .. } => "InvalidRange",
            S3Error::KeyTooLong(_) => "KeyTooLongError",
            S3Error::InvalidArgument(_) => "InvalidArgument",
            S3Error::InvalidRequest(_) => "InvalidRequest",
            S3Error::BadDigest(_) => "BadDigest",
            S3Error::InvalidDigest(_) => "InvalidDigest",
            S3Error::IllegalLocationConstraint(_) => "IllegalLocationConstraintException",
            S3Error::InvalidLocationConstraint(_) => "InvalidLocationConstraint",
            S3Error::InvalidUri => "InvalidURI",
            S3Error::MetadataTooLarge(_) => "MetadataTooLarge",
            S3Error::PreconditionFailed => "PreconditionFailed",
            S3Error::IncompleteBody { .. } => "IncompleteBody",
            S3Error::NotImplemented(_) => "NotImplemented",
            S3Error::Api(err) => &err.code,
            S3Error::Internal(_) => "InternalError",
        }
    }

    /// The HTTP status of the error response.
    pub fn status(&self) -> StatusCode {
        match self {
            S3Error::NoSuchBucket(_) | S3Error::NoSuchKey(_) | S3Error::NoSuchBucketPolicy(_) => {
                StatusCode::NOT_FOUND
            }
            S3Error::BucketAlreadyExists(_)
            | S3Error::BucketAlreadyOwnedByYou(_)
            | S3Error::BucketNotEmpty(_) => StatusCode::CONFLICT,
            S3Error::InvalidRange { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            S3Error::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            S3Error::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            S3Error::Api(err) => err.status,
            S3Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            S3Error::InvalidBucketName { .. }
            | S3Error::MalformedXml(_)
            | S3Error::MalformedPolicy(_)
            | S3Error::KeyTooLong(_)
            | S3Error::InvalidArgument(_)
            | S3Error::InvalidRequest(_)
            | S3Error::BadDigest(_)
            | S3Error::InvalidDigest(_)
            | S3Error::IllegalLocationConstraint(_)
            | S3Error::InvalidLocationConstraint(_)
            | S3Error::InvalidUri
            | S3Error::MetadataTooLarge(_)
            | S3Error::IncompleteBody { .. } => StatusCode::BAD_REQUEST,
        }
    }

    /// The error in wire form; internal errors are logged and hidden.
    pub fn to_api_error(&self) -> ApiError {
        if let S3Error::Internal(cause) = self {
            tracing::error!(cause, "s3 call failed");
            return ApiError::new(
                "InternalError",
                StatusCode::INTERNAL_SERVER_ERROR,
                "we encountered an internal error, please try again",
            );
        }
        if let S3Error::Api(err) = self {
            return err.clone();
        }
        ApiError::new(self.code(), self.status(), self.to_string())
    }
}

impl From<MetaError> for S3Error {
    fn from(err: MetaError) -> Self {
        S3Error::Internal(format!("metadata store: {err}"))
    }
}

impl From<ApiError> for S3Error {
    fn from(err: ApiError) -> Self {
        S3Error::Api(err)
    }
}

impl From<StoreError> for S3Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NoSuchBucket(bucket) => S3Error::NoSuchBucket(bucket),
            StoreError::NoSuchKey { key, .. } => S3Error::NoSuchKey(key),
            StoreError::BucketNotEmpty(bucket) => S3Error::BucketNotEmpty(bucket),
            StoreError::InvalidRange { size } => S3Error::InvalidRange { size },
            StoreError::InvalidKey(reason) => S3Error::InvalidArgument(reason),
            err @ (StoreError::Io(_) | StoreError::Refused { .. } | StoreError::Other(_)) => {
                S3Error::Internal(format!("object store: {err}"))
            }
        }
    }
}
