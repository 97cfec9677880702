//! JSON patterns: `{ $.a.b = "x" && ($.n > 5 || $.c NOT EXISTS) }` (spec §4).
//!
//! Grammar: `expr := and ('||' and)*`, `and := unary ('&&' unary)*`,
//! `unary := '(' expr ')' | cond`, `cond := selector op literal | selector IS NULL|TRUE|FALSE |
//! selector NOT EXISTS`. Evaluation over a parsed [`Node`] tree:
//!
//! - a selector that reaches nothing makes every comparison false, `!=` included;
//!   only `NOT EXISTS` is true then;
//! - a selector that reaches an array or object makes `=` and `!=` false;
//! - strings compare with strings (whole value, `*` at either end, or `%regex%` search),
//!   numbers with numbers (IEEE doubles, so `400` equals `400.0`); `!=` is "present, scalar,
//!   and not `=`";
//! - a wildcard selector holds when any node it reaches satisfies the condition.

use std::collections::HashSet;

use crate::FilterError;
use crate::doc::{Interest, Node, Selector};
use crate::literal::{Cursor, Literal, Op};

/// At most this many wildcard selectors per pattern (spec §4).
const MAX_WILDCARD_SELECTORS: usize = 3;

/// Distinct plain selectors of a pattern resolved at most once per event; further ones (rare)
/// are resolved at each condition.
const MAX_SLOTS: usize = 16;

/// A plain selector's node in the event being matched, resolved on first use.
#[derive(Clone, Copy)]
enum Slot<'n> {
    Unresolved,
    Absent,
    Found(&'n Node<'n>),
}

#[derive(Clone, Debug)]
pub(crate) enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Cond(Cond),
    /// `($.s = A) || ($.s = B) || …` on one plain selector with exact strings: one lookup.
    OneOf {
        cond: Cond,
        values: HashSet<String>,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct Cond {
    pub(crate) selector: Selector,
    /// Where a plain (wildcard-free) selector's node is kept while matching one event:
    /// `$.eventName` in sixteen conditions is looked up once.
    slot: Option<usize>,
    test: Test,
}

#[derive(Clone, Debug)]
enum Test {
    Compare(Op, Literal),
    IsNull,
    IsTrue,
    IsFalse,
    NotExists,
}

/// A parsed JSON pattern.
#[derive(Clone, Debug)]
pub(crate) struct JsonPattern {
    expr: Expr,
    /// The parts of an event the pattern reads.
    pub(crate) interest: Interest,
    pub(crate) regexes: usize,
}

impl JsonPattern {
    /// Parses the text between the outer braces.
    pub(crate) fn parse(inner: &str) -> Result<JsonPattern, FilterError> {
        let mut cursor = Cursor::new(inner);
        let mut expr = or(&mut cursor)?;
        cursor.skip_ws();
        if !cursor.is_done() {
            return Err(FilterError::syntax(format!(
                "unexpected {:?} in the JSON pattern",
                cursor.rest()
            )));
        }
        assign_slots(&mut expr, &mut Vec::new());
        let mut conds = Vec::new();
        collect(&expr, &mut conds);
        let mut interest = Interest::default();
        let mut wildcard_selectors = 0;
        let mut regexes = 0;
        for cond in &conds {
            interest.add(&cond.selector.segments);
            match cond.selector.wildcards() {
                0 => {}
                1 => wildcard_selectors += 1,
                _ => return Err(FilterError::TooManyWildcards),
            }
            if matches!(&cond.test, Test::Compare(_, literal) if literal.is_regex()) {
                regexes += 1;
            }
        }
        if wildcard_selectors > MAX_WILDCARD_SELECTORS {
            return Err(FilterError::TooManyWildcards);
        }
        let expr = group_equalities(expr);
        Ok(JsonPattern {
            expr,
            interest,
            regexes,
        })
    }

    pub(crate) fn matches(&self, root: &Node<'_>) -> bool {
        let mut slots = [Slot::Unresolved; MAX_SLOTS];
        eval(&self.expr, root, &mut slots, &mut Vec::new())
    }
}

fn assign_slots(expr: &mut Expr, seen: &mut Vec<Selector>) {
    match expr {
        // Built after slots are assigned.
        Expr::OneOf { .. } => {}
        Expr::Or(parts) | Expr::And(parts) => {
            parts.iter_mut().for_each(|part| assign_slots(part, seen));
        }
        Expr::Cond(cond) => {
            if cond.selector.wildcards() > 0 {
                return;
            }
            cond.slot = match seen.iter().position(|known| *known == cond.selector) {
                Some(slot) => Some(slot),
                None if seen.len() < MAX_SLOTS => {
                    seen.push(cond.selector.clone());
                    Some(seen.len() - 1)
                }
                None => None,
            };
        }
    }
}

fn collect<'e>(expr: &'e Expr, out: &mut Vec<&'e Cond>) {
    match expr {
        Expr::Or(parts) | Expr::And(parts) => parts.iter().for_each(|part| collect(part, out)),
        Expr::Cond(cond) | Expr::OneOf { cond, .. } => out.push(cond),
    }
}

