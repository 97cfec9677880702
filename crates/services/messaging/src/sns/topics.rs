//! Topic, tag and subscription operations (everything but publishing).

use opentrail_model::Arn;
use std::collections::BTreeMap;

use opentrail_api::XmlWriter;
use serde_json::json;

use super::error::SnsError;
use super::store::{self, FORMAT, Subscription, Topic};
use super::{Call, SnsShared, filter};

const PAGE: usize = 100;
const MAX_TAGS: usize = 50;

fn lock(shared: &SnsShared) -> std::sync::MutexGuard<'_, ()> {
    shared
        .write_lock
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn required<'p>(call: &'p Call<'_>, name: &str) -> Result<&'p str, SnsError> {
    call.params
        .get(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SnsError::invalid(name))
}

/// The topic a `TopicArn` names; a malformed ARN is `Invalid parameter: TopicArn`.
pub fn topic_for(call: &Call<'_>, name: &str) -> Result<Topic, SnsError> {
    let arn = required(call, name)?;
    let Some((region, _, _)) = parse_arn(arn) else {
        return Err(SnsError::invalid(name));
    };
    if region != call.ctx.region {
        return Err(SnsError::topic_not_found());
    }
    store::topic(&call.state.meta, arn)
}

/// `(region, account, resource)` of an `arn:aws:sns:…` ARN.
pub fn parse_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let arn = Arn::of_service(arn, "sns")?;
    (!arn.resource.is_empty()).then_some((arn.region, arn.account, arn.resource))
}

fn valid_topic_name(name: &str) -> bool {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    !base.is_empty()
        && name.len() <= 256
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The default access policy AWS gives a new topic.
pub fn default_policy(arn: &str, account: &str) -> String {
    json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Effect": "Allow",
            "Sid": "__default_statement_ID",
            "Principal": {"AWS": "*"},
            "Action": [
                "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe",
                "SNS:ListSubscriptionsByTopic", "SNS:Publish"
            ],
            "Resource": arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": account}}
        }]
    })
    .to_string()
}

const TOPIC_ATTRIBUTES: &[&str] = &[
    "DisplayName",
    "Policy",
    "DeliveryPolicy",
    "FifoTopic",
    "ContentBasedDeduplication",
    "KmsMasterKeyId",
    "SignatureVersion",
    "TracingConfig",
    "ArchivePolicy",
    "DataProtectionPolicy",
    "FifoThroughputScope",
    "HTTPSuccessFeedbackRoleArn",
    "HTTPFailureFeedbackRoleArn",
    "HTTPSuccessFeedbackSampleRate",
    "SQSSuccessFeedbackRoleArn",
    "SQSFailureFeedbackRoleArn",
    "SQSSuccessFeedbackSampleRate",
    "LambdaSuccessFeedbackRoleArn",
    "LambdaFailureFeedbackRoleArn",
    "LambdaSuccessFeedbackSampleRate",
    "ApplicationSuccessFeedbackRoleArn",
    "ApplicationFailureFeedbackRoleArn",
    "ApplicationSuccessFeedbackSampleRate",
    "FirehoseSuccessFeedbackRoleArn",
    "FirehoseFailureFeedbackRoleArn",
    "FirehoseSuccessFeedbackSampleRate",
];

fn check_topic_attribute(name: &str, value: &str) -> Result<(), SnsError> {
    if !TOPIC_ATTRIBUTES.contains(&name) {
        return Err(SnsError::invalid(&format!(
            "AttributeName Reason: Unknown attribute {name}"
        )));
    }
    if name == "Policy" && serde_json::from_str::<serde_json::Value>(value).is_err() {
        return Err(SnsError::invalid(
            "Policy Error: null Reason: Policy is not valid JSON",
        ));
    }
    if name == "DeliveryPolicy"
        && !value.is_empty()
        && serde_json::from_str::<serde_json::Value>(value).is_err()
    {
        return Err(SnsError::invalid("DeliveryPolicy: failed to parse JSON"));
    }
    Ok(())
}

