//! Handler tests: the hierarchy, policies, access rules and errors, against a real
//! metadata store.

use std::sync::{Arc, Mutex};

use opentrail_core::{AppState, ServerConfig};
use serde_json::{Value, json};

use super::*;

const MGMT: &str = "111111111111";
const OUTSIDER: &str = "999999999999";

struct Fixture {
    _dir: tempfile::TempDir,
    state: Arc<AppState>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let state =
            Arc::new(AppState::open(ServerConfig::for_tests(dir.path().into())).expect("state"));
        Fixture { _dir: dir, state }
    }

    fn call(&self, account: &str, op: Op, input: Value) -> Result<Value, OrgError> {
        let call = Call {
            state: self.state.clone(),
            registry: Registry::of(&self.state),
            account: account.to_owned(),
            region: "us-east-1".to_owned(),
            input,
            now_ms: 1_700_000_000_000,
        };
        dispatch(&call, op)
    }

    fn ok(&self, op: Op, input: Value) -> Value {
        self.call(MGMT, op, input)
            .unwrap_or_else(|err| panic!("{op:?}: {err:?}"))
    }

    fn code(&self, account: &str, op: Op, input: Value) -> String {
        match self.call(account, op, input) {
            Ok(out) => panic!("{op:?} succeeded: {out}"),
            Err(err) => err.aws_code().to_owned(),
        }
    }

    /// An organization with one created account; `(root id, account id)`.
    fn organization(&self) -> (String, String) {
        self.ok(Op::CreateOrganization, json!({}));
        let root = self.ok(Op::ListRoots, json!({}))["Roots"][0]["Id"]
            .as_str()
            .expect("root")
            .to_owned();
        let status = self.ok(
            Op::CreateAccount,
            json!({"Email": "a@example.com", "AccountName": "a"}),
        );
        let request = status["CreateAccountStatus"]["Id"].as_str().expect("id");
        let done = self.ok(
            Op::DescribeCreateAccountStatus,
            json!({"CreateAccountRequestId": request}),
        );
        let account = done["CreateAccountStatus"]["AccountId"]
            .as_str()
            .expect("account")
            .to_owned();
        (root, account)
    }
}

#[test]
fn every_operation_is_in_the_embedded_model() {
    assert_eq!(
        pipeline::unmodelled_operations::<Organizations>(),
        Vec::<&str>::new()
    );
}

#[test]
fn an_organization_has_aws_ids_and_arns() {
    let fx = Fixture::new();
    let org = fx.ok(Op::CreateOrganization, json!({}))["Organization"].clone();
    let id = org["Id"].as_str().expect("id");
    assert!(id.starts_with("o-") && id.len() == 12, "{id}");
    assert_eq!(org["FeatureSet"], "ALL");
    assert_eq!(org["MasterAccountId"], MGMT);
    assert_eq!(
        org["Arn"],
        format!("arn:aws:organizations::{MGMT}:organization/{id}")
    );
    assert_eq!(
        org["MasterAccountArn"],
        format!("arn:aws:organizations::{MGMT}:account/{id}/{MGMT}")
    );
    assert_eq!(
        fx.code(MGMT, Op::CreateOrganization, json!({})),
        "AlreadyInOrganizationException"
    );
    let roots = fx.ok(Op::ListRoots, json!({}));
    let root = roots["Roots"][0]["Id"].as_str().expect("root");
    assert!(ids::is_root_id(root));
    assert_eq!(
        roots["Roots"][0]["Arn"],
        format!("arn:aws:organizations::{MGMT}:root/{id}/{root}")
    );
}

