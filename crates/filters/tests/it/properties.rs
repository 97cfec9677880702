//! Properties of the language that hold for any input.

use opentrail_filters::{FilterPattern, FilterSet};
use proptest::prelude::*;

fn parse(pattern: &str) -> FilterPattern {
    FilterPattern::parse(pattern).unwrap_or_else(|error| panic!("{pattern}: {error:?}"))
}

/// Messages over a small alphabet, so terms actually occur in them.
fn message() -> impl Strategy<Value = String> {
    "[abc XY_1\"{}:,\\[\\]]{0,24}"
}

fn term() -> impl Strategy<Value = String> {
    "[abcXY_1]{1,3}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_empty_pattern_matches_everything(message in any::<String>(), spaces in " {0,3}") {
        prop_assert!(parse(&spaces).matches(&message));
        prop_assert!(parse("[]").matches(&message));
    }

    #[test]
    fn parse_and_match_never_panic(pattern in any::<String>(), message in any::<String>()) {
        if let Ok(parsed) = FilterPattern::parse(&pattern) {
            let matched = parsed.matches(&message);
            prop_assert_eq!(parsed.extract(&message).is_some(), matched);
        }
    }

    #[test]
    fn structured_patterns_never_panic(
        body in "[$.a-c\\[\\]0-9*=!<>&|() \"%,]{0,30}",
        message in "[{}\\[\\]\"a-c0-9:,. ]{0,30}",
    ) {
        for pattern in [format!("{{{body}}}"), format!("[{body}]"), format!("%{body}%")] {
            if let Ok(parsed) = FilterPattern::parse(&pattern) {
                let _ = parsed.matches(&message);
            }
        }
    }

    #[test]
    fn a_term_is_a_substring(word in term(), message in message()) {
        prop_assert_eq!(parse(&word).matches(&message), message.contains(&word));
        let quoted = format!("\"{word}\"");
        prop_assert_eq!(parse(&quoted).matches(&message), message.contains(&word));
        let regex = format!("%{word}%");
        prop_assert_eq!(parse(&regex).matches(&message), message.contains(&word));
    }

    #[test]
    fn exclusion_is_the_complement_within_and(a in term(), b in term(), message in message()) {
        let with_b = parse(&format!("{a} {b}")).matches(&message);
        let without_b = parse(&format!("{a} -{b}")).matches(&message);
        prop_assert_eq!(without_b, message.contains(&a) && !message.contains(&b));
        // Every event with `a` matches exactly one of `a b` and `a -b`.
        prop_assert_eq!(with_b || without_b, message.contains(&a));
        prop_assert!(!(with_b && without_b));
    }

    #[test]
    fn optional_terms_are_an_or(a in term(), b in term(), message in message()) {
        let either = parse(&format!("?{a} ?{b}")).matches(&message);
        prop_assert_eq!(either, message.contains(&a) || message.contains(&b));
    }

    #[test]
    fn json_equality_and_inequality_split_present_strings(
        value in "[a-c]{0,4}",
        literal in "[a-c]{1,4}",
    ) {
        let message = serde_json::json!({ "k": value }).to_string();
        let equal = parse(&format!("{{ $.k = \"{literal}\" }}")).matches(&message);
        let unequal = parse(&format!("{{ $.k != \"{literal}\" }}")).matches(&message);
        prop_assert_eq!(equal, value == literal);
        prop_assert_eq!(unequal, value != literal);
        // An absent field satisfies neither.
        let absent_equal = parse(&format!("{{ $.other = \"{literal}\" }}")).matches(&message);
        let absent_unequal = parse(&format!("{{ $.other != \"{literal}\" }}")).matches(&message);
        prop_assert!(!absent_equal && !absent_unequal);
    }

    #[test]
    fn numeric_comparisons_agree_with_f64(left in -1000i32..1000, right in -1000i32..1000) {
        let message = format!("{{\"n\":{left}}}");
        for (op, expected) in [
            ("=", left == right),
            ("!=", left != right),
            ("<", left < right),
            ("<=", left <= right),
            (">", left > right),
            (">=", left >= right),
        ] {
            let pattern = format!("{{ $.n {op} {right} }}");
            prop_assert_eq!(parse(&pattern).matches(&message), expected, "{}", pattern);
        }
    }

    #[test]
    fn a_set_agrees_with_its_patterns(
        a in "[a-c]{1,2}", b in "[a-c]{1,2}", n in 0i32..10,
        value in "[a-c]{1,2}", number in 0i32..10, nested in proptest::bool::ANY,
    ) {
        let patterns = vec![
            parse(&format!("{{ $.a = \"{a}\" }}")),
            parse(&format!("{{ $.x.y = {n} || $.b != {b} }}")),
            parse(&format!("{{ $.list[*] = {a} && $.x.y NOT EXISTS }}")),
            parse(&format!("{a} -{b}")),
        ];
        let message = if nested {
            format!(r#"{{"a":"{value}","x":{{"y":{number}}},"list":["{value}"]}}"#)
        } else {
            format!(r#"{{"b":"{value}","list":["{value}","{a}"]}}"#)
        };
        let set = FilterSet::new(patterns.clone());
        let mut out = Vec::new();
        set.matching(&message, &mut out);
        let alone: Vec<usize> = patterns
            .iter()
            .enumerate()
            .filter(|(_, pattern)| pattern.matches(&message))
            .map(|(index, _)| index)
            .collect();
        prop_assert_eq!(out, alone);
    }
}
