//! AWS's policy evaluation logic, for one request, and its access-denied messages.
//!
//! 1. An explicit `Deny` in any applicable policy wins: SCPs, the resource-based policy,
//!    identity-based policies, the permissions boundary, the session policy.
//! 2. SCPs: for a principal of a member account (not the management account; not services or
//!    anonymous callers), every level of the chain root → OUs → account must allow.
//! 3. The root user may do anything in its own account (within the SCPs).
//! 4. Same account: a resource-based policy that names the caller itself (user ARN, session
//!    ARN, `*`) suffices; one that names the caller's role still has the boundary and the
//!    session policy to pass; one that names the account (or no grant) leaves it to the
//!    identity policies, which must allow, then the boundary and the session policy.
//! 5. Cross account: the identity policies (with boundary and session policy) of the caller's
//!    account AND the resource-based policy of the resource's account must both allow.
//! 6. Services, identity-provider principals and anonymous callers have only resource-based
//!    policies.

use crate::context::{ConditionContext, Principal, PrincipalKind, Scope};
use crate::document::{Applies, Effect, Grant, Policy};

/// The kinds of policy a decision can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyType {
    Identity,
    Resource,
    PermissionsBoundary,
    Session,
    ServiceControl,
}

impl PolicyType {
    /// The words AWS's messages use, with their article.
    fn phrase(self) -> (&'static str, &'static str) {
        match self {
            PolicyType::Identity => ("an", "identity-based policy"),
            PolicyType::Resource => ("a", "resource-based policy"),
            PolicyType::PermissionsBoundary => ("a", "permissions boundary"),
            PolicyType::Session => ("a", "session policy"),
            PolicyType::ServiceControl => ("a", "service control policy"),
        }
    }
}

/// The outcome of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A `Deny` statement of this kind of policy applies.
    ExplicitDeny(PolicyType),
    /// No statement of this kind of policy allows.
    ImplicitDeny(PolicyType),
}

impl Decision {
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// One request to authorize.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub principal: &'a Principal<'a>,
    /// `service:Action`, e.g. `cloudtrail:CreateTrail` (any case).
    pub action: &'a str,
    /// The resource's ARN (`*` for actions without a resource).
    pub resource: &'a str,
    /// The account owning the resource; `None`: the principal's own account.
    pub resource_account: Option<&'a str>,
    pub context: &'a ConditionContext,
}

/// The policies that apply to a request. Empty by default.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policies<'a> {
    /// The caller's identity-based policies (the user's and its groups', or the role's;
    /// managed and inline).
    pub identity: &'a [&'a Policy],
    /// The resource's resource-based policy (for `sts:AssumeRole*`: the role's trust policy).
    pub resource: Option<&'a Policy>,
    /// The caller's permissions boundary (the user's, or the session's role's).
    pub boundary: Option<&'a Policy>,
    /// The session policy of a role or federated-user session.
    pub session: Option<&'a Policy>,
    /// The SCPs of the caller's account: one slice per level, root first, then each OU, then
    /// the account. Each level must allow; a level with no policy allows nothing. Empty: no
    /// organization. Ignored when `Principal::in_management_account`.
    pub scp_levels: &'a [&'a [&'a Policy]],
}

/// What the statements of one policy say about a request.
#[derive(Default)]
struct Verdict {
    deny: bool,
    allow: bool,
    /// The strongest grant among the allowing statements that name a principal.
    grant: Option<Grant>,
}

fn verdict(policy: &Policy, request: &Request<'_>, scope: &Scope<'_>) -> Verdict {
    let mut verdict = Verdict::default();
    for statement in &policy.statements {
        let Applies::Yes(grant) = statement.applies(request.action, request.resource, scope) else {
            continue;
        };
        match statement.effect {
            Effect::Deny => {
                verdict.deny = true;
                return verdict;
            }
            Effect::Allow => {
                verdict.allow = true;
                verdict.grant = verdict.grant.max(grant);
            }
        }
    }
    verdict
}

