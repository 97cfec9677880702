//! How trails live in the metadata store, and how a request finds the trail it names.
//!
//! # Tables (format version 1 each; every value carries its `version`)
//! - `cloudtrail-trails`, key `<account>/<home-region>/<name>` → [`StoredTrail`]: the trail's
//!   configuration, selectors and tags. Written only by the control plane.
//! - `cloudtrail-trail-status`, same key → [`TrailStatus`]: logging on/off and the delivery
//!   bookkeeping that `GetTrailStatus` reports. The control plane writes the logging fields;
//!   the delivery worker updates the `latest_*` fields with [`update_status`]. Keeping it apart
//!   from the configuration means a delivery never rewrites (or races) a configuration change.
//!
//! A multi-region trail is stored once, under its home region; the other regions see it as a
//! shadow trail ([`visible_in`]).

use std::sync::Arc;

use opentrail_delivery::selectors::{LoggingWindow, TrailFilter, TrailSelectors};
use opentrail_meta::{Meta, MetaError, Txn};
use serde::{Deserialize, Serialize};

use super::error::CloudTrailError;
use super::selectors::{InsightSelector, Selectors};
use super::tags::Tag;
use super::validate::{TrailArn, TrailRef};
use opentrail_core::AppState;
use opentrail_core::context::RequestContext;

pub const TRAILS_TABLE: &str = "cloudtrail-trails";
pub const STATUS_TABLE: &str = "cloudtrail-trail-status";
/// The format of [`StoredTrail`] this build writes.
pub const TRAIL_FORMAT_VERSION: u32 = 1;
/// The format of [`TrailStatus`] this build writes.
pub const STATUS_FORMAT_VERSION: u32 = 1;

/// The key of a trail in both tables.
pub fn trail_key(account_id: &str, home_region: &str, name: &str) -> String {
    format!("{account_id}/{home_region}/{name}")
}

/// One trail's configuration, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTrail {
    pub version: u32,
    pub name: String,
    pub account_id: String,
    pub home_region: String,
    /// Creation time (ns since the epoch); trails are listed in creation order.
    pub created_ns: u64,
    pub s3_bucket_name: String,
    #[serde(default)]
    pub s3_key_prefix: Option<String>,
    #[serde(default)]
    pub sns_topic_name: Option<String>,
    #[serde(default)]
    pub sns_topic_arn: Option<String>,
    pub include_global_service_events: bool,
    pub is_multi_region_trail: bool,
    #[serde(default)]
    pub is_organization_trail: bool,
    /// The organization (`o-…`) an organization trail covers.
    #[serde(default)]
    pub organization_id: Option<String>,
    pub log_file_validation_enabled: bool,
    #[serde(default)]
    pub cloud_watch_logs_log_group_arn: Option<String>,
    #[serde(default)]
    pub cloud_watch_logs_role_arn: Option<String>,
    /// Always the full key (or alias) ARN.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub selectors: Selectors,
    #[serde(default)]
    pub insight_selectors: Vec<InsightSelector>,
    /// In the order they were first added; keys are unique.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl StoredTrail {
    pub fn arn(&self) -> TrailArn {
        TrailArn::new(&self.home_region, &self.account_id, &self.name)
    }

    pub fn key(&self) -> String {
        trail_key(&self.account_id, &self.home_region, &self.name)
    }

    /// Whether callers in `region` see this trail (its home region, or everywhere when it is
    /// multi-region).
    pub fn visible_in(&self, region: &str) -> bool {
        self.home_region == region || self.is_multi_region_trail
    }

    /// What decides, with its logging `status`, which records this trail takes (trail
    /// delivery and the CloudWatch Logs trail worker alike).
    pub fn filter(&self, status: &TrailStatus) -> TrailFilter {
        TrailFilter {
            account_id: self.account_id.clone(),
            organization_accounts: None,
            home_region: self.home_region.clone(),
            is_multi_region_trail: self.is_multi_region_trail,
            include_global_service_events: self.include_global_service_events,
            logging: LoggingWindow {
                is_logging: status.is_logging,
                start_ms: status.start_logging_time_ms,
                stop_ms: status.stop_logging_time_ms,
            },
            selectors: TrailSelectors::from(&self.selectors),
        }
    }
}

