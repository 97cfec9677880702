//! Events → the (field, leaf value) pairs that patterns look at.
//!
//! A [`PathTrie`] holds every path some pattern uses, split at `.` (so an event key `"a.b"` and
//! nested keys `"a"` → `"b"` reach the same field, as event-ruler's joined names do). Walking an
//! event, a key that leads to no used path is skipped with its whole subtree; for raw JSON bytes
//! that skip is a structural scan (strings and brackets) that neither parses nor fully validates
//! what it skips.
//!
//! Each leaf remembers its array membership — for every enclosing array, which one it is (an id
//! unique within the event) and the element index — so matches can be kept array-consistent.

use std::borrow::Cow;

use serde_json::Value;

use crate::PatternError;
use crate::hash::FastMap;
use crate::value::{Leaf, NumRef};

/// The paths patterns use, as a trie of `.`-separated segments.
#[derive(Debug, Clone)]
pub(crate) struct PathTrie {
    nodes: Vec<PathNode>,
    fields: u32,
}

#[derive(Debug, Clone, Default)]
struct PathNode {
    children: FastMap<Box<str>, u32>,
    field: Option<u32>,
}

impl Default for PathTrie {
    fn default() -> Self {
        PathTrie {
            nodes: vec![PathNode::default()],
            fields: 0,
        }
    }
}

impl PathTrie {
    /// Adds a path (if new) and returns its field id.
    pub(crate) fn insert(&mut self, path: &str) -> u32 {
        let mut node = 0usize;
        for segment in path.split('.') {
            node = match self.nodes[node].children.get(segment) {
                Some(&child) => child as usize,
                None => {
                    let child = self.nodes.len();
                    self.nodes.push(PathNode::default());
                    self.nodes[node]
                        .children
                        .insert(segment.into(), child as u32);
                    child
                }
            };
        }
        match self.nodes[node].field {
            Some(field) => field,
            None => {
                let field = self.fields;
                self.fields += 1;
                self.nodes[node].field = Some(field);
                field
            }
        }
    }

    /// The node an event key leads to from `node`.
    #[inline]
    fn child(&self, node: u32, key: &str) -> Option<u32> {
        let children = &self.nodes[node as usize].children;
        if children.is_empty() {
            return None;
        }
        if let Some(&child) = children.get(key) {
            return Some(child);
        }
        if !key.contains('.') {
            return None;
        }
        let mut current = node;
        for segment in key.split('.') {
            current = *self.nodes[current as usize].children.get(segment)?;
        }
        Some(current)
    }

    #[inline]
    fn field(&self, node: u32) -> Option<u32> {
        self.nodes[node as usize].field
    }

    #[inline]
    fn has_children(&self, node: u32) -> bool {
        !self.nodes[node as usize].children.is_empty()
    }
}

/// One leaf of the event at a used path.
#[derive(Debug, Clone)]
pub(crate) struct Field<'a> {
    pub(crate) id: u32,
    pub(crate) leaf: Leaf<'a>,
    /// Range of `FlatEvent::memberships`.
    membership: (u32, u32),
}

/// The leaves of an event at used paths, sorted by field id.
#[derive(Debug, Default)]
pub(crate) struct FlatEvent<'a> {
    fields: Vec<Field<'a>>,
    memberships: Vec<(u32, u32)>,
    /// Some leaf sits inside an array.
    pub(crate) has_arrays: bool,
}

impl<'a> FlatEvent<'a> {
    pub(crate) fn fields(&self) -> &[Field<'a>] {
        &self.fields
    }

    /// The leaves of one field.
    pub(crate) fn fields_for(&self, id: u32) -> &[Field<'a>] {
        let start = self.fields.partition_point(|f| f.id < id);
        let end = start + self.fields[start..].partition_point(|f| f.id == id);
        &self.fields[start..end]
    }

    /// (array id, element index) for each array enclosing the field.
    pub(crate) fn membership(&self, field: &Field<'_>) -> &[(u32, u32)] {
        &self.memberships[field.membership.0 as usize..field.membership.1 as usize]
    }
}

struct Builder<'a> {
    flat: FlatEvent<'a>,
    stack: Vec<(u32, u32)>,
    next_array: u32,
}

impl<'a> Builder<'a> {
    fn new() -> Self {
        Builder {
            flat: FlatEvent::default(),
            stack: Vec::new(),
            next_array: 0,
        }
    }

