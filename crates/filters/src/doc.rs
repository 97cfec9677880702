//! JSON log events, parsed once and only as deep as the patterns look.
//!
//! A pattern's selectors form an [`Interest`] tree (`$.userIdentity.type` →
//! `userIdentity` → `type`). Parsing a message with serde_json walks every byte (so invalid
//! JSON is still rejected) but builds [`Node`]s only along that tree, borrowing strings from
//! the message when they hold no escapes; everything else is skipped with `IgnoredAny`. A
//! wildcard segment (`[*]`, `.*`) and the end of a selector capture the whole subtree there.
//! A [`crate::FilterSet`] merges the trees of many patterns, so one parse serves them all.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::FilterError;

/// One step of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
    /// `.*`: every field (or element).
    AnyKey,
    /// `[*]`: every element.
    AnyIndex,
}

/// A JSON selector such as `$.a.b[0]`, `$.arr[*]`, `$.['cluster.name']`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Selector {
    pub(crate) segments: Vec<Segment>,
}

impl Selector {
    /// Parses a selector at the start of `text`; returns it and the bytes consumed.
    pub(crate) fn parse_prefix(text: &str) -> Result<(Selector, usize), FilterError> {
        let bytes = text.as_bytes();
        if bytes.first() != Some(&b'$') {
            return Err(FilterError::syntax(format!(
                "expected a selector starting with $ at {text:?}"
            )));
        }
        let mut at = 1;
        let mut segments = Vec::new();
        loop {
            match bytes.get(at) {
                Some(b'.') if bytes.get(at + 1) == Some(&b'[') => at += 1,
                Some(b'.') => {
                    at += 1;
                    if bytes.get(at) == Some(&b'*') {
                        at += 1;
                        segments.push(Segment::AnyKey);
                        continue;
                    }
                    let start = at;
                    while bytes.get(at).is_some_and(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'@' | b':')
                    }) {
                        at += 1;
                    }
                    if at == start {
                        return Err(FilterError::syntax(format!(
                            "selector {:?} has an empty property name",
                            &text[..at]
                        )));
                    }
                    segments.push(Segment::Key(text[start..at].to_owned()));
                }
                Some(b'[') => {
                    let close = text[at..].find(']').ok_or_else(|| {
                        FilterError::syntax(format!("unclosed [ in selector {text:?}"))
                    })? + at;
                    let inside = &text[at + 1..close];
                    let segment = if inside == "*" {
                        Segment::AnyIndex
                    } else if let Some(key) = inside
                        .strip_prefix('\'')
                        .and_then(|key| key.strip_suffix('\''))
                    {
                        Segment::Key(key.to_owned())
                    } else if !inside.is_empty() && inside.bytes().all(|b| b.is_ascii_digit()) {
                        Segment::Index(inside.parse().map_err(|_| {
                            FilterError::syntax(format!("array index {inside} is too large"))
                        })?)
                    } else {
                        return Err(FilterError::syntax(format!(
                            "[{inside}] in a selector must be an index, * or a quoted key"
                        )));
                    };
                    segments.push(segment);
                    at = close + 1;
                }
                _ => break,
            }
        }
        if segments.is_empty() {
            return Err(FilterError::syntax(
                "a selector needs at least one property",
            ));
        }
        Ok((Selector { segments }, at))
    }

    /// Parses a whole selector (for metric values and dimensions).
    pub(crate) fn parse(text: &str) -> Result<Selector, FilterError> {
        let (selector, used) = Selector::parse_prefix(text)?;
        if used != text.len() {
            return Err(FilterError::syntax(format!(
                "unexpected {:?} after the selector",
                &text[used..]
            )));
        }
        Ok(selector)
    }

    pub(crate) fn wildcards(&self) -> usize {
        self.segments
            .iter()
            .filter(|segment| matches!(segment, Segment::AnyKey | Segment::AnyIndex))
            .count()
    }

    /// The node a selector without wildcards reaches in `root`, if any.
    pub(crate) fn resolve_plain<'n, 'a>(&self, root: &'n Node<'a>) -> Option<&'n Node<'a>> {
        debug_assert_eq!(self.wildcards(), 0);
        let mut node = root;
        for segment in &self.segments {
            node = match (segment, node) {
                (Segment::Key(key), Node::Object(fields)) => {
                    &fields.iter().rev().find(|(name, _)| name == key)?.1
                }
                (Segment::Index(index), Node::Array(items)) => {
                    &items.iter().find(|(at, _)| at == index)?.1
                }
                _ => return None,
            };
        }
        Some(node)
    }

    /// Every node the selector reaches in `root`.
    pub(crate) fn resolve<'n, 'a>(&self, root: &'n Node<'a>, out: &mut Vec<&'n Node<'a>>) {
        resolve(root, &self.segments, out);
    }
}