#[test]
fn create_account_answers_in_progress_then_succeeds() {
    let fx = Fixture::new();
    fx.ok(Op::CreateOrganization, json!({}));
    let status = fx.ok(
        Op::CreateAccount,
        json!({"Email": "dev@example.com", "AccountName": "dev"}),
    )["CreateAccountStatus"]
        .clone();
    assert_eq!(status["State"], "IN_PROGRESS");
    assert!(status.get("AccountId").is_none());
    let request = status["Id"].as_str().expect("id");
    assert!(request.starts_with("car-") && request.len() == 36);
    let done = fx.ok(
        Op::DescribeCreateAccountStatus,
        json!({"CreateAccountRequestId": request}),
    )["CreateAccountStatus"]
        .clone();
    assert_eq!(done["State"], "SUCCEEDED");
    let account = done["AccountId"].as_str().expect("account id");
    assert!(ids::is_account_id(account));
    let described = fx.ok(Op::DescribeAccount, json!({"AccountId": account}));
    assert_eq!(described["Account"]["Name"], "dev");
    assert_eq!(described["Account"]["JoinedMethod"], "CREATED");
    let listed = fx.ok(Op::ListAccounts, json!({}));
    assert_eq!(listed["Accounts"].as_array().expect("list").len(), 2);
    // The same e-mail again fails asynchronously, as AWS reports it.
    let again = fx.ok(
        Op::CreateAccount,
        json!({"Email": "dev@example.com", "AccountName": "dev2"}),
    );
    let failed = fx.ok(
        Op::DescribeCreateAccountStatus,
        json!({"CreateAccountRequestId": again["CreateAccountStatus"]["Id"]}),
    );
    assert_eq!(failed["CreateAccountStatus"]["State"], "FAILED");
    assert_eq!(
        failed["CreateAccountStatus"]["FailureReason"],
        "EMAIL_ALREADY_EXISTS"
    );
}

struct Recorder(Mutex<Vec<NewAccount>>);

impl AccountProvisioner for Recorder {
    fn provision(&self, _state: &AppState, account: &NewAccount) -> Result<(), String> {
        self.0.lock().expect("lock").push(account.clone());
        Ok(())
    }
}

#[test]
fn the_registered_provisioner_sees_each_new_account() {
    let fx = Fixture::new();
    let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
    set_account_provisioner(&fx.state, recorder.clone());
    let (_, account) = fx.organization();
    let seen = recorder.0.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].account_id, account);
    assert_eq!(seen[0].role_name, "OrganizationAccountAccessRole");
    assert_eq!(seen[0].management_account_id, MGMT);
}

#[test]
fn the_tree_moves_and_refuses_what_aws_refuses() {
    let fx = Fixture::new();
    let (root, account) = fx.organization();
    let ou = fx.ok(
        Op::CreateOrganizationalUnit,
        json!({"ParentId": root, "Name": "dev"}),
    )["OrganizationalUnit"]["Id"]
        .as_str()
        .expect("ou")
        .to_owned();
    assert!(ou.starts_with(&format!("ou-{}-", &root[2..])), "{ou}");
    assert_eq!(
        fx.code(
            MGMT,
            Op::CreateOrganizationalUnit,
            json!({"ParentId": root, "Name": "dev"})
        ),
        "DuplicateOrganizationalUnitException"
    );
    assert_eq!(
        fx.code(
            MGMT,
            Op::CreateOrganizationalUnit,
            json!({"ParentId": "r-zzzz", "Name": "x"})
        ),
        "ParentNotFoundException"
    );
    fx.ok(
        Op::MoveAccount,
        json!({"AccountId": account, "SourceParentId": root, "DestinationParentId": ou}),
    );
    let parents = fx.ok(Op::ListParents, json!({"ChildId": account}));
    assert_eq!(
        parents["Parents"],
        json!([{"Id": ou, "Type": "ORGANIZATIONAL_UNIT"}])
    );
    assert_eq!(
        fx.code(
            MGMT,
            Op::MoveAccount,
            json!({"AccountId": account, "SourceParentId": root, "DestinationParentId": ou})
        ),
        "DuplicateAccountException"
    );
    assert_eq!(
        fx.code(
            MGMT,
            Op::MoveAccount,
            json!({"AccountId": account, "SourceParentId": "ou-zzzz-zzzzzzzz", "DestinationParentId": root})
        ),
        "SourceParentNotFoundException"
    );
    assert_eq!(
        fx.code(
            MGMT,
            Op::MoveAccount,
            json!({"AccountId": account, "SourceParentId": ou, "DestinationParentId": "ou-zzzz-zzzzzzzz"})
        ),
        "DestinationParentNotFoundException"
    );
    let children = fx.ok(
        Op::ListChildren,
        json!({"ParentId": ou, "ChildType": "ACCOUNT"}),
    );
    assert_eq!(children["Children"][0]["Id"], account.as_str());
    assert_eq!(
        fx.code(
            MGMT,
            Op::DeleteOrganizationalUnit,
            json!({"OrganizationalUnitId": ou})
        ),
        "OrganizationalUnitNotEmptyException"
    );
    assert_eq!(
        fx.code(MGMT, Op::DeleteOrganization, json!({})),
        "OrganizationNotEmptyException"
    );
}

