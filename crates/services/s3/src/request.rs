//! What an S3 request addresses (bucket, key, sub-resources) and which operation it is.
//!
//! Path-style addressing (`/<bucket>/<key>`) is the main form; a `Host` of
//! `<bucket>.localhost[:port]` selects virtual-host style.

use http::Method;
use http::request::Parts;
use percent_encoding::percent_decode_str;

use super::error::S3Error;

/// The S3 operations this server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    GetBucketPolicy,
    PutBucketPolicy,
    DeleteBucketPolicy,
    ListObjects,
    ListObjectsV2,
    DeleteObjects,
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    DeleteObject,
    /// A known S3 operation this server does not implement; the name is recorded.
    NotImplemented {
        name: &'static str,
        object_level: bool,
    },
}

impl Operation {
    /// The `eventName` AWS records (ListObjectsV2 is recorded as `ListObjects`).
    pub fn event_name(self) -> &'static str {
        match self {
            Operation::ListBuckets => "ListBuckets",
            Operation::CreateBucket => "CreateBucket",
            Operation::HeadBucket => "HeadBucket",
            Operation::DeleteBucket => "DeleteBucket",
            Operation::GetBucketLocation => "GetBucketLocation",
            Operation::GetBucketPolicy => "GetBucketPolicy",
            Operation::PutBucketPolicy => "PutBucketPolicy",
            Operation::DeleteBucketPolicy => "DeleteBucketPolicy",
            Operation::ListObjects | Operation::ListObjectsV2 => "ListObjects",
            Operation::DeleteObjects => "DeleteObjects",
            Operation::PutObject => "PutObject",
            Operation::CopyObject => "CopyObject",
            Operation::GetObject => "GetObject",
            Operation::HeadObject => "HeadObject",
            Operation::DeleteObject => "DeleteObject",
            Operation::NotImplemented { name, .. } => name,
        }
    }

    /// Whether the call only reads.
    pub fn read_only(self) -> bool {
        match self {
            Operation::ListBuckets
            | Operation::HeadBucket
            | Operation::GetBucketLocation
            | Operation::GetBucketPolicy
            | Operation::ListObjects
            | Operation::ListObjectsV2
            | Operation::GetObject
            | Operation::HeadObject => true,
            Operation::NotImplemented { name, .. } => ["Get", "List", "Head"]
                .iter()
                .any(|verb| name.starts_with(verb)),
            _ => false,
        }
    }

    /// Object-level calls are CloudTrail data events; bucket-level ones are management events.
    pub fn is_data_event(self) -> bool {
        match self {
            Operation::ListObjects
            | Operation::ListObjectsV2
            | Operation::DeleteObjects
            | Operation::PutObject
            | Operation::CopyObject
            | Operation::GetObject
            | Operation::HeadObject
            | Operation::DeleteObject => true,
            Operation::NotImplemented { object_level, .. } => object_level,
            _ => false,
        }
    }
}

/// A decoded S3 request line.
#[derive(Debug, Clone)]
pub struct S3Request {
    pub method: Method,
    pub bucket: Option<String>,
    /// The object key; `None` for service and bucket requests.
    pub key: Option<String>,
    /// Query parameters in order, decoded.
    pub query: Vec<(String, String)>,
    /// The path as sent, for error `Resource` elements.
    pub raw_path: String,
}

impl S3Request {
    /// Decodes the addressing of a request.
    pub fn parse(parts: &Parts) -> Result<S3Request, S3Error> {
        let raw_path = parts.uri.path().to_owned();
        let query = parts
            .uri
            .query()
            .map(|query| opentrail_api::parse_query_params(query.as_bytes()))
            .unwrap_or_default();
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let trimmed = raw_path.strip_prefix('/').unwrap_or(&raw_path);
        let (bucket, key) = match virtual_host_bucket(host) {
            Some(bucket) => (Some(bucket.to_owned()), non_empty(decode(trimmed)?)),
            None => {
                let (bucket, key) = trimmed.split_once('/').unwrap_or((trimmed, ""));
                (non_empty(decode(bucket)?), non_empty(decode(key)?))
            }
        };
        Ok(S3Request {
            method: parts.method.clone(),
            bucket,
            key,
            query,
            raw_path,
        })
    }

