//! The authorizer of every call: AWS's policy evaluation ([`opentrail_policy`]) over the
//! policies that apply to the caller, installed on [`AppState::access`] at start.
//!
//! Which policies apply is not this crate's knowledge: the identity service supplies a
//! principal's identity policies, permissions boundary, session policy and tags
//! ([`PolicySource`]), the organizations service the service control policies of an account
//! ([`OrgSource`]). Documents are parsed once and kept per principal until the source reports
//! a new generation, so a call costs an evaluation, not a parse.
//!
//! The condition context of a call ([`condition_context`]) carries the global keys AWS sets
//! for a request signed by an IAM principal: `aws:SourceIp`, `aws:RequestedRegion`,
//! `aws:SecureTransport`, `aws:CurrentTime`, `aws:EpochTime`, `aws:MultiFactorAuthPresent` and
//! `aws:TokenIssueTime` for temporary credentials, `aws:SourceIdentity`; the principal keys
//! (`aws:username`, `aws:userid`, `aws:PrincipalArn`, `aws:PrincipalTag/*`, …) come from the
//! principal itself. The tag keys come from the call's [`AuthzRequest::tags`]
//! ([`add_tag_keys`]): `aws:ResourceTag/<key>` from the resource's tags, `aws:RequestTag/<key>`
//! and `aws:TagKeys` from the tags the call sets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use opentrail_core::AppState;
use opentrail_core::access::{Authorizer, AuthzRequest, CallTags, Denial};
use opentrail_core::context::RequestContext;
use opentrail_model::{Identity, IdentityType};
use opentrail_policy::{
    ConditionContext, Decision, Policies, Policy, PolicyKind, PolicyType, Principal, PrincipalKind,
    Request, denial_message, evaluate,
};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;

/// The policy documents that apply to one IAM principal, as its identity service keeps them.
#[derive(Debug, Clone, Default)]
pub struct PrincipalPolicies {
    /// Changes whenever any document or tag below changes (cache key).
    pub generation: u64,
    /// Identity-based policies: inline and attached, the user's groups' too.
    pub identity: Vec<Arc<str>>,
    /// The permissions boundary of the user, or of the session's role.
    pub boundary: Option<Arc<str>>,
    /// The session policies of a role session (the inline `Policy` and each of `PolicyArns`).
    pub session: Vec<Arc<str>>,
    /// `aws:PrincipalTag/*`: the user's or role's tags, then the session's tags.
    pub tags: Vec<(String, String)>,
}

/// Where the policies of IAM principals come from (the identity service).
pub trait PolicySource: Send + Sync {
    /// The generation the policies of `identity` are at now (cheap: asked on every call, the
    /// documents only when it changed).
    fn generation(&self, state: &AppState, identity: &Identity) -> Result<u64, String>;

    /// The policies of `identity` (never called for root).
    fn principal_policies(
        &self,
        state: &AppState,
        identity: &Identity,
    ) -> Result<PrincipalPolicies, String>;
}

/// The organization of one account.
#[derive(Debug, Clone, Default)]
pub struct OrgContext {
    /// `aws:PrincipalOrgID`.
    pub org_id: String,
    /// The organization's management account (SCPs do not apply to it).
    pub management_account: bool,
    /// Moves whenever an SCP, an attachment or the account's place changes (cache key).
    pub generation: u64,
}

/// Where accounts' organizations come from (the organizations service).
pub trait OrgSource: Send + Sync {
    /// The organization of `account_id`, if it belongs to one (cheap: asked on every call).
    fn org_context(&self, state: &AppState, account_id: &str) -> Option<OrgContext>;

    /// The SCP documents of `account_id` at each level, root first, then each OU, then the
    /// account; empty when SCPs are not enabled. Asked only when the generation moved.
    fn scp_levels(&self, state: &AppState, account_id: &str) -> Vec<Vec<Arc<str>>>;
}

/// The policies of one principal, parsed.
struct Compiled {
    generation: u64,
    identity: Vec<Arc<Policy>>,
    boundary: Option<Arc<Policy>>,
    session: Option<Arc<Policy>>,
    tags: Vec<(String, String)>,
}