/// What decides which records `trail` takes (trail delivery and the CloudWatch Logs trail
/// worker alike): [`StoredTrail::filter`], and for an organization trail the accounts of its
/// organization, read now.
pub fn trail_filter(state: &AppState, trail: &StoredTrail, status: &TrailStatus) -> TrailFilter {
    let mut filter = trail.filter(status);
    if let Some(organization) = trail
        .organization_id
        .as_deref()
        .filter(|_| trail.is_organization_trail)
    {
        filter.organization_accounts = Some(Arc::new(
            opentrail_organizations::member_accounts(state, organization)
                .into_iter()
                .collect(),
        ));
    }
    filter
}

/// Logging state and delivery bookkeeping of one trail. Times are milliseconds since the epoch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrailStatus {
    pub version: u32,
    pub is_logging: bool,
    pub start_logging_time_ms: Option<i64>,
    pub stop_logging_time_ms: Option<i64>,
    /// Last successful log file delivery to S3.
    pub latest_delivery_time_ms: Option<i64>,
    pub latest_delivery_attempt_time_ms: Option<i64>,
    /// When the last delivery attempt succeeded.
    pub latest_delivery_attempt_succeeded_ms: Option<i64>,
    pub latest_delivery_error: Option<String>,
    pub latest_digest_delivery_time_ms: Option<i64>,
    pub latest_digest_delivery_error: Option<String>,
    pub latest_notification_time_ms: Option<i64>,
    pub latest_notification_attempt_time_ms: Option<i64>,
    pub latest_notification_attempt_succeeded_ms: Option<i64>,
    pub latest_notification_error: Option<String>,
    pub latest_cloud_watch_logs_delivery_time_ms: Option<i64>,
    pub latest_cloud_watch_logs_delivery_error: Option<String>,
}

impl TrailStatus {
    /// The status of a new trail: not logging, nothing delivered.
    pub fn new() -> TrailStatus {
        TrailStatus {
            version: STATUS_FORMAT_VERSION,
            ..TrailStatus::default()
        }
    }
}

/// Every trail of every account, for workers (delivery, digests) that serve all trails.
pub fn all_trails(meta: &Meta) -> Result<Vec<StoredTrail>, MetaError> {
    Ok(sorted(meta.list(TRAILS_TABLE, "")?))
}

/// The trails of one account, all regions, in creation order.
pub fn account_trails(meta: &Meta, account_id: &str) -> Result<Vec<StoredTrail>, MetaError> {
    Ok(sorted(meta.list(TRAILS_TABLE, &format!("{account_id}/"))?))
}

/// The trails an account sees: its own, and when it is a member of an organization, the
/// organization trails of its management account (AWS's shadow trails), in creation order.
pub fn visible_trails(state: &AppState, account_id: &str) -> Result<Vec<StoredTrail>, MetaError> {
    let mut trails = account_trails(&state.meta, account_id)?;
    if let Some(organization) = opentrail_organizations::organization_of(state, account_id)
        && organization.management_account_id != account_id
    {
        let management = account_trails(&state.meta, &organization.management_account_id)?;
        trails.extend(management.into_iter().filter(|trail| {
            trail.is_organization_trail
                && trail.organization_id.as_deref() == Some(&organization.organization_id)
        }));
        trails.sort_by(|a, b| {
            (a.created_ns, &a.home_region, &a.name).cmp(&(b.created_ns, &b.home_region, &b.name))
        });
    }
    Ok(trails)
}

/// [`account_trails`] inside a write transaction.
pub fn account_trails_txn(txn: &Txn<'_>, account_id: &str) -> Result<Vec<StoredTrail>, MetaError> {
    Ok(sorted(txn.list(TRAILS_TABLE, &format!("{account_id}/"))?))
}

fn sorted(entries: Vec<(String, StoredTrail)>) -> Vec<StoredTrail> {
    let mut trails: Vec<StoredTrail> = entries.into_iter().map(|(_, trail)| trail).collect();
    trails.sort_by(|a, b| {
        (a.created_ns, &a.home_region, &a.name).cmp(&(b.created_ns, &b.home_region, &b.name))
    });
    trails
}

/// The status of the trail stored under `key` (a new status when none was written).
pub fn status(meta: &Meta, key: &str) -> Result<TrailStatus, MetaError> {
    Ok(meta
        .get(STATUS_TABLE, key)?
        .unwrap_or_else(TrailStatus::new))
}

/// Changes the status of the trail under `key` atomically; returns `false` (and writes
/// nothing) when the trail no longer exists. For the delivery worker.
pub fn update_status(
    meta: &Meta,
    key: &str,
    change: impl FnOnce(&mut TrailStatus),
) -> Result<bool, MetaError> {
    meta.write(|txn| {
        if txn.get::<StoredTrail>(TRAILS_TABLE, key)?.is_none() {
            return Ok(false);
        }
        let mut current = txn
            .get::<TrailStatus>(STATUS_TABLE, key)?
            .unwrap_or_else(TrailStatus::new);
        change(&mut current);
        current.version = STATUS_FORMAT_VERSION;
        txn.put(STATUS_TABLE, key, &current)?;
        Ok(true)
    })
}