    /// The value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether the query names sub-resource or parameter `name`.
    pub fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(key, _)| key == name)
    }

    /// Which operation the request is.
    pub fn operation(&self, parts: &Parts) -> Operation {
        let Some(_) = &self.bucket else {
            return match self.method {
                Method::GET => Operation::ListBuckets,
                _ => not_implemented("UnknownOperation", false),
            };
        };
        match &self.key {
            None => self.bucket_operation(),
            Some(_) => self.object_operation(parts),
        }
    }

    fn bucket_operation(&self) -> Operation {
        let method = &self.method;
        if self.has("policy") {
            return match *method {
                Method::GET => Operation::GetBucketPolicy,
                Method::PUT => Operation::PutBucketPolicy,
                Method::DELETE => Operation::DeleteBucketPolicy,
                _ => not_implemented("UnknownOperation", false),
            };
        }
        if *method == Method::GET && self.has("location") {
            return Operation::GetBucketLocation;
        }
        if *method == Method::POST && self.has("delete") {
            return Operation::DeleteObjects;
        }
        if let Some(name) = BUCKET_SUBRESOURCES
            .iter()
            .find(|(sub, _, _, _)| self.has(sub))
            .and_then(|(_, get, put, delete)| match *method {
                Method::GET | Method::HEAD => Some(*get),
                Method::PUT => Some(*put),
                Method::DELETE => Some(*delete),
                _ => None,
            })
        {
            let object_level = matches!(name, "ListObjectVersions");
            return not_implemented(name, object_level);
        }
        match *method {
            Method::GET if self.param("list-type") == Some("2") => Operation::ListObjectsV2,
            Method::GET => Operation::ListObjects,
            Method::PUT => Operation::CreateBucket,
            Method::HEAD => Operation::HeadBucket,
            Method::DELETE => Operation::DeleteBucket,
            Method::POST => not_implemented("PostObject", true),
            _ => not_implemented("UnknownOperation", false),
        }
    }

    fn object_operation(&self, parts: &Parts) -> Operation {
        let method = &self.method;
        let copy = parts.headers.contains_key("x-amz-copy-source");
        let name = match *method {
            Method::PUT if self.has("partNumber") && self.has("uploadId") => {
                Some(if copy { "UploadPartCopy" } else { "UploadPart" })
            }
            Method::POST if self.has("uploads") => Some("CreateMultipartUpload"),
            Method::POST if self.has("uploadId") => Some("CompleteMultipartUpload"),
            Method::POST if self.has("restore") => Some("RestoreObject"),
            Method::POST if self.has("select") => Some("SelectObjectContent"),
            Method::POST => Some("UnknownOperation"),
            Method::GET if self.has("uploadId") => Some("ListParts"),
            Method::DELETE if self.has("uploadId") => Some("AbortMultipartUpload"),
            _ => OBJECT_SUBRESOURCES
                .iter()
                .find(|(sub, _, _, _)| self.has(sub))
                .and_then(|(_, get, put, delete)| match *method {
                    Method::GET | Method::HEAD => Some(*get),
                    Method::PUT => Some(*put),
                    Method::DELETE => Some(*delete),
                    _ => None,
                }),
        };
        if let Some(name) = name {
            return not_implemented(name, true);
        }
        match *method {
            Method::PUT if copy => Operation::CopyObject,
            Method::PUT => Operation::PutObject,
            Method::GET => Operation::GetObject,
            Method::HEAD => Operation::HeadObject,
            Method::DELETE => Operation::DeleteObject,
            _ => not_implemented("UnknownOperation", true),
        }
    }
}

fn not_implemented(name: &'static str, object_level: bool) -> Operation {
    Operation::NotImplemented { name, object_level }
}

