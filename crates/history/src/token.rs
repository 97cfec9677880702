//! `NextToken`: an opaque, authenticated resume position.
//!
//! Layout before base64url (no padding): `[version u8 = 1][position 16 bytes][tag 16 bytes]`,
//! where `tag` is the first 16 bytes of HMAC-SHA256 over the version, the position and every
//! query parameter except `max_results` and `next_token`, keyed with a per-index secret stored
//! in the index metadata. A token that was altered, was issued by another index, or is reused
//! with different parameters fails the tag check.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::HistoryError;
use crate::keys::{POSITION_LEN, Position};
use crate::query::LookupQuery;

const TOKEN_VERSION: u8 = 1;
const TAG_LEN: usize = 16;
const TOKEN_LEN: usize = 1 + POSITION_LEN + TAG_LEN;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], position: &[u8; POSITION_LEN], query: &LookupQuery) -> HmacSha256 {
    // HMAC takes keys of any length; the error case cannot happen.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(&[TOKEN_VERSION]);
    mac.update(position);
    let mut field = |bytes: &[u8]| {
        mac.update(&(bytes.len() as u64).to_be_bytes());
        mac.update(bytes);
    };
    field(query.account_id.as_bytes());
    field(query.region.as_bytes());
    match &query.attribute {
        Some((key, value)) => {
            field(key.as_str().as_bytes());
            field(value.as_bytes());
        }
        None => field(b""),
    }
    for bound in [query.start_ms, query.end_ms] {
        match bound {
            Some(ms) => field(&ms.to_be_bytes()),
            None => field(b""),
        }
    }
    field(&[u8::from(query.insight)]);
    mac
}

/// The token that resumes `query` after `position`.
pub(crate) fn encode(key: &[u8], position: Position, query: &LookupQuery) -> String {
    let position = position.to_bytes();
    let tag = mac(key, &position, query).finalize().into_bytes();
    let mut bytes = Vec::with_capacity(TOKEN_LEN);
    bytes.push(TOKEN_VERSION);
    bytes.extend_from_slice(&position);
    bytes.extend_from_slice(&tag[..TAG_LEN]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The position a token of `query` resumes after.
pub(crate) fn decode(
    key: &[u8],
    token: &str,
    query: &LookupQuery,
) -> Result<Position, HistoryError> {
    let invalid = |why: &str| HistoryError::InvalidNextToken(why.to_owned());
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid("not base64url text"))?;
    if bytes.len() != TOKEN_LEN {
        return Err(invalid("wrong length"));
    }
    let (version, rest) = bytes.split_at(1);
    if version != [TOKEN_VERSION] {
        return Err(invalid("unknown token version"));
    }
    let (position, tag) = rest.split_at(POSITION_LEN);
    let position: [u8; POSITION_LEN] = position.try_into().map_err(|_| invalid("wrong length"))?;
    mac(key, &position, query)
        .verify_truncated_left(tag)
        .map_err(|_| invalid("token does not belong to these request parameters"))?;
    Position::from_bytes(&position).ok_or_else(|| invalid("wrong length"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::LookupAttributeKey;

    fn query() -> LookupQuery {
        LookupQuery {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            attribute: Some((LookupAttributeKey::EventName, "CreateBucket".into())),
            start_ms: Some(1),
            end_ms: None,
            insight: false,
            max_results: 5,
            next_token: None,
        }
    }

    #[test]
    fn round_trips_and_ignores_page_size() {
        let position = Position::new(1_000, 7);
        let token = encode(b"k", position, &query());
        let mut other_page = query();
        other_page.max_results = 50;
        assert_eq!(decode(b"k", &token, &other_page).expect("valid"), position);
    }

    #[test]
    fn rejects_other_parameters_keys_and_garbage() {
        let token = encode(b"k", Position::new(1_000, 7), &query());
        let mut changes: Vec<LookupQuery> = Vec::new();
        for change in 0..7 {
            let mut q = query();
            match change {
                0 => q.account_id = "999999999999".into(),
                1 => q.region = "eu-west-1".into(),
                2 => q.attribute = None,
                3 => q.attribute = Some((LookupAttributeKey::EventSource, "CreateBucket".into())),
                4 => q.start_ms = None,
                5 => q.end_ms = Some(5),
                _ => q.insight = true,
            }
            changes.push(q);
        }
        for q in &changes {
            assert!(matches!(
                decode(b"k", &token, q),
                Err(HistoryError::InvalidNextToken(_))
            ));
        }
        assert!(decode(b"other key", &token, &query()).is_err());
        assert!(decode(b"k", "!!!", &query()).is_err());
        assert!(decode(b"k", "", &query()).is_err());
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).expect("base64");
        bytes[5] ^= 1;
        assert!(decode(b"k", &URL_SAFE_NO_PAD.encode(&bytes), &query()).is_err());
    }
}
