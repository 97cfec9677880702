//! Where a journal record came from: recorded by this server, or ingested from outside
//! (`opentrail import`, the ingest API).
//!
//! Ingested records keep their bytes exactly (their CloudTrailEvent must equal the original),
//! so the mark is one leading tab — JSON whitespace, invisible to every JSON reader. Consumers
//! that act only on this server's own calls (trail delivery, EventBridge) skip ingested ones,
//! as AWS keeps events brought in from outside out of trails and rules.

/// The origin of a journal payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A call this server handled and recorded.
    Recorded,
    /// A record brought in from outside.
    Ingested,
}

const INGESTED_MARK: u8 = b'\t';

/// Marks the JSON of an ingested record (before appending it to the journal).
pub fn mark_ingested(json: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(json.len() + 1);
    payload.push(INGESTED_MARK);
    payload.extend_from_slice(json);
    payload
}

/// The origin of a journal payload.
pub fn origin(payload: &[u8]) -> Origin {
    if payload.first() == Some(&INGESTED_MARK) {
        Origin::Ingested
    } else {
        Origin::Recorded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_payloads_stay_the_same_json() {
        let json = br#"{"eventID":"e1","eventTime":"2024-01-01T00:00:00Z"}"#;
        let marked = mark_ingested(json);
        assert_eq!(origin(&marked), Origin::Ingested);
        assert_eq!(origin(json), Origin::Recorded);
        let original: serde_json::Value = serde_json::from_slice(json).expect("json");
        let read: serde_json::Value = serde_json::from_slice(&marked).expect("marked json");
        assert_eq!(original, read);
    }
}