    #[inline]
    fn emit(&mut self, id: u32, leaf: Leaf<'a>) {
        let start = self.flat.memberships.len() as u32;
        if !self.stack.is_empty() {
            self.flat.has_arrays = true;
            self.flat.memberships.extend_from_slice(&self.stack);
        }
        let end = self.flat.memberships.len() as u32;
        self.flat.fields.push(Field {
            id,
            leaf,
            membership: (start, end),
        });
    }

    fn finish(mut self) -> FlatEvent<'a> {
        // stable: leaves of one field keep event order
        self.flat.fields.sort_by_key(|f| f.id);
        self.flat
    }
}

/// Flattens a parsed event. A non-object event has no fields.
pub(crate) fn flatten_value<'a>(paths: &PathTrie, event: &'a Value) -> FlatEvent<'a> {
    let mut builder = Builder::new();
    if let Value::Object(object) = event {
        walk_object(paths, 0, object, &mut builder);
    }
    builder.finish()
}

fn walk_object<'a>(
    paths: &PathTrie,
    node: u32,
    object: &'a serde_json::Map<String, Value>,
    b: &mut Builder<'a>,
) {
    for (key, value) in object {
        if let Some(child) = paths.child(node, key) {
            walk_value(paths, child, value, b);
        }
    }
}

fn walk_value<'a>(paths: &PathTrie, node: u32, value: &'a Value, b: &mut Builder<'a>) {
    let leaf = match value {
        Value::Object(object) => {
            if paths.has_children(node) {
                walk_object(paths, node, object, b);
            }
            return;
        }
        Value::Array(items) => {
            let array = b.next_array;
            b.next_array += 1;
            for (index, item) in items.iter().enumerate() {
                b.stack.push((array, index as u32));
                walk_value(paths, node, item, b);
                b.stack.pop();
            }
            return;
        }
        Value::String(s) => Leaf::Str(Cow::Borrowed(s)),
        Value::Number(n) => Leaf::Num(NumRef::Json(n)),
        Value::Bool(true) => Leaf::True,
        Value::Bool(false) => Leaf::False,
        Value::Null => Leaf::Null,
    };
    if let Some(id) = paths.field(node) {
        b.emit(id, leaf);
    }
}

/// Flattens an event given as JSON bytes; it must be a JSON object.
pub(crate) fn flatten_bytes<'a>(
    paths: &PathTrie,
    json: &'a [u8],
) -> Result<FlatEvent<'a>, PatternError> {
    let mut scanner = Scanner { b: json, i: 0 };
    let mut builder = Builder::new();
    scanner.ws();
    if scanner.peek() != Some(b'{') {
        return Err(PatternError::new("event is not a JSON object"));
    }
    scanner.object(paths, 0, &mut builder)?;
    scanner.ws();
    if scanner.i != json.len() {
        return Err(scanner.error("unexpected characters after the event object"));
    }
    Ok(builder.finish())
}

