//! Digest files: for each trail with log file validation and each region it delivers in, one
//! signed digest per `digest_interval` (even with no log files), chained to the previous one.
//!
//! A digest chain starts when logging starts or validation is turned on (the first digest has
//! `previous*` = `null`) and ends with a final digest when logging stops, validation is turned
//! off or the trail is deleted. The final digest waits until delivery has passed every record
//! written before the stop was seen, so it lists the last log files.
//!
//! # Tables (format version 1)
//! `delivery-digests`, key `<trail key>|<region>` → [`DigestState`]: where the chain is, the
//! log files delivered since the last digest, and the end time of a digest being written (so a
//! digest redone after a crash gets the same key).
//!
//! Digests go where log files go ([`crate::delivery_target`]), always with SSE-S3 (CloudTrail
//! encrypts digests with SSE-S3 even for trails with a KMS key).
//!
//! Digests are written by the delivery worker's thread only, after its delivery round; the log
//! files come in through [`add_log_file`] inside the delivery commit.

use std::collections::HashMap;

use opentrail_delivery::digest::{
    DigestInput, DigestLogFile, PreviousDigest, SIGNATURE_ALGORITHM, sha256_hex,
};
use opentrail_delivery::logfile;
use opentrail_meta::{MetaError, Txn};
use opentrail_objects::PutOptions;
use serde::{Deserialize, Serialize};

use super::error::DeliveryError;
use super::keys;
use crate::delivery_target;
use crate::store::{self, StoredTrail, TrailStatus};
use opentrail_core::AppState;

pub const DIGESTS_TABLE: &str = "delivery-digests";
pub const FORMAT_VERSION: u32 = 1;

/// Where a chain is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Active,
    /// Stop seen at `since_ms`. A little later (so that the calls that stopped the chain
    /// are in the journal) the journal's end becomes `after_seq`; the final digest is written
    /// once delivery has passed it.
    Stopping {
        since_ms: i64,
        after_seq: Option<u64>,
    },
}

/// How long after a stop the journal's end is taken as the last record of the chain.
const STOP_SETTLE_MS: i64 = 1500;

/// One (trail, region) digest chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestState {
    pub version: u32,
    pub trail_key: String,
    pub trail_name: String,
    /// The account whose files the chain covers (an organization trail has one chain per
    /// account and region).
    pub account_id: String,
    /// The organization of an organization trail's chain (its keys go under
    /// `AWSLogs/<organization id>/<account>/`).
    #[serde(default)]
    pub organization_id: Option<String>,
    pub home_region: String,
    pub region: String,
    pub bucket: String,
    #[serde(default)]
    pub prefix: Option<String>,
    pub phase: Phase,
    /// `digestStartTime` of the next digest.
    pub start_ms: i64,
    #[serde(default)]
    pub previous: Option<PreviousDigest>,
    /// Log files delivered since the last digest.
    #[serde(default)]
    pub pending: Vec<DigestLogFile>,
    /// The end time of a digest being written.
    #[serde(default)]
    pub in_flight_end_ms: Option<i64>,
}

/// The row of the chain of (trail, region), or of (trail, region, account) for an
/// organization trail.
fn row_key(trail_key: &str, region: &str, account: Option<&str>) -> String {
    match account {
        Some(account) => format!("{trail_key}|{region}|{account}"),
        None => format!("{trail_key}|{region}"),
    }
}

/// The account a trail's chain for `account`'s files is kept under: the account itself for an
/// organization trail, none (the trail's own) otherwise.
pub fn chain_account<'a>(trail: &StoredTrail, account: &'a str) -> Option<&'a str> {
    trail.is_organization_trail.then_some(account)
}

fn wants_digests(trail: &StoredTrail, status: &TrailStatus) -> bool {
    trail.log_file_validation_enabled && status.is_logging
}

