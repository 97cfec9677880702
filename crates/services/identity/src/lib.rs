//! IAM and STS: users, access keys, groups, roles, managed and inline policies, permissions
//! boundaries, and temporary credentials — and the functions the request path calls to
//! authenticate a key and to gather the policies that apply to a caller.
//!
//! Both services answer through the request pipeline (`core::pipeline`) in awsQuery. IAM is
//! global: its records carry `eventSource` `iam.amazonaws.com`; STS records
//! `sts.amazonaws.com`. State is per account in the metadata store and served from memory
//! ([`store`]).
//!
//! # For the request path
//! - [`resolve_access_key`]: the secret, expected session token, expiry, status and caller
//!   [`Identity`] of an IAM user's key (`AKIA…`) or a temporary key (`ASIA…`). Root keys are
//!   not IAM's: `core::credentials` keeps them.
//! - [`principal_policies`]: every policy document that applies to a caller, with a
//!   generation number to cache parsed forms by.
//! - [`note_key_used`]: for GetAccessKeyLastUsed.
//!
//! Each is a few hash lookups in memory, cheap enough for every request. The server wraps
//! them as the request path's key directory and policy source (`server::access`).
//!
//! # Layout
//! - [`error`]: [`IdentityError`] with IAM's and STS's codes.
//! - [`ids`]: unique ids, keys, secrets, tokens; name and path checks.
//! - [`document`]: policy document checks.
//! - [`managed`]: the built-in AWS managed policies.
//! - [`store`]: accounts and sessions, durable and in memory.
//! - [`iam`]: the IAM service and its operations.
//! - [`sts`]: the STS service and its operations.

pub mod document;
pub mod error;
pub mod iam;
pub mod ids;
pub mod managed;
pub mod store;
pub mod sts;

use opentrail_core::context::EventDetails;
use opentrail_core::pipeline;
use opentrail_core::{AnswerFuture, AppState, Call, Request, Service};
use opentrail_model::{Identity, IdentityType};

pub use error::IdentityError;
use store::LastUsed;

/// IAM as a [`Service`] (signing name `iam`).
pub struct IamService;

impl Service for IamService {
    fn signing_names(&self) -> &'static [&'static str] {
        &["iam"]
    }

    fn call<'a>(&'a self, call: Call<'a>) -> AnswerFuture<'a> {
        Box::pin(async move {
            let (response, details) = pipeline::answer(&iam::Iam, call).await;
            (response, details.map(in_global_region))
        })
    }

    fn request_details(&self, request: Request<'_>) -> Option<EventDetails> {
        pipeline::request_details(&iam::Iam, request).map(in_global_region)
    }

    fn reset(&self, state: &AppState) {
        store::reset(state);
    }
}

/// The region every IAM record carries: IAM is a global service, served from `us-east-1`
/// whatever region the client signed for.
pub const IAM_REGION: &str = "us-east-1";

fn in_global_region(mut details: EventDetails) -> EventDetails {
    details.aws_region = Some(IAM_REGION.to_owned());
    details
}

/// STS as a [`Service`] (signing name `sts`).
pub struct StsService;

impl Service for StsService {
    fn signing_names(&self) -> &'static [&'static str] {
        &["sts"]
    }

    fn call<'a>(&'a self, call: Call<'a>) -> AnswerFuture<'a> {
        Box::pin(pipeline::answer(&sts::Sts, call))
    }

    fn request_details(&self, request: Request<'_>) -> Option<EventDetails> {
        pipeline::request_details(&sts::Sts, request)
    }

    fn reset(&self, state: &AppState) {
        store::reset(state);
    }
}

/// What an access key stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKey {
    pub secret_access_key: String,
    /// The session token a request signed with this (temporary) key must carry
    /// (`X-Amz-Security-Token`); `None` for long-term keys.
    pub session_token: Option<String>,
    /// When temporary credentials expire (epoch seconds); `None` for long-term keys.
    pub expiration: Option<i64>,
    /// A long-term key's status is `Active` (`false` for `Inactive`); temporary credentials
    /// are always active until `expiration`, which the caller compares with the request time.
    pub active: bool,
    /// Who signs with it.
    pub identity: Identity,
}

/// The secret, session token, expiry, status and caller of `access_key_id`: an IAM user's
/// long-term key or a set of temporary credentials. `Ok(None)` for a key IAM and STS do not
/// know (root keys live in `core::credentials`).
pub fn resolve_access_key(
    state: &AppState,
    access_key_id: &str,
) -> Result<Option<ResolvedKey>, IdentityError> {
    let iam = store::iam(state)?;
    if let Some(session) = iam.session(access_key_id) {
        return Ok(Some(ResolvedKey {
            secret_access_key: session.secret.clone(),
            session_token: Some(session.token.clone()),
            expiration: Some(session.expiration),
            active: true,
            identity: session.identity(),
        }));
    }
    let Some(owner) = iam.key_owner(access_key_id) else {
        return Ok(None);
    };
    let account = iam.account(&owner.account_id);
    let Some(user) = account.users.get(&owner.user) else {
        return Ok(None);
    };
    let Some(key) = user.keys.iter().find(|k| k.id == access_key_id) else {
        return Ok(None);
    };
    Ok(Some(ResolvedKey {
        secret_access_key: key.secret.clone(),
        session_token: None,
        expiration: None,
        active: key.status == "Active",
        identity: Identity::iam_user(
            &owner.account_id,
            access_key_id,
            &user.name,
            &user.id,
            &user.arn,
        ),
    }))
}

