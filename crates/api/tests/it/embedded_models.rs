//! The embedded botocore models (crates/api/models) all parse and are found by signing name.

use opentrail_api::EmbeddedModel;
use opentrail_api::models::model;

#[test]
fn every_embedded_model_parses_and_is_its_service() {
    for service in EmbeddedModel::ALL {
        let parsed = model(service);
        assert_eq!(
            parsed.metadata().signing_name.as_deref(),
            Some(service.signing_name()),
            "{service:?}"
        );
        assert!(
            !parsed.operation_names().is_empty(),
            "{service:?} has no operations"
        );
        // The same parse is handed out every time.
        assert!(std::ptr::eq(parsed, model(service)));
    }
    assert_eq!(model(EmbeddedModel::Cloudtrail).operation_names().len(), 60);
    assert!(model(EmbeddedModel::Logs).has_operation("CreateLogGroup"));
    assert!(model(EmbeddedModel::Sns).has_operation("Publish"));
    assert!(model(EmbeddedModel::CloudtrailData).has_operation("PutAuditEvents"));
    assert!(model(EmbeddedModel::Monitoring).has_operation("PutMetricAlarm"));
}

#[test]
fn signing_names_round_trip() {
    for service in EmbeddedModel::ALL {
        assert_eq!(
            EmbeddedModel::from_signing_name(service.signing_name()),
            Some(service)
        );
    }
    assert_eq!(
        EmbeddedModel::from_signing_name("monitoring"),
        Some(EmbeddedModel::Monitoring)
    );
    assert_eq!(EmbeddedModel::from_signing_name("cloudwatch"), None);
    assert_eq!(EmbeddedModel::from_signing_name("s3"), None);
    assert_eq!(EmbeddedModel::from_signing_name(""), None);
}

#[test]
fn embedded_json_is_stripped_of_documentation() {
    for service in EmbeddedModel::ALL {
        let text = service.json();
        assert!(
            !text.contains("\"documentation\":\""),
            "{service:?} still carries documentation; regenerate it with models/strip.py"
        );
        let root: serde_json::Value = serde_json::from_str(text).expect("embedded json");
        assert!(root["shapes"].is_object(), "{service:?}");
    }
}
