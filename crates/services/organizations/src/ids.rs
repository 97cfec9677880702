//! The ids Organizations hands out, and the checks of ids a caller sends.
//!
//! AWS's forms: organizations `o-` + 10 lowercase letters or digits, roots `r-` + 4, OUs
//! `ou-<the root's 4>-<8>`, policies `p-` + 8 (and the AWS managed `p-FullAWSAccess`,
//! `p-RCPFullAWSAccess`), accounts 12 digits, create-account requests `car-` + 32.

use rand::Rng;

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn random_alnum(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALNUM[rng.random_range(0..ALNUM.len())]))
        .collect()
}

pub fn new_organization_id() -> String {
    format!("o-{}", random_alnum(10))
}

pub fn new_root_id() -> String {
    format!("r-{}", random_alnum(4))
}

/// An OU id under the root `root_id` (`r-abcd` → `ou-abcd-…`).
pub fn new_ou_id(root_id: &str) -> String {
    let root = root_id.strip_prefix("r-").unwrap_or(root_id);
    format!("ou-{root}-{}", random_alnum(8))
}

pub fn new_policy_id() -> String {
    format!("p-{}", random_alnum(8))
}

pub fn new_create_request_id() -> String {
    format!("car-{}", random_alnum(32))
}

/// A fresh 12-digit account id (not starting with 0, so that no tool reads it as shorter).
pub fn new_account_id() -> String {
    let mut rng = rand::rng();
    let first = rng.random_range(1..10u8);
    let rest: String = (0..11)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect();
    format!("{first}{rest}")
}

fn is_alnum_lower(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// `r-` + 4 to 32 lowercase letters or digits (the model's pattern).
pub fn is_root_id(text: &str) -> bool {
    text.strip_prefix("r-")
        .is_some_and(|rest| (4..=32).contains(&rest.len()) && is_alnum_lower(rest))
}

/// `ou-` + 4..32 + `-` + 8..32 lowercase letters or digits.
pub fn is_ou_id(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("ou-") else {
        return false;
    };
    let Some((root, own)) = rest.split_once('-') else {
        return false;
    };
    (4..=32).contains(&root.len())
        && (8..=32).contains(&own.len())
        && is_alnum_lower(root)
        && is_alnum_lower(own)
}

pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// `p-` + 8..128 letters, digits or `_` (the model's pattern, which admits `p-FullAWSAccess`).
pub fn is_policy_id(text: &str) -> bool {
    text.strip_prefix("p-").is_some_and(|rest| {
        (8..=128).contains(&rest.len())
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_have_aws_forms() {
        let org = new_organization_id();
        assert_eq!(org.len(), 12);
        assert!(org.starts_with("o-") && is_alnum_lower(&org[2..]));
        let root = new_root_id();
        assert!(is_root_id(&root) && root.len() == 6, "{root}");
        let ou = new_ou_id(&root);
        assert!(is_ou_id(&ou), "{ou}");
        assert_eq!(&ou[3..7], &root[2..], "an OU id carries its root's id");
        assert!(is_policy_id(&new_policy_id()));
        let account = new_account_id();
        assert!(
            is_account_id(&account) && !account.starts_with('0'),
            "{account}"
        );
        let request = new_create_request_id();
        assert!(request.starts_with("car-") && request.len() == 36);
    }

    #[test]
    fn id_checks_refuse_other_forms() {
        assert!(is_policy_id("p-FullAWSAccess"));
        assert!(!is_policy_id("p-short"));
        assert!(!is_root_id("r-AB12"));
        assert!(!is_ou_id("ou-abcd"));
        assert!(!is_ou_id("ou-abcd-1234567"));
        assert!(!is_account_id("12345678901"));
        assert!(!is_account_id("12345678901a"));
    }
}
