//! The trail operations: CreateTrail, UpdateTrail, DeleteTrail, GetTrail, DescribeTrails,
//! ListTrails, GetTrailStatus, StartLogging, StopLogging; Put/GetEventSelectors and
//! Put/GetInsightSelectors ([`crate::selectors`] holds their rules); AddTags, RemoveTags and
//! ListTags ([`crate::tags`] holds theirs). Each reaches its trail through
//! [`store::read_trail`] or [`store::modify_trail`].
//!
//! Names are unique per account and region, and a multi-region trail holds its name in every
//! region. Changes go through one metadata transaction, so two concurrent CreateTrail calls
//! for one name cannot both succeed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::error::CloudTrailError;
use super::selectors::{
    AdvancedEventSelector, EventSelectorInput, InsightSelector, Selectors,
    validate_insight_selectors,
};
use super::store::{
    self, STATUS_TABLE, StoredTrail, TRAIL_FORMAT_VERSION, TRAILS_TABLE, TrailStatus, modify_trail,
    not_found, read_trail, with_home_trail,
};
use super::tags::{Tag, merge_tags, trail_arn_of, validate_tags};
use super::target_policies::{self, TrailTarget};
use super::validate::{
    TrailArn, TrailRef, kms_key_arn, sns_topic_arn, validate_cloudwatch_logs, validate_s3_prefix,
    validate_trail_name,
};
use super::{bucket_exists, optional_bool, optional_str, parse_member, required_str};
use opentrail_core::AppState;
use opentrail_core::context::RequestContext;

/// Most trails one region sees (its own plus multi-region trails of other regions).
pub const MAX_TRAILS_PER_REGION: usize = 5;
/// ListTrails page size.
pub const LIST_PAGE_SIZE: usize = 50;

/// The trail as CreateTrail/UpdateTrail answer (`full == false`) or as GetTrail and
/// DescribeTrails do (`full == true`: with HomeRegion and the selector flags). Absent members
/// are left out.
pub fn describe(trail: &StoredTrail, full: bool) -> Value {
    let mut out = Map::new();
    let mut put = |key: &str, value: Value| {
        out.insert(key.to_owned(), value);
    };
    put("Name", json!(trail.name));
    put("S3BucketName", json!(trail.s3_bucket_name));
    if let Some(prefix) = &trail.s3_key_prefix {
        put("S3KeyPrefix", json!(prefix));
    }
    if let Some(topic) = &trail.sns_topic_name {
        put("SnsTopicName", json!(topic));
    }
    if let Some(topic_arn) = &trail.sns_topic_arn {
        put("SnsTopicARN", json!(topic_arn));
    }
    put(
        "IncludeGlobalServiceEvents",
        json!(trail.include_global_service_events),
    );
    put("IsMultiRegionTrail", json!(trail.is_multi_region_trail));
    if full {
        put("HomeRegion", json!(trail.home_region));
    }
    put("TrailARN", json!(trail.arn().to_string()));
    put(
        "LogFileValidationEnabled",
        json!(trail.log_file_validation_enabled),
    );
    if let Some(group) = &trail.cloud_watch_logs_log_group_arn {
        put("CloudWatchLogsLogGroupArn", json!(group));
    }
    if let Some(role) = &trail.cloud_watch_logs_role_arn {
        put("CloudWatchLogsRoleArn", json!(role));
    }
    if let Some(key) = &trail.kms_key_id {
        put("KmsKeyId", json!(key));
    }
    if full {
        put(
            "HasCustomEventSelectors",
            json!(trail.selectors.is_custom()),
        );
        put(
            "HasInsightSelectors",
            json!(!trail.insight_selectors.is_empty()),
        );
    }
    put("IsOrganizationTrail", json!(trail.is_organization_trail));
    Value::Object(out)
}

fn non_empty(text: Option<&str>) -> Option<&str> {
    text.filter(|text| !text.is_empty())
}

fn multi_region_needs_global(multi: bool, global: bool) -> Result<(), CloudTrailError> {
    if multi && !global {
        return Err(CloudTrailError::InvalidParameterCombination(
            "Multi-Region trail must include global service events.".into(),
        ));
    }
    Ok(())
}