/// The SCPs of one account, parsed.
struct CompiledOrg {
    generation: u64,
    org_id: String,
    management_account: bool,
    levels: Vec<Vec<Arc<Policy>>>,
}

/// AWS's policy evaluation for every call (see the crate docs).
pub struct PolicyAuthorizer {
    policies: Arc<dyn PolicySource>,
    orgs: Option<Arc<dyn OrgSource>>,
    principals: Mutex<HashMap<String, Arc<Compiled>>>,
    accounts: Mutex<HashMap<String, Arc<CompiledOrg>>>,
    parsed: Mutex<ParsedCache>,
}

/// Parsed documents by their text and the kind they were parsed as.
type ParsedCache = HashMap<(Arc<str>, u8), Arc<Policy>>;

/// At most this many parsed documents are kept; the cache starts over past it.
const PARSED_LIMIT: usize = 10_000;

impl PolicyAuthorizer {
    pub fn new(policies: Arc<dyn PolicySource>, orgs: Option<Arc<dyn OrgSource>>) -> Self {
        PolicyAuthorizer {
            policies,
            orgs,
            principals: Mutex::new(HashMap::new()),
            accounts: Mutex::new(HashMap::new()),
            parsed: Mutex::new(HashMap::new()),
        }
    }

    /// A document parsed as `kind`, from the cache when it was seen before. A stored document
    /// that no longer parses (it passed IAM's checks when it was stored) grants nothing.
    fn parse(&self, text: &Arc<str>, kind: PolicyKind) -> Option<Arc<Policy>> {
        let key = (text.clone(), kind_key(kind));
        if let Some(policy) = lock(&self.parsed).get(&key) {
            return Some(policy.clone());
        }
        let policy = match Policy::parse(text, kind) {
            Ok(policy) => Arc::new(policy),
            Err(err) => {
                tracing::warn!(error = %err, "a stored policy does not parse; it grants nothing");
                return None;
            }
        };
        let mut parsed = lock(&self.parsed);
        if parsed.len() >= PARSED_LIMIT {
            parsed.clear();
        }
        parsed.insert(key, policy.clone());
        Some(policy)
    }

    fn compiled(&self, state: &AppState, identity: &Identity) -> Result<Arc<Compiled>, String> {
        let generation = self.policies.generation(state, identity)?;
        if let Some(compiled) = lock(&self.principals).get(&identity.access_key_id)
            && compiled.generation == generation
        {
            return Ok(compiled.clone());
        }
        let docs = self.policies.principal_policies(state, identity)?;
        let session = match docs.session.as_slice() {
            [] => None,
            [one] => self.parse(one, PolicyKind::Identity),
            many => self.parse(&merged(many), PolicyKind::Identity),
        };
        let compiled = Arc::new(Compiled {
            generation: docs.generation,
            identity: docs
                .identity
                .iter()
                .filter_map(|text| self.parse(text, PolicyKind::Identity))
                .collect(),
            boundary: docs
                .boundary
                .as_ref()
                .and_then(|text| self.parse(text, PolicyKind::Identity)),
            session,
            tags: docs.tags,
        });
        let mut principals = lock(&self.principals);
        if principals.len() >= PARSED_LIMIT {
            principals.clear();
        }
        principals.insert(identity.access_key_id.clone(), compiled.clone());
        Ok(compiled)
    }

    fn org(&self, state: &AppState, account_id: &str) -> Option<Arc<CompiledOrg>> {
        let context = self.orgs.as_ref()?.org_context(state, account_id)?;
        if let Some(compiled) = lock(&self.accounts).get(account_id)
            && compiled.generation == context.generation
            && compiled.org_id == context.org_id
        {
            return Some(compiled.clone());
        }
        let levels = self.orgs.as_ref()?.scp_levels(state, account_id);
        let compiled = Arc::new(CompiledOrg {
            generation: context.generation,
            management_account: context.management_account,
            levels: levels
                .iter()
                .map(|level| {
                    level
                        .iter()
                        .filter_map(|text| self.parse(text, PolicyKind::ServiceControl))
                        .collect()
                })
                .collect(),
            org_id: context.org_id,
        });
        lock(&self.accounts).insert(account_id.to_owned(), compiled.clone());
        Some(compiled)
    }
}