fn tags_of(call: &Call<'_>) -> Result<BTreeMap<String, String>, SnsError> {
    let mut tags = BTreeMap::new();
    for member in call.params.members("Tags") {
        let key = member.get("Key").unwrap_or("").to_owned();
        if key.is_empty() || key.len() > 128 {
            return Err(SnsError::invalid("Tags"));
        }
        tags.insert(key, member.get("Value").unwrap_or("").to_owned());
    }
    Ok(tags)
}

pub fn create_topic(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    let name = call.params.get("Name").unwrap_or("");
    let attributes = call.params.map("Attributes");
    let fifo = attributes
        .get("FifoTopic")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !fifo && name.ends_with(".fifo") {
        return Err(SnsError::InvalidParameter(
            "Topic names must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.".into(),
        ));
    }
    if fifo != name.ends_with(".fifo") || !valid_topic_name(name) {
        return Err(if fifo {
            SnsError::InvalidParameter(
                "Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.".into(),
            )
        } else {
            SnsError::invalid("Topic Name")
        });
    }
    let mut normalised = BTreeMap::new();
    for (key, value) in attributes {
        check_topic_attribute(&key, &value)?;
        let value = if matches!(key.as_str(), "FifoTopic" | "ContentBasedDeduplication") {
            value.to_ascii_lowercase()
        } else {
            value
        };
        normalised.insert(key, value);
    }
    if normalised.get("FifoTopic").map(String::as_str) == Some("false") {
        normalised.remove("FifoTopic");
    }
    if !fifo && normalised.contains_key("ContentBasedDeduplication") {
        return Err(SnsError::invalid(
            "Attributes Reason: ContentBasedDeduplication can only be set for FIFO topics",
        ));
    }
    let tags = tags_of(call)?;
    let arn = format!(
        "arn:aws:sns:{}:{}:{name}",
        call.ctx.region, call.ctx.account_id
    );
    let shared = super::shared(call.state);
    let _guard = lock(&shared);
    if let Some(existing) = store::get_topic(&call.state.meta, &arn)? {
        let differs = normalised
            .iter()
            .any(|(k, v)| existing.attributes.get(k) != Some(v));
        if differs {
            return Err(SnsError::invalid(
                "Attributes Reason: Topic already exists with different attributes",
            ));
        }
        if tags.iter().any(|(k, v)| existing.tags.get(k) != Some(v)) && !tags.is_empty() {
            return Err(SnsError::invalid(
                "Tags Reason: Topic already exists with different tags",
            ));
        }
    } else {
        let topic = Topic {
            format: FORMAT,
            arn: arn.clone(),
            name: name.to_owned(),
            account: call.ctx.account_id.clone(),
            attributes: normalised,
            tags,
        };
        store::put_topic(&call.state.meta, &topic)?;
    }
    let mut xml = XmlWriter::new();
    xml.elem("TopicArn", &arn);
    Ok(Some(xml.finish()))
}

pub fn delete_topic(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    let arn = required(call, "TopicArn")?;
    if parse_arn(arn).is_none() {
        return Err(SnsError::invalid("TopicArn"));
    }
    let shared = super::shared(call.state);
    let _guard = lock(&shared);
    // Deleting a topic that does not exist succeeds, as on AWS.
    store::delete_topic(&call.state.meta, arn)?;
    Ok(None)
}

/// One page of `items` (in key order): `NextToken` is the offset of the next page.
fn page<T>(items: Vec<T>, call: &Call<'_>) -> (Vec<T>, Option<String>) {
    let start: usize = call
        .params
        .get("NextToken")
        .and_then(|token| token.parse().ok())
        .unwrap_or(0);
    let total = items.len();
    let rest: Vec<T> = items.into_iter().skip(start).take(PAGE).collect();
    let next = (start + PAGE < total).then(|| (start + PAGE).to_string());
    (rest, next)
}

