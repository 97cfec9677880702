//! [`CloudTrailError`]: every failure of the CloudTrail control plane, with its AWS code.
//!
//! Messages that a client sees copy AWS's wording (capitalised, with the final period) because
//! tools and tests compare them; the few that AWS does not document say what was wrong and what
//! was expected.

use http::StatusCode;
use opentrail_api::ApiError;
use opentrail_history::HistoryError;
use opentrail_meta::MetaError;

/// A failed CloudTrail call.
#[derive(Debug, thiserror::Error)]
pub enum CloudTrailError {
    /// The message is one of AWS's trail-name messages (see [`super::validate`]).
    #[error("{0}")]
    InvalidTrailName(String),
    #[error("{0}")]
    CloudTrailArnInvalid(String),
    /// `name` is the name or ARN as the caller gave it (GetTrailStatus always reports an ARN).
    #[error("Unknown trail: {name} for the user: {account_id}")]
    TrailNotFound { name: String, account_id: String },
    #[error("Trail {name} already exists for customer: {account_id}")]
    TrailAlreadyExists { name: String, account_id: String },
    #[error("User: {account_id} already has {limit} trails in {region}.")]
    MaximumNumberOfTrailsExceeded {
        account_id: String,
        region: String,
        limit: usize,
    },
    #[error("S3 bucket {0} does not exist!")]
    S3BucketDoesNotExist(String),
    #[error("Incorrect S3 bucket policy is detected for bucket: {0}")]
    InsufficientS3BucketPolicy(String),
    #[error("{0}")]
    InvalidS3Prefix(String),
    #[error("{0}")]
    InvalidSnsTopicName(String),
    #[error("SNS Topic does not exist or the topic policy is incorrect!")]
    InsufficientSnsTopicPolicy,
    #[error("{0}")]
    InvalidKmsKeyId(String),
    #[error("{0}")]
    InvalidParameterCombination(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    InvalidCloudWatchLogsLogGroupArn(String),
    #[error("{0}")]
    InvalidCloudWatchLogsRoleArn(String),
    #[error(
        "This account is not a member of an organization in AWS Organizations; organization trails need one."
    )]
    OrganizationsNotInUse,
    #[error("{operation} must be called from the trail's home region, {home_region}.")]
    InvalidHomeRegion {
        operation: String,
        home_region: String,
    },
    #[error("{0}")]
    InvalidEventSelectors(String),
    #[error("{0}")]
    InvalidInsightSelectors(String),
    #[error(
        "Trail {0} does not have Insights enabled. Edit the trail settings to enable Insights, and then try the operation again."
    )]
    InsightNotEnabled(String),
    #[error("Resource {0} not found.")]
    ResourceNotFound(String),
    #[error("The number of tags on resource {arn} would exceed the limit of {limit}.")]
    TagsLimitExceeded { arn: String, limit: usize },
    #[error("{0}")]
    InvalidTagParameter(String),
    #[error("{0}")]
    InvalidToken(String),
    #[error("{0}")]
    InvalidNextToken(String),
    #[error("{0}")]
    InvalidLookupAttributes(String),
    #[error("{0}")]
    InvalidTimeRange(String),
    #[error("{0}")]
    InvalidMaxResults(String),
    #[error("{0}")]
    InvalidEventCategory(String),
    #[error("{0}")]
    Unsupported(String),
    /// An error of the organization behind the call (the delegated-administrator
    /// operations), under the code CloudTrail's model gives it.
    #[error("{message}")]
    Organization { code: &'static str, message: String },
    #[error("metadata store failed: {0}")]
    Meta(#[from] MetaError),
    #[error("history index failed: {0}")]
    History(HistoryError),
    #[error("internal: {0}")]
    Internal(String),
}

impl CloudTrailError {
    /// The AWS error code (`__type` on the wire).
    pub fn aws_code(&self) -> &'static str {
        use CloudTrailError::*;
        match self {
            InvalidTrailName(_) => "InvalidTrailNameException",
            CloudTrailArnInvalid(_) => "CloudTrailARNInvalidException",
            TrailNotFound { .. } => "TrailNotFoundException",
            TrailAlreadyExists { .. } => "TrailAlreadyExistsException",
            MaximumNumberOfTrailsExceeded { .. } => "MaximumNumberOfTrailsExceededException",
            S3BucketDoesNotExist(_) => "S3BucketDoesNotExistException",
            InsufficientS3BucketPolicy(_) => "InsufficientS3BucketPolicyException",
            InvalidS3Prefix(_) => "InvalidS3PrefixException",
            InvalidSnsTopicName(_) => "InvalidSnsTopicNameException",
            InsufficientSnsTopicPolicy => "InsufficientSnsTopicPolicyException",
            InvalidKmsKeyId(_) => "InvalidKmsKeyIdException",
            InvalidParameterCombination(_) => "InvalidParameterCombinationException",
            InvalidParameter(_) => "InvalidParameterException",
            InvalidCloudWatchLogsLogGroupArn(_) => "InvalidCloudWatchLogsLogGroupArnException",
            InvalidCloudWatchLogsRoleArn(_) => "InvalidCloudWatchLogsRoleArnException",
            OrganizationsNotInUse => "OrganizationsNotInUseException",
            InvalidHomeRegion { .. } => "InvalidHomeRegionException",
            InvalidEventSelectors(_) => "InvalidEventSelectorsException",
            InvalidInsightSelectors(_) => "InvalidInsightSelectorsException",
            InsightNotEnabled(_) => "InsightNotEnabledException",
            ResourceNotFound(_) => "ResourceNotFoundException",
            TagsLimitExceeded { .. } => "TagsLimitExceededException",
            InvalidTagParameter(_) => "InvalidTagParameterException",
            InvalidToken(_) => "InvalidTokenException",
            InvalidNextToken(_) => "InvalidNextTokenException",
            InvalidLookupAttributes(_) => "InvalidLookupAttributesException",
            InvalidTimeRange(_) => "InvalidTimeRangeException",
            InvalidMaxResults(_) => "InvalidMaxResultsException",
            InvalidEventCategory(_) => "InvalidEventCategoryException",
            Unsupported(_) => "UnsupportedOperationException",
            Organization { code, .. } => code,
            Meta(_) | History(_) | Internal(_) => "InternalFailure",
        }
    }

    /// The HTTP status: 400 for the caller's mistakes, 500 for ours.
    pub fn http_status(&self) -> StatusCode {
        match self {
            CloudTrailError::Meta(_)
            | CloudTrailError::History(_)
            | CloudTrailError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<HistoryError> for CloudTrailError {
    fn from(err: HistoryError) -> Self {
        match err {
            HistoryError::InvalidNextToken(_) => CloudTrailError::InvalidNextToken(
                "The NextToken is not valid: it must come from a previous response to the same request."
                    .into(),
            ),
            other => CloudTrailError::History(other),
        }
    }
}

impl From<CloudTrailError> for ApiError {
    fn from(err: CloudTrailError) -> Self {
        if err.http_status().is_server_error() {
            tracing::error!(error = %err, "cloudtrail call failed");
            return ApiError::internal();
        }
        ApiError::new(err.aws_code(), err.http_status(), err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_keep_code_and_message_internal_ones_are_hidden() {
        let err: ApiError = CloudTrailError::TrailNotFound {
            name: "t1".into(),
            account_id: "123456789012".into(),
        }
        .into();
        assert_eq!(err.code, "TrailNotFoundException");
        assert_eq!(err.message, "Unknown trail: t1 for the user: 123456789012");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);

        let err: ApiError = CloudTrailError::Internal("disk on fire".into()).into();
        assert_eq!(err.code, "InternalFailure");
        assert!(!err.message.contains("disk"));
    }
}
