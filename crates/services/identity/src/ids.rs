//! Ids, secrets, names and paths as IAM makes and checks them.
//!
//! Unique ids are a four-letter prefix (`AIDA` users, `AROA` roles, `AGPA` groups, `ANPA`
//! policies) and 17 characters of AWS's alphabet (upper-case letters and the digits 2–7);
//! access key ids `AKIA` (long-term) or `ASIA` (temporary) and 16 of them. Secret keys are
//! 40 characters of base64's alphabet; session tokens 256 random bytes in base64.

use base64::Engine;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rand::Rng;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{IdentityError, Result};

/// The characters of AWS unique ids and access key ids after the prefix.
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Which kind of unique id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    User,
    Role,
    Group,
    Policy,
    InstanceProfile,
    ServerCertificate,
    /// An SSH public key (`APKA` and 16).
    SshKey,
    /// A long-term access key.
    AccessKey,
    /// A temporary (STS) access key.
    TemporaryKey,
}

impl IdKind {
    fn prefix(self) -> &'static str {
        match self {
            IdKind::User => "AIDA",
            IdKind::Role => "AROA",
            IdKind::Group => "AGPA",
            IdKind::Policy => "ANPA",
            IdKind::InstanceProfile => "AIPA",
            IdKind::ServerCertificate => "ASCA",
            IdKind::SshKey => "APKA",
            IdKind::AccessKey => "AKIA",
            IdKind::TemporaryKey => "ASIA",
        }
    }

    fn random_len(self) -> usize {
        match self {
            IdKind::AccessKey | IdKind::TemporaryKey | IdKind::SshKey => 16,
            _ => 17,
        }
    }
}

