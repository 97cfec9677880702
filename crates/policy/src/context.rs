//! The request context: condition keys and their values, and the principal they describe.
//!
//! The caller supplies request keys (`aws:SourceIp`, `aws:CurrentTime`, `sts:ExternalId`,
//! `aws:RequestTag/k`, `aws:ResourceTag/k`, …) in a [`ConditionContext`]. Keys that describe the
//! principal (`aws:username`, `aws:userid`, `aws:PrincipalArn`, `aws:PrincipalAccount`,
//! `aws:PrincipalType`, `aws:PrincipalOrgID`, `aws:PrincipalTag/k`,
//! `aws:PrincipalIsAWSService`, `aws:PrincipalServiceName`) come from the [`Principal`] unless
//! the context sets them. Key names are case-insensitive: they are stored lowercased, and
//! compiled policies hold their keys lowercased, so a lookup allocates nothing.

use std::collections::HashMap;

/// Which kind of principal makes the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind<'a> {
    /// The root user of `account`.
    Root,
    /// An IAM user.
    User,
    /// An IAM role itself (a role ARN as caller; requests are normally made by its sessions).
    Role,
    /// A role session `arn:aws:sts::A:assumed-role/R/S` of the role `role_arn`
    /// (`arn:aws:iam::A:role/path/R`).
    AssumedRole { role_arn: &'a str },
    /// A federated user session (`arn:aws:sts::A:federated-user/N`).
    FederatedUser,
    /// An AWS service principal such as `cloudtrail.amazonaws.com`.
    Service(&'a str),
    /// An identity provider principal (`Federated`: `cognito-identity.amazonaws.com`, a SAML or
    /// OIDC provider ARN), as in `sts:AssumeRoleWithWebIdentity`.
    Federated(&'a str),
    /// An unauthenticated caller.
    Anonymous,
}

/// The principal of a request.
#[derive(Debug, Clone, Copy)]
pub struct Principal<'a> {
    /// The caller's ARN (`arn:aws:iam::A:user/u`, `arn:aws:sts::A:assumed-role/R/S`,
    /// `arn:aws:iam::A:root`); the service name for services; empty when anonymous.
    pub arn: &'a str,
    /// The principal's account (12 digits); empty for services and anonymous callers.
    pub account: &'a str,
    pub kind: PrincipalKind<'a>,
    /// `aws:userid`: `AIDA…` for users, `AROA…:session` for role sessions, the account id for
    /// root (`anonymous` for anonymous callers, whatever this says).
    pub user_id: Option<&'a str>,
    /// `aws:username`: IAM users only.
    pub username: Option<&'a str>,
    /// `aws:PrincipalTag/*`: the user's or role's tags, and session tags (key, value).
    pub tags: &'a [(String, String)],
    /// `aws:PrincipalOrgID`.
    pub org_id: Option<&'a str>,
    /// The principal's account is its organization's management account: SCPs do not apply.
    pub in_management_account: bool,
}

impl<'a> Principal<'a> {
    /// A principal of `kind` with `arn` in `account`, every optional field empty.
    pub fn new(arn: &'a str, account: &'a str, kind: PrincipalKind<'a>) -> Principal<'a> {
        Principal {
            arn,
            account,
            kind,
            user_id: None,
            username: None,
            tags: &[],
            org_id: None,
            in_management_account: false,
        }
    }

    /// The anonymous caller.
    pub fn anonymous() -> Principal<'static> {
        Principal::new("", "", PrincipalKind::Anonymous)
    }

    /// `aws:PrincipalType`.
    pub fn principal_type(&self) -> &'static str {
        match self.kind {
            PrincipalKind::Root => "Account",
            PrincipalKind::User => "User",
            PrincipalKind::Role | PrincipalKind::AssumedRole { .. } => "AssumedRole",
            PrincipalKind::FederatedUser => "FederatedUser",
            PrincipalKind::Service(_) => "AWSService",
            PrincipalKind::Federated(_) => "WebIdentityUser",
            PrincipalKind::Anonymous => "Anonymous",
        }
    }

    /// `aws:PrincipalArn`: a role session's role, otherwise the caller's ARN.
    pub fn principal_arn(&self) -> &'a str {
        match self.kind {
            PrincipalKind::AssumedRole { role_arn } => role_arn,
            _ => self.arn,
        }
    }

    fn is_iam_identity(&self) -> bool {
        !matches!(
            self.kind,
            PrincipalKind::Service(_) | PrincipalKind::Federated(_) | PrincipalKind::Anonymous
        )
    }
}

