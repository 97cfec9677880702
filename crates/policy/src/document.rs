//! Policy documents: parsing, IAM's validation (with its `MalformedPolicyDocument` messages),
//! and the compiled form evaluation runs on.
//!
//! Grammar (the IAM JSON policy reference):
//!
//! ```text
//! policy     = { "Version"?: "2012-10-17" | "2008-10-17", "Id"?: string,
//!                "Statement": statement | [statement, ...] }
//! statement  = { "Sid"?: string, "Effect": "Allow" | "Deny",
//!                ("Principal" | "NotPrincipal")?: "*" | { ("AWS" | "Service" | "Federated"
//!                                                          | "CanonicalUser"): string | [string] },
//!                ("Action" | "NotAction"): string | [string],
//!                ("Resource" | "NotResource")?: string | [string],
//!                "Condition"?: { operator: { key: string | bool | number | [...] } } }
//! ```
//!
//! Validation follows IAM's order of checks, so the first problem reported is the one IAM
//! reports: syntax (→ "Syntax errors in policy."), version, legacy parsing (effects spelled
//! exactly, dates, resource shapes), unique Sids, actions present, resource formats, action
//! vendors, then what the kind of policy requires (resources; no principal in identity
//! policies; a principal and no resource in trust policies; SCPs' restrictions).

use serde_json::{Map, Value};

use crate::arn::ArnPattern;
use crate::condition::{self, Condition};
use crate::context::{Principal, PrincipalKind, Scope};
use crate::glob::Glob;

/// Which kind of policy a document is, for validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a user, group or role (managed or inline), a permissions boundary, or a
    /// session policy: no `Principal`, `Resource` required, Version 2012-10-17 required.
    Identity,
    /// A role's trust policy (`AssumeRolePolicyDocument`): `Principal` required, no `Resource`,
    /// actions limited to the `sts:AssumeRole*` family.
    Trust,
    /// A resource-based policy (bucket, queue, topic, key policy…): `Principal` required.
    Resource,
    /// An AWS Organizations service control policy: no `Principal`; `Allow` statements only
    /// with `Resource: "*"`, no `Condition`, no `NotAction`, no `NotResource`.
    ServiceControl,
}

/// A document IAM (or Organizations) refuses, with the message AWS gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub kind: PolicyKind,
    pub message: String,
}

impl PolicyError {
    fn new(kind: PolicyKind, message: impl Into<String>) -> PolicyError {
        PolicyError {
            kind,
            message: message.into(),
        }
    }

    /// The AWS error code: `MalformedPolicyDocument` (IAM, 400), or
    /// `MalformedPolicyDocumentException` for SCPs (Organizations, 400).
    pub fn aws_code(&self) -> &'static str {
        match self.kind {
            PolicyKind::ServiceControl => "MalformedPolicyDocumentException",
            _ => "MalformedPolicyDocument",
        }
    }

    pub fn http_status(&self) -> u16 {
        400
    }
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PolicyError {}

/// The policy language version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `2012-10-17`: policy variables.
    V2012,
    /// `2008-10-17` or no `Version`: `${…}` is plain text.
    V2008,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// One entry of a `Principal` / `NotPrincipal` element, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PrincipalEntry {
    /// `"*"` or `{"AWS": "*"}`: everyone, anonymous callers included.
    Everyone,
    /// An account id or `arn:aws:iam::ID:root`: every principal of that account.
    Account(String),
    /// A user, role, role session or federated user ARN.
    Arn(String),
    Service(String),
    Federated(String),
    CanonicalUser(String),
}

/// How a resource-based policy's principal names the caller; it decides which other policies
/// still limit a same-account grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Grant {
    /// The account: it delegates to the account's identity policies.
    Account,
    /// The role whose session calls: boundaries and session policies still limit.
    Role,
    /// The caller itself (user, session, service, `*`).
    Direct,
}

#[derive(Debug, Clone, PartialEq)]
struct PrincipalSet {
    negated: bool,
    entries: Vec<PrincipalEntry>,
}

#[derive(Debug, Clone, PartialEq)]
struct ActionSet {
    negated: bool,
    /// Lowercased patterns.
    patterns: Vec<Glob>,
}

#[derive(Debug, Clone, PartialEq)]
struct ResourceSet {
    negated: bool,
    patterns: Vec<ArnPattern>,
}