#[test]
fn ous_nest_at_most_five_deep() {
    let fx = Fixture::new();
    let (root, _) = fx.organization();
    let mut parent = root;
    for level in 0..5 {
        parent = fx.ok(
            Op::CreateOrganizationalUnit,
            json!({"ParentId": parent, "Name": format!("l{level}")}),
        )["OrganizationalUnit"]["Id"]
            .as_str()
            .expect("ou")
            .to_owned();
    }
    let err = fx
        .call(
            MGMT,
            Op::CreateOrganizationalUnit,
            json!({"ParentId": parent, "Name": "deep"}),
        )
        .expect_err("too deep");
    assert_eq!(err.aws_code(), "ConstraintViolationException");
    assert_eq!(err.reason(), Some("OU_DEPTH_LIMIT_EXCEEDED"));
}

#[test]
fn scps_attach_only_when_enabled_and_form_the_chain() {
    let fx = Fixture::new();
    let (root, account) = fx.organization();
    let ou = fx.ok(
        Op::CreateOrganizationalUnit,
        json!({"ParentId": root, "Name": "prod"}),
    )["OrganizationalUnit"]["Id"]
        .as_str()
        .expect("ou")
        .to_owned();
    fx.ok(
        Op::MoveAccount,
        json!({"AccountId": account, "SourceParentId": root, "DestinationParentId": ou}),
    );
    let deny = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]})
    .to_string();
    let policy = fx.ok(
        Op::CreatePolicy,
        json!({"Content": deny, "Description": "d", "Name": "no-s3", "Type": "SERVICE_CONTROL_POLICY"}),
    )["Policy"]["PolicySummary"]["Id"]
        .as_str()
        .expect("policy")
        .to_owned();
    assert!(ids::is_policy_id(&policy));
    assert_eq!(
        fx.code(
            MGMT,
            Op::AttachPolicy,
            json!({"PolicyId": policy, "TargetId": ou})
        ),
        "PolicyTypeNotEnabledException"
    );
    assert!(scp_chain(&fx.state, &account).is_empty(), "SCPs are off");
    let before = generation(&fx.state);
    let enabled = fx.ok(
        Op::EnablePolicyType,
        json!({"RootId": root, "PolicyType": "SERVICE_CONTROL_POLICY"}),
    );
    assert_eq!(
        enabled["Root"]["PolicyTypes"],
        json!([{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}])
    );
    assert_eq!(
        fx.code(
            MGMT,
            Op::EnablePolicyType,
            json!({"RootId": root, "PolicyType": "SERVICE_CONTROL_POLICY"})
        ),
        "PolicyTypeAlreadyEnabledException"
    );
    fx.ok(
        Op::AttachPolicy,
        json!({"PolicyId": policy, "TargetId": ou}),
    );
    assert_eq!(
        fx.code(
            MGMT,
            Op::AttachPolicy,
            json!({"PolicyId": policy, "TargetId": ou})
        ),
        "DuplicatePolicyAttachmentException"
    );
    assert_eq!(
        fx.code(
            MGMT,
            Op::AttachPolicy,
            json!({"PolicyId": policy, "TargetId": "ou-zzzz-zzzzzzzz"})
        ),
        "OrganizationalUnitNotFoundException"
    );
    assert_eq!(
        fx.code(
            MGMT,
            Op::ListPoliciesForTarget,
            json!({"TargetId": "r-zzzz", "Filter": "SERVICE_CONTROL_POLICY"})
        ),
        "TargetNotFoundException"
    );
    assert_eq!(
        fx.code(MGMT, Op::DeletePolicy, json!({"PolicyId": policy})),
        "PolicyInUseException"
    );
    assert!(
        generation(&fx.state) > before,
        "enabling SCPs and attaching them move the generation"
    );
    let chain = scp_chain(&fx.state, &account);
    assert_eq!(chain.len(), 3, "root, OU, account: {chain:?}");
    assert_eq!(chain[1].len(), 2, "FullAWSAccess and the deny on the OU");
    assert!(chain[1].contains(&deny));
    assert!(
        scp_chain(&fx.state, MGMT).is_empty(),
        "management is exempt"
    );
    let membership = organization_of(&fx.state, &account).expect("member");
    assert!(membership.scps_enabled);
    assert_eq!(membership.management_account_id, MGMT);
    let targets = fx.ok(Op::ListTargetsForPolicy, json!({"PolicyId": policy}));
    assert_eq!(targets["Targets"][0]["Type"], "ORGANIZATIONAL_UNIT");
    // Detaching FullAWSAccess from the account would leave it without an SCP.
    let err = fx
        .call(
            MGMT,
            Op::DetachPolicy,
            json!({"PolicyId": "p-FullAWSAccess", "TargetId": account}),
        )
        .expect_err("last scp");
    assert_eq!(
        err.reason(),
        Some("MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED")
    );
}

