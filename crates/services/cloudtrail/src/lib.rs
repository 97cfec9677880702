//! CloudTrail (`cloudtrail.amazonaws.com`, awsJson 1.1): trails, selectors, tags and event
//! history.
//!
//! Every operation of the botocore model is one variant of [`Operation`]; one exhaustive
//! `match` ([`handler`]) sends it to its handler. Operations that are not built yet answer
//! `UnsupportedOperationException`. Handlers touch the metadata store, so they run on the
//! blocking pool; LookupEvents waits for the history index first and then does the same.
//!
//! # Layout
//! - [`trails`]: the trail operations: CreateTrail … StopLogging, the selector operations,
//!   AddTags, RemoveTags, ListTags.
//! - [`selectors`]: event selectors (basic, advanced) and Insights selectors: stored form, rules.
//! - [`tags`]: trail tags and their rules.
//! - [`lookup`]: the LookupEvents operation.
//! - [`public_keys`]: ListPublicKeys (the keys that verify digest files).
//! - [`delegated_admins`]: RegisterOrganizationDelegatedAdmin and
//!   DeregisterOrganizationDelegatedAdmin (through Organizations).
//! - [`store`]: the stored trail and trail status ([`store::TrailStatus`], for delivery), and
//!   how a request finds the trail it names.
//! - [`validate`]: trail names, trail ARNs and the other parameters.
//! - [`error`]: [`CloudTrailError`] and its AWS codes.
//! - [`ingest`]: the ingest API (`cloudtrail-data` PutAuditEvents).
//! - [`workers`]: the journal followers of CloudTrail: the history index, retention, trail
//!   delivery and digests.
//! - [`delivery_target`]: whether a trail's bucket exists where delivery writes; encryption.
//! - [`notify`]: the SNS notice of each delivery.
//! - [`CloudTrailService`], [`IngestService`]: the two services as the server dispatches to them.

pub mod delegated_admins;
pub mod delivery_target;
pub mod error;
pub mod ingest;
pub mod lookup;
pub mod notify;
pub mod public_keys;
pub mod selectors;
pub mod service;
pub mod store;
pub mod tags;
pub mod target_policies;
pub mod trails;
pub mod validate;
pub mod workers;

use std::sync::Arc;

use opentrail_api::ApiError;
use opentrail_model::Resource;
use opentrail_objects::StoreError;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use error::CloudTrailError;
pub use service::{CloudTrailApi, CloudTrailService, IngestService};

use opentrail_core::AppState;
use opentrail_core::context::RequestContext;
use opentrail_core::pipeline::Operation as _;
use validate::TrailArn;

pub const EVENT_SOURCE: &str = "cloudtrail.amazonaws.com";

opentrail_core::operations! {
    /// Every operation of CloudTrail 2013-11-01.
    pub enum Operation {
        AddTags,
        CancelQuery,
        CreateChannel,
        CreateDashboard,
        CreateEventDataStore,
        CreateTrail,
        DeleteChannel,
        DeleteDashboard,
        DeleteEventDataStore,
        DeleteResourcePolicy,
        DeleteTrail,
        DeregisterOrganizationDelegatedAdmin,
        DescribeQuery,
        DescribeTrails,
        DisableFederation,
        EnableFederation,
        GenerateQuery,
        GetChannel,
        GetDashboard,
        GetEventConfiguration,
        GetEventDataStore,
        GetEventSelectors,
        GetImport,
        GetInsightSelectors,
        GetQueryResults,
        GetResourcePolicy,
        GetTrail,
        GetTrailStatus,
        ListChannels,
        ListDashboards,
        ListEventDataStores,
        ListImportFailures,
        ListImports,
        ListInsightsData,
        ListInsightsMetricData,
        ListPublicKeys,
        ListQueries,
        ListTags,
        ListTrails,
        LookupEvents,
        PutEventConfiguration,
        PutEventSelectors,
        PutInsightSelectors,
        PutResourcePolicy,
        RegisterOrganizationDelegatedAdmin,
        RemoveTags,
        RestoreEventDataStore,
        SearchSampleQueries,
        StartDashboardRefresh,
        StartEventDataStoreIngestion,
        StartImport,
        StartLogging,
        StartQuery,
        StopEventDataStoreIngestion,
        StopImport,
        StopLogging,
        UpdateChannel,
        UpdateDashboard,
        UpdateEventDataStore,
        UpdateTrail,
    }
}

