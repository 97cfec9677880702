//! Object-level operations: PutObject (plain and aws-chunked bodies), GetObject and
//! HeadObject (ranges, conditional requests), DeleteObject, DeleteObjects and CopyObject.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use opentrail_api::{ChunkSigner, XmlWriter};
use opentrail_model::Resource;
use opentrail_objects::{ByteRange, ObjectInfo, PutOptions, StoreError};
use percent_encoding::percent_decode_str;
use serde_json::Value;

use super::error::S3Error;
use super::request::Operation;
use super::{Call, S3_XMLNS, empty, http_date, iso_time, set_header, xml_body};

/// The S3 limit on user metadata (names and values of `x-amz-meta-*`).
const MAX_USER_METADATA: usize = 2048;
/// The longest key, in bytes.
const MAX_KEY_BYTES: usize = 1024;
/// Objects stored without a content type are served as this, as S3 does.
const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";
/// DeleteObjects takes at most this many keys.
const MAX_DELETE_KEYS: usize = 1000;

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn check_key(key: &str) -> Result<(), S3Error> {
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::KeyTooLong(key.len()));
    }
    Ok(())
}

/// The stored attributes given by request headers.
fn put_options(headers: &HeaderMap) -> Result<PutOptions, S3Error> {
    let text = |name: &str| header(headers, name).map(str::to_owned);
    let content_encoding = header(headers, "content-encoding")
        .map(|value| {
            value
                .split(',')
                .map(str::trim)
                .filter(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("aws-chunked"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|value| !value.is_empty());
    let mut user_metadata = BTreeMap::new();
    let mut metadata_size = 0;
    for (name, value) in headers {
        let Some(meta_name) = name.as_str().strip_prefix("x-amz-meta-") else {
            continue;
        };
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        metadata_size += meta_name.len() + value.len();
        user_metadata.insert(meta_name.to_owned(), value);
    }
    if metadata_size > MAX_USER_METADATA {
        return Err(S3Error::MetadataTooLarge(metadata_size));
    }
    Ok(PutOptions {
        content_type: text("content-type"),
        content_encoding,
        cache_control: text("cache-control"),
        content_disposition: text("content-disposition"),
        content_language: text("content-language"),
        user_metadata,
        sse: None,
    })
}

/// The object bytes of a request: the body itself, or the decoded aws-chunked payload and
/// its trailers.
fn object_body(call: &Call<'_>) -> Result<(Bytes, Vec<(String, String)>), S3Error> {
    if !opentrail_api::is_aws_chunked(call.parts) {
        return Ok((call.body.clone(), Vec::new()));
    }
    let signed = call
        .verified
        .payload_hash
        .starts_with("STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    let signer = signed.then(|| ChunkSigner::from_verified(call.verified));
    let decoded = opentrail_api::decode_aws_chunked(call.body, signer.as_ref())?;
    if let Some(expected) = opentrail_api::decoded_content_length(call.parts)
        && expected != decoded.data.len() as u64
    {
        return Err(S3Error::IncompleteBody {
            expected,
            received: decoded.data.len(),
        });
    }
    Ok((Bytes::from(decoded.data), decoded.trailers))
}

/// `PUT /<bucket>/<key>`.
pub fn put_object(
    call: &mut Call<'_>,
    bucket: &str,
    key: &str,
) -> Result<Response<Bytes>, S3Error> {
    check_key(key)?;
    call.existing_bucket(bucket)?;
    let (data, trailers) = object_body(call)?;
    call.bytes_in = data.len() as u64;
    let checksums = super::checksum::verify(&call.parts.headers, &trailers, &data)?;
    let options = put_options(&call.parts.headers)?;
    let info = call.state.objects.put(bucket, key, &data, &options)?;
    let mut response = Response::new(Bytes::new());
    set_header(&mut response, "etag", &format!("\"{}\"", info.etag));
    for (name, value) in checksums {
        set_header(&mut response, &name, &value);
    }
    Ok(response)
}

/// Parses a `Range` header; `None` when absent or not a single byte range (S3 then serves
/// the whole object).
pub fn parse_range(value: &str) -> Option<ByteRange> {
    let spec = value.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let number = |text: &str| -> Option<u64> {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse().ok())
            .flatten()
    };
    match (first.is_empty(), last.is_empty()) {
        (true, false) => number(last).map(ByteRange::Suffix),
        (false, true) => number(first).map(|start| ByteRange::FromTo { start, end: None }),
        (false, false) => {
            let (start, end) = (number(first)?, number(last)?);
            (end >= start).then_some(ByteRange::FromTo {
                start,
                end: Some(end),
            })
        }
        (true, true) => None,
    }
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.trim_start_matches("W/").trim_matches('"') == etag
    })
}

/// The outcome of the conditional headers: `Err` for 412, `Ok(true)` for 304.
fn not_modified(headers: &HeaderMap, info: &ObjectInfo) -> Result<bool, S3Error> {
    let modified_secs = info.last_modified_ms.div_euclid(1000);
    let date = |name: &str| {
        header(headers, name)
            .and_then(opentrail_api::sigv4::parse_http_date)
            .map(|at| at.unix_timestamp())
    };
    let if_match = header(headers, "if-match");
    if let Some(list) = if_match
        && !etag_matches(list, &info.etag)
    {
        return Err(S3Error::PreconditionFailed);
    }
    if if_match.is_none()
        && let Some(since) = date("if-unmodified-since")
        && modified_secs > since
    {
        return Err(S3Error::PreconditionFailed);
    }
    if let Some(list) = header(headers, "if-none-match") {
        return Ok(etag_matches(list, &info.etag));
    }
    if let Some(since) = date("if-modified-since") {
        return Ok(modified_secs <= since);
    }
    Ok(false)
}

/// The headers GetObject and HeadObject answer with.
fn object_headers(response: &mut Response<Bytes>, call: &Call<'_>, info: &ObjectInfo) {
    let options = &info.options;
    let overridden = |name: &str, stored: Option<&str>| -> Option<String> {
        call.request
            .param(&format!("response-{name}"))
            .or(stored)
            .map(str::to_owned)
    };
    let content_type = overridden("content-type", options.content_type.as_deref())
        .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned());
    set_header(response, "content-type", &content_type);
    set_header(response, "etag", &format!("\"{}\"", info.etag));
    set_header(response, "last-modified", &http_date(info.last_modified_ms));
    set_header(response, "accept-ranges", "bytes");
    let optional = [
        ("content-encoding", options.content_encoding.as_deref()),
        ("cache-control", options.cache_control.as_deref()),
        (
            "content-disposition",
            options.content_disposition.as_deref(),
        ),
        ("content-language", options.content_language.as_deref()),
        ("expires", None),
    ];
    for (name, stored) in optional {
        if let Some(value) = overridden(name, stored) {
            set_header(response, name, &value);
        }
    }
    for (name, value) in &options.user_metadata {
        set_header(response, &format!("x-amz-meta-{name}"), value);
    }
}

