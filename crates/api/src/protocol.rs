//! Which service, protocol and operation a request is for.
//!
//! All services share one listener, so [`route`] looks at what the AWS clients actually send:
//!
//! 1. `X-Amz-Target: <prefix>.<Operation>` → awsJson (1.0 or 1.1 by content type);
//! 2. `smithy-protocol: rpc-v2-cbor` → Smithy RPC v2 CBOR, operation = last path segment;
//! 3. `Action=` in a form body (`application/x-www-form-urlencoded`) or in the query → awsQuery;
//! 4. otherwise the SigV4 signing name decides: `s3` → restXml, anything else (such as
//!    `cloudtrail-data`) → restJson; an unauthenticated request is an S3 restXml request.
//!
//! The service is the signing name from the credential scope when there is one, otherwise it
//! is inferred from the `X-Amz-Target` prefix, the awsQuery `Version` or the CBOR path.

use percent_encoding::percent_decode;

use crate::sigv4::credential_scope;

/// The wire protocol of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// awsJson 1.0 (`application/x-amz-json-1.0`), e.g. SQS.
    AwsJson10,
    /// awsJson 1.1 (`application/x-amz-json-1.1`), e.g. CloudTrail, EventBridge, Logs.
    AwsJson11,
    /// awsQuery (form-encoded `Action=`), e.g. SNS, STS.
    AwsQuery,
    /// restJson, e.g. cloudtrail-data.
    RestJson,
    /// restXml, i.e. S3.
    RestXml,
    /// Smithy RPC v2 CBOR, e.g. CloudWatch in recent SDKs.
    RpcV2Cbor,
}

impl Protocol {
    /// The response content type of the JSON protocols; `None` for the others.
    pub fn json_content_type(self) -> Option<&'static str> {
        match self {
            Protocol::AwsJson10 => Some("application/x-amz-json-1.0"),
            Protocol::AwsJson11 => Some("application/x-amz-json-1.1"),
            Protocol::RestJson => Some("application/json"),
            Protocol::AwsQuery | Protocol::RestXml | Protocol::RpcV2Cbor => None,
        }
    }
}

/// Where a request goes.
#[derive(Debug, Clone)]
pub struct Route {
    /// The SigV4 signing name: `cloudtrail`, `s3`, `events`, `logs`, `sns`, `sqs`, `monitoring`,
    /// `sts`, `cloudtrail-data`, ...
    pub service: String,
    /// The wire protocol.
    pub protocol: Protocol,
    /// The operation name for the RPC protocols (`LookupEvents`, `Publish`, ...); `None` for
    /// the REST protocols, whose operation comes from method and path.
    pub operation: Option<String>,
}

/// `X-Amz-Target` prefixes (the part before the last `.`, matched by suffix) and their
/// signing names.
const TARGET_PREFIXES: &[(&str, &str)] = &[
    ("CloudTrail_20131101", "cloudtrail"),
    ("AWSEvents", "events"),
    ("Logs_20140328", "logs"),
    ("AmazonSQS", "sqs"),
    ("GraniteServiceVersion20100801", "monitoring"),
    ("AWSSecurityTokenServiceV20110615", "sts"),
    ("TrentService", "kms"),
    ("DynamoDB_20120810", "dynamodb"),
    ("AmazonSNS", "sns"),
];

/// awsQuery `Version=` values and their signing names.
const QUERY_VERSIONS: &[(&str, &str)] = &[
    ("2010-03-31", "sns"),
    ("2011-06-15", "sts"),
    ("2012-11-05", "sqs"),
    ("2010-08-01", "monitoring"),
    ("2010-05-08", "iam"),
];

/// Smithy service shape names (in rpc-v2-cbor paths) and their signing names.
const CBOR_SERVICES: &[(&str, &str)] = &[("GraniteServiceVersion20100801", "monitoring")];

