//! opentrail's wire layer: everything between HTTP bytes and a service handler.
//!
//! The real `aws` CLI, boto3 and the AWS SDKs talk to one listener for every service. This crate
//! tells which service and protocol a request is for, verifies its SigV4 signature, decodes its
//! body (awsJson, Smithy RPC v2 CBOR, awsQuery forms, aws-chunked uploads), checks input
//! against the botocore service model, and shapes responses and errors the way each AWS
//! protocol expects them. Whatever the protocol, a service sees its input and produces its
//! output as the JSON value an awsJson body would carry; the CBOR and awsQuery codecs translate,
//! directed by the model. It never panics on untrusted input: every decoder returns an error
//! instead.
//!
//! # Layout
//!
//! - [`error`]: [`ApiError`], the AWS error code, message and HTTP status a request fails with
//! - [`protocol`]: [`route`], which service, protocol and operation a request is for
//! - [`sigv4`]: server-side AWS Signature Version 4 verification (headers and presigned URLs)
//! - [`sign`]: client-side SigV4 signing for opentrail's own clients (checked against [`verify`])
//! - [`chunked`]: `aws-chunked` body decoding with optional chunk-signature verification
//! - [`json`]: awsJson 1.0 / 1.1 request parsing and response framing
//! - [`cbor`]: Smithy RPC v2 CBOR: a complete CBOR decoder into JSON, shape-directed encoding,
//!   responses and errors
//! - [`query`]: awsQuery form parameters into the awsJson-shaped input, output into result XML
//! - [`xml`]: a small escaping XML writer, S3 and awsQuery bodies, form parameter parsing
//! - [`model`]: the botocore service model: operations, shapes, serialization traits and
//!   errors, and input validation with AWS's Coral-style messages
//! - [`models`]: the botocore models opentrail embeds ([`EmbeddedModel`]), each parsed once
//! - [`record`]: a call's input and output shaped by the model as a CloudTrail record writes
//!   them (`requestParameters`, `responseElements`): member names lowerCamel, map keys and
//!   values verbatim
//! - `timestamp` (private): epoch seconds ⇄ ISO 8601 for the codecs

#![deny(clippy::unwrap_used)]

pub mod cbor;
pub mod chunked;
pub mod error;
pub mod json;
pub mod model;
pub mod models;
pub mod protocol;
pub mod query;
pub mod record;
pub mod sign;
pub mod sigv4;
mod timestamp;
pub mod xml;

pub use cbor::{cbor_error_response, decode as decode_cbor};

pub use chunked::{
    ChunkSigner, DecodedChunks, decode_aws_chunked, decoded_content_length, is_aws_chunked,
};
pub use error::ApiError;
pub use json::{json_error_response, json_response, parse_json_body, with_query_error_header};
pub use model::{ErrorShape, ServiceModel, lower_first};
pub use models::EmbeddedModel;
pub use protocol::{Protocol, Route, parse_query_params, route};
pub use record::Side;
pub use sign::{Credentials, SignError, SigningParams, sign_request};
pub use sigv4::{AuthError, SecretLookup, Verified, verify};
pub use xml::{
    XmlWriter, query_error_response, query_response, query_response_wrapped, s3_error_response,
};