/// `GET /<bucket>/<key>`.
pub fn get_object(
    call: &mut Call<'_>,
    bucket: &str,
    key: &str,
) -> Result<Response<Bytes>, S3Error> {
    call.existing_bucket(bucket)?;
    let range = header(&call.parts.headers, "range").and_then(parse_range);
    let info = call.state.objects.head(bucket, key)?;
    if not_modified(&call.parts.headers, &info)? {
        let mut response = empty(StatusCode::NOT_MODIFIED);
        set_header(&mut response, "etag", &format!("\"{}\"", info.etag));
        set_header(
            &mut response,
            "last-modified",
            &http_date(info.last_modified_ms),
        );
        return Ok(response);
    }
    let (info, data) = call.state.objects.get(bucket, key, range)?;
    let mut response = Response::new(Bytes::from(data));
    object_headers(&mut response, call, &info);
    if let Some(range) = range {
        let (first, last) = range.resolve(info.size)?;
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        set_header(
            &mut response,
            "content-range",
            &format!("bytes {first}-{last}/{}", info.size),
        );
    }
    Ok(response)
}

/// `HEAD /<bucket>/<key>`.
pub fn head_object(
    call: &mut Call<'_>,
    bucket: &str,
    key: &str,
) -> Result<Response<Bytes>, S3Error> {
    call.existing_bucket(bucket)?;
    let info = call.state.objects.head(bucket, key)?;
    if not_modified(&call.parts.headers, &info)? {
        return Ok(empty(StatusCode::NOT_MODIFIED));
    }
    let mut response = Response::new(Bytes::new());
    object_headers(&mut response, call, &info);
    // The body is empty, so say how long the object is explicitly.
    let range = header(&call.parts.headers, "range").and_then(parse_range);
    match range {
        Some(range) => {
            let (first, last) = range.resolve(info.size)?;
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            set_header(
                &mut response,
                "content-range",
                &format!("bytes {first}-{last}/{}", info.size),
            );
            set_header(
                &mut response,
                "content-length",
                &(last - first + 1).to_string(),
            );
        }
        None => set_header(&mut response, "content-length", &info.size.to_string()),
    }
    Ok(response)
}

