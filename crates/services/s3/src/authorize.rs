//! The IAM action and resource of each S3 operation, and the check before it runs.

use std::sync::Arc;

use opentrail_api::ApiError;
use opentrail_core::access::{AuthzRequest, ResourcePolicy};

use crate::error::S3Error;
use crate::request::Operation;
use crate::{BucketRecord, Call, bucket};

/// The IAM action an operation needs (AWS's S3 action names, not its operation names:
/// listing objects is `s3:ListBucket`, HeadObject needs `s3:GetObject`).
pub fn iam_action(operation: Operation) -> String {
    let action = match operation {
        Operation::ListBuckets => "s3:ListAllMyBuckets",
        Operation::CreateBucket => "s3:CreateBucket",
        Operation::HeadBucket | Operation::ListObjects | Operation::ListObjectsV2 => {
            "s3:ListBucket"
        }
        Operation::DeleteBucket => "s3:DeleteBucket",
        Operation::GetBucketLocation => "s3:GetBucketLocation",
        Operation::GetBucketPolicy => "s3:GetBucketPolicy",
        Operation::PutBucketPolicy => "s3:PutBucketPolicy",
        Operation::DeleteBucketPolicy => "s3:DeleteBucketPolicy",
        Operation::DeleteObjects | Operation::DeleteObject => "s3:DeleteObject",
        Operation::PutObject | Operation::CopyObject => "s3:PutObject",
        Operation::GetObject | Operation::HeadObject => "s3:GetObject",
        // Most of S3's actions are named after their operation.
        Operation::NotImplemented { name, .. } => return format!("s3:{name}"),
    };
    action.to_owned()
}

/// The resource an operation acts on: the object's ARN for object operations, the bucket's
/// for bucket operations, `*` for ListBuckets.
pub fn resource(operation: Operation, bucket: &str, key: &str) -> String {
    let object_level = match operation {
        Operation::PutObject
        | Operation::CopyObject
        | Operation::GetObject
        | Operation::HeadObject
        | Operation::DeleteObject => true,
        Operation::NotImplemented { object_level, .. } => object_level,
        _ => false,
    };
    if bucket.is_empty() {
        "*".to_owned()
    } else if object_level {
        format!("arn:aws:s3:::{bucket}/{key}")
    } else {
        format!("arn:aws:s3:::{bucket}")
    }
}

/// Refuses the call unless its principal may run `operation` on the bucket and key it names,
/// by its identity policies and the bucket's policy; answers the bucket's record (read for its
/// owner and policy) when it exists, for the operation to use.
pub fn check(
    call: &Call<'_>,
    operation: Operation,
    bucket_name: &str,
    key: &str,
) -> Result<Option<BucketRecord>, S3Error> {
    let record = if bucket_name.is_empty() {
        None
    } else {
        bucket(call.state, bucket_name).map_err(S3Error::Api)?
    };
    check_on(call, operation, bucket_name, record.as_ref(), key)?;
    Ok(record)
}

/// [`check`] with the bucket's record already read (`None`: no such bucket).
pub fn check_on(
    call: &Call<'_>,
    operation: Operation,
    bucket_name: &str,
    record: Option<&BucketRecord>,
    key: &str,
) -> Result<(), S3Error> {
    let request = AuthzRequest {
        action: iam_action(operation),
        resources: vec![resource(operation, bucket_name, key)],
        resource_account: record
            .map(|record| record.account_id.clone())
            .filter(|account| *account != call.ctx.account_id),
        resource_policy: record.and_then(|record| {
            record.policy.as_ref().map(|document| ResourcePolicy {
                document: Arc::from(document.as_str()),
                account_id: record.account_id.clone(),
            })
        }),
        tags: Default::default(),
    };
    call.state
        .access
        .authorize(call.state, call.ctx, &request)
        .map_err(|denial| {
            S3Error::Api(ApiError::new(
                "AccessDenied",
                http::StatusCode::FORBIDDEN,
                quoted_resource(&denial.message, &request.resources[0]),
            ))
        })
}

/// S3 writes the resource of a denial in quotes (`on resource: "arn:aws:s3:::b/k"`).
fn quoted_resource(message: &str, resource: &str) -> String {
    message.replacen(
        &format!("on resource: {resource} "),
        &format!("on resource: \"{resource}\" "),
        1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_operations_name_the_object_and_bucket_operations_the_bucket() {
        assert_eq!(
            resource(Operation::GetObject, "logs", "a/b.json.gz"),
            "arn:aws:s3:::logs/a/b.json.gz"
        );
        assert_eq!(
            resource(Operation::ListObjectsV2, "logs", ""),
            "arn:aws:s3:::logs"
        );
        assert_eq!(resource(Operation::ListBuckets, "", ""), "*");
        assert_eq!(iam_action(Operation::HeadObject), "s3:GetObject");
        assert_eq!(iam_action(Operation::ListObjectsV2), "s3:ListBucket");
    }

    #[test]
    fn denials_quote_the_resource_as_s3_does() {
        let message = "User: arn:aws:iam::1:user/u is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b/k because no identity-based policy allows the s3:GetObject action";
        assert_eq!(
            quoted_resource(message, "arn:aws:s3:::b/k"),
            "User: arn:aws:iam::1:user/u is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::b/k\" because no identity-based policy allows the s3:GetObject action"
        );
    }
}
