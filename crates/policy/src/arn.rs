//! ARN patterns, as `Resource`, `NotResource` and the `Arn*` condition operators match them:
//! case-sensitive, each of the six colon-separated parts (`arn`, partition, service, region,
//! account, resource) matched separately, so a `*` in the region never eats the account; the
//! resource part keeps its own colons. A pattern with fewer than six parts (`*`,
//! `arn:aws:s3:*`) is matched against the whole ARN.

use crate::context::Scope;
use crate::glob::{Glob, Tok};
use crate::template::Template;

/// A compiled ARN pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArnGlob {
    whole: Glob,
    /// The six parts, when the pattern has them.
    parts: Option<Vec<Glob>>,
}

impl ArnGlob {
    pub(crate) fn new(glob: Glob) -> ArnGlob {
        let toks = glob.toks();
        let mut parts = Vec::with_capacity(6);
        let mut start = 0;
        for (i, tok) in toks.iter().enumerate() {
            if parts.len() == 5 {
                break;
            }
            if *tok == Tok::Byte(b':') {
                parts.push(Glob::from_toks(toks[start..i].to_vec()));
                start = i + 1;
            }
        }
        let parts = (parts.len() == 5).then(|| {
            parts.push(Glob::from_toks(toks[start..].to_vec()));
            parts
        });
        ArnGlob { whole: glob, parts }
    }

    pub(crate) fn matches(&self, arn: &str) -> bool {
        if self.whole.is_any() {
            return true;
        }
        let Some(parts) = &self.parts else {
            return self.whole.matches(arn);
        };
        let mut text = arn.splitn(6, ':');
        let mut count = 0;
        for part in parts {
            match text.next() {
                Some(segment) if part.matches(segment) => count += 1,
                _ => return false,
            }
        }
        count == 6
    }
}

/// A `Resource` entry or an `Arn*` condition value: fixed, or with policy variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArnPattern {
    Fixed(ArnGlob),
    Variable(Template),
}

impl ArnPattern {
    pub(crate) fn new(text: &str, variables: bool) -> ArnPattern {
        match variables.then(|| Template::parse(text)).flatten() {
            Some(template) => ArnPattern::Variable(template),
            None => ArnPattern::Fixed(ArnGlob::new(Glob::new(text))),
        }
    }

    pub(crate) fn matches(&self, arn: &str, scope: &Scope<'_>) -> bool {
        match self {
            ArnPattern::Fixed(glob) => glob.matches(arn),
            ArnPattern::Variable(template) => template
                .render_glob(scope)
                .is_some_and(|glob| ArnGlob::new(glob).matches(arn)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, arn: &str) -> bool {
        ArnGlob::new(Glob::new(pattern)).matches(arn)
    }

    #[test]
    fn segments() {
        assert!(m("*", "arn:aws:s3:::b"));
        assert!(m("arn:aws:s3:::b/*", "arn:aws:s3:::b/k/x:y"));
        assert!(!m("arn:aws:s3:::b/*", "arn:aws:s3:::c/k"));
        assert!(m(
            "arn:aws:iam::*:user/*",
            "arn:aws:iam::123456789012:user/a"
        ));
        assert!(!m(
            "arn:aws:iam::*:user/*",
            "arn:aws:iam::123456789012:role/a"
        ));
        // a region wildcard does not reach into the account
        assert!(!m(
            "arn:aws:sqs:*:111122223333:*",
            "arn:aws:sqs:us-east-1:444455556666:111122223333"
        ));
        assert!(m("arn:aws:sqs:*", "arn:aws:sqs:us-east-1:1:q"));
        assert!(m(
            "arn:aws:dynamodb:us-east-?:*:table/T",
            "arn:aws:dynamodb:us-east-2:1:table/T"
        ));
        assert!(!m("arn:aws:s3:::B", "arn:aws:s3:::b"));
    }
}
