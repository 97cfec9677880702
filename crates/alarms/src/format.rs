//! Numbers and dates as AWS writes them in alarm reasons and notifications.

use time::OffsetDateTime;
use time::macros::format_description;

/// `value` as Java's `Double.toString` prints it: `1.0`, `66.66201000304783`, `1.0E9`,
/// `1.5E-4`; AWS's alarm reasons are produced by Java and print numbers this way.
pub fn java_double(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .into();
    }
    let magnitude = value.abs();
    if (1e-3..1e7).contains(&magnitude) {
        let text = format!("{value}");
        return if text.contains('.') {
            text
        } else {
            format!("{text}.0")
        };
    }
    // Rust's shortest scientific form `1.5e9` becomes Java's `1.5E9`; `1e9` becomes `1.0E9`.
    let text = format!("{value:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text.as_str(), "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_owned()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exponent}")
}

fn datetime(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `dd/MM/yy HH:mm:ss` (UTC), the date form inside state reasons.
pub fn reason_date(ms: i64) -> String {
    let format = format_description!("[day]/[month]/[year repr:last_two] [hour]:[minute]:[second]");
    datetime(ms).format(&format).unwrap_or_default()
}

/// `yyyy-MM-dd'T'HH:mm:ss.SSS+0000`, the date form of notifications and StateReasonData.
pub fn iso_date(ms: i64) -> String {
    let format = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
    );
    datetime(ms).format(&format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(66.66201000304783), "66.66201000304783");
        assert_eq!(java_double(30.0), "30.0");
        assert_eq!(java_double(-2.5), "-2.5");
        assert_eq!(java_double(1e9), "1.0E9");
        assert_eq!(java_double(1.5e10), "1.5E10");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(9_999_999.0), "9999999.0");
        assert_eq!(java_double(0.0), "0.0");
    }

    #[test]
    fn dates_in_both_forms() {
        // 2025-02-02T12:05:00Z
        let ms = 1_738_497_900_000;
        assert_eq!(reason_date(ms), "02/02/25 12:05:00");
        assert_eq!(iso_date(ms + 472), "2025-02-02T12:05:00.472+0000");
    }
}