/// `DELETE /<bucket>/<key>`: succeeds whether or not the object existed.
pub fn delete_object(
    call: &mut Call<'_>,
    bucket: &str,
    key: &str,
) -> Result<Response<Bytes>, S3Error> {
    call.existing_bucket(bucket)?;
    call.state.objects.delete(bucket, key)?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// The keys and quiet flag of a DeleteObjects body.
pub fn parse_delete(body: &[u8]) -> Result<(Vec<String>, bool), S3Error> {
    let root = super::xml_body::parse(body)?;
    if root.name != "Delete" {
        return Err(S3Error::MalformedXml(format!(
            "expected a Delete element, found {}",
            root.name
        )));
    }
    let mut keys = Vec::new();
    for object in root.children_named("Object") {
        let key = object
            .child("Key")
            .ok_or_else(|| S3Error::MalformedXml("an Object element has no Key".into()))?;
        keys.push(key.text.clone());
    }
    if keys.is_empty() || keys.len() > MAX_DELETE_KEYS {
        return Err(S3Error::MalformedXml(format!(
            "a Delete request names 1 to {MAX_DELETE_KEYS} objects, this one names {}",
            keys.len()
        )));
    }
    let quiet = root
        .child("Quiet")
        .is_some_and(|quiet| quiet.text.trim().eq_ignore_ascii_case("true"));
    Ok((keys, quiet))
}

/// `POST /<bucket>?delete`.
pub fn delete_objects(call: &mut Call<'_>, bucket: &str) -> Result<Response<Bytes>, S3Error> {
    call.existing_bucket(bucket)?;
    super::checksum::verify(&call.parts.headers, &[], call.body)?;
    let (keys, quiet) = parse_delete(call.body)?;
    let mut xml = XmlWriter::new();
    xml.decl().open_with_ns("DeleteResult", S3_XMLNS);
    for key in &keys {
        let outcome = if key.is_empty() || key.len() > MAX_KEY_BYTES {
            Err(S3Error::InvalidArgument(
                "the key is empty or longer than 1024 bytes".into(),
            ))
        } else {
            call.state
                .objects
                .delete(bucket, key)
                .map_err(S3Error::from)
        };
        match outcome {
            Ok(_) if quiet => {}
            Ok(_) => {
                xml.open("Deleted").elem("Key", key).close("Deleted");
            }
            Err(err) => {
                let api = err.to_api_error();
                xml.open("Error")
                    .elem("Key", key)
                    .elem("Code", &api.code)
                    .elem("Message", &api.message)
                    .close("Error");
            }
        }
    }
    xml.close("DeleteResult");
    Ok(xml_body(xml.finish()))
}

/// The bucket and key of `x-amz-copy-source` (`[/]bucket/key[?versionId=..]`, URL-encoded).
pub fn parse_copy_source(value: &str) -> Result<(String, String), S3Error> {
    let invalid = || {
        S3Error::InvalidArgument(format!(
            "copy source {value:?} must be of the form bucket/key"
        ))
    };
    let path = value
        .split_once("?versionId=")
        .map_or(value, |(path, _)| path);
    let decoded = percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| invalid())?
        .into_owned();
    let trimmed = decoded.strip_prefix('/').unwrap_or(&decoded);
    let (bucket, key) = trimmed.split_once('/').ok_or_else(invalid)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(invalid());
    }
    Ok((bucket.to_owned(), key.to_owned()))
}

