//! The EventBridge event-pattern language, as implemented by aws/event-ruler (the engine behind
//! EventBridge): parsing and validating patterns, matching one pattern against an event, and
//! compiling many patterns into one [`Machine`] whose matching cost stays nearly flat as the
//! number of patterns grows. The same language serves SNS filter policies.
//!
//! ```
//! use opentrail_patterns::{Machine, Pattern};
//!
//! let pattern = Pattern::parse(r#"{"source": ["aws.s3"], "detail": {"eventName": [{"prefix": "Put"}]}}"#)?;
//! let event = serde_json::json!({"source": "aws.s3", "detail": {"eventName": "PutObject"}});
//! assert!(pattern.matches(&event));
//!
//! let mut machine = Machine::new();
//! machine.add("rule-1", &pattern);
//! assert_eq!(machine.matches_for_event(&event), vec!["rule-1"]);
//! # Ok::<(), opentrail_patterns::PatternError>(())
//! ```
//!
//! # Semantics (event-ruler's)
//!
//! - A pattern is a JSON object whose leaves are arrays of value matchers; the keys of nested
//!   objects join with `.` into field paths, and an event's keys join the same way, so
//!   `{"a.b": [1]}` and `{"a": {"b": [1]}}` are the same pattern.
//! - A pattern matches when every path has a leaf value (string, number, `true`, `false`,
//!   `null`) that one of its matchers accepts. Event arrays are flattened: any element may
//!   match. Values taken from objects inside arrays must come from the same array element
//!   (event-ruler's "array consistency").
//! - `$or` forks the pattern into alternatives; the pattern matches when one of them does.
//! - Strings match only string matchers and numbers only number matchers: `"5"` does not match
//!   `5`, `"true"` does not match `true`. Numbers compare by value (`5` matches `5.0`) within
//!   ±5e9 and six decimals; outside that range they compare by their `f64` value only.
//!
//! # Layout
//!
//! - `compile`: the pattern JSON → alternatives of (path, matchers) conditions, with
//!   event-ruler's validation rules and messages.
//! - `value`: the value matchers and their scalar helpers (decimal numbers, IP addresses,
//!   case folding, wildcards).
//! - `flatten`: an event (a `serde_json::Value` or raw JSON bytes) → the (path, leaf) pairs that
//!   some pattern looks at, with their array memberships; unused subtrees are skipped.
//! - `verify`: the exact, array-consistent check of one alternative against a flattened event.
//! - `index`: the per-field indexes behind the machine (prefix / suffix hash indexes, interval index, wildcards).
//! - `machine`: [`Machine`], many patterns compiled into one automaton.
//! - [`bench_support`]: the city-lots throughput measurement behind the bench crate's `patterns`
//!   bench.

#![deny(clippy::unwrap_used)]

pub mod bench_support;
mod compile;
mod flatten;
mod hash;
mod index;
mod machine;
mod value;
mod verify;

use std::sync::Arc;

pub use machine::Machine;

/// The hard limit of EventBridge's `EventPattern` parameter, in characters.
pub const MAX_PATTERN_LEN: usize = 4096;

/// EventBridge's default "event pattern size" quota, in characters (adjustable up to
/// [`MAX_PATTERN_LEN`]); callers enforce it when they want the default quota.
pub const DEFAULT_PATTERN_SIZE_QUOTA: usize = 2048;

/// Why a pattern or an event was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PatternError {
    /// What was wrong, in event-ruler's words where it has some.
    pub message: String,
}

impl PatternError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        PatternError {
            message: message.into(),
        }
    }
}

/// One parsed and validated event pattern. Cheap to clone.
#[derive(Clone)]
pub struct Pattern {
    inner: Arc<PatternInner>,
}

struct PatternInner {
    source: Box<str>,
    /// The `$or` alternatives; the pattern matches when one of them does.
    alternatives: Vec<compile::Alternative>,
    /// The paths of this pattern alone, for [`Pattern::matches`].
    paths: flatten::PathTrie,
    /// For each alternative, the field id (in `paths`) of each of its conditions.
    field_ids: Vec<Vec<u32>>,
}

impl Pattern {
    /// Parses and validates an event pattern (JSON text, at most [`MAX_PATTERN_LEN`] characters).
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let length = text.chars().count();
        if length > MAX_PATTERN_LEN {
            return Err(PatternError::new(format!(
                "event pattern is {length} characters long, the limit is {MAX_PATTERN_LEN}"
            )));
        }
        let json: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| PatternError::new(format!("event pattern is not valid JSON: {e}")))?;
        Pattern::from_json(&json, text)
    }

    /// Validates an already-parsed pattern.
    pub fn from_value(json: &serde_json::Value) -> Result<Pattern, PatternError> {
        Pattern::from_json(json, &json.to_string())
    }

    fn from_json(json: &serde_json::Value, source: &str) -> Result<Pattern, PatternError> {
        let alternatives = compile::compile(json)?;
        let mut paths = flatten::PathTrie::default();
        let field_ids = alternatives
            .iter()
            .map(|alternative| {
                alternative
                    .conditions
                    .iter()
                    .map(|condition| paths.insert(&condition.path))
                    .collect()
            })
            .collect();
        Ok(Pattern {
            inner: Arc::new(PatternInner {
                source: source.into(),
                alternatives,
                paths,
                field_ids,
            }),
        })
    }

    /// The pattern text it was parsed from.
    pub fn as_str(&self) -> &str {
        &self.inner.source
    }

    /// Whether the event matches this pattern.
    pub fn matches(&self, event: &serde_json::Value) -> bool {
        let inner = &*self.inner;
        let flat = flatten::flatten_value(&inner.paths, event);
        inner
            .alternatives
            .iter()
            .zip(&inner.field_ids)
            .any(|(alternative, field_ids)| verify::verify(alternative, field_ids, &flat))
    }

    /// Whether the event, given as JSON bytes, matches this pattern.
    pub fn matches_json(&self, event_json: &[u8]) -> Result<bool, PatternError> {
        let inner = &*self.inner;
        let flat = flatten::flatten_bytes(&inner.paths, event_json)?;
        Ok(inner
            .alternatives
            .iter()
            .zip(&inner.field_ids)
            .any(|(alternative, field_ids)| verify::verify(alternative, field_ids, &flat)))
    }

    pub(crate) fn alternatives(&self) -> &[compile::Alternative] {
        &self.inner.alternatives
    }
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Pattern").field(&self.inner.source).finish()
    }
}

impl std::str::FromStr for Pattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Pattern::parse(text)
    }
}
