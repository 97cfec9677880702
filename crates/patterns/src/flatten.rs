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
use crate::value::{Leaf, MAX_SCALED, NumRef, parse_scaled};

/// The paths patterns use, as a trie of `.`-separated segments.
#[derive(Debug, Clone)]
pub(crate) struct PathTrie {
    nodes: Vec<PathNode>,
    fields: u32,
    /// By field id: numbers outside the comparable range can match nothing there (no exact
    /// number, `anything-but`, `exists` or `exists: false`), so they are not collected.
    drop_incomparable: Vec<bool>,
}

/// Children in a short list while few (compared directly), in a hash map beyond that.
const LIST_CHILDREN: usize = 8;

#[derive(Debug, Clone, Default)]
struct PathNode {
    list: Vec<(Box<[u8]>, u32)>,
    map: FastMap<Box<[u8]>, u32>,
    field: Option<u32>,
}

impl PathNode {
    #[inline]
    fn get(&self, key: &[u8]) -> Option<u32> {
        if self.map.is_empty() {
            self.list
                .iter()
                .find(|(k, _)| **k == *key)
                .map(|(_, child)| *child)
        } else {
            self.map.get(key).copied()
        }
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn put(&mut self, key: &[u8], child: u32) {
        self.list.push((key.into(), child));
        if self.list.len() > LIST_CHILDREN {
            self.map = self.list.iter().cloned().collect();
        }
    }
}

impl Default for PathTrie {
    fn default() -> Self {
        PathTrie {
            nodes: vec![PathNode::default()],
            fields: 0,
            drop_incomparable: Vec::new(),
        }
    }
}

impl PathTrie {
    /// Adds a path (if new) and returns its field id.
    pub(crate) fn insert(&mut self, path: &str) -> u32 {
        let mut node = 0usize;
        for segment in path.split('.') {
            node = match self.nodes[node].get(segment.as_bytes()) {
                Some(child) => child as usize,
                None => {
                    let child = self.nodes.len();
                    self.nodes.push(PathNode::default());
                    self.nodes[node].put(segment.as_bytes(), child as u32);
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

    /// Marks a field whose incomparable numbers can match nothing.
    pub(crate) fn drop_incomparable_numbers(&mut self, field: u32) {
        let at = field as usize;
        if self.drop_incomparable.len() <= at {
            self.drop_incomparable.resize(at + 1, false);
        }
        self.drop_incomparable[at] = true;
    }

    #[inline]
    fn keeps(&self, field: u32, leaf: &Leaf<'_>) -> bool {
        match leaf {
            Leaf::Num(n) => {
                !self
                    .drop_incomparable
                    .get(field as usize)
                    .copied()
                    .unwrap_or(false)
                    || n.scaled().is_some()
            }
            _ => true,
        }
    }

    /// The node an event key leads to from `node`.
    #[inline]
    fn child(&self, node: u32, key: &[u8]) -> Option<u32> {
        let parent = &self.nodes[node as usize];
        if parent.is_empty() {
            return None;
        }
        if let Some(child) = parent.get(key) {
            return Some(child);
        }
        if !key.contains(&b'.') {
            return None;
        }
        let mut current = node;
        for segment in key.split(|&b| b == b'.') {
            current = self.nodes[current as usize].get(segment)?;
        }
        Some(current)
    }

    #[inline]
    fn field(&self, node: u32) -> Option<u32> {
        self.nodes[node as usize].field
    }

    #[inline]
    fn has_children(&self, node: u32) -> bool {
        !self.nodes[node as usize].is_empty()
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

/// The leaves of an event at used paths, in event order.
#[derive(Debug)]
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
    pub(crate) fn fields_for(&self, id: u32) -> impl Iterator<Item = &Field<'a>> + Clone {
        self.fields.iter().filter(move |f| f.id == id)
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

/// Emptied buffers of dropped [`FlatEvent`]s, reused by the next one on this thread.
#[derive(Default)]
struct Spare {
    fields: Vec<Field<'static>>,
    memberships: Vec<(u32, u32)>,
}

thread_local! {
    static SPARE: std::cell::RefCell<Spare> = std::cell::RefCell::new(Spare::default());
}

/// Turns nothing into nothing: lets an empty `Vec<Field<'a>>` be collected as `Vec<Field<'static>>`.
fn no_field(_: Field<'_>) -> Option<Field<'static>> {
    None
}

impl Drop for FlatEvent<'_> {
    fn drop(&mut self) {
        let mut fields = std::mem::take(&mut self.fields);
        fields.clear();
        // an empty Vec<Field<'a>> becomes an empty Vec<Field<'static>> in place (same layout)
        let fields: Vec<Field<'static>> = fields.into_iter().filter_map(no_field).collect();
        let mut memberships = std::mem::take(&mut self.memberships);
        memberships.clear();
        let _ = SPARE.try_with(|spare| {
            if let Ok(mut spare) = spare.try_borrow_mut() {
                if fields.capacity() > spare.fields.capacity() {
                    spare.fields = fields;
                }
                if memberships.capacity() > spare.memberships.capacity() {
                    spare.memberships = memberships;
                }
            }
        });
    }
}

impl<'a> Builder<'a> {
    fn new() -> Self {
        let (fields, memberships) = SPARE
            .try_with(|spare| match spare.try_borrow_mut() {
                Ok(mut spare) => (
                    std::mem::take(&mut spare.fields),
                    std::mem::take(&mut spare.memberships),
                ),
                Err(_) => (Vec::new(), Vec::new()),
            })
            .unwrap_or_default();
        let flat = FlatEvent {
            fields,
            memberships,
            has_arrays: false,
        };
        Builder {
            flat,
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

    fn finish(self) -> FlatEvent<'a> {
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
        if let Some(child) = paths.child(node, key.as_bytes()) {
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
    if let Some(id) = paths.field(node)
        && paths.keeps(id, &leaf)
    {
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

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Marks (high bit) the bytes of `word` equal to `byte`; exact for the lowest marked byte.
#[inline]
fn bytes_equal(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

#[inline]
fn load(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// The index of the first `"` or `\` in `bytes` (its length if none).
#[inline]
fn find_quote_or_backslash(bytes: &[u8]) -> usize {
    let mut i = 0;
    while let Some(word) = load(bytes, i) {
        let found = bytes_equal(word, b'"') | bytes_equal(word, b'\\');
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + bytes[i..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .unwrap_or(bytes.len() - i)
}

/// How many bytes of `marks` have their high bit set (and no other bit): the multiply sums the
/// bytes into the top one, without relying on a `popcnt` instruction the build may not target.
#[inline]
fn count_marked(marks: u64) -> usize {
    ((marks >> 7).wrapping_mul(ONES) >> 56) as usize
}

/// Marks (high bit) exactly the bytes of `word` equal to `byte`.
#[inline]
fn exact_bytes_equal(word: u64, byte: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = word ^ (ONES * u64::from(byte));
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// The index of the first byte at or after `at` that is not an ASCII digit (`bytes.len()` if
/// none), eight bytes at a time.
#[inline]
fn digits_end(bytes: &[u8], mut at: usize) -> usize {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    while let Some(word) = load(bytes, at) {
        // `'0'..='9'` become 0..=9 and nothing else does; adding 0x76 to the low seven bits
        // carries into the high bit exactly from 10 up
        let x = word ^ (ONES * u64::from(b'0'));
        let others = (((x & LOW7) + ONES * 0x76) | x) & HIGHS;
        if others != 0 {
            return at + (others.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while bytes.get(at).is_some_and(u8::is_ascii_digit) {
        at += 1;
    }
    at
}

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
            let key = self.key()?;
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
            Some(b'-' | b'0'..=b'9') => Leaf::Num(self.number()?),
            _ => return Err(self.error("expected a value")),
        };
        if let Some(id) = field
            && paths.keeps(id, &leaf)
        {
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

    /// A JSON number token, checked against the grammar, with its scaled value: computed in the
    /// same pass for plain decimals, refused at once for plain decimals with more than six
    /// significant decimals, and left to [`parse_scaled`] otherwise.
    // always inlined: returned through memory, the result cost a store-forwarding stall per
    // number (a third of the numeric family's time in `value`)
    #[inline(always)]
    fn number(&mut self) -> Result<NumRef<'a>, PatternError> {
        let start = self.i;
        let b = self.b;
        let mut i = self.i;
        let negative = b.get(i) == Some(&b'-');
        if negative {
            i += 1;
        }
        let int_start = i;
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = digits_end(b, i + 1),
            _ => return Err(self.error("invalid number")),
        }
        let int_digits = i - int_start;
        // only used when it has at most 10 digits (wraps harmlessly beyond)
        let integer = b[int_start..i].iter().fold(0u64, |n, d| {
            n.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
        });
        let mut fraction: u64 = 0;
        let mut frac_digits = 0usize;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let digits = i;
            i = digits_end(b, i);
            frac_digits = i - digits;
            if frac_digits == 0 {
                return Err(self.error("invalid number"));
            }
            if frac_digits <= 6 {
                fraction = b[digits..i]
                    .iter()
                    .fold(0, |f, d| f * 10 + u64::from(d - b'0'));
            }
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = b.get(i) {
            exponent = true;
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            let digits = i;
            i = digits_end(b, i);
            if i == digits {
                return Err(self.error("invalid number"));
            }
        }
        self.i = i;
        let text = &b[start..i];
        let scaled = if !exponent && int_digits <= 10 && frac_digits <= 6 {
            let value = integer * 1_000_000 + fraction * 10u64.pow((6 - frac_digits) as u32);
            (value <= MAX_SCALED as u64).then(|| {
                if negative {
                    -(value as i64)
                } else {
                    value as i64
                }
            })
        } else if !exponent && frac_digits > 6 && text.last() != Some(&b'0') {
            None
        } else {
            std::str::from_utf8(text)
                .ok()
                .and_then(|t| parse_scaled(t).ok())
        };
        Ok(NumRef::Scanned { text, scaled })
    }

    /// At `"`: an object key as bytes (unescaped; not checked for UTF-8, since a key that is
    /// not valid UTF-8 cannot name a used path).
    #[inline]
    fn key(&mut self) -> Result<Cow<'a, [u8]>, PatternError> {
        let start = self.i + 1;
        let end = start + find_quote_or_backslash(&self.b[start..]);
        match self.b.get(end) {
            Some(b'"') => {
                self.i = end + 1;
                Ok(Cow::Borrowed(&self.b[start..end]))
            }
            Some(_) => Ok(Cow::Owned(self.escaped_string(start, end)?.into_bytes())),
            None => Err(self.error("unterminated string")),
        }
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
            i += find_quote_or_backslash(&b[i..]);
            match b.get(i) {
                Some(b'"') => {
                    self.i = i + 1;
                    return Ok(());
                }
                Some(_) => i += 2,
                None => break,
            }
        }
        self.i = b.len();
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

    /// At `[` or `{`: skips to just past the matching bracket. Eight bytes at a time while the
    /// word holds no `"` and cannot close the container (fewer closing brackets than the depth):
    /// outside strings, valid JSON has no byte that the bracket class lets through by mistake.
    fn skip_container(&mut self) -> Result<(), PatternError> {
        let b = self.b;
        let mut depth = 0usize;
        let mut i = self.i;
        loop {
            if let Some(word) = load(b, i)
                && exact_bytes_equal(word, b'"') == 0
            {
                let class = (word | (ONES * 0x20)) & (ONES * 0xf9);
                let brackets = exact_bytes_equal(class, 0x79);
                if brackets == 0 {
                    i += 8;
                    continue;
                }
                // bit 1 tells `[` / `{` (set) from `]` / `}`; move it to each byte's high bit
                let opening = word << 6;
                let opens = count_marked(brackets & opening);
                let closes = count_marked(brackets & !opening);
                if closes == 0 || closes < depth {
                    depth = depth + opens - closes;
                    i += 8;
                    continue;
                }
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
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.i = i + 1;
                        return Ok(());
                    }
                }
                _ => {}
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
    fn scanned_numbers_agree_with_the_exact_parser() {
        let texts = [
            "0",
            "-0",
            "5",
            "5.0",
            "5.000000",
            "5.0000000",
            "5.0000001",
            "-122.42485025893909",
            "37.8",
            "0.000001",
            "5000000000",
            "5000000000.000001",
            "5000000001",
            "9999999999.999999",
            "12345678901",
            "1e3",
            "1.5E-6",
            "-2.50",
            "123456789012345678901234567890",
            "0.1234567",
            "0.12345670",
        ];
        let paths = trie(&["n"]);
        for text in texts {
            let event = format!(r#"{{"n": {text}}}"#);
            let flat = flatten_bytes(&paths, event.as_bytes()).expect("valid");
            let Leaf::Num(n) = &flat.fields()[0].leaf else {
                panic!("not a number")
            };
            assert_eq!(n.scaled(), parse_scaled(text).ok(), "{text}");
        }
    }

    #[test]
    fn digit_runs_end_at_the_first_other_byte() {
        for other in [b'/', b':', b'.', b'e', 0xb0, 0xb9, 0x10, 0x00] {
            for run in 0..20 {
                let mut bytes = vec![b'7'; run];
                bytes.push(other);
                bytes.extend_from_slice(b"123456789");
                assert_eq!(digits_end(&bytes, 0), run, "{other:#x} after {run}");
            }
        }
        assert_eq!(digits_end(b"0123456789", 0), 10);
        assert_eq!(digits_end(b"12", 2), 2);
    }

    #[test]
    fn skipping_finds_the_matching_bracket() {
        let paths = trie(&["after"]);
        let skipped = [
            r#"[]"#,
            r#"[[[-122.42485025893909,37.79987617371178,0],[-122.4,37.7,0]]]"#,
            r#"{"a": "]]]]]]]]]]]]]]]]", "b": ["[[[[", "\\\"]]"], "c": {"d": [{}, [], [[]]]}}"#,
            r#"[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,[21],[[22]],{"x":[[[[[[[[]]]]]]]]}]"#,
            r#"{"Yy_": "YYYYYYYYyyyyyyyy________", "n": [null, true, false]}"#,
        ];
        for inner in skipped {
            let event = format!(r#"{{"skip": {inner}, "after": "found"}}"#);
            let flat = flatten_bytes(&paths, event.as_bytes()).expect("valid");
            assert_eq!(flat.fields().len(), 1, "{event}");
            let serde: Value = serde_json::from_str(&event).expect("json");
            assert_eq!(serde["after"], "found");
        }
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
