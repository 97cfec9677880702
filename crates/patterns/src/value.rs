//! Value matchers — what one field's leaf value is compared with — and the scalar helpers they
//! need: decimal numbers scaled to integers (event-ruler's `ComparableNumber`: ±5e9, six
//! decimals), IP addresses, case folding and wildcard globs.

use std::borrow::Cow;
use std::net::IpAddr;

/// 5e9 scaled by 1e6: the largest magnitude a comparable number may have.
pub(crate) const MAX_SCALED: i64 = 5_000_000_000 * 1_000_000;

/// A leaf value of an event.
#[derive(Debug, Clone)]
pub(crate) enum Leaf<'a> {
    Str(Cow<'a, str>),
    Num(NumRef<'a>),
    True,
    False,
    Null,
}

/// A number of an event, kept as found; its comparable forms are computed on demand.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NumRef<'a> {
    /// JSON number text, already checked against the JSON grammar, with its scaled value
    /// (computed while scanning it).
    Scanned {
        text: &'a [u8],
        scaled: Option<i64>,
    },
    Json(&'a serde_json::Number),
}

impl NumRef<'_> {
    /// The value × 1e6 when it is within ±5e9 with at most six decimals.
    pub(crate) fn scaled(&self) -> Option<i64> {
        match self {
            NumRef::Scanned { scaled, .. } => *scaled,
            NumRef::Json(number) => {
                if let Some(i) = number.as_i64() {
                    return i.checked_mul(1_000_000).filter(|s| s.abs() <= MAX_SCALED);
                }
                if number.is_u64() {
                    return None;
                }
                parse_scaled(&number.to_string()).ok()
            }
        }
    }

    /// The key exact number matchers compare with.
    pub(crate) fn key(&self) -> NumKey {
        if let Some(scaled) = self.scaled() {
            return NumKey::Scaled(scaled);
        }
        match self {
            NumRef::Scanned { text, .. } => {
                raw_number_key(std::str::from_utf8(text).unwrap_or("NaN"))
            }
            NumRef::Json(number) => json_number_key(number),
        }
    }
}

/// How an exact number matcher and an event number are compared: by scaled value when both are
/// comparable, otherwise by the integer or `f64` the JSON text denotes (as serde_json reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum NumKey {
    Scaled(i64),
    Int(i128),
    Float(u64),
}

impl NumKey {
    pub(crate) fn of_json(number: &serde_json::Number) -> NumKey {
        NumRef::Json(number).key()
    }
}

fn json_number_key(number: &serde_json::Number) -> NumKey {
    if let Some(i) = number.as_i64() {
        NumKey::Int(i128::from(i))
    } else if let Some(u) = number.as_u64() {
        NumKey::Int(i128::from(u))
    } else {
        float_key(number.as_f64().unwrap_or(f64::NAN))
    }
}

fn raw_number_key(text: &str) -> NumKey {
    let integer_literal = !text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'));
    if integer_literal {
        if let Ok(i) = text.parse::<i64>() {
            return NumKey::Int(i128::from(i));
        }
        if let Ok(u) = text.parse::<u64>() {
            return NumKey::Int(i128::from(u));
        }
    }
    float_key(text.parse::<f64>().unwrap_or(f64::NAN))
}

fn float_key(f: f64) -> NumKey {
    // -0.0 is comparable (scaled 0) and never reaches here; keep the bits as they are.
    NumKey::Float(f.to_bits())
}

/// Why a number is not comparable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumError {
    Syntax,
    TooManyDecimals,
    OutOfRange,
}

impl NumError {
    pub(crate) fn message(self) -> &'static str {
        match self {
            NumError::Syntax => "value is not a number",
            NumError::TooManyDecimals => "Only values upto 6 decimals are supported",
            NumError::OutOfRange => "Value must be between -5.0E9 and 5.0E9, inclusive",
        }
    }
}

