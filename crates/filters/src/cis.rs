//! The CIS / Security Hub CloudWatch.1–14 metric-filter patterns, verbatim.
//!
//! Security Hub fails a control unless the log group holds a metric filter with exactly this
//! text (`shared/spec/cloudtrail-formats.md` §8). Shared by tests and benchmarks.

/// (control, what it watches, pattern) for CloudWatch.1 to CloudWatch.14.
pub const CLOUDWATCH_CONTROLS: [(&str, &str, &str); 14] = [
    (
        "CloudWatch.1",
        "root user usage",
        r#"{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType !="AwsServiceEvent"}"#,
    ),
    (
        "CloudWatch.2",
        "unauthorized API calls",
        r#"{($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*")}"#,
    ),
    (
        "CloudWatch.3",
        "console sign-in without MFA",
        r#"{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && ($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }"#,
    ),
    (
        "CloudWatch.4",
        "IAM policy changes",
        "{($.eventName=DeleteGroupPolicy) || ($.eventName=DeleteRolePolicy) || ($.eventName=DeleteUserPolicy) || ($.eventName=PutGroupPolicy) || ($.eventName=PutRolePolicy) || ($.eventName=PutUserPolicy) || ($.eventName=CreatePolicy) || ($.eventName=DeletePolicy) || ($.eventName=CreatePolicyVersion) || ($.eventName=DeletePolicyVersion) || ($.eventName=AttachRolePolicy) || ($.eventName=DetachRolePolicy) || ($.eventName=AttachUserPolicy) || ($.eventName=DetachUserPolicy) || ($.eventName=AttachGroupPolicy) || ($.eventName=DetachGroupPolicy)}",
    ),
    (
        "CloudWatch.5",
        "CloudTrail configuration changes",
        "{($.eventName=CreateTrail) || ($.eventName=UpdateTrail) || ($.eventName=DeleteTrail) || ($.eventName=StartLogging) || ($.eventName=StopLogging)}",
    ),
    (
        "CloudWatch.6",
        "console authentication failures",
        r#"{($.eventName=ConsoleLogin) && ($.errorMessage="Failed authentication")}"#,
    ),
    (
        "CloudWatch.7",
        "disabling or scheduled deletion of customer managed keys",
        "{($.eventSource=kms.amazonaws.com) && (($.eventName=DisableKey) || ($.eventName=ScheduleKeyDeletion))}",
    ),
    (
        "CloudWatch.8",
        "S3 bucket policy changes",
        "{($.eventSource=s3.amazonaws.com) && (($.eventName=PutBucketAcl) || ($.eventName=PutBucketPolicy) || ($.eventName=PutBucketCors) || ($.eventName=PutBucketLifecycle) || ($.eventName=PutBucketReplication) || ($.eventName=DeleteBucketPolicy) || ($.eventName=DeleteBucketCors) || ($.eventName=DeleteBucketLifecycle) || ($.eventName=DeleteBucketReplication))}",
    ),
    (
        "CloudWatch.9",
        "AWS Config configuration changes",
        "{($.eventSource=config.amazonaws.com) && (($.eventName=StopConfigurationRecorder) || ($.eventName=DeleteDeliveryChannel) || ($.eventName=PutDeliveryChannel) || ($.eventName=PutConfigurationRecorder))}",
    ),
    (
        "CloudWatch.10",
        "security group changes",
        "{($.eventName=AuthorizeSecurityGroupIngress) || ($.eventName=AuthorizeSecurityGroupEgress) || ($.eventName=RevokeSecurityGroupIngress) || ($.eventName=RevokeSecurityGroupEgress) || ($.eventName=CreateSecurityGroup) || ($.eventName=DeleteSecurityGroup)}",
    ),
    (
        "CloudWatch.11",
        "network ACL changes",
        "{($.eventName=CreateNetworkAcl) || ($.eventName=CreateNetworkAclEntry) || ($.eventName=DeleteNetworkAcl) || ($.eventName=DeleteNetworkAclEntry) || ($.eventName=ReplaceNetworkAclEntry) || ($.eventName=ReplaceNetworkAclAssociation)}",
    ),
    (
        "CloudWatch.12",
        "network gateway changes",
        "{($.eventName=CreateCustomerGateway) || ($.eventName=DeleteCustomerGateway) || ($.eventName=AttachInternetGateway) || ($.eventName=CreateInternetGateway) || ($.eventName=DeleteInternetGateway) || ($.eventName=DetachInternetGateway)}",
    ),
    (
        "CloudWatch.13",
        "route table changes",
        "{($.eventName=CreateRoute) || ($.eventName=CreateRouteTable) || ($.eventName=ReplaceRoute) || ($.eventName=ReplaceRouteTableAssociation) || ($.eventName=DeleteRouteTable) || ($.eventName=DeleteRoute) || ($.eventName=DisassociateRouteTable)}",
    ),
    (
        "CloudWatch.14",
        "VPC changes",
        "{($.eventName=CreateVpc) || ($.eventName=DeleteVpc) || ($.eventName=ModifyVpcAttribute) || ($.eventName=AcceptVpcPeeringConnection) || ($.eventName=CreateVpcPeeringConnection) || ($.eventName=DeleteVpcPeeringConnection) || ($.eventName=RejectVpcPeeringConnection) || ($.eventName=AttachClassicLinkVpc) || ($.eventName=DetachClassicLinkVpc) || ($.eventName=DisableVpcClassicLink) || ($.eventName=EnableVpcClassicLink)}",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FilterPattern;

    #[test]
    fn every_control_parses_and_fires_on_its_event() {
        let fires = [
            r#"{"userIdentity":{"type":"Root"},"eventType":"AwsApiCall"}"#,
            r#"{"errorCode":"Client.UnauthorizedOperation"}"#,
            r#"{"eventName":"ConsoleLogin","userIdentity":{"type":"IAMUser"},"additionalEventData":{"MFAUsed":"No"},"responseElements":{"ConsoleLogin":"Success"}}"#,
            r#"{"eventName":"PutUserPolicy"}"#,
            r#"{"eventName":"StopLogging"}"#,
            r#"{"eventName":"ConsoleLogin","errorMessage":"Failed authentication"}"#,
            r#"{"eventSource":"kms.amazonaws.com","eventName":"ScheduleKeyDeletion"}"#,
            r#"{"eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy"}"#,
            r#"{"eventSource":"config.amazonaws.com","eventName":"StopConfigurationRecorder"}"#,
            r#"{"eventName":"AuthorizeSecurityGroupIngress"}"#,
            r#"{"eventName":"CreateNetworkAclEntry"}"#,
            r#"{"eventName":"AttachInternetGateway"}"#,
            r#"{"eventName":"ReplaceRoute"}"#,
            r#"{"eventName":"ModifyVpcAttribute"}"#,
        ];
        for (index, (control, _, pattern)) in CLOUDWATCH_CONTROLS.iter().enumerate() {
            let parsed = FilterPattern::parse(pattern)
                .unwrap_or_else(|error| panic!("{control}: {error:?}"));
            for (other, message) in fires.iter().enumerate() {
                assert_eq!(
                    parsed.matches(message),
                    other == index,
                    "{control} on {message}"
                );
            }
        }
    }
}