/// Decides service, protocol and operation without verifying anything.
pub fn route(parts: &http::request::Parts, body: &[u8]) -> Route {
    let scope_service = credential_scope(parts).map(|scope| scope.service);
    let content_type = header(parts, "content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();

    if let Some(target) = header(parts, "x-amz-target") {
        let (prefix, operation) = target.rsplit_once('.').unwrap_or(("", target.as_str()));
        let protocol = if content_type.contains("application/x-amz-json-1.0") {
            Protocol::AwsJson10
        } else if content_type.contains("application/x-amz-json-1.1") {
            Protocol::AwsJson11
        } else {
            default_json_protocol(prefix)
        };
        let service = scope_service
            .or_else(|| lookup_suffix(TARGET_PREFIXES, prefix))
            .unwrap_or_else(|| "unknown".to_owned());
        return Route {
            service,
            protocol,
            operation: non_empty(operation),
        };
    }

    if header(parts, "smithy-protocol")
        .is_some_and(|value| value.eq_ignore_ascii_case("rpc-v2-cbor"))
    {
        let mut segments = parts.uri.path().split('/').filter(|s| !s.is_empty());
        let operation = parts
            .uri
            .path()
            .rsplit('/')
            .find(|segment| !segment.is_empty())
            .map(str::to_owned);
        // Paths look like /service/<ServiceShape>/operation/<Operation>.
        let service_shape = match (segments.next(), segments.next()) {
            (Some("service"), Some(shape)) => Some(shape),
            _ => None,
        };
        let service = scope_service
            .or_else(|| service_shape.and_then(|shape| lookup_suffix(CBOR_SERVICES, shape)))
            .unwrap_or_else(|| "unknown".to_owned());
        return Route {
            service,
            protocol: Protocol::RpcV2Cbor,
            operation,
        };
    }

    if scope_service.as_deref() != Some("s3") {
        let query_params = parse_query_params(parts.uri.query().unwrap_or("").as_bytes());
        let form_params = if content_type.starts_with("application/x-www-form-urlencoded") {
            parse_query_params(body)
        } else {
            Vec::new()
        };
        let find = |name: &str| {
            form_params
                .iter()
                .chain(query_params.iter())
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        if let Some(action) = find("Action") {
            let service = scope_service
                .clone()
                .or_else(|| find("Version").and_then(|v| lookup_exact(QUERY_VERSIONS, &v)))
                .unwrap_or_else(|| "unknown".to_owned());
            return Route {
                service,
                protocol: Protocol::AwsQuery,
                operation: non_empty(&action),
            };
        }
    }

    match scope_service {
        Some(service) if service == "s3" => Route {
            service,
            protocol: Protocol::RestXml,
            operation: None,
        },
        Some(service) => Route {
            service,
            protocol: Protocol::RestJson,
            operation: None,
        },
        None => Route {
            service: "s3".to_owned(),
            protocol: Protocol::RestXml,
            operation: None,
        },
    }
}

/// Services whose target prefix is known but whose client sent an unexpected content type.
fn default_json_protocol(prefix: &str) -> Protocol {
    if prefix.ends_with("AmazonSQS") || prefix.ends_with("GraniteServiceVersion20100801") {
        Protocol::AwsJson10
    } else {
        Protocol::AwsJson11
    }
}

fn lookup_suffix(table: &[(&str, &str)], prefix: &str) -> Option<String> {
    table
        .iter()
        .find(|(known, _)| {
            prefix == *known
                || prefix
                    .strip_suffix(known)
                    .is_some_and(|head| head.ends_with('.'))
        })
        .map(|(_, service)| (*service).to_owned())
}

fn lookup_exact(table: &[(&str, &str)], key: &str) -> Option<String> {
    table
        .iter()
        .find(|(known, _)| *known == key)
        .map(|(_, service)| (*service).to_owned())
}

fn header(parts: &http::request::Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get(name)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).trim().to_owned())
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// Decodes `application/x-www-form-urlencoded` pairs (`+` is a space); bytes that are not
/// UTF-8 become U+FFFD. Never fails.
pub fn parse_query_params(body_or_query: &[u8]) -> Vec<(String, String)> {
    body_or_query
        .split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = match pair.iter().position(|b| *b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &b""[..]),
            };
            (form_decode(key), form_decode(value))
        })
        .collect()
}