/// A handler that reads or writes the metadata store (it blocks).
type BlockingHandler = fn(&AppState, &RequestContext, &Value) -> Result<Value, CloudTrailError>;

/// How an operation is served.
pub enum Handler {
    Blocking(BlockingHandler),
    LookupEvents,
    Unsupported,
}

/// The one place that says which handler serves which operation.
pub fn handler(operation: Operation) -> Handler {
    use Operation::*;
    match operation {
        CreateTrail => Handler::Blocking(trails::create_trail),
        UpdateTrail => Handler::Blocking(trails::update_trail),
        DeleteTrail => Handler::Blocking(trails::delete_trail),
        GetTrail => Handler::Blocking(trails::get_trail),
        DescribeTrails => Handler::Blocking(trails::describe_trails),
        ListTrails => Handler::Blocking(trails::list_trails),
        GetTrailStatus => Handler::Blocking(trails::get_trail_status),
        StartLogging => Handler::Blocking(trails::start_logging),
        StopLogging => Handler::Blocking(trails::stop_logging),
        PutEventSelectors => Handler::Blocking(trails::put_event_selectors),
        GetEventSelectors => Handler::Blocking(trails::get_event_selectors),
        PutInsightSelectors => Handler::Blocking(trails::put_insight_selectors),
        GetInsightSelectors => Handler::Blocking(trails::get_insight_selectors),
        AddTags => Handler::Blocking(trails::add_tags),
        RemoveTags => Handler::Blocking(trails::remove_tags),
        ListTags => Handler::Blocking(trails::list_tags),
        LookupEvents => Handler::LookupEvents,
        ListPublicKeys => Handler::Blocking(public_keys::list_public_keys),
        RegisterOrganizationDelegatedAdmin => {
            Handler::Blocking(delegated_admins::register_organization_delegated_admin)
        }
        DeregisterOrganizationDelegatedAdmin => {
            Handler::Blocking(delegated_admins::deregister_organization_delegated_admin)
        }
        CancelQuery
        | CreateChannel
        | CreateDashboard
        | CreateEventDataStore
        | DeleteChannel
        | DeleteDashboard
        | DeleteEventDataStore
        | DeleteResourcePolicy
        | DescribeQuery
        | DisableFederation
        | EnableFederation
        | GenerateQuery
        | GetChannel
        | GetDashboard
        | GetEventConfiguration
        | GetEventDataStore
        | GetImport
        | GetQueryResults
        | GetResourcePolicy
        | ListChannels
        | ListDashboards
        | ListEventDataStores
        | ListImportFailures
        | ListImports
        | ListInsightsData
        | ListInsightsMetricData
        | ListQueries
        | PutEventConfiguration
        | PutResourcePolicy
        | RestoreEventDataStore
        | SearchSampleQueries
        | StartDashboardRefresh
        | StartEventDataStoreIngestion
        | StartImport
        | StartQuery
        | StopEventDataStoreIngestion
        | StopImport
        | UpdateChannel
        | UpdateDashboard
        | UpdateEventDataStore => Handler::Unsupported,
    }
}

/// Whether `operation` only reads.
pub fn is_read_only(operation: &str) -> bool {
    ["Get", "List", "Describe", "Lookup", "Search"]
        .iter()
        .any(|prefix| operation.starts_with(prefix))
}

