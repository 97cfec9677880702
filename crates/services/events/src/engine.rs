//! [`Engine`]: the in-memory side of EventBridge for one data directory — each bus's rules
//! compiled into one pattern [`Machine`] (rebuilt after a rule changes), and the queue of
//! pending deliveries the dispatcher ([`super::delivery`]) works through.
//!
//! The metadata store stays the source of truth: the machines are a cache of `events-rules`
//! and the queue mirrors `events-pending`. [`route`] turns one event on one bus into the
//! deliveries its matching rules ask for and the copies its archives keep ([`Routed`]);
//! callers write them durably ([`Routed::write`]), then [`Engine::enqueue`] the deliveries.

use std::collections::{BTreeMap, HashMap, HashSet};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use opentrail_core::AppState;
use opentrail_meta::{Meta, MetaError, Txn};
use opentrail_patterns::{Machine, Pattern};
use serde_json::Value;
use tokio::sync::Notify;

use super::archived_events;
use super::envelope;
use super::store::{self, ArchivedEvent, Delivery, StoredRule};

pub const STATE_ENABLED: &str = "ENABLED";
pub const STATE_DISABLED: &str = "DISABLED";
pub const STATE_ALL_MANAGEMENT: &str = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS";

/// The enabled rules of one bus that have a pattern, compiled together.
pub struct BusRules {
    machine: Machine<usize>,
    rules: Vec<StoredRule>,
}

impl BusRules {
    fn build(rules: Vec<StoredRule>) -> BusRules {
        let mut machine = Machine::new();
        let mut kept = Vec::new();
        for rule in rules {
            if rule.state == STATE_DISABLED {
                continue;
            }
            let Some(text) = rule.event_pattern.as_deref() else {
                continue;
            };
            match Pattern::parse(text) {
                Ok(pattern) => {
                    machine.add(kept.len(), &pattern);
                    kept.push(rule);
                }
                Err(err) => {
                    tracing::warn!(rule = %rule.arn(), error = %err, "stored event pattern does not parse; rule skipped");
                }
            }
        }
        BusRules {
            machine,
            rules: kept,
        }
    }

    /// The rules whose pattern matches the event. Read-only management events reach only the
    /// rules in state `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
    /// Whether any rule could match an event: read-only management events reach only rules
    /// in state `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`. Lets callers skip building
    /// the envelope of events no rule will see.
    pub fn may_match(&self, read_only_management: bool) -> bool {
        if read_only_management {
            self.rules
                .iter()
                .any(|rule| rule.state == STATE_ALL_MANAGEMENT)
        } else {
            !self.rules.is_empty()
        }
    }

    pub fn matching(&self, event: &Value, read_only_management: bool) -> Vec<&StoredRule> {
        if self.rules.is_empty() {
            return Vec::new();
        }
        let mut ids = self.machine.matches_for_event(event);
        if let Some(alternate) = envelope::alternate_spelling(event) {
            for id in self.machine.matches_for_event(&alternate) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids.sort_unstable();
        ids.into_iter()
            .map(|id| &self.rules[id])
            .filter(|rule| !read_only_management || rule.state == STATE_ALL_MANAGEMENT)
            .collect()
    }
}

/// Deliveries waiting for their next attempt.
#[derive(Default)]
pub struct Queue {
    pub pending: BTreeMap<String, Delivery>,
    pub in_flight: HashSet<String>,
}

/// The per-data-directory EventBridge engine.
pub struct Engine {
    /// Bumped by every rule change; a machine built from an older generation is not cached.
    generation: AtomicU64,
    buses: Mutex<HashMap<String, Arc<BusRules>>>,
    /// Whether any rule exists, on any bus (`None` until asked after a change).
    any_rules: Mutex<Option<bool>>,
    queue: Mutex<Queue>,
    /// Wakes the dispatcher: new deliveries, or a finished attempt.
    pub notify: Notify,
    /// Wakes the `events-archives` worker: a replay started or was cancelled.
    pub replays: Notify,
    /// Bumped by the development reset; attempts started before it write nothing back.
    epoch: AtomicU64,
    /// The journal seq the journal worker skips to (set by the development reset).
    skip_to: AtomicU64,
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new()
    }
}