#[test]
fn policy_content_is_checked() {
    let fx = Fixture::new();
    fx.organization();
    assert_eq!(
        fx.code(
            MGMT,
            Op::CreatePolicy,
            json!({"Content": "{not json", "Description": "", "Name": "bad", "Type": "SERVICE_CONTROL_POLICY"})
        ),
        "MalformedPolicyDocumentException"
    );
    let big = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "x".repeat(5200), "Effect": "Allow", "Action": "*", "Resource": "*"}]})
    .to_string();
    let err = fx
        .call(
            MGMT,
            Op::CreatePolicy,
            json!({"Content": big, "Description": "", "Name": "big", "Type": "SERVICE_CONTROL_POLICY"}),
        )
        .expect_err("too big");
    assert_eq!(err.reason(), Some("POLICY_CONTENT_LIMIT_EXCEEDED"));
    assert_eq!(
        fx.code(
            MGMT,
            Op::DeletePolicy,
            json!({"PolicyId": "p-FullAWSAccess"})
        ),
        "InvalidInputException"
    );
}

#[test]
fn members_read_the_organization_but_change_nothing() {
    let fx = Fixture::new();
    let (root, account) = fx.organization();
    let seen = fx
        .call(&account, Op::DescribeOrganization, json!({}))
        .expect("members may describe");
    assert_eq!(seen["Organization"]["MasterAccountId"], MGMT);
    assert_eq!(
        fx.code(
            &account,
            Op::CreateOrganizationalUnit,
            json!({"ParentId": root, "Name": "x"})
        ),
        "AccessDeniedException"
    );
    assert_eq!(
        fx.code(&account, Op::ListAccounts, json!({})),
        "AccessDeniedException"
    );
    assert_eq!(
        fx.code(OUTSIDER, Op::DescribeOrganization, json!({})),
        "AWSOrganizationsNotInUseException"
    );
    // A delegated administrator may read the structure.
    fx.ok(
        Op::RegisterDelegatedAdministrator,
        json!({"AccountId": account, "ServicePrincipal": "ssm.amazonaws.com"}),
    );
    assert!(fx.call(&account, Op::ListAccounts, json!({})).is_ok());
    assert!(is_delegated_admin(&fx.state, &account, "ssm.amazonaws.com"));
    assert!(!is_delegated_admin(
        &fx.state,
        &account,
        "cloudtrail.amazonaws.com"
    ));
}

