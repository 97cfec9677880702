//! [`Machine`]: many patterns compiled into one automaton.
//!
//! # Design
//!
//! Compiling flattens every pattern into alternatives of conditions (path + matchers) and
//! interns each distinct (field, matcher) pair once, whichever patterns use it. The automaton is
//! then, per field path, a set of indexes over the matchers of that field (a hash map for exact
//! strings and numbers, hash indexes by length for prefixes / suffixes and their case-folded forms, an
//! interval index for numeric ranges and CIDR blocks, a wildcard index, exclusion indexes for
//! `anything-but`), and a path trie that tells which event keys lead to those fields.
//!
//! Matching an event:
//!
//! 1. flatten it through the path trie, skipping subtrees no pattern looks at;
//! 2. for each leaf, ask its field's indexes which matchers accept it — the cost depends on the
//!    value and on the matches, not on the number of patterns;
//! 3. each accepted matcher marks its conditions; an alternative whose positive conditions are
//!    all marked is a candidate (counting, with per-event stamps instead of clearing);
//! 4. candidates that could be wrong by counting alone — `exists: false` conditions, or several
//!    conditions while the event has arrays — get the exact array-consistent check
//!    (`crate::verify`); the others match as counted.
//!
//! The automaton is built lazily: [`Machine::add`] and [`Machine::remove`] only record the change,
//! and the first match afterwards rebuilds it (linear in the total size of the patterns). Rules
//! change seldom and events arrive often, and rebuilding keeps deletion trivially correct.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::OnceLock;

use crate::flatten::{FlatEvent, PathTrie, flatten_bytes, flatten_value};
use crate::hash::FastMap;
use crate::index::{IntervalIndex, PrefixIndex, SuffixIndex, WildcardIndex};
use crate::value::{AnythingBut, IpRange, Leaf, NumKey, ValuePattern, fold, parse_ip};
use crate::verify::verify;
use crate::{Pattern, PatternError};

/// Many patterns, each under an id, matched together.
///
/// One pattern per id: adding under an id already present replaces its pattern (use `$or` for
/// several alternatives under one id).
pub struct Machine<Id> {
    entries: Vec<(Id, Pattern)>,
    positions: HashMap<Id, usize>,
    compiled: OnceLock<Compiled>,
}

impl<Id> Default for Machine<Id> {
    fn default() -> Self {
        Machine {
            entries: Vec::new(),
            positions: HashMap::new(),
            compiled: OnceLock::new(),
        }
    }
}

impl<Id: std::fmt::Debug> std::fmt::Debug for Machine<Id> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.entries
                    .iter()
                    .map(|(id, pattern)| (id, pattern.as_str())),
            )
            .finish()
    }
}

impl<Id: Clone + Eq + Hash> Machine<Id> {
    pub fn new() -> Self {
        Machine::default()
    }

    /// Adds the pattern under `id`, replacing the pattern `id` had.
    pub fn add(&mut self, id: Id, pattern: &Pattern) {
        match self.positions.get(&id) {
            Some(&at) => self.entries[at].1 = pattern.clone(),
            None => {
                self.positions.insert(id.clone(), self.entries.len());
                self.entries.push((id, pattern.clone()));
            }
        }
        self.compiled = OnceLock::new();
    }

    /// Removes the pattern under `id`, if any.
    pub fn remove(&mut self, id: &Id) {
        let Some(at) = self.positions.remove(id) else {
            return;
        };
        self.entries.remove(at);
        for (position, (id, _)) in self.entries.iter().enumerate().skip(at) {
            self.positions.insert(id.clone(), position);
        }
        self.compiled = OnceLock::new();
    }

    /// The number of ids.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `id` has a pattern.
    pub fn contains(&self, id: &Id) -> bool {
        self.positions.contains_key(id)
    }

    /// Builds the automaton now rather than at the next match (e.g. before timing matches).
    pub fn prepare(&self) {
        self.compiled();
    }

    /// The ids whose patterns match the event, in the order they were added.
    pub fn matches_for_event(&self, event: &serde_json::Value) -> Vec<Id> {
        let compiled = self.compiled();
        let flat = flatten_value(&compiled.paths, event);
        self.ids(compiled.run(&flat))
    }

    /// The ids whose patterns match the event given as JSON bytes (which must hold one object).
    pub fn matches_for_json(&self, event_json: &[u8]) -> Result<Vec<Id>, PatternError> {
        let compiled = self.compiled();
        let flat = flatten_bytes(&compiled.paths, event_json)?;
        Ok(self.ids(compiled.run(&flat)))
    }

