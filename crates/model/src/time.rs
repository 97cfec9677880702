//! The record timestamp format: UTC, `YYYY-MM-DDTHH:MM:SSZ`, no fraction.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// Formats `at` as a record `eventTime`.
pub fn format_event_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_default()
}

/// Parses an `eventTime` (any RFC 3339 form, fractions allowed) into milliseconds since the
/// Unix epoch.
pub fn parse_event_time_ms(text: &str) -> Option<i64> {
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    Some(to_ms(at))
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    to_ms(OffsetDateTime::now_utc())
}

/// Milliseconds since the epoch of `at` (0 before 1970 - 292 million years, `i64::MAX` after).
pub fn to_ms(at: OffsetDateTime) -> i64 {
    let ms = at.unix_timestamp_nanos() / 1_000_000;
    i64::try_from(ms).unwrap_or(if ms < 0 { 0 } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time");
        let text = format_event_time(at);
        assert_eq!(text, "2023-11-14T22:13:20Z");
        assert_eq!(parse_event_time_ms(&text), Some(1_700_000_000_000));
        assert_eq!(
            parse_event_time_ms("2023-11-14T22:13:20.5Z"),
            Some(1_700_000_000_500)
        );
        assert_eq!(parse_event_time_ms("yesterday"), None);
    }
}
