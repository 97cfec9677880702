//! How organizations live in the metadata store, and the in-memory index other crates read.
//!
//! # Tables (every value carries its `version`, format 1)
//! - `organizations`, key = organization id → [`Organization`]: the whole organization (its
//!   root, OUs, accounts, policies and their attachments, trusted services, delegated
//!   administrators, create-account requests, tags) in one value, so every change is one
//!   read-modify-write in one transaction: atomic and durable.
//! - `organizations-members`, key = account id → organization id: which organization an
//!   account belongs to (the management account too), written in the same transaction.
//!
//! [`Registry`] (one per [`AppState`], in its extensions) keeps every organization in memory,
//! loaded on first use and replaced after each committed change, so that the questions other
//! crates ask on every request (`organization_of`, `scp_chain`) cost a map lookup. Writers take
//! its lock, so the index follows the store in commit order.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use opentrail_core::AppState;
use serde::{Deserialize, Serialize};

use crate::error::OrgError;

pub const ORGANIZATIONS: &str = "organizations";
pub const MEMBERS: &str = "organizations-members";
/// The format of every value this build writes.
pub const FORMAT_VERSION: u32 = 1;

pub const SCP: &str = "SERVICE_CONTROL_POLICY";
pub const RCP: &str = "RESOURCE_CONTROL_POLICY";
pub const FULL_AWS_ACCESS: &str = "p-FullAWSAccess";
pub const RCP_FULL_AWS_ACCESS: &str = "p-RCPFullAWSAccess";

/// `Key` / `Value` as the API spells them.
pub use opentrail_core::tags::Tag;

/// One organization, whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub version: u32,
    pub id: String,
    /// The partition of its ARNs (`aws`, `aws-cn`, …): that of the region it was created from.
    #[serde(default = "default_partition")]
    pub partition: String,
    /// `ALL` or `CONSOLIDATED_BILLING`.
    pub feature_set: String,
    pub management_account_id: String,
    pub management_email: String,
    pub root: Root,
    pub units: Vec<Unit>,
    /// Accounts in the order they joined (the management account first).
    pub accounts: Vec<Account>,
    pub policies: Vec<Policy>,
    /// `(policy id, target id)` in the order attached.
    pub attachments: Vec<(String, String)>,
    /// Services with trusted access: `(service principal, enabled at, ms)`.
    pub service_access: Vec<(String, i64)>,
    pub delegated: Vec<Delegation>,
    pub create_requests: Vec<CreateRequest>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Root {
    pub id: String,
    /// The policy types enabled on the root, in the order enabled.
    pub policy_types: Vec<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// An organizational unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub id: String,
    pub name: String,
    pub parent_id: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub email: String,
    /// `ACTIVE`, `SUSPENDED` (closed).
    pub state: String,
    /// `CREATED` or `INVITED` (the management account counts as invited, as AWS shows it).
    pub joined_method: String,
    pub joined_ms: i64,
    pub parent_id: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub id: String,
    pub name: String,
    pub description: String,
    pub policy_type: String,
    pub content: String,
    pub aws_managed: bool,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// An account registered as delegated administrator of one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delegation {
    pub account_id: String,
    pub service_principal: String,
    pub enabled_ms: i64,
}

/// A CreateAccount request and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateRequest {
    pub id: String,
    pub account_name: String,
    /// `IN_PROGRESS`, `SUCCEEDED` or `FAILED`.
    pub state: String,
    pub requested_ms: i64,
    #[serde(default)]
    pub completed_ms: Option<i64>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub failure_reason: Option<String>,
}

fn default_partition() -> String {
    "aws".to_owned()
}

/// The partition of `region`: `aws-cn` for China, `aws-us-gov` for GovCloud, `aws-iso` and
/// `aws-iso-b` for the isolated regions, `aws` elsewhere.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

impl Organization {
    pub fn arn(&self) -> String {
        format!(
            "arn:{}:organizations::{}:organization/{}",
            self.partition, self.management_account_id, self.id
        )
    }

    pub fn account_arn(&self, account_id: &str) -> String {
        format!(
            "arn:{}:organizations::{}:account/{}/{account_id}",
            self.partition, self.management_account_id, self.id
        )
    }

    pub fn root_arn(&self) -> String {
        format!(
            "arn:{}:organizations::{}:root/{}/{}",
            self.partition, self.management_account_id, self.id, self.root.id
        )
    }