fn new_state(trail: &StoredTrail, account: &str, region: &str, start_ms: i64) -> DigestState {
    DigestState {
        version: FORMAT_VERSION,
        trail_key: trail.key(),
        trail_name: trail.name.clone(),
        account_id: account.to_owned(),
        organization_id: trail
            .organization_id
            .clone()
            .filter(|_| trail.is_organization_trail),
        home_region: trail.home_region.clone(),
        region: region.to_owned(),
        bucket: trail.s3_bucket_name.clone(),
        prefix: trail.s3_key_prefix.clone(),
        phase: Phase::Active,
        start_ms,
        previous: None,
        pending: Vec::new(),
        in_flight_end_ms: None,
    }
}

/// Adds a delivered log file to the open chain of (trail, region) — of (trail, region,
/// account) for an organization trail's files of `account` — inside the delivery's commit. A
/// region (or account) seen for the first time starts its own chain when the trail has digests
/// on; files delivered with no chain open are in no digest.
pub fn add_log_file(
    txn: &mut Txn<'_>,
    trail_key: &str,
    trail: Option<&StoredTrail>,
    account: Option<&str>,
    region: &str,
    file: DigestLogFile,
    delivered_ms: i64,
) -> Result<(), MetaError> {
    let row = row_key(trail_key, region, account);
    let mut state = match txn.get::<DigestState>(DIGESTS_TABLE, &row)? {
        Some(state) => state,
        None => {
            let Some(trail) = trail else {
                return Ok(());
            };
            let status = txn
                .get::<TrailStatus>(store::STATUS_TABLE, trail_key)?
                .unwrap_or_else(TrailStatus::new);
            if !wants_digests(trail, &status) {
                return Ok(());
            }
            let start = status
                .start_logging_time_ms
                .unwrap_or(delivered_ms)
                .min(delivered_ms);
            new_state(trail, account.unwrap_or(&trail.account_id), region, start)
        }
    };
    state.pending.push(file);
    txn.put(DIGESTS_TABLE, &row, &state)
}