/// Checks that CloudTrail answers with its own error codes before the generic model validation
/// (LookupEvents answers `InvalidMaxResultsException`, `InvalidLookupAttributesException`, …
/// where the model alone would say `ValidationException`).
pub fn precheck(ctx: &RequestContext, operation: &str, input: &Value) -> Result<(), ApiError> {
    match Operation::parse(operation) {
        Some(Operation::LookupEvents) => lookup::parse_query(ctx, input)
            .map(|_| ())
            .map_err(ApiError::from),
        _ => Ok(()),
    }
}

/// Handles one validated CloudTrail operation.
pub async fn handle(
    state: &Arc<AppState>,
    ctx: &RequestContext,
    operation: Operation,
    input: &Value,
) -> Result<Value, ApiError> {
    let name = operation.name();
    let result = match handler(operation) {
        Handler::Blocking(serve) => {
            let (state, ctx, input) = (state.clone(), ctx.clone(), input.clone());
            tokio::task::spawn_blocking(move || serve(&state, &ctx, &input))
                .await
                .unwrap_or_else(|err| {
                    Err(CloudTrailError::Internal(format!(
                        "{name} task failed: {err}"
                    )))
                })
        }
        Handler::LookupEvents => lookup::lookup_events(state, ctx, input).await,
        Handler::Unsupported => Err(CloudTrailError::Unsupported(format!(
            "{name} is not supported by this server yet"
        ))),
    };
    result.map_err(ApiError::from)
}

/// The trail a call acted on, when its ARN is in the response (`TrailARN`) or was given.
pub(crate) fn trail_resources(
    operation: &str,
    input: &Value,
    output: Option<&Value>,
) -> Vec<Resource> {
    if !names_a_trail(operation) {
        return Vec::new();
    }
    let from_output = output
        .and_then(|out| out.get("TrailARN"))
        .and_then(Value::as_str);
    let from_input = ["Name", "TrailName", "ResourceId"]
        .iter()
        .find_map(|key| input.get(*key).and_then(Value::as_str));
    from_output
        .into_iter()
        .chain(from_input)
        .find_map(TrailArn::parse)
        .map(|arn| Resource {
            account_id: Some(arn.account_id.clone()),
            resource_type: Some("AWS::CloudTrail::Trail".to_owned()),
            arn: Some(arn.to_string()),
        })
        .into_iter()
        .collect()
}

/// Whether `operation` acts on one trail (named by `Name`, `TrailName` or `ResourceId`).
pub(crate) fn names_a_trail(operation: &str) -> bool {
    matches!(
        Operation::parse(operation),
        Some(
            Operation::CreateTrail
                | Operation::UpdateTrail
                | Operation::DeleteTrail
                | Operation::GetTrail
                | Operation::GetTrailStatus
                | Operation::StartLogging
                | Operation::StopLogging
                | Operation::PutEventSelectors
                | Operation::GetEventSelectors
                | Operation::PutInsightSelectors
                | Operation::GetInsightSelectors
                | Operation::AddTags
                | Operation::RemoveTags
        )
    )
}

/// Whether bucket `name` exists where trails deliver: the embedded bucket store, or the
/// external S3-compatible service when one is configured (a service that refuses access to the
/// bucket answers `InsufficientS3BucketPolicyException`).
pub(crate) fn bucket_exists(state: &AppState, name: &str) -> Result<bool, CloudTrailError> {
    match delivery_target::bucket_exists(state, name) {
        Ok(exists) => Ok(exists),
        Err(StoreError::Refused { code, .. }) if code == "AccessDenied" => {
            Err(CloudTrailError::InsufficientS3BucketPolicy(name.to_owned()))
        }
        Err(err) => Err(CloudTrailError::Internal(format!(
            "checking bucket {name}: {err}"
        ))),
    }
}

pub(crate) use opentrail_core::pipeline::input::{
    opt_bool as optional_bool, opt_str as optional_str,
};

/// A string member the model requires (the framework has checked it is there).
pub(crate) fn required_str<'a>(input: &'a Value, key: &str) -> Result<&'a str, CloudTrailError> {
    optional_str(input, key)
        .ok_or_else(|| CloudTrailError::InvalidParameter(format!("{key} is required.")))
}

