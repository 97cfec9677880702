//! [`Arn`]: an Amazon Resource Name split into its parts, borrowed from the text.
//!
//! `arn:partition:service:region:account-id:resource`, where the resource may itself hold
//! colons (`log-group:NAME:*`, `rule/BUS/NAME`) and region and account may be empty (S3
//! buckets, IAM). Parsing checks the shape only: six colon-separated parts, the first `arn`,
//! partition and service not empty. What a service accepts beyond that (its resource type,
//! a 12-digit account) is the service's check.

use std::fmt;

/// The parts of an ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    /// Everything after the fifth colon (`log-group:NAME:*`, `trail/NAME`, `topic-name`).
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits `text`, or `None` when it is not shaped like an ARN.
    pub fn parse(text: &'a str) -> Option<Arn<'a>> {
        let mut parts = text.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some(service),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return None;
        };
        if partition.is_empty() || service.is_empty() {
            return None;
        }
        Some(Arn {
            partition,
            service,
            region,
            account,
            resource,
        })
    }

    /// Splits `text` when it is an ARN of `service`.
    pub fn of_service(text: &'a str, service: &str) -> Option<Arn<'a>> {
        Arn::parse(text).filter(|arn| arn.service == service)
    }
}

impl fmt::Display for Arn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_common_arns() {
        let rule = Arn::parse("arn:aws:events:us-east-1:123456789012:rule/bus/name").expect("rule");
        assert_eq!(
            (rule.partition, rule.service, rule.region, rule.account),
            ("aws", "events", "us-east-1", "123456789012")
        );
        let group =
            Arn::parse("arn:aws:logs:eu-west-1:123456789012:log-group:/a/b:*").expect("group");
        assert_eq!(group.resource, "log-group:/a/b:*");
        let bucket = Arn::parse("arn:aws-cn:s3:::bucket").expect("bucket");
        assert_eq!(
            (bucket.region, bucket.account, bucket.resource),
            ("", "", "bucket")
        );
        let topic = Arn::of_service("arn:aws:sns:us-east-1:123456789012:t", "sns").expect("topic");
        assert_eq!(topic.to_string(), "arn:aws:sns:us-east-1:123456789012:t");
        assert_eq!(
            Arn::of_service("arn:aws:sns:us-east-1:123456789012:t", "sqs"),
            None
        );
    }

    #[test]
    fn what_is_not_an_arn() {
        for text in [
            "",
            "arn",
            "arn:aws:sns:us-east-1:123456789012",
            "urn:aws:sns:us-east-1:123456789012:t",
            "arn::sns:us-east-1:123456789012:t",
            "arn:aws::us-east-1:123456789012:t",
        ] {
            assert_eq!(Arn::parse(text), None, "{text:?}");
        }
    }
}