/// Parses JSON number text exactly into value × 1e6 (event-ruler's comparable form).
pub(crate) fn parse_scaled(text: &str) -> Result<i64, NumError> {
    let b = text.as_bytes();
    let mut i = 0;
    let negative = b.first() == Some(&b'-');
    if negative {
        i = 1;
    }
    // significant digits (without leading zeros), as an integer while it fits
    let mut mantissa: u64 = 0;
    let mut pending_zeros = 0i64; // zeros seen after the last non-zero digit, not yet multiplied in
    let mut overflow = false;
    let mut exponent: i64 = 0; // the value is mantissa × 10^exponent

    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        push_digit(b[i], &mut mantissa, &mut pending_zeros, &mut overflow);
        i += 1;
    }
    let int_digits = i - int_start;
    if int_digits == 0 || (int_digits > 1 && b[int_start] == b'0') {
        return Err(NumError::Syntax);
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            push_digit(b[i], &mut mantissa, &mut pending_zeros, &mut overflow);
            exponent -= 1;
            i += 1;
        }
        if i == frac_start {
            return Err(NumError::Syntax);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        let exp_negative = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let exp_start = i;
        let mut e: i64 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            e = e.saturating_mul(10).saturating_add(i64::from(b[i] - b'0'));
            i += 1;
        }
        if i == exp_start {
            return Err(NumError::Syntax);
        }
        exponent = exponent.saturating_add(if exp_negative { -e } else { e });
    }
    if i != b.len() {
        return Err(NumError::Syntax);
    }
    if mantissa == 0 && !overflow {
        return Ok(0);
    }
    // trailing zeros never flushed into the mantissa only raise the exponent
    exponent = exponent.saturating_add(pending_zeros);
    let shift = exponent.saturating_add(6);
    if shift < 0 {
        return Err(NumError::TooManyDecimals);
    }
    if overflow || shift > 16 {
        return Err(NumError::OutOfRange);
    }
    let scaled = u128::from(mantissa) * 10u128.pow(shift as u32);
    if scaled > MAX_SCALED as u128 {
        return Err(NumError::OutOfRange);
    }
    let scaled = scaled as i64;
    Ok(if negative { -scaled } else { scaled })
}

fn push_digit(digit: u8, mantissa: &mut u64, pending_zeros: &mut i64, overflow: &mut bool) {
    let d = u64::from(digit - b'0');
    if d == 0 {
        if *mantissa != 0 || *overflow {
            *pending_zeros += 1;
        }
        return;
    }
    if *overflow {
        // digits beyond 18 significant ones: the number is out of range or too precise either
        // way; keep counting positions so the exponent stays right
        *pending_zeros += 1;
        return;
    }
    let zeros = *pending_zeros;
    *pending_zeros = 0;
    let mut m = u128::from(*mantissa);
    for _ in 0..=zeros {
        m *= 10;
        if m > u128::from(u64::MAX / 100) {
            *overflow = true;
            // the mantissa keeps its old digits; the zeros and this digit become positions
            *pending_zeros = zeros + 1;
            return;
        }
    }
    *mantissa = (m + u128::from(d)) as u64;
}

/// An inclusive range of IP addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum IpRange {
    V4(u32, u32),
    V6(u128, u128),
}

impl IpRange {
    pub(crate) fn single(ip: IpAddr) -> IpRange {
        match ip {
            IpAddr::V4(v4) => {
                let a = u32::from(v4);
                IpRange::V4(a, a)
            }
            IpAddr::V6(v6) => {
                let a = u128::from(v6);
                IpRange::V6(a, a)
            }
        }
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (IpRange::V4(lo, hi), IpAddr::V4(v4)) => (*lo..=*hi).contains(&u32::from(v4)),
            (IpRange::V6(lo, hi), IpAddr::V6(v6)) => (*lo..=*hi).contains(&u128::from(v6)),
            _ => false,
        }
    }
}

/// Parses an IP address literal as event-ruler recognizes them (dotted quad or IPv6 text).
pub(crate) fn parse_ip(text: &str) -> Option<IpAddr> {
    let looks_like_ip = text
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
        && (text.contains(':') || text.bytes().filter(|&b| b == b'.').count() == 3);
    if !looks_like_ip {
        return None;
    }
    text.parse().ok()
}

