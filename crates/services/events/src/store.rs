//! How EventBridge state lives in the metadata store.
//!
//! # Tables (every value carries its `version`, format 1)
//! - `events-buses`, key `<account>/<region>/<name>` → [`StoredBus`]: custom buses, and the
//!   default bus once something (a permission, tags) was written to it; the default bus exists
//!   without an entry.
//! - `events-rules`, key `<account>/<region>/<bus>/<name>` → [`StoredRule`]: the rule with its
//!   targets (as the caller gave them) and tags.
//! - `events-connections`, `events-api-destinations`, key `<account>/<region>/<name>`.
//! - `events-pending`, key = delivery id → [`Delivery`]: one matched event for one target,
//!   written before the event is acknowledged (PutEvents) or before the journal position moves
//!   past it, removed once delivered or dead-lettered.
//! - `events-position`, key `journal` → the last journal seq whose matches are in
//!   `events-pending` (written in the same transaction as those deliveries).
//! - `events-archives`, key `<account>/<region>/<name>` → [`StoredArchive`]. Each archive
//!   has a managed rule on its bus (`Events-Archive-<name>`, [`StoredRule::archive`] set), so
//!   archiving is routing: the rule matches like any other.
//! - `events-archive-events`, key `<account>/<region>/<archive>/<time ms, 20 digits>/<event
//!   id>` → [`ArchivedEvent`]: ordered by event time within an archive, so that a replay
//!   window and the retention cut are key ranges. Written in the same transaction as the
//!   deliveries of the event (PutEvents) or the journal position (the `events` worker).
//! - `events-archive-stats`, key = archive key → [`ArchiveStats`] (EventCount, SizeBytes),
//!   moved in the transactions that add or drop archived events.
//! - `events-replays`, key `<account>/<region>/<name>` → [`StoredReplay`]: the replay with
//!   its progress (the last archived event key replayed), written with the deliveries of
//!   each replayed page.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const BUSES: &str = "events-buses";
pub const RULES: &str = "events-rules";
pub const CONNECTIONS: &str = "events-connections";
pub const DESTINATIONS: &str = "events-api-destinations";
pub const PENDING: &str = "events-pending";
pub const POSITION: &str = "events-position";
pub const POSITION_KEY: &str = "journal";
pub const ARCHIVES: &str = "events-archives";
pub const ARCHIVE_EVENTS: &str = "events-archive-events";
pub const ARCHIVE_STATS: &str = "events-archive-stats";
pub const REPLAYS: &str = "events-replays";
/// The format of every value this build writes.
pub const FORMAT_VERSION: u32 = 1;
pub const DEFAULT_BUS: &str = "default";

/// `Key` / `Value` as the API spells them.
pub use opentrail_core::tags::Tag;

/// An event bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredBus {
    pub version: u32,
    pub account: String,
    pub region: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub kms_key: Option<String>,
    #[serde(default)]
    pub dead_letter: Option<Value>,
    /// The resource policy document.
    #[serde(default)]
    pub policy: Option<Value>,
    pub created_ms: i64,
    pub modified_ms: i64,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl StoredBus {
    pub fn new(account: &str, region: &str, name: &str, now_ms: i64) -> StoredBus {
        StoredBus {
            version: FORMAT_VERSION,
            account: account.to_owned(),
            region: region.to_owned(),
            name: name.to_owned(),
            description: None,
            kms_key: None,
            dead_letter: None,
            policy: None,
            created_ms: now_ms,
            modified_ms: now_ms,
            tags: Vec::new(),
        }
    }

    pub fn arn(&self) -> String {
        bus_arn(&self.account, &self.region, &self.name)
    }
}

pub fn bus_arn(account: &str, region: &str, name: &str) -> String {
    format!("arn:aws:events:{region}:{account}:event-bus/{name}")
}

pub fn bus_key(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}")
}

/// A rule with its targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRule {
    pub version: u32,
    pub account: String,
    pub region: String,
    pub bus: String,
    pub name: String,
    #[serde(default)]
    pub event_pattern: Option<String>,
    #[serde(default)]
    pub schedule: Option<String>,
    /// `ENABLED`, `DISABLED` or `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
    pub state: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub managed_by: Option<String>,
    /// The archive (its name) this managed rule feeds; its matches are archived, not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
    pub created_by: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// The targets as PutTargets received them (API shape), in the order first added.
    #[serde(default)]
    pub targets: Vec<Value>,
}

impl StoredRule {
    pub fn arn(&self) -> String {
        rule_arn(&self.account, &self.region, &self.bus, &self.name)
    }

    pub fn key(&self) -> String {
        rule_key(&self.account, &self.region, &self.bus, &self.name)
    }
}