/// Bytes that end a run of "uninteresting" bytes while skipping a container.
static STRUCTURAL: [bool; 256] = {
    let mut table = [false; 256];
    table[b'"' as usize] = true;
    table[b'[' as usize] = true;
    table[b']' as usize] = true;
    table[b'{' as usize] = true;
    table[b'}' as usize] = true;
    table
};

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn error(&self, what: &str) -> PatternError {
        PatternError::new(format!(
            "event is not valid JSON: {what} at byte {}",
            self.i
        ))
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    #[inline]
    fn expect(&mut self, byte: u8) -> Result<(), PatternError> {
        if self.peek() == Some(byte) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", byte as char)))
        }
    }

    /// At `{`: an object whose keys are looked up under `node`.
    fn object(
        &mut self,
        paths: &PathTrie,
        node: u32,
        b: &mut Builder<'a>,
    ) -> Result<(), PatternError> {
        self.i += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a key"));
            }
            let key = self.string()?;
            self.ws();
            self.expect(b':')?;
            self.ws();
            match paths.child(node, &key) {
                Some(child) => self.value(paths, child, b)?,
                None => self.skip_value()?,
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn value(
        &mut self,
        paths: &PathTrie,
        node: u32,
        b: &mut Builder<'a>,
    ) -> Result<(), PatternError> {
        let field = paths.field(node);
        let leaf = match self.peek() {
            Some(b'{') => {
                return if paths.has_children(node) {
                    self.object(paths, node, b)
                } else {
                    self.skip_value()
                };
            }
            Some(b'[') => {
                if field.is_none() && !paths.has_children(node) {
                    return self.skip_value();
                }
                return self.array(paths, node, b);
            }
            Some(b'"') => {
                if field.is_none() {
                    return self.skip_string();
                }
                Leaf::Str(self.string()?)
            }
            Some(b't') => {
                self.literal(b"true")?;
                Leaf::True
            }
            Some(b'f') => {
                self.literal(b"false")?;
                Leaf::False
            }
            Some(b'n') => {
                self.literal(b"null")?;
                Leaf::Null
            }
            Some(b'-' | b'0'..=b'9') => Leaf::Num(NumRef::Raw(self.number()?)),
            _ => return Err(self.error("expected a value")),
        };
        if let Some(id) = field {
            b.emit(id, leaf);
        }
        Ok(())
    }

    fn array(
        &mut self,
        paths: &PathTrie,
        node: u32,
        b: &mut Builder<'a>,
    ) -> Result<(), PatternError> {
        self.i += 1;
        let array = b.next_array;
        b.next_array += 1;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        let mut index = 0u32;
        loop {
            self.ws();
            b.stack.push((array, index));
            let result = self.value(paths, node, b);
            b.stack.pop();
            result?;
            index += 1;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), PatternError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.error("invalid literal"))
        }
    }

    /// A JSON number token, checked against the grammar.
    fn number(&mut self) -> Result<&'a str, PatternError> {
        let start = self.i;
        let b = self.b;
        let mut i = self.i;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
            _ => return Err(self.error("invalid number")),
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            let digits = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == digits {
                return Err(self.error("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            let digits = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == digits {
                return Err(self.error("invalid number"));
            }
        }
        self.i = i;
        // only ASCII digits and signs were consumed
        std::str::from_utf8(&b[start..i]).map_err(|_| self.error("invalid number"))
    }

    /// At `"`: a string, unescaped.
    fn string(&mut self) -> Result<Cow<'a, str>, PatternError> {
        let start = self.i + 1;
        let b = self.b;
        let mut i = start;
        while i < b.len() {
            match b[i] {
                b'"' => {
                    let text = std::str::from_utf8(&b[start..i])
                        .map_err(|_| self.error("invalid UTF-8 in a string"))?;
                    self.i = i + 1;
                    return Ok(Cow::Borrowed(text));
                }
                b'\\' => return self.escaped_string(start, i).map(Cow::Owned),
                0..=0x1f => return Err(self.error("control character in a string")),
                _ => i += 1,
            }
        }
        Err(self.error("unterminated string"))
    }

    fn escaped_string(
        &mut self,
        start: usize,
        first_escape: usize,
    ) -> Result<String, PatternError> {
        let b = self.b;
        let mut out: Vec<u8> = b[start..first_escape].to_vec();
        let mut i = first_escape;
        while i < b.len() {
            match b[i] {
                b'"' => {
                    self.i = i + 1;
                    return String::from_utf8(out)
                        .map_err(|_| self.error("invalid UTF-8 in a string"));
                }
                b'\\' => {
                    let escape = b.get(i + 1).copied();
                    i += 2;
                    match escape {
                        Some(b'"') => out.push(b'"'),
                        Some(b'\\') => out.push(b'\\'),
                        Some(b'/') => out.push(b'/'),
                        Some(b'b') => out.push(0x08),
                        Some(b'f') => out.push(0x0c),
                        Some(b'n') => out.push(b'\n'),
                        Some(b'r') => out.push(b'\r'),
                        Some(b't') => out.push(b'\t'),
                        Some(b'u') => {
                            let (c, used) = self.unicode_escape(i)?;
                            i += used;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => {
                            self.i = i;
                            return Err(self.error("invalid escape"));
                        }
                    }
                }
                0..=0x1f => {
                    self.i = i;
                    return Err(self.error("control character in a string"));
                }
                other => {
                    out.push(other);
                    i += 1;
                }
            }
        }
        self.i = i;
        Err(self.error("unterminated string"))
    }

    /// The 4 hex digits after `\u` at `at` (and a following low surrogate); returns the
    /// character and the bytes used after `\u`.
    fn unicode_escape(&self, at: usize) -> Result<(char, usize), PatternError> {
        let hex = |from: usize| -> Option<u32> {
            let digits = self.b.get(from..from + 4)?;
            u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
        };
        let invalid = || self.error("invalid unicode escape");
        let first = hex(at).ok_or_else(invalid)?;
        if (0xd800..0xdc00).contains(&first) {
            if self.b.get(at + 4..at + 6) == Some(b"\\u")
                && let Some(second) = hex(at + 6).filter(|s| (0xdc00..0xe000).contains(s))
            {
                let code = 0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00);
                return char::from_u32(code).map(|c| (c, 10)).ok_or_else(invalid);
            }
            return Ok((char::REPLACEMENT_CHARACTER, 4));
        }
        Ok((
            char::from_u32(first).unwrap_or(char::REPLACEMENT_CHARACTER),
            4,
        ))
    }

    /// At `"`: skips a string without decoding it.
    #[inline]
    fn skip_string(&mut self) -> Result<(), PatternError> {
        let b = self.b;
        let mut i = self.i + 1;
        while i < b.len() {
            match b[i] {
                b'"' => {
                    self.i = i + 1;
                    return Ok(());
                }
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        Err(self.error("unterminated string"))
    }

    /// Skips any value: containers by a structural scan.
    fn skip_value(&mut self) -> Result<(), PatternError> {
        match self.peek() {
            Some(b'"') => self.skip_string(),
            Some(b'{' | b'[') => self.skip_container(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number().map(drop),
            _ => Err(self.error("expected a value")),
        }
    }

    fn skip_container(&mut self) -> Result<(), PatternError> {
        let b = self.b;
        let mut depth = 0usize;
        let mut i = self.i;
        loop {
            while i < b.len() && !STRUCTURAL[b[i] as usize] {
                i += 1;
            }
            let Some(&byte) = b.get(i) else {
                self.i = i;
                return Err(self.error("unterminated object or array"));
            };
            match byte {
                b'"' => {
                    self.i = i;
                    self.skip_string()?;
                    i = self.i;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                _ => {
                    depth -= 1;
                    if depth == 0 {
                        self.i = i + 1;
                        return Ok(());
                    }
                }
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trie(paths: &[&str]) -> PathTrie {
        let mut trie = PathTrie::default();
        for path in paths {
            trie.insert(path);
        }
        trie
    }

    fn describe(flat: &FlatEvent<'_>) -> Vec<String> {
        flat.fields()
            .iter()
            .map(|f| {
                let leaf = match &f.leaf {
                    Leaf::Num(n) => format!("{:?}", n.key()),
                    other => format!("{other:?}"),
                };
                format!("{}={leaf}@{:?}", f.id, flat.membership(f))
            })
            .collect()
    }

    #[test]
    fn bytes_and_values_flatten_alike() {
        let paths = trie(&["a.b", "a.c", "d", "x.y.z", "s"]);
        let events = [
            (
                r#"{"a": {"b": 1, "c": [true, null]}, "d": "x", "skip": {"deep": [1, {"a": "}"}]}}"#,
                4,
            ),
            (
                r#"{"a": [{"b": "one"}, {"b": 2.50, "c": "two"}], "a.b": "dotted"}"#,
                4,
            ),
            (
                r#"{"x.y": {"z": "\u00e9\n\"q\""}, "x": {"y.z": "\ud83d\ude00"}, "s": [[1, 2], [3]]}"#,
                5,
            ),
            (r#"{"d": {"not": "a leaf"}, "a": {"b": [], "c": {}}}"#, 0),
        ];
        for (text, count) in events {
            let value: Value = serde_json::from_str(text).expect("json");
            let from_value = describe(&flatten_value(&paths, &value));
            let from_bytes = describe(&flatten_bytes(&paths, text.as_bytes()).expect("valid"));
            assert_eq!(from_value, from_bytes, "{text}");
            assert_eq!(from_bytes.len(), count, "{text}");
        }
    }

    #[test]
    fn dotted_keys_and_arrays() {
        let paths = trie(&["a.b"]);
        let flat =
            flatten_bytes(&paths, br#"{"a.b": 1, "a": [{"b": 2}, {"b": [3, 4]}]}"#).expect("valid");
        let memberships: Vec<usize> = flat
            .fields()
            .iter()
            .map(|f| flat.membership(f).len())
            .collect();
        assert_eq!(memberships, vec![0, 1, 2, 2]);
        assert!(flat.has_arrays);
    }

    #[test]
    fn invalid_json_is_refused() {
        let paths = trie(&["a"]);
        for bad in [
            &b"[1]"[..],
            b"{",
            b"{\"a\": }",
            b"{\"a\": 1,}",
            b"{\"a\": tru}",
            b"{\"a\": \"x}",
            b"{} x",
            b"{\"a\": 01}",
            b"{\"b\": [1, 2}",
        ] {
            assert!(
                flatten_bytes(&paths, bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