/// A structured member decoded into `T`; `None` when absent or null.
pub(crate) fn parse_member<T: DeserializeOwned>(
    input: &Value,
    key: &str,
) -> Result<Option<T>, CloudTrailError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|err| CloudTrailError::InvalidParameter(format!("{key} is not valid: {err}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentrail_core::context::EventDetails;
    use opentrail_core::pipeline;
    use serde_json::json;

    fn record_details(name: &str, input: &Value, output: Option<&Value>) -> EventDetails {
        let ctx = RequestContext::for_tests("us-east-1");
        pipeline::details(&CloudTrailApi, &ctx, name, Some(input), output, None)
    }

    #[test]
    fn operations_are_exactly_the_models() {
        let model = opentrail_api::ServiceModel::from_json(include_str!(
            "../../../api/models/cloudtrail-2013-11-01.json"
        ))
        .expect("model");
        let mut from_model: Vec<&str> = model.operation_names();
        from_model.sort_unstable();
        let mut ours: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
        ours.sort_unstable();
        assert_eq!(ours, from_model);
        assert_eq!(Operation::ALL.len(), 60);
        for op in Operation::ALL {
            assert_eq!(Operation::parse(op.name()), Some(*op));
        }
        assert_eq!(Operation::parse("createTrail"), None);
    }

    #[test]
    fn trail_operations_are_built_the_rest_unsupported() {
        let built = Operation::ALL
            .iter()
            .filter(|op| !matches!(handler(**op), Handler::Unsupported))
            .count();
        assert_eq!(built, 20);
        assert!(matches!(
            handler(Operation::StartQuery),
            Handler::Unsupported
        ));
    }

    #[test]
    fn create_trail_record_mirrors_aws() {
        let input = json!({"Name": "t1x", "S3BucketName": "b", "IsMultiRegionTrail": true,
                           "TagsList": [{"Key": "k", "Value": "v"}]});
        let output = json!({"Name": "t1x", "S3BucketName": "b", "IncludeGlobalServiceEvents": true,
                            "IsMultiRegionTrail": true,
                            "TrailARN": "arn:aws:cloudtrail:us-east-1:123456789012:trail/t1x",
                            "LogFileValidationEnabled": false, "IsOrganizationTrail": false});
        let details = record_details("CreateTrail", &input, Some(&output));
        assert!(!details.read_only);
        assert_eq!(
            details.request_parameters,
            Some(
                json!({"name": "t1x", "s3BucketName": "b", "isMultiRegionTrail": true,
                        "tagsList": [{"key": "k", "value": "v"}]})
            )
        );
        let elements = details.response_elements.expect("elements");
        assert_eq!(
            elements["trailARN"],
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/t1x"
        );
        assert_eq!(elements["s3BucketName"], "b");
        assert_eq!(details.resources.len(), 1);
        assert_eq!(
            details.resources[0].resource_type.as_deref(),
            Some("AWS::CloudTrail::Trail")
        );
        assert_eq!(
            details.resources[0].account_id.as_deref(),
            Some("123456789012")
        );
    }

    #[test]
    fn stop_logging_by_name_records_like_aws() {
        let details = record_details("StopLogging", &json!({"Name": "t1x"}), Some(&json!({})));
        assert_eq!(details.request_parameters, Some(json!({"name": "t1x"})));
        assert!(details.resources.is_empty());
        let by_arn = record_details(
            "DeleteTrail",
            &json!({"Name": "arn:aws:cloudtrail:eu-west-1:123456789012:trail/t1x"}),
            None,
        );
        assert_eq!(
            by_arn.resources[0].arn.as_deref(),
            Some("arn:aws:cloudtrail:eu-west-1:123456789012:trail/t1x")
        );
        let lookup = record_details("LookupEvents", &json!({}), Some(&json!({"Events": []})));
        assert!(lookup.read_only);
        assert_eq!(lookup.request_parameters, Some(Value::Null));
        assert!(lookup.resources.is_empty());
    }
}
