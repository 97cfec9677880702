//! Trail names, trail ARNs and the other trail parameters, checked the way AWS checks them.
//!
//! The name messages are AWS's own (moto copies them): tools compare them verbatim.

use opentrail_model::Arn;
use std::fmt;
use std::net::Ipv4Addr;

use super::error::CloudTrailError;

const NAME_MIN: usize = 3;
const NAME_MAX: usize = 128;
const S3_PREFIX_MAX: usize = 200;

/// Checks a trail name against AWS's rules, in AWS's order (length, first character, last
/// character, character set, adjacent punctuation, IP address form).
pub fn validate_trail_name(name: &str) -> Result<(), CloudTrailError> {
    let invalid = |message: String| Err(CloudTrailError::InvalidTrailName(message));
    let length = name.chars().count();
    if length < NAME_MIN {
        return invalid(format!(
            "Trail name too short. Minimum allowed length: {NAME_MIN} characters. Specified name length: {length} characters."
        ));
    }
    if length > NAME_MAX {
        return invalid(format!(
            "Trail name too long. Maximum allowed length: {NAME_MAX} characters. Specified name length: {length} characters."
        ));
    }
    let is_alphanumeric = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !is_alphanumeric(name.chars().next()) {
        return invalid("Trail name must starts with a letter or number.".into());
    }
    if !is_alphanumeric(name.chars().last()) {
        return invalid("Trail name must ends with a letter or number.".into());
    }
    if !name.chars().all(is_name_char) {
        return invalid(
            "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_).".into(),
        );
    }
    let punctuation = |c: char| matches!(c, '.' | '_' | '-');
    let chars: Vec<char> = name.chars().collect();
    if chars
        .windows(2)
        .any(|pair| punctuation(pair[0]) && punctuation(pair[1]))
    {
        return invalid(
            "Trail name cannot have adjacent periods (.), hyphens (-), or underscores (_).".into(),
        );
    }
    if name.parse::<Ipv4Addr>().is_ok() {
        return invalid("Trail name cannot be formatted as an IP address.".into());
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// The partition of a region: `aws-cn` for China, `aws-us-gov` for GovCloud, else `aws`.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// `arn:<partition>:cloudtrail:<region>:<account>:trail/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailArn {
    pub region: String,
    pub account_id: String,
    pub name: String,
}

impl TrailArn {
    pub fn new(region: &str, account_id: &str, name: &str) -> TrailArn {
        TrailArn {
            region: region.to_owned(),
            account_id: account_id.to_owned(),
            name: name.to_owned(),
        }
    }

    /// Parses a trail ARN; `None` when `text` is not one (any other resource type included).
    pub fn parse(text: &str) -> Option<TrailArn> {
        let Arn {
            partition: partition_part,
            region,
            account: account_id,
            resource,
            ..
        } = Arn::of_service(text, "cloudtrail")?;
        let name = resource.strip_prefix("trail/")?;
        let valid = !region.is_empty()
            && partition(region) == partition_part
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && opentrail_model::ids::is_account_id(account_id)
            && !name.is_empty();
        valid.then(|| TrailArn::new(region, account_id, name))
    }
}

impl fmt::Display for TrailArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:cloudtrail:{}:{}:trail/{}",
            partition(&self.region),
            self.region,
            self.account_id,
            self.name
        )
    }
}

/// How a request names a trail: by its name (in the caller's region) or by its ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrailRef {
    Name(String),
    Arn(TrailArn),
}

impl TrailRef {
    /// Parses a `Name`/`TrailName` parameter: an ARN when it starts with `arn:`, else a name,
    /// which must be valid.
    pub fn parse(text: &str) -> Result<TrailRef, CloudTrailError> {
        if text.starts_with("arn:") {
            let arn = TrailArn::parse(text).ok_or_else(|| invalid_arn(text))?;
            validate_trail_name(&arn.name)?;
            return Ok(TrailRef::Arn(arn));
        }
        validate_trail_name(text)?;
        Ok(TrailRef::Name(text.to_owned()))
    }

    /// The trail's name.
    pub fn name(&self) -> &str {
        match self {
            TrailRef::Name(name) => name,
            TrailRef::Arn(arn) => &arn.name,
        }
    }
}

/// The CloudTrailARNInvalidException for `text`.
pub fn invalid_arn(text: &str) -> CloudTrailError {
    CloudTrailError::CloudTrailArnInvalid(format!(
        "Invalid trail ARN: {text}. A trail ARN has the form arn:aws:cloudtrail:us-east-2:123456789012:trail/MyTrail."
    ))
}