    /// How many ids match the event given as JSON bytes, without collecting them.
    pub fn count_matches_for_json(&self, event_json: &[u8]) -> Result<usize, PatternError> {
        let compiled = self.compiled();
        let flat = flatten_bytes(&compiled.paths, event_json)?;
        Ok(compiled.run(&flat).len())
    }

    fn ids(&self, entries: Vec<u32>) -> Vec<Id> {
        entries
            .into_iter()
            .map(|e| self.entries[e as usize].0.clone())
            .collect()
    }

    fn compiled(&self) -> &Compiled {
        self.compiled
            .get_or_init(|| Compiled::build(self.entries.iter().map(|(_, p)| p)))
    }
}

/// The automaton.
struct Compiled {
    paths: PathTrie,
    /// By field id.
    fields: Vec<FieldMatcher>,
    /// CSR: the conditions of matcher `m` are `matcher_conditions[matcher_offsets[m]..matcher_offsets[m + 1]]`.
    matcher_offsets: Vec<u32>,
    matcher_conditions: Vec<u32>,
    /// The alternative of each positive condition.
    condition_alternative: Vec<u32>,
    alternatives: Vec<AlternativeInfo>,
    /// Alternatives without positive conditions (only `exists: false` ones): checked on every event.
    always: Vec<u32>,
    patterns: Vec<Pattern>,
    matcher_count: usize,
}

struct AlternativeInfo {
    entry: u32,
    index: u32,
    /// Positive conditions (those without `exists: false`).
    required: u32,
    conditions: u32,
    has_absence: bool,
    field_ids: Box<[u32]>,
}