pub fn list_topics(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    let topics: Vec<Topic> = store::topics(&call.state.meta)?
        .into_iter()
        .filter(|t| t.account == call.ctx.account_id && t.arn.contains(&call.ctx.region))
        .collect();
    let (topics, next) = page(topics, call);
    let mut xml = XmlWriter::new();
    xml.open("Topics");
    for topic in &topics {
        xml.open("member")
            .elem("TopicArn", &topic.arn)
            .close("member");
    }
    xml.close("Topics");
    xml.opt_elem("NextToken", next.as_deref());
    Ok(Some(xml.finish()))
}

fn attributes_xml(attributes: &BTreeMap<String, String>) -> String {
    let mut xml = XmlWriter::new();
    xml.open("Attributes");
    for (key, value) in attributes {
        xml.open("entry")
            .elem("key", key)
            .elem("value", value)
            .close("entry");
    }
    xml.close("Attributes");
    xml.finish()
}

pub fn get_topic_attributes(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    let topic = topic_for(call, "TopicArn")?;
    let subs = store::subscriptions_of(&call.state.meta, &topic.arn)?;
    let confirmed = subs.iter().filter(|s| s.confirmed).count();
    let mut attributes = BTreeMap::new();
    attributes.insert("TopicArn".to_owned(), topic.arn.clone());
    attributes.insert("Owner".to_owned(), topic.account.clone());
    attributes.insert(
        "Policy".to_owned(),
        default_policy(&topic.arn, &topic.account),
    );
    attributes.insert("DisplayName".to_owned(), String::new());
    attributes.insert("DeliveryPolicy".to_owned(), String::new());
    attributes.insert("SubscriptionsConfirmed".to_owned(), confirmed.to_string());
    attributes.insert(
        "SubscriptionsPending".to_owned(),
        (subs.len() - confirmed).to_string(),
    );
    attributes.insert("SubscriptionsDeleted".to_owned(), "0".to_owned());
    attributes.insert(
        "EffectiveDeliveryPolicy".to_owned(),
        json!({"http": {"defaultHealthyRetryPolicy": {"minDelayTarget": 20, "maxDelayTarget": 20,
            "numRetries": 3, "numMaxDelayRetries": 0, "numNoDelayRetries": 0,
            "numMinDelayRetries": 0, "backoffFunction": "linear"},
            "disableSubscriptionOverrides": false, "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"}}})
        .to_string(),
    );
    if topic.fifo() {
        attributes.insert("FifoTopic".to_owned(), "true".to_owned());
        attributes.insert("ContentBasedDeduplication".to_owned(), "false".to_owned());
    }
    attributes.extend(topic.attributes.clone());
    Ok(Some(attributes_xml(&attributes)))
}

pub fn set_topic_attributes(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    let name = required(call, "AttributeName")?.to_owned();
    let value = call.params.get("AttributeValue").unwrap_or("").to_owned();
    check_topic_attribute(&name, &value)?;
    let shared = super::shared(call.state);
    let _guard = lock(&shared);
    let mut topic = topic_for(call, "TopicArn")?;
    if name == "FifoTopic" {
        return Err(SnsError::invalid(
            "AttributeName Reason: FifoTopic cannot be changed",
        ));
    }
    if name == "ContentBasedDeduplication" && !topic.fifo() {
        return Err(SnsError::invalid(
            "AttributeName Reason: ContentBasedDeduplication can only be set for FIFO topics",
        ));
    }
    topic.attributes.insert(name, value);
    store::put_topic(&call.state.meta, &topic)?;
    Ok(None)
}

/// The actions a topic policy statement may name (`AddPermission`'s `ActionName`).
const POLICY_ACTIONS: &[&str] = &[
    "GetTopicAttributes",
    "SetTopicAttributes",
    "AddPermission",
    "RemovePermission",
    "DeleteTopic",
    "Subscribe",
    "ListSubscriptionsByTopic",
    "Publish",
    "Receive",
];

