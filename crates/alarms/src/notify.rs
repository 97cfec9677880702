//! The SNS notification of an alarm state change, as AWS sends it (spec §10): subject
//! `ALARM: "<name>" in <Region long name>` and a JSON message with AWS's key order.

use serde_json::{Map, Value, json};

use crate::format::iso_date;
use crate::rule::{AlarmRule, State};
use crate::stats::Statistic;

/// SNS refuses subjects longer than this.
const MAX_SUBJECT_CHARS: usize = 100;

/// What the notification says about the alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmInfo {
    pub name: String,
    pub description: Option<String>,
    pub account_id: String,
    pub region: String,
    pub arn: String,
    pub configuration_updated_ms: i64,
    pub ok_actions: Vec<String>,
    pub alarm_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub metric_name: String,
    pub namespace: String,
    /// (name, value), in the alarm's order.
    pub dimensions: Vec<(String, String)>,
    pub rule: AlarmRule,
}

const REGIONS: &[(&str, &str)] = &[
    ("us-east-1", "US East (N. Virginia)"),
    ("us-east-2", "US East (Ohio)"),
    ("us-west-1", "US West (N. California)"),
    ("us-west-2", "US West (Oregon)"),
    ("af-south-1", "Africa (Cape Town)"),
    ("ap-east-1", "Asia Pacific (Hong Kong)"),
    ("ap-east-2", "Asia Pacific (Taipei)"),
    ("ap-south-1", "Asia Pacific (Mumbai)"),
    ("ap-south-2", "Asia Pacific (Hyderabad)"),
    ("ap-southeast-1", "Asia Pacific (Singapore)"),
    ("ap-southeast-2", "Asia Pacific (Sydney)"),
    ("ap-southeast-3", "Asia Pacific (Jakarta)"),
    ("ap-southeast-4", "Asia Pacific (Melbourne)"),
    ("ap-southeast-5", "Asia Pacific (Malaysia)"),
    ("ap-southeast-7", "Asia Pacific (Thailand)"),
    ("ap-northeast-1", "Asia Pacific (Tokyo)"),
    ("ap-northeast-2", "Asia Pacific (Seoul)"),
    ("ap-northeast-3", "Asia Pacific (Osaka)"),
    ("ca-central-1", "Canada (Central)"),
    ("ca-west-1", "Canada West (Calgary)"),
    ("eu-central-1", "Europe (Frankfurt)"),
    ("eu-central-2", "Europe (Zurich)"),
    ("eu-west-1", "Europe (Ireland)"),
    ("eu-west-2", "Europe (London)"),
    ("eu-west-3", "Europe (Paris)"),
    ("eu-south-1", "Europe (Milan)"),
    ("eu-south-2", "Europe (Spain)"),
    ("eu-north-1", "Europe (Stockholm)"),
    ("il-central-1", "Israel (Tel Aviv)"),
    ("me-south-1", "Middle East (Bahrain)"),
    ("me-central-1", "Middle East (UAE)"),
    ("mx-central-1", "Mexico (Central)"),
    ("sa-east-1", "South America (Sao Paulo)"),
    ("us-gov-east-1", "AWS GovCloud (US-East)"),
    ("us-gov-west-1", "AWS GovCloud (US-West)"),
    ("cn-north-1", "China (Beijing)"),
    ("cn-northwest-1", "China (Ningxia)"),
];

/// The console's long name of a region (`US East (N. Virginia)`).
pub fn region_long_name(region: &str) -> Option<&'static str> {
    REGIONS
        .iter()
        .find(|(code, _)| *code == region)
        .map(|(_, name)| *name)
}

