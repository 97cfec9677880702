//! The MD5 digests SQS returns so clients can check what it stored: of the body (its UTF-8
//! bytes) and of the message attributes, which AWS hashes in a documented binary encoding:
//! for each attribute, sorted by name, `len(name) name len(type) type transport value` where
//! every `len` is a 4-byte big-endian length, `transport` is 1 for a string value, 2 for a
//! binary value, 3 for a string list and 4 for a binary list, and the value is itself
//! length-prefixed (each element, for lists). boto3 verifies both digests on every send and
//! receive.

use md5::{Digest, Md5};

use super::queue::AttributeValue;

/// Hex MD5 of the body.
pub fn body_md5(body: &str) -> String {
    hex::encode(Md5::digest(body.as_bytes()))
}

/// Hex MD5 of message attributes as AWS computes it; `None` when there are none.
pub fn attributes_md5<'a>(
    attributes: impl IntoIterator<Item = (&'a String, &'a AttributeValue)>,
) -> Option<String> {
    let mut sorted: Vec<(&String, &AttributeValue)> = attributes.into_iter().collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut md5 = Md5::new();
    for (name, value) in sorted {
        put(&mut md5, name.as_bytes());
        put(&mut md5, value.data_type.as_bytes());
        if let Some(text) = &value.string_value {
            md5.update([1u8]);
            put(&mut md5, text.as_bytes());
        } else if let Some(encoded) = &value.binary_value {
            md5.update([2u8]);
            put(&mut md5, &decode(encoded));
        } else if !value.string_list_values.is_empty() {
            md5.update([3u8]);
            for text in &value.string_list_values {
                put(&mut md5, text.as_bytes());
            }
        } else if !value.binary_list_values.is_empty() {
            md5.update([4u8]);
            for encoded in &value.binary_list_values {
                put(&mut md5, &decode(encoded));
            }
        }
    }
    Some(hex::encode(md5.finalize()))
}

/// Binary values are kept base64-encoded as they arrived; they were checked on the way in.
fn decode(encoded: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap_or_default()
}

fn put(md5: &mut Md5, bytes: &[u8]) {
    let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    md5.update(length.to_be_bytes());
    md5.update(bytes);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn string(data_type: &str, value: &str) -> AttributeValue {
        AttributeValue {
            data_type: data_type.into(),
            string_value: Some(value.into()),
            ..AttributeValue::default()
        }
    }

    #[test]
    fn body_digest() {
        assert_eq!(body_md5("hello"), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(body_md5(""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn attribute_digest_matches_known_vectors() {
        // Vectors computed independently (moto's Python implementation of AWS's algorithm).
        let mut attributes = BTreeMap::new();
        attributes.insert("one".to_owned(), string("String", "one"));
        attributes.insert(
            "two".to_owned(),
            AttributeValue {
                data_type: "Binary".into(),
                binary_value: Some("dHdv".into()),
                ..AttributeValue::default()
            },
        );
        attributes.insert("three".to_owned(), string("Number", "3"));
        assert_eq!(
            attributes_md5(&attributes).as_deref(),
            Some("faecac2999cc593291e59bc235dbda32")
        );
        let mut single = BTreeMap::new();
        single.insert("a".to_owned(), string("String", "b"));
        assert_eq!(
            attributes_md5(&single).as_deref(),
            Some("bef8bf215374a0a228d67533b1a488be")
        );
        assert_eq!(attributes_md5(&BTreeMap::new()), None);
    }

    #[test]
    fn attribute_digest_known_vector() {
        // Computed by hand from AWS's algorithm: name "a", type "String", value "b".
        let mut attributes = BTreeMap::new();
        attributes.insert("a".to_owned(), string("String", "b"));
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&[0, 0, 0, 1, b'a', 0, 0, 0, 6]);
        bytes.extend_from_slice(b"String");
        bytes.extend_from_slice(&[1, 0, 0, 0, 1, b'b']);
        assert_eq!(
            attributes_md5(&attributes),
            Some(hex::encode(Md5::digest(&bytes)))
        );
        // Order is by name bytes, not insertion.
        let mut reversed = BTreeMap::new();
        reversed.insert("b".to_owned(), string("String", "1"));
        reversed.insert("a".to_owned(), string("String", "2"));
        let forward: Vec<(String, AttributeValue)> = vec![
            ("b".to_owned(), string("String", "1")),
            ("a".to_owned(), string("String", "2")),
        ];
        assert_eq!(
            attributes_md5(forward.iter().map(|(k, v)| (k, v))),
            attributes_md5(&reversed)
        );
    }
}