/// The trail `reference` names for a caller in `region`: by name, the trail of that name whose
/// home is `region`, else a multi-region trail of that name; by ARN, exactly that trail if
/// `region` sees it.
pub fn find<'a>(
    trails: &'a [StoredTrail],
    account_id: &str,
    region: &str,
    reference: &TrailRef,
) -> Option<&'a StoredTrail> {
    match reference {
        TrailRef::Name(name) => trails
            .iter()
            .find(|trail| trail.home_region == region && &trail.name == name)
            .or_else(|| {
                trails
                    .iter()
                    .find(|trail| trail.is_multi_region_trail && &trail.name == name)
            }),
        TrailRef::Arn(arn) => trails.iter().find(|trail| {
            (arn.account_id == account_id || trail.is_organization_trail)
                && trail.account_id == arn.account_id
                && trail.home_region == arn.region
                && trail.name == arn.name
                && trail.visible_in(region)
        }),
    }
}

// ---- the trail a request names ----

/// Why a trail a change names is not the caller's: a member account naming its
/// organization's trail may see it but not change it.
fn not_found_or_shadow(
    state: &AppState,
    ctx: &RequestContext,
    given: &str,
    reference: &TrailRef,
) -> CloudTrailError {
    let shadow = visible_trails(state, &ctx.account_id).is_ok_and(|trails| {
        find(&trails, &ctx.account_id, &ctx.region, reference)
            .is_some_and(|trail| trail.account_id != ctx.account_id)
    });
    if shadow {
        return CloudTrailError::Organization {
            code: "NotOrganizationMasterAccountException",
            message: format!(
                "The trail {given} is an organization trail: only its organization's management account can change it."
            ),
        };
    }
    not_found(given, ctx)
}

pub fn not_found(given: &str, ctx: &RequestContext) -> CloudTrailError {
    CloudTrailError::TrailNotFound {
        name: given.to_owned(),
        account_id: ctx.account_id.clone(),
    }
}

/// The trail `given` (a name or an ARN) names, as the caller's region sees it.
pub fn read_trail(
    state: &AppState,
    ctx: &RequestContext,
    given: &str,
) -> Result<StoredTrail, CloudTrailError> {
    let reference = TrailRef::parse(given)?;
    let trails = visible_trails(state, &ctx.account_id)?;
    find(&trails, &ctx.account_id, &ctx.region, &reference)
        .cloned()
        .ok_or_else(|| not_found(given, ctx))
}