/// The organization an organization trail created by `account_id` covers, and its management
/// account (which owns every organization trail, one a delegated administrator creates too):
/// the caller must be the management account or CloudTrail's delegated administrator, in an
/// organization with all features and trusted access for CloudTrail, as AWS requires.
fn trail_organization(
    state: &AppState,
    account_id: &str,
) -> Result<(String, String), CloudTrailError> {
    let organization = opentrail_organizations::organization_of(state, account_id)
        .ok_or(CloudTrailError::OrganizationsNotInUse)?;
    let management = organization.management_account_id == account_id;
    if !management
        && !opentrail_organizations::is_delegated_admin(state, account_id, CLOUDTRAIL_PRINCIPAL)
    {
        return Err(CloudTrailError::Organization {
            code: "NotOrganizationMasterAccountException",
            message: "The request was rejected because the account making the request to create or update an organization trail is not the management account or a delegated administrator for an organization in AWS Organizations.".into(),
        });
    }
    if organization.feature_set != "ALL" {
        return Err(CloudTrailError::Organization {
            code: "OrganizationNotInAllFeaturesModeException",
            message: "This operation is not permitted because the organization does not have all features enabled.".into(),
        });
    }
    if !opentrail_organizations::service_access_enabled(state, account_id, CLOUDTRAIL_PRINCIPAL) {
        return Err(CloudTrailError::Organization {
            code: "CloudTrailAccessNotEnabledException",
            message: "This operation is not permitted because trusted access for CloudTrail is not enabled in AWS Organizations. Enable it with EnableAWSServiceAccess for cloudtrail.amazonaws.com.".into(),
        });
    }
    Ok((
        organization.organization_id,
        organization.management_account_id,
    ))
}

const CLOUDTRAIL_PRINCIPAL: &str = "cloudtrail.amazonaws.com";

/// A trail's bucket must exist and its policy let CloudTrail deliver the trail's files.
fn check_bucket(state: &AppState, target: &TrailTarget<'_>) -> Result<(), CloudTrailError> {
    if target.bucket.is_empty() || !bucket_exists(state, target.bucket)? {
        return Err(CloudTrailError::S3BucketDoesNotExist(
            target.bucket.to_owned(),
        ));
    }
    target_policies::check_bucket_policy(state, target)
}

/// A trail's notification topic must exist and its policy let CloudTrail publish.
fn check_topic(
    state: &AppState,
    topic_arn: &str,
    target: &TrailTarget<'_>,
) -> Result<(), CloudTrailError> {
    match opentrail_messaging::sns::store::get_topic(&state.meta, topic_arn) {
        Ok(Some(topic)) => target_policies::check_topic_policy(
            topic.attributes.get("Policy").map(String::as_str),
            topic_arn,
            &topic.account,
            target,
        ),
        Ok(None) => Err(CloudTrailError::InsufficientSnsTopicPolicy),
        Err(err) => Err(CloudTrailError::Internal(err.to_string())),
    }
}

/// Whether a trail named `name` in `region` (multi-region when `multi`) would clash with one
/// of `trails` (other than `except`, a key).
fn name_taken(trails: &[StoredTrail], name: &str, region: &str, multi: bool, except: &str) -> bool {
    trails.iter().any(|trail| {
        trail.key() != except
            && trail.name == name
            && (multi || trail.is_multi_region_trail || trail.home_region == region)
    })
}