impl Compiled {
    fn build<'p>(patterns: impl Iterator<Item = &'p Pattern>) -> Compiled {
        let patterns: Vec<Pattern> = patterns.cloned().collect();
        let mut paths = PathTrie::default();
        let mut matcher_ids: HashMap<(u32, ValuePattern), u32> = HashMap::new();
        let mut matchers: Vec<(u32, ValuePattern)> = Vec::new();
        let mut conditions_of: Vec<Vec<u32>> = Vec::new();
        let mut condition_alternative = Vec::new();
        let mut alternatives = Vec::new();
        let mut always = Vec::new();

        for (entry, pattern) in patterns.iter().enumerate() {
            for (index, alternative) in pattern.alternatives().iter().enumerate() {
                let alternative_id = alternatives.len() as u32;
                let field_ids: Box<[u32]> = alternative
                    .conditions
                    .iter()
                    .map(|c| paths.insert(&c.path))
                    .collect();
                let mut required = 0;
                let mut has_absence = false;
                for (condition, &field) in alternative.conditions.iter().zip(field_ids.iter()) {
                    if condition.absent_ok {
                        has_absence = true;
                        continue;
                    }
                    let condition_id = condition_alternative.len() as u32;
                    condition_alternative.push(alternative_id);
                    required += 1;
                    for matcher in &condition.matchers {
                        let key = (field, matcher.clone());
                        let id = *matcher_ids.entry(key).or_insert_with(|| {
                            matchers.push((field, matcher.clone()));
                            conditions_of.push(Vec::new());
                            (matchers.len() - 1) as u32
                        });
                        conditions_of[id as usize].push(condition_id);
                    }
                }
                if required == 0 {
                    always.push(alternative_id);
                }
                alternatives.push(AlternativeInfo {
                    entry: entry as u32,
                    index: index as u32,
                    required,
                    conditions: alternative.conditions.len() as u32,
                    has_absence,
                    field_ids,
                });
            }
        }

        let field_count = matchers
            .iter()
            .map(|(f, _)| *f as usize + 1)
            .max()
            .unwrap_or(0);
        let field_count = field_count.max(
            alternatives
                .iter()
                .flat_map(|a| a.field_ids.iter())
                .map(|&f| f as usize + 1)
                .max()
                .unwrap_or(0),
        );
        let mut fields: Vec<FieldMatcher> =
            (0..field_count).map(|_| FieldMatcher::default()).collect();
        for (id, (field, matcher)) in matchers.iter().enumerate() {
            fields[*field as usize].add(matcher, id as u32);
        }
        // fields where a number outside the comparable range can match nothing
        let mut needs_incomparable = vec![false; field_count];
        for (field, matcher) in &matchers {
            if matches!(
                matcher,
                ValuePattern::Number(_) | ValuePattern::AnythingBut(_) | ValuePattern::Exists
            ) {
                needs_incomparable[*field as usize] = true;
            }
        }
        for pattern in &patterns {
            for alternative in pattern.alternatives() {
                for condition in alternative.conditions.iter().filter(|c| c.absent_ok) {
                    let field = paths.insert(&condition.path);
                    needs_incomparable[field as usize] = true;
                }
            }
        }
        for (field, needed) in needs_incomparable.iter().enumerate() {
            if !needed {
                paths.drop_incomparable_numbers(field as u32);
            }
        }
        for field in &mut fields {
            field.build();
        }
        let mut matcher_offsets = Vec::with_capacity(conditions_of.len() + 1);
        let mut matcher_conditions = Vec::new();
        matcher_offsets.push(0);
        for conditions in &conditions_of {
            matcher_conditions.extend_from_slice(conditions);
            matcher_offsets.push(matcher_conditions.len() as u32);
        }
        Compiled {
            paths,
            fields,
            matcher_offsets,
            matcher_conditions,
            condition_alternative,
            alternatives,
            always,
            patterns,
            matcher_count: matchers.len(),
        }
    }

    /// The entries (indexes into the machine's entries) matching the event, sorted.
    fn run(&self, flat: &FlatEvent<'_>) -> Vec<u32> {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.run_with(flat, &mut scratch),
            Err(_) => self.run_with(flat, &mut Scratch::default()),
        })
    }

    fn run_with(&self, flat: &FlatEvent<'_>, scratch: &mut Scratch) -> Vec<u32> {
        scratch.begin(self);
        let epoch = scratch.epoch;
        let Scratch {
            condition_seen,
            alternative_seen,
            alternative_count,
            entry_seen,
            excluded,
            leaf_stamp,
            hits,
            candidates,
            ..
        } = scratch;
        for field in flat.fields() {
            hits.clear();
            let Some(matcher) = self.fields.get(field.id as usize) else {
                continue;
            };
            *leaf_stamp = leaf_stamp.wrapping_add(1);
            if *leaf_stamp == 0 {
                excluded.fill(0);
                *leaf_stamp = 1;
            }
            matcher.matches(&field.leaf, excluded, *leaf_stamp, hits);
            for &m in hits.iter() {
                let m = m as usize;
                let conditions = &self.matcher_conditions
                    [self.matcher_offsets[m] as usize..self.matcher_offsets[m + 1] as usize];
                for &condition in conditions {
                    let seen = &mut condition_seen[condition as usize];
                    if *seen == epoch {
                        continue;
                    }
                    *seen = epoch;
                    let alternative = self.condition_alternative[condition as usize] as usize;
                    if alternative_seen[alternative] != epoch {
                        alternative_seen[alternative] = epoch;
                        alternative_count[alternative] = 0;
                    }
                    alternative_count[alternative] += 1;
                    if alternative_count[alternative] == self.alternatives[alternative].required {
                        candidates.push(alternative as u32);
                    }
                }
            }
        }
        candidates.extend_from_slice(&self.always);
        let mut matched = Vec::new();
        for &alternative in candidates.iter() {
            let info = &self.alternatives[alternative as usize];
            let entry = info.entry as usize;
            if entry_seen[entry] == epoch {
                continue;
            }
            let exact_check_needed = info.has_absence || (flat.has_arrays && info.conditions > 1);
            if exact_check_needed {
                let definition = &self.patterns[entry].alternatives()[info.index as usize];
                if !verify(definition, &info.field_ids, flat) {
                    continue;
                }
            }
            entry_seen[entry] = epoch;
            matched.push(info.entry);
        }
        matched.sort_unstable();
        matched
    }
}

/// Per-thread scratch space: stamps instead of per-event clearing.
#[derive(Default)]
struct Scratch {
    epoch: u32,
    condition_seen: Vec<u32>,
    alternative_seen: Vec<u32>,
    alternative_count: Vec<u32>,
    entry_seen: Vec<u32>,
    /// Per matcher: the leaf stamp of the last leaf an `anything-but` matcher excluded.
    excluded: Vec<u32>,
    leaf_stamp: u32,
    hits: Vec<u32>,
    candidates: Vec<u32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Scratch {
    fn begin(&mut self, compiled: &Compiled) {
        grow(
            &mut self.condition_seen,
            compiled.condition_alternative.len(),
        );
        grow(&mut self.alternative_seen, compiled.alternatives.len());
        grow(&mut self.alternative_count, compiled.alternatives.len());
        grow(&mut self.entry_seen, compiled.patterns.len());
        grow(&mut self.excluded, compiled.matcher_count);
        self.candidates.clear();
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.condition_seen.fill(0);
            self.alternative_seen.fill(0);
            self.entry_seen.fill(0);
            self.epoch = 1;
        }
    }
}