#[test]
fn delegated_administrators_and_trusted_access() {
    let fx = Fixture::new();
    let (_, account) = fx.organization();
    assert_eq!(
        fx.code(
            MGMT,
            Op::EnableAWSServiceAccess,
            json!({"ServicePrincipal": "moto.amazonaws.com"})
        ),
        "InvalidInputException"
    );
    register_delegated_admin(&fx.state, MGMT, &account, "cloudtrail.amazonaws.com", 5)
        .expect("register");
    let access = fx.ok(Op::ListAWSServiceAccessForOrganization, json!({}));
    assert_eq!(
        access["EnabledServicePrincipals"][0]["ServicePrincipal"],
        "cloudtrail.amazonaws.com"
    );
    let again = register_delegated_admin(&fx.state, MGMT, &account, "cloudtrail.amazonaws.com", 5)
        .expect_err("twice");
    assert_eq!(again.aws_code(), "AccountAlreadyRegisteredException");
    let mgmt = register_delegated_admin(&fx.state, MGMT, MGMT, "cloudtrail.amazonaws.com", 5)
        .expect_err("management");
    assert_eq!(
        mgmt.reason(),
        Some("CANNOT_REGISTER_MASTER_AS_DELEGATED_ADMINISTRATOR")
    );
    let not_mgmt =
        register_delegated_admin(&fx.state, &account, &account, "cloudtrail.amazonaws.com", 5)
            .expect_err("member");
    assert_eq!(not_mgmt.aws_code(), "AccessDeniedException");
    let services = fx.ok(
        Op::ListDelegatedServicesForAccount,
        json!({"AccountId": account}),
    );
    assert_eq!(
        services["DelegatedServices"][0]["ServicePrincipal"],
        "cloudtrail.amazonaws.com"
    );
    assert_eq!(
        fx.code(
            MGMT,
            Op::RemoveAccountFromOrganization,
            json!({"AccountId": account})
        ),
        "ConstraintViolationException"
    );
    deregister_delegated_admin(&fx.state, MGMT, &account, "cloudtrail.amazonaws.com")
        .expect("deregister");
    let gone = deregister_delegated_admin(&fx.state, MGMT, &account, "cloudtrail.amazonaws.com")
        .expect_err("not registered");
    assert_eq!(gone.aws_code(), "AccountNotRegisteredException");
    fx.ok(
        Op::RemoveAccountFromOrganization,
        json!({"AccountId": account}),
    );
    assert!(organization_of(&fx.state, &account).is_none());
    let org_id = organization_of(&fx.state, MGMT)
        .expect("org")
        .organization_id;
    assert_eq!(member_accounts(&fx.state, &org_id), vec![MGMT.to_owned()]);
}

#[test]
fn tags_live_on_accounts_ous_roots_and_policies() {
    let fx = Fixture::new();
    let (root, account) = fx.organization();
    for id in [root.as_str(), account.as_str()] {
        fx.ok(
            Op::TagResource,
            json!({"ResourceId": id, "Tags": [{"Key": "k", "Value": "v"}]}),
        );
        let tags = fx.ok(Op::ListTagsForResource, json!({"ResourceId": id}));
        assert_eq!(tags["Tags"], json!([{"Key": "k", "Value": "v"}]));
        fx.ok(
            Op::UntagResource,
            json!({"ResourceId": id, "TagKeys": ["k"]}),
        );
        let tags = fx.ok(Op::ListTagsForResource, json!({"ResourceId": id}));
        assert_eq!(tags["Tags"], json!([]));
    }
    assert_eq!(
        fx.code(
            MGMT,
            Op::ListTagsForResource,
            json!({"ResourceId": "000000000000"})
        ),
        "TargetNotFoundException"
    );
    assert_eq!(
        fx.code(
            MGMT,
            Op::ListTagsForResource,
            json!({"ResourceId": "bogus"})
        ),
        "InvalidInputException"
    );
}