impl Authorizer<AppState> for PolicyAuthorizer {
    fn authorize(
        &self,
        state: &AppState,
        ctx: &RequestContext,
        request: &AuthzRequest,
    ) -> Result<(), Denial> {
        let identity = &ctx.identity;
        let compiled = match identity.identity_type {
            IdentityType::Root => None,
            _ => Some(self.compiled(state, identity).map_err(|err| {
                tracing::error!(error = %err, principal = %identity.arn, "reading the principal's policies failed");
                Denial {
                    message: format!(
                        "User: {} is not authorized to perform: {}: its policies could not be read",
                        identity.arn, request.action
                    ),
                }
            })?),
        };
        let org = self.org(state, &identity.account_id);
        let session_role;
        let kind = match identity.identity_type {
            IdentityType::Root => PrincipalKind::Root,
            IdentityType::IamUser => PrincipalKind::User,
            IdentityType::AssumedRole => {
                session_role = identity
                    .session
                    .as_ref()
                    .and_then(|session| session.issuer.as_ref())
                    .map(|issuer| issuer.role_arn.clone())
                    .unwrap_or_default();
                PrincipalKind::AssumedRole {
                    role_arn: &session_role,
                }
            }
        };
        let no_tags = Vec::new();
        let principal = Principal {
            arn: &identity.arn,
            account: &identity.account_id,
            kind,
            user_id: Some(&identity.principal_id),
            username: identity.user_name.as_deref(),
            tags: compiled.as_ref().map_or(&no_tags, |c| &c.tags),
            org_id: org.as_ref().map(|org| org.org_id.as_str()),
            in_management_account: org.as_ref().is_none_or(|org| org.management_account),
        };
        let mut context = condition_context(ctx);
        add_tag_keys(&mut context, &request.tags);
        let resource_policy = request
            .resource_policy
            .as_ref()
            .and_then(|policy| self.parse(&policy.document, PolicyKind::Resource));
        let identity_policies: Vec<&Policy> = compiled
            .as_ref()
            .map(|c| c.identity.iter().map(AsRef::as_ref).collect())
            .unwrap_or_default();
        let levels: Vec<Vec<&Policy>> = org
            .as_ref()
            .map(|org| {
                org.levels
                    .iter()
                    .map(|level| level.iter().map(AsRef::as_ref).collect())
                    .collect()
            })
            .unwrap_or_default();
        let level_refs: Vec<&[&Policy]> = levels.iter().map(Vec::as_slice).collect();
        let policies = Policies {
            identity: &identity_policies,
            resource: resource_policy.as_deref(),
            boundary: compiled.as_ref().and_then(|c| c.boundary.as_deref()),
            session: compiled.as_ref().and_then(|c| c.session.as_deref()),
            scp_levels: &level_refs,
        };
        for resource in &request.resources {
            let request = Request {
                principal: &principal,
                action: &request.action,
                resource,
                resource_account: request.resource_account.as_deref(),
                context: &context,
            };
            let decision = evaluate(&policies, &request);
            if decision != Decision::Allow {
                let message = denial_message(decision, &request)
                    .unwrap_or_else(|| format!("access denied by {}", policy_type_name(decision)));
                return Err(Denial { message });
            }
        }
        Ok(())
    }
}

fn kind_key(kind: PolicyKind) -> u8 {
    match kind {
        PolicyKind::Identity => 0,
        PolicyKind::Trust => 1,
        PolicyKind::Resource => 2,
        PolicyKind::ServiceControl => 3,
    }
}

fn policy_type_name(decision: Decision) -> &'static str {
    match decision {
        Decision::Allow => "nothing",
        Decision::ExplicitDeny(kind) | Decision::ImplicitDeny(kind) => match kind {
            PolicyType::Identity => "an identity-based policy",
            PolicyType::Resource => "a resource-based policy",
            PolicyType::PermissionsBoundary => "a permissions boundary",
            PolicyType::Session => "a session policy",
            PolicyType::ServiceControl => "a service control policy",
        },
    }
}

