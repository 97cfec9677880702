//! Runs `tests/data/evaluation.json`: each case sets up policies, each check is one request
//! with its expected decision and, where given, AWS's exact denial message.

use std::collections::HashMap;

use opentrail_policy::{
    ConditionContext, Decision, Effect, Policies, Policy, PolicyKind, PolicyType, Principal,
    PrincipalKind, Request, denial_message, evaluate, trust_allows,
};
use serde_json::Value;

/// A principal of the table, owning what `Principal` borrows.
struct OwnedPrincipal {
    arn: String,
    account: String,
    kind: String,
    role_arn: String,
    name: String,
    user_id: Option<String>,
    username: Option<String>,
    tags: Vec<(String, String)>,
    org_id: Option<String>,
    management: bool,
}

impl OwnedPrincipal {
    fn from_json(value: &Value) -> OwnedPrincipal {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        OwnedPrincipal {
            arn: text("arn").unwrap_or_default(),
            account: text("account").unwrap_or_default(),
            kind: text("kind").expect("principal kind"),
            role_arn: text("role_arn").unwrap_or_default(),
            name: text("service").or(text("provider")).unwrap_or_default(),
            user_id: text("user_id"),
            username: text("username"),
            tags: value
                .get("tags")
                .and_then(Value::as_object)
                .map(|tags| {
                    tags.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
            org_id: text("org_id"),
            management: value.get("management").and_then(Value::as_bool) == Some(true),
        }
    }

    fn borrow(&self) -> Principal<'_> {
        let kind = match self.kind.as_str() {
            "user" => PrincipalKind::User,
            "root" => PrincipalKind::Root,
            "role" => PrincipalKind::Role,
            "assumed-role" => PrincipalKind::AssumedRole {
                role_arn: &self.role_arn,
            },
            "federated-user" => PrincipalKind::FederatedUser,
            "service" => PrincipalKind::Service(&self.name),
            "federated" => PrincipalKind::Federated(&self.name),
            "anonymous" => PrincipalKind::Anonymous,
            other => panic!("unknown principal kind {other}"),
        };
        Principal {
            arn: &self.arn,
            account: &self.account,
            kind,
            user_id: self.user_id.as_deref(),
            username: self.username.as_deref(),
            tags: &self.tags,
            org_id: self.org_id.as_deref(),
            in_management_account: self.management,
        }
    }
}

fn parse_policy(
    named: &HashMap<String, Value>,
    value: &Value,
    kind: PolicyKind,
    case: &str,
) -> Policy {
    let document = match value {
        Value::String(name) => named
            .get(name)
            .unwrap_or_else(|| panic!("{case}: no policy named {name}")),
        other => other,
    };
    let text = serde_json::to_string_pretty(document).expect("serializes");
    Policy::parse(&text, kind)
        .unwrap_or_else(|e| panic!("{case}: policy does not parse as {kind:?}: {e}\n{text}"))
}

fn expected(text: &str) -> Decision {
    let kind = |name: &str| match name {
        "Identity" => PolicyType::Identity,
        "Resource" => PolicyType::Resource,
        "PermissionsBoundary" => PolicyType::PermissionsBoundary,
        "Session" => PolicyType::Session,
        "ServiceControl" => PolicyType::ServiceControl,
        other => panic!("unknown policy type {other}"),
    };
    match text.split_once(':') {
        None if text == "Allow" => Decision::Allow,
        Some(("ExplicitDeny", name)) => Decision::ExplicitDeny(kind(name)),
        Some(("ImplicitDeny", name)) => Decision::ImplicitDeny(kind(name)),
        _ => panic!("unknown decision {text}"),
    }
}

fn context_of(value: Option<&Value>) -> ConditionContext {
    let mut context = ConditionContext::new();
    for (key, values) in value.and_then(Value::as_object).into_iter().flatten() {
        let values = values
            .as_array()
            .expect("context values are lists")
            .iter()
            .map(|v| v.as_str().expect("context values are strings").to_owned())
            .collect();
        context.set(key, values);
    }
    context
}

#[test]
fn evaluation_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/evaluation.json");
    let table: Value =
        serde_json::from_str(&fs_err::read_to_string(path).expect("reads")).expect("parses");
    let principals: HashMap<String, OwnedPrincipal> = table["principals"]
        .as_object()
        .expect("principals")
        .iter()
        .map(|(name, value)| (name.clone(), OwnedPrincipal::from_json(value)))
        .collect();
    let named: HashMap<String, Value> = table["policies"]
        .as_object()
        .expect("policies")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    let cases = table["cases"].as_array().expect("cases");
    let mut checks = 0;
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("case name");
        let source = case
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or_default();
        assert!(
            !source.is_empty(),
            "{name}: every case cites the AWS documentation page it comes from"
        );
        let list = |key: &str| {
            case.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let identity: Vec<Policy> = list("identity")
            .iter()
            .map(|p| parse_policy(&named, p, PolicyKind::Identity, name))
            .collect();
        let resource_kind = match case.get("resource_kind").and_then(Value::as_str) {
            Some("trust") => PolicyKind::Trust,
            _ => PolicyKind::Resource,
        };
        let resource = case
            .get("resource_policy")
            .map(|p| parse_policy(&named, p, resource_kind, name));
        let boundary = case
            .get("boundary")
            .map(|p| parse_policy(&named, p, PolicyKind::Identity, name));
        let session = case
            .get("session")
            .map(|p| parse_policy(&named, p, PolicyKind::Identity, name));
        let scp_levels: Vec<Vec<Policy>> = list("scp")
            .iter()
            .map(|level| {
                level
                    .as_array()
                    .expect("an SCP level is a list")
                    .iter()
                    .map(|p| parse_policy(&named, p, PolicyKind::ServiceControl, name))
                    .collect()
            })
            .collect();
        let identity_refs: Vec<&Policy> = identity.iter().collect();
        let scp_refs: Vec<Vec<&Policy>> = scp_levels.iter().map(|l| l.iter().collect()).collect();
        let scp_slices: Vec<&[&Policy]> = scp_refs.iter().map(Vec::as_slice).collect();
        let policies = Policies {
            identity: &identity_refs,
            resource: resource.as_ref(),
            boundary: boundary.as_ref(),
            session: session.as_ref(),
            scp_levels: &scp_slices,
        };
        for check in case["checks"].as_array().expect("checks") {
            checks += 1;
            let principal_name = check
                .get("principal")
                .or(case.get("principal"))
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{name}: no principal"));
            let owned = principals
                .get(principal_name)
                .unwrap_or_else(|| panic!("{name}: no principal {principal_name}"));
            let principal = owned.borrow();
            let context = context_of(check.get("context"));
            let request = Request {
                principal: &principal,
                action: check["action"].as_str().expect("action"),
                resource: check.get("resource").and_then(Value::as_str).unwrap_or("*"),
                resource_account: check.get("resource_account").and_then(Value::as_str),
                context: &context,
            };
            let decision = match case.get("helper").and_then(Value::as_str) {
                Some("trust") => trust_allows(
                    resource
                        .as_ref()
                        .expect("the trust helper needs a trust policy"),
                    &principal,
                    request.action,
                    request.resource,
                    &context,
                ),
                _ => evaluate(&policies, &request),
            };
            let want = expected(check["expect"].as_str().expect("expect"));
            if decision != want {
                failures.push(format!(
                    "{name}: {principal_name} {} on {}: got {decision:?}, want {want:?}",
                    request.action, request.resource
                ));
                continue;
            }
            if let Some(message) = check.get("message").and_then(Value::as_str) {
                let got = denial_message(decision, &request);
                if got.as_deref() != Some(message) {
                    failures.push(format!(
                        "{name}: message\n  got  {got:?}\n  want {message:?}"
                    ));
                }
            }
        }
    }
    let with_message = cases
        .iter()
        .filter(|case| {
            case["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c.get("message").is_some())
        })
        .count();
    println!(
        "evaluation table: {} cases, {checks} checks, {with_message} cases with AWS's denial message",
        cases.len()
    );
    assert!(
        cases.len() >= 170,
        "the table has {} cases, fewer than 170",
        cases.len()
    );
    assert!(
        with_message >= 20,
        "only {with_message} cases check AWS's denial message"
    );
    assert!(
        failures.is_empty(),
        "{} of {checks} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn allow_has_no_message() {
    let principal = Principal::new(
        "arn:aws:iam::111122223333:user/alice",
        "111122223333",
        PrincipalKind::User,
    );
    let context = ConditionContext::new();
    let request = Request {
        principal: &principal,
        action: "s3:GetObject",
        resource: "*",
        resource_account: None,
        context: &context,
    };
    assert_eq!(denial_message(Decision::Allow, &request), None);
}

#[test]
fn matching_statements_lists_what_applies() {
    let policy = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Read","Effect":"Allow","Action":"s3:Get*","Resource":"*"},
            {"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/*"},
            {"Sid":"NoSecrets","Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/secret/*"},
            {"Sid":"Other","Effect":"Allow","Action":"ec2:*","Resource":"*"}]}"#,
        PolicyKind::Identity,
    )
    .expect("valid");
    let principal = Principal::new(
        "arn:aws:iam::111122223333:user/alice",
        "111122223333",
        PrincipalKind::User,
    );
    let context = ConditionContext::new();
    let request = Request {
        principal: &principal,
        action: "s3:GetObject",
        resource: "arn:aws:s3:::b/secret/key",
        resource_account: None,
        context: &context,
    };
    let matched: Vec<(usize, Option<&str>, Effect)> =
        opentrail_policy::matching_statements(&policy, &request)
            .into_iter()
            .map(|m| (m.index, m.sid, m.effect))
            .collect();
    assert_eq!(
        matched,
        vec![
            (0, Some("Read"), Effect::Allow),
            (1, None, Effect::Allow),
            (2, Some("NoSecrets"), Effect::Deny),
        ]
    );
}
