//! Timestamps as the codecs see them.
//!
//! Service code holds a timestamp the way an awsJson body does: a JSON number of epoch seconds
//! (an integer when whole). The awsQuery wire carries ISO 8601 text; CBOR carries tag 1 around
//! the epoch seconds. These helpers convert between the three and accept either a number or an
//! RFC 3339 / ISO 8601 string wherever a timestamp value is read.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Epoch seconds from ISO 8601 text (`2024-01-02T03:04:05Z`, with optional fraction and
/// offset; no offset means UTC) or from a decimal number of epoch seconds.
pub(crate) fn parse_timestamp(text: &str) -> Option<f64> {
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds.is_finite().then_some(seconds);
    }
    let moment = OffsetDateTime::parse(text, &Rfc3339).ok().or_else(|| {
        let without_offset = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
        );
        PrimitiveDateTime::parse(text, without_offset)
            .ok()
            .map(PrimitiveDateTime::assume_utc)
    })?;
    #[allow(clippy::cast_precision_loss)]
    let whole = moment.unix_timestamp() as f64;
    Some(whole + f64::from(moment.nanosecond()) / 1e9)
}

/// The epoch seconds a JSON timestamp value stands for: a number, or text [`parse_timestamp`]
/// accepts.
pub(crate) fn timestamp_seconds(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64().filter(|seconds| seconds.is_finite()),
        Value::String(text) => parse_timestamp(text),
        _ => None,
    }
}

/// Epoch seconds as the JSON value service code sees: an integer when whole, else a float.
pub(crate) fn epoch_value(seconds: f64) -> Value {
    if seconds.fract() == 0.0 && seconds.abs() < 9e15 {
        #[allow(clippy::cast_possible_truncation)]
        let whole = seconds as i64;
        return Value::from(whole);
    }
    serde_json::Number::from_f64(seconds).map_or(Value::Null, Value::Number)
}

/// `2024-01-02T03:04:05.678Z`: UTC, rounded to milliseconds; `None` outside years 0–9999.
pub(crate) fn format_iso8601_millis(seconds: f64) -> Option<String> {
    if !seconds.is_finite() || seconds.abs() > 1e12 {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    let millis = (seconds * 1000.0).round() as i128;
    let moment = OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000).ok()?;
    if !(0..=9999).contains(&moment.year()) {
        return None;
    }
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        moment.year(),
        u8::from(moment.month()),
        moment.day(),
        moment.hour(),
        moment.minute(),
        moment.second(),
        moment.millisecond()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iso8601_variants_and_numbers() {
        assert_eq!(
            parse_timestamp("2024-01-02T03:04:05Z"),
            Some(1_704_164_645.0)
        );
        assert_eq!(
            parse_timestamp("2024-01-02T03:04:05.5+00:00"),
            Some(1_704_164_645.5)
        );
        assert_eq!(
            parse_timestamp("2024-01-02T04:04:05+01:00"),
            Some(1_704_164_645.0)
        );
        assert_eq!(
            parse_timestamp("2024-01-02T03:04:05.250"),
            Some(1_704_164_645.25)
        );
        assert_eq!(parse_timestamp("1704164645"), Some(1_704_164_645.0));
        assert_eq!(parse_timestamp("1704164645.5"), Some(1_704_164_645.5));
        for bad in [
            "",
            "NaN",
            "inf",
            "2024-13-02T03:04:05Z",
            "yesterday",
            "2024-01-02",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn values_and_formatting() {
        assert_eq!(epoch_value(1_704_164_645.0), Value::from(1_704_164_645_i64));
        assert_eq!(epoch_value(1.5), serde_json::json!(1.5));
        assert_eq!(
            timestamp_seconds(&serde_json::json!("2024-01-02T03:04:05Z")),
            Some(1_704_164_645.0)
        );
        assert_eq!(timestamp_seconds(&serde_json::json!(true)), None);
        assert_eq!(
            format_iso8601_millis(1_704_164_645.678).as_deref(),
            Some("2024-01-02T03:04:05.678Z")
        );
        assert_eq!(
            format_iso8601_millis(0.0).as_deref(),
            Some("1970-01-01T00:00:00.000Z")
        );
        assert_eq!(format_iso8601_millis(f64::NAN), None);
        assert_eq!(format_iso8601_millis(1e300), None);
        assert_eq!(format_iso8601_millis(-1e11), None);
    }
}
