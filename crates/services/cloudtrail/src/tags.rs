//! Trail tags and their rules (AddTags, RemoveTags, ListTags and CreateTrail's `TagsList`;
//! the operations are in [`crate::trails`]).
//!
//! Tags live in the trail record ([`super::store::StoredTrail::tags`]), so deleting a trail
//! deletes its tags. Resources are named by ARN; only trails are taggable on this server.

use opentrail_model::Arn;
use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::error::CloudTrailError;
use super::validate::{TrailArn, invalid_arn};

/// Most tags on one resource.
pub const MAX_TAGS: usize = 50;
const KEY_MAX: usize = 128;
const VALUE_MAX: usize = 256;

/// One tag; a tag may have no value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

fn invalid(message: String) -> CloudTrailError {
    CloudTrailError::InvalidTagParameter(message)
}

fn allowed_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

/// Checks one request's tags: key and value length and characters, no reserved `aws:` keys,
/// no key twice.
pub fn validate_tags(tags: &[Tag]) -> Result<(), CloudTrailError> {
    let mut keys = HashSet::new();
    for tag in tags {
        let key_length = tag.key.chars().count();
        if key_length == 0 || key_length > KEY_MAX {
            return Err(invalid(format!(
                "Tag key {:?} is not valid: a key has 1 to {KEY_MAX} characters.",
                tag.key
            )));
        }
        if !tag.key.chars().all(allowed_char) {
            return Err(invalid(format!(
                "Tag key {:?} is not valid: keys may contain letters, numbers, spaces and _ . : / = + - @.",
                tag.key
            )));
        }
        if tag.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid(format!(
                "Tag key {} is not valid: the aws: prefix is reserved for AWS use.",
                tag.key
            )));
        }
        if let Some(value) = &tag.value
            && (value.chars().count() > VALUE_MAX || !value.chars().all(allowed_char))
        {
            return Err(invalid(format!(
                "Tag value for key {} is not valid: a value has at most {VALUE_MAX} letters, numbers, spaces and _ . : / = + - @.",
                tag.key
            )));
        }
        if !keys.insert(tag.key.as_str()) {
            return Err(invalid(format!(
                "Tag key {} is specified more than once.",
                tag.key
            )));
        }
    }
    Ok(())
}

/// Adds `tags` to `existing` (a new value replaces the old one of the same key) and checks the
/// per-resource limit.
pub fn merge_tags(
    existing: &mut Vec<Tag>,
    tags: Vec<Tag>,
    arn: &str,
) -> Result<(), CloudTrailError> {
    for tag in tags {
        match existing.iter_mut().find(|current| current.key == tag.key) {
            Some(current) => current.value = tag.value,
            None => existing.push(tag),
        }
    }
    if existing.len() > MAX_TAGS {
        return Err(CloudTrailError::TagsLimitExceeded {
            arn: arn.to_owned(),
            limit: MAX_TAGS,
        });
    }
    Ok(())
}

/// Checks that `resource_id` is a trail ARN (the only taggable resource here).
pub(crate) fn trail_arn_of(resource_id: &str) -> Result<TrailArn, CloudTrailError> {
    if let Some(arn) = TrailArn::parse(resource_id) {
        return Ok(arn);
    }
    let other_cloudtrail_resource = Arn::of_service(resource_id, "cloudtrail").is_some_and(|arn| {
        ["eventdatastore/", "channel/", "dashboard/"]
            .iter()
            .any(|kind| arn.resource.contains(kind))
    });
    if other_cloudtrail_resource {
        return Err(CloudTrailError::ResourceNotFound(resource_id.to_owned()));
    }
    Err(invalid_arn(resource_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str, value: Option<&str>) -> Tag {
        Tag {
            key: key.into(),
            value: value.map(str::to_owned),
        }
    }

    #[test]
    fn tag_rules() {
        assert!(validate_tags(&[tag("team", Some("core")), tag("empty", None)]).is_ok());
        assert!(validate_tags(&[tag("aws:reserved", Some("x"))]).is_err());
        assert!(validate_tags(&[tag("k", Some("a")), tag("k", Some("b"))]).is_err());
        assert!(validate_tags(&[tag("bad#key", None)]).is_err());
        assert!(validate_tags(&[tag(&"k".repeat(129), None)]).is_err());
        assert!(validate_tags(&[tag("k", Some(&"v".repeat(257)))]).is_err());
    }

    #[test]
    fn merge_replaces_values_and_enforces_the_limit() {
        let mut tags = vec![tag("a", Some("1")), tag("b", Some("2"))];
        merge_tags(&mut tags, vec![tag("b", Some("3")), tag("c", None)], "arn").expect("merge");
        assert_eq!(
            tags,
            vec![tag("a", Some("1")), tag("b", Some("3")), tag("c", None)]
        );
        let many: Vec<Tag> = (0..48).map(|i| tag(&format!("k{i}"), None)).collect();
        assert!(matches!(
            merge_tags(&mut tags, many, "arn"),
            Err(CloudTrailError::TagsLimitExceeded { .. })
        ));
    }

    #[test]
    fn resource_ids_must_be_trail_arns() {
        assert!(trail_arn_of("arn:aws:cloudtrail:us-east-1:123456789012:trail/t1x").is_ok());
        assert!(matches!(
            trail_arn_of("my-trail"),
            Err(CloudTrailError::CloudTrailArnInvalid(_))
        ));
        assert!(matches!(
            trail_arn_of("arn:aws:cloudtrail:us-east-1:123456789012:channel/abc"),
            Err(CloudTrailError::ResourceNotFound(_))
        ));
    }
}
