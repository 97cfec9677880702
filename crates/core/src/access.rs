//! Who may call, and what they may do: the access keys the server accepts beyond each
//! account's root key, and the authorization of every call.
//!
//! Core knows neither IAM nor the policy language. The server installs a [`KeyDirectory`]
//! (IAM users' keys, STS temporary credentials) and an [`Authorizer`] (AWS's policy
//! evaluation) on `AppState::access` at start; the server's dispatch asks
//! [`Access::resolve`] who signed a request, and the request pipeline asks
//! [`Access::authorize`] before an operation runs. The hooks see the state they are installed
//! on as `S` (the `AppState`, which owns them: this module stays below it).
//!
//! Fail closed: with no authorizer installed, the root user of the account a call acts in is
//! allowed (it is allowed everything in its own account) and every other principal is denied.

use std::sync::{Arc, OnceLock};

use opentrail_model::{Identity, IdentityType};
use time::OffsetDateTime;

use crate::context::RequestContext;
use crate::credentials::Credentials;

/// An access key the server accepts, and the principal it stands for.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    pub secret_access_key: String,
    /// The account the key's principal belongs to (calls made with it act in this account).
    pub account_id: String,
    /// The caller: root, an IAM user, an assumed-role session.
    pub identity: Identity,
    /// The `X-Amz-Security-Token` temporary credentials must be sent with; `None` for
    /// long-term keys (which must be sent without one).
    pub session_token: Option<String>,
    /// When temporary credentials stop working.
    pub expires: Option<OffsetDateTime>,
    /// `false` for a key made `Inactive`: refused as an unknown key is.
    pub active: bool,
}

/// The access keys an identity service keeps (IAM users' keys, STS credentials).
pub trait KeyDirectory<S>: Send + Sync {
    /// The key with this id, if it exists (active or not).
    fn lookup(&self, state: &S, access_key_id: &str) -> Option<KeyEntry>;

    /// Notes that a key signed a call of `service` in `region` (IAM's GetAccessKeyLastUsed).
    fn note_used(
        &self,
        _state: &S,
        _access_key_id: &str,
        _service: &str,
        _region: &str,
        _at: OffsetDateTime,
    ) {
    }
}

/// The policy that a resource carries (an SQS queue policy, an SNS topic policy, an S3 bucket
/// policy, …), with the account that owns the resource.
#[derive(Debug, Clone)]
pub struct ResourcePolicy {
    pub document: Arc<str>,
    pub account_id: String,
}

/// What one call asks to do.
#[derive(Debug, Clone)]
pub struct AuthzRequest {
    /// `service:Action`, e.g. `cloudtrail:CreateTrail`.
    pub action: String,
    /// The ARNs the call acts on; `*` when the action has no resource.
    pub resources: Vec<String>,
    /// The account owning the resources when it is not the caller's (cross-account calls).
    pub resource_account: Option<String>,
    /// The resource's own policy, where the service has them.
    pub resource_policy: Option<ResourcePolicy>,
    /// The tags the call's tag condition keys see.
    pub tags: CallTags,
}

/// The tags behind a call's tag condition keys: `aws:ResourceTag/<key>` (the resource's),
/// `aws:RequestTag/<key>` and `aws:TagKeys` (the tags the call sets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallTags {
    /// The tags of the resource the call acts on.
    pub resource: Vec<(String, String)>,
    /// The tags the call sets (CreateQueue's, TagResource's, …).
    pub request: Vec<(String, String)>,
}

impl AuthzRequest {
    /// A call of `action` on `resources` in the caller's own account, with no resource policy.
    pub fn new(action: impl Into<String>, resources: Vec<String>) -> AuthzRequest {
        AuthzRequest {
            action: action.into(),
            resources,
            resource_account: None,
            resource_policy: None,
            tags: CallTags::default(),
        }
    }
}

/// A refused call, with AWS's message ("User: arn:… is not authorized to perform: …").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub message: String,
}

/// Decides whether a call may run: AWS's policy evaluation.
pub trait Authorizer<S>: Send + Sync {
    /// `Ok` when the call's principal may do what `request` asks.
    fn authorize(
        &self,
        state: &S,
        ctx: &RequestContext,
        request: &AuthzRequest,
    ) -> Result<(), Denial>;
}

/// The key directory and authorizer installed on a state `S` (see the module docs).
pub struct Access<S> {
    directory: OnceLock<Arc<dyn KeyDirectory<S>>>,
    authorizer: OnceLock<Arc<dyn Authorizer<S>>>,
}

impl<S> Default for Access<S> {
    fn default() -> Self {
        Access {
            directory: OnceLock::new(),
            authorizer: OnceLock::new(),
        }
    }
}

