//! awsQuery parameters of one SNS call: flat values, `X.entry.N.key/value` maps,
//! `X.member.N` lists and `X.member.N.Field` structures.

use std::collections::BTreeMap;

/// The decoded `name=value` pairs of one request (query string and form body).
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The sub-parameters of `{prefix}.{kind}.N.…`, in order of N, keys without the prefix.
    fn groups(&self, prefix: &str, kind: &str) -> Vec<(u64, Params)> {
        let head = format!("{prefix}.{kind}.");
        let mut groups: BTreeMap<u64, Params> = BTreeMap::new();
        for (key, value) in &self.0 {
            let Some(rest) = key.strip_prefix(&head) else {
                continue;
            };
            let (index, field) = rest.split_once('.').unwrap_or((rest, ""));
            let Ok(index) = index.parse::<u64>() else {
                continue;
            };
            groups
                .entry(index)
                .or_default()
                .0
                .push((field.to_owned(), value.clone()));
        }
        groups.into_iter().collect()
    }

    /// `{prefix}.member.N` values.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        self.groups(prefix, "member")
            .into_iter()
            .filter_map(|(_, group)| group.get("").map(str::to_owned))
            .collect()
    }

    /// `{prefix}.member.N.*` structures.
    pub fn members(&self, prefix: &str) -> Vec<Params> {
        self.groups(prefix, "member")
            .into_iter()
            .map(|(_, group)| group)
            .collect()
    }

    /// `{prefix}.entry.N.key` / `.value` maps (attribute maps).
    pub fn map(&self, prefix: &str) -> BTreeMap<String, String> {
        self.groups(prefix, "entry")
            .into_iter()
            .filter_map(|(_, group)| {
                let key = group.get("key")?.to_owned();
                Some((key, group.get("value").unwrap_or("").to_owned()))
            })
            .collect()
    }

    /// `{prefix}.entry.N.Name` with `.Value.DataType` / `.Value.StringValue` /
    /// `.Value.BinaryValue` (message attributes).
    pub fn message_attributes(&self, prefix: &str) -> Vec<(String, Params)> {
        self.groups(prefix, "entry")
            .into_iter()
            .filter_map(|(_, group)| {
                let name = group.get("Name")?.to_owned();
                let value = Params(
                    group
                        .0
                        .iter()
                        .filter_map(|(k, v)| {
                            k.strip_prefix("Value.").map(|k| (k.to_owned(), v.clone()))
                        })
                        .collect(),
                );
                Some((name, value))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn maps_lists_and_members_decode_in_index_order() {
        let p = params(&[
            ("Attributes.entry.2.key", "B"),
            ("Attributes.entry.2.value", "2"),
            ("Attributes.entry.1.key", "A"),
            ("Attributes.entry.1.value", "1"),
            ("TagKeys.member.10", "z"),
            ("TagKeys.member.2", "y"),
            ("Tags.member.1.Key", "k"),
            ("Tags.member.1.Value", "v"),
            ("MessageAttributes.entry.1.Name", "color"),
            ("MessageAttributes.entry.1.Value.DataType", "String"),
            ("MessageAttributes.entry.1.Value.StringValue", "red"),
        ]);
        let map = p.map("Attributes");
        assert_eq!(map.get("A").map(String::as_str), Some("1"));
        assert_eq!(map.get("B").map(String::as_str), Some("2"));
        assert_eq!(p.list("TagKeys"), vec!["y".to_owned(), "z".to_owned()]);
        assert_eq!(p.members("Tags")[0].get("Value"), Some("v"));
        let attrs = p.message_attributes("MessageAttributes");
        assert_eq!(attrs[0].0, "color");
        assert_eq!(attrs[0].1.get("StringValue"), Some("red"));
    }
}
