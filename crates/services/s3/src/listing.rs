//! ListObjects (v1) and ListObjectsV2: prefix, delimiter roll-up into common prefixes,
//! markers and continuation tokens, `encoding-type=url`.
//!
//! The page is computed over keys only ([`list_page`]); the attributes of the returned
//! objects are read afterwards. When a key rolls up into a common prefix, the scan jumps past
//! every key under that prefix instead of reading them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as TOKEN;
use bytes::Bytes;
use http::Response;
use opentrail_api::XmlWriter;
use opentrail_objects::{ObjectInfo, StoreError};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::error::S3Error;
use super::{Call, S3_XMLNS, canonical_id, iso_time, xml_body};

/// The most keys one page returns.
pub const MAX_KEYS: usize = 1000;
/// Keys fetched from the store per scan step.
const SCAN_BATCH: usize = 1000;
/// A string that sorts after every key (keys are at most 1024 bytes) starting with a given
/// prefix when appended to it: U+10FFFF is the largest UTF-8 sequence.
const PAST_ALL_KEYS: &str = "\u{10FFFF}";
const PAST_ALL_KEYS_REPEAT: usize = 1024 / 4 + 1;

/// `encoding-type=url` encodes everything but unreserved characters and `/`.
const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// One page of a listing, keys only.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KeyPage {
    pub keys: Vec<String>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// The last key or common prefix returned: where the next page starts.
    pub last: Option<String>,
}

impl KeyPage {
    fn len(&self) -> usize {
        self.keys.len() + self.common_prefixes.len()
    }
}

fn past_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + PAST_ALL_KEYS_REPEAT * 4);
    out.push_str(prefix);
    for _ in 0..PAST_ALL_KEYS_REPEAT {
        out.push_str(PAST_ALL_KEYS);
    }
    out
}

/// Computes one page. `fetch(start_after, limit)` returns keys with `prefix` in byte order
/// strictly after `start_after`.
pub fn list_page<F>(
    mut fetch: F,
    prefix: &str,
    delimiter: Option<&str>,
    start_after: Option<&str>,
    max_keys: usize,
) -> Result<KeyPage, StoreError>
where
    F: FnMut(Option<&str>, usize) -> Result<Vec<String>, StoreError>,
{
    let delimiter = delimiter.filter(|delimiter| !delimiter.is_empty());
    let mut page = KeyPage::default();
    if max_keys == 0 {
        return Ok(page);
    }
    let mut cursor = start_after.map(str::to_owned);
    let mut current_prefix: Option<String> = None;
    loop {
        let batch = fetch(cursor.as_deref(), SCAN_BATCH)?;
        let exhausted = batch.len() < SCAN_BATCH;
        for key in batch {
            if current_prefix
                .as_deref()
                .is_some_and(|common| key.starts_with(common))
            {
                continue;
            }
            let rolled_up = delimiter.and_then(|delimiter| {
                let rest = key.strip_prefix(prefix)?;
                let at = rest.find(delimiter)?;
                Some(key[..prefix.len() + at + delimiter.len()].to_owned())
            });
            match rolled_up {
                Some(common) => {
                    cursor = Some(past_prefix(&common));
                    let already_returned =
                        start_after.is_some_and(|marker| common.as_str() <= marker);
                    if !already_returned {
                        if page.len() == max_keys {
                            page.truncated = true;
                            return Ok(page);
                        }
                        page.common_prefixes.push(common.clone());
                        page.last = Some(common.clone());
                    }
                    current_prefix = Some(common);
                }
                None => {
                    if page.len() == max_keys {
                        page.truncated = true;
                        return Ok(page);
                    }
                    cursor = Some(key.clone());
                    page.last = Some(key.clone());
                    page.keys.push(key);
                }
            }
        }
        if exhausted {
            return Ok(page);
        }
    }
}

/// Percent-encodes `text` as S3 does for `encoding-type=url`.
pub fn url_encode(text: &str) -> String {
    utf8_percent_encode(text, URL_ENCODE).to_string()
}

fn max_keys(call: &Call<'_>) -> Result<usize, S3Error> {
    match call.request.param("max-keys") {
        None | Some("") => Ok(MAX_KEYS),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|max| (0..=i64::from(i32::MAX)).contains(max))
            .map(|max| usize::try_from(max).unwrap_or(MAX_KEYS).min(MAX_KEYS))
            .ok_or_else(|| {
                S3Error::InvalidArgument(format!(
                    "max-keys must be an integer between 0 and 2147483647, got {text:?}"
                ))
            }),
    }
}

fn url_encoding(call: &Call<'_>) -> Result<bool, S3Error> {
    match call.request.param("encoding-type") {
        None => Ok(false),
        Some(kind) if kind.eq_ignore_ascii_case("url") => Ok(true),
        Some(other) => Err(S3Error::InvalidArgument(format!(
            "invalid encoding method {other:?} specified in request; only url is supported"
        ))),
    }
}