fn now_ms(ctx: &RequestContext) -> i64 {
    i64::try_from(ctx.time.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// CreateTrail.
pub fn create_trail(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    let name = required_str(input, "Name")?;
    let bucket = required_str(input, "S3BucketName")?;
    validate_trail_name(name)?;
    let global = optional_bool(input, "IncludeGlobalServiceEvents").unwrap_or(true);
    let multi = optional_bool(input, "IsMultiRegionTrail").unwrap_or(false);
    multi_region_needs_global(multi, global)?;
    // An organization trail belongs to the management account, also when CloudTrail's
    // delegated administrator creates it (AWS: "organization trails created by the delegated
    // administrator are owned by the management account"): its ARN, its bucket policy and its
    // name are the management account's.
    let (organization, owner) = if optional_bool(input, "IsOrganizationTrail") == Some(true) {
        let (organization, management) = trail_organization(state, &ctx.account_id)?;
        (Some(organization), management)
    } else {
        (None, ctx.account_id.clone())
    };
    let owner = owner.as_str();
    let prefix = non_empty(optional_str(input, "S3KeyPrefix"));
    if let Some(prefix) = prefix {
        validate_s3_prefix(prefix)?;
    }
    let trail_arn = TrailArn::new(&ctx.region, owner, name).to_string();
    let target = TrailTarget {
        trail_arn: &trail_arn,
        account_id: owner,
        organization_id: organization.as_deref(),
        bucket,
        prefix,
    };
    let topic = non_empty(optional_str(input, "SnsTopicName"));
    let topic_arn = topic
        .map(|topic| sns_topic_arn(topic, &ctx.region, owner))
        .transpose()?;
    if let Some(arn) = &topic_arn {
        check_topic(state, arn, &target)?;
    }
    let log_group = non_empty(optional_str(input, "CloudWatchLogsLogGroupArn"));
    let role = non_empty(optional_str(input, "CloudWatchLogsRoleArn"));
    validate_cloudwatch_logs(log_group, role)?;
    let kms_key_id = non_empty(optional_str(input, "KmsKeyId"))
        .map(|key| kms_key_arn(key, &ctx.region, owner))
        .transpose()?;
    let tags: Vec<Tag> = parse_member(input, "TagsList")?.unwrap_or_default();
    validate_tags(&tags)?;
    check_bucket(state, &target)?;

    let mut trail = StoredTrail {
        version: TRAIL_FORMAT_VERSION,
        name: name.to_owned(),
        account_id: owner.to_owned(),
        home_region: ctx.region.clone(),
        created_ns: u64::try_from(ctx.time.unix_timestamp_nanos()).unwrap_or(0),
        s3_bucket_name: bucket.to_owned(),
        s3_key_prefix: prefix.map(str::to_owned),
        sns_topic_name: topic.map(str::to_owned),
        sns_topic_arn: topic_arn,
        include_global_service_events: global,
        is_multi_region_trail: multi,
        is_organization_trail: organization.is_some(),
        organization_id: organization.clone(),
        log_file_validation_enabled: optional_bool(input, "EnableLogFileValidation")
            .unwrap_or(false),
        cloud_watch_logs_log_group_arn: log_group.map(str::to_owned),
        cloud_watch_logs_role_arn: role.map(str::to_owned),
        kms_key_id,
        selectors: Selectors::Default,
        insight_selectors: Vec::new(),
        tags: Vec::new(),
    };
    let arn = trail.arn().to_string();
    merge_tags(&mut trail.tags, tags, &arn)?;
    state.meta.write(|txn| {
        let trails = store::account_trails_txn(txn, owner)?;
        if name_taken(&trails, name, &ctx.region, multi, "") {
            return Err(CloudTrailError::TrailAlreadyExists {
                name: name.to_owned(),
                account_id: owner.to_owned(),
            });
        }
        let seen_here = trails.iter().filter(|t| t.visible_in(&ctx.region)).count();
        if seen_here >= MAX_TRAILS_PER_REGION {
            return Err(CloudTrailError::MaximumNumberOfTrailsExceeded {
                account_id: owner.to_owned(),
                region: ctx.region.clone(),
                limit: MAX_TRAILS_PER_REGION,
            });
        }
        txn.put(TRAILS_TABLE, &trail.key(), &trail)?;
        txn.put(STATUS_TABLE, &trail.key(), &TrailStatus::new())?;
        Ok(())
    })?;
    Ok(describe(&trail, false))
}

/// UpdateTrail: changes only the members given; an empty string turns an optional setting
/// off (S3KeyPrefix, SnsTopicName, CloudWatch Logs, KmsKeyId).
pub fn update_trail(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    let given = required_str(input, "Name")?;
    let new_bucket = optional_str(input, "S3BucketName");
    let new_prefix = optional_str(input, "S3KeyPrefix");
    if new_bucket.is_some() || new_prefix.is_some() {
        // Checked before the transaction: the bucket table is read outside it.
        let trail = read_trail(state, ctx, given)?;
        let bucket = new_bucket.unwrap_or(&trail.s3_bucket_name);
        let prefix = match new_prefix {
            Some(prefix) => {
                validate_s3_prefix(prefix)?;
                non_empty(Some(prefix))
            }
            None => trail.s3_key_prefix.as_deref(),
        };
        if bucket != trail.s3_bucket_name || prefix != trail.s3_key_prefix.as_deref() {
            let trail_arn = trail.arn().to_string();
            check_bucket(
                state,
                &TrailTarget {
                    trail_arn: &trail_arn,
                    account_id: &trail.account_id,
                    organization_id: trail.organization_id.as_deref(),
                    bucket,
                    prefix,
                },
            )?;
        }
    }
    let organization = if optional_bool(input, "IsOrganizationTrail") == Some(true) {
        let (organization, _) = trail_organization(state, &ctx.account_id)?;
        // The bucket must also take the organization's files.
        let trail = read_trail(state, ctx, given)?;
        let trail_arn = trail.arn().to_string();
        let bucket = new_bucket.unwrap_or(&trail.s3_bucket_name);
        let prefix = match new_prefix {
            Some(prefix) => non_empty(Some(prefix)),
            None => trail.s3_key_prefix.as_deref(),
        };
        check_bucket(
            state,
            &TrailTarget {
                trail_arn: &trail_arn,
                account_id: &trail.account_id,
                organization_id: Some(&organization),
                bucket,
                prefix,
            },
        )?;
        Some(organization)
    } else {
        None
    };
    modify_trail(state, ctx, "UpdateTrail", given, |trail, txn| {
        if let Some(bucket) = optional_str(input, "S3BucketName") {
            trail.s3_bucket_name = bucket.to_owned();
        }
        if let Some(prefix) = optional_str(input, "S3KeyPrefix") {
            validate_s3_prefix(prefix)?;
            trail.s3_key_prefix = non_empty(Some(prefix)).map(str::to_owned);
        }
        if let Some(topic) = optional_str(input, "SnsTopicName") {
            let topic = non_empty(Some(topic));
            trail.sns_topic_arn = topic
                .map(|topic| sns_topic_arn(topic, &trail.home_region, &trail.account_id))
                .transpose()?;
            if let Some(arn) = &trail.sns_topic_arn {
                let trail_arn = trail.arn().to_string();
                let target = TrailTarget {
                    trail_arn: &trail_arn,
                    account_id: &trail.account_id,
                    organization_id: trail.organization_id.as_deref(),
                    bucket: &trail.s3_bucket_name,
                    prefix: trail.s3_key_prefix.as_deref(),
                };
                check_topic(state, arn, &target)?;
            }
            trail.sns_topic_name = topic.map(str::to_owned);
        }
        if let Some(global) = optional_bool(input, "IncludeGlobalServiceEvents") {
            trail.include_global_service_events = global;
        }
        if let Some(multi) = optional_bool(input, "IsMultiRegionTrail") {
            trail.is_multi_region_trail = multi;
        }
        if let Some(validation) = optional_bool(input, "EnableLogFileValidation") {
            trail.log_file_validation_enabled = validation;
        }
        if optional_bool(input, "IsOrganizationTrail") == Some(false) {
            trail.is_organization_trail = false;
            trail.organization_id = None;
        }
        if let Some(organization) = &organization {
            trail.is_organization_trail = true;
            trail.organization_id = Some(organization.clone());
        }
        if let Some(group) = optional_str(input, "CloudWatchLogsLogGroupArn") {
            trail.cloud_watch_logs_log_group_arn = non_empty(Some(group)).map(str::to_owned);
        }
        if let Some(role) = optional_str(input, "CloudWatchLogsRoleArn") {
            trail.cloud_watch_logs_role_arn = non_empty(Some(role)).map(str::to_owned);
        }
        if let Some(key) = optional_str(input, "KmsKeyId") {
            trail.kms_key_id = non_empty(Some(key))
                .map(|key| kms_key_arn(key, &trail.home_region, &trail.account_id))
                .transpose()?;
        }
        multi_region_needs_global(
            trail.is_multi_region_trail,
            trail.include_global_service_events,
        )?;
        validate_cloudwatch_logs(
            trail.cloud_watch_logs_log_group_arn.as_deref(),
            trail.cloud_watch_logs_role_arn.as_deref(),
        )?;
        if trail.is_multi_region_trail {
            let trails = store::account_trails_txn(txn, &trail.account_id)?;
            if name_taken(&trails, &trail.name, &trail.home_region, true, &trail.key()) {
                return Err(CloudTrailError::TrailAlreadyExists {
                    name: trail.name.clone(),
                    account_id: trail.account_id.clone(),
                });
            }
        }
        Ok(describe(trail, false))
    })
}

/// DeleteTrail: the trail, its status and its tags.
pub fn delete_trail(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    let given = required_str(input, "Name")?;
    with_home_trail(state, ctx, "DeleteTrail", given, |trail, txn| {
        txn.delete(TRAILS_TABLE, &trail.key())?;
        txn.delete(STATUS_TABLE, &trail.key())?;
        Ok(json!({}))
    })
}

/// GetTrail.
pub fn get_trail(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    let trail = read_trail(state, ctx, required_str(input, "Name")?)?;
    Ok(json!({ "Trail": describe(&trail, true) }))
}

/// DescribeTrails: the trails of the caller's region (with shadow trails unless
/// `includeShadowTrails` is false), or those `trailNameList` names; an ARN in the list
/// reaches a trail of any region. Names that match nothing are left out.
pub fn describe_trails(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    let include_shadow = optional_bool(input, "includeShadowTrails").unwrap_or(true);
    let names: Vec<String> = parse_member(input, "trailNameList")?.unwrap_or_default();
    let trails = store::visible_trails(state, &ctx.account_id)?;
    // Shadows: another region's multi-region trail, and in a member account its
    // organization's trails.
    let in_scope = |trail: &StoredTrail| {
        let own = trail.account_id == ctx.account_id;
        (own && trail.home_region == ctx.region)
            || (include_shadow && (trail.is_multi_region_trail || !own))
    };
    let mut chosen: Vec<&StoredTrail> = Vec::new();
    if names.is_empty() {
        chosen.extend(trails.iter().filter(|trail| in_scope(trail)));
    } else {
        for given in &names {
            let found = match TrailRef::parse(given)? {
                TrailRef::Arn(arn) => trails.iter().find(|trail| trail.arn() == arn),
                // A member account names its organization's trail by ARN only, as AWS asks.
                TrailRef::Name(name) => trails
                    .iter()
                    .filter(|trail| {
                        trail.name == name && trail.account_id == ctx.account_id && in_scope(trail)
                    })
                    .min_by_key(|trail| trail.home_region != ctx.region),
            };
            if let Some(trail) = found
                && !chosen.iter().any(|seen| seen.key() == trail.key())
            {
                chosen.push(trail);
            }
        }
    }
    let list: Vec<Value> = chosen
        .into_iter()
        .map(|trail| describe(trail, true))
        .collect();
    Ok(json!({ "trailList": list }))
}

fn encode_token(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("trails-v1:{offset}"))
}

fn decode_token(token: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix("trails-v1:")?.parse().ok()
}

/// One ListTrails page of `trails`, starting at `token`.
pub fn list_page(
    trails: &[&StoredTrail],
    token: Option<&str>,
    page_size: usize,
) -> Result<Value, CloudTrailError> {
    let start = match token {
        None => 0,
        Some(token) => decode_token(token)
            .filter(|offset| *offset <= trails.len())
            .ok_or_else(|| {
                CloudTrailError::InvalidNextToken(
                    "The NextToken is not valid: it must come from a previous ListTrails response."
                        .into(),
                )
            })?,
    };
    let end = (start + page_size).min(trails.len());
    let page: Vec<Value> = trails[start..end]
        .iter()
        .map(|trail| {
            json!({
                "TrailARN": trail.arn().to_string(),
                "Name": trail.name,
                "HomeRegion": trail.home_region,
            })
        })
        .collect();
    let mut out = json!({ "Trails": page });
    if end < trails.len() {
        out["NextToken"] = json!(encode_token(end));
    }
    Ok(out)
}

/// ListTrails: the trails the caller's region sees (its own and every multi-region trail),
/// each with its home region.
pub fn list_trails(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    let trails = store::visible_trails(state, &ctx.account_id)?;
    let visible: Vec<&StoredTrail> = trails
        .iter()
        .filter(|trail| trail.visible_in(&ctx.region))
        .collect();
    list_page(&visible, optional_str(input, "NextToken"), LIST_PAGE_SIZE)
}

fn seconds(ms: i64) -> Value {
    #[allow(clippy::cast_precision_loss)]
    let secs = ms as f64 / 1000.0;
    json!(secs)
}

fn iso(ms: Option<i64>) -> Value {
    let text = ms
        .and_then(|ms| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
        })
        .map(opentrail_model::time::format_event_time)
        .unwrap_or_default();
    Value::String(text)
}

