//! The filter-pattern engine this service uses (the `opentrail-filters` crate): one language
//! for FilterLogEvents, metric filters, subscription filters and TestMetricFilter.

pub use opentrail_filters::{Extracted, FilterError, FilterPattern};

use super::error::LogsError;

/// A pattern a request gives, or InvalidParameterException with the engine's (AWS's) message.
pub fn parse_input(text: &str) -> Result<FilterPattern, LogsError> {
    FilterPattern::parse(text).map_err(|err| LogsError::InvalidParameter(err.to_string()))
}

/// A pattern stored with filter `filter`. It parsed when it was stored, so a failure means an
/// older or newer engine: the filter is skipped, with a warning.
pub fn parse_stored(filter: &str, text: &str) -> Option<FilterPattern> {
    match FilterPattern::parse(text) {
        Ok(pattern) => Some(pattern),
        Err(err) => {
            tracing::warn!(filter, error = %err, "stored filter pattern does not parse; filter skipped");
            None
        }
    }
}
