//! The AWS managed policies every account sees (`arn:aws:iam::aws:policy/…`), built in.
//!
//! `ReadOnlyAccess` lists its actions by service prefix (`<service>:Describe*`, `Get*`,
//! `List*`, …) for the services opentrail serves and the common others, not AWS's full list of
//! several thousand actions; the others are AWS's documents.

use crate::store::{ManagedPolicy, PolicyVersion};

/// 2015-02-06T18:39:46Z, when AWS created its first managed policies.
const CREATED: i64 = 1_423_247_986;

const ADMINISTRATOR: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

const POWER_USER: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":["iam:*","organizations:*","account:*"],"Resource":"*"},{"Effect":"Allow","Action":["account:GetAccountInformation","account:GetPrimaryEmail","account:ListRegions","iam:CreateServiceLinkedRole","iam:DeleteServiceLinkedRole","iam:ListRoles","organizations:DescribeOrganization"],"Resource":"*"}]}"#;

const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadOnlyActions","Effect":"Allow","Action":["cloudtrail:Describe*","cloudtrail:Get*","cloudtrail:List*","cloudtrail:LookupEvents","cloudwatch:Describe*","cloudwatch:Get*","cloudwatch:List*","events:Describe*","events:List*","events:TestEventPattern","iam:Generate*","iam:Get*","iam:List*","iam:Simulate*","logs:Describe*","logs:FilterLogEvents","logs:Get*","logs:List*","logs:StartQuery","logs:StopQuery","logs:TestMetricFilter","organizations:Describe*","organizations:List*","s3:Describe*","s3:Get*","s3:List*","sns:Check*","sns:Get*","sns:List*","sqs:Get*","sqs:List*","sqs:Receive*","sts:GetAccessKeyInfo","sts:GetCallerIdentity","sts:GetSessionToken"],"Resource":"*"}]}"#;

const CLOUDTRAIL_FULL: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"AWSCloudTrail_FullAccess_01","Effect":"Allow","Action":["sns:AddPermission","sns:CreateTopic","sns:SetTopicAttributes","sns:GetTopicAttributes"],"Resource":["arn:aws:sns:*:*:aws-cloudtrail-logs*"]},{"Sid":"AWSCloudTrail_FullAccess_02","Effect":"Allow","Action":["sns:ListTopics"],"Resource":"*"},{"Sid":"AWSCloudTrail_FullAccess_03","Effect":"Allow","Action":["s3:CreateBucket","s3:PutBucketPolicy","s3:PutBucketPublicAccessBlock"],"Resource":["arn:aws:s3:::aws-cloudtrail-logs*"]},{"Sid":"AWSCloudTrail_FullAccess_04","Effect":"Allow","Action":["s3:ListAllMyBuckets","s3:GetBucketLocation","s3:GetBucketPolicy"],"Resource":"*"},{"Sid":"AWSCloudTrail_FullAccess_05","Effect":"Allow","Action":"cloudtrail:*","Resource":"*"},{"Sid":"AWSCloudTrail_FullAccess_06","Effect":"Allow","Action":["logs:CreateLogGroup"],"Resource":["arn:aws:logs:*:*:log-group:aws-cloudtrail-logs*"]},{"Sid":"AWSCloudTrail_FullAccess_07","Effect":"Allow","Action":["iam:CreateRole","iam:PutRolePolicy","iam:AttachRolePolicy"],"Resource":["arn:aws:iam::*:role/service-role/CloudTrailRoleForCloudWatchLogs*"]},{"Sid":"AWSCloudTrail_FullAccess_08","Effect":"Allow","Action":["iam:ListPolicies","iam:GetPolicyVersion","iam:ListRoles"],"Resource":"*"},{"Sid":"AWSCloudTrail_FullAccess_09","Effect":"Allow","Action":["iam:PassRole"],"Resource":["arn:aws:iam::*:role/service-role/CloudTrailRoleForCloudWatchLogs*"],"Condition":{"StringEquals":{"iam:PassedToService":"cloudtrail.amazonaws.com"}}},{"Sid":"AWSCloudTrail_FullAccess_10","Effect":"Allow","Action":["kms:CreateKey","kms:CreateAlias","kms:ListKeys","kms:ListAliases"],"Resource":"*"},{"Sid":"AWSCloudTrail_FullAccess_11","Effect":"Allow","Action":["lambda:ListFunctions"],"Resource":"*"},{"Sid":"AWSCloudTrail_FullAccess_12","Effect":"Allow","Action":["dynamodb:ListGlobalTables","dynamodb:ListTables"],"Resource":"*"}]}"#;

const CLOUDTRAIL_READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["cloudtrail:Get*","cloudtrail:Describe*","cloudtrail:List*","cloudtrail:LookupEvents"],"Resource":"*"}]}"#;

/// `(name, policy id, description, document)` of each built-in policy.
const POLICIES: &[(&str, &str, &str, &str)] = &[
    (
        "AdministratorAccess",
        "ANPAIWMBCKSKIEE64ZLYK",
        "Provides full access to AWS services and resources.",
        ADMINISTRATOR,
    ),
    (
        "PowerUserAccess",
        "ANPAJYRXTHIB4FOVS3ZXS",
        "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
        POWER_USER,
    ),
    (
        "ReadOnlyAccess",
        "ANPAILL3HVNFSB6DCOWYQ",
        "Provides read-only access to AWS services and resources.",
        READ_ONLY,
    ),
    (
        "AWSCloudTrail_FullAccess",
        "ANPAZKAPJZG4IV6FHD2UE",
        "Provides full access to AWS CloudTrail.",
        CLOUDTRAIL_FULL,
    ),
    (
        "AWSCloudTrail_ReadOnlyAccess",
        "ANPAZKAPJZG4JVQBBRB3R",
        "Provides read only access to AWS CloudTrail.",
        CLOUDTRAIL_READ_ONLY,
    ),
];

/// Every AWS managed policy, in name order.
pub fn all() -> Vec<ManagedPolicy> {
    let mut policies: Vec<ManagedPolicy> = POLICIES
        .iter()
        .map(|(name, id, description, document)| ManagedPolicy {
            name: (*name).to_owned(),
            id: (*id).to_owned(),
            path: "/".into(),
            arn: format!("arn:aws:iam::aws:policy/{name}"),
            created: CREATED,
            updated: CREATED,
            description: Some((*description).to_owned()),
            default_version: "v1".into(),
            versions: vec![PolicyVersion {
                id: "v1".into(),
                document: (*document).to_owned(),
                created: CREATED,
            }],
            next_version: 2,
            tags: Vec::new(),
        })
        .collect();
    policies.sort_by(|a, b| a.name.cmp(&b.name));
    policies
}

/// The AWS managed policy of `arn`.
pub fn get(arn: &str) -> Option<ManagedPolicy> {
    all().into_iter().find(|p| p.arn == arn)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_built_in_document_is_json_with_statements() {
        for policy in super::all() {
            let doc: serde_json::Value =
                serde_json::from_str(policy.default_document()).expect(&policy.name);
            assert!(doc.get("Statement").is_some(), "{}", policy.name);
            assert!(
                crate::ids::is_id(&policy.id, crate::ids::IdKind::Policy) || policy.id.len() == 21
            );
        }
        assert!(super::get("arn:aws:iam::aws:policy/AdministratorAccess").is_some());
    }
}