/// GetTrailStatus's answer: timestamps as epoch seconds, the `*Attempt*` and `TimeLogging*`
/// strings always present (empty until they happen), as AWS answers.
pub fn status_to_wire(status: &TrailStatus) -> Value {
    let mut out = Map::new();
    out.insert("IsLogging".into(), json!(status.is_logging));
    let mut put_text = |key: &str, text: &Option<String>| {
        if let Some(text) = text {
            out.insert(key.into(), json!(text));
        }
    };
    put_text("LatestDeliveryError", &status.latest_delivery_error);
    put_text("LatestNotificationError", &status.latest_notification_error);
    let mut put_time = |key: &str, ms: Option<i64>| {
        if let Some(ms) = ms {
            out.insert(key.into(), seconds(ms));
        }
    };
    put_time("LatestDeliveryTime", status.latest_delivery_time_ms);
    put_time("LatestNotificationTime", status.latest_notification_time_ms);
    put_time("StartLoggingTime", status.start_logging_time_ms);
    put_time("StopLoggingTime", status.stop_logging_time_ms);
    put_time(
        "LatestCloudWatchLogsDeliveryTime",
        status.latest_cloud_watch_logs_delivery_time_ms,
    );
    put_time(
        "LatestDigestDeliveryTime",
        status.latest_digest_delivery_time_ms,
    );
    if let Some(error) = &status.latest_cloud_watch_logs_delivery_error {
        out.insert("LatestCloudWatchLogsDeliveryError".into(), json!(error));
    }
    if let Some(error) = &status.latest_digest_delivery_error {
        out.insert("LatestDigestDeliveryError".into(), json!(error));
    }
    out.insert(
        "LatestDeliveryAttemptTime".into(),
        iso(status.latest_delivery_attempt_time_ms),
    );
    out.insert(
        "LatestNotificationAttemptTime".into(),
        iso(status.latest_notification_attempt_time_ms),
    );
    out.insert(
        "LatestNotificationAttemptSucceeded".into(),
        iso(status.latest_notification_attempt_succeeded_ms),
    );
    out.insert(
        "LatestDeliveryAttemptSucceeded".into(),
        iso(status.latest_delivery_attempt_succeeded_ms),
    );
    out.insert(
        "TimeLoggingStarted".into(),
        iso(status.start_logging_time_ms),
    );
    out.insert(
        "TimeLoggingStopped".into(),
        iso(status.stop_logging_time_ms),
    );
    Value::Object(out)
}

