//! The IAM policy language and AWS's policy evaluation logic, pure: no IO, no async.
//!
//! Documents are parsed once ([`Policy::parse`], with IAM's validation and its
//! `MalformedPolicyDocument` messages) into a compiled form — actions lowercased, wildcard
//! and ARN patterns split, condition values converted to numbers, dates and CIDR blocks — so
//! that [`evaluate`] allocates nothing for policies without variables.
//!
//! ```
//! use opentrail_policy::*;
//!
//! let policy = Policy::parse(
//!     r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
//!         "Action":"cloudtrail:Describe*","Resource":"*"}}"#,
//!     PolicyKind::Identity,
//! ).unwrap();
//! let alice = Principal::new("arn:aws:iam::111122223333:user/alice", "111122223333", PrincipalKind::User);
//! let context = ConditionContext::new();
//! let request = Request {
//!     principal: &alice,
//!     action: "cloudtrail:CreateTrail",
//!     resource: "arn:aws:cloudtrail:us-east-1:111122223333:trail/t",
//!     resource_account: None,
//!     context: &context,
//! };
//! let decision = evaluate(&Policies { identity: &[&policy], ..Policies::default() }, &request);
//! assert_eq!(decision, Decision::ImplicitDeny(PolicyType::Identity));
//! assert_eq!(
//!     denial_message(decision, &request).unwrap(),
//!     "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: \
//!      cloudtrail:CreateTrail on resource: arn:aws:cloudtrail:us-east-1:111122223333:trail/t \
//!      because no identity-based policy allows the cloudtrail:CreateTrail action"
//! );
//! ```
//!
//! # Layout
//! - `document`: the grammar, validation per [`PolicyKind`], compiled statements, principal
//!   matching ([`Policy`], [`PolicyError`], [`size_without_whitespace`])
//! - `eval`: the evaluation logic and denial messages ([`evaluate`], [`trust_allows`],
//!   [`matching_statements`], [`denial_message`], [`Decision`])
//! - `context`: the request's principal and condition keys ([`Principal`],
//!   [`ConditionContext`])
//! - `condition`: condition operators, set operators, dates, CIDR blocks
//! - `template`: policy variables (`${aws:username}`, defaults, `${*}`)
//! - `arn`, `glob`: ARN patterns (six parts matched separately) and `*`/`?` wildcards

#![deny(clippy::unwrap_used)]

mod arn;
mod condition;
mod context;
mod document;
mod eval;
mod glob;
mod template;

pub use context::{ConditionContext, Principal, PrincipalKind};
pub use document::{
    Effect, Policy, PolicyError, PolicyKind, Version, quota, size_without_whitespace,
};
pub use eval::{
    Decision, Policies, PolicyType, Request, StatementMatch, denial_message, evaluate,
    matching_statements, trust_allows,
};