impl<S> Access<S> {
    /// Installs the key directory; the first one installed stays.
    pub fn install_directory(&self, directory: Arc<dyn KeyDirectory<S>>) {
        let _ = self.directory.set(directory);
    }

    /// Installs the authorizer; the first one installed stays.
    pub fn install_authorizer(&self, authorizer: Arc<dyn Authorizer<S>>) {
        let _ = self.authorizer.set(authorizer);
    }

    /// The key `access_key_id`: a root key of `credentials`, else the installed directory's.
    pub fn resolve(
        &self,
        state: &S,
        credentials: &Credentials,
        access_key_id: &str,
    ) -> Option<KeyEntry> {
        if let Some(root) = root_key(credentials, access_key_id) {
            return Some(root);
        }
        self.directory.get()?.lookup(state, access_key_id)
    }

    /// Notes a key's use with the installed directory.
    pub fn note_used(
        &self,
        state: &S,
        access_key_id: &str,
        service: &str,
        region: &str,
        at: OffsetDateTime,
    ) {
        if let Some(directory) = self.directory.get() {
            directory.note_used(state, access_key_id, service, region, at);
        }
    }

    /// Whether the call's principal may do what `request` asks (see the module docs).
    pub fn authorize(
        &self,
        state: &S,
        ctx: &RequestContext,
        request: &AuthzRequest,
    ) -> Result<(), Denial> {
        if let Some(authorizer) = self.authorizer.get() {
            return authorizer.authorize(state, ctx, request);
        }
        let own_root = ctx.identity.identity_type == IdentityType::Root
            && ctx.identity.account_id == ctx.account_id
            && request
                .resource_account
                .as_deref()
                .is_none_or(|account| account == ctx.account_id);
        if own_root {
            return Ok(());
        }
        Err(Denial {
            message: no_identity_policy_message(&ctx.identity.arn, request),
        })
    }
}

/// The root key `access_key_id` of `credentials`, if it is one.
fn root_key(credentials: &Credentials, access_key_id: &str) -> Option<KeyEntry> {
    let root = credentials.find(access_key_id)?;
    Some(KeyEntry {
        secret_access_key: root.secret_access_key.clone(),
        account_id: root.account_id.clone(),
        identity: Identity::root(&root.account_id, &root.access_key_id),
        session_token: None,
        expires: None,
        active: true,
    })
}

/// Whether `identity` signs with GetSessionToken credentials (temporary credentials of an IAM
/// user or root, not of a role session).
pub fn is_get_session_token_session(identity: &Identity) -> bool {
    identity.identity_type != IdentityType::AssumedRole
        && identity
            .session
            .as_ref()
            .is_some_and(|session| session.issuer.is_none())
}

/// What temporary credentials may not do whatever their policies say, as AWS limits them: no
/// session credentials may call `sts:GetSessionToken` or `sts:GetFederationToken`, and
/// GetSessionToken credentials call no STS operation but AssumeRole and GetCallerIdentity.
/// (Their IAM calls without MFA are refused at authentication.)
pub fn session_credentials_limit(identity: &Identity, action: &str) -> Option<Denial> {
    let session = identity.session.as_ref()?;
    let operation = action.strip_prefix("sts:")?;
    let refused = match operation {
        "GetSessionToken" | "GetFederationToken" => true,
        "AssumeRole" | "GetCallerIdentity" => false,
        _ => session.issuer.is_none() && identity.identity_type != IdentityType::AssumedRole,
    };
    refused.then(|| Denial {
        message: format!("Cannot call {operation} with session credentials"),
    })
}