fn resolve<'n, 'a>(node: &'n Node<'a>, segments: &[Segment], out: &mut Vec<&'n Node<'a>>) {
    let Some((segment, rest)) = segments.split_first() else {
        out.push(node);
        return;
    };
    match (segment, node) {
        (Segment::Key(key), Node::Object(fields)) => {
            // The last duplicate wins, as in serde_json's own maps.
            if let Some((_, child)) = fields.iter().rev().find(|(name, _)| name == key) {
                resolve(child, rest, out);
            }
        }
        (Segment::Index(index), Node::Array(items)) => {
            if let Some((_, child)) = items.iter().find(|(at, _)| at == index) {
                resolve(child, rest, out);
            }
        }
        (Segment::AnyKey, Node::Object(fields)) => {
            for (_, child) in fields {
                resolve(child, rest, out);
            }
        }
        (Segment::AnyKey | Segment::AnyIndex, Node::Array(items)) => {
            for (_, child) in items {
                resolve(child, rest, out);
            }
        }
        _ => {}
    }
}

/// A parsed JSON value; objects and arrays hold only the children someone wanted.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<(usize, Node<'a>)>),
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

/// A JSON number as serde_json read it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Number {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

impl Number {
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Number::Unsigned(value) => value as f64,
            Number::Signed(value) => value as f64,
            Number::Float(value) => value,
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Unsigned(value) => write!(f, "{value}"),
            Number::Signed(value) => write!(f, "{value}"),
            Number::Float(value) => match serde_json::Number::from_f64(*value) {
                Some(number) => write!(f, "{number}"),
                None => write!(f, "{value}"),
            },
        }
    }
}

impl Node<'_> {
    /// The value as text: strings bare, scalars as JSON, containers as compact JSON of what
    /// was captured.
    pub(crate) fn to_text(&self) -> String {
        match self {
            Node::String(text) => text.to_string(),
            other => other.to_json().to_string(),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Node::Null => serde_json::Value::Null,
            Node::Bool(value) => serde_json::Value::Bool(*value),
            Node::Number(Number::Unsigned(value)) => (*value).into(),
            Node::Number(Number::Signed(value)) => (*value).into(),
            Node::Number(Number::Float(value)) => serde_json::Number::from_f64(*value)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Node::String(text) => serde_json::Value::String(text.to_string()),
            Node::Array(items) => items.iter().map(|(_, item)| item.to_json()).collect(),
            Node::Object(fields) => fields
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

/// Which parts of a document to build.
#[derive(Clone, Debug, Default)]
pub(crate) struct Interest {
    /// Build this whole subtree.
    all: bool,
    keys: Vec<(String, Interest)>,
    indices: Vec<(usize, Interest)>,
}

/// Build everything.
pub(crate) static EVERYTHING: Interest = Interest {
    all: true,
    keys: Vec::new(),
    indices: Vec::new(),
};

impl Interest {
    /// Adds a selector's path: up to its first wildcard, then the whole subtree.
    pub(crate) fn add(&mut self, segments: &[Segment]) {
        if self.all {
            return;
        }
        let Some((segment, rest)) = segments.split_first() else {
            *self = EVERYTHING.clone();
            return;
        };
        match segment {
            Segment::Key(key) => {
                let child = match self.keys.iter().position(|(name, _)| name == key) {
                    Some(at) => &mut self.keys[at].1,
                    None => {
                        self.keys.push((key.clone(), Interest::default()));
                        let last = self.keys.len() - 1;
                        &mut self.keys[last].1
                    }
                };
                child.add(rest);
            }
            Segment::Index(index) => {
                let child = match self.indices.iter().position(|(at, _)| at == index) {
                    Some(at) => &mut self.indices[at].1,
                    None => {
                        self.indices.push((*index, Interest::default()));
                        let last = self.indices.len() - 1;
                        &mut self.indices[last].1
                    }
                };
                child.add(rest);
            }
            Segment::AnyKey | Segment::AnyIndex => self.add(&[]),
        }
    }

    /// Merges another tree into this one.
    pub(crate) fn merge(&mut self, other: &Interest) {
        if self.all {
            return;
        }
        if other.all {
            *self = EVERYTHING.clone();
            return;
        }
        for (key, child) in &other.keys {
            match self.keys.iter_mut().find(|(name, _)| name == key) {
                Some((_, mine)) => mine.merge(child),
                None => self.keys.push((key.clone(), child.clone())),
            }
        }
        for (index, child) in &other.indices {
            match self.indices.iter_mut().find(|(at, _)| at == index) {
                Some((_, mine)) => mine.merge(child),
                None => self.indices.push((*index, child.clone())),
            }
        }
    }

    /// Parses `message` as JSON, building what this tree asks for; None if not valid JSON.
    pub(crate) fn parse<'a>(&self, message: &'a str) -> Option<Node<'a>> {
        let mut deserializer = serde_json::Deserializer::from_str(message);
        let node = Seed(self).deserialize(&mut deserializer).ok()?;
        deserializer.end().ok()?;
        Some(node)
    }
}

