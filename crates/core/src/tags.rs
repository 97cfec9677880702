//! Tags as the JSON services (EventBridge, Organizations) take, keep and answer them:
//! `{"Key": …, "Value": …}`, a later key replacing an earlier one.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One tag, `Key` / `Value` as the API spells them (and as the stores keep them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// Adds a tag, replacing the value of a tag with the same key.
pub fn merge_tag(tags: &mut Vec<Tag>, tag: Tag) {
    match tags.iter_mut().find(|existing| existing.key == tag.key) {
        Some(existing) => existing.value = tag.value,
        None => tags.push(tag),
    }
}

/// The tags as the API answers them: a list of `{"Key", "Value"}`.
pub fn tags_json(tags: &[Tag]) -> Value {
    Value::Array(
        tags.iter()
            .map(|tag| json!({"Key": tag.key, "Value": tag.value}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_given_again_replaces_its_value() {
        let tag = |key: &str, value: &str| Tag {
            key: key.into(),
            value: value.into(),
        };
        let mut tags = vec![tag("env", "dev")];
        merge_tag(&mut tags, tag("team", "ops"));
        merge_tag(&mut tags, tag("env", "prod"));
        assert_eq!(tags, vec![tag("env", "prod"), tag("team", "ops")]);
        assert_eq!(
            tags_json(&tags),
            json!([{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "ops"}])
        );
        let stored = serde_json::to_value(&tags[0]).expect("serialize");
        assert_eq!(stored, json!({"Key": "env", "Value": "prod"}));
    }
}
