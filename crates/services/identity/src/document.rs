//! Checks of policy documents before they are stored: the JSON parses, has a supported
//! `Version`, and every statement has an `Effect` of `Allow` or `Deny`, an action
//! (`Action` or `NotAction`) and — in identity policies — a resource (`Resource` or
//! `NotResource`), in trust policies a principal. The messages are IAM's.
//!
//! Full policy grammar and evaluation belong to the policy evaluator; until it is merged this
//! is the structural check IAM makes first.

use serde_json::Value;

use crate::error::{IdentityError, Result};

/// What kind of document is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// Identity (managed and inline) policies and permissions boundaries.
    Identity,
    /// A role's trust policy.
    Trust,
    /// A session policy of AssumeRole (only parsed: STS checks it at evaluation).
    Session,
}

fn malformed(message: &str) -> IdentityError {
    IdentityError::MalformedPolicyDocument(message.to_owned())
}

/// Checks `document` as a policy of `kind`.
pub fn check(document: &str, kind: DocumentKind) -> Result<()> {
    let Ok(value) = serde_json::from_str::<Value>(document) else {
        return Err(malformed("Syntax errors in policy."));
    };
    let Some(object) = value.as_object() else {
        return Err(malformed("Syntax errors in policy."));
    };
    if kind == DocumentKind::Session {
        return Ok(());
    }
    // Identity policies must say 2012-10-17; trust policies may still say 2008-10-17.
    let version = object.get("Version").and_then(Value::as_str);
    let supported = match kind {
        DocumentKind::Identity => version == Some("2012-10-17"),
        _ => matches!(version, None | Some("2008-10-17" | "2012-10-17")),
    };
    if !supported && object.contains_key("Statement") {
        return Err(malformed(
            "Policy document must be version 2012-10-17 or greater.",
        ));
    }
    for key in object.keys() {
        if !matches!(key.as_str(), "Version" | "Statement" | "Id") {
            return Err(malformed("Syntax errors in policy."));
        }
    }
    let statements = match object.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect::<Vec<_>>(),
        Some(item @ Value::Object(_)) => vec![item],
        _ => return Err(malformed("Syntax errors in policy.")),
    };
    if statements.is_empty() {
        return Err(malformed("Syntax errors in policy."));
    }
    for statement in statements {
        check_statement(statement, kind)?;
    }
    Ok(())
}

fn check_statement(statement: &Value, kind: DocumentKind) -> Result<()> {
    let Some(statement) = statement.as_object() else {
        return Err(malformed("Syntax errors in policy."));
    };
    for key in statement.keys() {
        if !matches!(
            key.as_str(),
            "Sid"
                | "Effect"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Principal"
                | "NotPrincipal"
                | "Condition"
        ) {
            return Err(malformed("Syntax errors in policy."));
        }
    }
    match statement.get("Effect").and_then(Value::as_str) {
        Some("Allow" | "Deny") => {}
        Some(_) => {
            return Err(malformed(
                "Policy statement must contain a valid Effect (Allow or Deny).",
            ));
        }
        None => return Err(malformed("Policy statement must contain an effect.")),
    }
    if statement.contains_key("Action") && statement.contains_key("NotAction") {
        return Err(malformed(
            "Policy statement must contain Action or NotAction, not both.",
        ));
    }
    if !statement.contains_key("Action") && !statement.contains_key("NotAction") {
        return Err(malformed("Policy statement must contain actions."));
    }
    for member in ["Action", "NotAction"] {
        if let Some(actions) = statement.get(member) {
            check_actions(actions)?;
        }
    }
    match kind {
        DocumentKind::Identity => {
            if statement.contains_key("Principal") || statement.contains_key("NotPrincipal") {
                return Err(malformed("Policy document should not specify a principal."));
            }
            if !statement.contains_key("Resource") && !statement.contains_key("NotResource") {
                return Err(malformed("Policy statement must contain resources."));
            }
        }
        DocumentKind::Trust => {
            if !statement.contains_key("Principal") && !statement.contains_key("NotPrincipal") {
                return Err(malformed("Policy statement must contain a principal."));
            }
            if statement.contains_key("Resource") || statement.contains_key("NotResource") {
                return Err(malformed("Has prohibited field Resource."));
            }
        }
        DocumentKind::Session => {}
    }
    Ok(())
}

fn check_actions(actions: &Value) -> Result<()> {
    let items: Vec<&Value> = match actions {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    for item in items {
        let Some(action) = item.as_str() else {
            return Err(malformed("Syntax errors in policy."));
        };
        if action != "*" && !action.contains(':') {
            return Err(malformed(
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}}"#;

    #[test]
    fn good_documents_pass() {
        assert_eq!(check(GOOD, DocumentKind::Identity), Ok(()));
        assert_eq!(check(TRUST, DocumentKind::Trust), Ok(()));
    }

    #[test]
    fn malformed_documents_get_iam_messages() {
        for (doc, kind, message) in [
            (
                "not json",
                DocumentKind::Identity,
                "Syntax errors in policy.",
            ),
            (
                r#"{"Version":"2012-10-17"}"#,
                DocumentKind::Identity,
                "Syntax errors in policy.",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"*"}}"#,
                DocumentKind::Identity,
                "Policy statement must contain actions.",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*"}}"#,
                DocumentKind::Identity,
                "Policy statement must contain resources.",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Maybe","Action":"s3:*","Resource":"*"}}"#,
                DocumentKind::Identity,
                "Policy statement must contain a valid Effect (Allow or Deny).",
            ),
            (
                r#"{"Version":"2010-01-01","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
                DocumentKind::Identity,
                "Policy document must be version 2012-10-17 or greater.",
            ),
            (
                GOOD,
                DocumentKind::Trust,
                "Policy statement must contain a principal.",
            ),
        ] {
            assert_eq!(
                check(doc, kind),
                Err(IdentityError::MalformedPolicyDocument(message.into())),
                "{doc}"
            );
        }
    }
}