fn random_text(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

/// A new unique id of `kind`.
pub fn new_id(kind: IdKind) -> String {
    format!(
        "{}{}",
        kind.prefix(),
        random_text(ID_ALPHABET, kind.random_len())
    )
}

/// A new 40-character secret access key.
pub fn new_secret() -> String {
    random_text(SECRET_ALPHABET, 40)
}

/// A new virtual MFA seed: 64 characters of base32.
pub fn new_mfa_seed() -> String {
    random_text(ID_ALPHABET, 64)
}

/// A new session token: 256 random bytes, base64.
pub fn new_session_token() -> String {
    let mut bytes = [0u8; 256];
    rand::rng().fill(&mut bytes[..]);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Whether `id` is an id of `kind` as [`new_id`] makes them.
pub fn is_id(id: &str, kind: IdKind) -> bool {
    id.strip_prefix(kind.prefix()).is_some_and(|rest| {
        rest.len() == kind.random_len() && rest.bytes().all(|b| ID_ALPHABET.contains(&b))
    })
}

/// Checks an IAM entity name (`[\w+=,.@-]+`, `max` characters) of member `member`.
pub fn check_name(name: &str, member: &str, max: usize) -> Result<()> {
    if name.is_empty() || name.chars().count() > max {
        return Err(IdentityError::constraint(
            name,
            member,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    if !name.chars().all(is_name_char) {
        return Err(IdentityError::constraint(
            name,
            member,
            r"Member must satisfy regular expression pattern: [\w+=,.@-]+",
        ));
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// Checks a path: `/`, or `/` … `/` of printable ASCII, at most 512 characters.
pub fn check_path(path: &str, member: &str) -> Result<()> {
    let printable = path.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if path.len() > 512 || !path.starts_with('/') || !path.ends_with('/') || !printable {
        return Err(IdentityError::constraint(
            path,
            member,
            r"Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)",
        ));
    }
    Ok(())
}

/// Checks a `PathPrefix`: `/` then printable ASCII, at most 512 characters.
pub fn check_path_prefix(prefix: &str, member: &str) -> Result<()> {
    let printable = prefix.bytes().all(|b| (0x21..=0x7f).contains(&b));
    if prefix.len() > 512 || !prefix.starts_with('/') || !printable {
        return Err(IdentityError::constraint(
            prefix,
            member,
            r"Member must satisfy regular expression pattern: \u002F[\u0021-\u007F]*",
        ));
    }
    Ok(())
}

/// Checks a tag key: letters, spaces, digits and `_.:/=+-@` (`[\p{L}\p{Z}\p{N}_.:/=+\-@]+`).
pub fn check_tag_key(key: &str, member: &str) -> Result<()> {
    let valid = key
        .chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c));
    if !valid {
        return Err(IdentityError::constraint(
            key,
            member,
            r"Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+",
        ));
    }
    Ok(())
}

/// A policy document as IAM returns it: URL-encoded (clients decode it).
pub fn url_encode(document: &str) -> String {
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(document, KEEP).to_string()
}

/// The partition of a region: `aws-cn` (China), `aws-us-gov` (GovCloud), `aws-iso`,
/// `aws-iso-b`, `aws-iso-e`, `aws-iso-f`, otherwise `aws`.
pub fn partition(region: &str) -> &'static str {
    const PREFIXES: &[(&str, &str)] = &[
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-iso-", "aws-iso"),
        ("eu-isoe-", "aws-iso-e"),
        ("us-isof-", "aws-iso-f"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, partition)| partition)
}

/// The partition of any ARN (`aws` when it is not one).
pub fn partition_of(arn: &str) -> &str {
    arn.strip_prefix("arn:")
        .and_then(|rest| rest.split(':').next())
        .unwrap_or("aws")
}

/// `(partition, account, resource)` of an IAM ARN `arn:<partition>:iam::<account>:<resource>`.
pub fn split_iam_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let rest = arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix("iam::")?;
    let (account, resource) = rest.split_once(':')?;
    Some((partition, account, resource))
}

/// Seconds since the epoch of `at`.
pub fn epoch(at: OffsetDateTime) -> i64 {
    at.unix_timestamp()
}

/// `YYYY-MM-DDTHH:MM:SSZ` of epoch seconds.
pub fn iso(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// A time as AWS writes IAM and STS dates in records' `responseElements`:
/// `Aug 1, 2024 1:33:28 PM` (IAM), `Aug 1, 2024, 11:45:22 AM` (STS, `comma_after_year`).
pub fn record_date(seconds: i64, comma_after_year: bool) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let Ok(at) = OffsetDateTime::from_unix_timestamp(seconds) else {
        return String::new();
    };
    let month = MONTHS[usize::from(u8::from(at.month())) - 1];
    let (hour, half) = match at.hour() {
        0 => (12, "AM"),
        hour @ 1..=11 => (hour, "AM"),
        12 => (12, "PM"),
        hour => (hour - 12, "PM"),
    };
    let comma = if comma_after_year { "," } else { "" };
    format!(
        "{month} {}, {}{comma} {hour}:{:02}:{:02} {half}",
        at.day(),
        at.year(),
        at.minute(),
        at.second()
    )
}

/// Writes the dates of a recorded output (`CreateDate`, `UpdateDate`, `Expiration`,
/// `LastUsedDate`, at any depth) as [`record_date`] does.
pub fn record_dates(value: &mut serde_json::Value, comma_after_year: bool) {
    match value {
        serde_json::Value::Object(members) => {
            for (name, member) in members.iter_mut() {
                let is_date = matches!(
                    name.as_str(),
                    "CreateDate" | "UpdateDate" | "Expiration" | "LastUsedDate"
                );
                match member.as_i64() {
                    Some(seconds) if is_date => {
                        *member = serde_json::Value::String(record_date(seconds, comma_after_year));
                    }
                    _ => record_dates(member, comma_after_year),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                record_dates(item, comma_after_year);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_prefix_length_and_alphabet() {
        for (kind, prefix, len) in [
            (IdKind::User, "AIDA", 21),
            (IdKind::Role, "AROA", 21),
            (IdKind::Group, "AGPA", 21),
            (IdKind::Policy, "ANPA", 21),
            (IdKind::AccessKey, "AKIA", 20),
            (IdKind::TemporaryKey, "ASIA", 20),
        ] {
            let id = new_id(kind);
            assert!(id.starts_with(prefix), "{id}");
            assert_eq!(id.len(), len, "{id}");
            assert!(is_id(&id, kind), "{id}");
            assert!(!id[4..].contains(['0', '1', '8', '9']), "{id}");
        }
        assert_ne!(new_id(IdKind::User), new_id(IdKind::User));
        assert!(!is_id("AKIAabcdefghijklmnop", IdKind::AccessKey));
    }

    #[test]
    fn secrets_and_tokens_are_long_and_random() {
        let secret = new_secret();
        assert_eq!(secret.len(), 40);
        assert_ne!(secret, new_secret());
        let token = new_session_token();
        assert!(token.len() > 300, "{}", token.len());
        assert_ne!(token, new_session_token());
    }

    #[test]
    fn names_and_paths_are_checked() {
        assert!(check_name("alice+ops=1,x.y@z-_", "userName", 64).is_ok());
        let err = check_name("bad name", "userName", 64).expect_err("space");
        assert_eq!(err.aws_code(), "ValidationError");
        assert!(
            err.to_string().contains("'bad name' at 'userName'"),
            "{err}"
        );
        assert!(check_name(&"a".repeat(65), "userName", 64).is_err());
        assert!(check_name("", "userName", 64).is_err());
        assert!(check_path("/", "path").is_ok());
        assert!(check_path("/division/team/", "path").is_ok());
        assert!(check_path("division/", "path").is_err());
        assert!(check_path("/a b/", "path").is_err());
        assert!(check_path_prefix("/TestPath", "pathPrefix").is_ok());
        assert!(check_path_prefix("TestPath", "pathPrefix").is_err());
        assert!(check_tag_key("team:owner @x", "tags.1.member.key").is_ok());
        let err = check_tag_key("NOWAY!", "tags.1.member.key").expect_err("!");
        assert!(
            err.to_string().contains(r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+"),
            "{err}"
        );
    }

    #[test]
    fn documents_are_url_encoded_as_aws_does() {
        assert_eq!(
            url_encode(r#"{"Version": "2012-10-17"}"#),
            "%7B%22Version%22%3A%20%222012-10-17%22%7D"
        );
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn partitions_and_iam_arns() {
        assert_eq!(partition("us-east-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-isob-east-1"), "aws-iso-b");
        assert_eq!(partition("us-iso-east-1"), "aws-iso");
        assert_eq!(
            split_iam_arn("arn:aws-cn:iam::123456789012:role/a/b"),
            Some(("aws-cn", "123456789012", "role/a/b"))
        );
        assert_eq!(split_iam_arn("arn:aws:s3:::bucket"), None);
    }

    #[test]
    fn record_dates_as_aws_writes_them() {
        // 2024-08-01T13:33:28Z and 2024-08-01T11:45:22Z, from real records.
        assert_eq!(record_date(1_722_519_208, false), "Aug 1, 2024 1:33:28 PM");
        assert_eq!(record_date(1_722_512_722, true), "Aug 1, 2024, 11:45:22 AM");
        assert_eq!(record_date(0, false), "Jan 1, 1970 12:00:00 AM");
    }
}