/// The global condition keys AWS sets for a call (see the crate docs).
pub fn condition_context(ctx: &RequestContext) -> ConditionContext {
    let mut context = ConditionContext::new();
    context.insert("aws:SourceIp", ctx.source_ip.clone());
    context.insert("aws:RequestedRegion", ctx.region.clone());
    context.insert("aws:SecureTransport", "false");
    if let Ok(now) = ctx
        .time
        .replace_nanosecond(0)
        .unwrap_or(ctx.time)
        .format(&Rfc3339)
    {
        context.insert("aws:CurrentTime", now);
    }
    context.insert("aws:EpochTime", ctx.time.unix_timestamp().to_string());
    if let Some(agent) = &ctx.user_agent {
        context.insert("aws:UserAgent", agent.clone());
    }
    if let Some(session) = &ctx.identity.session {
        context.insert(
            "aws:MultiFactorAuthPresent",
            session.mfa_authenticated.to_string(),
        );
        context.insert("aws:TokenIssueTime", session.creation_date.clone());
        if let Some(source) = &session.source_identity {
            context.insert("aws:SourceIdentity", source.clone());
        }
    }
    context
}

/// The tag condition keys of a call: `aws:ResourceTag/<key>` for each tag of the resource,
/// `aws:RequestTag/<key>` for each tag the call sets, and `aws:TagKeys` their keys (absent
/// when the call sets none).
pub fn add_tag_keys(context: &mut ConditionContext, tags: &CallTags) {
    for (key, value) in &tags.resource {
        context.insert(&format!("aws:ResourceTag/{key}"), value.clone());
    }
    for (key, value) in &tags.request {
        context.insert(&format!("aws:RequestTag/{key}"), value.clone());
    }
    if !tags.request.is_empty() {
        let keys = tags.request.iter().map(|(key, _)| key.clone()).collect();
        context.set("aws:TagKeys", keys);
    }
}