/// Runs `change` on the trail `given` names, in one transaction, when the caller is in the
/// trail's home region; `change` does its own writes.
pub fn with_home_trail<R>(
    state: &AppState,
    ctx: &RequestContext,
    operation: &str,
    given: &str,
    change: impl FnOnce(StoredTrail, &mut Txn<'_>) -> Result<R, CloudTrailError>,
) -> Result<R, CloudTrailError> {
    let reference = TrailRef::parse(given)?;
    let managed = delegated_organization(state, &ctx.account_id);
    state.meta.write(|txn| {
        let mut trails = account_trails_txn(txn, &ctx.account_id)?;
        if let Some((management, organization)) = &managed {
            let theirs = account_trails_txn(txn, management)?;
            trails.extend(theirs.into_iter().filter(|trail| {
                trail.is_organization_trail
                    && trail.organization_id.as_deref() == Some(organization.as_str())
            }));
        }
        let Some(trail) = find(&trails, &ctx.account_id, &ctx.region, &reference).cloned() else {
            return Err(not_found_or_shadow(state, ctx, given, &reference));
        };
        if trail.home_region != ctx.region {
            return Err(CloudTrailError::InvalidHomeRegion {
                operation: operation.to_owned(),
                home_region: trail.home_region,
            });
        }
        change(trail, txn)
    })
}

/// The management account and organization whose organization trails `account_id` may
/// change as CloudTrail's delegated administrator (AWS keeps those trails in the management
/// account); `None` for any other account.
pub(crate) fn delegated_organization(
    state: &AppState,
    account_id: &str,
) -> Option<(String, String)> {
    let organization = opentrail_organizations::organization_of(state, account_id)?;
    let delegated = organization.management_account_id != account_id
        && opentrail_organizations::is_delegated_admin(
            state,
            account_id,
            "cloudtrail.amazonaws.com",
        );
    delegated.then_some((
        organization.management_account_id,
        organization.organization_id,
    ))
}

/// Changes the trail `given` names and stores it, atomically, from its home region only.
pub fn modify_trail<R>(
    state: &AppState,
    ctx: &RequestContext,
    operation: &str,
    given: &str,
    change: impl FnOnce(&mut StoredTrail, &mut Txn<'_>) -> Result<R, CloudTrailError>,
) -> Result<R, CloudTrailError> {
    with_home_trail(state, ctx, operation, given, |mut trail, txn| {
        let out = change(&mut trail, txn)?;
        trail.version = TRAIL_FORMAT_VERSION;
        txn.put(TRAILS_TABLE, &trail.key(), &trail)?;
        Ok(out)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn trail(name: &str, region: &str, multi: bool, created_ns: u64) -> StoredTrail {
        StoredTrail {
            version: TRAIL_FORMAT_VERSION,
            name: name.into(),
            account_id: "123456789012".into(),
            home_region: region.into(),
            created_ns,
            s3_bucket_name: "bucket".into(),
            s3_key_prefix: None,
            sns_topic_name: None,
            sns_topic_arn: None,
            include_global_service_events: true,
            is_multi_region_trail: multi,
            is_organization_trail: false,
            organization_id: None,
            log_file_validation_enabled: false,
            cloud_watch_logs_log_group_arn: None,
            cloud_watch_logs_role_arn: None,
            kms_key_id: None,
            selectors: Selectors::default(),
            insight_selectors: Vec::new(),
            tags: Vec::new(),
        }
    }

    #[test]
    fn find_prefers_home_trail_and_sees_multi_region_shadows() {
        let trails = vec![
            trail("local", "eu-west-1", false, 1),
            trail("everywhere", "us-east-1", true, 2),
            trail("same", "us-east-1", false, 3),
            trail("same", "eu-west-1", false, 4),
        ];
        let account = "123456789012";
        let by_name = |name: &str, region: &str| {
            find(&trails, account, region, &TrailRef::Name(name.into()))
                .map(|t| t.home_region.clone())
        };
        assert_eq!(by_name("local", "eu-west-1").as_deref(), Some("eu-west-1"));
        assert_eq!(by_name("local", "us-east-1"), None);
        assert_eq!(
            by_name("everywhere", "ap-south-1").as_deref(),
            Some("us-east-1")
        );
        assert_eq!(by_name("same", "eu-west-1").as_deref(), Some("eu-west-1"));

        let arn = TrailRef::Arn(TrailArn::new("eu-west-1", account, "local"));
        assert!(find(&trails, account, "eu-west-1", &arn).is_some());
        assert!(find(&trails, account, "us-east-1", &arn).is_none());
        assert!(find(&trails, "999999999999", "eu-west-1", &arn).is_none());
        let shadow = TrailRef::Arn(TrailArn::new("us-east-1", account, "everywhere"));
        assert!(find(&trails, account, "sa-east-1", &shadow).is_some());
    }

    #[test]
    fn status_updates_need_the_trail_and_keep_other_fields() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = Meta::open(dir.path()).expect("meta");
        let stored = trail("t1x", "us-east-1", false, 1);
        let key = stored.key();
        assert!(!update_status(&meta, &key, |s| s.is_logging = true).expect("update"));
        meta.put(TRAILS_TABLE, &key, &stored).expect("put");
        assert!(update_status(&meta, &key, |s| s.is_logging = true).expect("update"));
        assert!(
            update_status(&meta, &key, |s| s.latest_delivery_time_ms = Some(5)).expect("update")
        );
        let current = status(&meta, &key).expect("status");
        assert!(current.is_logging);
        assert_eq!(current.latest_delivery_time_ms, Some(5));
        assert_eq!(current.version, STATUS_FORMAT_VERSION);
        assert_eq!(all_trails(&meta).expect("all"), vec![stored]);
    }

    #[test]
    fn stored_trail_reads_without_optional_members() {
        let text = r#"{"version":1,"name":"t1x","account_id":"123456789012","home_region":"us-east-1",
            "created_ns":7,"s3_bucket_name":"b","include_global_service_events":true,
            "is_multi_region_trail":false,"log_file_validation_enabled":false,"future_field":1}"#;
        let parsed: StoredTrail = serde_json::from_str(text).expect("parse");
        assert_eq!(parsed.selectors, Selectors::Default);
        assert!(parsed.tags.is_empty());
    }
}