/// Parses `address/bits` into the range of addresses it covers.
pub(crate) fn parse_cidr(text: &str) -> Result<IpRange, String> {
    let mut parts = text.split('/');
    let (Some(address), Some(bits), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("Malformed CIDR, one '/' required".into());
    };
    let bits: i64 = bits
        .parse()
        .map_err(|_| "Malformed CIDR, mask bits must be an integer".to_string())?;
    if bits < 0 {
        return Err("Malformed CIDR, mask bits must not be negative".into());
    }
    let ip = parse_ip(address).ok_or_else(|| format!("Invalid IP address: {address}"))?;
    match ip {
        IpAddr::V4(v4) => {
            if bits > 31 {
                return Err("IPv4 mask bits must be < 32".into());
            }
            let host_mask = u32::MAX >> bits;
            let a = u32::from(v4);
            Ok(IpRange::V4(a & !host_mask, a | host_mask))
        }
        IpAddr::V6(v6) => {
            if bits > 127 {
                return Err("IPv6 mask bits must be < 128".into());
            }
            let host_mask = u128::MAX >> bits;
            let a = u128::from(v6);
            Ok(IpRange::V6(a & !host_mask, a | host_mask))
        }
    }
}

/// Case folding for `equals-ignore-case`: each character maps to the lower case of its upper case
/// (when both are single characters), so `ß` stays `ß` and never equals `SS`.
pub(crate) fn fold(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        }
    } else {
        Cow::Owned(s.chars().map(fold_char).collect())
    }
}

fn fold_char(c: char) -> char {
    let mut upper = c.to_uppercase();
    let u = match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => c,
    };
    let mut lower = u.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => u,
    }
}

/// A wildcard pattern: literal segments separated by `*` (each matching any run of bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Glob {
    /// `segments.len() == stars + 1`; the first is an anchored prefix, the last an anchored suffix.
    segments: Vec<Box<[u8]>>,
}

impl Glob {
    /// Parses wildcard text: `*` is the wildcard, `\*` and `\\` are literal; `**` is refused.
    /// Error positions count the opening quote, as event-ruler's do.
    pub(crate) fn parse(text: &str) -> Result<Glob, String> {
        let b = text.as_bytes();
        let mut segments = Vec::new();
        let mut current = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'*' => {
                    if b.get(i + 1) == Some(&b'*') {
                        return Err(format!("Consecutive wildcard characters at pos {}", i + 1));
                    }
                    segments.push(std::mem::take(&mut current).into_boxed_slice());
                }
                b'\\' => match b.get(i + 1) {
                    Some(&next @ (b'*' | b'\\')) => {
                        current.push(next);
                        i += 1;
                    }
                    _ => return Err(format!("Invalid escape character at pos {}", i + 1)),
                },
                other => current.push(other),
            }
            i += 1;
        }
        segments.push(current.into_boxed_slice());
        Ok(Glob { segments })
    }

    pub(crate) fn first_segment(&self) -> &[u8] {
        self.segments.first().map_or(&[], |s| s)
    }

    pub(crate) fn last_segment(&self) -> &[u8] {
        self.segments.last().map_or(&[], |s| s)
    }

    pub(crate) fn matches(&self, value: &[u8]) -> bool {
        let n = self.segments.len();
        let (first, last) = (self.first_segment(), self.last_segment());
        if n == 1 {
            return value == first;
        }
        if value.len() < first.len() + last.len()
            || !value.starts_with(first)
            || !value.ends_with(last)
        {
            return false;
        }
        let mut start = first.len();
        let end = value.len() - last.len();
        for segment in &self.segments[1..n - 1] {
            match find(&value[start..end], segment) {
                Some(at) => start += at + segment.len(),
                None => return false,
            }
        }
        true
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    if needle.len() > haystack.len() {
        return None;
    }
    let first = needle[0];
    (0..=haystack.len() - needle.len())
        .find(|&i| haystack[i] == first && &haystack[i..i + needle.len()] == needle)
}

