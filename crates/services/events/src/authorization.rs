//! What authorization sees of an EventBridge call: the buses and rules it acts on (their
//! ARNs), the bus policy that also decides it (the policy `PutPermission` keeps), and the tags
//! behind `aws:ResourceTag/*` (the bus's or rule's) and `aws:RequestTag/*` (the call's).
//!
//! A call names its bus by name or ARN; PutEvents names one per entry (the default bus when an
//! entry names none). A call naming a bus that does not exist is authorized as the bus it names
//! would be, with no policy and no tags: the handler then answers that it does not exist.

use std::sync::Arc;

use opentrail_core::access::ResourcePolicy;
use opentrail_core::context::RequestContext;
use opentrail_meta::Meta;
use serde_json::{Value, json};

use super::ops::{BusRef, parse_bus};
use super::store::{self, DEFAULT_BUS, StoredBus, StoredRule, Tag};

/// What a call acts on, as authorization sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Bus(BusRef),
    /// A rule on a bus, by name.
    Rule(BusRef, String),
}

impl Target {
    pub fn arn(&self) -> String {
        match self {
            Target::Bus(bus) => bus.arn(),
            Target::Rule(bus, name) => store::rule_arn(&bus.account, &bus.region, &bus.name, name),
        }
    }

    fn bus(&self) -> &BusRef {
        match self {
            Target::Bus(bus) | Target::Rule(bus, _) => bus,
        }
    }
}