struct Seed<'i>(&'i Interest);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Node<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Node<'de>, E> {
        Ok(Node::Number(Number::Unsigned(value)))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Node<'de>, E> {
        Ok(Node::Number(Number::Signed(value)))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Node<'de>, E> {
        Ok(Node::Number(Number::Float(value)))
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Borrowed(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E>(self, value: String) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(value)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let interest = self.0;
        let mut items = Vec::new();
        let mut index = 0;
        loop {
            let wanted = if interest.all {
                Some(&EVERYTHING)
            } else {
                interest
                    .indices
                    .iter()
                    .find(|(at, _)| *at == index)
                    .map(|(_, child)| child)
            };
            match wanted {
                Some(child) => match seq.next_element_seed(Seed(child))? {
                    Some(node) => items.push((index, node)),
                    None => break,
                },
                None => {
                    if seq.next_element::<IgnoredAny>()?.is_none() {
                        break;
                    }
                }
            }
            index += 1;
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let interest = self.0;
        let mut fields = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let wanted = if interest.all {
                Some(&EVERYTHING)
            } else {
                interest
                    .keys
                    .iter()
                    .find(|(name, _)| *name == *key)
                    .map(|(_, child)| child)
            };
            match wanted {
                Some(child) => {
                    let node = map.next_value_seed(Seed(child))?;
                    fields.push((key, node));
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Node::Object(fields))
    }
}

/// An object key, borrowed from the message when it holds no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interest(selectors: &[&str]) -> Interest {
        let mut interest = Interest::default();
        for selector in selectors {
            interest.add(&Selector::parse(selector).expect("selector").segments);
        }
        interest
    }

    fn values(selector: &str, message: &str) -> Vec<String> {
        let selector = Selector::parse(selector).expect("selector");
        let mut tree = Interest::default();
        tree.add(&selector.segments);
        let root = tree.parse(message).expect("json");
        let mut out = Vec::new();
        selector.resolve(&root, &mut out);
        out.iter().map(|node| node.to_text()).collect()
    }

    #[test]
    fn parses_selectors() {
        let selector = Selector::parse("$.a.b[0][*].*.['c.d']").expect("selector");
        assert_eq!(
            selector.segments,
            vec![
                Segment::Key("a".into()),
                Segment::Key("b".into()),
                Segment::Index(0),
                Segment::AnyIndex,
                Segment::AnyKey,
                Segment::Key("c.d".into()),
            ]
        );
        assert_eq!(selector.wildcards(), 2);
        for bad in ["a", "$", "$.", "$.a[", "$.a[x]", "$.a b"] {
            assert!(Selector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn builds_only_what_is_asked() {
        let tree = interest(&["$.a.b"]);
        let root = tree
            .parse(r#"{"x":{"big":[1,2,3]},"a":{"b":"v","c":1}}"#)
            .expect("json");
        assert_eq!(
            root,
            Node::Object(vec![(
                "a".into(),
                Node::Object(vec![("b".into(), Node::String("v".into()))])
            )])
        );
        assert!(tree.parse("{\"a\":").is_none());
        assert!(tree.parse("not json").is_none());
    }

    #[test]
    fn resolves_indices_wildcards_and_escapes() {
        let message = r#"{"arr":[{"id":1},{"id":2.5}],"s":"a\"b","n":-3,"c.d":true,"u":null}"#;
        assert_eq!(values("$.arr[1].id", message), ["2.5"]);
        assert_eq!(values("$.arr[*].id", message), ["1", "2.5"]);
        assert_eq!(values("$.s", message), ["a\"b"]);
        assert_eq!(values("$.n", message), ["-3"]);
        assert_eq!(values("$.['c.d']", message), ["true"]);
        assert_eq!(values("$.u", message), ["null"]);
        assert_eq!(values("$.arr[0]", message), [r#"{"id":1}"#]);
        assert!(values("$.arr[5]", message).is_empty());
        assert_eq!(values("$.*", message).len(), 5);
    }

    #[test]
    fn merged_trees_serve_every_selector() {
        let mut merged = interest(&["$.a.b"]);
        merged.merge(&interest(&["$.a.c", "$.z[1]"]));
        merged.merge(&interest(&["$.q[*]"]));
        let root = merged
            .parse(r#"{"a":{"b":1,"c":2,"d":3},"z":[0,9],"q":[7,8]}"#)
            .expect("json");
        for (selector, expected) in [
            ("$.a.b", "1"),
            ("$.a.c", "2"),
            ("$.z[1]", "9"),
            ("$.q[1]", "8"),
        ] {
            let mut out = Vec::new();
            Selector::parse(selector)
                .expect("selector")
                .resolve(&root, &mut out);
            assert_eq!(
                out.first().map(|node| node.to_text()).as_deref(),
                Some(expected)
            );
        }
        let mut out = Vec::new();
        Selector::parse("$.a.d")
            .expect("selector")
            .resolve(&root, &mut out);
        assert!(out.is_empty(), "$.a.d was not asked for");
    }
}