/// The value sets `anything-but` excludes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum AnythingBut {
    Strings(Vec<Box<str>>),
    /// Scaled numbers.
    Numbers(Vec<i64>),
    Prefixes(Vec<Box<str>>),
    Suffixes(Vec<Box<str>>),
    /// Folded strings.
    IgnoreCase(Vec<Box<str>>),
    Wildcards(Vec<Glob>),
}

impl AnythingBut {
    /// Whether the leaf is one of the excluded values.
    pub(crate) fn excludes(&self, leaf: &Leaf<'_>) -> bool {
        match (self, leaf) {
            (AnythingBut::Strings(set), Leaf::Str(s)) => set.iter().any(|x| **x == **s),
            (AnythingBut::Numbers(set), Leaf::Num(n)) => {
                n.scaled().is_some_and(|v| set.contains(&v))
            }
            (AnythingBut::Prefixes(set), Leaf::Str(s)) => set.iter().any(|p| s.starts_with(&**p)),
            (AnythingBut::Suffixes(set), Leaf::Str(s)) => set.iter().any(|p| s.ends_with(&**p)),
            (AnythingBut::IgnoreCase(set), Leaf::Str(s)) => {
                let folded = fold(s);
                set.iter().any(|x| **x == *folded)
            }
            (AnythingBut::Wildcards(globs), Leaf::Str(s)) => {
                globs.iter().any(|g| g.matches(s.as_bytes()))
            }
            _ => false,
        }
    }
}

/// One matcher of a condition's list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ValuePattern {
    Exact(Box<str>),
    Number(NumKey),
    True,
    False,
    Null,
    Prefix(Box<str>),
    Suffix(Box<str>),
    /// Folded text.
    EqualsIgnoreCase(Box<str>),
    /// Folded text.
    PrefixIgnoreCase(Box<str>),
    /// Folded text.
    SuffixIgnoreCase(Box<str>),
    Wildcard(Glob),
    /// Inclusive bounds on the scaled value.
    Numeric {
        low: i64,
        high: i64,
    },
    /// `cidr`, and exact strings that are IP addresses.
    Ip(IpRange),
    AnythingBut(AnythingBut),
    /// `{"exists": true}`: any leaf value. (`exists: false` is a flag of the condition.)
    Exists,
}