/// GetTrailStatus. An unknown trail is reported by ARN, as AWS does for this operation.
pub fn get_trail_status(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    let given = required_str(input, "Name")?;
    let reference = TrailRef::parse(given)?;
    let trails = store::visible_trails(state, &ctx.account_id)?;
    let Some(trail) = store::find(&trails, &ctx.account_id, &ctx.region, &reference) else {
        let arn = match &reference {
            TrailRef::Arn(arn) => arn.clone(),
            TrailRef::Name(name) => TrailArn::new(&ctx.region, &ctx.account_id, name),
        };
        return Err(not_found(&arn.to_string(), ctx));
    };
    let status = store::status(&state.meta, &trail.key())?;
    Ok(status_to_wire(&status))
}

fn set_logging(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
    operation: &str,
    logging: bool,
) -> Result<Value, CloudTrailError> {
    let given = required_str(input, "Name")?;
    let now = now_ms(ctx);
    with_home_trail(state, ctx, operation, given, |trail, txn| {
        let key = trail.key();
        let mut status = txn
            .get::<TrailStatus>(STATUS_TABLE, &key)?
            .unwrap_or_else(TrailStatus::new);
        status.is_logging = logging;
        if logging {
            status.start_logging_time_ms = Some(now);
        } else {
            status.stop_logging_time_ms = Some(now);
        }
        status.version = store::STATUS_FORMAT_VERSION;
        txn.put(STATUS_TABLE, &key, &status)?;
        Ok(json!({}))
    })
}

