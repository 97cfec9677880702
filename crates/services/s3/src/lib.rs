//! S3 (`s3.amazonaws.com`, REST-XML): the embedded log-bucket store that trails deliver into
//! and that users read with `aws s3`, `aws s3api` and `aws cloudtrail validate-logs`.
//!
//! Bucket metadata ([`BucketRecord`]: owner, region, policy) lives in the metadata store table
//! [`BUCKETS_TABLE`]; object bytes live in `AppState::objects`. Every call becomes a
//! CloudTrail record shaped as AWS writes it: bucket-level calls are management events,
//! object-level calls (and listings) are data events.
//!
//! # Layout
//! - [`request`]: addressing (path style, `<bucket>.localhost` virtual hosts) and the
//!   [`request::Operation`] of a request.
//! - [`buckets`]: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation,
//!   bucket policies.
//! - [`objects`]: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects, CopyObject.
//! - [`listing`]: ListObjects and ListObjectsV2.
//! - [`checksum`]: `x-amz-checksum-*` and `Content-MD5` verification.
//! - [`names`]: bucket naming rules.
//! - [`xml_body`]: parsing XML request bodies.
//! - [`error`]: [`error::S3Error`], each failure with its S3 code and status.

pub mod authorize;
pub mod buckets;
pub mod checksum;
pub mod error;
pub mod listing;
pub mod names;
pub mod objects;
pub mod request;
pub mod xml_body;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderName, HeaderValue, Method, Response, StatusCode};
use opentrail_api::{ApiError, Verified};
use opentrail_model::Resource;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use error::S3Error;
use opentrail_core::context::{EventDetails, RequestContext};
use opentrail_core::{AnswerFuture, AppState, Call as ServiceCall, Request, Service};
use request::{Operation, S3Request};

pub const EVENT_SOURCE: &str = "s3.amazonaws.com";
/// The metadata-store table of [`BucketRecord`]s, keyed by bucket name.
pub const BUCKETS_TABLE: &str = "buckets";
/// The namespace of S3 XML documents.
pub const S3_XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The bucket's metadata record, stored in the metadata store table "buckets" keyed by
/// bucket name (bucket names are global).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BucketRecord {
    pub name: String,
    /// The owning account.
    pub account_id: String,
    pub region: String,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: i64,
    /// The bucket policy document as the client sent it.
    #[serde(default)]
    pub policy: Option<String>,
}

/// The record of bucket `name`, whoever owns it.
pub fn bucket(state: &AppState, name: &str) -> Result<Option<BucketRecord>, ApiError> {
    state.meta.get(BUCKETS_TABLE, name).map_err(|err| {
        tracing::error!(error = %err, bucket = name, "reading a bucket record failed");
        ApiError::internal()
    })
}

/// S3 (the embedded bucket store) as a [`Service`].
pub struct S3Service;

impl Service for S3Service {
    fn signing_names(&self) -> &'static [&'static str] {
        &["s3"]
    }

    fn call<'a>(&'a self, call: ServiceCall<'a>) -> AnswerFuture<'a> {
        Box::pin(handle(
            call.state,
            call.ctx,
            call.verified,
            call.parts,
            call.body,
        ))
    }

    fn request_details(&self, request: Request<'_>) -> Option<EventDetails> {
        request_details(request.ctx, request.parts)
    }
}

/// Handles one S3 request. The work runs on the blocking pool (metadata and object IO).
pub async fn handle(
    state: &Arc<AppState>,
    ctx: &RequestContext,
    verified: &Verified,
    parts: Parts,
    body: Bytes,
) -> (Response<Bytes>, Option<EventDetails>) {
    let task_state = state.clone();
    let task_ctx = ctx.clone();
    let task_verified = verified.clone();
    let joined = tokio::task::spawn_blocking(move || {
        serve(&task_state, &task_ctx, &task_verified, &parts, &body)
    })
    .await;
    match joined {
        Ok(answer) => answer,
        Err(err) => {
            tracing::error!(error = %err, "s3 handler task failed");
            let api = ApiError::internal();
            let mut details = EventDetails::new(EVENT_SOURCE, "UnknownOperation", false);
            details.error = Some((api.code.clone(), api.message.clone()));
            (
                opentrail_api::s3_error_response(&api, &ctx.request_id, ""),
                Some(details),
            )
        }
    }
}

/// What handlers share about the call they serve, and what they add to its record.
pub struct Call<'a> {
    pub state: &'a AppState,
    pub ctx: &'a RequestContext,
    pub verified: &'a Verified,
    pub parts: &'a Parts,
    pub request: &'a S3Request,
    pub body: &'a Bytes,
    /// `requestParameters` beyond bucketName, Host, key and the query parameters.
    pub params: Map<String, Value>,
    /// Resources beyond the addressed bucket and object (CopyObject's source).
    pub extra_resources: Vec<Resource>,
    /// `bytesTransferredIn`: the object size for uploads, the body size otherwise.
    pub bytes_in: u64,
    /// The owner of the addressed bucket, once known.
    pub bucket_owner: Option<String>,
    /// The addressed bucket's record as authorization read it (`None`: not read, or no such
    /// bucket), so that the operation does not read it again.
    pub authorized_bucket: Option<BucketRecord>,
}