impl Engine {
    pub fn new() -> Engine {
        Engine {
            generation: AtomicU64::new(0),
            buses: Mutex::new(HashMap::new()),
            any_rules: Mutex::new(None),
            queue: Mutex::new(Queue::default()),
            notify: Notify::new(),
            replays: Notify::new(),
            epoch: AtomicU64::new(0),
            skip_to: AtomicU64::new(0),
        }
    }

    /// The compiled rules of a bus.
    pub fn bus_rules(
        &self,
        meta: &Meta,
        account: &str,
        region: &str,
        bus: &str,
    ) -> Result<Arc<BusRules>, MetaError> {
        let key = store::bus_key(account, region, bus);
        if let Some(found) = self.lock_buses().get(&key) {
            return Ok(found.clone());
        }
        let generation = self.generation.load(Ordering::Acquire);
        let prefix = format!("{key}/");
        let rules: Vec<StoredRule> = meta
            .list::<StoredRule>(store::RULES, &prefix)?
            .into_iter()
            .map(|(_, rule)| rule)
            .collect();
        let built = Arc::new(BusRules::build(rules));
        let mut buses = self.lock_buses();
        if self.generation.load(Ordering::Acquire) == generation {
            buses.insert(key, built.clone());
        }
        Ok(built)
    }

    /// Forgets the compiled rules (after a rule or its targets changed).
    /// Whether any rule exists on any bus. Without one no event can match, and the worker
    /// moves past the journal without reading it.
    pub fn has_rules(&self, meta: &Meta) -> Result<bool, MetaError> {
        if let Some(known) = *self.lock_any_rules() {
            return Ok(known);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let any = !meta.list::<StoredRule>(store::RULES, "")?.is_empty();
        let mut cached = self.lock_any_rules();
        if self.generation.load(Ordering::Acquire) == generation {
            *cached = Some(any);
        }
        Ok(any)
    }

    pub fn rules_changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.lock_buses().clear();
        *self.lock_any_rules() = None;
    }

    fn lock_any_rules(&self) -> MutexGuard<'_, Option<bool>> {
        self.any_rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues deliveries that are already durable in `events-pending`.
    pub fn enqueue(&self, deliveries: Vec<Delivery>) {
        if deliveries.is_empty() {
            return;
        }
        let mut queue = self.lock_queue();
        for delivery in deliveries {
            queue.pending.insert(delivery.id.clone(), delivery);
        }
        drop(queue);
        self.notify.notify_one();
    }

    pub fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_buses(&self) -> MutexGuard<'_, HashMap<String, Arc<BusRules>>> {
        self.buses.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn skip_to(&self) -> u64 {
        self.skip_to.load(Ordering::Acquire)
    }

    /// Drops everything in memory (the metadata store was cleared) and makes the journal
    /// worker skip the records written so far.
    pub fn reset(&self, journal_last_seq: u64) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.skip_to.fetch_max(journal_last_seq, Ordering::AcqRel);
        self.rules_changed();
        let mut queue = self.lock_queue();
        queue.pending.clear();
        drop(queue);
        self.notify.notify_one();
    }
}

/// The engine of a server (one per [`AppState`], shared by every handler and worker).
pub fn engine_for(state: &AppState) -> Arc<Engine> {
    state.extensions.get_or_init(Engine::new)
}

/// What one event on one bus asks for: deliveries to targets, and copies for archives.
#[derive(Debug, Clone, Default)]
pub struct Routed {
    pub deliveries: Vec<Delivery>,
    /// `(event id, archived event)`.
    pub archived: Vec<(String, ArchivedEvent)>,
}

impl Routed {
    pub fn is_empty(&self) -> bool {
        self.deliveries.is_empty() && self.archived.is_empty()
    }

    pub fn extend(&mut self, other: Routed) {
        self.deliveries.extend(other.deliveries);
        self.archived.extend(other.archived);
    }