/// The topic's policy document (its `Policy` attribute, else the default policy).
fn policy_of(topic: &Topic) -> Result<serde_json::Value, SnsError> {
    let text = match topic.attributes.get("Policy").filter(|p| !p.is_empty()) {
        Some(policy) => policy.clone(),
        None => default_policy(&topic.arn, &topic.account),
    };
    let mut policy: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
        SnsError::InvalidParameter("Policy Error: null Reason: Policy is not valid JSON".into())
    })?;
    if !policy["Statement"].is_array() {
        let single = policy["Statement"].take();
        policy["Statement"] = json!(if single.is_null() {
            vec![]
        } else {
            vec![single]
        });
    }
    Ok(policy)
}

/// AddPermission: appends a statement `Label` allowing `AWSAccountId`s the `ActionName`s.
pub fn add_permission(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    let label = required(call, "Label")?.to_owned();
    let accounts = call.params.list("AWSAccountId");
    let actions = call.params.list("ActionName");
    if accounts.is_empty() {
        return Err(SnsError::invalid("AWSAccountId"));
    }
    if actions.is_empty() {
        return Err(SnsError::invalid("ActionName"));
    }
    let shared = super::shared(call.state);
    let _guard = lock(&shared);
    let mut topic = topic_for(call, "TopicArn")?;
    let mut policy = policy_of(&topic)?;
    let statements = policy["Statement"]
        .as_array_mut()
        .ok_or(SnsError::Internal)?;
    if statements
        .iter()
        .any(|statement| statement["Sid"].as_str() == Some(label.as_str()))
    {
        return Err(SnsError::InvalidParameter(
            "Statement already exists".into(),
        ));
    }
    if actions
        .iter()
        .any(|action| !POLICY_ACTIONS.contains(&action.as_str()))
    {
        return Err(SnsError::InvalidParameter(
            "Policy statement action out of service scope!".into(),
        ));
    }
    let one_or_many = |items: Vec<String>| {
        if items.len() == 1 {
            json!(items[0])
        } else {
            json!(items)
        }
    };
    let principals = accounts
        .iter()
        .map(|account| format!("arn:aws:iam::{account}:root"))
        .collect();
    let actions = actions
        .iter()
        .map(|action| format!("SNS:{action}"))
        .collect();
    statements.push(json!({
        "Sid": label,
        "Effect": "Allow",
        "Principal": {"AWS": one_or_many(principals)},
        "Action": one_or_many(actions),
        "Resource": topic.arn,
    }));
    topic
        .attributes
        .insert("Policy".to_owned(), policy.to_string());
    store::put_topic(&call.state.meta, &topic)?;
    Ok(None)
}

/// RemovePermission: drops the statement `Label` (none such is not an error).
pub fn remove_permission(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    let label = required(call, "Label")?.to_owned();
    let shared = super::shared(call.state);
    let _guard = lock(&shared);
    let mut topic = topic_for(call, "TopicArn")?;
    let mut policy = policy_of(&topic)?;
    let statements = policy["Statement"]
        .as_array_mut()
        .ok_or(SnsError::Internal)?;
    let before = statements.len();
    statements.retain(|statement| statement["Sid"].as_str() != Some(label.as_str()));
    if statements.len() == before {
        return Ok(None);
    }
    topic
        .attributes
        .insert("Policy".to_owned(), policy.to_string());
    store::put_topic(&call.state.meta, &topic)?;
    Ok(None)
}

fn tag_target(call: &Call<'_>) -> Result<Topic, SnsError> {
    let arn = required(call, "ResourceArn")?;
    store::get_topic(&call.state.meta, arn)?
        .ok_or_else(|| SnsError::ResourceNotFound("Resource does not exist".into()))
}

pub fn tag_resource(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    let tags = tags_of(call)?;
    let shared = super::shared(call.state);
    let _guard = lock(&shared);
    let mut topic = tag_target(call)?;
    topic.tags.extend(tags);
    if topic.tags.len() > MAX_TAGS {
        return Err(SnsError::TagLimitExceeded(
            "Could not complete request: tag quota of per resource exceeded".into(),
        ));
    }
    store::put_topic(&call.state.meta, &topic)?;
    Ok(Some(String::new()))
}