    pub fn ou_arn(&self, ou_id: &str) -> String {
        format!(
            "arn:{}:organizations::{}:ou/{}/{ou_id}",
            self.partition, self.management_account_id, self.id
        )
    }

    /// `…:policy/o-…/service_control_policy/p-…`; AWS managed policies live under
    /// `arn:aws:organizations::aws:policy/…`.
    pub fn policy_arn(&self, policy: &Policy) -> String {
        let kind = policy.policy_type.to_ascii_lowercase();
        if policy.aws_managed {
            format!(
                "arn:{}:organizations::aws:policy/{kind}/{}",
                self.partition, policy.id
            )
        } else {
            format!(
                "arn:{}:organizations::{}:policy/{}/{kind}/{}",
                self.partition, self.management_account_id, self.id, policy.id
            )
        }
    }

    pub fn account(&self, id: &str) -> Option<&Account> {
        self.accounts.iter().find(|account| account.id == id)
    }

    pub fn account_mut(&mut self, id: &str) -> Option<&mut Account> {
        self.accounts.iter_mut().find(|account| account.id == id)
    }

    pub fn unit(&self, id: &str) -> Option<&Unit> {
        self.units.iter().find(|unit| unit.id == id)
    }

    pub fn policy(&self, id: &str) -> Option<&Policy> {
        self.policies.iter().find(|policy| policy.id == id)
    }

    /// Whether `id` names the root or one of the OUs (a parent).
    pub fn is_parent(&self, id: &str) -> bool {
        id == self.root.id || self.unit(id).is_some()
    }

    /// The parent of an account or OU.
    pub fn parent_of(&self, child_id: &str) -> Option<&str> {
        self.account(child_id)
            .map(|account| account.parent_id.as_str())
            .or_else(|| self.unit(child_id).map(|unit| unit.parent_id.as_str()))
    }

    /// How deep an OU sits (an OU under the root is 1).
    pub fn depth(&self, ou_id: &str) -> usize {
        let mut depth = 0;
        let mut current = ou_id;
        while let Some(unit) = self.unit(current) {
            depth += 1;
            current = &unit.parent_id;
        }
        depth
    }

    /// Whether policy type `kind` is enabled on the root.
    pub fn enabled(&self, kind: &str) -> bool {
        self.root.policy_types.iter().any(|enabled| enabled == kind)
    }

    pub fn attached(&self, policy_id: &str, target_id: &str) -> bool {
        self.attachments
            .iter()
            .any(|(policy, target)| policy == policy_id && target == target_id)
    }

    /// The policies of type `kind` attached directly to `target_id`, in attachment order.
    pub fn policies_on(&self, target_id: &str, kind: &str) -> Vec<&Policy> {
        self.attachments
            .iter()
            .filter(|(_, target)| target == target_id)
            .filter_map(|(policy, _)| self.policy(policy))
            .filter(|policy| policy.policy_type == kind)
            .collect()
    }

    /// The path from the root down to `account_id`: the root, the OUs, the account.
    pub fn path_to(&self, account_id: &str) -> Vec<String> {
        let Some(account) = self.account(account_id) else {
            return Vec::new();
        };
        let mut path = vec![account.id.clone()];
        let mut parent = account.parent_id.as_str();
        while let Some(unit) = self.unit(parent) {
            path.push(unit.id.clone());
            parent = &unit.parent_id;
        }
        path.push(self.root.id.clone());
        path.reverse();
        path
    }

    /// The member accounts' ids (the management account included).
    pub fn account_ids(&self) -> BTreeSet<String> {
        self.accounts
            .iter()
            .map(|account| account.id.clone())
            .collect()
    }
}

#[derive(Default)]
struct Index {
    orgs: HashMap<String, Arc<Organization>>,
    /// account id → organization id.
    members: HashMap<String, String>,
}

/// The organizations of one server: the store's, kept in memory (see the module docs).
#[derive(Default)]
pub struct Registry {
    /// `None` until loaded, and again after a reset.
    index: RwLock<Option<Index>>,
    /// Moves with every committed change and reset (never back), so that readers can keep
    /// what they derived from an organization until it moves.
    generation: AtomicU64,
    /// Held across a change's transaction and the index update.
    writer: Mutex<()>,
}

impl Registry {
    /// The registry of `state`.
    pub fn of(state: &AppState) -> Arc<Registry> {
        state.extensions.get_or_init(Registry::default)
    }