/// Checks `S3KeyPrefix` (at most 200 characters).
pub fn validate_s3_prefix(prefix: &str) -> Result<(), CloudTrailError> {
    if prefix.chars().count() > S3_PREFIX_MAX {
        return Err(CloudTrailError::InvalidS3Prefix(format!(
            "S3 key prefix is too long. Maximum allowed length: {S3_PREFIX_MAX} characters."
        )));
    }
    Ok(())
}

/// The SNS topic ARN of `SnsTopicName` (a name, or already an ARN).
pub fn sns_topic_arn(
    topic: &str,
    region: &str,
    account_id: &str,
) -> Result<String, CloudTrailError> {
    if topic.starts_with("arn:") {
        let valid = Arn::of_service(topic, "sns")
            .is_some_and(|arn| !arn.resource.is_empty() && !arn.resource.contains(':'));
        if !valid {
            return Err(CloudTrailError::InvalidSnsTopicName(format!(
                "SNS topic ARN {topic} is not valid."
            )));
        }
        return Ok(topic.to_owned());
    }
    let valid = !topic.is_empty()
        && topic.len() <= 256
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(CloudTrailError::InvalidSnsTopicName(format!(
            "SNS topic name {topic} is not valid."
        )));
    }
    Ok(format!(
        "arn:{}:sns:{region}:{account_id}:{topic}",
        partition(region)
    ))
}

/// The full ARN form of `KmsKeyId`: an ARN stays as given; an alias or key id becomes the ARN
/// in the caller's region.
pub fn kms_key_arn(key: &str, region: &str, account_id: &str) -> Result<String, CloudTrailError> {
    if key.is_empty() {
        return Err(CloudTrailError::InvalidKmsKeyId(
            "KMS key id must not be empty.".into(),
        ));
    }
    if key.starts_with("arn:") {
        if Arn::of_service(key, "kms").is_none() {
            return Err(CloudTrailError::InvalidKmsKeyId(format!(
                "Invalid KMS key ARN: {key}."
            )));
        }
        return Ok(key.to_owned());
    }
    let resource = if key.starts_with("alias/") {
        key.to_owned()
    } else {
        format!("key/{key}")
    };
    Ok(format!(
        "arn:{}:kms:{region}:{account_id}:{resource}",
        partition(region)
    ))
}

/// Checks the CloudWatch Logs pair: both or neither, each a well-formed ARN.
pub fn validate_cloudwatch_logs(
    log_group_arn: Option<&str>,
    role_arn: Option<&str>,
) -> Result<(), CloudTrailError> {
    match (log_group_arn, role_arn) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(CloudTrailError::InvalidCloudWatchLogsRoleArn(
            "You must specify a role ARN (CloudWatchLogsRoleArn) along with a CloudWatch Logs log group ARN.".into(),
        )),
        (None, Some(_)) => Err(CloudTrailError::InvalidCloudWatchLogsLogGroupArn(
            "You must specify a CloudWatch Logs log group ARN (CloudWatchLogsLogGroupArn) along with a role ARN.".into(),
        )),
        (Some(group), Some(role)) => {
            if !is_log_group_arn(group) {
                return Err(CloudTrailError::InvalidCloudWatchLogsLogGroupArn(format!(
                    "CloudWatch Logs log group ARN {group} is not valid: expected arn:aws:logs:<region>:<account>:log-group:<name>:*."
                )));
            }
            if !is_role_arn(role) {
                return Err(CloudTrailError::InvalidCloudWatchLogsRoleArn(format!(
                    "CloudWatch Logs role ARN {role} is not valid: expected arn:aws:iam::<account>:role/<name>."
                )));
            }
            Ok(())
        }
    }
}

fn is_log_group_arn(arn: &str) -> bool {
    Arn::of_service(arn, "logs").is_some_and(|arn| {
        !arn.region.is_empty()
            && opentrail_model::ids::is_account_id(arn.account)
            && arn
                .resource
                .strip_prefix("log-group:")
                .is_some_and(|name| !name.is_empty())
    })
}

