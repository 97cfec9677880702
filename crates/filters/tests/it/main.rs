//! Integration tests of `opentrail-filters`: the conformance cases and properties.
//!
//! # Layout
//!
//! - `conformance`: every case of `tests/data/cases.json` (a copy of
//!   `shared/data/filter-patterns/cases.json`), with the uncertain ones decided.
//! - `properties`: proptest properties of the language.

mod conformance;
mod properties;