pub fn untag_resource(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    let keys = call.params.list("TagKeys");
    let shared = super::shared(call.state);
    let _guard = lock(&shared);
    let mut topic = tag_target(call)?;
    for key in keys {
        topic.tags.remove(&key);
    }
    store::put_topic(&call.state.meta, &topic)?;
    Ok(Some(String::new()))
}

pub fn list_tags_for_resource(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    let topic = tag_target(call)?;
    let mut xml = XmlWriter::new();
    xml.open("Tags");
    for (key, value) in &topic.tags {
        xml.open("member")
            .elem("Key", key)
            .elem("Value", value)
            .close("member");
    }
    xml.close("Tags");
    Ok(Some(xml.finish()))
}

// ----- subscriptions -----

const PROTOCOLS: &[&str] = &[
    "http",
    "https",
    "email",
    "email-json",
    "sms",
    "sqs",
    "application",
    "lambda",
    "firehose",
];

const SUBSCRIPTION_ATTRIBUTES: &[&str] = &[
    "RawMessageDelivery",
    "FilterPolicy",
    "FilterPolicyScope",
    "RedrivePolicy",
    "DeliveryPolicy",
    "SubscriptionRoleArn",
    "ReplayPolicy",
];

fn check_subscription_attribute(
    name: &str,
    value: &str,
    protocol: &str,
    attributes: &BTreeMap<String, String>,
) -> Result<(), SnsError> {
    if !SUBSCRIPTION_ATTRIBUTES.contains(&name) {
        return Err(SnsError::invalid(&format!(
            "AttributeName Reason: Unknown attribute {name}"
        )));
    }
    match name {
        "RawMessageDelivery" => {
            if !matches!(protocol, "sqs" | "http" | "https" | "firehose") {
                return Err(SnsError::invalid(&format!(
                    "Attributes Reason: Delivery protocol [{protocol}] does not support raw message delivery."
                )));
            }
            if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                return Err(SnsError::invalid("RawMessageDelivery"));
            }
        }
        "FilterPolicyScope" if !matches!(value, "MessageAttributes" | "MessageBody") => {
            return Err(SnsError::invalid(
                "FilterPolicyScope: Invalid filter policy scope, please specify either MessageAttributes or MessageBody",
            ));
        }
        "FilterPolicy" if !value.is_empty() => {
            let scope = attributes
                .get("FilterPolicyScope")
                .map_or("MessageAttributes", String::as_str);
            filter::FilterPolicy::parse(value, scope)?;
        }
        "RedrivePolicy" if !value.is_empty() => {
            let parsed: serde_json::Value = serde_json::from_str(value)
                .map_err(|_| SnsError::invalid("RedrivePolicy: Redrive policy is not JSON"))?;
            let target = parsed
                .get("deadLetterTargetArn")
                .and_then(serde_json::Value::as_str);
            if target.is_none_or(|arn| !arn.starts_with("arn:")) {
                return Err(SnsError::invalid(
                    "RedrivePolicy: deadLetterTargetArn is missing or invalid",
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

fn check_endpoint(protocol: &str, endpoint: &str) -> Result<(), SnsError> {
    let ok = match protocol {
        "http" => endpoint.starts_with("http://"),
        "https" => endpoint.starts_with("https://"),
        "sqs" => Arn::parse(endpoint).is_some_and(|arn| !arn.resource.contains(':')),
        "email" | "email-json" => {
            endpoint.contains('@') && !endpoint.starts_with('@') && !endpoint.ends_with('@')
        }
        "sms" => {
            let digits = endpoint.trim_start_matches('+');
            !digits.is_empty()
                && digits.bytes().all(|b| {
                    b.is_ascii_digit() || matches!(b, b'-' | b' ' | b'.' | b'/' | b'(' | b')')
                })
        }
        _ => !endpoint.is_empty(),
    };
    if ok {
        return Ok(());
    }
    Err(match protocol {
        "sqs" => SnsError::invalid("SQS endpoint ARN"),
        "sms" => SnsError::invalid(&format!("SMS endpoint: {endpoint}")),
        _ => SnsError::invalid("Endpoint"),
    })
}

pub async fn subscribe(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    let topic = topic_for(call, "TopicArn")?;
    let protocol = call.params.get("Protocol").unwrap_or("").to_owned();
    if !PROTOCOLS.contains(&protocol.as_str()) {
        return Err(SnsError::invalid(&format!(
            "Amazon SNS does not support this protocol string: {protocol}"
        )));
    }
    let endpoint = call.params.get("Endpoint").unwrap_or("").to_owned();
    check_endpoint(&protocol, &endpoint)?;
    let attributes = call.params.map("Attributes");
    for (key, value) in &attributes {
        check_subscription_attribute(key, value, &protocol, &attributes)?;
    }
    if topic.fifo() && !matches!(protocol.as_str(), "sqs" | "lambda" | "firehose") {
        return Err(SnsError::invalid(&format!(
            "Invalid protocol type: {protocol}"
        )));
    }
    let return_arn = call
        .params
        .get("ReturnSubscriptionArn")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let sub = {
        let shared = super::shared(call.state);
        let _guard = lock(&shared);
        let existing = store::subscriptions_of(&call.state.meta, &topic.arn)?
            .into_iter()
            .find(|s| s.protocol == protocol && s.endpoint == endpoint);
        if let Some(existing) = existing {
            let differs = attributes
                .iter()
                .any(|(k, v)| existing.attributes.get(k) != Some(v));
            if differs {
                return Err(SnsError::invalid(
                    "Attributes Reason: Subscription already exists with different attributes",
                ));
            }
            existing
        } else {
            let confirmed = matches!(
                protocol.as_str(),
                "sqs" | "lambda" | "firehose" | "application"
            );
            let sub = Subscription {
                format: FORMAT,
                arn: format!("{}:{}", topic.arn, uuid::Uuid::new_v4()),
                topic_arn: topic.arn.clone(),
                owner: call.ctx.account_id.clone(),
                protocol: protocol.clone(),
                endpoint: endpoint.clone(),
                attributes,
                confirmed,
                token: hex::encode(rand::random::<[u8; 32]>()),
            };
            store::put_subscription(&call.state.meta, &sub)?;
            sub
        }
    };
    if !sub.confirmed && matches!(protocol.as_str(), "http" | "https") {
        super::delivery::send_confirmation(call, &topic, &sub);
    }
    let shown = if sub.confirmed || return_arn {
        sub.arn.as_str()
    } else {
        "pending confirmation"
    };
    let mut xml = XmlWriter::new();
    xml.elem("SubscriptionArn", shown);
    Ok(Some(xml.finish()))
}

/// Confirms the pending subscription whose token is `token`; returns its ARN.
pub fn confirm(
    state: &opentrail_core::AppState,
    topic_arn: &str,
    token: &str,
) -> Result<String, SnsError> {
    let meta = &state.meta;
    store::topic(meta, topic_arn)?;
    let shared = super::shared(state);
    let _guard = lock(&shared);
    let mut sub = store::subscriptions_of(meta, topic_arn)?
        .into_iter()
        .find(|s| s.token == token)
        .ok_or_else(|| SnsError::invalid("Token"))?;
    if !sub.confirmed {
        sub.confirmed = true;
        store::put_subscription(meta, &sub)?;
    }
    Ok(sub.arn)
}

pub fn confirm_subscription(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    let topic = topic_for(call, "TopicArn")?;
    let token = required(call, "Token")?;
    let arn = confirm(call.state, &topic.arn, token)?;
    let mut xml = XmlWriter::new();
    xml.elem("SubscriptionArn", &arn);
    Ok(Some(xml.finish()))
}

pub fn unsubscribe(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    let arn = required(call, "SubscriptionArn")?;
    if parse_arn(arn).is_none() {
        return Err(SnsError::invalid("SubscriptionArn"));
    }
    let shared = super::shared(call.state);
    let _guard = lock(&shared);
    store::delete_subscription(&call.state.meta, arn)?;
    Ok(None)
}

fn subscriptions_xml(subs: &[Subscription], next: Option<&str>) -> String {
    let mut xml = XmlWriter::new();
    xml.open("Subscriptions");
    for sub in subs {
        let arn = if sub.confirmed {
            sub.arn.as_str()
        } else {
            "PendingConfirmation"
        };
        xml.open("member")
            .elem("SubscriptionArn", arn)
            .elem("Owner", &sub.owner)
            .elem("Protocol", &sub.protocol)
            .elem("Endpoint", &sub.endpoint)
            .elem("TopicArn", &sub.topic_arn)
            .close("member");
    }
    xml.close("Subscriptions");
    xml.opt_elem("NextToken", next);
    xml.finish()
}

pub fn list_subscriptions(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    let subs: Vec<Subscription> = store::subscriptions(&call.state.meta)?
        .into_iter()
        .filter(|s| s.owner == call.ctx.account_id)
        .collect();
    let (subs, next) = page(subs, call);
    Ok(Some(subscriptions_xml(&subs, next.as_deref())))
}

pub fn list_subscriptions_by_topic(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    let topic = topic_for(call, "TopicArn")?;
    let subs = store::subscriptions_of(&call.state.meta, &topic.arn)?;
    let (subs, next) = page(subs, call);
    Ok(Some(subscriptions_xml(&subs, next.as_deref())))
}

fn subscription_for(call: &Call<'_>) -> Result<Subscription, SnsError> {
    let arn = required(call, "SubscriptionArn")?;
    if parse_arn(arn).is_none() {
        return Err(SnsError::subscription_not_found());
    }
    store::get_subscription(&call.state.meta, arn)?.ok_or_else(SnsError::subscription_not_found)
}

pub fn get_subscription_attributes(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    let sub = subscription_for(call)?;
    let mut attributes = BTreeMap::new();
    attributes.insert("SubscriptionArn".to_owned(), sub.arn.clone());
    attributes.insert("TopicArn".to_owned(), sub.topic_arn.clone());
    attributes.insert("Owner".to_owned(), sub.owner.clone());
    attributes.insert("Protocol".to_owned(), sub.protocol.clone());
    attributes.insert("Endpoint".to_owned(), sub.endpoint.clone());
    attributes.insert(
        "PendingConfirmation".to_owned(),
        (!sub.confirmed).to_string(),
    );
    attributes.insert(
        "ConfirmationWasAuthenticated".to_owned(),
        sub.confirmed.to_string(),
    );
    attributes.insert("RawMessageDelivery".to_owned(), "false".to_owned());
    attributes.insert(
        "SubscriptionPrincipal".to_owned(),
        format!("arn:aws:iam::{}:root", sub.owner),
    );
    if sub.attributes.contains_key("FilterPolicy") {
        attributes.insert(
            "FilterPolicyScope".to_owned(),
            "MessageAttributes".to_owned(),
        );
    }
    attributes.extend(sub.attributes.clone());
    Ok(Some(attributes_xml(&attributes)))
}

pub fn set_subscription_attributes(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    let name = required(call, "AttributeName")?.to_owned();
    let value = call.params.get("AttributeValue").unwrap_or("").to_owned();
    let shared = super::shared(call.state);
    let _guard = lock(&shared);
    let mut sub = subscription_for(call)?;
    check_subscription_attribute(&name, &value, &sub.protocol, &sub.attributes)?;
    if name == "FilterPolicy" && value.is_empty() {
        sub.attributes.remove("FilterPolicy");
    } else {
        sub.attributes.insert(name, value);
    }
    store::put_subscription(&call.state.meta, &sub)?;
    Ok(None)
}