/// The buses and rules call `name` acts on (none for the calls on neither).
pub fn targets(ctx: &RequestContext, name: &str, input: &Value) -> Vec<Target> {
    let bus_named = |member: &str| -> Option<BusRef> {
        match input.get(member).and_then(Value::as_str) {
            Some(text) if !text.is_empty() => parse_bus(text, &ctx.account_id, &ctx.region).ok(),
            _ => Some(BusRef {
                account: ctx.account_id.clone(),
                region: ctx.region.clone(),
                name: DEFAULT_BUS.to_owned(),
            }),
        }
    };
    let rule_named = || -> Option<Target> {
        let rule = input.get("Rule").or_else(|| input.get("Name"));
        let rule = rule
            .and_then(Value::as_str)
            .filter(|rule| !rule.is_empty())?;
        Some(Target::Rule(bus_named("EventBusName")?, rule.to_owned()))
    };
    match name {
        "PutEvents" => {
            let mut buses: Vec<Target> = Vec::new();
            let entries = input.get("Entries").and_then(Value::as_array);
            for entry in entries.into_iter().flatten() {
                let bus = match entry.get("EventBusName").and_then(Value::as_str) {
                    Some(text) if !text.is_empty() => {
                        match parse_bus(text, &ctx.account_id, &ctx.region) {
                            Ok(bus) => bus,
                            Err(_) => continue,
                        }
                    }
                    _ => BusRef {
                        account: ctx.account_id.clone(),
                        region: ctx.region.clone(),
                        name: DEFAULT_BUS.to_owned(),
                    },
                };
                let target = Target::Bus(bus);
                if !buses.contains(&target) {
                    buses.push(target);
                }
            }
            buses
        }
        "DescribeEventBus" | "DeleteEventBus" | "UpdateEventBus" => {
            bus_named("Name").map(Target::Bus).into_iter().collect()
        }
        "PutRule" | "DescribeRule" | "DeleteRule" | "EnableRule" | "DisableRule" | "PutTargets"
        | "RemoveTargets" | "ListTargetsByRule" => rule_named().into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The policies of the buses `targets` are on, as one resource policy: their statements
/// together (each names its bus in its `Resource`), owned by the first bus's account.
pub fn bus_policy(meta: &Meta, targets: &[Target]) -> Option<ResourcePolicy> {
    let mut statements = Vec::new();
    let mut owner = None;
    let mut seen: Vec<&BusRef> = Vec::new();
    for target in targets {
        let bus = target.bus();
        if seen.contains(&bus) {
            continue;
        }
        seen.push(bus);
        let Ok(Some(stored)) = meta.get::<StoredBus>(store::BUSES, &bus.key()) else {
            continue;
        };
        let Some(policy) = stored.policy else {
            continue;
        };
        match policy.get("Statement") {
            Some(Value::Array(items)) => statements.extend(items.iter().cloned()),
            Some(one @ Value::Object(_)) => statements.push(one.clone()),
            _ => continue,
        }
        owner.get_or_insert(stored.account);
    }
    let account_id = owner?;
    let document = json!({"Version": "2012-10-17", "Statement": statements});
    Some(ResourcePolicy {
        document: Arc::from(document.to_string()),
        account_id,
    })
}

/// The tags of what call `name` acts on: its bus's or rule's, or those of the bus or rule a
/// tagging call names by `ResourceARN`.
pub fn resource_tags(
    meta: &Meta,
    ctx: &RequestContext,
    name: &str,
    input: &Value,
) -> Vec<(String, String)> {
    let by_arn = input
        .get("ResourceARN")
        .and_then(Value::as_str)
        .and_then(|arn| target_of_arn(arn, ctx));
    let targets = match by_arn {
        Some(target) => vec![target],
        None => targets(ctx, name, input),
    };
    let mut tags = Vec::new();
    for target in &targets {
        let stored: Vec<Tag> = match target {
            Target::Bus(bus) => meta
                .get::<StoredBus>(store::BUSES, &bus.key())
                .ok()
                .flatten()
                .map(|bus| bus.tags)
                .unwrap_or_default(),
            Target::Rule(bus, rule) => {
                let key = store::rule_key(&bus.account, &bus.region, &bus.name, rule);
                meta.get::<StoredRule>(store::RULES, &key)
                    .ok()
                    .flatten()
                    .map(|rule| rule.tags)
                    .unwrap_or_default()
            }
        };
        tags.extend(stored.into_iter().map(|tag| (tag.key, tag.value)));
    }
    tags
}

/// The tags call `name` sets (CreateEventBus, PutRule, TagResource).
pub fn request_tags(name: &str, input: &Value) -> Vec<(String, String)> {
    match name {
        "CreateEventBus" | "PutRule" | "TagResource" => {
            opentrail_core::pipeline::input::tags(input, "Tags")
        }
        _ => Vec::new(),
    }
}

/// The bus or rule an `arn:aws:events:…:event-bus/<name>` or `…:rule/[<bus>/]<name>` names.
fn target_of_arn(arn: &str, ctx: &RequestContext) -> Option<Target> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if service != "events" {
        return None;
    }
    let bus = |name: &str| BusRef {
        account: if account.is_empty() {
            &ctx.account_id
        } else {
            account
        }
        .to_owned(),
        region: if region.is_empty() {
            &ctx.region
        } else {
            region
        }
        .to_owned(),
        name: name.to_owned(),
    };
    if let Some(name) = resource.strip_prefix("event-bus/") {
        return Some(Target::Bus(bus(name)));
    }
    let rule = resource.strip_prefix("rule/")?;
    Some(match rule.split_once('/') {
        Some((on, name)) => Target::Rule(bus(on), name.to_owned()),
        None => Target::Rule(bus(DEFAULT_BUS), rule.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RequestContext {
        RequestContext {
            account_id: "123456789012".into(),
            ..RequestContext::for_tests("us-east-1")
        }
    }

    #[test]
    fn put_events_acts_on_each_bus_its_entries_name_once() {
        let input = json!({"Entries": [
            {"Source": "s", "EventBusName": "b"},
            {"Source": "s", "EventBusName": "arn:aws:events:us-east-1:123456789012:event-bus/b"},
            {"Source": "s"},
        ]});
        let arns: Vec<String> = targets(&ctx(), "PutEvents", &input)
            .iter()
            .map(Target::arn)
            .collect();
        assert_eq!(
            arns,
            vec![
                "arn:aws:events:us-east-1:123456789012:event-bus/b",
                "arn:aws:events:us-east-1:123456789012:event-bus/default",
            ]
        );
    }

    #[test]
    fn rule_calls_act_on_the_rule_of_their_bus() {
        let input = json!({"Name": "r", "EventBusName": "b"});
        let arns: Vec<String> = targets(&ctx(), "PutRule", &input)
            .iter()
            .map(Target::arn)
            .collect();
        assert_eq!(arns, vec!["arn:aws:events:us-east-1:123456789012:rule/b/r"]);
        let input = json!({"Rule": "r", "Targets": []});
        let arns: Vec<String> = targets(&ctx(), "PutTargets", &input)
            .iter()
            .map(Target::arn)
            .collect();
        assert_eq!(arns, vec!["arn:aws:events:us-east-1:123456789012:rule/r"]);
        assert!(targets(&ctx(), "ListEventBuses", &input).is_empty());
    }

    #[test]
    fn tagging_arns_name_buses_and_rules() {
        let ctx = ctx();
        assert_eq!(
            target_of_arn("arn:aws:events:us-east-1:123456789012:rule/b/r", &ctx),
            Some(Target::Rule(
                BusRef {
                    account: "123456789012".into(),
                    region: "us-east-1".into(),
                    name: "b".into()
                },
                "r".into()
            ))
        );
        assert!(matches!(
            target_of_arn("arn:aws:events:us-east-1:123456789012:event-bus/b", &ctx),
            Some(Target::Bus(bus)) if bus.name == "b"
        ));
        assert_eq!(target_of_arn("arn:aws:sqs:us-east-1:1:q", &ctx), None);
    }

    #[test]
    fn the_policies_of_the_named_buses_are_one_resource_policy_with_their_tags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = Meta::open(dir.path()).expect("open");
        let ctx = ctx();
        let statement = |sid: &str| json!({"Sid": sid, "Effect": "Deny", "Principal": "*", "Action": "events:PutEvents", "Resource": "*"});
        for (name, sid) in [("a", "one"), ("b", "two")] {
            let mut bus = StoredBus::new(&ctx.account_id, &ctx.region, name, 0);
            bus.policy = Some(json!({"Version": "2012-10-17", "Statement": [statement(sid)]}));
            bus.tags = vec![Tag {
                key: "env".into(),
                value: name.into(),
            }];
            let key = store::bus_key(&ctx.account_id, &ctx.region, name);
            meta.put(store::BUSES, &key, &bus).expect("put");
        }
        let input = json!({"Entries": [{"EventBusName": "a"}, {"EventBusName": "b"}, {}]});
        let found = targets(&ctx, "PutEvents", &input);
        let policy = bus_policy(&meta, &found).expect("a policy");
        assert_eq!(policy.account_id, ctx.account_id);
        let document: Value = serde_json::from_str(&policy.document).expect("json");
        assert_eq!(
            document["Statement"],
            json!([statement("one"), statement("two")])
        );
        let default_only = targets(&ctx, "PutEvents", &json!({"Entries": [{}]}));
        assert!(bus_policy(&meta, &default_only).is_none());
        let describe = json!({"Name": "b"});
        assert_eq!(
            resource_tags(&meta, &ctx, "DescribeEventBus", &describe),
            vec![("env".to_owned(), "b".to_owned())]
        );
    }

    #[test]
    fn the_tags_a_call_sets_are_its_request_tags() {
        let input = json!({"Name": "b", "Tags": [{"Key": "team", "Value": "a"}]});
        assert_eq!(
            request_tags("CreateEventBus", &input),
            vec![("team".to_owned(), "a".to_owned())]
        );
        assert!(request_tags("DescribeEventBus", &input).is_empty());
    }
}
