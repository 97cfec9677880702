//! IAM and STS state: durable in the metadata store, served from memory.
//!
//! # On disk
//! - `iam.accounts`, keyed by account id: one [`Account`] value with every user, group, role
//!   and customer managed policy of that account (entities keyed by lower-cased name, as IAM
//!   names are unique regardless of case). A change rewrites the account's value in one
//!   durable transaction, so a change and everything it touches (a user and its group
//!   memberships, a policy and its attachments) commit together.
//! - `sts.sessions`, keyed by the temporary access key id: one [`Session`] per set of
//!   temporary credentials.
//!
//! Every value carries `format` ([`FORMAT`]).
//!
//! # In memory
//! [`IamState`] (in [`AppState::extensions`]) holds every account and session, loaded on
//! first use, an index from access key id to its owner, a generation number bumped on every
//! change (callers cache what they derive from the state by it), and when each key was last
//! used (kept in memory, written with the account's next change).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use opentrail_core::AppState;
use opentrail_model::Identity;
use serde::{Deserialize, Serialize};

use crate::error::{IdentityError, Result};

const ACCOUNTS: &str = "iam.accounts";
const SESSIONS: &str = "sts.sessions";
/// The format of [`Account`] and [`Session`] values.
pub const FORMAT: u32 = 1;