#[test]
fn the_index_survives_a_restart_and_forgets_on_reset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let account = {
        let state =
            Arc::new(AppState::open(ServerConfig::for_tests(dir.path().into())).expect("state"));
        let fx = Fixture {
            _dir: tempfile::tempdir().expect("unused"),
            state,
        };
        fx.organization().1
    };
    let state =
        Arc::new(AppState::open(ServerConfig::for_tests(dir.path().into())).expect("reopen"));
    let membership = organization_of(&state, &account).expect("durable");
    assert_eq!(membership.management_account_id, MGMT);
    state.reset_shared().expect("reset");
    OrganizationsService.reset(&state);
    assert!(organization_of(&state, &account).is_none());
}

#[test]
fn create_account_records_hide_email_and_name() {
    let input = json!({"Email": "a@example.com", "AccountName": "a", "RoleName": "R"});
    let output =
        json!({"CreateAccountStatus": {"Id": "car-1", "AccountName": "a", "State": "IN_PROGRESS"}});
    let ctx = RequestContext::for_tests("us-east-1");
    let details = pipeline::details(
        &Organizations,
        &ctx,
        "CreateAccount",
        Some(&input),
        Some(&output),
        None,
    );
    let text = format!(
        "{:?} {:?}",
        details.request_parameters, details.response_elements
    );
    assert!(!text.contains("a@example.com"), "{text}");
    assert_eq!(
        details.request_parameters,
        Some(json!({"email": HIDDEN, "accountName": HIDDEN, "roleName": "R"}))
    );
    assert_eq!(details.event_source, "organizations.amazonaws.com");
    assert!(!details.read_only);
}

#[test]
fn model_violations_are_invalid_input_with_a_reason() {
    let err = Organizations
        .validate(
            &RequestContext::for_tests("us-east-1"),
            "DescribeAccount",
            &json!({}),
        )
        .expect_err("missing");
    assert_eq!(err.aws_code(), "InvalidInputException");
    assert_eq!(err.reason(), Some("INPUT_REQUIRED"));
}

struct Refuser;

impl AccountProvisioner for Refuser {
    fn provision(&self, _state: &AppState, _account: &NewAccount) -> Result<(), String> {
        Err("no credentials today".into())
    }
}

#[test]
fn a_failed_provisioning_fails_the_request_and_adds_no_account() {
    let fx = Fixture::new();
    set_account_provisioner(&fx.state, Arc::new(Refuser));
    fx.ok(Op::CreateOrganization, json!({}));
    let request = fx.ok(
        Op::CreateAccount,
        json!({"Email": "x@example.com", "AccountName": "x"}),
    )["CreateAccountStatus"]["Id"]
        .clone();
    let status = fx.ok(
        Op::DescribeCreateAccountStatus,
        json!({"CreateAccountRequestId": request}),
    )["CreateAccountStatus"]
        .clone();
    assert_eq!(status["State"], "FAILED");
    assert_eq!(status["FailureReason"], "INTERNAL_FAILURE");
    assert!(status.get("AccountId").is_none());
    let accounts = fx.ok(Op::ListAccounts, json!({}));
    assert_eq!(accounts["Accounts"].as_array().expect("list").len(), 1);
}

