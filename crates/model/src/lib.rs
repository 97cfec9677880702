//! The shared vocabulary of opentrail: the CloudTrail record and the identities, ARNs and ids
//! that appear in it. serde only, no IO — every other crate depends on this one.
//!
//! # Layout
//! - [`record`]: the CloudTrail record (eventVersion 1.11) and its parts.
//! - [`record_ref`]: [`RecordRef`], the one borrowed view of a record's JSON text for readers
//!   that need a few members of many records.
//! - [`identity`]: who made a call — the `userIdentity` block and how it is derived from a key.
//! - [`time`]: the record's timestamp format (`YYYY-MM-DDTHH:MM:SSZ`, UTC, no fraction).
//! - [`ids`]: event ids, request ids and account-id checks.
//! - [`arn`]: [`Arn`], an ARN split into partition, service, region, account and resource.
//! - [`origin`]: recorded here or ingested from outside (the journal mark).

pub mod arn;
pub mod identity;
pub mod ids;
pub mod origin;
pub mod record;
pub mod record_ref;
pub mod time;

pub use arn::Arn;
pub use identity::{Identity, IdentityType, SessionContext, SessionIssuer, UserIdentity};
pub use origin::Origin;
pub use record::{EventCategory, Record, Resource};
pub use record_ref::{InsightDetailsRef, RecordRef, ResourceRef, UserIdentityRef};
