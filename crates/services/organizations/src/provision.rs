//! [`AccountProvisioner`]: what else must exist for an account Organizations creates.
//!
//! A new account needs root credentials kept by the server and an IAM role its management
//! account can assume (`OrganizationAccountAccessRole` by default: trusted by the management
//! account's root, with `AdministratorAccess`). Neither is this crate's to make: the server
//! implements this trait (with the identity crate) and registers it with
//! [`set_account_provisioner`]. Without one, accounts are still created.

use std::sync::Arc;

use opentrail_core::AppState;

/// The account CreateAccount is about to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub account_id: String,
    pub account_name: String,
    pub email: String,
    /// The role to create in the new account (`RoleName`, default
    /// `OrganizationAccountAccessRole`).
    pub role_name: String,
    pub management_account_id: String,
    pub organization_id: String,
}

/// Makes what a new member account needs outside Organizations. Called on the blocking pool,
/// before the account is committed: an error fails the request (`FAILED`,
/// `INTERNAL_FAILURE`) and the account is not added. It runs while Organizations holds its
/// writer lock: it may read ([`crate::organization_of`] …) but must not change
/// organizations. Should the commit after it fail, what it made stays, for an account id
/// no organization holds.
pub trait AccountProvisioner: Send + Sync + 'static {
    fn provision(&self, state: &AppState, account: &NewAccount) -> Result<(), String>;
}

/// The registered provisioner (one per [`AppState`]).
struct Registered(Arc<dyn AccountProvisioner>);

/// Registers the provisioner of `state`'s accounts (call once, at server start; a second call
/// keeps the first).
pub fn set_account_provisioner(state: &AppState, provisioner: Arc<dyn AccountProvisioner>) {
    state.extensions.get_or_init(|| Registered(provisioner));
}

/// Provisions `account` with the registered provisioner, if any.
pub(crate) fn provision(state: &AppState, account: &NewAccount) -> Result<(), String> {
    match state.extensions.get::<Registered>() {
        Some(registered) => registered.0.provision(state, account),
        None => Ok(()),
    }
}