#[test]
fn closing_an_account_suspends_it_once() {
    let fx = Fixture::new();
    let (_, account) = fx.organization();
    fx.ok(Op::CloseAccount, json!({"AccountId": account}));
    let described = fx.ok(Op::DescribeAccount, json!({"AccountId": account}));
    assert_eq!(described["Account"]["Status"], "SUSPENDED");
    assert_eq!(
        fx.code(MGMT, Op::CloseAccount, json!({"AccountId": account})),
        "AccountAlreadyClosedException"
    );
    let err = fx
        .call(MGMT, Op::CloseAccount, json!({"AccountId": MGMT}))
        .expect_err("management");
    assert_eq!(err.reason(), Some("CANNOT_CLOSE_MANAGEMENT_ACCOUNT"));
}

#[test]
fn disabling_a_policy_type_detaches_its_policies() {
    let fx = Fixture::new();
    let (root, account) = fx.organization();
    let enable = json!({"RootId": root, "PolicyType": "SERVICE_CONTROL_POLICY"});
    fx.ok(Op::EnablePolicyType, enable.clone());
    let content = json!({"Version": "2012-10-17", "Statement": []}).to_string();
    let policy = fx.ok(
        Op::CreatePolicy,
        json!({"Content": content, "Description": "", "Name": "p", "Type": "SERVICE_CONTROL_POLICY"}),
    )["Policy"]["PolicySummary"]["Id"]
        .clone();
    fx.ok(
        Op::AttachPolicy,
        json!({"PolicyId": policy, "TargetId": account}),
    );
    let disabled = fx.ok(Op::DisablePolicyType, enable.clone());
    assert_eq!(disabled["Root"]["PolicyTypes"], json!([]));
    assert_eq!(
        fx.code(MGMT, Op::DisablePolicyType, enable.clone()),
        "PolicyTypeNotEnabledException"
    );
    let targets = fx.ok(Op::ListTargetsForPolicy, json!({"PolicyId": policy}));
    assert_eq!(targets["Targets"], json!([]));
    // Enabling again starts from FullAWSAccess alone.
    fx.ok(Op::EnablePolicyType, enable);
    let on_account = fx.ok(
        Op::ListPoliciesForTarget,
        json!({"TargetId": account, "Filter": "SERVICE_CONTROL_POLICY"}),
    );
    let ids: Vec<&Value> = on_account["Policies"]
        .as_array()
        .expect("list")
        .iter()
        .map(|policy| &policy["Id"])
        .collect();
    assert_eq!(ids, vec![&json!("p-FullAWSAccess")]);
    assert_eq!(
        fx.code(
            MGMT,
            Op::UpdatePolicy,
            json!({"PolicyId": "p-FullAWSAccess", "Name": "mine"})
        ),
        "InvalidInputException"
    );
}

#[test]
fn lists_page_with_next_tokens() {
    let fx = Fixture::new();
    fx.organization();
    for index in 0..4 {
        fx.ok(
            Op::CreateAccount,
            json!({"Email": format!("p{index}@example.com"), "AccountName": format!("p{index}")}),
        );
    }
    let first = fx.ok(Op::ListAccounts, json!({"MaxResults": 4}));
    assert_eq!(first["Accounts"].as_array().expect("page").len(), 4);
    let token = first["NextToken"].as_str().expect("more").to_owned();
    let rest = fx.ok(
        Op::ListAccounts,
        json!({"MaxResults": 4, "NextToken": token}),
    );
    assert_eq!(rest["Accounts"].as_array().expect("page").len(), 2);
    assert!(rest.get("NextToken").is_none());
    assert_eq!(
        fx.code(MGMT, Op::ListAccounts, json!({"NextToken": "bogus"})),
        "InvalidInputException"
    );
}

#[test]
fn partitions_follow_the_region_of_creation() {
    assert_eq!(store::partition_of("cn-north-1"), "aws-cn");
    assert_eq!(store::partition_of("us-gov-west-1"), "aws-us-gov");
    assert_eq!(store::partition_of("us-isob-east-1"), "aws-iso-b");
    assert_eq!(store::partition_of("us-iso-east-1"), "aws-iso");
    assert_eq!(store::partition_of("eu-west-1"), "aws");
}