/// The exact string an `=` condition on a plain selector wants, if that is what it is.
fn exact_string(expr: &Expr) -> Option<(usize, &str)> {
    match expr {
        Expr::Cond(Cond {
            slot: Some(slot),
            test: Test::Compare(Op::Eq, Literal::Text(text)),
            ..
        }) => Some((*slot, text)),
        _ => None,
    }
}

/// Folds the exact-string alternatives of each `||` on one selector into a [`Expr::OneOf`]
/// (the CIS patterns are mostly long `$.eventName` alternations). Same answers, fewer compares.
fn group_equalities(expr: Expr) -> Expr {
    let parts = match expr {
        Expr::Or(parts) => parts,
        Expr::And(parts) => return Expr::And(parts.into_iter().map(group_equalities).collect()),
        other => return other,
    };
    let mut kept: Vec<Expr> = Vec::new();
    for part in parts.into_iter().map(group_equalities) {
        let Some((slot, text)) = exact_string(&part) else {
            kept.push(part);
            continue;
        };
        let text = text.to_owned();
        let group = kept.iter_mut().find(|existing| match existing {
            Expr::OneOf { cond, .. } => cond.slot == Some(slot),
            other => exact_string(other).is_some_and(|(known, _)| known == slot),
        });
        match group {
            Some(Expr::OneOf { values, .. }) => {
                values.insert(text);
            }
            Some(single) => {
                if let Expr::Cond(cond) = single {
                    let mut values = HashSet::new();
                    if let Test::Compare(_, Literal::Text(first)) = &cond.test {
                        values.insert(first.clone());
                    }
                    values.insert(text);
                    *single = Expr::OneOf {
                        cond: cond.clone(),
                        values,
                    };
                }
            }
            None => kept.push(part),
        }
    }
    if kept.len() == 1 {
        return kept.remove(0);
    }
    Expr::Or(kept)
}

fn or(cursor: &mut Cursor<'_>) -> Result<Expr, FilterError> {
    let mut parts = vec![and(cursor)?];
    while cursor.eat("||") {
        parts.push(and(cursor)?);
    }
    Ok(if parts.len() == 1 {
        parts.remove(0)
    } else {
        Expr::Or(parts)
    })
}

fn and(cursor: &mut Cursor<'_>) -> Result<Expr, FilterError> {
    let mut parts = vec![unary(cursor)?];
    while cursor.eat("&&") {
        parts.push(unary(cursor)?);
    }
    Ok(if parts.len() == 1 {
        parts.remove(0)
    } else {
        Expr::And(parts)
    })
}

