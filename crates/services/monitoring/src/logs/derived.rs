//! What every write of log events derives from them, whichever path writes (PutLogEvents, the
//! trail worker): the datapoints of the group's metric filters and the deliveries of its
//! subscription filters, both committed in the write's own batch ([`Derived`]).

use super::error::LogsError;
use super::events::{Derived, Position};
use super::metric_filters::{self, CompiledFilter};
use super::subscriptions::{self, CompiledSubscription};

/// The filters of one log group, parsed.
pub struct GroupFilters {
    pub account: String,
    pub region: String,
    pub group: String,
    metric: Vec<CompiledFilter>,
    subscriptions: Vec<CompiledSubscription>,
}

impl GroupFilters {
    /// The metric and subscription filters of a group.
    pub fn load(
        meta: &opentrail_meta::Meta,
        account: &str,
        region: &str,
        group: &str,
    ) -> Result<GroupFilters, LogsError> {
        Ok(GroupFilters {
            account: account.to_owned(),
            region: region.to_owned(),
            group: group.to_owned(),
            metric: metric_filters::compiled_in(meta, account, region, group)?,
            subscriptions: subscriptions::compiled_in(meta, account, region, group)?,
        })
    }

    /// Adds what the new `events` of `stream` (with their positions) derive to `derived`.
    pub fn derive_into(
        &self,
        derived: &mut Derived,
        stream: &str,
        events: &[(Position, &str)],
        now_ms: i64,
    ) {
        derived.samples.extend(metric_filters::samples(
            &self.metric,
            &self.account,
            &self.region,
            events,
        ));
        derived.outbox.extend(subscriptions::deliveries(
            &self.subscriptions,
            (&self.account, &self.region, &self.group),
            stream,
            events,
            now_ms,
        ));
    }
}
