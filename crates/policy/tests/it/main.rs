//! The policy crate's integration tests: one binary (see STYLE.md), cases as data files in
//! `tests/data/`.

mod evaluation;
mod validation;