fn grow(v: &mut Vec<u32>, len: usize) {
    if v.len() < len {
        v.resize(len, 0);
    }
}

/// The indexes over one field's matchers.
#[derive(Default)]
struct FieldMatcher {
    exact: FastMap<Box<str>, Vec<u32>>,
    numbers: FastMap<NumKey, Vec<u32>>,
    trues: Vec<u32>,
    falses: Vec<u32>,
    nulls: Vec<u32>,
    prefixes: PrefixIndex,
    suffixes: SuffixIndex,
    folded_exact: FastMap<Box<str>, Vec<u32>>,
    folded_prefixes: PrefixIndex,
    folded_suffixes: SuffixIndex,
    wildcards: WildcardIndex,
    numeric: IntervalIndex<i64>,
    ipv4: IntervalIndex<u32>,
    ipv6: IntervalIndex<u128>,
    exists: Vec<u32>,
    /// Every `anything-but` matcher; each accepts a leaf unless an exclusion index names it.
    but_all: Vec<u32>,
    but_strings: FastMap<Box<str>, Vec<u32>>,
    but_numbers: FastMap<i64, Vec<u32>>,
    but_prefixes: PrefixIndex,
    but_suffixes: SuffixIndex,
    but_folded: FastMap<Box<str>, Vec<u32>>,
    but_wildcards: WildcardIndex,
    // which indexes are in use, so a leaf skips the work of empty ones
    has_prefixes: bool,
    has_suffixes: bool,
    has_folded: bool,
    has_but_folded: bool,
    has_wildcards: bool,
    has_ip: bool,
    has_numbers: bool,
    has_numeric: bool,
}

impl FieldMatcher {
    fn add(&mut self, matcher: &ValuePattern, id: u32) {
        match matcher {
            ValuePattern::Exact(s) => self.exact.entry(s.clone()).or_default().push(id),
            ValuePattern::Number(key) => self.numbers.entry(*key).or_default().push(id),
            ValuePattern::True => self.trues.push(id),
            ValuePattern::False => self.falses.push(id),
            ValuePattern::Null => self.nulls.push(id),
            ValuePattern::Prefix(p) => self.prefixes.insert(p.as_bytes(), id),
            ValuePattern::Suffix(s) => self.suffixes.insert(s.as_bytes(), id),
            ValuePattern::EqualsIgnoreCase(s) => {
                self.folded_exact.entry(s.clone()).or_default().push(id)
            }
            ValuePattern::PrefixIgnoreCase(p) => self.folded_prefixes.insert(p.as_bytes(), id),
            ValuePattern::SuffixIgnoreCase(s) => self.folded_suffixes.insert(s.as_bytes(), id),
            ValuePattern::Wildcard(glob) => self.wildcards.insert(glob.clone(), id),
            ValuePattern::Numeric { low, high } => self.numeric.insert(*low, *high, id),
            ValuePattern::Ip(IpRange::V4(low, high)) => self.ipv4.insert(*low, *high, id),
            ValuePattern::Ip(IpRange::V6(low, high)) => self.ipv6.insert(*low, *high, id),
            ValuePattern::Exists => self.exists.push(id),
            ValuePattern::AnythingBut(set) => {
                self.but_all.push(id);
                match set {
                    AnythingBut::Strings(values) => {
                        for s in values {
                            self.but_strings.entry(s.clone()).or_default().push(id);
                        }
                    }
                    AnythingBut::Numbers(values) => {
                        for v in values {
                            self.but_numbers.entry(*v).or_default().push(id);
                        }
                    }
                    AnythingBut::Prefixes(values) => values
                        .iter()
                        .for_each(|p| self.but_prefixes.insert(p.as_bytes(), id)),
                    AnythingBut::Suffixes(values) => values
                        .iter()
                        .for_each(|s| self.but_suffixes.insert(s.as_bytes(), id)),
                    AnythingBut::IgnoreCase(values) => {
                        for s in values {
                            self.but_folded.entry(s.clone()).or_default().push(id);
                        }
                    }
                    AnythingBut::Wildcards(globs) => globs
                        .iter()
                        .for_each(|g| self.but_wildcards.insert(g.clone(), id)),
                }
            }
        }
    }