/// Tags in the order they were set.
pub type Tags = Vec<Tag>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// When and where an access key or role was last used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUsed {
    /// Epoch seconds.
    pub date: i64,
    pub service: String,
    pub region: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
    /// `Active` or `Inactive`.
    pub status: String,
    pub created: i64,
    #[serde(default)]
    pub last_used: Option<LastUsed>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub id: String,
    pub path: String,
    pub arn: String,
    pub created: i64,
    #[serde(default)]
    pub tags: Tags,
    /// Inline policies: name → document.
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    /// Attached managed policy ARNs.
    #[serde(default)]
    pub attached: Vec<String>,
    /// The lower-cased names of its groups.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub keys: Vec<AccessKey>,
    #[serde(default)]
    pub boundary: Option<String>,
    /// The console password's profile (the password itself is never kept: opentrail has no
    /// console sign-in).
    #[serde(default)]
    pub login_profile: Option<LoginProfile>,
    #[serde(default)]
    pub ssh_keys: Vec<SshKey>,
    #[serde(default)]
    pub signing_certs: Vec<SigningCert>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshKey {
    /// `APKA…`.
    pub id: String,
    pub body: String,
    /// MD5 of the key, `aa:bb:…`.
    pub fingerprint: String,
    /// `Active` or `Inactive`.
    pub status: String,
    pub uploaded: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningCert {
    pub id: String,
    pub body: String,
    pub status: String,
    pub uploaded: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginProfile {
    pub created: i64,
    pub reset_required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcProvider {
    /// The issuer URL without its scheme and query (`token.actions.githubusercontent.com`).
    pub url: String,
    pub arn: String,
    pub created: i64,
    #[serde(default)]
    pub thumbprints: Vec<String>,
    #[serde(default)]
    pub client_ids: Vec<String>,
    #[serde(default)]
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlProvider {
    pub name: String,
    pub arn: String,
    pub created: i64,
    /// The metadata document as given.
    pub metadata: String,
    /// `validUntil` of the metadata's `EntityDescriptor` (epoch seconds), when it has one.
    #[serde(default)]
    pub valid_until: Option<i64>,
    #[serde(default)]
    pub tags: Tags,
}

/// An MFA device. The seed of a virtual device is answered once, at creation, and never
/// kept: opentrail does not check authentication codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaDevice {
    pub serial: String,
    pub virtual_device: bool,
    pub created: i64,
    /// The lower-cased name of the user it is enabled for.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub enabled: Option<i64>,
    #[serde(default)]
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerCert {
    pub name: String,
    /// `ASCA…`.
    pub id: String,
    pub path: String,
    pub arn: String,
    pub uploaded: i64,
    pub body: String,
    #[serde(default)]
    pub chain: Option<String>,
    #[serde(default)]
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceProfile {
    pub name: String,
    pub id: String,
    pub path: String,
    pub arn: String,
    pub created: i64,
    /// Lower-cased names of its roles (at most one).
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub id: String,
    pub path: String,
    pub arn: String,
    pub created: i64,
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    #[serde(default)]
    pub attached: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub id: String,
    pub path: String,
    pub arn: String,
    pub created: i64,
    /// The trust policy (AssumeRolePolicyDocument), as given.
    pub trust: String,
    #[serde(default)]
    pub description: Option<String>,
    pub max_session: i64,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    #[serde(default)]
    pub attached: Vec<String>,
    #[serde(default)]
    pub boundary: Option<String>,
    #[serde(default)]
    pub last_used: Option<LastUsed>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// `v1`, `v2`, …
    pub id: String,
    pub document: String,
    pub created: i64,
}

/// A managed policy (customer managed ones are stored; AWS managed ones are built in,
/// [`crate::managed`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedPolicy {
    pub name: String,
    pub id: String,
    pub path: String,
    pub arn: String,
    pub created: i64,
    pub updated: i64,
    #[serde(default)]
    pub description: Option<String>,
    pub default_version: String,
    pub versions: Vec<PolicyVersion>,
    /// The number of the next version (`v{next_version}`).
    pub next_version: u32,
    #[serde(default)]
    pub tags: Tags,
}

impl ManagedPolicy {
    /// The document of the default version.
    pub fn default_document(&self) -> &str {
        self.versions
            .iter()
            .find(|v| v.id == self.default_version)
            .map_or("", |v| v.document.as_str())
    }
}

/// Everything IAM holds for one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub format: u32,
    /// Users by lower-cased name.
    #[serde(default)]
    pub users: BTreeMap<String, User>,
    #[serde(default)]
    pub groups: BTreeMap<String, Group>,
    #[serde(default)]
    pub roles: BTreeMap<String, Role>,
    /// Customer managed policies by ARN.
    #[serde(default)]
    pub policies: BTreeMap<String, ManagedPolicy>,
    /// Instance profiles by lower-cased name.
    #[serde(default)]
    pub instance_profiles: BTreeMap<String, InstanceProfile>,
    /// OpenID Connect providers by ARN.
    #[serde(default)]
    pub oidc_providers: BTreeMap<String, OidcProvider>,
    /// SAML providers by ARN.
    #[serde(default)]
    pub saml_providers: BTreeMap<String, SamlProvider>,
    /// MFA devices by serial number: virtual ones (made by CreateVirtualMFADevice) and the
    /// hardware ones EnableMFADevice named.
    #[serde(default)]
    pub mfa_devices: BTreeMap<String, MfaDevice>,
    /// Server certificates by lower-cased name (their private keys are never kept).
    #[serde(default)]
    pub server_certs: BTreeMap<String, ServerCert>,
    /// When GenerateCredentialReport last ran (epoch seconds).
    #[serde(default)]
    pub credential_report: Option<i64>,
    /// The account alias (IAM allows one).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The account password policy: its members as UpdateAccountPasswordPolicy set them.
    #[serde(default)]
    pub password_policy: Option<serde_json::Value>,
}

impl Default for Account {
    fn default() -> Account {
        Account {
            format: FORMAT,
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            roles: BTreeMap::new(),
            policies: BTreeMap::new(),
            instance_profiles: BTreeMap::new(),
            oidc_providers: BTreeMap::new(),
            saml_providers: BTreeMap::new(),
            mfa_devices: BTreeMap::new(),
            server_certs: BTreeMap::new(),
            credential_report: None,
            aliases: Vec::new(),
            password_policy: None,
        }
    }
}

impl Account {
    /// How many users, groups and roles have `arn` attached.
    pub fn attachment_count(&self, arn: &str) -> usize {
        let users = self
            .users
            .values()
            .filter(|u| u.attached.iter().any(|a| a == arn));
        let groups = self
            .groups
            .values()
            .filter(|g| g.attached.iter().any(|a| a == arn));
        let roles = self
            .roles
            .values()
            .filter(|r| r.attached.iter().any(|a| a == arn));
        users.count() + groups.count() + roles.count()
    }

    /// How many users and roles have `arn` as their permissions boundary.
    pub fn boundary_count(&self, arn: &str) -> usize {
        let users = self
            .users
            .values()
            .filter(|u| u.boundary.as_deref() == Some(arn));
        let roles = self
            .roles
            .values()
            .filter(|r| r.boundary.as_deref() == Some(arn));
        users.count() + roles.count()
    }
}

/// A set of temporary credentials and who they stand for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub format: u32,
    pub access_key_id: String,
    pub secret: String,
    pub token: String,
    /// Epoch seconds.
    pub expiration: i64,
    pub account_id: String,
    /// `Root`, `IAMUser` or `AssumedRole`.
    pub identity_type: String,
    /// Root: the account id; IAM user: `AIDA…`; assumed role: `AROA…:session`.
    pub principal_id: String,
    pub arn: String,
    #[serde(default)]
    pub user_name: Option<String>,
    /// For a role session: the role (`AROA…`, ARN, name) and the session name.
    #[serde(default)]
    pub role: Option<SessionRole>,
    pub created: i64,
    #[serde(default)]
    pub mfa: bool,
    #[serde(default)]
    pub source_identity: Option<String>,
    #[serde(default)]
    pub tags: Tags,
    /// The keys of `tags` that carry over into sessions these credentials start (role
    /// chaining).
    #[serde(default)]
    pub transitive: Vec<String>,
    /// Session policy documents (`Policy`, and the documents of `PolicyArns` at issue time).
    #[serde(default)]
    pub session_policies: Vec<String>,
    /// Whether these credentials came from a role session (role chaining caps durations).
    #[serde(default)]
    pub chained: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRole {
    pub role_id: String,
    pub role_arn: String,
    pub role_name: String,
    pub session_name: String,
}

impl Session {
    /// The caller these credentials stand for.
    pub fn identity(&self) -> Identity {
        use opentrail_model::{SessionContext, SessionIssuer};
        let context = SessionContext {
            issuer: None,
            creation_date: crate::ids::iso(self.created),
            mfa_authenticated: self.mfa,
            source_identity: self.source_identity.clone(),
            tags: self
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect(),
        };
        if let Some(role) = &self.role {
            let issuer = SessionIssuer {
                role_id: role.role_id.clone(),
                role_arn: role.role_arn.clone(),
                role_name: role.role_name.clone(),
                account_id: self.account_id.clone(),
            };
            return Identity::assumed_role(
                &self.access_key_id,
                &role.session_name,
                issuer,
                context,
            );
        }
        let mut identity = match &self.user_name {
            Some(name) => Identity::iam_user(
                &self.account_id,
                &self.access_key_id,
                name,
                &self.principal_id,
                &self.arn,
            ),
            None => Identity::root(&self.account_id, &self.access_key_id),
        };
        identity.session = Some(Box::new(context));
        identity
    }
}

/// Who owns a long-term access key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    pub account_id: String,
    /// The lower-cased user name.
    pub user: String,
}

/// IAM and STS state of one server (see the module docs).
#[derive(Default)]
pub struct IamState {
    accounts: RwLock<HashMap<String, Arc<Account>>>,
    sessions: RwLock<HashMap<String, Arc<Session>>>,
    keys: RwLock<HashMap<String, KeyOwner>>,
    /// Serialises changes (read, change, write, swap).
    write: Mutex<()>,
    generation: AtomicU64,
    last_used: Mutex<HashMap<String, LastUsed>>,
}

/// The [`IamState`] of `state`, loaded from the metadata store on first use.
pub fn iam(state: &AppState) -> Result<Arc<IamState>> {
    state.extensions.get_or_try_init(|| IamState::load(state))
}

/// Forgets the in-memory state (development reset; the metadata store is wiped by then).
pub fn reset(state: &AppState) {
    if let Some(iam) = state.extensions.get::<IamState>() {
        iam.remove_all();
    }
}

impl IamState {
    fn load(state: &AppState) -> Result<IamState> {
        let iam = IamState::default();
        {
            let mut accounts = iam.accounts.write().unwrap_or_else(PoisonError::into_inner);
            let mut keys = iam.keys.write().unwrap_or_else(PoisonError::into_inner);
            for (id, account) in state.meta.list::<Account>(ACCOUNTS, "")? {
                index_keys(&mut keys, &id, &account);
                accounts.insert(id, Arc::new(account));
            }
        }
        {
            let mut sessions = iam.sessions.write().unwrap_or_else(PoisonError::into_inner);
            for (id, session) in state.meta.list::<Session>(SESSIONS, "")? {
                sessions.insert(id, Arc::new(session));
            }
        }
        Ok(iam)
    }

    fn remove_all(&self) {
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        self.accounts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The generation of the state: it changes whenever anything in it does.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// A snapshot of an account (empty when it has nothing yet).
    pub fn account(&self, account_id: &str) -> Arc<Account> {
        self.accounts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(account_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Changes an account: `change` runs on a copy, which is written durably and then served
    /// (nothing changes when `change` or the write fails).
    pub fn update<R>(
        &self,
        state: &AppState,
        account_id: &str,
        change: impl FnOnce(&mut Account) -> Result<R>,
    ) -> Result<R> {
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let mut account = Account::clone(&self.account(account_id));
        let result = change(&mut account)?;
        self.apply_last_used(&mut account);
        state.meta.put(ACCOUNTS, account_id, &account)?;
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        keys.retain(|_, owner| owner.account_id != account_id);
        index_keys(&mut keys, account_id, &account);
        drop(keys);
        self.accounts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(account_id.to_owned(), Arc::new(account));
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(result)
    }

    /// Writes the last uses noted in memory into the account's keys and roles.
    fn apply_last_used(&self, account: &mut Account) {
        let last_used = self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last_used.is_empty() {
            return;
        }
        for user in account.users.values_mut() {
            for key in &mut user.keys {
                if let Some(used) = last_used.get(&key.id) {
                    key.last_used = Some(used.clone());
                }
            }
        }
        for role in account.roles.values_mut() {
            if let Some(used) = last_used.get(&role.arn) {
                role.last_used = Some(used.clone());
            }
        }
    }

    /// The owner of long-term access key `id`.
    pub fn key_owner(&self, id: &str) -> Option<KeyOwner> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Notes that key (or role ARN) `id` was used now (in memory).
    pub fn note_used(&self, id: &str, used: LastUsed) {
        self.last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), used);
    }

    /// The last use of key (or role ARN) `id` noted since start, if any.
    pub fn noted_use(&self, id: &str) -> Option<LastUsed> {
        self.last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// The session of temporary access key `id`.
    pub fn session(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Stores a new session durably (and drops sessions that expired, in the same
    /// transaction).
    pub fn add_session(&self, state: &AppState, session: Session, now: i64) -> Result<()> {
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let expired: Vec<String> = self
            .sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|s| s.expiration < now)
            .map(|s| s.access_key_id.clone())
            .collect();
        state.meta.write(|txn| {
            for id in &expired {
                txn.delete(SESSIONS, id)?;
            }
            txn.put(SESSIONS, &session.access_key_id, &session)?;
            Ok::<(), IdentityError>(())
        })?;
        let mut sessions = self
            .sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for id in &expired {
            sessions.remove(id);
        }
        // Sessions never change once issued and are cached by their own key: no generation
        // bump (which would make every principal's policies be read again).
        sessions.insert(session.access_key_id.clone(), Arc::new(session));
        Ok(())
    }
}

fn index_keys(keys: &mut HashMap<String, KeyOwner>, account_id: &str, account: &Account) {
    for (user_key, user) in &account.users {
        for key in &user.keys {
            keys.insert(
                key.id.clone(),
                KeyOwner {
                    account_id: account_id.to_owned(),
                    user: user_key.clone(),
                },
            );
        }
    }
}