/// One compiled statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    principals: Option<PrincipalSet>,
    actions: ActionSet,
    /// `None`: no `Resource` element (trust policies): any resource.
    resources: Option<ResourceSet>,
    conditions: Vec<Condition>,
}

/// A parsed, validated and compiled policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    kind: PolicyKind,
    version: Version,
    id: Option<String>,
    pub(crate) statements: Vec<Statement>,
}

/// IAM's default size quotas, in characters without whitespace
/// ([`size_without_whitespace`]).
pub mod quota {
    /// A customer managed policy (each version).
    pub const MANAGED_POLICY: usize = 6_144;
    /// All inline policies of one user together.
    pub const USER_INLINE: usize = 2_048;
    /// All inline policies of one group together.
    pub const GROUP_INLINE: usize = 5_120;
    /// All inline policies of one role together.
    pub const ROLE_INLINE: usize = 10_240;
    /// A role's trust policy (raisable to 4,096 in AWS).
    pub const TRUST_POLICY: usize = 2_048;
}

/// The size IAM counts against its quotas: characters, whitespace outside and inside strings
/// not counted (managed policies 6,144; inline: user 2,048, group 5,120, role 10,240; trust
/// policies 2,048 by default).
pub fn size_without_whitespace(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

impl Policy {
    /// Parses and validates `text` as a policy of `kind`.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let fail = |message: &str| PolicyError::new(kind, message);
        let syntax = || fail("Syntax errors in policy.");
        let json: Value = serde_json::from_str(text).map_err(|_| syntax())?;
        let document = check_syntax(&json).ok_or_else(syntax)?;
        let version = match document.top.get("Version").and_then(Value::as_str) {
            Some("2012-10-17") => Version::V2012,
            _ => Version::V2008,
        };
        if kind == PolicyKind::Identity && version != Version::V2012 {
            return Err(fail(
                "Policy document must be version 2012-10-17 or greater.",
            ));
        }
        let statements = &document.statements;
        let resource_error =
            legacy_parse(statements).ok_or_else(|| fail("The policy failed legacy parsing"))?;
        let mut sids: Vec<&str> = Vec::new();
        for statement in statements {
            if let Some(sid) = statement
                .get("Sid")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                if sids.contains(&sid) {
                    return Err(fail(
                        "Statement IDs (SID) in a single policy must be unique.",
                    ));
                }
                sids.push(sid);
            }
        }
        for statement in statements {
            let has = |key: &str| statement.get(key).is_some_and(|v| !is_empty_list(v));
            if !has("Action") && !has("NotAction") {
                return Err(fail("Policy statement must contain actions."));
            }
        }
        if let Some(message) = resource_error {
            return Err(fail(&message));
        }
        for key in ["Action", "NotAction"] {
            for statement in statements {
                for action in strings(statement.get(key)) {
                    check_action_vendor(action).map_err(|message| fail(&message))?;
                }
            }
        }
        check_kind(kind, statements).map_err(|message| fail(&message))?;
        let compiled = statements
            .iter()
            .map(|statement| compile_statement(statement, version))
            .collect();
        Ok(Policy {
            kind,
            version,
            id: document
                .top
                .get("Id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            statements: compiled,
        })
    }

    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The number of statements.
    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }

    /// The statements' Sids, in order (`None` for a statement without one).
    pub fn sids(&self) -> impl Iterator<Item = Option<&str>> {
        self.statements.iter().map(|s| s.sid.as_deref())
    }
}

struct Document<'a> {
    top: &'a Map<String, Value>,
    statements: Vec<&'a Map<String, Value>>,
}

