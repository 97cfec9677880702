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

use crate::FilterError;
use crate::doc::{Interest, Node, Selector};
use crate::literal::{Cursor, Literal, Op};

/// At most this many wildcard selectors per pattern (spec §4).
const MAX_WILDCARD_SELECTORS: usize = 3;

#[derive(Clone, Debug)]
pub(crate) enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Cond(Cond),
}

#[derive(Clone, Debug)]
pub(crate) struct Cond {
    pub(crate) selector: Selector,
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
        let expr = or(&mut cursor)?;
        cursor.skip_ws();
        if !cursor.is_done() {
            return Err(FilterError::syntax(format!(
                "unexpected {:?} in the JSON pattern",
                cursor.rest()
            )));
        }
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
        Ok(JsonPattern {
            expr,
            interest,
            regexes,
        })
    }

    pub(crate) fn matches(&self, root: &Node<'_>) -> bool {
        eval(&self.expr, root, &mut Vec::new())
    }
}

fn collect<'e>(expr: &'e Expr, out: &mut Vec<&'e Cond>) {
    match expr {
        Expr::Or(parts) | Expr::And(parts) => parts.iter().for_each(|part| collect(part, out)),
        Expr::Cond(cond) => out.push(cond),
    }
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
    Ok(Cond { selector, test })
}

fn eval<'n>(expr: &Expr, root: &'n Node<'n>, scratch: &mut Vec<&'n Node<'n>>) -> bool {
    match expr {
        Expr::Or(parts) => parts.iter().any(|part| eval(part, root, scratch)),
        Expr::And(parts) => parts.iter().all(|part| eval(part, root, scratch)),
        Expr::Cond(cond) => {
            scratch.clear();
            cond.selector.resolve(root, scratch);
            if matches!(cond.test, Test::NotExists) {
                return scratch.is_empty();
            }
            scratch.iter().any(|node| test(&cond.test, node))
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