/// Bucket sub-resources and the operations GET, PUT and DELETE on them name.
const BUCKET_SUBRESOURCES: &[(&str, &str, &str, &str)] = &[
    ("acl", "GetBucketAcl", "PutBucketAcl", "UnknownOperation"),
    ("cors", "GetBucketCors", "PutBucketCors", "DeleteBucketCors"),
    (
        "encryption",
        "GetBucketEncryption",
        "PutBucketEncryption",
        "DeleteBucketEncryption",
    ),
    (
        "lifecycle",
        "GetBucketLifecycleConfiguration",
        "PutBucketLifecycleConfiguration",
        "DeleteBucketLifecycle",
    ),
    (
        "logging",
        "GetBucketLogging",
        "PutBucketLogging",
        "UnknownOperation",
    ),
    (
        "notification",
        "GetBucketNotificationConfiguration",
        "PutBucketNotificationConfiguration",
        "UnknownOperation",
    ),
    (
        "ownershipControls",
        "GetBucketOwnershipControls",
        "PutBucketOwnershipControls",
        "DeleteBucketOwnershipControls",
    ),
    (
        "policyStatus",
        "GetBucketPolicyStatus",
        "UnknownOperation",
        "UnknownOperation",
    ),
    (
        "publicAccessBlock",
        "GetPublicAccessBlock",
        "PutPublicAccessBlock",
        "DeletePublicAccessBlock",
    ),
    (
        "replication",
        "GetBucketReplication",
        "PutBucketReplication",
        "DeleteBucketReplication",
    ),
    (
        "requestPayment",
        "GetBucketRequestPayment",
        "PutBucketRequestPayment",
        "UnknownOperation",
    ),
    (
        "tagging",
        "GetBucketTagging",
        "PutBucketTagging",
        "DeleteBucketTagging",
    ),
    (
        "versioning",
        "GetBucketVersioning",
        "PutBucketVersioning",
        "UnknownOperation",
    ),
    (
        "website",
        "GetBucketWebsite",
        "PutBucketWebsite",
        "DeleteBucketWebsite",
    ),
    (
        "accelerate",
        "GetBucketAccelerateConfiguration",
        "PutBucketAccelerateConfiguration",
        "UnknownOperation",
    ),
    (
        "analytics",
        "GetBucketAnalyticsConfiguration",
        "PutBucketAnalyticsConfiguration",
        "DeleteBucketAnalyticsConfiguration",
    ),
    (
        "inventory",
        "GetBucketInventoryConfiguration",
        "PutBucketInventoryConfiguration",
        "DeleteBucketInventoryConfiguration",
    ),
    (
        "metrics",
        "GetBucketMetricsConfiguration",
        "PutBucketMetricsConfiguration",
        "DeleteBucketMetricsConfiguration",
    ),
    (
        "intelligent-tiering",
        "GetBucketIntelligentTieringConfiguration",
        "PutBucketIntelligentTieringConfiguration",
        "DeleteBucketIntelligentTieringConfiguration",
    ),
    (
        "object-lock",
        "GetObjectLockConfiguration",
        "PutObjectLockConfiguration",
        "UnknownOperation",
    ),
    (
        "versions",
        "ListObjectVersions",
        "UnknownOperation",
        "UnknownOperation",
    ),
    (
        "uploads",
        "ListMultipartUploads",
        "UnknownOperation",
        "UnknownOperation",
    ),
    (
        "session",
        "CreateSession",
        "UnknownOperation",
        "UnknownOperation",
    ),
];

/// Object sub-resources and the operations GET, PUT and DELETE on them name.
const OBJECT_SUBRESOURCES: &[(&str, &str, &str, &str)] = &[
    ("acl", "GetObjectAcl", "PutObjectAcl", "UnknownOperation"),
    (
        "tagging",
        "GetObjectTagging",
        "PutObjectTagging",
        "DeleteObjectTagging",
    ),
    (
        "attributes",
        "GetObjectAttributes",
        "UnknownOperation",
        "UnknownOperation",
    ),
    (
        "legal-hold",
        "GetObjectLegalHold",
        "PutObjectLegalHold",
        "UnknownOperation",
    ),
    (
        "retention",
        "GetObjectRetention",
        "PutObjectRetention",
        "UnknownOperation",
    ),
    (
        "torrent",
        "GetObjectTorrent",
        "UnknownOperation",
        "UnknownOperation",
    ),
];

/// The bucket of a virtual-host style `Host` (`<bucket>.localhost[:port]`).
fn virtual_host_bucket(host: &str) -> Option<&str> {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    name.strip_suffix(".localhost")
        .filter(|bucket| !bucket.is_empty())
}

