//! A call's input and output as a CloudTrail record writes them: `requestParameters` and
//! `responseElements`.
//!
//! AWS records the awsJson-shaped input and output of a call with every structure member name
//! in lowerCamelCase (its first character lowered: `TrailARN` → `trailARN`, `S3BucketName` →
//! `s3BucketName`, `Tags` → `tags`), and structures inside lists likewise
//! (`[{"key": "K", "value": "V"}]`), but **map keys and every value exactly as sent**: a log
//! group created with `tags={"StratusRedTeam": "true"}` is recorded with
//! `"tags": {"StratusRedTeam": "true"}`. Telling a structure from a map takes the model, so
//! [`ServiceModel::record_elements`] walks the value alongside the operation's input or output
//! shape:
//!
//! - structure: each member's name goes through [`lower_first`](crate::lower_first) and its
//!   value is walked with the member's target shape. A key is matched to a member by its exact
//!   name, else by its lowerCamel form, so a value that is already shaped comes out unchanged.
//! - list: each item is walked with the member shape.
//! - map: keys kept verbatim, each value walked with the map's value shape.
//! - scalars, documents, and a value whose JSON type does not fit its shape: kept as is.
//!
//! What the model does not describe is kept, with the least change that still reads like a
//! record: a key that is no member of its structure has its first character lowered and
//! everything under it kept verbatim, and so does each top-level key of an operation the model
//! lacks (or a side it has no shape for). Lowering keys below an unknown key could rewrite a map
//! key, which is the one thing a record must not do. Two keys that lower to the same name (`Name`
//! and `name`) are one record member; the later one wins.
//!
//! `locationName`s are not used: CloudTrail writes the member names whatever the protocol, and
//! the awsQuery codec ([`crate::query`]) already hands services their input keyed by member
//! names.

use serde_json::{Map, Value};

use crate::model::{ServiceModel, Shape, lower_first};

/// Which side of an operation a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The input: a record's `requestParameters`.
    Input,
    /// The output: a record's `responseElements`.
    Output,
}

impl ServiceModel {
    /// `value`, the awsJson-shaped input or output of `operation`, as a CloudTrail record
    /// writes it (see the [module docs](crate::record)).
    pub fn record_elements(&self, operation: &str, side: Side, value: &Value) -> Value {
        let shape = match side {
            Side::Input => self.input_shape(operation),
            Side::Output => self.output_shape(operation),
        };
        match shape {
            Some(shape) => self.record_value(shape, value),
            None => lower_top_level_keys(value),
        }
    }

    fn record_value(&self, shape_name: &str, value: &Value) -> Value {
        match (self.shape(shape_name), value) {
            (Shape::Structure { members, .. }, Value::Object(object)) => {
                let mut out = Map::with_capacity(object.len());
                for (key, inner) in object {
                    let lowered = lower_first(key);
                    let member = members.iter().find(|(name, _)| name == key).or_else(|| {
                        members
                            .iter()
                            .find(|(name, _)| lower_first(name) == lowered)
                    });
                    let recorded = match member {
                        Some((_, target)) => self.record_value(&target.shape, inner),
                        None => inner.clone(),
                    };
                    out.insert(lowered, recorded);
                }
                Value::Object(out)
            }
            (Shape::List { member, .. }, Value::Array(items)) => Value::Array(
                items
                    .iter()
                    .map(|item| self.record_value(&member.shape, item))
                    .collect(),
            ),
            (Shape::Map { value: target, .. }, Value::Object(entries)) => Value::Object(
                entries
                    .iter()
                    .map(|(key, inner)| (key.clone(), self.record_value(&target.shape, inner)))
                    .collect(),
            ),
            _ => value.clone(),
        }
    }
}

/// The schema-blind fallback: top-level keys lowered, everything under them verbatim.
fn lower_top_level_keys(value: &Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, inner)| (lower_first(key), inner.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}
