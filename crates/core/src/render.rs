//! AWS errors rendered in the protocol of the request they answer.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use opentrail_api::{ApiError, Protocol, Route};

/// Renders `err` in the protocol of `route`; `resource` is the S3 `<Resource>`.
pub fn error_response(
    route: &Route,
    err: &ApiError,
    request_id: &str,
    resource: &str,
) -> Response<Bytes> {
    let mut response = match route.protocol {
        Protocol::RestXml => opentrail_api::s3_error_response(err, request_id, resource),
        Protocol::AwsQuery => opentrail_api::query_error_response(
            err,
            request_id,
            "https://opentrail.invalid/doc/2010-03-31/",
        ),
        Protocol::AwsJson10 | Protocol::AwsJson11 | Protocol::RestJson | Protocol::RpcV2Cbor => {
            opentrail_api::json_error_response(err, request_id, route.protocol)
        }
    };
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    response
}

/// The answer for a service this server does not offer.
pub fn unknown_service(route: &Route, request_id: &str, offered: &[&str]) -> Response<Bytes> {
    let err = ApiError::new(
        "UnknownServiceException",
        StatusCode::BAD_REQUEST,
        format!(
            "service {:?} is not offered by this server; opentrail serves {}",
            route.service,
            offered.join(", ")
        ),
    );
    error_response(route, &err, request_id, "")
}