    /// Writes the deliveries (`events-pending`) and the archived events in `txn`.
    pub fn write(&self, txn: &mut Txn<'_>) -> Result<(), MetaError> {
        for delivery in &self.deliveries {
            txn.put(store::PENDING, &delivery.id, delivery)?;
        }
        archived_events::append(txn, &self.archived)
    }
}

/// The deliveries one event on one bus asks for (one per target of each matching rule), and
/// its copies for the archives whose managed rule matches. A replayed event (with
/// `replay-name`) is never archived again.
pub fn route(
    meta: &Meta,
    engine: &Engine,
    (account, region, bus): (&str, &str, &str),
    event: &Value,
    read_only_management: bool,
    now_ms: i64,
) -> Result<Routed, MetaError> {
    let rules = engine.bus_rules(meta, account, region, bus)?;
    let matching = rules.matching(event, read_only_management);
    let mut routed = Routed::default();
    if matching.is_empty() {
        return Ok(routed);
    }
    let event_id = event.get("id").and_then(Value::as_str).unwrap_or("");
    let replayed = event.get("replay-name").is_some();
    let event_text = event.to_string();
    for rule in matching {
        if let Some(archive) = &rule.archive {
            if !replayed {
                routed.archived.push((
                    event_id.to_owned(),
                    ArchivedEvent {
                        version: store::FORMAT_VERSION,
                        archive: store::archive_key(account, region, archive),
                        event: event_text.clone(),
                        time_ms: archived_events::event_time_ms(event).unwrap_or(now_ms),
                        ingested_ms: now_ms,
                    },
                ));
            }
            continue;
        }
        let rule_arn = rule.arn();
        for target in &rule.targets {
            let target_id = target.get("Id").and_then(Value::as_str).unwrap_or("");
            routed.deliveries.push(Delivery {
                version: store::FORMAT_VERSION,
                id: envelope::stable_id(&format!("{event_id}\n{rule_arn}\n{target_id}")),
                event: event_text.clone(),
                rule_arn: rule_arn.clone(),
                rule_name: rule.name.clone(),
                target: target.clone(),
                attempts: 0,
                first_ms: now_ms,
                next_ms: now_ms,
            });
        }
    }
    Ok(routed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(name: &str, state: &str, pattern: &str, targets: usize) -> StoredRule {
        StoredRule {
            version: store::FORMAT_VERSION,
            account: "123456789012".into(),
            region: "us-east-1".into(),
            bus: store::DEFAULT_BUS.into(),
            name: name.into(),
            event_pattern: Some(pattern.into()),
            schedule: None,
            state: state.into(),
            description: None,
            role_arn: None,
            managed_by: None,
            archive: None,
            created_by: "123456789012".into(),
            tags: Vec::new(),
            targets: (0..targets)
                .map(|i| json!({"Id": format!("t{i}"), "Arn": "arn:aws:sqs:us-east-1:123456789012:q"}))
                .collect(),
        }
    }

    #[test]
    fn states_decide_which_rules_see_an_event() {
        let pattern = r#"{"source": ["aws.s3"]}"#;
        let rules = BusRules::build(vec![
            rule("enabled", STATE_ENABLED, pattern, 1),
            rule("disabled", STATE_DISABLED, pattern, 1),
            rule("all", STATE_ALL_MANAGEMENT, pattern, 1),
            rule("other", STATE_ENABLED, r#"{"source": ["aws.ec2"]}"#, 1),
        ]);
        let event = json!({"source": "aws.s3", "detail-type": envelope::API_CALL});
        let names = |read_only: bool| -> Vec<String> {
            rules
                .matching(&event, read_only)
                .into_iter()
                .map(|r| r.name.clone())
                .collect()
        };
        assert_eq!(names(false), vec!["enabled", "all"]);
        assert_eq!(names(true), vec!["all"]);
    }

    #[test]
    fn either_sign_in_spelling_matches() {
        let rules = BusRules::build(vec![rule(
            "signin",
            STATE_ENABLED,
            r#"{"detail-type": ["AWS Console Sign In via CloudTrail"]}"#,
            1,
        )]);
        let event = json!({"detail-type": envelope::CONSOLE_SIGNIN});
        assert_eq!(rules.matching(&event, false).len(), 1);
    }
}