impl Call<'_> {
    /// The record of bucket `name` when it exists. Whether the caller may act on it, its own
    /// or another account's through the bucket policy, was decided before the operation ran
    /// ([`authorize::check`]).
    pub fn existing_bucket(&mut self, name: &str) -> Result<BucketRecord, S3Error> {
        let known = self
            .authorized_bucket
            .as_ref()
            .filter(|record| record.name == name)
            .cloned();
        let record: BucketRecord = match known {
            Some(record) => record,
            None => self
                .state
                .meta
                .get(BUCKETS_TABLE, name)?
                .ok_or_else(|| S3Error::NoSuchBucket(name.to_owned()))?,
        };
        self.bucket_owner = Some(record.account_id.clone());
        Ok(record)
    }
}

fn serve(
    state: &AppState,
    ctx: &RequestContext,
    verified: &Verified,
    parts: &Parts,
    body: &Bytes,
) -> (Response<Bytes>, Option<EventDetails>) {
    let id2 = extended_request_id(&ctx.request_id);
    let request = match S3Request::parse(parts) {
        Ok(request) => request,
        Err(err) => {
            // S3 cannot tell which operation a request it cannot decode was; nothing is recorded.
            let mut response = opentrail_api::s3_error_response(
                &err.to_api_error(),
                &ctx.request_id,
                parts.uri.path(),
            );
            set_header(&mut response, "x-amz-id-2", &id2);
            return (response, None);
        }
    };
    let operation = request.operation(parts);
    let mut call = Call {
        state,
        ctx,
        verified,
        parts,
        request: &request,
        body,
        params: Map::new(),
        extra_resources: Vec::new(),
        bytes_in: body.len() as u64,
        bucket_owner: None,
        authorized_bucket: None,
    };
    let result = run(&mut call, operation);
    let (mut response, error) = match result {
        Ok(response) => (response, None),
        Err(err) => {
            let api = err.to_api_error();
            let mut response =
                opentrail_api::s3_error_response(&api, &ctx.request_id, &request.raw_path);
            if request.method == Method::HEAD {
                *response.body_mut() = Bytes::new();
            }
            (response, Some((api.code, api.message)))
        }
    };
    set_header(&mut response, "x-amz-request-id", &ctx.request_id);
    set_header(&mut response, "x-amz-id-2", &id2);
    let bytes_out = if request.method == Method::HEAD {
        0
    } else {
        response.body().len() as u64
    };
    let details = record_details(&call, operation, error, bytes_out, &id2);
    (response, Some(details))
}

fn run(call: &mut Call<'_>, operation: Operation) -> Result<Response<Bytes>, S3Error> {
    let bucket = call.request.bucket.clone().unwrap_or_default();
    let key = call.request.key.clone().unwrap_or_default();
    call.authorized_bucket = authorize::check(call, operation, &bucket, &key)?;
    match operation {
        Operation::ListBuckets => buckets::list_buckets(call),
        Operation::CreateBucket => buckets::create_bucket(call, &bucket),
        Operation::HeadBucket => buckets::head_bucket(call, &bucket),
        Operation::DeleteBucket => buckets::delete_bucket(call, &bucket),
        Operation::GetBucketLocation => buckets::get_bucket_location(call, &bucket),
        Operation::GetBucketPolicy => buckets::get_bucket_policy(call, &bucket),
        Operation::PutBucketPolicy => buckets::put_bucket_policy(call, &bucket),
        Operation::DeleteBucketPolicy => buckets::delete_bucket_policy(call, &bucket),
        Operation::ListObjects => listing::list_objects(call, &bucket),
        Operation::ListObjectsV2 => listing::list_objects_v2(call, &bucket),
        Operation::DeleteObjects => objects::delete_objects(call, &bucket),
        Operation::PutObject => objects::put_object(call, &bucket, &key),
        Operation::CopyObject => objects::copy_object(call, &bucket, &key),
        Operation::GetObject => objects::get_object(call, &bucket, &key),
        Operation::HeadObject => objects::head_object(call, &bucket, &key),
        Operation::DeleteObject => objects::delete_object(call, &bucket, &key),
        Operation::NotImplemented { name, .. } => {
            if !bucket.is_empty() {
                // Only for the record's resource owner; the answer is NotImplemented either way.
                let _ = call.existing_bucket(&bucket);
            }
            Err(S3Error::NotImplemented(name))
        }
    }
}

/// Query parameters that carry authentication, never recorded.
fn is_auth_param(name: &str) -> bool {
    name.starts_with("X-Amz-") || name == "x-id"
}

