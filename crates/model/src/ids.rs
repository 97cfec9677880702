//! Identifiers: event ids, request ids, account ids.

/// A new random event id (a GUID, as AWS writes them).
pub fn new_event_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A new random request id.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Whether `text` is a 12-digit AWS account id.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The default account when `OPENTRAIL_ACCOUNT_ID` is not set.
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids() {
        assert!(is_account_id("123456789012"));
        assert!(!is_account_id("12345678901"));
        assert!(!is_account_id("12345678901a"));
        assert_ne!(new_event_id(), new_event_id());
    }
}