/// StartLogging.
pub fn start_logging(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    set_logging(state, ctx, input, "StartLogging", true)
}

/// StopLogging.
pub fn stop_logging(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    set_logging(state, ctx, input, "StopLogging", false)
}

// ---- event selectors and Insights selectors ----

/// PutEventSelectors.
pub fn put_event_selectors(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    let name = required_str(input, "TrailName")?;
    let basic: Option<Vec<EventSelectorInput>> = parse_member(input, "EventSelectors")?;
    let advanced: Option<Vec<AdvancedEventSelector>> =
        parse_member(input, "AdvancedEventSelectors")?;
    let partition = super::validate::partition(&ctx.region);
    modify_trail(state, ctx, "PutEventSelectors", name, |trail, _| {
        trail.selectors = Selectors::from_input(basic, advanced, partition)?;
        Ok(with_trail_arn(trail, trail.selectors.to_wire()))
    })
}

/// GetEventSelectors.
pub fn get_event_selectors(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    let trail = read_trail(state, ctx, required_str(input, "TrailName")?)?;
    Ok(with_trail_arn(&trail, trail.selectors.to_wire()))
}

fn with_trail_arn(trail: &StoredTrail, selectors: Value) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("TrailARN".into(), Value::String(trail.arn().to_string()));
    if let Value::Object(members) = selectors {
        out.extend(members);
    }
    Value::Object(out)
}