/// The record details of a call from its request alone, without running it (for a call a
/// crash left unanswered): operation, parameters and resources as [`record_details`] writes
/// them, without what only running it tells (bucket owner, bytes, the authentication method).
pub fn request_details(ctx: &RequestContext, parts: &Parts) -> Option<EventDetails> {
    let request = S3Request::parse(parts).ok()?;
    let operation = request.operation(parts);
    Some(request_record(
        &request,
        ctx,
        operation,
        &Map::new(),
        None,
        &[],
    ))
}

/// The CloudTrail details of a call, as AWS records S3 calls.
fn record_details(
    call: &Call<'_>,
    operation: Operation,
    error: Option<(String, String)>,
    bytes_out: u64,
    id2: &str,
) -> EventDetails {
    let mut details = request_record(
        call.request,
        call.ctx,
        operation,
        &call.params,
        call.bucket_owner.clone(),
        &call.extra_resources,
    );
    let authentication = if call.verified.presigned {
        "QueryString"
    } else {
        "AuthHeader"
    };
    details.additional_event_data = Some(json!({
        "SignatureVersion": "SigV4",
        "bytesTransferredIn": call.bytes_in,
        "AuthenticationMethod": authentication,
        "x-amz-id-2": id2,
        "bytesTransferredOut": bytes_out,
    }));
    details.error = error;
    details
}

/// What the request of a call says in its record: operation, parameters, resources.
fn request_record(
    request: &S3Request,
    ctx: &RequestContext,
    operation: Operation,
    extra_params: &Map<String, Value>,
    bucket_owner: Option<String>,
    extra_resources: &[Resource],
) -> EventDetails {
    let mut details =
        EventDetails::new(EVENT_SOURCE, operation.event_name(), operation.read_only());
    details.management = !operation.is_data_event();

    let mut params = Map::new();
    if let Some(bucket) = &request.bucket {
        params.insert("bucketName".into(), Value::from(bucket.as_str()));
    }
    params.insert(
        "Host".into(),
        Value::from(ctx.host.clone().unwrap_or_default()),
    );
    if let Some(key) = &request.key {
        params.insert("key".into(), Value::from(key.as_str()));
    }
    for (name, value) in &request.query {
        if !is_auth_param(name) {
            params.insert(name.clone(), Value::from(value.as_str()));
        }
    }
    params.extend(extra_params.clone());
    details.request_parameters = Some(Value::Object(params));

    let mut resources = Vec::new();
    if let Some(bucket) = &request.bucket {
        if let Some(key) = &request.key {
            resources.push(Resource {
                account_id: None,
                resource_type: Some("AWS::S3::Object".into()),
                arn: Some(format!("arn:aws:s3:::{bucket}/{key}")),
            });
        }
        resources.push(Resource {
            account_id: bucket_owner,
            resource_type: Some("AWS::S3::Bucket".into()),
            arn: Some(format!("arn:aws:s3:::{bucket}")),
        });
    }
    resources.extend(extra_resources.iter().cloned());
    details.resources = resources;
    details
}

/// A stable `x-amz-id-2` for a request id, shaped like S3's (base64).
fn extended_request_id(request_id: &str) -> String {
    BASE64.encode(Sha256::digest(
        format!("opentrail-id-2:{request_id}").as_bytes(),
    ))
}

/// The canonical user id S3 shows for an account (64 hex digits).
pub fn canonical_id(account_id: &str) -> String {
    hex::encode(Sha256::digest(
        format!("opentrail-canonical-user:{account_id}").as_bytes(),
    ))
}

/// `2009-10-12T17:50:30.000Z`, the time format of S3 XML.
pub fn iso_time(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.format(format).unwrap_or_default()
}

/// `Wed, 21 Oct 2015 07:28:00 GMT` (RFC 7231), the time format of HTTP headers.
pub fn http_date(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    at.format(format).unwrap_or_default()
}

/// Sets a header, skipping values that cannot be sent (they came from stored attributes).
pub fn set_header(response: &mut Response<Bytes>, name: &str, value: &str) {
    match (
        HeaderName::from_bytes(name.as_bytes()),
        // Bytes, not str: stored metadata may hold UTF-8, which HTTP carries as opaque octets.
        HeaderValue::from_bytes(value.as_bytes()),
    ) {
        (Ok(name), Ok(value)) => {
            response.headers_mut().insert(name, value);
        }
        _ => tracing::debug!(name, "header not representable, left out"),
    }
}

/// An empty response with `status`.
pub fn empty(status: StatusCode) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = status;
    response
}

/// A 200 XML response.
pub fn xml_body(xml: String) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(xml));
    set_header(&mut response, "content-type", "application/xml");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formats() {
        assert_eq!(iso_time(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            http_date(1_700_000_000_123),
            "Tue, 14 Nov 2023 22:13:20 GMT"
        );
    }

    #[test]
    fn ids_have_s3_shapes() {
        assert_eq!(canonical_id("123456789012").len(), 64);
        let id2 = extended_request_id("REQ");
        assert_eq!(id2, extended_request_id("REQ"));
        assert_ne!(id2, extended_request_id("OTHER"));
    }
}
