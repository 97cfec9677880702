//! Identifiers: event ids, request ids, account ids.

/// A new random event id (a GUID, as AWS writes them).
pub fn new_event_id() -> String {
    random_uuid()
}

/// A new random request id.
pub fn new_request_id() -> String {
    random_uuid()
}

/// A version-4 UUID from the thread's CSPRNG (seeded from the OS, reseeded as it goes): one
/// per recorded call, so no system call each time as `Uuid::new_v4` would make.
fn random_uuid() -> String {
    let bytes: [u8; 16] = rand::random();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
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
        let id = uuid::Uuid::parse_str(&new_event_id()).expect("a uuid");
        assert_eq!(id.get_version_num(), 4);
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
    }
}