/// The trail of an Insights call: `TrailName`, never together with `EventDataStore`.
fn insights_trail_name(input: &Value) -> Result<&str, CloudTrailError> {
    let trail = optional_str(input, "TrailName");
    let store = optional_str(input, "EventDataStore");
    match (trail, store) {
        (Some(_), Some(_)) => Err(CloudTrailError::InvalidParameterCombination(
            "You cannot specify both TrailName and EventDataStore.".into(),
        )),
        (Some(name), None) => {
            if optional_str(input, "InsightsDestination").is_some() {
                return Err(CloudTrailError::InvalidParameterCombination(
                    "InsightsDestination can only be used with EventDataStore.".into(),
                ));
            }
            Ok(name)
        }
        (None, Some(_)) => Err(CloudTrailError::Unsupported(
            "Insights on event data stores are not supported by this server yet".into(),
        )),
        (None, None) => Err(CloudTrailError::InvalidParameterCombination(
            "You must specify either TrailName or EventDataStore.".into(),
        )),
    }
}

/// PutInsightSelectors.
pub fn put_insight_selectors(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    let name = insights_trail_name(input)?;
    let selectors: Vec<InsightSelector> =
        parse_member(input, "InsightSelectors")?.unwrap_or_default();
    modify_trail(state, ctx, "PutInsightSelectors", name, |trail, _| {
        validate_insight_selectors(&selectors, &trail.selectors)?;
        trail.insight_selectors = selectors;
        Ok(json!({
            "TrailARN": trail.arn().to_string(),
            "InsightSelectors": trail.insight_selectors,
        }))
    })
}

/// GetInsightSelectors.
pub fn get_insight_selectors(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    let name = insights_trail_name(input)?;
    let trail = read_trail(state, ctx, name)?;
    if trail.insight_selectors.is_empty() {
        return Err(CloudTrailError::InsightNotEnabled(name.to_owned()));
    }
    Ok(json!({
        "TrailARN": trail.arn().to_string(),
        "InsightSelectors": trail.insight_selectors,
    }))
}

// ---- tags ----

fn not_found_as_resource(resource_id: &str, err: CloudTrailError) -> CloudTrailError {
    match err {
        CloudTrailError::TrailNotFound { .. } => {
            CloudTrailError::ResourceNotFound(resource_id.to_owned())
        }
        other => other,
    }
}

fn request_tags(input: &Value) -> Result<Vec<Tag>, CloudTrailError> {
    let tags: Vec<Tag> = parse_member(input, "TagsList")?.unwrap_or_default();
    validate_tags(&tags)?;
    Ok(tags)
}

/// AddTags.
pub fn add_tags(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    let resource_id = required_str(input, "ResourceId")?;
    trail_arn_of(resource_id)?;
    let tags = request_tags(input)?;
    modify_trail(state, ctx, "AddTags", resource_id, |trail, _| {
        let arn = trail.arn().to_string();
        merge_tags(&mut trail.tags, tags, &arn)?;
        Ok(json!({}))
    })
    .map_err(|err| not_found_as_resource(resource_id, err))
}

/// RemoveTags: removes the given keys (values are not compared, as AWS does).
pub fn remove_tags(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    let resource_id = required_str(input, "ResourceId")?;
    trail_arn_of(resource_id)?;
    let tags = request_tags(input)?;
    modify_trail(state, ctx, "RemoveTags", resource_id, |trail, _| {
        trail
            .tags
            .retain(|current| !tags.iter().any(|tag| tag.key == current.key));
        Ok(json!({}))
    })
    .map_err(|err| not_found_as_resource(resource_id, err))
}