    fn loaded<R>(&self, state: &AppState, read: impl FnOnce(&Index) -> R) -> Result<R, OrgError> {
        if let Some(index) = self
            .index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            return Ok(read(index));
        }
        let mut slot = self.index.write().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            let mut index = Index::default();
            for (id, org) in state.meta.list::<Organization>(ORGANIZATIONS, "")? {
                for account in &org.accounts {
                    index.members.insert(account.id.clone(), id.clone());
                }
                index.orgs.insert(id, Arc::new(org));
            }
            *slot = Some(index);
        }
        Ok(read(
            slot.as_ref().unwrap_or_else(|| unreachable!("just loaded")),
        ))
    }

    /// The organization `account_id` belongs to.
    pub fn organization_of(
        &self,
        state: &AppState,
        account_id: &str,
    ) -> Result<Option<Arc<Organization>>, OrgError> {
        self.loaded(state, |index| {
            index
                .members
                .get(account_id)
                .and_then(|org| index.orgs.get(org))
                .cloned()
        })
    }

    /// The organization with id `organization_id`.
    pub fn organization(
        &self,
        state: &AppState,
        organization_id: &str,
    ) -> Result<Option<Arc<Organization>>, OrgError> {
        self.loaded(state, |index| index.orgs.get(organization_id).cloned())
    }

    /// Forgets what was loaded (after a development reset wiped the store).
    pub fn reset(&self) {
        *self.index.write().unwrap_or_else(PoisonError::into_inner) = None;
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The generation of the organizations (see the field).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Changes the organization of `account_id` (which must be its management account) with
    /// `change`, in one transaction; `Ok(None)` from `change` deletes the organization.
    pub fn change<R>(
        &self,
        state: &AppState,
        account_id: &str,
        change: impl FnOnce(&mut Organization) -> Result<(R, Keep), OrgError>,
    ) -> Result<R, OrgError> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self
            .organization_of(state, account_id)?
            .ok_or_else(OrgError::not_in_use)?;
        if current.management_account_id != account_id {
            return Err(OrgError::access_denied());
        }
        let mut org = Organization::clone(&current);
        let (result, keep) = change(&mut org)?;
        let after = match keep {
            Keep::Organization => Some(org),
            Keep::Nothing => None,
        };
        self.commit(state, Some(&current), after)?;
        Ok(result)
    }

    /// Adds a new organization (the caller checked that its management account is in none).
    pub fn create(&self, state: &AppState, org: Organization) -> Result<(), OrgError> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if self
            .organization_of(state, &org.management_account_id)?
            .is_some()
        {
            return Err(OrgError::already_in_organization());
        }
        self.commit(state, None, Some(org))
    }

    /// Writes `after` in place of `before` (and the membership rows that changed), then
    /// updates the index. Called with the writer lock held.
    fn commit(
        &self,
        state: &AppState,
        before: Option<&Organization>,
        after: Option<Organization>,
    ) -> Result<(), OrgError> {
        let old_members = before.map(Organization::account_ids).unwrap_or_default();
        let new_members = after
            .as_ref()
            .map(Organization::account_ids)
            .unwrap_or_default();
        let id = after
            .as_ref()
            .or(before)
            .map(|org| org.id.clone())
            .unwrap_or_default();
        state.meta.write(|txn| {
            match &after {
                Some(org) => txn.put(ORGANIZATIONS, &id, org)?,
                None => {
                    txn.delete(ORGANIZATIONS, &id)?;
                }
            }
            for gone in old_members.difference(&new_members) {
                txn.delete(MEMBERS, gone)?;
            }
            for joined in new_members.difference(&old_members) {
                txn.put(MEMBERS, joined, &id)?;
            }
            Ok::<(), OrgError>(())
        })?;
        let mut slot = self.index.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(index) = slot.as_mut() {
            for gone in old_members.difference(&new_members) {
                index.members.remove(gone);
            }
            for joined in new_members.difference(&old_members) {
                index.members.insert(joined.clone(), id.clone());
            }
            match after {
                Some(org) => {
                    index.orgs.insert(id, Arc::new(org));
                }
                None => {
                    index.orgs.remove(&id);
                }
            }
        }
        Ok(())
    }
}

/// What a change leaves behind.
pub enum Keep {
    Organization,
    /// The organization is deleted.
    Nothing,
}