impl ValuePattern {
    pub(crate) fn matches(&self, leaf: &Leaf<'_>) -> bool {
        match (self, leaf) {
            (ValuePattern::Exact(x), Leaf::Str(s)) => **x == **s,
            (ValuePattern::Number(key), Leaf::Num(n)) => n.key() == *key,
            (ValuePattern::True, Leaf::True)
            | (ValuePattern::False, Leaf::False)
            | (ValuePattern::Null, Leaf::Null) => true,
            (ValuePattern::Prefix(p), Leaf::Str(s)) => s.starts_with(&**p),
            (ValuePattern::Suffix(p), Leaf::Str(s)) => s.ends_with(&**p),
            (ValuePattern::EqualsIgnoreCase(x), Leaf::Str(s)) => *fold(s) == **x,
            (ValuePattern::PrefixIgnoreCase(p), Leaf::Str(s)) => fold(s).starts_with(&**p),
            (ValuePattern::SuffixIgnoreCase(p), Leaf::Str(s)) => fold(s).ends_with(&**p),
            (ValuePattern::Wildcard(glob), Leaf::Str(s)) => glob.matches(s.as_bytes()),
            (ValuePattern::Numeric { low, high }, Leaf::Num(n)) => {
                n.scaled().is_some_and(|v| (*low..=*high).contains(&v))
            }
            (ValuePattern::Ip(range), Leaf::Str(s)) => {
                parse_ip(s).is_some_and(|ip| range.contains(ip))
            }
            (ValuePattern::AnythingBut(set), leaf) => !set.excludes(leaf),
            (ValuePattern::Exists, _) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_numbers_follow_comparable_number_rules() {
        assert_eq!(parse_scaled("5"), Ok(5_000_000));
        assert_eq!(parse_scaled("5.0"), Ok(5_000_000));
        assert_eq!(parse_scaled("5e0"), Ok(5_000_000));
        assert_eq!(parse_scaled("-0.1"), Ok(-100_000));
        assert_eq!(parse_scaled("4e-06"), Ok(4));
        assert_eq!(parse_scaled("0.0000000"), Ok(0));
        assert_eq!(parse_scaled("1.2300000000000"), Ok(1_230_000));
        assert_eq!(parse_scaled("5000000000"), Ok(MAX_SCALED));
        assert_eq!(parse_scaled("-5e9"), Ok(-MAX_SCALED));
        assert_eq!(parse_scaled("5000000000.000001"), Err(NumError::OutOfRange));
        assert_eq!(parse_scaled("1e-7"), Err(NumError::TooManyDecimals));
        assert_eq!(parse_scaled("37.807807921"), Err(NumError::TooManyDecimals));
        assert_eq!(
            parse_scaled("123456789012345678901234567890"),
            Err(NumError::OutOfRange)
        );
        assert_eq!(parse_scaled("1e999999999999"), Err(NumError::OutOfRange));
        assert_eq!(parse_scaled("100000000000000000000e-20"), Ok(1_000_000));
        for bad in ["", "-", "01", "1.", ".5", "1e", "1e+", "+1", "1x", "--1"] {
            assert_eq!(parse_scaled(bad), Err(NumError::Syntax), "{bad}");
        }
    }

    #[test]
    fn number_keys_agree_between_raw_text_and_serde_json() {
        for text in [
            "5",
            "5.0",
            "-0",
            "123456789012",
            "18446744073709551615",
            "1e20",
            "1.5e300",
            "27.807807921694092",
            "123456789012345678901234567890",
            "-9223372036854775808",
        ] {
            let json: serde_json::Value = serde_json::from_str(text).expect("number");
            let serde_json::Value::Number(number) = json else {
                panic!("not a number")
            };
            let raw = NumRef::Scanned {
                text: text.as_bytes(),
                scaled: parse_scaled(text).ok(),
            };
            assert_eq!(raw.key(), NumRef::Json(&number).key(), "{text}");
            assert_eq!(raw.scaled(), NumRef::Json(&number).scaled(), "{text}");
        }
    }

    #[test]
    fn cidr_ranges_are_masked() {
        assert_eq!(
            parse_cidr("10.0.0.0/24"),
            Ok(IpRange::V4(0x0a00_0000, 0x0a00_00ff))
        );
        assert_eq!(
            parse_cidr("220.160.153.171/31"),
            Ok(IpRange::V4(0xdca0_99aa, 0xdca0_99ab))
        );
        assert!(parse_cidr("10.0.0.0").is_err());
        assert!(parse_cidr("10.0.0.0/x").is_err());
        assert!(parse_cidr("10.0.0.0/32").is_err());
        assert!(parse_cidr("foo/8").is_err());
        assert!(matches!(parse_cidr("2001:db8::/32"), Ok(IpRange::V6(..))));
    }

    #[test]
    fn globs() {
        let g = |s: &str| Glob::parse(s).expect("glob");
        assert!(g("i-*def0").matches(b"i-1234567890abcdef0"));
        assert!(g("termin*ated").matches(b"terminated"));
        assert!(!g("term*").matches(b"xterminated"));
        assert!(g("*").matches(b""));
        assert!(g("a*a").matches(b"aa"));
        assert!(!g("a*a").matches(b"a"));
        assert!(g("*foo*").matches(b"foo"));
        assert!(g("a\\*b").matches(b"a*b"));
        assert!(!g("a\\*b").matches(b"axb"));
        assert_eq!(
            Glob::parse("x**"),
            Err("Consecutive wildcard characters at pos 2".to_string())
        );
        assert_eq!(
            Glob::parse("he\\llo"),
            Err("Invalid escape character at pos 3".to_string())
        );
    }

    #[test]
    fn folding_keeps_sharp_s() {
        assert_eq!(fold("STRASSE"), "strasse");
        assert_eq!(fold("Straße"), "straße");
        assert_eq!(fold("ÀB"), "àb");
    }
}
