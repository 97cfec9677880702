//! The filter-pattern engine this service uses (the `opentrail-filters` crate): one language
//! for FilterLogEvents, metric filters and TestMetricFilter.

pub use opentrail_filters::{Extracted, FilterError, FilterPattern};
