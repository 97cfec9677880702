//! Bucket-level operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//! GetBucketLocation and the bucket policy.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as TOKEN;
use bytes::Bytes;
use http::{Response, StatusCode};
use opentrail_api::XmlWriter;
use serde_json::Value;

use super::error::S3Error;
use super::names::validate_bucket_name;
use super::{BUCKETS_TABLE, BucketRecord, Call, S3_XMLNS, canonical_id, iso_time, xml_body};

/// The region of buckets created without a location constraint.
const DEFAULT_REGION: &str = "us-east-1";
/// ListBuckets' page size when the client asks for pagination without `max-buckets`.
const DEFAULT_MAX_BUCKETS: usize = 10_000;

/// `GET /`: the caller's buckets, optionally filtered by prefix and region, paginated.
pub fn list_buckets(call: &mut Call<'_>) -> Result<Response<Bytes>, S3Error> {
    let prefix = call.request.param("prefix").unwrap_or_default();
    let region = call.request.param("bucket-region");
    let max = match call.request.param("max-buckets") {
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|max| (1..=DEFAULT_MAX_BUCKETS).contains(max))
            .ok_or_else(|| {
                S3Error::InvalidArgument(format!(
                    "max-buckets must be an integer from 1 to {DEFAULT_MAX_BUCKETS}, got {text:?}"
                ))
            })?,
        None => DEFAULT_MAX_BUCKETS,
    };
    let after = match call.request.param("continuation-token") {
        Some(token) => Some(decode_token(token)?),
        None => None,
    };
    let records: Vec<(String, BucketRecord)> = call.state.meta.list(BUCKETS_TABLE, prefix)?;
    let mut selected = records
        .into_iter()
        .map(|(_, record)| record)
        .filter(|record| record.account_id == call.ctx.account_id)
        .filter(|record| region.is_none_or(|region| record.region == region))
        .filter(|record| {
            after
                .as_deref()
                .is_none_or(|after| record.name.as_str() > after)
        });
    let page: Vec<BucketRecord> = selected.by_ref().take(max).collect();
    let more = selected.next().is_some();

    let mut xml = XmlWriter::new();
    xml.decl()
        .open_with_ns("ListAllMyBucketsResult", S3_XMLNS)
        .open("Owner")
        .elem("ID", &canonical_id(&call.ctx.account_id))
        .elem("DisplayName", &call.ctx.account_id)
        .close("Owner")
        .open("Buckets");
    for record in &page {
        xml.open("Bucket")
            .elem("Name", &record.name)
            .elem("CreationDate", &iso_time(record.created_ms))
            .elem("BucketRegion", &record.region)
            .close("Bucket");
    }
    xml.close("Buckets");
    if more && let Some(last) = page.last() {
        xml.elem("ContinuationToken", &TOKEN.encode(last.name.as_bytes()));
    }
    if call.request.has("prefix") {
        xml.elem("Prefix", prefix);
    }
    xml.close("ListAllMyBucketsResult");
    Ok(xml_body(xml.finish()))
}

fn decode_token(token: &str) -> Result<String, S3Error> {
    TOKEN
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            S3Error::InvalidArgument("the continuation token provided is incorrect".into())
        })
}

/// The location constraint of a CreateBucket body, and the body as recorded.
fn location_constraint(body: &[u8]) -> Result<(Option<String>, Option<Value>), S3Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((None, None));
    }
    let root = super::xml_body::parse(body)?;
    if root.name != "CreateBucketConfiguration" {
        return Err(S3Error::MalformedXml(format!(
            "expected a CreateBucketConfiguration element, found {}",
            root.name
        )));
    }
    let constraint = root
        .child("LocationConstraint")
        .map(|element| element.text.trim().to_owned())
        .filter(|text| !text.is_empty());
    let mut recorded = serde_json::Map::new();
    if let Some(constraint) = &constraint {
        recorded.insert(
            "LocationConstraint".into(),
            Value::from(constraint.as_str()),
        );
    }
    recorded.insert("xmlns".into(), Value::from(S3_XMLNS));
    Ok((constraint, Some(Value::Object(recorded))))
}

