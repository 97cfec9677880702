//! CloudWatch Logs filter patterns: parse a pattern, match log events, extract metric values.
//!
//! Pure: no IO. Serves FilterLogEvents, metric filters, subscription filters and
//! `opentrail filter`.