/// Runs the listing and reads the attributes of the returned keys.
fn run(
    call: &Call<'_>,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    start_after: Option<&str>,
    max_keys: usize,
) -> Result<(KeyPage, Vec<ObjectInfo>), S3Error> {
    let objects = &call.state.objects;
    let page = list_page(
        |after, limit| objects.list_keys(bucket, prefix, after, limit),
        prefix,
        delimiter,
        start_after,
        max_keys,
    )?;
    let mut infos = Vec::with_capacity(page.keys.len());
    for key in &page.keys {
        match objects.head(bucket, key) {
            Ok(info) => infos.push(info),
            // Deleted since the keys were listed.
            Err(StoreError::NoSuchKey { .. }) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok((page, infos))
}

struct Encoder {
    url: bool,
}

impl Encoder {
    fn apply(&self, text: &str) -> String {
        if self.url {
            url_encode(text)
        } else {
            text.to_owned()
        }
    }
}

fn write_contents(
    xml: &mut XmlWriter,
    infos: &[ObjectInfo],
    owner: Option<&str>,
    encoder: &Encoder,
) {
    for info in infos {
        xml.open("Contents")
            .elem("Key", &encoder.apply(&info.key))
            .elem("LastModified", &iso_time(info.last_modified_ms))
            .elem("ETag", &format!("\"{}\"", info.etag))
            .elem("Size", &info.size.to_string());
        if let Some(owner) = owner {
            xml.open("Owner")
                .elem("ID", &canonical_id(owner))
                .elem("DisplayName", owner)
                .close("Owner");
        }
        xml.elem("StorageClass", "STANDARD").close("Contents");
    }
}

fn write_common_prefixes(xml: &mut XmlWriter, page: &KeyPage, encoder: &Encoder) {
    for common in &page.common_prefixes {
        xml.open("CommonPrefixes")
            .elem("Prefix", &encoder.apply(common))
            .close("CommonPrefixes");
    }
}

/// `GET /<bucket>`: ListObjects (v1).
pub fn list_objects(call: &mut Call<'_>, bucket: &str) -> Result<Response<Bytes>, S3Error> {
    let record = call.existing_bucket(bucket)?;
    let max_keys = max_keys(call)?;
    let encoder = Encoder {
        url: url_encoding(call)?,
    };
    let prefix = call.request.param("prefix").unwrap_or_default();
    let delimiter = call.request.param("delimiter").filter(|d| !d.is_empty());
    let marker = call.request.param("marker").filter(|m| !m.is_empty());
    let (page, infos) = run(call, bucket, prefix, delimiter, marker, max_keys)?;

    let mut xml = XmlWriter::new();
    xml.decl()
        .open_with_ns("ListBucketResult", S3_XMLNS)
        .elem("Name", bucket)
        .elem("Prefix", &encoder.apply(prefix))
        .elem("Marker", &encoder.apply(marker.unwrap_or_default()));
    if page.truncated && delimiter.is_some() {
        xml.opt_elem(
            "NextMarker",
            page.last
                .as_deref()
                .map(|last| encoder.apply(last))
                .as_deref(),
        );
    }
    xml.elem("MaxKeys", &max_keys.to_string());
    if let Some(delimiter) = delimiter {
        xml.elem("Delimiter", &encoder.apply(delimiter));
    }
    xml.elem("IsTruncated", if page.truncated { "true" } else { "false" });
    if encoder.url {
        xml.elem("EncodingType", "url");
    }
    write_contents(&mut xml, &infos, Some(&record.account_id), &encoder);
    write_common_prefixes(&mut xml, &page, &encoder);
    xml.close("ListBucketResult");
    Ok(xml_body(xml.finish()))
}

/// `GET /<bucket>?list-type=2`: ListObjectsV2.
pub fn list_objects_v2(call: &mut Call<'_>, bucket: &str) -> Result<Response<Bytes>, S3Error> {
    let record = call.existing_bucket(bucket)?;
    let max_keys = max_keys(call)?;
    let encoder = Encoder {
        url: url_encoding(call)?,
    };
    let prefix = call.request.param("prefix").unwrap_or_default();
    let delimiter = call.request.param("delimiter").filter(|d| !d.is_empty());
    let token = call.request.param("continuation-token");
    let start_after_param = call.request.param("start-after").filter(|s| !s.is_empty());
    let resume = match token {
        Some(token) => Some(
            TOKEN
                .decode(token)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| {
                    S3Error::InvalidArgument("the continuation token provided is incorrect".into())
                })?,
        ),
        None => start_after_param.map(str::to_owned),
    };
    let fetch_owner = call.request.param("fetch-owner") == Some("true");
    let (page, infos) = run(call, bucket, prefix, delimiter, resume.as_deref(), max_keys)?;

    let mut xml = XmlWriter::new();
    xml.decl()
        .open_with_ns("ListBucketResult", S3_XMLNS)
        .elem("Name", bucket)
        .elem("Prefix", &encoder.apply(prefix));
    if let Some(start_after) = start_after_param {
        xml.elem("StartAfter", &encoder.apply(start_after));
    }
    xml.opt_elem("ContinuationToken", token);
    if page.truncated
        && let Some(last) = &page.last
    {
        xml.elem("NextContinuationToken", &TOKEN.encode(last.as_bytes()));
    }
    xml.elem(
        "KeyCount",
        &(infos.len() + page.common_prefixes.len()).to_string(),
    )
    .elem("MaxKeys", &max_keys.to_string());
    if let Some(delimiter) = delimiter {
        xml.elem("Delimiter", &encoder.apply(delimiter));
    }
    xml.elem("IsTruncated", if page.truncated { "true" } else { "false" });
    if encoder.url {
        xml.elem("EncodingType", "url");
    }
    let owner = fetch_owner.then_some(record.account_id.as_str());
    write_contents(&mut xml, &infos, owner, &encoder);
    write_common_prefixes(&mut xml, &page, &encoder);
    xml.close("ListBucketResult");
    Ok(xml_body(xml.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sorted model of a bucket's keys, counting fetches.
    struct Model {
        keys: Vec<String>,
        fetches: usize,
    }

    impl Model {
        fn new(keys: &[&str]) -> Model {
            let mut keys: Vec<String> = keys.iter().map(|key| (*key).to_owned()).collect();
            keys.sort();
            Model { keys, fetches: 0 }
        }

        fn page(
            &mut self,
            prefix: &str,
            delimiter: Option<&str>,
            after: Option<&str>,
            max: usize,
        ) -> KeyPage {
            let keys = self.keys.clone();
            let fetches = &mut self.fetches;
            list_page(
                |start, limit| {
                    *fetches += 1;
                    Ok(keys
                        .iter()
                        .filter(|key| key.starts_with(prefix))
                        .filter(|key| start.is_none_or(|start| key.as_str() > start))
                        .take(limit)
                        .cloned()
                        .collect())
                },
                prefix,
                delimiter,
                after,
                max,
            )
            .expect("page")
        }
    }

    #[test]
    fn delimiter_rolls_keys_into_common_prefixes() {
        let mut model = Model::new(&["a/1", "a/2", "b", "c/x/y", "c/z", "d"]);
        let page = model.page("", Some("/"), None, 1000);
        assert_eq!(page.keys, ["b", "d"]);
        assert_eq!(page.common_prefixes, ["a/", "c/"]);
        assert!(!page.truncated);

        let page = model.page("c/", Some("/"), None, 1000);
        assert_eq!(page.keys, ["c/z"]);
        assert_eq!(page.common_prefixes, ["c/x/"]);
    }

    #[test]
    fn pagination_counts_prefixes_and_resumes_after_them() {
        let mut model = Model::new(&["a/1", "a/2", "b", "c/x", "d"]);
        let first = model.page("", Some("/"), None, 2);
        assert_eq!(
            (first.keys.clone(), first.common_prefixes.clone()),
            (vec!["b".to_owned()], vec!["a/".to_owned()])
        );
        assert!(first.truncated);
        assert_eq!(first.last.as_deref(), Some("b"));
        let second = model.page("", Some("/"), first.last.as_deref(), 2);
        assert_eq!(second.common_prefixes, ["c/"]);
        assert_eq!(second.keys, ["d"]);
        assert!(!second.truncated);
        // Resuming from a common prefix does not return it again.
        let resumed = model.page("", Some("/"), Some("a/"), 10);
        assert_eq!(resumed.common_prefixes, ["c/"]);
        assert_eq!(resumed.keys, ["b", "d"]);
    }

    #[test]
    fn without_delimiter_pages_walk_every_key() {
        let keys: Vec<String> = (0..2500).map(|n| format!("k{n:05}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut model = Model::new(&refs);
        let mut seen = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = model.page("k", None, marker.as_deref(), 1000);
            seen.extend(page.keys.clone());
            if !page.truncated {
                break;
            }
            marker = page.last.clone();
        }
        assert_eq!(seen, keys);
        assert_eq!(model.page("", None, None, 0), KeyPage::default());
    }

    #[test]
    fn common_prefixes_are_skipped_without_scanning_their_keys() {
        let mut keys: Vec<String> = (0..5000).map(|n| format!("big/{n:05}")).collect();
        keys.push("small".to_owned());
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut model = Model::new(&refs);
        let page = model.page("", Some("/"), None, 1000);
        assert_eq!(page.common_prefixes, ["big/"]);
        assert_eq!(page.keys, ["small"]);
        assert!(model.fetches <= 2, "fetched {} times", model.fetches);
    }

    #[test]
    fn url_encoding_keeps_slashes_and_unreserved() {
        assert_eq!(url_encode("a b/c+d/é~_.-"), "a%20b/c%2Bd/%C3%A9~_.-");
    }
}