pub fn rule_arn(account: &str, region: &str, bus: &str, name: &str) -> String {
    if bus == DEFAULT_BUS {
        format!("arn:aws:events:{region}:{account}:rule/{name}")
    } else {
        format!("arn:aws:events:{region}:{account}:rule/{bus}/{name}")
    }
}

pub fn rule_key(account: &str, region: &str, bus: &str, name: &str) -> String {
    format!("{account}/{region}/{bus}/{name}")
}

/// A connection (the authorization of API destinations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub version: u32,
    pub account: String,
    pub region: String,
    pub name: String,
    pub uuid: String,
    #[serde(default)]
    pub description: Option<String>,
    pub authorization_type: String,
    /// The parameters as given, secrets included.
    pub auth_parameters: Value,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub state: String,
}

impl Connection {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:events:{}:{}:connection/{}/{}",
            self.region, self.account, self.name, self.uuid
        )
    }
}

/// An API destination (an HTTP endpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiDestination {
    pub version: u32,
    pub account: String,
    pub region: String,
    pub name: String,
    pub uuid: String,
    #[serde(default)]
    pub description: Option<String>,
    pub connection_arn: String,
    pub endpoint: String,
    pub method: String,
    #[serde(default)]
    pub rate_limit: Option<i64>,
    pub created_ms: i64,
    pub modified_ms: i64,
}

impl ApiDestination {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:events:{}:{}:api-destination/{}/{}",
            self.region, self.account, self.name, self.uuid
        )
    }
}

/// One matched event on its way to one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub version: u32,
    pub id: String,
    /// The event as the rule matched it (JSON text).
    pub event: String,
    pub rule_arn: String,
    pub rule_name: String,
    /// The target as configured when the event matched.
    pub target: Value,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the event was matched (its ingestion time).
    pub first_ms: i64,
    /// When the next attempt is due.
    pub next_ms: i64,
}

/// An archive of the events of one bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredArchive {
    pub version: u32,
    pub account: String,
    pub region: String,
    pub name: String,
    /// The ARN of the source bus, as the caller gave it.
    pub source_arn: String,
    /// The name of the source bus.
    pub bus: String,
    #[serde(default)]
    pub event_pattern: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// 0 keeps events indefinitely.
    #[serde(default)]
    pub retention_days: u32,
    #[serde(default)]
    pub kms_key: Option<String>,
    pub created_ms: i64,
}

impl StoredArchive {
    pub fn arn(&self) -> String {
        archive_arn(&self.account, &self.region, &self.name)
    }

    pub fn key(&self) -> String {
        archive_key(&self.account, &self.region, &self.name)
    }
}

pub fn archive_arn(account: &str, region: &str, name: &str) -> String {
    format!("arn:aws:events:{region}:{account}:archive/{name}")
}

pub fn archive_key(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}")
}

/// The first key of an archive's events at or after `time_ms`.
pub fn archive_time_key(archive_key: &str, time_ms: i64) -> String {
    format!("{archive_key}/{:020}/", time_ms.max(0))
}

/// One archived event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedEvent {
    pub version: u32,
    /// The archive's key (`<account>/<region>/<name>`).
    pub archive: String,
    /// The event as it entered the bus (JSON text).
    pub event: String,
    /// The event's `time`, in epoch milliseconds.
    pub time_ms: i64,
    /// When the bus received it.
    pub ingested_ms: i64,
}

impl ArchivedEvent {
    pub fn key(&self, event_id: &str) -> String {
        format!(
            "{}{event_id}",
            archive_time_key(&self.archive, self.time_ms)
        )
    }
}

/// EventCount and SizeBytes of one archive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArchiveStats {
    pub version: u32,
    pub count: u64,
    pub bytes: u64,
}

/// A replay and its progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredReplay {
    pub version: u32,
    pub account: String,
    pub region: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The archive ARN (`EventSourceArn`).
    pub source_arn: String,
    /// The archive's key.
    pub archive: String,
    /// `Destination` as given (`Arn`, optional `FilterArns`).
    pub destination: Value,
    pub event_start_ms: i64,
    pub event_end_ms: i64,
    /// `STARTING`, `RUNNING`, `CANCELLING`, `COMPLETED`, `CANCELLED` or `FAILED`.
    pub state: String,
    #[serde(default)]
    pub state_reason: Option<String>,
    pub replay_start_ms: i64,
    #[serde(default)]
    pub replay_end_ms: Option<i64>,
    #[serde(default)]
    pub last_replayed_ms: Option<i64>,
    /// The key of the last archived event replayed.
    #[serde(default)]
    pub position: Option<String>,
}

impl StoredReplay {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:events:{}:{}:replay/{}",
            self.region, self.account, self.name
        )
    }

    pub fn key(&self) -> String {
        archive_key(&self.account, &self.region, &self.name)
    }
}