const STATEMENT_ELEMENTS: [&str; 9] = [
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

/// The shape checks whose failures are all "Syntax errors in policy.".
fn check_syntax(json: &Value) -> Option<Document<'_>> {
    let top = json.as_object()?;
    if !top
        .keys()
        .all(|k| matches!(k.as_str(), "Version" | "Id" | "Statement"))
    {
        return None;
    }
    if top
        .get("Version")
        .is_some_and(|v| !matches!(v.as_str(), Some("2012-10-17" | "2008-10-17")))
    {
        return None;
    }
    if top.get("Id").is_some_and(|id| !id.is_string()) {
        return None;
    }
    let statements: Vec<&Map<String, Value>> = match top.get("Statement")? {
        Value::Object(statement) => vec![statement],
        Value::Array(list) if !list.is_empty() => list
            .iter()
            .map(Value::as_object)
            .collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    for statement in &statements {
        if !statement
            .keys()
            .all(|k| STATEMENT_ELEMENTS.contains(&k.as_str()))
        {
            return None;
        }
        let both = |a: &str, b: &str| statement.contains_key(a) && statement.contains_key(b);
        if both("Resource", "NotResource")
            || both("Action", "NotAction")
            || both("Principal", "NotPrincipal")
        {
            return None;
        }
        let effect = statement.get("Effect")?.as_str()?;
        if !effect.eq_ignore_ascii_case("allow") && !effect.eq_ignore_ascii_case("deny") {
            return None;
        }
        for key in ["Action", "NotAction", "Resource", "NotResource"] {
            match statement.get(key) {
                None | Some(Value::String(_)) => {}
                Some(Value::Array(list)) if list.iter().all(|v| v.is_string() || v.is_null()) => {}
                Some(_) => return None,
            }
        }
        for key in ["Principal", "NotPrincipal"] {
            match statement.get(key) {
                None => {}
                Some(Value::String(s)) if s == "*" => {}
                Some(Value::Object(map)) if !map.is_empty() => {
                    for (kind, value) in map {
                        if !matches!(
                            kind.as_str(),
                            "AWS" | "Service" | "Federated" | "CanonicalUser"
                        ) {
                            return None;
                        }
                        match value {
                            Value::String(_) => {}
                            Value::Array(list) if list.iter().all(Value::is_string) => {}
                            _ => return None,
                        }
                    }
                }
                Some(_) => return None,
            }
        }
        if let Some(condition) = statement.get("Condition") {
            for (name, block) in condition.as_object()? {
                let block = block.as_object()?;
                for value in block.values() {
                    match value {
                        Value::String(_) | Value::Bool(_) | Value::Number(_) => {}
                        Value::Array(list)
                            if list
                                .iter()
                                .all(|v| v.is_string() || v.is_boolean() || v.is_number()) => {}
                        _ => return None,
                    }
                }
                let (_, base, _) = condition::split_operator(name);
                if condition::operator(base).is_none() && !block.is_empty() {
                    return None;
                }
            }
        }
        if statement.get("Sid").is_some_and(|sid| !sid.is_string()) {
            return None;
        }
    }
    Some(Document { top, statements })
}

/// IAM's "legacy parsing": effects spelled exactly, date condition values, resource shapes.
/// Returns the first resource format error found (reported after the Sid and action checks).
fn legacy_parse(statements: &[&Map<String, Value>]) -> Option<Option<String>> {
    for statement in statements {
        if !matches!(
            statement.get("Effect").and_then(Value::as_str),
            Some("Allow" | "Deny")
        ) {
            return None;
        }
        if let Some(Value::Object(condition)) = statement.get("Condition") {
            for (name, block) in condition {
                let (_, base, _) = condition::split_operator(name);
                if !base.starts_with("Date") {
                    continue;
                }
                for value in block.as_object()?.values() {
                    for text in condition_strings(value) {
                        if !legacy_date(&text) {
                            return None;
                        }
                    }
                }
            }
        }
    }
    let mut resource_error: Option<String> = None;
    for key in ["Resource", "NotResource"] {
        for statement in statements {
            let Some(value) = statement.get(key) else {
                continue;
            };
            // IAM checks a list in descending order and reports the last failure.
            let mut list: Vec<&str> = match value {
                Value::String(s) => vec![s.as_str()],
                _ => strings(Some(value)).filter(|s| !s.is_empty()).collect(),
            };
            list.sort_unstable_by(|a, b| b.cmp(a));
            for resource in &list {
                if let Some(message) = resource_format_error(resource) {
                    resource_error = Some(message);
                }
            }
            if resource_error.is_none() {
                for resource in strings(Some(value)).filter(|r| !r.is_empty() && *r != "*") {
                    if resource.matches(':').count() < 5 && resource.contains("::") {
                        return None;
                    }
                    if value.is_string() && resource.split(':').nth(2).is_none_or(str::is_empty) {
                        return None;
                    }
                    if resource.len() < 3 {
                        return None;
                    }
                }
            }
        }
    }
    Some(resource_error)
}

/// IAM's lenient check of a date condition value: epoch seconds, or an ISO 8601 shape whose
/// fields are in range (one-digit hours and a bare year pass).
fn legacy_date(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    if !lower.contains('t') && !lower.contains('-') {
        return int(&lower).is_some_and(|n| n >= 0);
    }
    let (date, time) = lower.split_once('t').unwrap_or((&lower, ""));
    let (negative, date) = match date.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, date),
    };
    let parts: Vec<&str> = date.split('-').collect();
    let in_range =
        |text: &str, low: i64, high: i64| int(text).is_some_and(|n| (low..=high).contains(&n));
    let year = int(parts[0]).map(|y| if negative { -y } else { y });
    if !year.is_some_and(|y| (-292_275_054..=292_278_993).contains(&y)) || parts.len() > 3 {
        return false;
    }
    if parts.len() > 1 && !in_range(parts[1], 1, 12)
        || parts.len() > 2 && !in_range(parts[2], 1, 31)
    {
        return false;
    }
    let fields: Vec<&str> = time.split(':').collect();
    if !fields[0].is_empty() && !in_range(fields[0], 0, 23) {
        return false;
    }
    if fields.len() > 1 && !in_range(fields[1], 0, 59) {
        return false;
    }
    if fields.len() > 2 {
        let third = fields[2..].join(":");
        let seconds = if let Some((seconds, after)) = third.split_once('z') {
            if !after.is_empty() {
                return false;
            }
            seconds.to_owned()
        } else if let Some((seconds, zone)) = third.split_once('+') {
            let (hours, minutes) = match zone.split_once(':') {
                Some((h, m)) => (h, Some(m)),
                None => (zone, None),
            };
            if hours.len() != 2 || !in_range(hours, 0, 23) {
                return false;
            }
            if minutes.is_some_and(|m| m.len() != 2 || !in_range(m, 0, 59)) {
                return false;
            }
            seconds.to_owned()
        } else {
            third
        };
        let (whole, fraction) = match seconds.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (seconds.as_str(), None),
        };
        if !in_range(whole, 0, 59) || fraction.is_some_and(|f| !in_range(f, 0, 999_999_999)) {
            return false;
        }
    }
    true
}