fn unary(cursor: &mut Cursor<'_>) -> Result<Expr, FilterError> {
    if cursor.eat("(") {
        let inner = or(cursor)?;
        if !cursor.eat(")") {
            return Err(FilterError::syntax(format!(
                "missing ) at {:?} in the JSON pattern",
                cursor.rest()
            )));
        }
        return Ok(inner);
    }
    cond(cursor).map(Expr::Cond)
}

fn cond(cursor: &mut Cursor<'_>) -> Result<Cond, FilterError> {
    cursor.skip_ws();
    let (selector, used) = Selector::parse_prefix(cursor.rest())?;
    cursor.at += used;
    if let Some(op) = cursor.op() {
        let literal = cursor.literal(&[])?;
        literal.check_op(op)?;
        return Ok(Cond {
            selector,
            slot: None,
            test: Test::Compare(op, literal),
        });
    }
    let keyword = |cursor: &mut Cursor<'_>| {
        cursor.skip_ws();
        let start = cursor.at;
        while cursor.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            cursor.at += 1;
        }
        cursor.src[start..cursor.at].to_owned()
    };
    let test = match (keyword(cursor).as_str(), keyword(cursor).as_str()) {
        ("IS", "NULL") => Test::IsNull,
        ("IS", "TRUE") => Test::IsTrue,
        ("IS", "FALSE") => Test::IsFalse,
        ("NOT", "EXISTS") => Test::NotExists,
        (first, second) => {
            return Err(FilterError::syntax(format!(
                "expected an operator, IS NULL|TRUE|FALSE or NOT EXISTS after the selector, found {:?}",
                format!("{first} {second}").trim()
            )));
        }
    };
    Ok(Cond {
        selector,
        slot: None,
        test,
    })
}

fn eval<'n>(
    expr: &Expr,
    root: &'n Node<'n>,
    slots: &mut [Slot<'n>; MAX_SLOTS],
    scratch: &mut Vec<&'n Node<'n>>,
) -> bool {
    match expr {
        Expr::Or(parts) => parts.iter().any(|part| eval(part, root, slots, scratch)),
        Expr::And(parts) => parts.iter().all(|part| eval(part, root, slots, scratch)),
        Expr::OneOf { cond, values } => {
            matches!(plain(cond, root, slots), Some(Node::String(text)) if values.contains(text.as_ref()))
        }
        Expr::Cond(cond) => {
            let not_exists = matches!(cond.test, Test::NotExists);
            if cond.slot.is_some() {
                return match plain(cond, root, slots) {
                    None => not_exists,
                    Some(node) => !not_exists && test(&cond.test, node),
                };
            }
            scratch.clear();
            cond.selector.resolve(root, scratch);
            if not_exists {
                return scratch.is_empty();
            }
            scratch.iter().any(|node| test(&cond.test, node))
        }
    }
}

/// The node of a condition with a plain selector, looked up once per event.
fn plain<'n>(
    cond: &Cond,
    root: &'n Node<'n>,
    slots: &mut [Slot<'n>; MAX_SLOTS],
) -> Option<&'n Node<'n>> {
    let slot = cond.slot?;
    match slots[slot] {
        Slot::Found(node) => Some(node),
        Slot::Absent => None,
        Slot::Unresolved => {
            let found = cond.selector.resolve_plain(root);
            slots[slot] = found.map_or(Slot::Absent, Slot::Found);
            found
        }
    }
}

fn test(test: &Test, node: &Node<'_>) -> bool {
    match test {
        Test::IsNull => matches!(node, Node::Null),
        Test::IsTrue => matches!(node, Node::Bool(true)),
        Test::IsFalse => matches!(node, Node::Bool(false)),
        Test::NotExists => false,
        Test::Compare(op, literal) => compare(*op, literal, node),
    }
}