/// AWS's message for a call no identity-based policy allows.
pub fn no_identity_policy_message(principal_arn: &str, request: &AuthzRequest) -> String {
    let resource = request.resources.first().map_or("*", String::as_str);
    format!(
        "User: {principal_arn} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action",
        action = request.action
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::AccessKey;

    /// The hooks in these tests need no state.
    type NoState = ();

    fn credentials() -> Credentials {
        Credentials {
            root: AccessKey {
                access_key_id: "AKIAROOT".into(),
                secret_access_key: "secret".into(),
                account_id: "123456789012".into(),
            },
        }
    }

    #[test]
    fn root_keys_resolve_without_a_directory() {
        let access = Access::<NoState>::default();
        let entry = access
            .resolve(&(), &credentials(), "AKIAROOT")
            .expect("root");
        assert_eq!(entry.identity.identity_type, IdentityType::Root);
        assert_eq!(entry.account_id, "123456789012");
        assert!(entry.active && entry.session_token.is_none());
        assert!(access.resolve(&(), &credentials(), "AKIAOTHER").is_none());
    }

    struct OneKey;

    impl KeyDirectory<NoState> for OneKey {
        fn lookup(&self, _state: &NoState, access_key_id: &str) -> Option<KeyEntry> {
            (access_key_id == "ASIATEMP").then(|| KeyEntry {
                secret_access_key: "s".into(),
                account_id: "210987654321".into(),
                identity: Identity::iam_user(
                    "210987654321",
                    "ASIATEMP",
                    "bob",
                    "AIDABOB",
                    "arn:aws:iam::210987654321:user/bob",
                ),
                session_token: Some("token".into()),
                expires: None,
                active: true,
            })
        }
    }

    #[test]
    fn other_keys_come_from_the_installed_directory() {
        let access = Access::<NoState>::default();
        access.install_directory(Arc::new(OneKey));
        let entry = access
            .resolve(&(), &credentials(), "ASIATEMP")
            .expect("temp");
        assert_eq!(entry.session_token.as_deref(), Some("token"));
        assert_eq!(entry.account_id, "210987654321");
    }

    #[test]
    fn without_an_authorizer_only_the_accounts_root_is_allowed() {
        let access = Access::<NoState>::default();
        let request = AuthzRequest::new("sqs:CreateQueue", vec!["*".into()]);
        let root = RequestContext::for_tests("us-east-1");
        assert!(access.authorize(&(), &root, &request).is_ok());
        let elsewhere = AuthzRequest {
            resource_account: Some("210987654321".into()),
            ..request.clone()
        };
        assert!(access.authorize(&(), &root, &elsewhere).is_err());
        let user = RequestContext {
            identity: Identity::iam_user(
                &root.account_id,
                "AKIAUSER",
                "bob",
                "AIDABOB",
                "arn:aws:iam::123456789012:user/bob",
            ),
            ..root
        };
        let denial = access
            .authorize(&(), &user, &request)
            .expect_err("fail closed");
        assert!(denial.message.starts_with(
            "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: sqs:CreateQueue"
        ));
    }

    #[test]
    fn denial_message_names_principal_action_and_resource() {
        let request = AuthzRequest::new(
            "cloudtrail:CreateTrail",
            vec!["arn:aws:cloudtrail:us-east-1:123456789012:trail/t".into()],
        );
        assert_eq!(
            no_identity_policy_message("arn:aws:iam::123456789012:user/bob", &request),
            "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: cloudtrail:CreateTrail on resource: arn:aws:cloudtrail:us-east-1:123456789012:trail/t because no identity-based policy allows the cloudtrail:CreateTrail action"
        );
    }

    #[test]
    fn session_credentials_have_limits_of_their_own() {
        use opentrail_model::{SessionContext, SessionIssuer};

        let user = Identity::iam_user(
            "123456789012",
            "AKIAUSER",
            "bob",
            "AIDABOB",
            "arn:aws:iam::123456789012:user/bob",
        );
        let mut get_session_token = user.clone();
        get_session_token.session = Some(Box::default());
        let role = Identity::assumed_role(
            "ASIAROLE",
            "s",
            SessionIssuer {
                role_id: "AROAROLE".into(),
                role_arn: "arn:aws:iam::123456789012:role/r".into(),
                role_name: "r".into(),
                account_id: "123456789012".into(),
            },
            SessionContext::default(),
        );
        assert!(!is_get_session_token_session(&user));
        assert!(is_get_session_token_session(&get_session_token));
        assert!(!is_get_session_token_session(&role));

        for action in ["sts:GetSessionToken", "sts:AssumeRole", "sqs:CreateQueue"] {
            assert!(
                session_credentials_limit(&user, action).is_none(),
                "{action}"
            );
        }
        let refused = session_credentials_limit(&role, "sts:GetSessionToken").expect("refused");
        assert_eq!(
            refused.message,
            "Cannot call GetSessionToken with session credentials"
        );
        assert!(session_credentials_limit(&role, "sts:GetFederationToken").is_some());
        assert!(session_credentials_limit(&role, "sts:GetAccessKeyInfo").is_none());
        assert!(session_credentials_limit(&role, "sts:AssumeRole").is_none());
        for allowed in ["sts:AssumeRole", "sts:GetCallerIdentity", "sqs:CreateQueue"] {
            assert!(session_credentials_limit(&get_session_token, allowed).is_none());
        }
        for refused in ["sts:GetSessionToken", "sts:GetAccessKeyInfo"] {
            assert!(session_credentials_limit(&get_session_token, refused).is_some());
        }
    }
}