/// `PUT /<bucket>`.
pub fn create_bucket(call: &mut Call<'_>, name: &str) -> Result<Response<Bytes>, S3Error> {
    validate_bucket_name(name)?;
    let (constraint, recorded) = location_constraint(call.body)?;
    if let Some(recorded) = recorded {
        call.params
            .insert("CreateBucketConfiguration".into(), recorded);
    }
    let signing_region = call.ctx.region.as_str();
    let region = match constraint.as_deref() {
        Some(DEFAULT_REGION) => {
            return Err(S3Error::InvalidLocationConstraint(DEFAULT_REGION.into()));
        }
        Some(constraint) if constraint != signing_region => {
            return Err(S3Error::IllegalLocationConstraint(format!(
                "the {constraint} location constraint is incompatible for the region specific endpoint this request was sent to ({signing_region})"
            )));
        }
        Some(constraint) => constraint.to_owned(),
        None if signing_region != DEFAULT_REGION => {
            return Err(S3Error::IllegalLocationConstraint(format!(
                "the unspecified location constraint is incompatible for the region specific endpoint this request was sent to ({signing_region}); pass a LocationConstraint"
            )));
        }
        None => DEFAULT_REGION.to_owned(),
    };
    let account_id = call.ctx.account_id.clone();
    let record = BucketRecord {
        name: name.to_owned(),
        account_id: account_id.clone(),
        region,
        created_ms: (call.ctx.time.unix_timestamp_nanos() / 1_000_000) as i64,
        policy: None,
    };
    let objects = call.state.objects.clone();
    call.state.meta.write(|txn| {
        if let Some(existing) = txn.get::<BucketRecord>(BUCKETS_TABLE, name)? {
            if existing.account_id != account_id {
                return Err(S3Error::BucketAlreadyExists(name.to_owned()));
            }
            // S3's legacy us-east-1 behaviour: re-creating an owned bucket there succeeds.
            if existing.region == DEFAULT_REGION && record.region == DEFAULT_REGION {
                return Ok(());
            }
            return Err(S3Error::BucketAlreadyOwnedByYou(name.to_owned()));
        }
        objects.create_bucket(name)?;
        txn.put(BUCKETS_TABLE, name, &record)?;
        Ok(())
    })?;
    call.bucket_owner = Some(account_id);
    let mut response = Response::new(Bytes::new());
    super::set_header(&mut response, "location", &format!("/{name}"));
    Ok(response)
}

/// `HEAD /<bucket>`.
pub fn head_bucket(call: &mut Call<'_>, name: &str) -> Result<Response<Bytes>, S3Error> {
    let record = call.existing_bucket(name)?;
    let mut response = Response::new(Bytes::new());
    super::set_header(&mut response, "x-amz-bucket-region", &record.region);
    super::set_header(&mut response, "x-amz-access-point-alias", "false");
    Ok(response)
}

/// `DELETE /<bucket>`.
pub fn delete_bucket(call: &mut Call<'_>, name: &str) -> Result<Response<Bytes>, S3Error> {
    call.existing_bucket(name)?;
    match call.state.objects.delete_bucket(name) {
        // Only the metadata record is left (a create that failed half-way).
        Ok(()) | Err(opentrail_objects::StoreError::NoSuchBucket(_)) => {}
        Err(err) => return Err(err.into()),
    }
    call.state.meta.delete(BUCKETS_TABLE, name)?;
    Ok(super::empty(StatusCode::NO_CONTENT))
}

/// `GET /<bucket>?location`: empty for us-east-1, as S3 answers.
pub fn get_bucket_location(call: &mut Call<'_>, name: &str) -> Result<Response<Bytes>, S3Error> {
    let record = call.existing_bucket(name)?;
    let mut xml = XmlWriter::new();
    xml.decl();
    if record.region == DEFAULT_REGION {
        xml.raw(&format!("<LocationConstraint xmlns=\"{S3_XMLNS}\"/>"));
    } else {
        xml.open_with_ns("LocationConstraint", S3_XMLNS)
            .raw(&opentrail_api::xml::escape(&record.region))
            .close("LocationConstraint");
    }
    Ok(xml_body(xml.finish()))
}

