//! [`OrgError`]: every failure of an Organizations call, with its AWS code.
//!
//! Messages a client sees copy AWS's wording (capitalised, with the final period), because
//! tools and tests compare them. `ConstraintViolationException` and `InvalidInputException`
//! carry the `Reason` member the model gives them.

use http::StatusCode;
use opentrail_api::ApiError;
use opentrail_meta::MetaError;

/// A failed Organizations call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OrgError {
    /// An error of the model with its code, message and (for the two exceptions that have one)
    /// its `Reason`.
    #[error("{message}")]
    Client {
        code: &'static str,
        message: String,
        reason: Option<&'static str>,
    },
    /// A failure inside the server; logged where it happens.
    #[error("an internal error occurred")]
    Internal,
    /// Already an API error (model validation, decoding).
    #[error("{}", .0.message)]
    Api(ApiError),
}

impl OrgError {
    fn client(code: &'static str, message: impl Into<String>) -> OrgError {
        OrgError::Client {
            code,
            message: message.into(),
            reason: None,
        }
    }

    /// The code clients see.
    pub fn aws_code(&self) -> &str {
        match self {
            OrgError::Client { code, .. } => code,
            OrgError::Internal => "ServiceException",
            OrgError::Api(err) => &err.code,
        }
    }

    /// The `Reason` member, when the error has one.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            OrgError::Client { reason, .. } => *reason,
            _ => None,
        }
    }

    pub fn http_status(&self) -> StatusCode {
        match self {
            OrgError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            OrgError::Api(err) => err.status,
            OrgError::Client { .. } => StatusCode::BAD_REQUEST,
        }
    }

    pub fn to_api(&self) -> ApiError {
        match self {
            OrgError::Api(err) => err.clone(),
            other => ApiError::new(other.aws_code(), other.http_status(), other.to_string()),
        }
    }

    /// The caller's account is in no organization.
    pub fn not_in_use() -> OrgError {
        OrgError::client(
            "AWSOrganizationsNotInUseException",
            "Your account is not a member of an organization.",
        )
    }

    /// A member account called an operation only the management account may call.
    pub fn access_denied() -> OrgError {
        OrgError::client(
            "AccessDeniedException",
            "You don't have permissions to access this resource.",
        )
    }

    pub fn already_in_organization() -> OrgError {
        OrgError::client(
            "AlreadyInOrganizationException",
            "The provided account is already a member of an organization.",
        )
    }

    pub fn organization_not_empty() -> OrgError {
        OrgError::client(
            "OrganizationNotEmptyException",
            "To delete an organization you must first remove all member accounts (except the master).",
        )
    }

    pub fn account_not_found() -> OrgError {
        OrgError::client(
            "AccountNotFoundException",
            "You specified an account that doesn't exist.",
        )
    }

    pub fn account_already_closed() -> OrgError {
        OrgError::client(
            "AccountAlreadyClosedException",
            "The provided account is already closed.",
        )
    }

    pub fn create_request_not_found() -> OrgError {
        OrgError::client(
            "CreateAccountStatusNotFoundException",
            "We can't find an create account request with the CreateAccountRequestId that you specified.",
        )
    }

    pub fn parent_not_found() -> OrgError {
        OrgError::client(
            "ParentNotFoundException",
            "You specified parent that doesn't exist.",
        )
    }

    pub fn child_not_found() -> OrgError {
        OrgError::client(
            "ChildNotFoundException",
            "You specified a child that doesn't exist.",
        )
    }

    pub fn source_parent_not_found() -> OrgError {
        OrgError::client(
            "SourceParentNotFoundException",
            "You specified a source parent that doesn't exist.",
        )
    }

    pub fn destination_parent_not_found() -> OrgError {
        OrgError::client(
            "DestinationParentNotFoundException",
            "You specified a destination parent that doesn't exist.",
        )
    }

    pub fn duplicate_account() -> OrgError {
        OrgError::client(
            "DuplicateAccountException",
            "That account is already present in the specified destination.",
        )
    }

    pub fn root_not_found() -> OrgError {
        OrgError::client(
            "RootNotFoundException",
            "You specified a root that doesn't exist.",
        )
    }

    pub fn ou_not_found() -> OrgError {
        OrgError::client(
            "OrganizationalUnitNotFoundException",
            "You specified an organizational unit that doesn't exist.",
        )
    }

    pub fn duplicate_ou() -> OrgError {
        OrgError::client(
            "DuplicateOrganizationalUnitException",
            "An OU with the same name already exists.",
        )
    }

    pub fn ou_not_empty() -> OrgError {
        OrgError::client(
            "OrganizationalUnitNotEmptyException",
            "The specified OU is not empty. Move all accounts to another root or to other OUs, remove all child OUs, and try the operation again.",
        )
    }

    pub fn target_not_found() -> OrgError {
        OrgError::client(
            "TargetNotFoundException",
            "You specified a target that doesn't exist.",
        )
    }

    pub fn policy_not_found() -> OrgError {
        OrgError::client(
            "PolicyNotFoundException",
            "You specified a policy that doesn't exist.",
        )
    }

    pub fn duplicate_policy() -> OrgError {
        OrgError::client(
            "DuplicatePolicyException",
            "A policy with the same name already exists.",
        )
    }

    pub fn policy_in_use() -> OrgError {
        OrgError::client(
            "PolicyInUseException",
            "The policy is attached to one or more entities. You must detach it from all roots, OUs, and accounts before performing this operation.",
        )
    }

    pub fn duplicate_policy_attachment() -> OrgError {
        OrgError::client(
            "DuplicatePolicyAttachmentException",
            "The selected policy is already attached to the specified target.",
        )
    }

    pub fn policy_not_attached() -> OrgError {
        OrgError::client(
            "PolicyNotAttachedException",
            "The policy isn't attached to the specified target in the specified root.",
        )
    }

    pub fn policy_type_not_enabled() -> OrgError {
        OrgError::client(
            "PolicyTypeNotEnabledException",
            "This operation can be performed only for enabled policy types.",
        )
    }

    pub fn policy_type_already_enabled() -> OrgError {
        OrgError::client(
            "PolicyTypeAlreadyEnabledException",
            "The specified policy type is already enabled.",
        )
    }

    pub fn policy_type_not_available() -> OrgError {
        OrgError::client(
            "PolicyTypeNotAvailableForOrganizationException",
            "You can use only the SERVICE_CONTROL_POLICY policy type in an organization that has only consolidated billing features enabled.",
        )
    }

    pub fn malformed_policy(detail: &str) -> OrgError {
        OrgError::client(
            "MalformedPolicyDocumentException",
            format!(
                "The provided policy document does not meet the requirements of the specified policy type. {detail}"
            ),
        )
    }

    pub fn account_already_registered() -> OrgError {
        OrgError::client(
            "AccountAlreadyRegisteredException",
            "The provided account is already a delegated administrator for your organization.",
        )
    }

    pub fn account_not_registered() -> OrgError {
        OrgError::client(
            "AccountNotRegisteredException",
            "The provided account is not a registered delegated administrator for your organization.",
        )
    }

    /// `ConstraintViolationException` with its `Reason`.
    pub fn constraint(reason: &'static str, message: impl Into<String>) -> OrgError {
        OrgError::Client {
            code: "ConstraintViolationException",
            message: message.into(),
            reason: Some(reason),
        }
    }

    /// `InvalidInputException` with its `Reason`.
    pub fn invalid_input(reason: &'static str, message: impl Into<String>) -> OrgError {
        OrgError::Client {
            code: "InvalidInputException",
            message: message.into(),
            reason: Some(reason),
        }
    }

    /// An id that does not have the form of its kind (`INVALID_PATTERN`).
    pub fn invalid_pattern() -> OrgError {
        OrgError::invalid_input(
            "INVALID_PATTERN",
            "You provided a value that does not match the required pattern.",
        )
    }

    /// A target id that is no root, OU or account id (`INVALID_PATTERN_TARGET_ID`).
    pub fn invalid_target_id() -> OrgError {
        OrgError::invalid_input(
            "INVALID_PATTERN_TARGET_ID",
            "You specified an invalid value.",
        )
    }

    pub fn invalid_enum() -> OrgError {
        OrgError::invalid_input("INVALID_ENUM", "You specified an invalid value.")
    }

    pub fn unrecognized_principal() -> OrgError {
        OrgError::invalid_input(
            "UNRECOGNIZED_SERVICE_PRINCIPAL",
            "You specified an unrecognized service principal.",
        )
    }

    pub fn invalid_next_token() -> OrgError {
        OrgError::invalid_input("INVALID_NEXT_TOKEN", "The NextToken provided is invalid.")
    }
}

impl opentrail_core::pipeline::ServiceError for OrgError {
    fn to_api(&self) -> ApiError {
        OrgError::to_api(self)
    }
}

impl From<MetaError> for OrgError {
    fn from(err: MetaError) -> Self {
        tracing::error!(error = %err, "organizations metadata store failed");
        OrgError::Internal
    }
}

impl From<ApiError> for OrgError {
    fn from(err: ApiError) -> Self {
        OrgError::Api(err)
    }
}