/// Starts, ends and writes digests that are due. `positions` are the trails' delivery
/// positions.
pub fn round(state: &AppState, positions: &HashMap<String, u64>) -> Result<(), DeliveryError> {
    let trails: HashMap<String, StoredTrail> = store::all_trails(&state.meta)?
        .into_iter()
        .map(|trail| (trail.key(), trail))
        .collect();
    let mut statuses = HashMap::new();
    for key in trails.keys() {
        statuses.insert(key.clone(), store::status(&state.meta, key)?);
    }
    let now = opentrail_model::time::now_ms();
    let mut rows: HashMap<String, DigestState> =
        state.meta.list(DIGESTS_TABLE, "")?.into_iter().collect();

    // Chains start in the home region as soon as logging with validation is on.
    for (key, trail) in &trails {
        let row = row_key(
            key,
            &trail.home_region,
            chain_account(trail, &trail.account_id),
        );
        if wants_digests(trail, &statuses[key]) && !rows.contains_key(&row) {
            let fresh = new_state(trail, &trail.account_id, &trail.home_region, now);
            state.meta.put(DIGESTS_TABLE, &row, &fresh)?;
            tracing::info!(
                trail = key,
                region = trail.home_region,
                "digest chain started"
            );
            rows.insert(row, fresh);
        }
    }

    let interval_ms = i64::try_from(state.config.digest_interval.as_millis()).unwrap_or(i64::MAX);
    let mut first_error = None;
    for (row, mut chain) in rows {
        let trail = trails.get(&chain.trail_key);
        let on = trail.is_some_and(|trail| wants_digests(trail, &statuses[&chain.trail_key]));
        if chain.phase == Phase::Active && !on {
            chain.phase = Phase::Stopping {
                since_ms: now,
                after_seq: None,
            };
            state.meta.put(DIGESTS_TABLE, &row, &chain)?;
        }
        if let Phase::Stopping {
            since_ms,
            after_seq: None,
        } = chain.phase
            && now >= since_ms + STOP_SETTLE_MS
        {
            chain.phase = Phase::Stopping {
                since_ms,
                after_seq: Some(state.journal.last_seq()),
            };
            state.meta.put(DIGESTS_TABLE, &row, &chain)?;
        }
        if let Some(trail) = trail
            && on
            && (chain.bucket != trail.s3_bucket_name || chain.prefix != trail.s3_key_prefix)
        {
            chain.bucket = trail.s3_bucket_name.clone();
            chain.prefix = trail.s3_key_prefix.clone();
            state.meta.put(DIGESTS_TABLE, &row, &chain)?;
        }
        let (due, last) = match chain.phase {
            Phase::Active => (now >= chain.start_ms + interval_ms, false),
            Phase::Stopping { after_seq, .. } => {
                let delivered = match (trail, after_seq) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(_), Some(after_seq)) => positions
                        .get(&chain.trail_key)
                        .is_some_and(|position| *position >= after_seq),
                };
                (delivered, true)
            }
        };
        if !due {
            continue;
        }
        match write_digest(state, &row, &mut chain, now, last) {
            Ok(()) => {
                if trail.is_some() {
                    store::update_status(&state.meta, &chain.trail_key, |status| {
                        status.latest_digest_delivery_time_ms = Some(now);
                        status.latest_digest_delivery_error = None;
                    })?;
                }
            }
            Err(err) => {
                tracing::warn!(trail = chain.trail_key, region = chain.region, error = %err, "digest delivery failed; will retry");
                if trail.is_some() {
                    let code = err.status_code();
                    store::update_status(&state.meta, &chain.trail_key, |status| {
                        status.latest_digest_delivery_error = Some(code);
                    })?;
                }
                first_error.get_or_insert(err);
            }
        }
    }
    match first_error {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// Writes the next digest of `chain` and moves the chain on (or ends it when `last`).
fn write_digest(
    state: &AppState,
    row: &str,
    chain: &mut DigestState,
    now: i64,
    last: bool,
) -> Result<(), DeliveryError> {
    let end_ms = match chain.in_flight_end_ms {
        Some(end_ms) => end_ms,
        None => {
            // Keys have whole seconds: keep each digest at least a second after the last.
            let end_ms = now.max(chain.start_ms + 1000);
            chain.in_flight_end_ms = Some(end_ms);
            state.meta.put(DIGESTS_TABLE, row, &*chain)?;
            end_ms
        }
    };
    super::error::check_bucket(state, &chain.bucket)?;
    let (stored_key, signing_key) = keys::signing_key(&state.meta, &chain.region, now)?;
    let key = logfile::digest_key(
        chain.prefix.as_deref(),
        chain.organization_id.as_deref(),
        &chain.account_id,
        &chain.region,
        &chain.trail_name,
        &chain.home_region,
        end_ms,
    );
    let included = chain.pending.len();
    let input = DigestInput {
        account_id: chain.account_id.clone(),
        start_ms: chain.start_ms,
        end_ms,
        bucket: chain.bucket.clone(),
        key: key.clone(),
        fingerprint: stored_key.fingerprint.clone(),
        previous: chain.previous.clone(),
        log_files: chain.pending.clone(),
    };
    let document = input.to_json();
    let signature = hex::encode(signing_key.sign(input.string_to_sign(&document).as_bytes())?);
    let mut options = PutOptions {
        content_type: Some("application/x-gzip".into()),
        sse: Some(delivery_target::digest_encryption()),
        ..PutOptions::default()
    };
    options
        .user_metadata
        .insert("signature".into(), signature.clone());
    options
        .user_metadata
        .insert("signature-algorithm".into(), SIGNATURE_ALGORITHM.into());
    let packed = logfile::gzip(&document)?;
    state
        .delivery_store()
        .put(&chain.bucket, &key, &packed, &options)
        .map_err(|source| DeliveryError::Store {
            bucket: chain.bucket.clone(),
            source,
        })?;
    chain.previous = Some(PreviousDigest {
        bucket: chain.bucket.clone(),
        key: key.clone(),
        hash_value: sha256_hex(&document),
        signature,
    });
    chain.pending.drain(..included);
    chain.start_ms = end_ms;
    chain.in_flight_end_ms = None;
    if last {
        state.meta.delete(DIGESTS_TABLE, row)?;
        tracing::info!(
            trail = chain.trail_key,
            region = chain.region,
            key,
            "final digest written"
        );
    } else {
        state.meta.put(DIGESTS_TABLE, row, &*chain)?;
        tracing::debug!(
            trail = chain.trail_key,
            region = chain.region,
            key,
            "digest written"
        );
    }
    Ok(())
}
