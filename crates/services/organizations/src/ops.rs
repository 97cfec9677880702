//! What every Organizations operation shares: the [`Call`] context, who may call what,
//! pagination, tags, and the JSON shapes of accounts, OUs, roots and policies.

use std::sync::Arc;

use opentrail_core::AppState;
use opentrail_core::pipeline::input;
use serde_json::{Value, json};

use crate::error::OrgError;
use crate::store::{Account, Keep, Organization, Policy, Registry, Tag, Unit};

/// What an operation needs besides its input.
pub struct Call {
    pub state: Arc<AppState>,
    pub registry: Arc<Registry>,
    /// The caller's account.
    pub account: String,
    /// The region the call was signed for (an organization's ARNs take its partition).
    pub region: String,
    pub input: Value,
    pub now_ms: i64,
}

impl Call {
    pub fn str(&self, name: &str) -> Option<&str> {
        input::opt_str(&self.input, name)
    }

    /// A member the model requires (validation has checked it is there).
    pub fn required(&self, name: &str) -> Result<&str, OrgError> {
        self.str(name).ok_or_else(|| {
            OrgError::invalid_input(
                "INPUT_REQUIRED",
                format!("You must specify a value for {name}."),
            )
        })
    }

    /// The caller's organization, for any member account.
    pub fn member_org(&self) -> Result<Arc<Organization>, OrgError> {
        self.registry
            .organization_of(&self.state, &self.account)?
            .ok_or_else(OrgError::not_in_use)
    }

    /// The caller's organization, for its management account or a delegated administrator
    /// (the callers AWS lets read an organization's structure).
    pub fn reader_org(&self) -> Result<Arc<Organization>, OrgError> {
        let org = self.member_org()?;
        let delegated = org
            .delegated
            .iter()
            .any(|delegation| delegation.account_id == self.account);
        if org.management_account_id != self.account && !delegated {
            return Err(OrgError::access_denied());
        }
        Ok(org)
    }

    /// Changes the caller's organization; only its management account may.
    pub fn change<R>(
        &self,
        change: impl FnOnce(&mut Organization) -> Result<R, OrgError>,
    ) -> Result<R, OrgError> {
        self.registry.change(&self.state, &self.account, |org| {
            change(org).map(|result| (result, Keep::Organization))
        })
    }

    /// `MaxResults` (1..=20 as AWS's default page, at most 20) and `NextToken`.
    pub fn page<T: Clone>(&self, items: &[T]) -> Result<(Vec<T>, Option<String>), OrgError> {
        let limit = input::opt_i64(&self.input, "MaxResults")
            .map_or(20, |limit| limit.clamp(1, 20) as usize);
        paginate(items, self.str("NextToken"), limit)
    }
}

/// One page of `items` after the position `token` names; `(page, next token)`.
pub fn paginate<T: Clone>(
    items: &[T],
    token: Option<&str>,
    limit: usize,
) -> Result<(Vec<T>, Option<String>), OrgError> {
    let start = match token.filter(|token| !token.is_empty()) {
        None => 0,
        Some(token) => token
            .parse::<usize>()
            .ok()
            .filter(|start| *start <= items.len())
            .ok_or_else(OrgError::invalid_next_token)?,
    };
    let end = (start + limit).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items[start..end].to_vec(), next))
}

/// `{key: items, "NextToken": …}` with `NextToken` only when there is more.
pub fn listed(key: &str, items: Vec<Value>, next: Option<String>) -> Value {
    let mut out = json!({ key: items });
    if let Some(next) = next {
        out["NextToken"] = json!(next);
    }
    out
}

/// Epoch seconds (the awsJson timestamp) of milliseconds.
pub fn epoch_seconds(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// The `Tags` member (a later key replaces an earlier one).
pub fn parse_tags(value: Option<&Value>) -> Vec<Tag> {
    let mut tags = Vec::new();
    for item in value.and_then(Value::as_array).into_iter().flatten() {
        let key = input::opt_str(item, "Key").unwrap_or("");
        let value = input::opt_str(item, "Value").unwrap_or("");
        merge_tag(
            &mut tags,
            Tag {
                key: key.to_owned(),
                value: value.to_owned(),
            },
        );
    }
    tags
}

pub use opentrail_core::tags::{merge_tag, tags_json};

/// An account as `Account` shapes it.
pub fn account_json(org: &Organization, account: &Account) -> Value {
    let status = if account.state == "ACTIVE" {
        "ACTIVE"
    } else {
        "SUSPENDED"
    };
    json!({
        "Id": account.id,
        "Arn": org.account_arn(&account.id),
        "Email": account.email,
        "Name": account.name,
        "Status": status,
        "State": account.state,
        "JoinedMethod": account.joined_method,
        "JoinedTimestamp": epoch_seconds(account.joined_ms),
    })
}

pub fn unit_json(org: &Organization, unit: &Unit) -> Value {
    json!({"Id": unit.id, "Arn": org.ou_arn(&unit.id), "Name": unit.name})
}

pub fn root_json(org: &Organization) -> Value {
    let types: Vec<Value> = org
        .root
        .policy_types
        .iter()
        .map(|kind| json!({"Type": kind, "Status": "ENABLED"}))
        .collect();
    json!({"Id": org.root.id, "Arn": org.root_arn(), "Name": "Root", "PolicyTypes": types})
}

pub fn policy_summary(org: &Organization, policy: &Policy) -> Value {
    json!({
        "Id": policy.id,
        "Arn": org.policy_arn(policy),
        "Name": policy.name,
        "Description": policy.description,
        "Type": policy.policy_type,
        "AwsManaged": policy.aws_managed,
    })
}

pub fn policy_json(org: &Organization, policy: &Policy) -> Value {
    json!({"Policy": {"PolicySummary": policy_summary(org, policy), "Content": policy.content}})
}
