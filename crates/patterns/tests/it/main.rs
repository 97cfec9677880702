//! Integration tests: conformance with event-ruler (the cases in `tests/data/`), and a model
//! check that a machine answers what its patterns answer one by one.

mod conformance;
mod model;
