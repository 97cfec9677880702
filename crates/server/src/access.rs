//! Who may call what, wired: the identity service's keys and policies, the organizations
//! service's SCPs, the authorizer over them, and what a new member account gets.

use std::sync::Arc;

use opentrail_authz::{OrgContext, OrgSource, PolicyAuthorizer, PolicySource, PrincipalPolicies};
use opentrail_core::AppState;
use opentrail_core::access::{KeyDirectory, KeyEntry};
use opentrail_identity::iam;
use opentrail_model::Identity;
use opentrail_organizations::{AccountProvisioner, NewAccount};
use serde_json::json;
use time::OffsetDateTime;

/// Installs the key directory and the authorizer on `state`, and the provisioner of accounts
/// Organizations creates.
pub fn install(state: &AppState) {
    state.access.install_directory(Arc::new(IamKeys));
    state
        .access
        .install_authorizer(Arc::new(PolicyAuthorizer::new(
            Arc::new(IamPolicies),
            Some(Arc::new(OrganizationScps)),
        )));
    opentrail_organizations::set_account_provisioner(state, Arc::new(MemberAccounts));
}

/// IAM users' keys and STS temporary credentials.
struct IamKeys;

impl KeyDirectory<AppState> for IamKeys {
    fn lookup(&self, state: &AppState, access_key_id: &str) -> Option<KeyEntry> {
        let key = match opentrail_identity::resolve_access_key(state, access_key_id) {
            Ok(key) => key?,
            Err(err) => {
                tracing::error!(error = %err, "looking up an access key failed");
                return None;
            }
        };
        Some(KeyEntry {
            secret_access_key: key.secret_access_key,
            account_id: key.identity.account_id.clone(),
            session_token: key.session_token,
            expires: key
                .expiration
                .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok()),
            active: key.active,
            identity: key.identity,
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
        if access_key_id.starts_with("AKIA") || access_key_id.starts_with("ASIA") {
            opentrail_identity::note_key_used(
                state,
                access_key_id,
                service,
                region,
                at.unix_timestamp(),
            );
        }
    }
}

/// The policies IAM keeps for a caller.
struct IamPolicies;

impl PolicySource for IamPolicies {
    fn generation(&self, state: &AppState, _identity: &Identity) -> Result<u64, String> {
        opentrail_identity::store::iam(state)
            .map(|iam| iam.generation())
            .map_err(|err| err.to_string())
    }

    fn principal_policies(
        &self,
        state: &AppState,
        identity: &Identity,
    ) -> Result<PrincipalPolicies, String> {
        let found = opentrail_identity::principal_policies(state, identity)
            .map_err(|err| err.to_string())?;
        if found.missing {
            // The user or role is gone: its credentials are allowed nothing.
            return Ok(PrincipalPolicies {
                generation: found.generation,
                ..PrincipalPolicies::default()
            });
        }
        Ok(PrincipalPolicies {
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

/// The organization of an account and its SCPs.
struct OrganizationScps;

impl OrgSource for OrganizationScps {
    fn org_context(&self, state: &AppState, account_id: &str) -> Option<OrgContext> {
        let membership = opentrail_organizations::organization_of(state, account_id)?;
        Some(OrgContext {
            management_account: membership.management_account_id == account_id,
            org_id: membership.organization_id,
            generation: opentrail_organizations::generation(state),
        })
    }

    fn scp_levels(&self, state: &AppState, account_id: &str) -> Vec<Vec<Arc<str>>> {
        opentrail_organizations::scp_chain(state, account_id)
            .into_iter()
            .map(|level| level.into_iter().map(Arc::from).collect())
            .collect()
    }
}

/// A new member account gets the role its management account administers it through
/// (`OrganizationAccountAccessRole` unless CreateAccount names another): trusted by the
/// management account, with `AdministratorAccess`.
struct MemberAccounts;

impl AccountProvisioner for MemberAccounts {
    fn provision(&self, state: &AppState, account: &NewAccount) -> Result<(), String> {
        let iam_state = opentrail_identity::store::iam(state).map_err(|err| err.to_string())?;
        let now = OffsetDateTime::now_utc();
        // Organizations acts in the new account on its management account's behalf.
        let ctx = opentrail_core::context::RequestContext {
            request_id: opentrail_model::ids::new_request_id(),
            event_id: opentrail_model::ids::new_event_id(),
            account_id: account.account_id.clone(),
            region: "us-east-1".into(),
            identity: Identity::root(&account.account_id, ""),
            source_ip: "organizations.amazonaws.com".into(),
            user_agent: Some("organizations.amazonaws.com".into()),
            time: now,
            host: None,
        };
        let call = iam::Call {
            state,
            ctx: &ctx,
            iam: iam_state,
            account: &account.account_id,
            now: now.unix_timestamp(),
        };
        let trust = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{}:root", account.management_account_id)},
                "Action": "sts:AssumeRole",
            }],
        });
        iam::roles::create_role(
            &call,
            &json!({"RoleName": account.role_name, "AssumeRolePolicyDocument": trust.to_string()}),
        )
        .map_err(|err| format!("creating {}: {err}", account.role_name))?;
        iam::policies::attach(
            &call,
            &json!({
                "RoleName": account.role_name,
                "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
            }),
            iam::policies::Holder::Role,
        )
        .map_err(|err| {
            format!(
                "attaching AdministratorAccess to {}: {err}",
                account.role_name
            )
        })?;
        Ok(())
    }
}