/// The request's condition keys, each with one or more values (case-insensitive names).
#[derive(Debug, Clone, Default)]
pub struct ConditionContext {
    entries: HashMap<String, Vec<String>>,
}

impl ConditionContext {
    pub fn new() -> ConditionContext {
        ConditionContext::default()
    }

    /// Adds `value` to `key`'s values.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.entries
            .entry(key.to_ascii_lowercase())
            .or_default()
            .push(value.into());
    }

    /// Sets `key`'s values (an empty list is a key present with no value: AWS treats it as absent).
    pub fn set(&mut self, key: &str, values: Vec<String>) {
        self.entries.insert(key.to_ascii_lowercase(), values);
    }

    /// [`ConditionContext::insert`], builder style.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> ConditionContext {
        self.insert(key, value);
        self
    }

    /// `key`'s values, case-insensitively.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        match self.entries.get(key) {
            Some(values) => Some(values),
            None => self
                .entries
                .get(&key.to_ascii_lowercase())
                .map(Vec::as_slice),
        }
    }

    fn get_lower(&self, key_lower: &str) -> Option<&[String]> {
        self.entries.get(key_lower).map(Vec::as_slice)
    }
}

/// The values of one key in one request: none, one borrowed string, or a list.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Values<'a> {
    Absent,
    One(&'a str),
    Many(&'a [String]),
}

impl<'a> Values<'a> {
    pub(crate) fn is_absent(&self) -> bool {
        match self {
            Values::Absent => true,
            Values::One(_) => false,
            Values::Many(list) => list.is_empty(),
        }
    }

    pub(crate) fn iter(self) -> impl Iterator<Item = &'a str> {
        let (one, many): (Option<&'a str>, &'a [String]) = match self {
            Values::Absent => (None, &[]),
            Values::One(value) => (Some(value), &[]),
            Values::Many(list) => (None, list),
        };
        one.into_iter().chain(many.iter().map(String::as_str))
    }

    pub(crate) fn first(self) -> Option<&'a str> {
        self.iter().next()
    }
}

/// What a policy sees of one request: the caller's context and its principal.
#[derive(Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub(crate) principal: &'a Principal<'a>,
    pub(crate) context: &'a ConditionContext,
    /// The caller has a permissions boundary: `Deny` statements with `NotPrincipal` then apply
    /// to it whatever they list, as AWS documents.
    pub(crate) boundary_attached: bool,
}

impl<'a> Scope<'a> {
    /// The values of `key_lower` (already lowercased).
    pub(crate) fn values(&self, key_lower: &str) -> Values<'a> {
        if let Some(values) = self.context.get_lower(key_lower) {
            return Values::Many(values);
        }
        let principal = self.principal;
        let present = |value: Option<&'a str>| value.map_or(Values::Absent, Values::One);
        let iam = principal.is_iam_identity();
        match key_lower {
            "aws:username" if principal.kind == PrincipalKind::User => present(principal.username),
            "aws:userid" if principal.kind == PrincipalKind::Anonymous => Values::One("anonymous"),
            "aws:userid" => present(principal.user_id),
            "aws:principalarn" if iam => Values::One(principal.principal_arn()),
            "aws:principalaccount" if iam => Values::One(principal.account),
            "aws:principaltype" => Values::One(principal.principal_type()),
            "aws:principalorgid" if iam => present(principal.org_id),
            "aws:principalisawsservice" => {
                Values::One(if matches!(principal.kind, PrincipalKind::Service(_)) {
                    "true"
                } else {
                    "false"
                })
            }
            "aws:principalservicename" => match principal.kind {
                PrincipalKind::Service(name) => Values::One(name),
                _ => Values::Absent,
            },
            _ => match key_lower.strip_prefix("aws:principaltag/") {
                Some(tag) if iam => principal
                    .tags
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(tag))
                    .map_or(Values::Absent, |(_, value)| Values::One(value)),
                _ => Values::Absent,
            },
        }
    }
}
