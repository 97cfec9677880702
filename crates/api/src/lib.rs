//! opentrail's wire layer: everything between HTTP bytes and a service handler.
//!
//! The real `aws` CLI, boto3 and the AWS SDKs talk to one listener for every service. This crate
//! tells which service and protocol a request is for, verifies its SigV4 signature, decodes its
//! body (awsJson, awsQuery forms, aws-chunked uploads), checks input against the botocore
//! service model, and shapes responses and errors the way each AWS protocol expects them.
//! It never panics on untrusted input: every decoder returns an error instead.
//!
//! # Layout
//!
//! - [`error`]: [`ApiError`], the AWS error code, message and HTTP status a request fails with
//! - [`protocol`]: [`route`], which service, protocol and operation a request is for
//! - [`sigv4`]: server-side AWS Signature Version 4 verification (headers and presigned URLs)
//! - [`sign`]: client-side SigV4 signing for opentrail's own clients (checked against [`verify`])
//! - [`chunked`]: `aws-chunked` body decoding with optional chunk-signature verification
//! - [`json`]: awsJson 1.0 / 1.1 request parsing and response framing
//! - [`xml`]: a small escaping XML writer, S3 and awsQuery error bodies, form parameter parsing
//! - [`model`]: botocore-model-driven input validation with AWS's Coral-style messages

#![deny(clippy::unwrap_used)]

pub mod chunked;
pub mod error;
pub mod json;
pub mod model;
pub mod protocol;
pub mod sign;
pub mod sigv4;
pub mod xml;

pub use chunked::{
    ChunkSigner, DecodedChunks, decode_aws_chunked, decoded_content_length, is_aws_chunked,
};
pub use error::ApiError;
pub use json::{json_error_response, json_response, parse_json_body};
pub use model::ServiceModel;
pub use protocol::{Protocol, Route, route};
pub use sign::{Credentials, SignError, SigningParams, sign_request};
pub use sigv4::{AuthError, SecretLookup, Verified, verify};
pub use xml::{XmlWriter, parse_query_params, query_error_response, s3_error_response};