/// ListTags: the tags of each listed trail visible in the caller's region, in request order.
pub fn list_tags(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    if optional_str(input, "NextToken").is_some() {
        return Err(CloudTrailError::InvalidToken(
            "The NextToken is not valid: ListTags answers every resource in one page.".into(),
        ));
    }
    let resource_ids: Vec<String> = parse_member(input, "ResourceIdList")?.unwrap_or_default();
    let trails = store::visible_trails(state, &ctx.account_id)?;
    let mut listed = Vec::with_capacity(resource_ids.len());
    for resource_id in &resource_ids {
        let arn = trail_arn_of(resource_id)?;
        let trail: &StoredTrail =
            store::find(&trails, &ctx.account_id, &ctx.region, &TrailRef::Arn(arn))
                .ok_or_else(|| CloudTrailError::ResourceNotFound(resource_id.clone()))?;
        listed.push(json!({ "ResourceId": resource_id, "TagsList": trail.tags }));
    }
    Ok(json!({ "ResourceTagList": listed }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::trail;

    #[test]
    fn names_clash_per_region_and_across_regions_for_multi_region_trails() {
        let trails = vec![
            trail("local", "eu-west-1", false, 1),
            trail("everywhere", "us-east-1", true, 2),
        ];
        assert!(name_taken(&trails, "local", "eu-west-1", false, ""));
        assert!(!name_taken(&trails, "local", "us-east-1", false, ""));
        assert!(name_taken(&trails, "local", "us-east-1", true, ""));
        assert!(name_taken(&trails, "everywhere", "ap-south-1", false, ""));
        let own_key = trails[0].key();
        assert!(!name_taken(&trails, "local", "eu-west-1", true, &own_key));
    }

    #[test]
    fn list_pages_follow_tokens() {
        let trails: Vec<StoredTrail> = (0..5)
            .map(|i| trail(&format!("t{i}x"), "us-east-1", false, i))
            .collect();
        let refs: Vec<&StoredTrail> = trails.iter().collect();
        let first = list_page(&refs, None, 2).expect("page");
        assert_eq!(first["Trails"].as_array().map(Vec::len), Some(2));
        let token = first["NextToken"].as_str().expect("token").to_owned();
        let second = list_page(&refs, Some(&token), 2).expect("page");
        assert_eq!(second["Trails"][0]["Name"], "t2x");
        let third = list_page(&refs, second["NextToken"].as_str(), 2).expect("page");
        assert_eq!(third["Trails"].as_array().map(Vec::len), Some(1));
        assert!(third.get("NextToken").is_none());
        assert!(matches!(
            list_page(&refs, Some("garbage"), 2),
            Err(CloudTrailError::InvalidNextToken(_))
        ));
    }

    #[test]
    fn describe_leaves_out_absent_members() {
        let mut stored = trail("t1x", "us-east-1", false, 1);
        let short = describe(&stored, false);
        assert!(short.get("S3KeyPrefix").is_none());
        assert!(short.get("HomeRegion").is_none());
        assert_eq!(
            short["TrailARN"],
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/t1x"
        );
        stored.s3_key_prefix = Some("p".into());
        let full = describe(&stored, true);
        assert_eq!(full["S3KeyPrefix"], "p");
        assert_eq!(full["HomeRegion"], "us-east-1");
        assert_eq!(full["HasCustomEventSelectors"], false);
    }

    #[test]
    fn status_wire_form() {
        let mut status = TrailStatus::new();
        let idle = status_to_wire(&status);
        assert_eq!(idle["IsLogging"], false);
        assert_eq!(idle["TimeLoggingStarted"], "");
        assert_eq!(idle["LatestDeliveryAttemptTime"], "");
        assert!(idle.get("StartLoggingTime").is_none());
        status.is_logging = true;
        status.start_logging_time_ms = Some(1_700_000_000_500);
        let logging = status_to_wire(&status);
        assert_eq!(logging["StartLoggingTime"], json!(1_700_000_000.5));
        assert_eq!(logging["TimeLoggingStarted"], "2023-11-14T22:13:20Z");
        assert!(logging.get("LatestDeliveryTime").is_none());
    }
}