fn form_decode(bytes: &[u8]) -> String {
    let spaced: Vec<u8> = bytes
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    String::from_utf8_lossy(&percent_decode(&spaced).collect::<Vec<u8>>()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(builder: http::request::Builder) -> http::request::Parts {
        builder.body(()).expect("request").into_parts().0
    }

    fn auth(service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKID/20250314/us-east-1/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
            "0".repeat(64)
        )
    }

    #[test]
    fn json_targets() {
        let request = parts(
            http::Request::post("/")
                .header(
                    "x-amz-target",
                    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
                )
                .header("content-type", "application/x-amz-json-1.1"),
        );
        let route = route(&request, b"{}");
        assert_eq!(route.service, "cloudtrail");
        assert_eq!(route.protocol, Protocol::AwsJson11);
        assert_eq!(route.operation.as_deref(), Some("LookupEvents"));

        let request = parts(
            http::Request::post("/")
                .header("x-amz-target", "AmazonSQS.SendMessage")
                .header("content-type", "application/x-amz-json-1.0")
                .header("authorization", auth("sqs")),
        );
        let route = super::route(&request, b"{}");
        assert_eq!(
            (route.service.as_str(), route.protocol),
            ("sqs", Protocol::AwsJson10)
        );
        assert_eq!(route.operation.as_deref(), Some("SendMessage"));

        let request = parts(
            http::Request::post("/")
                .header("x-amz-target", "Logs_20140328.PutLogEvents")
                .header("content-type", "application/json"),
        );
        let route = super::route(&request, b"");
        assert_eq!(
            (route.service.as_str(), route.protocol),
            ("logs", Protocol::AwsJson11)
        );

        let request = parts(http::Request::post("/").header("x-amz-target", "AWSEvents.PutEvents"));
        assert_eq!(super::route(&request, b"").service, "events");
    }

    #[test]
    fn credential_scope_wins_over_target_prefix() {
        let request = parts(
            http::Request::post("/")
                .header("x-amz-target", "Mystery.DoThing")
                .header("content-type", "application/x-amz-json-1.1")
                .header("authorization", auth("custom")),
        );
        let route = route(&request, b"");
        assert_eq!(route.service, "custom");
        assert_eq!(route.operation.as_deref(), Some("DoThing"));
    }

    #[test]
    fn rpc_v2_cbor() {
        let request = parts(
            http::Request::post("/service/GraniteServiceVersion20100801/operation/PutMetricData")
                .header("smithy-protocol", "rpc-v2-cbor")
                .header("content-type", "application/cbor"),
        );
        let route = route(&request, b"\xa0");
        assert_eq!(route.protocol, Protocol::RpcV2Cbor);
        assert_eq!(route.service, "monitoring");
        assert_eq!(route.operation.as_deref(), Some("PutMetricData"));
    }

    #[test]
    fn aws_query_from_body_and_query() {
        let request = parts(
            http::Request::post("/")
                .header(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                )
                .header("authorization", auth("sns")),
        );
        let route = route(&request, b"Action=Publish&Version=2010-03-31&Message=hi");
        assert_eq!(route.protocol, Protocol::AwsQuery);
        assert_eq!(route.service, "sns");
        assert_eq!(route.operation.as_deref(), Some("Publish"));

        let request = parts(
            http::Request::post("/").header("content-type", "application/x-www-form-urlencoded"),
        );
        let route = super::route(&request, b"Action=GetCallerIdentity&Version=2011-06-15");
        assert_eq!(
            (route.service.as_str(), route.protocol),
            ("sts", Protocol::AwsQuery)
        );

        let request = parts(http::Request::get("/?Action=ListTopics&Version=2010-03-31"));
        let route = super::route(&request, b"");
        assert_eq!(route.protocol, Protocol::AwsQuery);
        assert_eq!(route.operation.as_deref(), Some("ListTopics"));
        assert_eq!(route.service, "sns");
    }

    #[test]
    fn rest_protocols_from_scope() {
        let request = parts(http::Request::get("/bucket/key").header("authorization", auth("s3")));
        let route = route(&request, b"");
        assert_eq!(
            (route.service.as_str(), route.protocol),
            ("s3", Protocol::RestXml)
        );
        assert_eq!(route.operation, None);

        // An S3 form POST never becomes awsQuery.
        let request = parts(
            http::Request::post("/bucket?Action=x")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", auth("s3")),
        );
        assert_eq!(
            super::route(&request, b"Action=y").protocol,
            Protocol::RestXml
        );

        let request = parts(
            http::Request::post("/PutAuditEvents?channelArn=x")
                .header("authorization", auth("cloudtrail-data")),
        );
        let route = super::route(&request, b"{}");
        assert_eq!(
            (route.service.as_str(), route.protocol),
            ("cloudtrail-data", Protocol::RestJson)
        );

        let presigned = parts(http::Request::get(
            "/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20250314%2Fus-east-1%2Fs3%2Faws4_request",
        ));
        let route = super::route(&presigned, b"");
        assert_eq!(
            (route.service.as_str(), route.protocol),
            ("s3", Protocol::RestXml)
        );

        let anonymous = parts(http::Request::get("/bucket/key"));
        let route = super::route(&anonymous, b"");
        assert_eq!(
            (route.service.as_str(), route.protocol),
            ("s3", Protocol::RestXml)
        );
    }

    #[test]
    fn garbage_never_panics() {
        let request = parts(
            http::Request::post("/")
                .header("x-amz-target", ".")
                .header("authorization", "AWS4-HMAC-SHA256 Credential=/////"),
        );
        let route = route(&request, b"\xff\xfe");
        assert_eq!(route.operation, None);
        let request = parts(
            http::Request::post("/")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("smithy-protocol", "json"),
        );
        let route = super::route(&request, b"%%%&&==Action");
        assert_eq!(route.protocol, Protocol::RestXml);
    }

    #[test]
    fn form_params_decode() {
        let params = parse_query_params(
            b"Action=Publish&Message=hello+world%21&Empty=&Flag&a%3Db=c%26d&&bad=%zz%",
        );
        assert_eq!(
            params,
            vec![
                ("Action".to_owned(), "Publish".to_owned()),
                ("Message".to_owned(), "hello world!".to_owned()),
                ("Empty".to_owned(), String::new()),
                ("Flag".to_owned(), String::new()),
                ("a=b".to_owned(), "c&d".to_owned()),
                ("bad".to_owned(), "%zz%".to_owned()),
            ]
        );
        let lossy = parse_query_params(b"k=%ff%fe");
        assert_eq!(lossy, vec![("k".to_owned(), "\u{fffd}\u{fffd}".to_owned())]);
    }
}
