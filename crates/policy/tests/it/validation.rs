//! Runs `tests/data/validation.json`: documents and the messages IAM (or Organizations)
//! answers for them.

use opentrail_policy::{Policy, PolicyKind, size_without_whitespace};
use serde_json::Value;

#[test]
fn validation_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/validation.json");
    let table: Value =
        serde_json::from_str(&fs_err::read_to_string(path).expect("reads")).expect("parses");
    let mut failures = Vec::new();
    let cases = table["cases"].as_array().expect("cases");
    for case in cases {
        let kind = match case["kind"].as_str().expect("kind") {
            "identity" => PolicyKind::Identity,
            "trust" => PolicyKind::Trust,
            "resource" => PolicyKind::Resource,
            "scp" => PolicyKind::ServiceControl,
            other => panic!("unknown kind {other}"),
        };
        let text = match case.get("text").and_then(Value::as_str) {
            Some(text) => text.to_owned(),
            None => serde_json::to_string(&case["document"]).expect("serializes"),
        };
        let want = case["error"].as_str();
        let got = Policy::parse(&text, kind).err();
        if got.as_ref().map(|e| e.message.as_str()) != want {
            failures.push(format!("{kind:?} {text}\n  got  {got:?}\n  want {want:?}"));
        }
        if let Some(error) = got {
            let code = if kind == PolicyKind::ServiceControl {
                "MalformedPolicyDocumentException"
            } else {
                "MalformedPolicyDocument"
            };
            assert_eq!((error.aws_code(), error.http_status()), (code, 400));
        }
    }
    assert!(cases.len() >= 50, "only {} validation cases", cases.len());
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn size_ignores_whitespace() {
    let compact =
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#;
    let pretty = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": {\n    \"Effect\": \"Allow\",\n    \"Action\": \"s3:*\",\n    \"Resource\": \"*\"\n  }\n}\n";
    assert_eq!(size_without_whitespace(compact), compact.len());
    assert_eq!(size_without_whitespace(pretty), compact.len());
    assert_eq!(size_without_whitespace("é é"), 2);
}

#[test]
fn parsed_policy_reports_its_parts() {
    let text = r#"{"Version":"2012-10-17","Id":"p","Statement":[{"Sid":"One","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"s3:DeleteBucket","Resource":"*"}]}"#;
    let policy = Policy::parse(text, PolicyKind::Identity).expect("valid");
    assert_eq!(policy.id(), Some("p"));
    assert_eq!(policy.statement_count(), 2);
    assert_eq!(policy.sids().collect::<Vec<_>>(), vec![Some("One"), None]);
    assert_eq!(policy.version(), opentrail_policy::Version::V2012);
    assert_eq!(policy.kind(), PolicyKind::Identity);
}