fn decode(text: &str) -> Result<String, S3Error> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| S3Error::InvalidUri)
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("request").into_parts().0
    }

    fn op(method: &str, uri: &str, headers: &[(&str, &str)]) -> (S3Request, Operation) {
        let parts = parts(method, uri, headers);
        let request = S3Request::parse(&parts).expect("parse");
        let operation = request.operation(&parts);
        (request, operation)
    }

    #[test]
    fn path_style_addressing_decodes_bucket_and_key() {
        let (request, operation) = op("GET", "/b1/a%20b/%C3%A9/..%2Fx?x-id=GetObject", &[]);
        assert_eq!(request.bucket.as_deref(), Some("b1"));
        assert_eq!(request.key.as_deref(), Some("a b/é/../x"));
        assert_eq!(operation, Operation::GetObject);
        let (request, operation) = op("GET", "/b1/", &[]);
        assert_eq!((request.key, operation), (None, Operation::ListObjects));
        let (request, operation) = op("GET", "/", &[]);
        assert_eq!((request.bucket, operation), (None, Operation::ListBuckets));
        let parts = parts("GET", "/b/%ff", &[]);
        assert!(matches!(S3Request::parse(&parts), Err(S3Error::InvalidUri)));
    }

    #[test]
    fn virtual_host_addressing() {
        let (request, operation) = op("PUT", "/dir/k", &[("host", "logs.localhost:4599")]);
        assert_eq!(request.bucket.as_deref(), Some("logs"));
        assert_eq!(request.key.as_deref(), Some("dir/k"));
        assert_eq!(operation, Operation::PutObject);
        let (request, _) = op("GET", "/b/k", &[("host", "127.0.0.1:4599")]);
        assert_eq!(request.bucket.as_deref(), Some("b"));
    }

    #[test]
    fn operations_by_method_and_subresource() {
        let cases = [
            ("PUT", "/b", Operation::CreateBucket),
            ("HEAD", "/b", Operation::HeadBucket),
            ("DELETE", "/b", Operation::DeleteBucket),
            ("GET", "/b?location", Operation::GetBucketLocation),
            ("GET", "/b?policy", Operation::GetBucketPolicy),
            ("PUT", "/b?policy", Operation::PutBucketPolicy),
            ("DELETE", "/b?policy", Operation::DeleteBucketPolicy),
            ("GET", "/b?list-type=2&prefix=a", Operation::ListObjectsV2),
            (
                "GET",
                "/b?prefix=a&encoding-type=url",
                Operation::ListObjects,
            ),
            ("POST", "/b?delete", Operation::DeleteObjects),
            ("HEAD", "/b/k", Operation::HeadObject),
            ("DELETE", "/b/k", Operation::DeleteObject),
            (
                "GET",
                "/b?versioning",
                not_implemented("GetBucketVersioning", false),
            ),
            (
                "PUT",
                "/b?tagging",
                not_implemented("PutBucketTagging", false),
            ),
            (
                "POST",
                "/b/k?uploads",
                not_implemented("CreateMultipartUpload", true),
            ),
            (
                "PUT",
                "/b/k?partNumber=1&uploadId=x",
                not_implemented("UploadPart", true),
            ),
            (
                "GET",
                "/b/k?tagging",
                not_implemented("GetObjectTagging", true),
            ),
        ];
        for (method, uri, expected) in cases {
            assert_eq!(op(method, uri, &[]).1, expected, "{method} {uri}");
        }
        let (_, copy) = op("PUT", "/b/k", &[("x-amz-copy-source", "/src/k")]);
        assert_eq!(copy, Operation::CopyObject);
    }

    #[test]
    fn classification_follows_cloudtrail() {
        assert!(Operation::GetObject.is_data_event() && Operation::GetObject.read_only());
        assert!(Operation::ListObjectsV2.is_data_event());
        assert_eq!(Operation::ListObjectsV2.event_name(), "ListObjects");
        assert!(!Operation::PutObject.read_only());
        assert!(!Operation::CreateBucket.is_data_event());
        assert!(
            Operation::GetBucketPolicy.read_only() && !Operation::GetBucketPolicy.is_data_event()
        );
        assert!(not_implemented("GetBucketAcl", false).read_only());
    }
}
