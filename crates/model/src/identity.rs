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
    /// The role session of an `AssumedRole` caller (also kept for the session of an IAM user
    /// or root signing with GetSessionToken credentials: only the creation date and MFA).
    pub session: Option<Box<SessionContext>>,
}

/// The session behind temporary credentials: `userIdentity.sessionContext` and
/// `userIdentity.sourceIdentity`, and the session's tags (for policy conditions).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionContext {
    /// The role that issued the session (`None` for GetSessionToken sessions).
    pub issuer: Option<SessionIssuer>,
    /// `sessionContext.attributes.creationDate` (`YYYY-MM-DDTHH:MM:SSZ`).
    pub creation_date: String,
    pub mfa_authenticated: bool,
    /// AssumeRole's `SourceIdentity`.
    pub source_identity: Option<String>,
    /// Session tags (`Tags` of AssumeRole), in the order given.
    pub tags: Vec<(String, String)>,
}

/// `sessionContext.sessionIssuer` of a role session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionIssuer {
    /// `AROA…`.
    pub role_id: String,
    pub role_arn: String,
    pub role_name: String,
    pub account_id: String,
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
            session: None,
        }
    }

    /// IAM user `user_name` (`user_id` `AIDA…`, ARN `arn`) of `account_id`, signing with
    /// `access_key_id`.
    pub fn iam_user(
        account_id: &str,
        access_key_id: &str,
        user_name: &str,
        user_id: &str,
        arn: &str,
    ) -> Identity {
        Identity {
            identity_type: IdentityType::IamUser,
            account_id: account_id.to_owned(),
            access_key_id: access_key_id.to_owned(),
            user_name: Some(user_name.to_owned()),
            principal_id: user_id.to_owned(),
            arn: arn.to_owned(),
            session: None,
        }
    }

    /// A session of role `issuer` named `session_name`, signing with the session's
    /// `access_key_id` (`ASIA…`): principal `AROA…:session`, ARN
    /// `arn:aws:sts::A:assumed-role/R/session`.
    pub fn assumed_role(
        access_key_id: &str,
        session_name: &str,
        issuer: SessionIssuer,
        context: SessionContext,
    ) -> Identity {
        let account_id = issuer.account_id.clone();
        let partition = issuer
            .role_arn
            .strip_prefix("arn:")
            .and_then(|rest| rest.split(':').next())
            .unwrap_or("aws")
            .to_owned();
        Identity {
            identity_type: IdentityType::AssumedRole,
            principal_id: format!("{}:{session_name}", issuer.role_id),
            arn: format!(
                "arn:{partition}:sts::{account_id}:assumed-role/{}/{session_name}",
                issuer.role_name
            ),
            account_id,
            access_key_id: access_key_id.to_owned(),
            user_name: None,
            session: Some(Box::new(SessionContext {
                issuer: Some(issuer),
                ..context
            })),
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
            session_context: self.session.as_deref().map(SessionContext::to_json),
            extra: Map::new(),
        }
    }
}

impl SessionContext {
    /// `userIdentity.sessionContext` as AWS writes it: `sessionIssuer` (for role sessions),
    /// then `attributes` (`creationDate`, `mfaAuthenticated` as a string), and
    /// `sourceIdentity` when set.
    pub fn to_json(&self) -> Value {
        let mut context = Map::new();
        if let Some(issuer) = &self.issuer {
            let mut block = Map::new();
            block.insert("type".into(), Value::from("Role"));
            block.insert("principalId".into(), Value::from(issuer.role_id.clone()));
            block.insert("arn".into(), Value::from(issuer.role_arn.clone()));
            block.insert("accountId".into(), Value::from(issuer.account_id.clone()));
            block.insert("userName".into(), Value::from(issuer.role_name.clone()));
            context.insert("sessionIssuer".into(), Value::Object(block));
        }
        let mut attributes = Map::new();
        attributes.insert(
            "creationDate".into(),
            Value::from(self.creation_date.clone()),
        );
        attributes.insert(
            "mfaAuthenticated".into(),
            Value::from(if self.mfa_authenticated {
                "true"
            } else {
                "false"
            }),
        );
        context.insert("attributes".into(), Value::Object(attributes));
        if let Some(source) = &self.source_identity {
            context.insert("sourceIdentity".into(), Value::from(source.clone()));
        }
        Value::Object(context)
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

    #[test]
    fn iam_user_block() {
        let identity = Identity::iam_user(
            "111122223333",
            "AKIAIOSFODNN7EXAMPLE",
            "anaya",
            "AIDACKCEVSQ6C2EXAMPLE",
            "arn:aws:iam::111122223333:user/anaya",
        );
        let block = serde_json::to_value(identity.user_identity()).expect("serialize");
        assert_eq!(
            block,
            serde_json::json!({
                "type": "IAMUser",
                "principalId": "AIDACKCEVSQ6C2EXAMPLE",
                "arn": "arn:aws:iam::111122223333:user/anaya",
                "accountId": "111122223333",
                "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
                "userName": "anaya",
            })
        );
    }

    #[test]
    fn assumed_role_block_as_aws_writes_it() {
        let identity = Identity::assumed_role(
            "ASIA9F6MXE9HSYOXYQOS",
            "sess",
            SessionIssuer {
                role_id: "AROA13YEHY3VAS32TD341".into(),
                role_arn: "arn:aws:iam::900138736586:role/r".into(),
                role_name: "r".into(),
                account_id: "900138736586".into(),
            },
            SessionContext {
                creation_date: "2024-08-01T11:30:22Z".into(),
                source_identity: Some("alice".into()),
                ..SessionContext::default()
            },
        );
        assert_eq!(identity.display_name(), "sess");
        let block = serde_json::to_value(identity.user_identity()).expect("serialize");
        assert_eq!(
            block,
            serde_json::json!({
                "type": "AssumedRole",
                "principalId": "AROA13YEHY3VAS32TD341:sess",
                "arn": "arn:aws:sts::900138736586:assumed-role/r/sess",
                "accountId": "900138736586",
                "accessKeyId": "ASIA9F6MXE9HSYOXYQOS",
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": "AROA13YEHY3VAS32TD341",
                        "arn": "arn:aws:iam::900138736586:role/r",
                        "accountId": "900138736586",
                        "userName": "r",
                    },
                    "attributes": {
                        "creationDate": "2024-08-01T11:30:22Z",
                        "mfaAuthenticated": "false",
                    },
                    "sourceIdentity": "alice",
                },
            })
        );
    }
}