/// An integer as Python's `int()` reads one (surrounding whitespace, an optional sign).
fn int(text: &str) -> Option<i64> {
    let text = text.trim();
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

const PARTITIONS: [&str; 8] = [
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

const IAM_RESOURCE_PREFIXES: [&str; 13] = [
    "user/",
    "federated-user/",
    "role/",
    "group/",
    "instance-profile/",
    "mfa/",
    "server-certificate/",
    "policy/",
    "sms-mfa/",
    "saml-provider/",
    "oidc-provider/",
    "report/",
    "access-report/",
];

/// IAM's checks of one `Resource` entry's format.
fn resource_format_error(resource: &str) -> Option<String> {
    if resource == "*" {
        return None;
    }
    let Some((_, after_arn)) = resource.split_once(':') else {
        return Some(format!(
            "Resource {resource} must be in ARN format or \"*\"."
        ));
    };
    let (partition, rest) = after_arn.split_once(':').unwrap_or((after_arn, ""));
    if partition != "*" && !PARTITIONS.contains(&partition) {
        let parts: Vec<&str> = rest.split(':').collect();
        let part = |i: usize| match parts.get(i) {
            Some(p) if i > 0 || !p.is_empty() || parts.len() > 1 => (*p).to_owned(),
            _ => "*".to_owned(),
        };
        let last = if parts.len() > 3 {
            parts[3..].join(":")
        } else {
            "*".to_owned()
        };
        return Some(format!(
            "Partition \"{partition}\" is not valid for resource \"arn:{partition}:{}:{}:{}:{last}\".",
            part(0),
            part(1),
            part(2),
        ));
    }
    if !after_arn.contains(':') {
        return Some("Resource vendor must be fully qualified and cannot contain regexes.".into());
    }
    let (service, region_and_rest) = rest.split_once(':').unwrap_or((rest, ""));
    let (region, after_region) = region_and_rest
        .split_once(':')
        .unwrap_or((region_and_rest, ""));
    let resource_id = after_region.split_once(':').map_or("", |(_, id)| id);
    if (service == "iam" || service == "s3") && !region.is_empty() {
        if service == "iam" {
            return Some(format!(
                "IAM resource {resource} cannot contain region information."
            ));
        }
        if !resource_id.starts_with("accesspoint/") {
            return Some(format!(
                "Resource {resource} can not contain region information."
            ));
        }
    }
    if service == "iam"
        && !IAM_RESOURCE_PREFIXES
            .iter()
            .any(|p| resource_id.starts_with(p))
    {
        return Some(format!(
            "IAM resource path must either be \"*\" or start with {}.",
            IAM_RESOURCE_PREFIXES.join(", ")
        ));
    }
    None
}

fn check_action_vendor(action: &str) -> Result<(), String> {
    let parts: Vec<&str> = action.split(':').collect();
    if parts.len() == 1 && parts[0] != "*" {
        return Err(
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.".into(),
        );
    }
    if parts.len() > 2 {
        return Err("Actions/Condition can contain only one colon.".into());
    }
    let vendor = parts[0];
    if vendor != "*"
        && vendor
            .bytes()
            .any(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
    {
        return Err(format!("Vendor {vendor} is not valid"));
    }
    Ok(())
}

const TRUST_ACTIONS: [&str; 11] = [
    "sts:AssumeRole",
    "sts:AssumeRoleWithSAML",
    "sts:AssumeRoleWithWebIdentity",
    "sts:DecodeAuthorizationMessage",
    "sts:GetAccessKeyInfo",
    "sts:GetCallerIdentity",
    "sts:GetFederationToken",
    "sts:GetServiceBearerToken",
    "sts:GetSessionToken",
    "sts:SetSourceIdentity",
    "sts:TagSession",
];

/// What each kind of policy requires of its statements.
fn check_kind(kind: PolicyKind, statements: &[&Map<String, Value>]) -> Result<(), String> {
    let has = |statement: &Map<String, Value>, key: &str| statement.contains_key(key);
    let principal = |s: &Map<String, Value>| has(s, "Principal") || has(s, "NotPrincipal");
    let resource = |s: &Map<String, Value>| has(s, "Resource") || has(s, "NotResource");
    match kind {
        PolicyKind::Identity => {
            for s in statements {
                let listed = |key: &str| s.get(key).is_some_and(|v| !is_empty_list(v));
                if !listed("Resource") && !listed("NotResource") {
                    return Err("Policy statement must contain resources.".into());
                }
            }
            for s in statements {
                if has(s, "Principal") {
                    return Err("Has prohibited field Principal.".into());
                }
                if has(s, "NotPrincipal") {
                    return Err("Has prohibited field NotPrincipal.".into());
                }
            }
        }
        PolicyKind::Trust => {
            for s in statements {
                if !strings(s.get("Action")).all(|a| TRUST_ACTIONS.contains(&a)) {
                    return Err("Trust Policy statement actions can only be sts:AssumeRole, sts:AssumeRoleWithSAML,  and sts:AssumeRoleWithWebIdentity".into());
                }
            }
            if statements.iter().any(|s| resource(s)) {
                return Err("Has prohibited field Resource.".into());
            }
            if statements.iter().any(|s| !principal(s)) {
                return Err("Missing required field Principal.".into());
            }
            check_principals(statements)?;
        }
        PolicyKind::Resource => {
            if statements.iter().any(|s| !principal(s)) {
                return Err("Missing required field Principal.".into());
            }
            check_principals(statements)?;
        }
        PolicyKind::ServiceControl => {
            let invalid = "The provided policy document does not meet the requirements of the specified policy type.";
            for s in statements {
                if principal(s) {
                    return Err(invalid.into());
                }
                if s.get("Effect").and_then(Value::as_str) == Some("Allow") {
                    let star_only = match s.get("Resource") {
                        None => true,
                        Some(value) => strings(Some(value)).all(|r| r == "*"),
                    };
                    if !star_only
                        || has(s, "NotResource")
                        || has(s, "Condition")
                        || has(s, "NotAction")
                    {
                        return Err(invalid.into());
                    }
                }
            }
        }
    }
    Ok(())
}

/// `Invalid principal in policy: "AWS":"…"` for values that are neither `*`, an account id nor
/// an ARN, and for partial wildcards.
fn check_principals(statements: &[&Map<String, Value>]) -> Result<(), String> {
    for s in statements {
        for key in ["Principal", "NotPrincipal"] {
            let Some(Value::Object(map)) = s.get(key) else {
                continue;
            };
            for (kind, value) in map {
                for entry in strings(Some(value)) {
                    let valid = match kind.as_str() {
                        "AWS" => {
                            entry == "*"
                                || is_account_id(entry)
                                || (entry.starts_with("arn:")
                                    && !entry.contains('*')
                                    && entry.split(':').count() >= 6)
                        }
                        _ => !entry.is_empty() && (entry == "*" || !entry.contains('*')),
                    };
                    if !valid {
                        return Err(format!(
                            "Invalid principal in policy: \"{kind}\":\"{entry}\""
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

fn is_empty_list(value: &Value) -> bool {
    matches!(value, Value::Array(list) if list.is_empty())
}

/// The strings of a string-or-list element (nulls skipped).
fn strings(value: Option<&Value>) -> impl Iterator<Item = &str> {
    let (one, many): (Option<&str>, &[Value]) = match value {
        Some(Value::String(s)) => (Some(s), &[]),
        Some(Value::Array(list)) => (None, list),
        _ => (None, &[]),
    };
    one.into_iter().chain(many.iter().filter_map(Value::as_str))
}

/// A condition value as strings (`true`, `10` and `"10"` alike).
fn condition_strings(value: &Value) -> Vec<String> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match value {
        Value::Array(list) => list.iter().filter_map(scalar).collect(),
        other => scalar(other).into_iter().collect(),
    }
}

fn compile_statement(statement: &Map<String, Value>, version: Version) -> Statement {
    let variables = version == Version::V2012;
    let effect = match statement.get("Effect").and_then(Value::as_str) {
        Some(e) if e.eq_ignore_ascii_case("deny") => Effect::Deny,
        _ => Effect::Allow,
    };
    let principals = [("Principal", false), ("NotPrincipal", true)]
        .into_iter()
        .find_map(|(key, negated)| {
            statement.get(key).map(|value| PrincipalSet {
                negated,
                entries: principal_entries(value),
            })
        });
    let actions = [("Action", false), ("NotAction", true)]
        .into_iter()
        .find_map(|(key, negated)| {
            statement.get(key).map(|value| ActionSet {
                negated,
                patterns: strings(Some(value))
                    .map(|a| Glob::new(a).lowercased())
                    .collect(),
            })
        })
        .unwrap_or(ActionSet {
            negated: false,
            patterns: Vec::new(),
        });
    let resources = [("Resource", false), ("NotResource", true)]
        .into_iter()
        .find_map(|(key, negated)| {
            statement.get(key).map(|value| ResourceSet {
                negated,
                patterns: strings(Some(value))
                    .map(|r| ArnPattern::new(r, variables))
                    .collect(),
            })
        });
    let mut conditions = Vec::new();
    if let Some(Value::Object(blocks)) = statement.get("Condition") {
        for (operator, block) in blocks {
            let (_, base, _) = condition::split_operator(operator);
            if condition::operator(base).is_none() {
                continue;
            }
            for (key, value) in block.as_object().into_iter().flatten() {
                let values = condition_strings(value);
                conditions.push(Condition::new(operator, key, &values, variables));
            }
        }
    }
    Statement {
        sid: statement
            .get("Sid")
            .and_then(Value::as_str)
            .map(str::to_owned),
        effect,
        principals,
        actions,
        resources,
        conditions,
    }
}

fn principal_entries(value: &Value) -> Vec<PrincipalEntry> {
    let Value::Object(map) = value else {
        return vec![PrincipalEntry::Everyone];
    };
    let mut entries = Vec::new();
    for (kind, value) in map {
        for entry in strings(Some(value)) {
            entries.push(match kind.as_str() {
                "AWS" if entry == "*" => PrincipalEntry::Everyone,
                "AWS" if is_account_id(entry) => PrincipalEntry::Account(entry.to_owned()),
                "AWS" => match account_root(entry) {
                    Some(account) => PrincipalEntry::Account(account.to_owned()),
                    None => PrincipalEntry::Arn(entry.to_owned()),
                },
                "Service" => PrincipalEntry::Service(entry.to_owned()),
                "Federated" => PrincipalEntry::Federated(entry.to_owned()),
                _ => PrincipalEntry::CanonicalUser(entry.to_owned()),
            });
        }
    }
    entries
}

/// The account of `arn:PARTITION:iam::ACCOUNT:root`.
fn account_root(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:")?;
    let (_, rest) = rest.split_once(':')?;
    let account = rest.strip_prefix("iam::")?.strip_suffix(":root")?;
    is_account_id(account).then_some(account)
}

impl PrincipalEntry {
    /// How this entry names `principal`, if it does.
    fn grant(&self, principal: &Principal<'_>) -> Option<Grant> {
        let iam = !matches!(
            principal.kind,
            PrincipalKind::Service(_) | PrincipalKind::Federated(_) | PrincipalKind::Anonymous
        );
        match self {
            PrincipalEntry::Everyone => Some(Grant::Direct),
            PrincipalEntry::Account(account) => {
                (iam && principal.account == account).then_some(Grant::Account)
            }
            PrincipalEntry::Arn(arn) => {
                if !iam {
                    None
                } else if principal.arn == arn {
                    Some(Grant::Direct)
                } else if matches!(principal.kind, PrincipalKind::AssumedRole { role_arn } if role_arn == arn)
                {
                    Some(Grant::Role)
                } else {
                    None
                }
            }
            PrincipalEntry::Service(name) => {
                matches!(principal.kind, PrincipalKind::Service(s) if s == name)
                    .then_some(Grant::Direct)
            }
            PrincipalEntry::Federated(provider) => {
                matches!(principal.kind, PrincipalKind::Federated(p) if p == provider)
                    .then_some(Grant::Direct)
            }
            PrincipalEntry::CanonicalUser(_) => None,
        }
    }
}

impl PrincipalSet {
    /// `Principal`: the strongest way an entry names the caller. `NotPrincipal`: the statement
    /// applies unless every identity of the caller (its account, its role, itself) is listed,
    /// which is why AWS asks to list the account and the role beside a session.
    fn grant(&self, principal: &Principal<'_>) -> Option<Grant> {
        if !self.negated {
            return self.entries.iter().filter_map(|e| e.grant(principal)).max();
        }
        if self.entries.contains(&PrincipalEntry::Everyone) {
            return None;
        }
        let listed = |grant: Grant| {
            self.entries
                .iter()
                .any(|e| e.grant(principal) == Some(grant))
        };
        let all_listed = match principal.kind {
            PrincipalKind::Anonymous => false,
            PrincipalKind::Service(_) | PrincipalKind::Federated(_) => listed(Grant::Direct),
            PrincipalKind::Root => listed(Grant::Account),
            PrincipalKind::AssumedRole { .. } => {
                listed(Grant::Account) && listed(Grant::Role) && listed(Grant::Direct)
            }
            _ => listed(Grant::Account) && listed(Grant::Direct),
        };
        (!all_listed).then_some(Grant::Direct)
    }
}

/// What one statement says about a request.
pub(crate) enum Applies {
    No,
    /// It applies; for statements with a principal element, how it names the caller.
    Yes(Option<Grant>),
}

impl Statement {
    /// Whether the statement applies to the request (principal, action, resource, conditions).
    pub(crate) fn applies(&self, action: &str, resource: &str, scope: &Scope<'_>) -> Applies {
        let grant = match &self.principals {
            Some(set) if set.negated && self.effect == Effect::Deny && scope.boundary_attached => {
                Some(Grant::Direct)
            }
            Some(set) => match set.grant(scope.principal) {
                Some(grant) => Some(grant),
                None => return Applies::No,
            },
            None => None,
        };
        let action_hit = self
            .actions
            .patterns
            .iter()
            .any(|p| p.matches_ignore_case(action));
        if action_hit == self.actions.negated {
            return Applies::No;
        }
        if let Some(resources) = &self.resources {
            let hit = resources
                .patterns
                .iter()
                .any(|p| p.matches(resource, scope));
            if hit == resources.negated {
                return Applies::No;
            }
        }
        if !self.conditions.iter().all(|c| c.holds(scope)) {
            return Applies::No;
        }
        Applies::Yes(grant)
    }
}
