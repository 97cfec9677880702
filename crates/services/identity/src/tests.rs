//! Handler tests on a real state (a temporary data directory): ids, names, pagination,
//! quotas, errors, persistence, and the functions the request path calls.

use std::sync::Arc;

use opentrail_core::context::RequestContext;
use opentrail_core::{AppState, ServerConfig};
use serde_json::{Value, json};

use super::*;
use crate::iam::{Call as IamCall, Op};

const ACCOUNT: &str = opentrail_model::ids::DEFAULT_ACCOUNT_ID;
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["sts:AssumeRole","sts:TagSession"]}]}"#;
const DOC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;

struct Fixture {
    _dir: tempfile::TempDir,
    state: Arc<AppState>,
    ctx: RequestContext,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let state =
        Arc::new(AppState::open(ServerConfig::for_tests(dir.path().to_path_buf())).expect("state"));
    Fixture {
        _dir: dir,
        state,
        ctx: RequestContext::for_tests("us-east-1"),
    }
}

impl Fixture {
    fn call(&self, op: Op, input: Value) -> Result<Value, IdentityError> {
        self.call_in(&self.ctx, op, input)
    }

    fn call_in(&self, ctx: &RequestContext, op: Op, input: Value) -> Result<Value, IdentityError> {
        let call = IamCall {
            state: &self.state,
            ctx,
            iam: store::iam(&self.state)?,
            account: &ctx.account_id,
            now: 1_700_000_000,
        };
        iam::dispatch(&call, op, &input)
    }

    fn ok(&self, op: Op, input: Value) -> Value {
        self.call(op, input)
            .unwrap_or_else(|err| panic!("{op:?} failed: {err:?}"))
    }

    fn code(&self, op: Op, input: Value) -> (&'static str, u16) {
        let err = self.call(op, input).expect_err("should fail");
        (err.aws_code(), err.http_status().as_u16())
    }
}

