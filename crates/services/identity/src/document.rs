//! Checks of policy documents before they are stored or used, with IAM's
//! `MalformedPolicyDocument` messages: the policy language's own parser
//! ([`opentrail_policy::Policy::parse`]) for the kind of document.

use opentrail_policy::{Policy, PolicyKind};

use crate::error::{IdentityError, Result};

/// What kind of document is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// Identity (managed and inline) policies and permissions boundaries.
    Identity,
    /// A role's trust policy.
    Trust,
    /// A session policy of AssumeRole (an identity policy in grammar).
    Session,
}

/// Refuses a document larger than `limit` characters without whitespace, as IAM counts them,
/// with IAM's `LimitExceeded` message (`Cannot exceed quota for PolicySize: 6144`).
pub fn check_size(document: &str, quota_name: &str, limit: usize) -> Result<()> {
    if opentrail_policy::size_without_whitespace(document) > limit {
        return Err(IdentityError::LimitExceeded(format!(
            "Cannot exceed quota for {quota_name}: {limit}"
        )));
    }
    Ok(())
}

/// Checks `document` as a policy of `kind`; returns it parsed.
pub fn check(document: &str, kind: DocumentKind) -> Result<Policy> {
    let kind = match kind {
        DocumentKind::Identity | DocumentKind::Session => PolicyKind::Identity,
        DocumentKind::Trust => PolicyKind::Trust,
    };
    Policy::parse(document, kind).map_err(|err| IdentityError::MalformedPolicyDocument(err.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}}"#;

    #[test]
    fn good_documents_pass() {
        assert!(check(GOOD, DocumentKind::Identity).is_ok());
        assert!(check(TRUST, DocumentKind::Trust).is_ok());
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
                r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
                DocumentKind::Identity,
                "Policy document must be version 2012-10-17 or greater.",
            ),
        ] {
            assert_eq!(
                check(doc, kind).map(|_| ()),
                Err(IdentityError::MalformedPolicyDocument(message.into())),
                "{doc}"
            );
        }
        for (doc, kind) in [
            (r#"{"Version":"2012-10-17"}"#, DocumentKind::Identity),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*"}}"#,
                DocumentKind::Identity,
            ),
            (GOOD, DocumentKind::Trust),
        ] {
            let err = check(doc, kind).expect_err(doc);
            assert_eq!(err.aws_code(), "MalformedPolicyDocument", "{doc}");
        }
    }
}