fn compare(op: Op, literal: &Literal, node: &Node<'_>) -> bool {
    if matches!(node, Node::Array(_) | Node::Object(_)) {
        return false;
    }
    let equal = match (literal, node) {
        (Literal::Any, _) => true,
        (Literal::Number { value, .. }, Node::Number(number)) => {
            return op.compare(number.as_f64(), *value);
        }
        (Literal::Number { .. }, _) => false,
        (_, Node::String(text)) => literal.matches_text(text),
        _ => false,
    };
    match op {
        Op::Eq => equal,
        // `!= *` can never hold for a present value.
        Op::Ne => !equal && !matches!(literal, Literal::Any),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, message: &str) -> bool {
        let pattern =
            JsonPattern::parse(pattern).unwrap_or_else(|error| panic!("{pattern}: {error:?}"));
        pattern
            .interest
            .parse(message)
            .is_some_and(|root| pattern.matches(&root))
    }

    #[test]
    fn absent_fields_fail_every_comparison() {
        assert!(!matches("$.a != 1", r#"{"b":1}"#));
        assert!(!matches("$.a != \"x\"", r#"{"b":1}"#));
        assert!(matches("$.a NOT EXISTS", r#"{"b":1}"#));
        assert!(!matches("$.a NOT EXISTS", r#"{"a":null}"#));
        assert!(matches("$.a IS NULL", r#"{"a":null}"#));
        assert!(!matches("$.a IS TRUE", r#"{"a":"true"}"#));
    }

    #[test]
    fn containers_fail_equality_and_inequality() {
        assert!(!matches("$.users = 1", r#"{"users":[1,2]}"#));
        assert!(!matches("$.users != 1", r#"{"users":[1,2]}"#));
        assert!(!matches("$.u != \"x\"", r#"{"u":{"a":1}}"#));
    }

    #[test]
    fn numbers_and_strings_do_not_mix() {
        assert!(matches("$.n = 400", r#"{"n":400.0}"#));
        assert!(!matches("$.n = \"400\"", r#"{"n":400}"#));
        assert!(!matches("$.n > 5", r#"{"n":"600"}"#));
        assert!(matches("$.n >= -1.5e0", r#"{"n":-1.5}"#));
    }

    #[test]
    fn precedence_and_parentheses() {
        let message = r#"{"a":1,"b":2,"c":3}"#;
        assert!(matches("$.a = 1 || $.b = 9 && $.c = 9", message));
        assert!(!matches("($.a = 1 || $.b = 9) && $.c = 9", message));
        assert!(matches("$.a=1&&$.b=2", message));
    }

    #[test]
    fn grouped_alternatives_answer_like_the_conditions() {
        let pattern = "$.a = x || $.a = y || $.b = z || $.a = \"w*\" || ($.a = q && $.c = 1)";
        let parsed = JsonPattern::parse(pattern).expect("pattern");
        assert!(matches!(&parsed.expr, Expr::Or(parts) if parts.len() == 4));
        for (message, expected) in [
            (r#"{"a":"x"}"#, true),
            (r#"{"a":"y"}"#, true),
            (r#"{"a":"z"}"#, false),
            (r#"{"b":"z"}"#, true),
            (r#"{"a":"wow"}"#, true),
            (r#"{"a":"q"}"#, false),
            (r#"{"a":"q","c":1}"#, true),
            (r#"{"a":["x"]}"#, false),
            (r#"{"a":1}"#, false),
        ] {
            assert_eq!(matches(pattern, message), expected, "{message}");
        }
    }

    #[test]
    fn rejects_bad_patterns() {
        for bad in [
            "",
            "$.a",
            "$.a == 1",
            "$.a = ",
            "($.a = 1",
            "$.a = 1)",
            "$.a IS NOT NULL",
            "$.a EXISTS",
            "$.a is null",
            "$.a > abc",
            "$.a[*].b[*] = 1",
            "$.a[*] = 1 || $.b[*] = 1 || $.c[*] = 1 || $.d[*] = 1",
            "a = 1",
        ] {
            assert!(JsonPattern::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
