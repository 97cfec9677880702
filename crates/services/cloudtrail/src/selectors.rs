//! Event selectors (basic and advanced) and Insights selectors: their stored form and AWS's
//! validation rules (the Put/Get operations are in [`crate::trails`]).
//!
//! The stored form is the wire form (PascalCase members), so the API reads and writes it as
//! is. Evaluating selectors against records is not done here: the stored form converts into
//! `opentrail_delivery::selectors::TrailSelectors` (`From<&Selectors>`), which trail delivery
//! and the CloudWatch Logs trail worker evaluate. A trail without `PutEventSelectors` has
//! [`Selectors::Default`]: all read and write management events, no data events — what AWS
//! gives a new trail.

use std::collections::HashSet;

use opentrail_delivery::selectors::{
    AdvancedSelector, BasicSelector, DataResource as DeliveryDataResource, FieldCondition,
    ReadWrite, TrailSelectors,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::CloudTrailError;

/// Most basic event selectors on one trail.
pub const MAX_EVENT_SELECTORS: usize = 5;
/// Most data resource values across a trail's basic selectors.
pub const MAX_DATA_RESOURCES: usize = 250;
/// Most condition values across a trail's advanced selectors.
pub const MAX_ADVANCED_VALUES: usize = 500;

/// The resource types basic event selectors accept, with the service of their ARNs.
const BASIC_DATA_TYPES: [(&str, &str); 3] = [
    ("AWS::S3::Object", "s3"),
    ("AWS::Lambda::Function", "lambda"),
    ("AWS::DynamoDB::Table", "dynamodb"),
];
/// The event sources `ExcludeManagementEventSources` may name.
const EXCLUDABLE_SOURCES: [&str; 2] = ["kms.amazonaws.com", "rdsdata.amazonaws.com"];
/// The fields advanced event selectors of a trail may filter on.
pub const ADVANCED_FIELDS: [&str; 12] = [
    "eventCategory",
    "eventSource",
    "eventName",
    "eventType",
    "eventTypeName",
    "readOnly",
    "resources.type",
    "resources.ARN",
    "userIdentity.arn",
    "errorCode",
    "sessionCredentialFromConsole",
    "vpcEndpointId",
];
const EVENT_CATEGORIES: [&str; 3] = ["Management", "Data", "NetworkActivity"];

/// A trail's event selectors.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", content = "selectors", rename_all = "snake_case")]
pub enum Selectors {
    /// Never configured: all management events.
    #[default]
    Default,
    Basic(Vec<EventSelector>),
    Advanced(Vec<AdvancedEventSelector>),
}

impl Selectors {
    /// The selectors PutEventSelectors sets: basic or advanced ones, checked against AWS's
    /// rules (`partition` for the ARNs of basic data resources).
    pub fn from_input(
        basic: Option<Vec<EventSelectorInput>>,
        advanced: Option<Vec<AdvancedEventSelector>>,
        partition: &str,
    ) -> Result<Selectors, CloudTrailError> {
        match (basic, advanced) {
            (Some(_), Some(_)) => Err(invalid(
                "You cannot apply both event selectors and advanced event selectors to a trail.",
            )),
            (None, None) => Err(invalid(
                "Specify either EventSelectors or AdvancedEventSelectors.",
            )),
            (Some(basic), None) => Ok(Selectors::Basic(validate_event_selectors(
                basic, partition,
            )?)),
            (None, Some(advanced)) => {
                validate_advanced_selectors(&advanced)?;
                Ok(Selectors::Advanced(advanced))
            }
        }
    }

    /// `HasCustomEventSelectors` in DescribeTrails.
    pub fn is_custom(&self) -> bool {
        !matches!(self, Selectors::Default)
    }

    /// The selectors as GetEventSelectors answers them (without `TrailARN`).
    pub fn to_wire(&self) -> Value {
        match self {
            Selectors::Default => json!({ "EventSelectors": [EventSelector::default_selector()] }),
            Selectors::Basic(selectors) => json!({ "EventSelectors": selectors }),
            Selectors::Advanced(selectors) => json!({ "AdvancedEventSelectors": selectors }),
        }
    }

    /// Whether the trail logs management events that write (`write == true`) or any
    /// management events (`write == false`).
    pub fn logs_management(&self, write: bool) -> bool {
        match self {
            Selectors::Default => true,
            Selectors::Basic(selectors) => selectors.iter().any(|selector| {
                selector.include_management_events
                    && (!write || selector.read_write_type != ReadWriteType::ReadOnly)
            }),
            Selectors::Advanced(selectors) => selectors.iter().any(|selector| {
                let management = selector.field("eventCategory").is_some_and(|field| {
                    field
                        .equals
                        .as_ref()
                        .is_some_and(|values| values.iter().any(|v| v == "Management"))
                });
                let read_only_only = selector
                    .field("readOnly")
                    .is_some_and(|field| field.equals.as_deref() == Some(&["true".to_owned()][..]));
                management && (!write || !read_only_only)
            }),
        }
    }
}

/// The stored selectors in the form `opentrail_delivery::selectors` evaluates.
impl From<&Selectors> for TrailSelectors {
    fn from(selectors: &Selectors) -> TrailSelectors {
        match selectors {
            Selectors::Default => TrailSelectors::AllManagement,
            Selectors::Basic(list) => TrailSelectors::Basic(
                list.iter()
                    .map(|selector| BasicSelector {
                        read_write: match selector.read_write_type {
                            ReadWriteType::ReadOnly => ReadWrite::ReadOnly,
                            ReadWriteType::WriteOnly => ReadWrite::WriteOnly,
                            ReadWriteType::All => ReadWrite::All,
                        },
                        include_management_events: selector.include_management_events,
                        data_resources: selector
                            .data_resources
                            .iter()
                            .map(|resource| DeliveryDataResource {
                                resource_type: resource.resource_type.clone(),
                                values: resource.values.clone(),
                            })
                            .collect(),
                        exclude_management_event_sources: selector
                            .exclude_management_event_sources
                            .clone()
                            .unwrap_or_default(),
                    })
                    .collect(),
            ),
            Selectors::Advanced(list) => TrailSelectors::Advanced(
                list.iter()
                    .map(|selector| AdvancedSelector {
                        conditions: selector
                            .field_selectors
                            .iter()
                            .map(|field| FieldCondition {
                                field: field.field.clone(),
                                equals: field.equals.clone().unwrap_or_default(),
                                starts_with: field.starts_with.clone().unwrap_or_default(),
                                ends_with: field.ends_with.clone().unwrap_or_default(),
                                not_equals: field.not_equals.clone().unwrap_or_default(),
                                not_starts_with: field.not_starts_with.clone().unwrap_or_default(),
                                not_ends_with: field.not_ends_with.clone().unwrap_or_default(),
                            })
                            .collect(),
                    })
                    .collect(),
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadWriteType {
    ReadOnly,
    WriteOnly,
    All,
}

/// A basic event selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventSelector {
    pub read_write_type: ReadWriteType,
    pub include_management_events: bool,
    #[serde(default)]
    pub data_resources: Vec<DataResource>,
    /// Kept absent when the caller did not give it, as AWS echoes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_management_event_sources: Option<Vec<String>>,
}

impl EventSelector {
    /// The selector of a trail that was never given one.
    pub fn default_selector() -> EventSelector {
        EventSelector {
            read_write_type: ReadWriteType::All,
            include_management_events: true,
            data_resources: Vec::new(),
            exclude_management_event_sources: Some(Vec::new()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataResource {
    #[serde(rename = "Type")]
    pub resource_type: String,
    #[serde(rename = "Values", default)]
    pub values: Vec<String>,
}

/// An advanced event selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdvancedEventSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub field_selectors: Vec<AdvancedFieldSelector>,
}

impl AdvancedEventSelector {
    fn field(&self, name: &str) -> Option<&AdvancedFieldSelector> {
        self.field_selectors
            .iter()
            .find(|field| field.field == name)
    }
}

/// One condition of an advanced selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdvancedFieldSelector {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_with: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_with: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_equals: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_starts_with: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_ends_with: Option<Vec<String>>,
}

impl AdvancedFieldSelector {
    /// `(operator name, values)` of every operator present.
    fn operators(&self) -> Vec<(&'static str, &[String])> {
        [
            ("Equals", &self.equals),
            ("StartsWith", &self.starts_with),
            ("EndsWith", &self.ends_with),
            ("NotEquals", &self.not_equals),
            ("NotStartsWith", &self.not_starts_with),
            ("NotEndsWith", &self.not_ends_with),
        ]
        .into_iter()
        .filter_map(|(name, values)| values.as_deref().map(|values| (name, values)))
        .collect()
    }
}

/// An Insights selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InsightSelector {
    pub insight_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_categories: Option<Vec<String>>,
}

/// A basic selector as the caller sent it (members optional).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventSelectorInput {
    pub read_write_type: Option<ReadWriteType>,
    pub include_management_events: Option<bool>,
    pub data_resources: Option<Vec<DataResourceInput>>,
    pub exclude_management_event_sources: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DataResourceInput {
    #[serde(rename = "Type")]
    pub resource_type: Option<String>,
    #[serde(rename = "Values")]
    pub values: Option<Vec<String>>,
}

fn invalid(message: impl Into<String>) -> CloudTrailError {
    CloudTrailError::InvalidEventSelectors(message.into())
}

/// Checks basic selectors against AWS's rules and fills in the defaults.
pub fn validate_event_selectors(
    input: Vec<EventSelectorInput>,
    partition: &str,
) -> Result<Vec<EventSelector>, CloudTrailError> {
    if input.is_empty() || input.len() > MAX_EVENT_SELECTORS {
        return Err(invalid(format!(
            "Invalid number of event selectors: {}. A trail can have 1 to {MAX_EVENT_SELECTORS} event selectors.",
            input.len()
        )));
    }
    let mut total_values = 0;
    let mut selectors = Vec::with_capacity(input.len());
    for selector in input {
        let include_management_events = selector.include_management_events.unwrap_or(true);
        let mut data_resources = Vec::new();
        for resource in selector.data_resources.unwrap_or_default() {
            let Some(resource_type) = resource.resource_type else {
                return Err(invalid("Every data resource must have a Type."));
            };
            let Some((_, service)) = BASIC_DATA_TYPES
                .iter()
                .find(|(name, _)| *name == resource_type)
            else {
                return Err(invalid(format!(
                    "Data resource type {resource_type} is not valid for basic event selectors. Valid types: {}. Use advanced event selectors for other types.",
                    BASIC_DATA_TYPES.map(|(name, _)| name).join(", ")
                )));
            };
            let values = resource.values.unwrap_or_default();
            let arn_prefix = format!("arn:{partition}:{service}");
            if let Some(bad) = values.iter().find(|value| !value.starts_with(&arn_prefix)) {
                return Err(invalid(format!(
                    "Value {bad} for data resource type {resource_type} is not valid: it must start with {arn_prefix}."
                )));
            }
            total_values += values.len();
            data_resources.push(DataResource {
                resource_type,
                values,
            });
        }
        let excluded = selector.exclude_management_event_sources;
        if let Some(sources) = &excluded {
            if let Some(bad) = sources
                .iter()
                .find(|s| !EXCLUDABLE_SOURCES.contains(&s.as_str()))
            {
                return Err(invalid(format!(
                    "Excluded management event source {bad} is not valid. Valid sources: {}.",
                    EXCLUDABLE_SOURCES.join(", ")
                )));
            }
            if !sources.is_empty() && !include_management_events {
                return Err(invalid(
                    "ExcludeManagementEventSources requires IncludeManagementEvents to be true.",
                ));
            }
        }
        selectors.push(EventSelector {
            read_write_type: selector.read_write_type.unwrap_or(ReadWriteType::All),
            include_management_events,
            data_resources,
            exclude_management_event_sources: excluded,
        });
    }
    if total_values > MAX_DATA_RESOURCES {
        return Err(invalid(format!(
            "A trail can have at most {MAX_DATA_RESOURCES} data resources across its event selectors; {total_values} were specified."
        )));
    }
    Ok(selectors)
}

/// Checks advanced selectors against AWS's rules for trails.
pub fn validate_advanced_selectors(
    selectors: &[AdvancedEventSelector],
) -> Result<(), CloudTrailError> {
    if selectors.is_empty() {
        return Err(invalid("Specify at least one advanced event selector."));
    }
    let mut total_values = 0;
    for selector in selectors {
        let label = selector.name.as_deref().unwrap_or("(unnamed)");
        if selector.field_selectors.is_empty() {
            return Err(invalid(format!(
                "Advanced event selector {label} must have at least one field selector."
            )));
        }
        let mut seen = HashSet::new();
        for field in &selector.field_selectors {
            if !ADVANCED_FIELDS.contains(&field.field.as_str()) {
                return Err(invalid(format!(
                    "Invalid field name {} in advanced event selector {label}. Valid fields: {}.",
                    field.field,
                    ADVANCED_FIELDS.join(", ")
                )));
            }
            if !seen.insert(field.field.as_str()) {
                return Err(invalid(format!(
                    "Field {} appears more than once in advanced event selector {label}.",
                    field.field
                )));
            }
            let operators = field.operators();
            if operators.is_empty() {
                return Err(invalid(format!(
                    "Field selector {} in advanced event selector {label} has no operator.",
                    field.field
                )));
            }
            for (operator, values) in &operators {
                if values.is_empty() {
                    return Err(invalid(format!(
                        "Operator {operator} of field {} in advanced event selector {label} has no values.",
                        field.field
                    )));
                }
                total_values += values.len();
            }
            let only_equals = operators.iter().all(|(operator, _)| *operator == "Equals");
            match field.field.as_str() {
                "eventCategory" | "readOnly" | "resources.type" if !only_equals => {
                    return Err(invalid(format!(
                        "Field {} supports only the Equals operator.",
                        field.field
                    )));
                }
                "eventCategory" => {
                    if let Some(bad) = field
                        .equals
                        .iter()
                        .flatten()
                        .find(|value| !EVENT_CATEGORIES.contains(&value.as_str()))
                    {
                        return Err(invalid(format!(
                            "Invalid value {bad} for field eventCategory. Valid values: {}.",
                            EVENT_CATEGORIES.join(", ")
                        )));
                    }
                }
                "readOnly" => {
                    let values = field.equals.as_deref().unwrap_or_default();
                    if values.len() != 1 || !["true", "false"].contains(&values[0].as_str()) {
                        return Err(invalid(
                            "Field readOnly takes exactly one value, true or false.",
                        ));
                    }
                }
                _ => {}
            }
        }
        let Some(category) = selector.field("eventCategory") else {
            return Err(invalid(format!(
                "Advanced event selector {label} must have an eventCategory field selector."
            )));
        };
        let data_like = category
            .equals
            .iter()
            .flatten()
            .any(|value| value == "Data" || value == "NetworkActivity");
        let is_data = category
            .equals
            .iter()
            .flatten()
            .any(|value| value == "Data");
        if is_data && selector.field("resources.type").is_none() {
            return Err(invalid(format!(
                "Advanced event selector {label} for data events must have a resources.type field selector."
            )));
        }
        if !data_like && selector.field("resources.type").is_some() {
            return Err(invalid(format!(
                "Field resources.type is only valid for data events (advanced event selector {label})."
            )));
        }
    }
    if total_values > MAX_ADVANCED_VALUES {
        return Err(invalid(format!(
            "Advanced event selectors of a trail can have at most {MAX_ADVANCED_VALUES} values across all conditions; {total_values} were specified."
        )));
    }
    Ok(())
}

/// Checks Insights selectors against the event selectors of the trail they would go on.
pub fn validate_insight_selectors(
    selectors: &[InsightSelector],
    event_selectors: &Selectors,
) -> Result<(), CloudTrailError> {
    let mut seen = HashSet::new();
    for selector in selectors {
        if !matches!(
            selector.insight_type.as_str(),
            "ApiCallRateInsight" | "ApiErrorRateInsight"
        ) {
            return Err(CloudTrailError::InvalidInsightSelectors(format!(
                "Insight type {} is not valid. Valid types: ApiCallRateInsight, ApiErrorRateInsight.",
                selector.insight_type
            )));
        }
        if !seen.insert(selector.insight_type.as_str()) {
            return Err(CloudTrailError::InvalidInsightSelectors(format!(
                "Insight type {} is specified more than once.",
                selector.insight_type
            )));
        }
        let wants_write = selector.insight_type == "ApiCallRateInsight";
        if !event_selectors.logs_management(wants_write) {
            let which = if wants_write {
                "write management events"
            } else {
                "management events"
            };
            return Err(CloudTrailError::InvalidInsightSelectors(format!(
                "{} requires the trail to log {which}. Update the trail's event selectors first.",
                selector.insight_type
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(value: Value) -> Result<Vec<EventSelector>, CloudTrailError> {
        let input: Vec<EventSelectorInput> = serde_json::from_value(value).expect("input shape");
        validate_event_selectors(input, "aws")
    }

    fn advanced(value: Value) -> Result<(), CloudTrailError> {
        let input: Vec<AdvancedEventSelector> = serde_json::from_value(value).expect("input shape");
        validate_advanced_selectors(&input)
    }

    #[test]
    fn basic_selectors_get_defaults_and_echo_the_input_shape() {
        let selectors = basic(json!([{"DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::b/"]}]}]))
            .expect("valid");
        assert_eq!(
            serde_json::to_value(&selectors).expect("json"),
            json!([{"ReadWriteType": "All", "IncludeManagementEvents": true,
                    "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::b/"]}]}])
        );
    }

    #[test]
    fn basic_selector_limits() {
        let six: Vec<Value> = (0..6).map(|_| json!({"ReadWriteType": "All"})).collect();
        assert!(matches!(
            basic(Value::Array(six)),
            Err(CloudTrailError::InvalidEventSelectors(_))
        ));
        assert!(basic(json!([])).is_err());
        let values: Vec<String> = (0..251).map(|i| format!("arn:aws:s3:::b{i}/")).collect();
        let too_many = json!([{"DataResources": [{"Type": "AWS::S3::Object", "Values": values}]}]);
        assert!(basic(too_many).is_err());
        assert!(
            basic(json!([{"DataResources": [{"Type": "AWS::EC2::Instance", "Values": []}]}]))
                .is_err()
        );
        assert!(basic(json!([{"DataResources": [{"Type": "AWS::Lambda::Function", "Values": ["arn:aws:s3:::x"]}]}])).is_err());
        assert!(basic(json!([{"ExcludeManagementEventSources": ["ec2.amazonaws.com"]}])).is_err());
        assert!(basic(json!([{"IncludeManagementEvents": false, "ExcludeManagementEventSources": ["kms.amazonaws.com"]}])).is_err());
        assert!(basic(json!([{"ExcludeManagementEventSources": ["kms.amazonaws.com"]}])).is_ok());
    }

    #[test]
    fn advanced_selector_rules() {
        assert!(advanced(json!([{"Name": "m", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}])).is_ok());
        assert!(
            advanced(json!([{"FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::b/"]}]}]))
            .is_ok()
        );
        // Unknown field, as moto's tests use.
        assert!(
            advanced(
                json!([{"Name": "aes1", "FieldSelectors": [{"Field": "f", "Equals": ["fs1"]}]}])
            )
            .is_err()
        );
        // Missing eventCategory; data without resources.type; bad readOnly; no operator.
        assert!(
            advanced(json!([{"FieldSelectors": [{"Field": "eventName", "Equals": ["x"]}]}]))
                .is_err()
        );
        assert!(
            advanced(json!([{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]}]))
                .is_err()
        );
        assert!(
            advanced(
                json!([{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
            {"Field": "readOnly", "Equals": ["yes"]}]}])
            )
            .is_err()
        );
        assert!(advanced(json!([{"FieldSelectors": [{"Field": "eventCategory"}]}])).is_err());
        assert!(
            advanced(
                json!([{"FieldSelectors": [{"Field": "eventCategory", "StartsWith": ["Man"]}]}])
            )
            .is_err()
        );
        let values: Vec<String> = (0..500).map(|i| format!("e{i}")).collect();
        assert!(
            advanced(
                json!([{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
            {"Field": "eventName", "Equals": values}]}])
            )
            .is_err()
        );
    }

    #[test]
    fn management_logging_follows_the_selectors() {
        assert!(Selectors::Default.logs_management(true));
        let read_only = Selectors::Basic(vec![EventSelector {
            read_write_type: ReadWriteType::ReadOnly,
            ..EventSelector::default_selector()
        }]);
        assert!(read_only.logs_management(false));
        assert!(!read_only.logs_management(true));
        let advanced: Vec<AdvancedEventSelector> = serde_json::from_value(json!([{"FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "readOnly", "Equals": ["true"]}]}]))
            .expect("shape");
        assert!(!Selectors::Advanced(advanced).logs_management(true));
    }

    #[test]
    fn wire_form_of_each_kind() {
        assert_eq!(
            Selectors::Default.to_wire(),
            json!({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": true,
                   "DataResources": [], "ExcludeManagementEventSources": []}]})
        );
        let advanced: Vec<AdvancedEventSelector> =
            serde_json::from_value(json!([{"FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"]}]}]))
            .expect("shape");
        assert_eq!(
            Selectors::Advanced(advanced).to_wire(),
            json!({"AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]})
        );
    }
}