/// `GET /<bucket>?policy`.
pub fn get_bucket_policy(call: &mut Call<'_>, name: &str) -> Result<Response<Bytes>, S3Error> {
    let record = call.existing_bucket(name)?;
    let policy = record
        .policy
        .ok_or_else(|| S3Error::NoSuchBucketPolicy(name.to_owned()))?;
    let mut response = Response::new(Bytes::from(policy));
    super::set_header(&mut response, "content-type", "application/json");
    Ok(response)
}

/// Checks a bucket policy document: JSON, an object, with statements.
pub fn validate_policy(body: &[u8]) -> Result<Value, S3Error> {
    let policy: Value = serde_json::from_slice(body).map_err(|err| {
        S3Error::MalformedPolicy(format!(
            "policies must be valid JSON and the first byte must be '{{': {err}"
        ))
    })?;
    let Some(document) = policy.as_object() else {
        return Err(S3Error::MalformedPolicy(
            "policies must be valid JSON and the first byte must be '{'".into(),
        ));
    };
    match document.get("Statement") {
        Some(Value::Array(statements)) if !statements.is_empty() => Ok(policy),
        Some(Value::Object(_)) => Ok(policy),
        _ => Err(S3Error::MalformedPolicy(
            "missing required field Statement (a statement object or a non-empty list)".into(),
        )),
    }
}

/// `PUT /<bucket>?policy`.
pub fn put_bucket_policy(call: &mut Call<'_>, name: &str) -> Result<Response<Bytes>, S3Error> {
    let policy = validate_policy(call.body);
    if let Ok(policy) = &policy {
        call.params.insert("bucketPolicy".into(), policy.clone());
    }
    call.existing_bucket(name)?;
    policy?;
    let text = String::from_utf8_lossy(call.body).trim().to_owned();
    let account_id = call.ctx.account_id.clone();
    call.state.meta.write(|txn| {
        let mut record: BucketRecord = txn
            .get(BUCKETS_TABLE, name)?
            .filter(|record: &BucketRecord| record.account_id == account_id)
            .ok_or_else(|| S3Error::NoSuchBucket(name.to_owned()))?;
        record.policy = Some(text);
        txn.put(BUCKETS_TABLE, name, &record)?;
        Ok::<_, S3Error>(())
    })?;
    Ok(super::empty(StatusCode::NO_CONTENT))
}

/// `DELETE /<bucket>?policy`.
pub fn delete_bucket_policy(call: &mut Call<'_>, name: &str) -> Result<Response<Bytes>, S3Error> {
    call.existing_bucket(name)?;
    let account_id = call.ctx.account_id.clone();
    call.state.meta.write(|txn| {
        let mut record: BucketRecord = txn
            .get(BUCKETS_TABLE, name)?
            .filter(|record: &BucketRecord| record.account_id == account_id)
            .ok_or_else(|| S3Error::NoSuchBucket(name.to_owned()))?;
        record.policy = None;
        txn.put(BUCKETS_TABLE, name, &record)?;
        Ok::<_, S3Error>(())
    })?;
    Ok(super::empty(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_constraint_bodies() {
        assert_eq!(location_constraint(b"").expect("empty").0, None);
        let body = br#"<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"#;
        let (constraint, recorded) = location_constraint(body).expect("parse");
        assert_eq!(constraint.as_deref(), Some("eu-west-1"));
        assert_eq!(
            recorded,
            Some(serde_json::json!({"LocationConstraint": "eu-west-1", "xmlns": S3_XMLNS}))
        );
        let err = location_constraint(b"<Other/>").expect_err("wrong root");
        assert_eq!(err.code(), "MalformedXML");
    }

    #[test]
    fn policies_must_be_json_objects_with_statements() {
        assert!(
            validate_policy(br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}"#)
                .is_ok()
        );
        for bad in [&b"not json"[..], b"[1]", b"{}", br#"{"Statement":[]}"#] {
            let err = validate_policy(bad).expect_err("malformed");
            assert_eq!(err.code(), "MalformedPolicy");
        }
    }

    #[test]
    fn bucket_tokens_round_trip() {
        let token = TOKEN.encode(b"my-bucket");
        assert_eq!(decode_token(&token).expect("decode"), "my-bucket");
        assert_eq!(
            decode_token("!!").expect_err("bad").code(),
            "InvalidArgument"
        );
    }
}
