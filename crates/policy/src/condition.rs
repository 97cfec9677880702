//! The `Condition` element: operators, their value types, and AWS's rules for absent keys,
//! multi-valued keys and the set operators.
//!
//! Within one statement every condition (operator × key) must hold (AND); within one condition
//! any of the policy's values may match (OR). For each operator family a positive comparison is
//! defined (`StringEquals`, `NumericLessThan`, `IpAddress`, …); a negated operator
//! (`StringNotEquals`, `NotIpAddress`, `ArnNotLike`, …) holds when the positive one does not:
//!
//! | form | key absent (or empty) | key present |
//! |---|---|---|
//! | `Op` | false (negated: true) | some request value matches some policy value (negated: none does) |
//! | `OpIfExists` | true | as `Op` |
//! | `ForAnyValue:Op` | false | some request value matches some policy value (negated: some request value matches none) |
//! | `ForAllValues:Op` | true | every request value matches some policy value (negated: every request value matches none) |
//! | `Null` | `true` holds | `false` holds |
//!
//! Values are compiled when the policy is parsed (numbers, dates, CIDR blocks, wildcard
//! patterns); a request value that does not parse as the operator's type matches nothing.

use std::net::IpAddr;

use crate::arn::ArnPattern;
use crate::context::Scope;
use crate::glob::Glob;
use crate::template::Template;

/// The operator families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    Arn,
    Null,
}

/// `(family, negated)` of an operator name without its set prefix and `IfExists` suffix.
pub(crate) fn operator(name: &str) -> Option<(Family, bool)> {
    use Family::*;
    Some(match name {
        "StringEquals" => (StringEquals, false),
        "StringNotEquals" => (StringEquals, true),
        "StringEqualsIgnoreCase" => (StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (StringEqualsIgnoreCase, true),
        "StringLike" => (StringLike, false),
        "StringNotLike" => (StringLike, true),
        "NumericEquals" => (NumericEquals, false),
        "NumericNotEquals" => (NumericEquals, true),
        "NumericLessThan" => (NumericLessThan, false),
        "NumericLessThanEquals" => (NumericLessThanEquals, false),
        "NumericGreaterThan" => (NumericGreaterThan, false),
        "NumericGreaterThanEquals" => (NumericGreaterThanEquals, false),
        "DateEquals" => (DateEquals, false),
        "DateNotEquals" => (DateEquals, true),
        "DateLessThan" => (DateLessThan, false),
        "DateLessThanEquals" => (DateLessThanEquals, false),
        "DateGreaterThan" => (DateGreaterThan, false),
        "DateGreaterThanEquals" => (DateGreaterThanEquals, false),
        "Bool" => (Bool, false),
        "BinaryEquals" => (BinaryEquals, false),
        "IpAddress" => (IpAddress, false),
        "NotIpAddress" => (IpAddress, true),
        "ArnEquals" | "ArnLike" => (Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Arn, true),
        "Null" => (Null, false),
        _ => return None,
    })
}

/// `ForAnyValue:` / `ForAllValues:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetOp {
    Single,
    AnyValue,
    AllValues,
}

/// Splits `ForAllValues:StringLikeIfExists` into its set operator, name and `IfExists`.
pub(crate) fn split_operator(full: &str) -> (SetOp, &str, bool) {
    let (set, rest) = if let Some(rest) = full.strip_prefix("ForAnyValue:") {
        (SetOp::AnyValue, rest)
    } else if let Some(rest) = full.strip_prefix("ForAllValues:") {
        (SetOp::AllValues, rest)
    } else {
        (SetOp::Single, full)
    };
    match rest.strip_suffix("IfExists") {
        Some(name) if operator(name).is_some() => (set, name, true),
        _ => (set, rest, false),
    }
}

/// One compiled policy value.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    TextTemplate(Template),
    /// `StringLike` pattern, or `StringEqualsIgnoreCase` text (lowercased).
    Pattern(Glob),
    PatternTemplate(Template),
    Number(f64),
    /// Nanoseconds since the epoch.
    Date(i128),
    Cidr(Cidr),
    Arn(ArnPattern),
    /// `Null`'s `true` / `false`; `Bool`'s value.
    Flag(bool),
    /// A value that does not parse for its operator: matches nothing.
    Invalid,
}

/// One condition: one operator on one key with its values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    family: Family,
    negated: bool,
    set: SetOp,
    if_exists: bool,
    /// The key, lowercased.
    key: String,
    values: Vec<Value>,
}

impl Condition {
    /// Compiles `operator_name` (already known valid) on `key` with `values` (strings).
    pub(crate) fn new(
        operator_name: &str,
        key: &str,
        values: &[String],
        variables: bool,
    ) -> Condition {
        let (set, name, if_exists) = split_operator(operator_name);
        let (family, negated) = operator(name).unwrap_or((Family::Null, false));
        let values = values
            .iter()
            .map(|text| compile_value(family, text, variables))
            .collect();
        Condition {
            family,
            negated,
            set,
            if_exists,
            key: key.to_ascii_lowercase(),
            values,
        }
    }