/// `PUT /<bucket>/<key>` with `x-amz-copy-source`.
pub fn copy_object(
    call: &mut Call<'_>,
    bucket: &str,
    key: &str,
) -> Result<Response<Bytes>, S3Error> {
    check_key(key)?;
    let source = header(&call.parts.headers, "x-amz-copy-source")
        .unwrap_or_default()
        .to_owned();
    call.params
        .insert("x-amz-copy-source".into(), Value::from(source.as_str()));
    let (source_bucket, source_key) = parse_copy_source(&source)?;
    call.existing_bucket(bucket)?;
    let source_record = super::bucket(call.state, &source_bucket)?
        .ok_or_else(|| S3Error::NoSuchBucket(source_bucket.clone()))?;
    // The copy reads the source: s3:GetObject on it, by its bucket's policy too.
    super::authorize::check_on(
        call,
        Operation::GetObject,
        &source_bucket,
        Some(&source_record),
        &source_key,
    )?;
    call.extra_resources.push(Resource {
        account_id: None,
        resource_type: Some("AWS::S3::Object".into()),
        arn: Some(format!("arn:aws:s3:::{source_bucket}/{source_key}")),
    });
    if source_bucket != bucket {
        call.extra_resources.push(Resource {
            account_id: Some(source_record.account_id.clone()),
            resource_type: Some("AWS::S3::Bucket".into()),
            arn: Some(format!("arn:aws:s3:::{source_bucket}")),
        });
    }
    let replace = header(&call.parts.headers, "x-amz-metadata-directive")
        .is_some_and(|directive| directive.eq_ignore_ascii_case("REPLACE"));
    if !replace && source_bucket == bucket && source_key == key {
        return Err(S3Error::InvalidRequest(
            "this copy request is illegal because it is trying to copy an object to itself without changing the object's metadata; use x-amz-metadata-directive: REPLACE".into(),
        ));
    }
    let (source_info, data) = match call.state.objects.get(&source_bucket, &source_key, None) {
        Err(StoreError::NoSuchKey { .. }) => return Err(S3Error::NoSuchKey(source_key)),
        other => other?,
    };
    let options = if replace {
        put_options(&call.parts.headers)?
    } else {
        source_info.options
    };
    let info = call.state.objects.put(bucket, key, &data, &options)?;
    let mut xml = XmlWriter::new();
    xml.decl()
        .open_with_ns("CopyObjectResult", S3_XMLNS)
        .elem("LastModified", &iso_time(info.last_modified_ms))
        .elem("ETag", &format!("\"{}\"", info.etag))
        .close("CopyObjectResult");
    Ok(xml_body(xml.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_headers() {
        assert_eq!(
            parse_range("bytes=0-4"),
            Some(ByteRange::FromTo {
                start: 0,
                end: Some(4)
            })
        );
        assert_eq!(
            parse_range("bytes=5-"),
            Some(ByteRange::FromTo {
                start: 5,
                end: None
            })
        );
        assert_eq!(parse_range("bytes=-3"), Some(ByteRange::Suffix(3)));
        for ignored in [
            "bytes=4-2",
            "bytes=a-b",
            "bytes=-",
            "items=0-1",
            "bytes=0-1,3-4",
            "",
        ] {
            assert_eq!(parse_range(ignored), None, "{ignored}");
        }
    }

    #[test]
    fn conditional_headers() {
        let info = ObjectInfo {
            key: "k".into(),
            size: 1,
            etag: "abc".into(),
            last_modified_ms: 1_700_000_000_000,
            options: PutOptions::default(),
        };
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, value.parse().expect("value"));
            }
            map
        };
        assert!(!not_modified(&headers(&[]), &info).expect("none"));
        assert!(not_modified(&headers(&[("if-none-match", "\"abc\"")]), &info).expect("304"));
        assert!(!not_modified(&headers(&[("if-none-match", "\"x\"")]), &info).expect("200"));
        assert!(not_modified(&headers(&[("if-match", "\"x\"")]), &info).is_err());
        assert!(!not_modified(&headers(&[("if-match", "*")]), &info).expect("match"));
        let later = "Wed, 15 Nov 2023 00:00:00 GMT";
        let earlier = "Mon, 13 Nov 2023 00:00:00 GMT";
        assert!(not_modified(&headers(&[("if-modified-since", later)]), &info).expect("304"));
        assert!(!not_modified(&headers(&[("if-modified-since", earlier)]), &info).expect("200"));
        assert!(not_modified(&headers(&[("if-unmodified-since", earlier)]), &info).is_err());
    }

    #[test]
    fn put_options_strip_aws_chunked_and_collect_metadata() {
        let mut headers = HeaderMap::new();
        headers.insert("content-encoding", "aws-chunked".parse().expect("value"));
        headers.insert("content-type", "text/plain".parse().expect("value"));
        headers.insert("x-amz-meta-signature", "abc".parse().expect("value"));
        let options = put_options(&headers).expect("options");
        assert_eq!(options.content_encoding, None);
        assert_eq!(options.content_type.as_deref(), Some("text/plain"));
        assert_eq!(
            options.user_metadata.get("signature").map(String::as_str),
            Some("abc")
        );
        headers.insert(
            "content-encoding",
            "gzip, aws-chunked".parse().expect("value"),
        );
        assert_eq!(
            put_options(&headers)
                .expect("options")
                .content_encoding
                .as_deref(),
            Some("gzip")
        );
        headers.insert("x-amz-meta-big", "x".repeat(3000).parse().expect("value"));
        assert_eq!(
            put_options(&headers).expect_err("too large").code(),
            "MetadataTooLarge"
        );
    }

    #[test]
    fn delete_bodies_and_copy_sources() {
        let (keys, quiet) = parse_delete(b"<Delete><Object><Key>a</Key></Object><Object><Key>b/c</Key></Object><Quiet>true</Quiet></Delete>").expect("parse");
        assert_eq!(
            (keys, quiet),
            (vec!["a".to_owned(), "b/c".to_owned()], true)
        );
        assert_eq!(
            parse_delete(b"<Delete></Delete>")
                .expect_err("empty")
                .code(),
            "MalformedXML"
        );
        assert_eq!(
            parse_copy_source("/src/a%20b/c?versionId=null").expect("parse"),
            ("src".to_owned(), "a b/c".to_owned())
        );
        assert_eq!(
            parse_copy_source("src/k").expect("parse"),
            ("src".to_owned(), "k".to_owned())
        );
        assert!(parse_copy_source("nokey").is_err());
    }
}