    fn build(&mut self) {
        self.numeric.build();
        self.ipv4.build();
        self.ipv6.build();
        self.has_prefixes = !self.prefixes.is_empty() || !self.folded_prefixes.is_empty();
        self.has_suffixes = !self.suffixes.is_empty() || !self.folded_suffixes.is_empty();
        self.has_folded = !self.folded_exact.is_empty()
            || !self.folded_prefixes.is_empty()
            || !self.folded_suffixes.is_empty();
        self.has_but_folded = !self.but_folded.is_empty();
        self.has_wildcards = !self.wildcards.is_empty();
        self.has_ip = !self.ipv4.is_empty() || !self.ipv6.is_empty();
        self.has_numbers = !self.numbers.is_empty();
        self.has_numeric = !self.numeric.is_empty() || !self.but_numbers.is_empty();
    }

    /// Pushes onto `hits` the ids of the matchers accepting `leaf`. `excluded` and `stamp` are
    /// scratch for `anything-but`.
    #[inline]
    fn matches(&self, leaf: &Leaf<'_>, excluded: &mut [u32], stamp: u32, hits: &mut Vec<u32>) {
        let mut folded_leaf = None;
        let mut scaled_leaf = None;
        match leaf {
            Leaf::Str(s) => {
                if let Some(ids) = self.exact.get(&**s) {
                    hits.extend_from_slice(ids);
                }
                if self.has_prefixes {
                    self.prefixes.query(s.as_bytes(), &mut |id| hits.push(id));
                }
                if self.has_suffixes {
                    self.suffixes.query(s.as_bytes(), &mut |id| hits.push(id));
                }
                if self.has_folded || self.has_but_folded {
                    let folded = fold(s);
                    if self.has_folded {
                        if let Some(ids) = self.folded_exact.get(&*folded) {
                            hits.extend_from_slice(ids);
                        }
                        self.folded_prefixes
                            .query(folded.as_bytes(), &mut |id| hits.push(id));
                        self.folded_suffixes
                            .query(folded.as_bytes(), &mut |id| hits.push(id));
                    }
                    folded_leaf = Some(folded);
                }
                if self.has_wildcards {
                    self.wildcards.query(s.as_bytes(), &mut |id| hits.push(id));
                }
                if self.has_ip {
                    match parse_ip(s) {
                        Some(std::net::IpAddr::V4(v4)) => {
                            self.ipv4.query(u32::from(v4), &mut |id| hits.push(id))
                        }
                        Some(std::net::IpAddr::V6(v6)) => {
                            self.ipv6.query(u128::from(v6), &mut |id| hits.push(id))
                        }
                        None => {}
                    }
                }
            }
            Leaf::Num(n) => {
                if self.has_numeric || self.has_numbers {
                    let scaled = n.scaled();
                    if self.has_numbers {
                        let key = scaled.map_or_else(|| n.key(), NumKey::Scaled);
                        if let Some(ids) = self.numbers.get(&key) {
                            hits.extend_from_slice(ids);
                        }
                    }
                    if let Some(v) = scaled
                        && !self.numeric.is_empty()
                    {
                        self.numeric.query(v, &mut |id| hits.push(id));
                    }
                    scaled_leaf = scaled;
                }
            }
            Leaf::True => hits.extend_from_slice(&self.trues),
            Leaf::False => hits.extend_from_slice(&self.falses),
            Leaf::Null => hits.extend_from_slice(&self.nulls),
        }
        hits.extend_from_slice(&self.exists);
        if self.but_all.is_empty() {
            return;
        }
        let mut exclude = |id: u32| excluded[id as usize] = stamp;
        match leaf {
            Leaf::Str(s) => {
                if let Some(ids) = self.but_strings.get(&**s) {
                    ids.iter().for_each(|&id| exclude(id));
                }
                self.but_prefixes.query(s.as_bytes(), &mut exclude);
                self.but_suffixes.query(s.as_bytes(), &mut exclude);
                if let Some(folded) = &folded_leaf
                    && let Some(ids) = self.but_folded.get(&**folded)
                {
                    ids.iter().for_each(|&id| exclude(id));
                }
                self.but_wildcards.query(s.as_bytes(), &mut exclude);
            }
            Leaf::Num(_) => {
                if let Some(ids) = scaled_leaf.and_then(|v| self.but_numbers.get(&v)) {
                    ids.iter().for_each(|&id| exclude(id));
                }
            }
            Leaf::True | Leaf::False | Leaf::Null => {}
        }
        for &id in &self.but_all {
            if excluded[id as usize] != stamp {
                hits.push(id);
            }
        }
    }
}
