//! Who made a call: the `userIdentity` block of a record, and the [`Identity`] the API layer
//! derives from the access key that signed a request.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `userIdentity.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityType {
    Root,
    IamUser,
    AssumedRole,
}

impl IdentityType {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityType::Root => "Root",
            IdentityType::IamUser => "IAMUser",
            IdentityType::AssumedRole => "AssumedRole",
        }
    }
}

/// The authenticated caller of one request, as resolved from its signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub identity_type: IdentityType,
    pub account_id: String,
    pub access_key_id: String,
    /// IAM user name; `None` for the root user.
    pub user_name: Option<String>,
    pub principal_id: String,
    pub arn: String,
}

impl Identity {
    /// The root user of `account_id`, signing with `access_key_id`.
    pub fn root(account_id: &str, access_key_id: &str) -> Identity {
        Identity {
            identity_type: IdentityType::Root,
            account_id: account_id.to_owned(),
            access_key_id: access_key_id.to_owned(),
            user_name: None,
            principal_id: account_id.to_owned(),
            arn: format!("arn:aws:iam::{account_id}:root"),
        }
    }

    /// The name event history lists under `Username`: the IAM user name, `root` for the root
    /// user, the session name for an assumed role.
    pub fn display_name(&self) -> &str {
        match self.identity_type {
            IdentityType::Root => "root",
            IdentityType::IamUser => self.user_name.as_deref().unwrap_or(""),
            IdentityType::AssumedRole => self.arn.rsplit('/').next().unwrap_or(""),
        }
    }

    /// The `userIdentity` block of a record this identity caused.
    pub fn user_identity(&self) -> UserIdentity {
        UserIdentity {
            identity_type: Some(self.identity_type.as_str().to_owned()),
            principal_id: Some(self.principal_id.clone()),
            arn: Some(self.arn.clone()),
            account_id: Some(self.account_id.clone()),
            access_key_id: Some(self.access_key_id.clone()),
            user_name: match self.identity_type {
                IdentityType::Root => None,
                _ => self.user_name.clone(),
            },
            invoked_by: None,
            session_context: None,
            extra: Map::new(),
        }
    }
}

/// The `userIdentity` block as it appears in records, real or imported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub identity_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_context: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl UserIdentity {
    /// The `Username` event history shows for this identity: the user name, `root` for the
    /// root user, the role session name for an assumed role.
    pub fn lookup_username(&self) -> Option<String> {
        if let Some(name) = &self.user_name {
            return Some(name.clone());
        }
        match self.identity_type.as_deref() {
            Some("Root") => Some("root".to_owned()),
            Some("AssumedRole") | Some("FederatedUser") => self
                .arn
                .as_deref()
                .and_then(|arn| arn.rsplit('/').next())
                .map(str::to_owned),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_identity_block() {
        let identity = Identity::root("123456789012", "AKIAEXAMPLE");
        let block = serde_json::to_value(identity.user_identity()).expect("serialize");
        assert_eq!(
            block,
            serde_json::json!({
                "type": "Root",
                "principalId": "123456789012",
                "arn": "arn:aws:iam::123456789012:root",
                "accountId": "123456789012",
                "accessKeyId": "AKIAEXAMPLE",
            })
        );
        assert_eq!(
            identity.user_identity().lookup_username().as_deref(),
            Some("root")
        );
    }
}