/// Several session policies as one document: the union of their statements.
fn merged(documents: &[Arc<str>]) -> Arc<str> {
    let mut statements = Vec::new();
    for text in documents {
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        match value.get("Statement") {
            Some(Value::Array(items)) => statements.extend(items.iter().cloned()),
            Some(one @ Value::Object(_)) => statements.push(one.clone()),
            _ => {}
        }
    }
    let document = serde_json::json!({"Version": "2012-10-17", "Statement": statements});
    Arc::from(document.to_string())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use opentrail_core::ServerConfig;
    use opentrail_model::{SessionContext, SessionIssuer};

    use super::*;

    const ACCOUNT: &str = "111122223333";

    /// One user's policies, replaceable (a new generation each time).
    struct Fixed {
        generation: AtomicU64,
        docs: Mutex<PrincipalPolicies>,
    }

    impl Fixed {
        fn new(identity: &[&str]) -> Arc<Fixed> {
            let fixed = Arc::new(Fixed {
                generation: AtomicU64::new(0),
                docs: Mutex::new(PrincipalPolicies::default()),
            });
            fixed.set(identity, &[]);
            fixed
        }

        fn set(&self, identity: &[&str], session: &[&str]) {
            let mut docs = lock(&self.docs);
            docs.generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
            docs.identity = identity.iter().map(|text| Arc::from(*text)).collect();
            docs.session = session.iter().map(|text| Arc::from(*text)).collect();
        }
    }

    impl PolicySource for Fixed {
        fn generation(&self, _state: &AppState, _identity: &Identity) -> Result<u64, String> {
            Ok(lock(&self.docs).generation)
        }

        fn principal_policies(
            &self,
            _state: &AppState,
            _identity: &Identity,
        ) -> Result<PrincipalPolicies, String> {
            Ok(lock(&self.docs).clone())
        }
    }

    struct Org {
        scp: &'static str,
    }

    impl OrgSource for Org {
        fn org_context(&self, _state: &AppState, account_id: &str) -> Option<OrgContext> {
            Some(OrgContext {
                org_id: "o-abcdefghij".into(),
                management_account: account_id == "999999999999",
                generation: 1,
            })
        }

        fn scp_levels(&self, _state: &AppState, _account_id: &str) -> Vec<Vec<Arc<str>>> {
            vec![vec![Arc::from(self.scp)]]
        }
    }

    fn state() -> (tempfile::TempDir, AppState) {
        let dir = tempfile::tempdir().expect("tempdir");
        let state =
            AppState::open(ServerConfig::for_tests(dir.path().to_path_buf())).expect("state");
        (dir, state)
    }

    fn user_ctx() -> RequestContext {
        RequestContext {
            account_id: ACCOUNT.into(),
            identity: Identity::iam_user(
                ACCOUNT,
                "AKIAUSER",
                "alice",
                "AIDAEXAMPLE",
                &format!("arn:aws:iam::{ACCOUNT}:user/alice"),
            ),
            source_ip: "192.0.2.10".into(),
            ..RequestContext::for_tests("us-east-1")
        }
    }

    fn trail_request(action: &str) -> AuthzRequest {
        AuthzRequest::new(
            action,
            vec![format!("arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/t")],
        )
    }

    const DESCRIBE_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudtrail:Describe*","Resource":"*"}]}"#;
    const EVERYTHING: &str =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

    #[test]
    fn a_user_is_allowed_what_a_policy_allows_and_denied_the_rest_with_aws_message() {
        let (_dir, state) = state();
        let authorizer = PolicyAuthorizer::new(Fixed::new(&[DESCRIBE_ONLY]), None);
        let ctx = user_ctx();
        assert!(
            authorizer
                .authorize(&state, &ctx, &trail_request("cloudtrail:DescribeTrails"))
                .is_ok()
        );
        let denial = authorizer
            .authorize(&state, &ctx, &trail_request("cloudtrail:CreateTrail"))
            .expect_err("denied");
        assert_eq!(
            denial.message,
            format!(
                "User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: cloudtrail:CreateTrail on resource: arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/t because no identity-based policy allows the cloudtrail:CreateTrail action"
            )
        );
    }

    #[test]
    fn resource_tags_answer_aws_resource_tag_conditions() {
        let (_dir, state) = state();
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudtrail:*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/env":"dev"}}}]}"#;
        let authorizer = PolicyAuthorizer::new(Fixed::new(&[policy]), None);
        let ctx = user_ctx();
        let tagged = |value: &str| AuthzRequest {
            tags: CallTags {
                resource: vec![("env".into(), value.into())],
                request: Vec::new(),
            },
            ..trail_request("cloudtrail:StartLogging")
        };
        assert!(authorizer.authorize(&state, &ctx, &tagged("dev")).is_ok());
        assert!(authorizer.authorize(&state, &ctx, &tagged("prod")).is_err());
        let untagged = trail_request("cloudtrail:StartLogging");
        assert!(authorizer.authorize(&state, &ctx, &untagged).is_err());
    }

    #[test]
    fn request_tags_answer_aws_request_tag_and_aws_tag_keys_conditions() {
        let (_dir, state) = state();
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudtrail:CreateTrail","Resource":"*","Condition":{"StringLike":{"aws:RequestTag/team":"*"},"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}}]}"#;
        let authorizer = PolicyAuthorizer::new(Fixed::new(&[policy]), None);
        let ctx = user_ctx();
        let setting = |tags: &[(&str, &str)]| AuthzRequest {
            tags: CallTags {
                resource: Vec::new(),
                request: tags
                    .iter()
                    .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                    .collect(),
            },
            ..trail_request("cloudtrail:CreateTrail")
        };
        let allowed = setting(&[("team", "a"), ("env", "dev")]);
        assert!(authorizer.authorize(&state, &ctx, &allowed).is_ok());
        let other_key = setting(&[("team", "a"), ("cost", "1")]);
        assert!(authorizer.authorize(&state, &ctx, &other_key).is_err());
        let no_team = setting(&[("env", "dev")]);
        assert!(authorizer.authorize(&state, &ctx, &no_team).is_err());
        assert!(authorizer.authorize(&state, &ctx, &setting(&[])).is_err());
    }

    #[test]
    fn a_new_generation_of_policies_takes_effect_at_once() {
        let (_dir, state) = state();
        let source = Fixed::new(&[DESCRIBE_ONLY]);
        let authorizer = PolicyAuthorizer::new(source.clone(), None);
        let ctx = user_ctx();
        let create = trail_request("cloudtrail:CreateTrail");
        assert!(authorizer.authorize(&state, &ctx, &create).is_err());
        source.set(&[EVERYTHING], &[]);
        assert!(authorizer.authorize(&state, &ctx, &create).is_ok());
        source.set(&[], &[]);
        assert!(authorizer.authorize(&state, &ctx, &create).is_err());
    }

    #[test]
    fn conditions_see_the_callers_source_ip() {
        let (_dir, state) = state();
        let from_office = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}}]}"#;
        let authorizer = PolicyAuthorizer::new(Fixed::new(&[from_office]), None);
        let request = trail_request("cloudtrail:CreateTrail");
        assert!(authorizer.authorize(&state, &user_ctx(), &request).is_ok());
        let elsewhere = RequestContext {
            source_ip: "198.51.100.7".into(),
            ..user_ctx()
        };
        assert!(authorizer.authorize(&state, &elsewhere, &request).is_err());
    }

    #[test]
    fn session_policies_narrow_a_role_session() {
        let (_dir, state) = state();
        let source = Fixed::new(&[EVERYTHING]);
        source.set(&[EVERYTHING], &[DESCRIBE_ONLY]);
        let authorizer = PolicyAuthorizer::new(source, None);
        let issuer = SessionIssuer {
            role_id: "AROAEXAMPLE".into(),
            role_arn: format!("arn:aws:iam::{ACCOUNT}:role/auditor"),
            role_name: "auditor".into(),
            account_id: ACCOUNT.into(),
        };
        let ctx = RequestContext {
            account_id: ACCOUNT.into(),
            identity: Identity::assumed_role(
                "ASIAEXAMPLE",
                "s1",
                issuer,
                SessionContext::default(),
            ),
            ..RequestContext::for_tests("us-east-1")
        };
        assert!(
            authorizer
                .authorize(&state, &ctx, &trail_request("cloudtrail:DescribeTrails"))
                .is_ok()
        );
        let denial = authorizer
            .authorize(&state, &ctx, &trail_request("cloudtrail:DeleteTrail"))
            .expect_err("the session policy does not allow it");
        assert!(
            denial.message.contains("session policy"),
            "{}",
            denial.message
        );
    }

    #[test]
    fn scps_limit_a_member_accounts_root_but_not_the_management_account() {
        let (_dir, state) = state();
        let deny_trail_changes = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":["cloudtrail:StopLogging","cloudtrail:DeleteTrail"],"Resource":"*"}]}"#;
        let authorizer = PolicyAuthorizer::new(
            Fixed::new(&[]),
            Some(Arc::new(Org {
                scp: deny_trail_changes,
            })),
        );
        let member_root = RequestContext {
            account_id: ACCOUNT.into(),
            identity: Identity::root(ACCOUNT, "AKIAROOT"),
            ..RequestContext::for_tests("us-east-1")
        };
        let stop = trail_request("cloudtrail:StopLogging");
        let denial = authorizer
            .authorize(&state, &member_root, &stop)
            .expect_err("the SCP denies it");
        assert!(
            denial
                .message
                .ends_with("with an explicit deny in a service control policy"),
            "{}",
            denial.message
        );
        assert!(
            authorizer
                .authorize(
                    &state,
                    &member_root,
                    &trail_request("cloudtrail:CreateTrail")
                )
                .is_ok()
        );
        let management_root = RequestContext {
            account_id: "999999999999".into(),
            identity: Identity::root("999999999999", "AKIAMGMT"),
            ..RequestContext::for_tests("us-east-1")
        };
        let their_trail = AuthzRequest::new(
            "cloudtrail:StopLogging",
            vec!["arn:aws:cloudtrail:us-east-1:999999999999:trail/t".into()],
        );
        assert!(
            authorizer
                .authorize(&state, &management_root, &their_trail)
                .is_ok()
        );
    }

    #[test]
    fn several_session_policies_are_one_union() {
        let merged = merged(&[Arc::from(DESCRIBE_ONLY), Arc::from(EVERYTHING)]);
        let value: Value = serde_json::from_str(&merged).expect("json");
        assert_eq!(value["Statement"].as_array().map(Vec::len), Some(2));
    }
}