fn is_role_arn(arn: &str) -> bool {
    Arn::of_service(arn, "iam").is_some_and(|arn| {
        opentrail_model::ids::is_account_id(arn.account)
            && arn
                .resource
                .strip_prefix("role/")
                .is_some_and(|name| !name.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_error(name: &str) -> String {
        match validate_trail_name(name) {
            Err(CloudTrailError::InvalidTrailName(message)) => message,
            other => panic!("expected InvalidTrailName for {name:?}, got {other:?}"),
        }
    }

    #[test]
    fn valid_names_pass() {
        for name in [
            "abc",
            "my-trail",
            "My_Trail.2",
            "a1b",
            &"x".repeat(128),
            "1.2.3.4.5",
        ] {
            assert!(validate_trail_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn invalid_names_get_aws_messages_in_aws_order() {
        assert_eq!(
            name_error("aa"),
            "Trail name too short. Minimum allowed length: 3 characters. Specified name length: 2 characters."
        );
        assert_eq!(
            name_error("?"),
            "Trail name too short. Minimum allowed length: 3 characters. Specified name length: 1 characters."
        );
        assert_eq!(
            name_error(&"a".repeat(129)),
            "Trail name too long. Maximum allowed length: 128 characters. Specified name length: 129 characters."
        );
        assert_eq!(
            name_error("-trail"),
            "Trail name must starts with a letter or number."
        );
        assert_eq!(
            name_error("trail!"),
            "Trail name must ends with a letter or number."
        );
        assert_eq!(
            name_error("my#trail"),
            "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_)."
        );
        assert!(name_error("my-_namespace").contains("adjacent"));
        assert!(name_error("my--namespace").contains("adjacent"));
        assert!(name_error("192.168.5.4").contains("IP address"));
    }

    #[test]
    fn trail_arns_parse_and_print() {
        let arn = TrailArn::parse("arn:aws:cloudtrail:us-east-1:123456789012:trail/my-trail")
            .expect("valid arn");
        assert_eq!(arn, TrailArn::new("us-east-1", "123456789012", "my-trail"));
        assert_eq!(
            arn.to_string(),
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/my-trail"
        );
        let china = TrailArn::new("cn-north-1", "123456789012", "t1x");
        assert_eq!(
            china.to_string(),
            "arn:aws-cn:cloudtrail:cn-north-1:123456789012:trail/t1x"
        );
        assert_eq!(TrailArn::parse(&china.to_string()), Some(china));
        for bad in [
            "arn:aws:cloudtrail:us-east-1:123456789012:eventdatastore/abc",
            "arn:aws:cloudtrail:us-east-1:12345:trail/t",
            "arn:aws:s3:us-east-1:123456789012:trail/t",
            "arn:aws:cloudtrail::123456789012:trail/t",
            "arn:aws-cn:cloudtrail:us-east-1:123456789012:trail/t",
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/",
            "not an arn",
        ] {
            assert_eq!(TrailArn::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn trail_refs_distinguish_names_and_arns() {
        assert_eq!(
            TrailRef::parse("abc").expect("name"),
            TrailRef::Name("abc".into())
        );
        let by_arn =
            TrailRef::parse("arn:aws:cloudtrail:eu-west-1:123456789012:trail/abc").expect("arn");
        assert_eq!(by_arn.name(), "abc");
        assert!(matches!(
            TrailRef::parse("arn:aws:cloudtrail:eu-west-1:123456789012:channel/abc"),
            Err(CloudTrailError::CloudTrailArnInvalid(_))
        ));
        assert!(matches!(
            TrailRef::parse("arn:aws:cloudtrail:eu-west-1:123456789012:trail/a"),
            Err(CloudTrailError::InvalidTrailName(_))
        ));
    }

    #[test]
    fn parameters_are_normalised() {
        assert_eq!(
            sns_topic_arn("topic", "us-east-1", "123456789012").expect("name"),
            "arn:aws:sns:us-east-1:123456789012:topic"
        );
        assert!(sns_topic_arn("bad topic", "us-east-1", "123456789012").is_err());
        assert_eq!(
            kms_key_arn("alias/logs", "eu-west-1", "123456789012").expect("alias"),
            "arn:aws:kms:eu-west-1:123456789012:alias/logs"
        );
        assert_eq!(
            kms_key_arn("1234abcd", "eu-west-1", "123456789012").expect("id"),
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd"
        );
        assert!(validate_s3_prefix(&"p".repeat(201)).is_err());
        assert!(validate_s3_prefix("logs/").is_ok());
    }

    #[test]
    fn cloudwatch_logs_needs_both_well_formed() {
        let group = "arn:aws:logs:us-east-1:123456789012:log-group:ct:*";
        let role = "arn:aws:iam::123456789012:role/ct";
        assert!(validate_cloudwatch_logs(None, None).is_ok());
        assert!(validate_cloudwatch_logs(Some(group), Some(role)).is_ok());
        assert!(matches!(
            validate_cloudwatch_logs(Some(group), None),
            Err(CloudTrailError::InvalidCloudWatchLogsRoleArn(_))
        ));
        assert!(matches!(
            validate_cloudwatch_logs(None, Some(role)),
            Err(CloudTrailError::InvalidCloudWatchLogsLogGroupArn(_))
        ));
        assert!(matches!(
            validate_cloudwatch_logs(Some("cwllga"), Some(role)),
            Err(CloudTrailError::InvalidCloudWatchLogsLogGroupArn(_))
        ));
        assert!(matches!(
            validate_cloudwatch_logs(Some(group), Some("cwlra")),
            Err(CloudTrailError::InvalidCloudWatchLogsRoleArn(_))
        ));
    }
}