    /// Whether the condition holds for the request.
    pub(crate) fn holds(&self, scope: &Scope<'_>) -> bool {
        let request = scope.values(&self.key);
        if self.family == Family::Null {
            let absent = request.is_absent();
            return self
                .values
                .iter()
                .any(|value| matches!(value, Value::Flag(want) if *want == absent));
        }
        if request.is_absent() {
            return match self.set {
                _ if self.if_exists => true,
                SetOp::Single => self.negated,
                SetOp::AnyValue => false,
                SetOp::AllValues => true,
            };
        }
        let mut any_unrenderable = false;
        let mut matches_one = |text: &str| {
            self.values
                .iter()
                .any(|value| match self.compare(value, text, scope) {
                    Some(hit) => hit,
                    None => {
                        any_unrenderable = true;
                        false
                    }
                })
        };
        let result = match self.set {
            SetOp::Single => {
                let hit = request.iter().any(&mut matches_one);
                hit != self.negated
            }
            SetOp::AnyValue => request.iter().any(|text| matches_one(text) != self.negated),
            SetOp::AllValues => request.iter().all(|text| matches_one(text) != self.negated),
        };
        // A policy variable without a value makes the condition fail, negated or not.
        result && !any_unrenderable
    }

    /// The positive comparison of one request value with one policy value; `None` when the
    /// policy value has a variable without a value.
    fn compare(&self, value: &Value, text: &str, scope: &Scope<'_>) -> Option<bool> {
        use Family::*;
        Some(match (self.family, value) {
            (_, Value::Invalid) => false,
            (StringEquals, Value::Text(want)) => want == text,
            (StringEquals, Value::TextTemplate(t)) => t.render_string(scope)? == text,
            (StringEqualsIgnoreCase, Value::Text(want)) => want.eq_ignore_ascii_case(text),
            (StringEqualsIgnoreCase, Value::TextTemplate(t)) => {
                t.render_string(scope)?.eq_ignore_ascii_case(text)
            }
            (StringLike, Value::Pattern(glob)) => glob.matches(text),
            (StringLike, Value::PatternTemplate(t)) => t.render_glob(scope)?.matches(text),
            (NumericEquals, Value::Number(want)) => number(text).is_some_and(|n| n == *want),
            (NumericLessThan, Value::Number(want)) => number(text).is_some_and(|n| n < *want),
            (NumericLessThanEquals, Value::Number(want)) => {
                number(text).is_some_and(|n| n <= *want)
            }
            (NumericGreaterThan, Value::Number(want)) => number(text).is_some_and(|n| n > *want),
            (NumericGreaterThanEquals, Value::Number(want)) => {
                number(text).is_some_and(|n| n >= *want)
            }
            (DateEquals, Value::Date(want)) => parse_date(text).is_some_and(|d| d == *want),
            (DateLessThan, Value::Date(want)) => parse_date(text).is_some_and(|d| d < *want),
            (DateLessThanEquals, Value::Date(want)) => parse_date(text).is_some_and(|d| d <= *want),
            (DateGreaterThan, Value::Date(want)) => parse_date(text).is_some_and(|d| d > *want),
            (DateGreaterThanEquals, Value::Date(want)) => {
                parse_date(text).is_some_and(|d| d >= *want)
            }
            (Bool, Value::Flag(want)) => parse_bool(text) == Some(*want),
            (BinaryEquals, Value::Text(want)) => want == text,
            (IpAddress, Value::Cidr(cidr)) => text
                .trim()
                .parse::<IpAddr>()
                .is_ok_and(|ip| cidr.contains(ip)),
            (Arn, Value::Arn(pattern)) => {
                if let ArnPattern::Variable(t) = pattern {
                    t.render_glob(scope)?;
                }
                pattern.matches(text, scope)
            }
            _ => false,
        })
    }
}

fn compile_value(family: Family, text: &str, variables: bool) -> Value {
    use Family::*;
    let template = || variables.then(|| Template::parse(text)).flatten();
    match family {
        StringEquals | StringEqualsIgnoreCase => match template() {
            Some(t) => Value::TextTemplate(t),
            None => Value::Text(text.to_owned()),
        },
        StringLike => match template() {
            Some(t) => Value::PatternTemplate(t),
            None => Value::Pattern(Glob::new(text)),
        },
        NumericEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => number(text).map_or(Value::Invalid, Value::Number),
        DateEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => parse_date(text).map_or(Value::Invalid, Value::Date),
        Bool | Null => parse_bool(text).map_or(Value::Invalid, Value::Flag),
        BinaryEquals => Value::Text(text.to_owned()),
        IpAddress => Cidr::parse(text).map_or(Value::Invalid, Value::Cidr),
        Arn => Value::Arn(ArnPattern::new(text, variables)),
    }
}

fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// An IPv4 or IPv6 block: the address as 128 bits, its prefix length, and its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    bits: u128,
    prefix: u32,
    v6: bool,
}