/// One identity policy document and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedPolicy {
    /// `inline:user/<name>/<policy>`, `inline:group/<name>/<policy>`,
    /// `inline:role/<name>/<policy>`, or a managed policy's ARN.
    pub source: String,
    /// The policy document, JSON text as stored.
    pub document: String,
}

/// The policies that apply to one caller.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrincipalPolicies {
    /// Changes whenever an account's IAM state changes: parsed forms cached under an older
    /// generation may be stale (new STS sessions do not move it: they are new keys).
    pub generation: u64,
    /// Identity-based policies: a user's inline and attached ones and those of its groups;
    /// for a role session the role's inline and attached ones.
    pub identity_policies: Vec<SourcedPolicy>,
    /// The permissions boundary's document (the user's or the role's), if any.
    pub permissions_boundary: Option<SourcedPolicy>,
    /// Session policies of a role session (`Policy`, and `PolicyArns`' documents as they were
    /// at AssumeRole).
    pub session_policies: Vec<String>,
    /// `aws:PrincipalTag` values: the user's or role's tags, with session tags over them.
    pub principal_tags: Vec<(String, String)>,
    /// The caller is an account root (no identity policies apply to it).
    pub root: bool,
    /// The user or role no longer exists (its credentials may still verify until they
    /// expire; nothing is allowed).
    pub missing: bool,
}

/// Every policy document that applies to `identity` (see [`PrincipalPolicies`]).
pub fn principal_policies(
    state: &AppState,
    identity: &Identity,
) -> Result<PrincipalPolicies, IdentityError> {
    let iam = store::iam(state)?;
    let mut out = PrincipalPolicies {
        generation: iam.generation(),
        ..PrincipalPolicies::default()
    };
    let account = iam.account(&identity.account_id);
    let managed_doc = |arn: &str| {
        iam::policies::find(&account, arn).map(|p| SourcedPolicy {
            source: arn.to_owned(),
            document: p.default_document().to_owned(),
        })
    };
    let inline =
        |kind: &str, owner: &str, policies: &std::collections::BTreeMap<String, String>| {
            policies
                .iter()
                .map(|(name, document)| SourcedPolicy {
                    source: format!("inline:{kind}/{owner}/{name}"),
                    document: document.clone(),
                })
                .collect::<Vec<_>>()
        };
    let session = identity.session.as_deref();
    match identity.identity_type {
        IdentityType::Root => {
            out.root = true;
        }
        IdentityType::IamUser => {
            let name = identity.user_name.as_deref().unwrap_or_default();
            let Some(user) = account.users.get(&name.to_lowercase()) else {
                out.missing = true;
                return Ok(out);
            };
            out.identity_policies
                .extend(inline("user", &user.name, &user.inline));
            out.identity_policies
                .extend(user.attached.iter().filter_map(|arn| managed_doc(arn)));
            for group in user.groups.iter().filter_map(|g| account.groups.get(g)) {
                out.identity_policies
                    .extend(inline("group", &group.name, &group.inline));
                out.identity_policies
                    .extend(group.attached.iter().filter_map(|arn| managed_doc(arn)));
            }
            out.permissions_boundary = user.boundary.as_deref().and_then(managed_doc);
            out.principal_tags = user
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect();
        }
        IdentityType::AssumedRole => {
            let issuer = session.and_then(|s| s.issuer.as_ref());
            let role = issuer.and_then(|issuer| {
                iam::roles::role_by_arn(&account, &issuer.role_arn)
                    .filter(|role| role.id == issuer.role_id)
            });
            let Some(role) = role else {
                out.missing = true;
                return Ok(out);
            };
            out.identity_policies
                .extend(inline("role", &role.name, &role.inline));
            out.identity_policies
                .extend(role.attached.iter().filter_map(|arn| managed_doc(arn)));
            out.permissions_boundary = role.boundary.as_deref().and_then(managed_doc);
            out.principal_tags = role
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect();
            if let Some(stored) = iam.session(&identity.access_key_id) {
                out.session_policies.clone_from(&stored.session_policies);
            }
        }
    }
    if let Some(session) = session {
        for (key, value) in &session.tags {
            out.principal_tags
                .retain(|(k, _)| !k.eq_ignore_ascii_case(key));
            out.principal_tags.push((key.clone(), value.clone()));
        }
    }
    Ok(out)
}

/// Notes that `access_key_id` signed a call to `service` (signing name, e.g. `s3`) in
/// `region` at `epoch_seconds` (GetAccessKeyLastUsed answers it). In memory; written with the
/// account's next change.
pub fn note_key_used(
    state: &AppState,
    access_key_id: &str,
    service: &str,
    region: &str,
    epoch_seconds: i64,
) {
    let Ok(iam) = store::iam(state) else {
        return;
    };
    iam.note_used(
        access_key_id,
        LastUsed {
            date: epoch_seconds,
            service: service.to_owned(),
            region: region.to_owned(),
        },
    );
}

#[cfg(test)]
mod tests;