/// Subject and message of the notification for a change from `old` to `new`.
pub fn notification(
    alarm: &AlarmInfo,
    old: State,
    new: State,
    reason: &str,
    change_time_ms: i64,
) -> (String, String) {
    let region = region_long_name(&alarm.region).unwrap_or(alarm.region.as_str());
    let subject = format!("{}: \"{}\" in {region}", new.as_str(), alarm.name);
    let subject = if subject.chars().count() > MAX_SUBJECT_CHARS {
        subject.chars().take(MAX_SUBJECT_CHARS).collect()
    } else {
        subject
    };
    let rule = &alarm.rule;
    let mut trigger = Map::new();
    trigger.insert("MetricName".into(), json!(alarm.metric_name));
    trigger.insert("Namespace".into(), json!(alarm.namespace));
    match &rule.statistic {
        Statistic::Extended(extended) => {
            trigger.insert("StatisticType".into(), json!("ExtendedStatistic"));
            trigger.insert("ExtendedStatistic".into(), json!(extended.to_string()));
        }
        simple => {
            trigger.insert("StatisticType".into(), json!("Statistic"));
            trigger.insert("Statistic".into(), json!(simple.name().to_uppercase()));
        }
    }
    trigger.insert("Unit".into(), json!(rule.unit));
    let dimensions: Vec<Value> = alarm
        .dimensions
        .iter()
        .map(|(name, value)| json!({"value": value, "name": name}))
        .collect();
    trigger.insert("Dimensions".into(), Value::Array(dimensions));
    trigger.insert("Period".into(), json!(rule.period_s));
    trigger.insert("EvaluationPeriods".into(), json!(rule.evaluation_periods));
    if let Some(m) = rule.datapoints_to_alarm {
        trigger.insert("DatapointsToAlarm".into(), json!(m));
    }
    trigger.insert("ComparisonOperator".into(), json!(rule.comparison.as_str()));
    trigger.insert("Threshold".into(), json!(rule.threshold));
    trigger.insert(
        "TreatMissingData".into(),
        json!(rule.treat_missing.as_str()),
    );
    trigger.insert(
        "EvaluateLowSampleCountPercentile".into(),
        json!(
            rule.evaluate_low_sample_count_percentile
                .clone()
                .unwrap_or_default()
        ),
    );

    let mut message = Map::new();
    message.insert("AlarmName".into(), json!(alarm.name));
    message.insert("AlarmDescription".into(), json!(alarm.description));
    message.insert("AWSAccountId".into(), json!(alarm.account_id));
    message.insert(
        "AlarmConfigurationUpdatedTimestamp".into(),
        json!(iso_date(alarm.configuration_updated_ms)),
    );
    message.insert("NewStateValue".into(), json!(new.as_str()));
    message.insert("NewStateReason".into(), json!(reason));
    message.insert("StateChangeTime".into(), json!(iso_date(change_time_ms)));
    message.insert("Region".into(), json!(region));
    message.insert("AlarmArn".into(), json!(alarm.arn));
    message.insert("OldStateValue".into(), json!(old.as_str()));
    message.insert("OKActions".into(), json!(alarm.ok_actions));
    message.insert("AlarmActions".into(), json!(alarm.alarm_actions));
    message.insert(
        "InsufficientDataActions".into(),
        json!(alarm.insufficient_data_actions),
    );
    message.insert("Trigger".into(), Value::Object(trigger));
    (subject, Value::Object(message).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{RuleInput, validate};

    fn info(name: &str) -> AlarmInfo {
        AlarmInfo {
            name: name.into(),
            description: None,
            account_id: "449671225256".into(),
            region: "ap-northeast-1".into(),
            arn: format!("arn:aws:cloudwatch:ap-northeast-1:449671225256:alarm:{name}"),
            configuration_updated_ms: 1_738_496_932_788,
            ok_actions: vec!["arn:aws:sns:ap-northeast-1:449671225256:example-topic".into()],
            alarm_actions: vec!["arn:aws:sns:ap-northeast-1:449671225256:example-topic".into()],
            insufficient_data_actions: vec![],
            metric_name: "ErrorCount".into(),
            namespace: "YourNamespace".into(),
            dimensions: vec![],
            rule: validate(&RuleInput {
                period: Some(60),
                evaluation_periods: Some(1),
                threshold: Some(1.0),
                comparison_operator: Some("GreaterThanOrEqualToThreshold".into()),
                statistic: Some("Sum".into()),
                ..RuleInput::default()
            })
            .expect("valid"),
        }
    }

    #[test]
    fn message_matches_the_captured_aws_one() {
        let reason = "Threshold Crossed: 1 datapoint [1.0 (02/02/25 12:05:00)] was greater than or equal to the threshold (1.0).";
        let (subject, message) = notification(
            &info("ErrorAlarm"),
            State::InsufficientData,
            State::Alarm,
            reason,
            1_738_497_995_472,
        );
        assert_eq!(subject, "ALARM: \"ErrorAlarm\" in Asia Pacific (Tokyo)");
        let expected = r#"{"AlarmName":"ErrorAlarm","AlarmDescription":null,"AWSAccountId":"449671225256","AlarmConfigurationUpdatedTimestamp":"2025-02-02T11:48:52.788+0000","NewStateValue":"ALARM","NewStateReason":"Threshold Crossed: 1 datapoint [1.0 (02/02/25 12:05:00)] was greater than or equal to the threshold (1.0).","StateChangeTime":"2025-02-02T12:06:35.472+0000","Region":"Asia Pacific (Tokyo)","AlarmArn":"arn:aws:cloudwatch:ap-northeast-1:449671225256:alarm:ErrorAlarm","OldStateValue":"INSUFFICIENT_DATA","OKActions":["arn:aws:sns:ap-northeast-1:449671225256:example-topic"],"AlarmActions":["arn:aws:sns:ap-northeast-1:449671225256:example-topic"],"InsufficientDataActions":[],"Trigger":{"MetricName":"ErrorCount","Namespace":"YourNamespace","StatisticType":"Statistic","Statistic":"SUM","Unit":null,"Dimensions":[],"Period":60,"EvaluationPeriods":1,"ComparisonOperator":"GreaterThanOrEqualToThreshold","Threshold":1.0,"TreatMissingData":"missing","EvaluateLowSampleCountPercentile":""}}"#;
        assert_eq!(message, expected);
    }

    #[test]
    fn long_subjects_are_cut_to_sns_limit_and_percentiles_say_so() {
        let mut alarm = info(&"n".repeat(120));
        alarm.rule.statistic = Statistic::Extended("p99".parse().expect("p99"));
        alarm.rule.datapoints_to_alarm = Some(1);
        alarm.dimensions = vec![("Op".into(), "Get".into())];
        let (subject, message) = notification(&alarm, State::Alarm, State::Ok, "r", 0);
        assert_eq!(subject.chars().count(), 100);
        assert!(subject.starts_with("OK: \"nnn"));
        let message: Value = serde_json::from_str(&message).expect("json");
        let trigger = &message["Trigger"];
        assert_eq!(trigger["StatisticType"], "ExtendedStatistic");
        assert_eq!(trigger["ExtendedStatistic"], "p99");
        assert!(trigger.get("Statistic").is_none());
        assert_eq!(trigger["DatapointsToAlarm"], 1);
        assert_eq!(
            trigger["Dimensions"],
            json!([{"value": "Get", "name": "Op"}])
        );
        assert_eq!(region_long_name("eu-west-1"), Some("Europe (Ireland)"));
    }
}