impl Cidr {
    /// `203.0.113.0/24`, `2001:db8::/32`, or one address (a /32 or /128).
    pub(crate) fn parse(text: &str) -> Option<Cidr> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let ip: IpAddr = address.parse().ok()?;
        let (bits, width, v6) = ip_bits(ip);
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
            None => width,
        };
        if prefix > width {
            return None;
        }
        Some(Cidr { bits, prefix, v6 })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let (bits, width, v6) = ip_bits(ip);
        if v6 != self.v6 {
            return false;
        }
        let host_bits = width - self.prefix;
        let shift = |value: u128| value.checked_shr(host_bits).unwrap_or(0);
        shift(bits) == shift(self.bits)
    }
}

/// The address as an integer, its width in bits, and whether it is IPv6.
fn ip_bits(ip: IpAddr) -> (u128, u32, bool) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32, false),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => (u128::from(u32::from(v4)), 32, false),
            None => (u128::from(v6), 128, true),
        },
    }
}

/// A date as nanoseconds since the epoch: epoch seconds (`1700000000`), or ISO 8601
/// (`2024-01-31`, `2024-01-31T12:00:00Z`, `2024-01-31T12:00:00.123+02:00`, `2024-01-31T12:00Z`).
pub(crate) fn parse_date(text: &str) -> Option<i128> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .ok()
            .map(|s| i128::from(s) * 1_000_000_000);
    }
    let (date, time) = match text.find(['T', 't']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let year: i32 = digits(parts.next()?, 4)?;
    let month: u8 = parts.next().map_or(Some(1), |m| digits(m, 2))?;
    let day: u8 = parts.next().map_or(Some(1), |d| digits(d, 2))?;
    if parts.next().is_some() {
        return None;
    }
    let month = time::Month::try_from(month).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let mut nanos = i128::from(date.to_julian_day() - 2_440_588) * 86_400 * 1_000_000_000;
    if let Some(time) = time {
        let (clock, offset_seconds) = split_zone(time)?;
        let mut fields = clock.split(':');
        let hour: u8 = digits(fields.next()?, 2)?;
        let minute: u8 = fields.next().map_or(Some(0), |m| digits(m, 2))?;
        let (second, fraction) = match fields.next() {
            Some(s) => match s.split_once('.') {
                Some((s, f)) => (digits::<u8>(s, 2)?, f),
                None => (digits::<u8>(s, 2)?, ""),
            },
            None => (0, ""),
        };
        if fields.next().is_some() || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        if !fraction.bytes().all(|b| b.is_ascii_digit()) || fraction.len() > 9 {
            return None;
        }
        let fraction_nanos: i128 = if fraction.is_empty() {
            0
        } else {
            fraction.parse::<i128>().ok()? * 10i128.pow(9 - fraction.len() as u32)
        };
        let seconds =
            i128::from(hour) * 3600 + i128::from(minute) * 60 + i128::from(second) - offset_seconds;
        nanos += seconds * 1_000_000_000 + fraction_nanos;
    }
    Some(nanos)
}

/// Splits `12:00:00+02:00` into the clock and the zone offset in seconds (`Z` or none: 0).
fn split_zone(time: &str) -> Option<(&str, i128)> {
    if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    let Some(i) = time.rfind(['+', '-']) else {
        return Some((time, 0));
    };
    let (clock, zone) = (&time[..i], &time[i + 1..]);
    let sign = if time.as_bytes()[i] == b'-' { -1 } else { 1 };
    let (hours, minutes) = match zone.split_once(':') {
        Some((h, m)) => (digits::<i128>(h, 2)?, digits::<i128>(m, 2)?),
        None if zone.len() == 4 => (
            digits::<i128>(&zone[..2], 2)?,
            digits::<i128>(&zone[2..], 2)?,
        ),
        None => (digits::<i128>(zone, 2)?, 0),
    };
    Some((clock, sign * (hours * 3600 + minutes * 60)))
}

fn digits<T: std::str::FromStr>(text: &str, len: usize) -> Option<T> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_date("1970-01-02"), Some(86_400_000_000_000));
        assert_eq!(parse_date("86400"), Some(86_400_000_000_000));
        assert_eq!(
            parse_date("1970-01-01T02:00:00+02:00"),
            parse_date("1970-01-01T00:00:00Z")
        );
        assert_eq!(parse_date("1970-01-01T00:00:00.5Z"), Some(500_000_000));
        assert_eq!(parse_date("2020-13-01"), None);
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn cidr() {
        let block = Cidr::parse("203.0.113.0/24").unwrap_or_else(|| panic!("parses"));
        assert!(block.contains("203.0.113.77".parse().unwrap_or_else(|_| panic!())));
        assert!(!block.contains("203.0.114.1".parse().unwrap_or_else(|_| panic!())));
        let v6 = Cidr::parse("2001:DB8:1234:5678::/64").unwrap_or_else(|| panic!("parses"));
        assert!(v6.contains("2001:db8:1234:5678::1".parse().unwrap_or_else(|_| panic!())));
        assert!(!v6.contains("2001:db8:1234:5679::1".parse().unwrap_or_else(|_| panic!())));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .is_some_and(|c| c.contains("8.8.8.8".parse().unwrap_or_else(|_| panic!())))
        );
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("10.0.0.1").is_some());
    }
}