/// Evaluates `request` against `policies`, as AWS does.
pub fn evaluate(policies: &Policies<'_>, request: &Request<'_>) -> Decision {
    let principal = request.principal;
    let kind = principal.kind;
    let iam_identity = !matches!(
        kind,
        PrincipalKind::Service(_) | PrincipalKind::Federated(_) | PrincipalKind::Anonymous
    );
    let has_boundary = iam_identity && kind != PrincipalKind::Root;
    let has_session = matches!(
        kind,
        PrincipalKind::AssumedRole { .. } | PrincipalKind::FederatedUser
    );
    let scps_apply = iam_identity && !principal.in_management_account;
    let scope = Scope {
        principal,
        context: request.context,
        boundary_attached: has_boundary && policies.boundary.is_some(),
    };

    // 1. explicit denies
    let mut scp_allows = true;
    if scps_apply {
        for level in policies.scp_levels {
            let mut level_allows = false;
            for policy in level.iter() {
                let v = verdict(policy, request, &scope);
                if v.deny {
                    return Decision::ExplicitDeny(PolicyType::ServiceControl);
                }
                level_allows |= v.allow;
            }
            scp_allows &= level_allows;
        }
    }
    let resource = policies.resource.map(|p| verdict(p, request, &scope));
    if resource.as_ref().is_some_and(|v| v.deny) {
        return Decision::ExplicitDeny(PolicyType::Resource);
    }
    let mut identity_allows = false;
    if iam_identity {
        for policy in policies.identity {
            let v = verdict(policy, request, &scope);
            if v.deny {
                return Decision::ExplicitDeny(PolicyType::Identity);
            }
            identity_allows |= v.allow;
        }
    }
    let boundary = policies
        .boundary
        .filter(|_| has_boundary)
        .map(|p| verdict(p, request, &scope));
    if boundary.as_ref().is_some_and(|v| v.deny) {
        return Decision::ExplicitDeny(PolicyType::PermissionsBoundary);
    }
    let session = policies
        .session
        .filter(|_| has_session)
        .map(|p| verdict(p, request, &scope));
    if session.as_ref().is_some_and(|v| v.deny) {
        return Decision::ExplicitDeny(PolicyType::Session);
    }

    // 2. service control policies
    if !scp_allows {
        return Decision::ImplicitDeny(PolicyType::ServiceControl);
    }

    // 3. the allows
    let grant = resource.as_ref().filter(|v| v.allow).and_then(|v| v.grant);
    let resource_denies = || Decision::ImplicitDeny(PolicyType::Resource);
    if !iam_identity {
        return if grant.is_some() {
            Decision::Allow
        } else {
            resource_denies()
        };
    }
    let same_account = request
        .resource_account
        .is_none_or(|account| account == principal.account);
    if kind == PrincipalKind::Root {
        return if same_account || grant.is_some() {
            Decision::Allow
        } else {
            resource_denies()
        };
    }
    let boundary_allows = boundary.as_ref().is_none_or(|v| v.allow);
    let session_allows = session.as_ref().is_none_or(|v| v.allow);
    let limits = || {
        if !boundary_allows {
            Decision::ImplicitDeny(PolicyType::PermissionsBoundary)
        } else if !session_allows {
            Decision::ImplicitDeny(PolicyType::Session)
        } else {
            Decision::Allow
        }
    };
    if same_account {
        return match grant {
            Some(Grant::Direct) => Decision::Allow,
            Some(Grant::Role) => limits(),
            Some(Grant::Account) | None if !identity_allows => {
                Decision::ImplicitDeny(PolicyType::Identity)
            }
            Some(Grant::Account) | None => limits(),
        };
    }
    if !identity_allows {
        return Decision::ImplicitDeny(PolicyType::Identity);
    }
    match limits() {
        Decision::Allow if grant.is_none() => resource_denies(),
        other => other,
    }
}

/// One statement that applies to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementMatch<'p> {
    /// Its position in the policy's `Statement` list (0 for a single statement object).
    pub index: usize,
    pub sid: Option<&'p str>,
    pub effect: Effect,
}

/// The statements of `policy` that apply to `request` (principal, action, resource and
/// conditions), in document order: what IAM's policy simulator reports as matched statements.
pub fn matching_statements<'p>(
    policy: &'p Policy,
    request: &Request<'_>,
) -> Vec<StatementMatch<'p>> {
    let scope = Scope {
        principal: request.principal,
        context: request.context,
        boundary_attached: false,
    };
    policy
        .statements
        .iter()
        .enumerate()
        .filter(|(_, statement)| {
            matches!(
                statement.applies(request.action, request.resource, &scope),
                Applies::Yes(_)
            )
        })
        .map(|(index, statement)| StatementMatch {
            index,
            sid: statement.sid.as_deref(),
            effect: statement.effect,
        })
        .collect()
}

/// A trust policy's own answer to "may `principal` perform `action` (`sts:AssumeRole`,
/// `sts:AssumeRoleWithWebIdentity`, `sts:TagSession`…) on `role_arn`": `Allow` when an `Allow`
/// statement names the principal (and its conditions hold) and no `Deny` applies, otherwise
/// `ExplicitDeny(Resource)` / `ImplicitDeny(Resource)`.
///
/// A trust policy that names the principal's account rather than the principal delegates to
/// the account's identity policies: for the whole decision (identity policies, boundary,
/// SCPs, cross-account rules) call [`evaluate`] with the trust policy as
/// `Policies::resource`, `role_arn` as the resource and the role's account as
/// `resource_account`.
pub fn trust_allows(
    trust: &Policy,
    principal: &Principal<'_>,
    action: &str,
    role_arn: &str,
    context: &ConditionContext,
) -> Decision {
    let request = Request {
        principal,
        action,
        resource: role_arn,
        resource_account: None,
        context,
    };
    let scope = Scope {
        principal,
        context,
        boundary_attached: false,
    };
    let v = verdict(trust, &request, &scope);
    if v.deny {
        Decision::ExplicitDeny(PolicyType::Resource)
    } else if v.allow && v.grant.is_some() {
        Decision::Allow
    } else {
        Decision::ImplicitDeny(PolicyType::Resource)
    }
}

/// AWS's access-denied message for a denial; `None` for `Allow`.
///
/// `User: arn:aws:iam::111122223333:user/alice is not authorized to perform:
/// cloudtrail:CreateTrail on resource: arn:aws:cloudtrail:… because no identity-based policy
/// allows the cloudtrail:CreateTrail action`, or `… with an explicit deny in a service
/// control policy`. Anonymous callers are `anonymous`; an empty resource leaves out
/// ` on resource: …`.
pub fn denial_message(decision: Decision, request: &Request<'_>) -> Option<String> {
    let caller = match request.principal.kind {
        PrincipalKind::Anonymous => "anonymous",
        _ => request.principal.arn,
    };
    let action = request.action;
    let on = if request.resource.is_empty() {
        String::new()
    } else {
        format!(" on resource: {}", request.resource)
    };
    let head = format!("User: {caller} is not authorized to perform: {action}{on}");
    match decision {
        Decision::Allow => None,
        Decision::ExplicitDeny(kind) => {
            let (article, name) = kind.phrase();
            Some(format!("{head} with an explicit deny in {article} {name}"))
        }
        Decision::ImplicitDeny(kind) => {
            let (_, name) = kind.phrase();
            Some(format!(
                "{head} because no {name} allows the {action} action"
            ))
        }
    }
}
