//! IAM and STS as the request path sees them: the [`KeyDirectory`] of IAM users' keys and
//! temporary credentials, and the [`PolicySource`] of principals' policies, ready to be
//! installed on [`AppState::access`] (with the authorizer built over them: [`install`]).

use std::sync::Arc;

use std::hash::{Hash, Hasher};

use opentrail_authz::{OrgContext, OrgSource, PolicyAuthorizer, PolicySource};
use opentrail_core::AppState;
use opentrail_core::access::{KeyDirectory, KeyEntry};
use opentrail_model::Identity;
use time::OffsetDateTime;

use crate::store;

/// IAM users' access keys and STS temporary credentials, as a [`KeyDirectory`].
pub struct IdentityDirectory;

impl KeyDirectory for IdentityDirectory {
    fn lookup(&self, state: &AppState, access_key_id: &str) -> Option<KeyEntry> {
        let resolved = match crate::resolve_access_key(state, access_key_id) {
            Ok(resolved) => resolved?,
            Err(err) => {
                tracing::error!(error = %err, "resolving an access key failed");
                return None;
            }
        };
        Some(KeyEntry {
            secret_access_key: resolved.secret_access_key,
            account_id: resolved.identity.account_id.clone(),
            identity: resolved.identity,
            session_token: resolved.session_token,
            expires: resolved
                .expiration
                .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok()),
            active: resolved.active,
        })
    }

    fn note_used(
        &self,
        state: &AppState,
        access_key_id: &str,
        service: &str,
        region: &str,
        at: OffsetDateTime,
    ) {
        crate::note_key_used(state, access_key_id, service, region, at.unix_timestamp());
    }
}

/// The policies of IAM principals, as a [`PolicySource`]: the generation is IAM's and STS's
/// one change counter (any change invalidates every principal's parsed policies).
pub struct IdentityPolicies;

impl PolicySource for IdentityPolicies {
    fn generation(&self, state: &AppState, _identity: &Identity) -> Result<u64, String> {
        store::iam(state)
            .map(|iam| iam.generation())
            .map_err(|err| err.to_string())
    }

    fn principal_policies(
        &self,
        state: &AppState,
        identity: &Identity,
    ) -> Result<opentrail_authz::PrincipalPolicies, String> {
        let found = crate::principal_policies(state, identity).map_err(|err| err.to_string())?;
        Ok(opentrail_authz::PrincipalPolicies {
            generation: found.generation,
            identity: found
                .identity_policies
                .into_iter()
                .map(|policy| Arc::from(policy.document))
                .collect(),
            boundary: found
                .permissions_boundary
                .map(|policy| Arc::from(policy.document)),
            session: found.session_policies.into_iter().map(Arc::from).collect(),
            tags: found.principal_tags,
        })
    }
}

/// Accounts' organizations and their service control policies, as an [`OrgSource`], from
/// the Organizations service. The generation is a hash of the organization and its SCP
/// documents, level by level (so a change of any SCP or attachment changes it).
pub struct OrganizationsSource;

impl OrgSource for OrganizationsSource {
    fn org_context(&self, state: &AppState, account_id: &str) -> Option<OrgContext> {
        let membership = opentrail_organizations::organization_of(state, account_id)?;
        let levels = opentrail_organizations::scp_chain(state, account_id);
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        membership.organization_id.hash(&mut hasher);
        levels.hash(&mut hasher);
        Some(OrgContext {
            org_id: membership.organization_id,
            management_account: membership.management_account_id == account_id,
            generation: hasher.finish(),
            scp_levels: levels
                .into_iter()
                .map(|level| level.into_iter().map(Arc::from).collect())
                .collect(),
        })
    }
}

/// Installs on `state` the key directory and AWS's policy evaluation over IAM's policies and
/// the Organizations service's SCPs. The first installation stays; the IAM service calls it
/// when the server starts ([`crate::IamService`]'s `spawn_workers`).
pub fn install(state: &AppState) {
    state.access.install_directory(Arc::new(IdentityDirectory));
    state
        .access
        .install_authorizer(Arc::new(PolicyAuthorizer::new(
            Arc::new(IdentityPolicies),
            Some(Arc::new(OrganizationsSource)),
        )));
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentrail_core::ServerConfig;
    use opentrail_core::access::AuthzRequest;
    use opentrail_core::context::RequestContext;

    const KEY: &str = "AKIABOBBOBBOBBOBBOB2";

    #[test]
    fn installed_keys_authenticate_and_policies_authorize() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state =
            AppState::open(ServerConfig::for_tests(dir.path().to_path_buf())).expect("state");
        install(&state);
        let iam = store::iam(&state).expect("iam");
        let account = state.config.account_id.clone();
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:List*","Resource":"*"}]}"#;
        iam.update(&state, &account, |stored| {
            let user = store::User {
                name: "bob".into(),
                id: crate::ids::new_id(crate::ids::IdKind::User),
                path: "/".into(),
                arn: format!("arn:aws:iam::{account}:user/bob"),
                created: 0,
                tags: Vec::new(),
                inline: [("sqs".to_owned(), policy.to_owned())]
                    .into_iter()
                    .collect(),
                attached: Vec::new(),
                groups: Vec::new(),
                keys: vec![store::AccessKey {
                    id: KEY.into(),
                    secret: "s".repeat(40),
                    status: "Active".into(),
                    created: 0,
                    last_used: None,
                }],
                boundary: None,
                login_profile: None,
                ssh_keys: Vec::new(),
                signing_certs: Vec::new(),
            };
            stored.users.insert("bob".into(), user);
            Ok(())
        })
        .expect("user");
        let entry = state.access.resolve(&state, KEY).expect("known key");
        assert_eq!(entry.identity.user_name.as_deref(), Some("bob"));
        assert_eq!(entry.account_id, account);
        assert!(entry.active && entry.session_token.is_none());
        let ctx = RequestContext {
            identity: entry.identity,
            ..RequestContext::for_tests("us-east-1")
        };
        let list = AuthzRequest::new("sqs:ListQueues", vec!["*".into()]);
        assert!(state.access.authorize(&state, &ctx, &list).is_ok());
        let create = AuthzRequest::new("sqs:CreateQueue", vec!["*".into()]);
        let denial = state
            .access
            .authorize(&state, &ctx, &create)
            .expect_err("not allowed");
        assert!(
            denial.message.contains("sqs:CreateQueue"),
            "{}",
            denial.message
        );
        state
            .access
            .note_used(&state, KEY, "sqs", "eu-west-1", OffsetDateTime::UNIX_EPOCH);
        assert_eq!(
            iam.noted_use(KEY).map(|used| used.service),
            Some("sqs".into())
        );
    }
}
