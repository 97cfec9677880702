//! Whether a trail's bucket and topic let CloudTrail deliver, as CreateTrail and UpdateTrail
//! check: the bucket policy must allow `cloudtrail.amazonaws.com` `s3:GetBucketAcl` on the
//! bucket and `s3:PutObject` under `[prefix/]AWSLogs/<account>/`, the topic policy
//! `sns:Publish`, each for a request from this trail (`aws:SourceArn`, `aws:SourceAccount`,
//! and the `bucket-owner-full-control` ACL CloudTrail writes with; an organization trail also
//! under `[prefix/]AWSLogs/<organization id>/`). Otherwise
//! `InsufficientS3BucketPolicyException` / `InsufficientSnsTopicPolicyException`, as AWS
//! answers; a bucket with no policy at all lets CloudTrail do nothing.
//!
//! Only buckets of the embedded store are checked: an external S3-compatible service enforces
//! its own policies when delivery writes.

use opentrail_core::AppState;
use opentrail_core::delivery_target::DeliveryTarget;
use opentrail_policy::{
    ConditionContext, Policies, Policy, PolicyKind, Principal, PrincipalKind, Request, evaluate,
};

use crate::error::CloudTrailError;

const CLOUDTRAIL: &str = "cloudtrail.amazonaws.com";

/// What a trail delivers as: its ARN and account, where its files go.
pub struct TrailTarget<'a> {
    pub trail_arn: &'a str,
    pub account_id: &'a str,
    /// The organization an organization trail delivers for (its files go under
    /// `AWSLogs/<organization id>/` too).
    pub organization_id: Option<&'a str>,
    pub bucket: &'a str,
    pub prefix: Option<&'a str>,
}

/// Refuses a bucket whose policy does not let CloudTrail deliver this trail's files.
pub fn check_bucket_policy(
    state: &AppState,
    target: &TrailTarget<'_>,
) -> Result<(), CloudTrailError> {
    if !matches!(state.delivery, DeliveryTarget::Embedded) {
        return Ok(());
    }
    let insufficient = || CloudTrailError::InsufficientS3BucketPolicy(target.bucket.to_owned());
    let record = opentrail_s3::bucket(state, target.bucket)
        .map_err(|err| CloudTrailError::Internal(err.message))?
        .ok_or_else(insufficient)?;
    let policy = record
        .policy
        .as_deref()
        .and_then(|text| Policy::parse(text, PolicyKind::Resource).ok())
        .ok_or_else(insufficient)?;
    let prefix = target
        .prefix
        .map_or_else(String::new, |prefix| format!("{prefix}/"));
    let mut checks = vec![
        ("s3:GetBucketAcl", format!("arn:aws:s3:::{}", target.bucket)),
        (
            "s3:PutObject",
            format!(
                "arn:aws:s3:::{}/{prefix}AWSLogs/{}/CloudTrail/",
                target.bucket, target.account_id
            ),
        ),
    ];
    if let Some(organization) = target.organization_id {
        checks.push((
            "s3:PutObject",
            format!(
                "arn:aws:s3:::{}/{prefix}AWSLogs/{organization}/{}/CloudTrail/",
                target.bucket, target.account_id
            ),
        ));
    }
    let context = delivery_context(target).with("s3:x-amz-acl", "bucket-owner-full-control");
    for (action, resource) in &checks {
        if !cloudtrail_may(&policy, action, resource, &record.account_id, &context) {
            return Err(insufficient());
        }
    }
    Ok(())
}

/// Refuses a topic whose policy does not let CloudTrail publish this trail's notices.
pub fn check_topic_policy(
    topic_policy: Option<&str>,
    topic_arn: &str,
    topic_account: &str,
    target: &TrailTarget<'_>,
) -> Result<(), CloudTrailError> {
    let policy = topic_policy
        .and_then(|text| Policy::parse(text, PolicyKind::Resource).ok())
        .ok_or(CloudTrailError::InsufficientSnsTopicPolicy)?;
    let context = delivery_context(target);
    if cloudtrail_may(&policy, "sns:Publish", topic_arn, topic_account, &context) {
        Ok(())
    } else {
        Err(CloudTrailError::InsufficientSnsTopicPolicy)
    }
}

fn delivery_context(target: &TrailTarget<'_>) -> ConditionContext {
    ConditionContext::new()
        .with("aws:SourceArn", target.trail_arn)
        .with("aws:SourceAccount", target.account_id)
}

fn cloudtrail_may(
    policy: &Policy,
    action: &str,
    resource: &str,
    owner: &str,
    context: &ConditionContext,
) -> bool {
    let principal = Principal::new(CLOUDTRAIL, "", PrincipalKind::Service(CLOUDTRAIL));
    let request = Request {
        principal: &principal,
        action,
        resource,
        resource_account: Some(owner),
        context,
    };
    let policies = Policies {
        resource: Some(policy),
        ..Policies::default()
    };
    evaluate(&policies, &request).is_allowed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> TrailTarget<'static> {
        TrailTarget {
            trail_arn: "arn:aws:cloudtrail:us-east-1:111122223333:trail/main",
            account_id: "111122223333",
            organization_id: None,
            bucket: "logs",
            prefix: None,
        }
    }

    fn topic_policy(condition_account: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"cloudtrail.amazonaws.com"}},"Action":"SNS:Publish","Resource":"arn:aws:sns:us-east-1:111122223333:notices","Condition":{{"StringEquals":{{"aws:SourceAccount":"{condition_account}"}}}}}}]}}"#
        )
    }

    #[test]
    fn a_topic_policy_must_let_cloudtrail_publish_for_this_trail() {
        let arn = "arn:aws:sns:us-east-1:111122223333:notices";
        let allowed = topic_policy("111122223333");
        assert!(check_topic_policy(Some(&allowed), arn, "111122223333", &target()).is_ok());
        let other_account = topic_policy("444455556666");
        assert!(check_topic_policy(Some(&other_account), arn, "111122223333", &target()).is_err());
        assert!(check_topic_policy(None, arn, "111122223333", &target()).is_err());
    }
}
