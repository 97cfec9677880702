//! What the operations share: the [`Call`] they run in, input accessors, how a request names
//! its log group, and the name checks the botocore model states as patterns.

use std::sync::Arc;

use serde_json::Value;

use super::error::LogsError;
use super::events::EventStore;
use super::store::{self, StoredGroup, StoredStream};
use opentrail_core::AppState;

/// One call: who, where, and the stores.
pub struct Call<'a> {
    pub state: &'a Arc<AppState>,
    pub account: &'a str,
    pub region: &'a str,
    pub events: Arc<EventStore>,
    pub now_ms: i64,
}

impl Call<'_> {
    /// The log group `name`, or ResourceNotFoundException.
    pub fn group(&self, name: &str) -> Result<StoredGroup, LogsError> {
        store::group(&self.state.meta, self.account, self.region, name)?
            .ok_or(LogsError::LogGroupNotFound)
    }

    /// The stream `name` of `group`, or ResourceNotFoundException.
    pub fn stream(&self, group: &str, name: &str) -> Result<StoredStream, LogsError> {
        store::stream(&self.state.meta, self.account, self.region, group, name)?
            .ok_or(LogsError::LogStreamNotFound)
    }

    /// Runs blocking store work off the async runtime.
    pub async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(Arc<EventStore>) -> Result<T, LogsError> + Send + 'static,
    ) -> Result<T, LogsError> {
        let events = self.events.clone();
        tokio::task::spawn_blocking(move || work(events))
            .await
            .map_err(|err| LogsError::Internal(err.to_string()))?
    }
}

pub use opentrail_core::pipeline::input::{opt_i64, opt_str};

/// A required string member (the model check already ran; this guards the code).
pub fn req_str<'a>(input: &'a Value, name: &str) -> Result<&'a str, LogsError> {
    opt_str(input, name).ok_or_else(|| {
        LogsError::InvalidParameter(format!(
            "1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

pub fn opt_bool(input: &Value, name: &str) -> Option<bool> {
    input.get(name).and_then(Value::as_bool)
}

/// The `limit` member, defaulting to `default`.
pub fn limit(input: &Value, default: usize) -> usize {
    input
        .get("limit")
        .and_then(Value::as_u64)
        .and_then(|limit| usize::try_from(limit).ok())
        .unwrap_or(default)
}

/// One page of `items` for a Describe call that pages with a numeric `nextToken` (the index
/// of the next item) and `limit` (default `default_limit`): the page and the next token.
pub fn page<'a, T>(
    items: &'a [T],
    input: &Value,
    default_limit: usize,
) -> Result<(&'a [T], Option<String>), LogsError> {
    let start = match opt_str(input, "nextToken") {
        None => 0,
        Some(token) => token.parse::<usize>().map_err(|_| {
            LogsError::InvalidParameter("The specified nextToken is invalid.".into())
        })?,
    };
    let start = start.min(items.len());
    let end = start
        .saturating_add(limit(input, default_limit))
        .min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((&items[start..end], next))
}

/// The group a request names: `logGroupName`, or `logGroupIdentifier` (a name or a
/// `logGroupArn`, not the `:*` form); exactly one of them.
pub fn group_name(input: &Value, account: &str) -> Result<String, LogsError> {
    let name = opt_str(input, "logGroupName");
    let identifier = opt_str(input, "logGroupIdentifier");
    match (name, identifier) {
        (Some(_), Some(_)) => Err(LogsError::InvalidParameter(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.".into(),
        )),
        (Some(name), None) => Ok(name.to_owned()),
        (None, Some(identifier)) => {
            check_pattern("logGroupIdentifier", identifier, r"[\w#+=/:,.@-]*", |c| {
                c.is_alphanumeric() || "_#+=/:,.@-".contains(c)
            })?;
            Ok(group_from_identifier(identifier, account))
        }
        (None, None) => Err(LogsError::InvalidParameter(
            "Should provide either name or ARN".into(),
        )),
    }
}

/// The group name in a `logGroupIdentifier` or a log-group ARN (`…:log-group:<name>[:*]`).
pub fn group_from_identifier(identifier: &str, _account: &str) -> String {
    match identifier.split_once(":log-group:") {
        Some((prefix, rest)) if prefix.starts_with("arn:") => {
            rest.strip_suffix(":*").unwrap_or(rest).to_owned()
        }
        _ => identifier.to_owned(),
    }
}

/// Checks one value against the model's `pattern`, with AWS's message.
pub fn check_pattern(
    member: &str,
    value: &str,
    pattern: &str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), LogsError> {
    if value.chars().all(allowed) {
        return Ok(());
    }
    Err(LogsError::InvalidParameter(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
    )))
}

/// `logGroupName`'s pattern `[\.\-_/#A-Za-z0-9]+`.
pub fn check_group_name(member: &str, name: &str) -> Result<(), LogsError> {
    check_pattern(member, name, r"[\.\-_/#A-Za-z0-9]+", |c| {
        c.is_ascii_alphanumeric() || "._-/#".contains(c)
    })
}

/// `logStreamName` and `filterName`'s pattern `[^:*]*`.
pub fn check_no_colon_star(member: &str, name: &str) -> Result<(), LogsError> {
    check_pattern(member, name, "[^:*]*", |c| c != ':' && c != '*')
}

/// Metric names and namespaces: `[^:*$]*`.
pub fn check_metric_name(member: &str, name: &str) -> Result<(), LogsError> {
    check_pattern(member, name, "[^:*$]*", |c| {
        c != ':' && c != '*' && c != '$'
    })
}

/// A 56-digit token the way AWS prints sequence and page tokens.
pub fn digits56(value: u128) -> String {
    format!("{value:056}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn groups_are_named_by_name_or_arn_but_not_both() {
        let account = "123456789012";
        assert_eq!(
            group_name(&json!({"logGroupName": "a/b"}), account).expect("name"),
            "a/b"
        );
        assert_eq!(
            group_name(
                &json!({"logGroupIdentifier": "arn:aws:logs:us-east-1:123456789012:log-group:a/b"}),
                account
            )
            .expect("arn"),
            "a/b"
        );
        let star = group_name(
            &json!({"logGroupIdentifier": "arn:aws:logs:us-east-1:123456789012:log-group:a:*"}),
            account,
        );
        assert!(
            matches!(star, Err(LogsError::InvalidParameter(message)) if message.contains("regular expression"))
        );
        assert!(
            group_name(
                &json!({"logGroupName": "a", "logGroupIdentifier": "a"}),
                account
            )
            .is_err()
        );
        assert!(check_group_name("logGroupName", "bad name").is_err());
        assert!(check_group_name("logGroupName", "/aws/lambda/x_y-z.1#").is_ok());
        assert_eq!(digits56(19).len(), 56);
    }

    #[test]
    fn pages_follow_numeric_tokens() {
        let items = [1, 2, 3, 4, 5];
        let (first, next) = page(&items, &json!({"limit": 2}), 50).expect("page");
        assert_eq!(first, [1, 2]);
        assert_eq!(next.as_deref(), Some("2"));
        let (last, next) = page(&items, &json!({"limit": 4, "nextToken": "2"}), 50).expect("page");
        assert_eq!(last, [3, 4, 5]);
        assert_eq!(next, None);
        assert!(matches!(
            page(&items, &json!({"nextToken": "x"}), 50),
            Err(LogsError::InvalidParameter(m)) if m == "The specified nextToken is invalid."
        ));
    }
}