#[test]
fn users_are_created_listed_and_conflict() {
    let f = fixture();
    let out = f.ok(
        Op::CreateUser,
        json!({"UserName": "alice", "Path": "/ops/"}),
    );
    let user = &out["User"];
    assert_eq!(
        user["Arn"],
        json!(format!("arn:aws:iam::{ACCOUNT}:user/ops/alice"))
    );
    assert!(ids::is_id(
        user["UserId"].as_str().unwrap_or(""),
        ids::IdKind::User
    ));
    assert_eq!(
        f.code(Op::CreateUser, json!({"UserName": "ALICE"})),
        ("EntityAlreadyExists", 409)
    );
    assert_eq!(
        f.code(Op::GetUser, json!({"UserName": "bob"})),
        ("NoSuchEntity", 404)
    );
    assert_eq!(
        f.code(Op::CreateUser, json!({"UserName": "bad name"})),
        ("ValidationError", 400)
    );
    assert_eq!(
        f.code(Op::CreateUser, json!({"UserName": "x", "Path": "nopath"})),
        ("ValidationError", 400)
    );
    for i in 0..5 {
        f.ok(Op::CreateUser, json!({"UserName": format!("u{i}")}));
    }
    let page1 = f.ok(Op::ListUsers, json!({"MaxItems": 4}));
    assert_eq!(page1["IsTruncated"], json!(true));
    let names = |v: &Value| -> Vec<String> {
        v["Users"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|u| u["UserName"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(names(&page1), ["alice", "u0", "u1", "u2"]);
    let page2 = f.ok(
        Op::ListUsers,
        json!({"MaxItems": 4, "Marker": page1["Marker"]}),
    );
    assert_eq!(names(&page2), ["u3", "u4"]);
    assert_eq!(page2["IsTruncated"], json!(false));
    let ops = f.ok(Op::ListUsers, json!({"PathPrefix": "/ops/"}));
    assert_eq!(names(&ops), ["alice"]);
}

#[test]
fn the_same_user_name_lives_in_two_accounts() {
    let f = fixture();
    f.ok(Op::CreateUser, json!({"UserName": "alice"}));
    let other = RequestContext {
        account_id: "111122223333".into(),
        identity: opentrail_model::Identity::root("111122223333", "AKIAOTHER"),
        ..RequestContext::for_tests("us-east-1")
    };
    let out = f
        .call_in(&other, Op::CreateUser, json!({"UserName": "alice"}))
        .expect("create");
    assert_eq!(
        out["User"]["Arn"],
        json!("arn:aws:iam::111122223333:user/alice")
    );
}

#[test]
fn access_keys_have_a_quota_and_resolve() {
    let f = fixture();
    f.ok(Op::CreateUser, json!({"UserName": "alice"}));
    let key = f.ok(Op::CreateAccessKey, json!({"UserName": "alice"}));
    let id = key["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let secret = key["AccessKey"]["SecretAccessKey"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(ids::is_id(&id, ids::IdKind::AccessKey), "{id}");
    assert_eq!(secret.len(), 40);
    f.ok(Op::CreateAccessKey, json!({"UserName": "alice"}));
    assert_eq!(
        f.code(Op::CreateAccessKey, json!({"UserName": "alice"})),
        ("LimitExceeded", 409)
    );
    let resolved = resolve_access_key(&f.state, &id)
        .expect("resolve")
        .expect("known");
    assert_eq!(resolved.secret_access_key, secret);
    assert!(resolved.active);
    assert_eq!(resolved.identity.user_name.as_deref(), Some("alice"));
    assert_eq!(resolved.identity.identity_type, IdentityType::IamUser);
    f.ok(
        Op::UpdateAccessKey,
        json!({"UserName": "alice", "AccessKeyId": id, "Status": "Inactive"}),
    );
    assert!(
        !resolve_access_key(&f.state, &id)
            .expect("resolve")
            .expect("known")
            .active
    );
    assert_eq!(
        resolve_access_key(&f.state, "AKIAUNKNOWN").expect("resolve"),
        None
    );
    let unused = f.ok(Op::GetAccessKeyLastUsed, json!({"AccessKeyId": id}));
    assert_eq!(unused["AccessKeyLastUsed"]["ServiceName"], json!("N/A"));
    note_key_used(&f.state, &id, "s3", "eu-west-1", 1_700_000_100);
    let used = f.ok(Op::GetAccessKeyLastUsed, json!({"AccessKeyId": id}));
    assert_eq!(used["AccessKeyLastUsed"]["ServiceName"], json!("s3"));
    assert_eq!(
        f.code(Op::DeleteUser, json!({"UserName": "alice"})),
        ("DeleteConflict", 409)
    );
    f.ok(
        Op::DeleteAccessKey,
        json!({"UserName": "alice", "AccessKeyId": id}),
    );
    assert_eq!(resolve_access_key(&f.state, &id).expect("resolve"), None);
    assert_eq!(
        f.code(
            Op::DeleteAccessKey,
            json!({"UserName": "alice", "AccessKeyId": id})
        ),
        ("NoSuchEntity", 404)
    );
}

#[test]
fn groups_policies_and_what_applies_to_a_user() {
    let f = fixture();
    f.ok(
        Op::CreateUser,
        json!({"UserName": "alice", "Tags": [{"Key": "team", "Value": "a"}]}),
    );
    f.ok(Op::CreateGroup, json!({"GroupName": "devs"}));
    f.ok(
        Op::AddUserToGroup,
        json!({"GroupName": "devs", "UserName": "alice"}),
    );
    let group = f.ok(Op::GetGroup, json!({"GroupName": "devs"}));
    assert_eq!(group["Users"][0]["UserName"], json!("alice"));
    let policy = f.ok(
        Op::CreatePolicy,
        json!({"PolicyName": "p", "PolicyDocument": DOC}),
    );
    let arn = policy["Policy"]["Arn"].as_str().unwrap_or("").to_owned();
    assert_eq!(arn, format!("arn:aws:iam::{ACCOUNT}:policy/p"));
    f.ok(
        Op::AttachGroupPolicy,
        json!({"GroupName": "devs", "PolicyArn": arn}),
    );
    f.ok(
        Op::AttachUserPolicy,
        json!({"UserName": "alice", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
    );
    f.ok(
        Op::PutUserPolicy,
        json!({"UserName": "alice", "PolicyName": "own", "PolicyDocument": DOC}),
    );
    f.ok(
        Op::PutUserPermissionsBoundary,
        json!({"UserName": "alice", "PermissionsBoundary": arn}),
    );
    let identity = opentrail_model::Identity::iam_user(ACCOUNT, "AKIAX", "alice", "AIDAX", "arn");
    let applies = principal_policies(&f.state, &identity).expect("policies");
    let sources: Vec<&str> = applies
        .identity_policies
        .iter()
        .map(|p| p.source.as_str())
        .collect();
    assert_eq!(
        sources,
        [
            "inline:user/alice/own",
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            arn.as_str()
        ]
    );
    assert_eq!(
        applies.permissions_boundary.map(|p| p.document),
        Some(DOC.to_owned())
    );
    assert_eq!(
        applies.principal_tags,
        [("team".to_owned(), "a".to_owned())]
    );
    let got = f.ok(Op::GetPolicy, json!({"PolicyArn": arn}));
    assert_eq!(got["Policy"]["AttachmentCount"], json!(1));
    assert_eq!(got["Policy"]["PermissionsBoundaryUsageCount"], json!(1));
    assert_eq!(
        f.code(Op::DeletePolicy, json!({"PolicyArn": arn})),
        ("DeleteConflict", 409)
    );
    assert_eq!(
        f.code(Op::DeleteGroup, json!({"GroupName": "devs"})),
        ("DeleteConflict", 409)
    );
    let inline = f.ok(
        Op::GetUserPolicy,
        json!({"UserName": "alice", "PolicyName": "own"}),
    );
    assert_eq!(inline["PolicyDocument"], json!(ids::url_encode(DOC)));
    let local = f.ok(Op::ListPolicies, json!({"Scope": "Local"}));
    assert_eq!(local["Policies"].as_array().map(Vec::len), Some(1));
    let attached = f.ok(Op::ListPolicies, json!({"OnlyAttached": true}));
    assert_eq!(attached["Policies"].as_array().map(Vec::len), Some(2));
    let aws = f.ok(Op::ListPolicies, json!({"Scope": "AWS"}));
    assert_eq!(
        aws["Policies"].as_array().map(Vec::len),
        Some(managed::all().len())
    );
    let entities = f.ok(Op::ListEntitiesForPolicy, json!({"PolicyArn": arn}));
    assert_eq!(entities["PolicyGroups"][0]["GroupName"], json!("devs"));
    assert_eq!(entities["PolicyUsers"][0]["UserName"], json!("alice"));
}

#[test]
fn policy_versions_are_limited_to_five() {
    let f = fixture();
    let policy = f.ok(
        Op::CreatePolicy,
        json!({"PolicyName": "p", "PolicyDocument": DOC}),
    );
    let arn = policy["Policy"]["Arn"].clone();
    for _ in 0..4 {
        f.ok(
            Op::CreatePolicyVersion,
            json!({"PolicyArn": arn, "PolicyDocument": DOC}),
        );
    }
    assert_eq!(
        f.code(
            Op::CreatePolicyVersion,
            json!({"PolicyArn": arn, "PolicyDocument": DOC})
        ),
        ("LimitExceeded", 409)
    );
    assert_eq!(
        f.code(
            Op::DeletePolicyVersion,
            json!({"PolicyArn": arn, "VersionId": "v1"})
        ),
        ("DeleteConflict", 409)
    );
    f.ok(
        Op::SetDefaultPolicyVersion,
        json!({"PolicyArn": arn, "VersionId": "v3"}),
    );
    f.ok(
        Op::DeletePolicyVersion,
        json!({"PolicyArn": arn, "VersionId": "v1"}),
    );
    let versions = f.ok(Op::ListPolicyVersions, json!({"PolicyArn": arn}));
    let ids: Vec<&str> = versions["Versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["VersionId"].as_str())
        .collect();
    assert_eq!(ids, ["v2", "v3", "v4", "v5"]);
    assert_eq!(
        f.code(
            Op::CreatePolicy,
            json!({"PolicyName": "q", "PolicyDocument": "{"})
        ),
        ("MalformedPolicyDocument", 400)
    );
}

#[test]
fn roles_check_trust_and_session_bounds() {
    let f = fixture();
    assert_eq!(
        f.code(
            Op::CreateRole,
            json!({"RoleName": "r", "AssumeRolePolicyDocument": DOC})
        ),
        ("MalformedPolicyDocument", 400)
    );
    assert_eq!(
        f.code(
            Op::CreateRole,
            json!({"RoleName": "r", "AssumeRolePolicyDocument": TRUST, "MaxSessionDuration": 100})
        ),
        ("ValidationError", 400)
    );
    let role = f.ok(
        Op::CreateRole,
        json!({"RoleName": "r", "AssumeRolePolicyDocument": TRUST, "MaxSessionDuration": 7200}),
    );
    assert!(ids::is_id(
        role["Role"]["RoleId"].as_str().unwrap_or(""),
        ids::IdKind::Role
    ));
    assert_eq!(
        role["Role"]["AssumeRolePolicyDocument"],
        json!(ids::url_encode(TRUST))
    );
    f.ok(
        Op::PutRolePolicy,
        json!({"RoleName": "r", "PolicyName": "i", "PolicyDocument": DOC}),
    );
    assert_eq!(
        f.code(Op::DeleteRole, json!({"RoleName": "r"})),
        ("DeleteConflict", 409)
    );
    f.ok(
        Op::DeleteRolePolicy,
        json!({"RoleName": "r", "PolicyName": "i"}),
    );
    f.ok(Op::DeleteRole, json!({"RoleName": "r"}));
    assert_eq!(
        f.code(Op::GetRole, json!({"RoleName": "r"})),
        ("NoSuchEntity", 404)
    );
}

#[tokio::test]
async fn assumed_role_sessions_resolve_to_their_role() {
    let f = fixture();
    f.ok(Op::CreateRole, json!({"RoleName": "r", "AssumeRolePolicyDocument": TRUST, "Tags": [{"Key": "k", "Value": "role"}]}));
    f.ok(
        Op::PutRolePolicy,
        json!({"RoleName": "r", "PolicyName": "i", "PolicyDocument": DOC}),
    );
    let input = json!({
        "RoleArn": format!("arn:aws:iam::{ACCOUNT}:role/r"),
        "RoleSessionName": "s1",
        "Tags": [{"Key": "k", "Value": "session"}],
        "Policy": DOC,
    });
    let out = opentrail_core::pipeline::ApiService::run(
        &sts::Sts,
        &f.state,
        &f.ctx,
        sts::Op::AssumeRole,
        &input,
    )
    .await
    .expect("assume");
    let key = out["Credentials"]["AccessKeyId"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(ids::is_id(&key, ids::IdKind::TemporaryKey), "{key}");
    let resolved = resolve_access_key(&f.state, &key)
        .expect("resolve")
        .expect("known");
    assert_eq!(
        resolved.session_token.as_deref(),
        out["Credentials"]["SessionToken"].as_str()
    );
    assert_eq!(resolved.identity.identity_type, IdentityType::AssumedRole);
    assert_eq!(
        resolved.identity.arn,
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/r/s1")
    );
    let applies = principal_policies(&f.state, &resolved.identity).expect("policies");
    assert_eq!(applies.identity_policies.len(), 1);
    assert_eq!(applies.session_policies, [DOC.to_owned()]);
    assert_eq!(
        applies.principal_tags,
        [("k".to_owned(), "session".to_owned())]
    );
    let too_long = json!({
        "RoleArn": format!("arn:aws:iam::{ACCOUNT}:role/r"),
        "RoleSessionName": "s2",
        "DurationSeconds": 7200,
    });
    let err = opentrail_core::pipeline::ApiService::run(
        &sts::Sts,
        &f.state,
        &f.ctx,
        sts::Op::AssumeRole,
        &too_long,
    )
    .await
    .expect_err("over the role's maximum");
    assert_eq!(err.aws_code(), "ValidationError");
    // The session survives a restart: a new state over the same directory knows it.
    let Fixture {
        _dir: dir, state, ..
    } = f;
    drop(state);
    let reopened =
        AppState::open(ServerConfig::for_tests(dir.path().to_path_buf())).expect("reopen");
    let again = resolve_access_key(&reopened, &key)
        .expect("resolve")
        .expect("persisted");
    assert_eq!(again.identity.arn, resolved.identity.arn);
}

#[tokio::test]
async fn chained_sessions_are_capped_and_carry_transitive_tags() {
    use opentrail_core::pipeline::ApiService;
    let f = fixture();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":["sts:AssumeRole","sts:TagSession"]}]}"#;
    f.ok(
        Op::CreateRole,
        json!({"RoleName": "r", "AssumeRolePolicyDocument": trust, "MaxSessionDuration": 7200}),
    );
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/r");
    let first = json!({
        "RoleArn": role_arn, "RoleSessionName": "first",
        "Tags": [{"Key": "team", "Value": "a"}, {"Key": "temp", "Value": "b"}],
        "TransitiveTagKeys": ["team"],
    });
    let out = sts::Sts
        .run(&f.state, &f.ctx, sts::Op::AssumeRole, &first)
        .await
        .expect("first");
    let key = out["Credentials"]["AccessKeyId"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let session = resolve_access_key(&f.state, &key)
        .expect("resolve")
        .expect("known");
    let chained_ctx = RequestContext {
        identity: session.identity,
        ..RequestContext::for_tests("us-east-1")
    };
    let too_long =
        json!({"RoleArn": role_arn, "RoleSessionName": "second", "DurationSeconds": 7200});
    let err = sts::Sts
        .run(&f.state, &chained_ctx, sts::Op::AssumeRole, &too_long)
        .await
        .expect_err("role chaining is capped at an hour");
    assert_eq!(err.aws_code(), "ValidationError");
    let second = json!({"RoleArn": role_arn, "RoleSessionName": "second"});
    let out = sts::Sts
        .run(&f.state, &chained_ctx, sts::Op::AssumeRole, &second)
        .await
        .expect("second");
    let key = out["Credentials"]["AccessKeyId"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let chained = resolve_access_key(&f.state, &key)
        .expect("resolve")
        .expect("known");
    let tags = chained.identity.session.map(|s| s.tags).unwrap_or_default();
    assert_eq!(tags, [("team".to_owned(), "a".to_owned())]);
    let bad =
        json!({"RoleArn": role_arn, "RoleSessionName": "third", "TransitiveTagKeys": ["nope"]});
    let err = sts::Sts
        .run(&f.state, &f.ctx, sts::Op::AssumeRole, &bad)
        .await
        .expect_err("transitive key without its tag");
    assert_eq!(err.aws_code(), "InvalidInput");
}

#[test]
fn login_and_instance_profiles_and_the_account() {
    let f = fixture();
    f.ok(Op::CreateUser, json!({"UserName": "alice"}));
    f.ok(
        Op::UpdateAccountPasswordPolicy,
        json!({"MinimumPasswordLength": 12, "RequireNumbers": true}),
    );
    assert_eq!(
        f.code(
            Op::CreateLoginProfile,
            json!({"UserName": "alice", "Password": "short1"})
        ),
        ("PasswordPolicyViolation", 400)
    );
    f.ok(
        Op::CreateLoginProfile,
        json!({"UserName": "alice", "Password": "long-enough-1", "PasswordResetRequired": true}),
    );
    let profile = f.ok(Op::GetLoginProfile, json!({"UserName": "alice"}));
    assert_eq!(
        profile["LoginProfile"]["PasswordResetRequired"],
        json!(true)
    );
    assert_eq!(
        f.code(Op::DeleteUser, json!({"UserName": "alice"})),
        ("DeleteConflict", 409)
    );
    f.ok(Op::DeleteLoginProfile, json!({"UserName": "alice"}));
    assert_eq!(
        f.code(Op::GetLoginProfile, json!({"UserName": "alice"})),
        ("NoSuchEntity", 404)
    );
    let policy = f.ok(Op::GetAccountPasswordPolicy, json!({}));
    assert_eq!(policy["PasswordPolicy"]["MinimumPasswordLength"], json!(12));
    assert_eq!(policy["PasswordPolicy"]["ExpirePasswords"], json!(false));
    f.ok(Op::DeleteAccountPasswordPolicy, json!({}));
    assert_eq!(
        f.code(Op::GetAccountPasswordPolicy, json!({})),
        ("NoSuchEntity", 404)
    );

    f.ok(
        Op::CreateRole,
        json!({"RoleName": "r", "AssumeRolePolicyDocument": TRUST}),
    );
    f.ok(
        Op::CreateRole,
        json!({"RoleName": "r2", "AssumeRolePolicyDocument": TRUST}),
    );
    let created = f.ok(
        Op::CreateInstanceProfile,
        json!({"InstanceProfileName": "web"}),
    );
    assert!(
        created["InstanceProfile"]["InstanceProfileId"]
            .as_str()
            .unwrap_or("")
            .starts_with("AIPA")
    );
    f.ok(
        Op::AddRoleToInstanceProfile,
        json!({"InstanceProfileName": "web", "RoleName": "r"}),
    );
    assert_eq!(
        f.code(
            Op::AddRoleToInstanceProfile,
            json!({"InstanceProfileName": "web", "RoleName": "r2"})
        ),
        ("LimitExceeded", 409)
    );
    assert_eq!(
        f.code(Op::DeleteRole, json!({"RoleName": "r"})),
        ("DeleteConflict", 409)
    );
    assert_eq!(
        f.code(
            Op::DeleteInstanceProfile,
            json!({"InstanceProfileName": "web"})
        ),
        ("DeleteConflict", 409)
    );
    let for_role = f.ok(Op::ListInstanceProfilesForRole, json!({"RoleName": "r"}));
    assert_eq!(
        for_role["InstanceProfiles"][0]["Roles"][0]["RoleName"],
        json!("r")
    );

    let linked = f.ok(
        Op::CreateServiceLinkedRole,
        json!({"AWSServiceName": "elasticbeanstalk.amazonaws.com"}),
    );
    assert_eq!(
        linked["Role"]["RoleName"],
        json!("AWSServiceRoleForElasticBeanstalk")
    );
    assert_eq!(
        linked["Role"]["Path"],
        json!("/aws-service-role/elasticbeanstalk.amazonaws.com/")
    );

    f.ok(
        Op::CreateAccountAlias,
        json!({"AccountAlias": "my-company"}),
    );
    assert_eq!(
        f.ok(Op::ListAccountAliases, json!({}))["AccountAliases"],
        json!(["my-company"])
    );
    assert_eq!(
        f.code(
            Op::CreateAccountAlias,
            json!({"AccountAlias": "Bad--Alias"})
        ),
        ("ValidationError", 400)
    );
    let summary = f.ok(Op::GetAccountSummary, json!({}));
    assert_eq!(summary["SummaryMap"]["Users"], json!(1));
    assert_eq!(summary["SummaryMap"]["Roles"], json!(3));
    assert_eq!(summary["SummaryMap"]["InstanceProfiles"], json!(1));
}

#[test]
fn openid_connect_providers() {
    let f = fixture();
    let out = f.ok(
        Op::CreateOpenIDConnectProvider,
        json!({"Url": "https://token.actions.githubusercontent.com?x=1", "ThumbprintList": ["a".repeat(40)], "ClientIDList": ["sts.amazonaws.com"]}),
    );
    let arn = out["OpenIDConnectProviderArn"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert_eq!(
        arn,
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com")
    );
    assert_eq!(
        f.code(
            Op::CreateOpenIDConnectProvider,
            json!({"Url": "https://token.actions.githubusercontent.com", "ThumbprintList": []})
        ),
        ("EntityAlreadyExists", 409)
    );
    assert_eq!(
        f.code(
            Op::CreateOpenIDConnectProvider,
            json!({"Url": "example.org", "ThumbprintList": []})
        ),
        ("ValidationError", 400)
    );
    let got = f.ok(
        Op::GetOpenIDConnectProvider,
        json!({"OpenIDConnectProviderArn": arn}),
    );
    assert_eq!(got["Url"], json!("token.actions.githubusercontent.com"));
    assert_eq!(got["ClientIDList"], json!(["sts.amazonaws.com"]));
    f.ok(
        Op::DeleteOpenIDConnectProvider,
        json!({"OpenIDConnectProviderArn": arn}),
    );
    f.ok(
        Op::DeleteOpenIDConnectProvider,
        json!({"OpenIDConnectProviderArn": arn}),
    );
    assert_eq!(
        f.code(
            Op::GetOpenIDConnectProvider,
            json!({"OpenIDConnectProviderArn": arn})
        ),
        ("NoSuchEntity", 404)
    );
}

#[test]
fn mfa_devices_are_assigned_and_their_seed_is_not_recorded() {
    let f = fixture();
    f.ok(Op::CreateUser, json!({"UserName": "alice"}));
    let created = f.ok(
        Op::CreateVirtualMFADevice,
        json!({"VirtualMFADeviceName": "phone"}),
    );
    let serial = created["VirtualMFADevice"]["SerialNumber"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert_eq!(serial, format!("arn:aws:iam::{ACCOUNT}:mfa/phone"));
    let recorded = opentrail_core::pipeline::ApiService::recorded_output(
        &iam::Iam,
        "CreateVirtualMFADevice",
        &created,
    );
    assert_eq!(recorded["VirtualMFADevice"].get("Base32StringSeed"), None);
    assert_eq!(
        f.code(
            Op::CreateVirtualMFADevice,
            json!({"VirtualMFADeviceName": "phone"})
        ),
        ("EntityAlreadyExists", 409)
    );
    f.ok(
        Op::EnableMFADevice,
        json!({"UserName": "alice", "SerialNumber": serial, "AuthenticationCode1": "123456", "AuthenticationCode2": "654321"}),
    );
    let assigned = f.ok(
        Op::ListVirtualMFADevices,
        json!({"AssignmentStatus": "Assigned"}),
    );
    assert_eq!(
        assigned["VirtualMFADevices"][0]["User"]["UserName"],
        json!("alice")
    );
    assert_eq!(
        f.code(Op::DeleteUser, json!({"UserName": "alice"})),
        ("DeleteConflict", 409)
    );
    assert_eq!(
        f.code(Op::DeleteVirtualMFADevice, json!({"SerialNumber": serial})),
        ("DeleteConflict", 409)
    );
    f.ok(
        Op::DeactivateMFADevice,
        json!({"UserName": "alice", "SerialNumber": serial}),
    );
    assert_eq!(
        f.ok(Op::ListMFADevices, json!({"UserName": "alice"}))["MFADevices"],
        json!([])
    );
    f.ok(Op::DeleteVirtualMFADevice, json!({"SerialNumber": serial}));
    f.ok(Op::DeleteUser, json!({"UserName": "alice"}));
}

#[test]
fn the_credential_report_lists_users_and_their_keys() {
    use base64::Engine;
    let f = fixture();
    assert_eq!(
        f.code(Op::GetCredentialReport, json!({})),
        ("ReportNotPresent", 410)
    );
    f.ok(Op::CreateUser, json!({"UserName": "alice"}));
    f.ok(Op::CreateAccessKey, json!({"UserName": "alice"}));
    assert_eq!(
        f.ok(Op::GenerateCredentialReport, json!({}))["State"],
        json!("STARTED")
    );
    assert_eq!(
        f.ok(Op::GenerateCredentialReport, json!({}))["State"],
        json!("COMPLETE")
    );
    let report = f.ok(Op::GetCredentialReport, json!({}));
    let csv = base64::engine::general_purpose::STANDARD
        .decode(report["Content"].as_str().unwrap_or(""))
        .expect("base64");
    let csv = String::from_utf8(csv).expect("utf-8");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("user,arn,user_creation_time"));
    assert!(lines[1].starts_with("<root_account>,"));
    let alice: Vec<&str> = lines[2].split(',').collect();
    assert_eq!(alice.len(), lines[0].split(',').count());
    assert_eq!((alice[0], alice[8], alice[13]), ("alice", "true", "false"));
}

#[test]
fn server_certificates_never_keep_or_record_their_private_key() {
    let f = fixture();
    let body = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----";
    let key =
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----";
    let input = json!({"ServerCertificateName": "web", "CertificateBody": body, "PrivateKey": key});
    let out = f.ok(Op::UploadServerCertificate, input.clone());
    assert!(
        out["ServerCertificateMetadata"]["ServerCertificateId"]
            .as_str()
            .unwrap_or("")
            .starts_with("ASCA")
    );
    let recorded = opentrail_core::pipeline::ApiService::recorded_input(
        &iam::Iam,
        "UploadServerCertificate",
        &input,
    );
    assert_eq!(recorded.get("PrivateKey"), None);
    let stored =
        serde_json::to_string(&*store::iam(&f.state).expect("iam").account(ACCOUNT)).expect("json");
    assert!(
        !stored.contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
        "the private key is not kept"
    );
    let got = f.ok(
        Op::GetServerCertificate,
        json!({"ServerCertificateName": "web"}),
    );
    assert_eq!(got["ServerCertificate"]["CertificateBody"], json!(body));
    assert_eq!(
        f.code(Op::UploadServerCertificate, json!({"ServerCertificateName": "bad", "CertificateBody": "certbody", "PrivateKey": key})),
        ("MalformedCertificate", 400)
    );
    f.ok(
        Op::DeleteServerCertificate,
        json!({"ServerCertificateName": "web"}),
    );
    assert_eq!(
        f.code(
            Op::GetServerCertificate,
            json!({"ServerCertificateName": "web"})
        ),
        ("NoSuchEntity", 404)
    );
}

#[test]
fn policy_documents_have_iams_size_quotas() {
    let f = fixture();
    f.ok(Op::CreateUser, json!({"UserName": "alice"}));
    // One statement whose resource makes the document `chars` long without whitespace.
    let document = |chars: usize| {
        let head = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/"#;
        let tail = r#""}]}"#;
        format!(
            "{head}{}{tail}",
            "x".repeat(chars - head.len() - tail.len())
        )
    };
    let user_policy = |name: &str, chars: usize| json!({"UserName": "alice", "PolicyName": name, "PolicyDocument": document(chars)});
    f.ok(Op::PutUserPolicy, user_policy("one", 1500));
    // The user's inline policies count together: 1,500 + 600 is over 2,048.
    let over = f.call(Op::PutUserPolicy, user_policy("two", 600));
    match over {
        Err(IdentityError::LimitExceeded(message)) => assert_eq!(
            message,
            "Maximum policy size of 2048 bytes exceeded for user alice"
        ),
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
    // Replacing a policy counts its new text only.
    f.ok(Op::PutUserPolicy, user_policy("one", 2048));
    let managed = |chars: usize| json!({"PolicyName": "p", "PolicyDocument": document(chars)});
    assert_eq!(
        f.code(Op::CreatePolicy, managed(6145)),
        ("LimitExceeded", 409)
    );
    f.ok(Op::CreatePolicy, managed(6144));
}
