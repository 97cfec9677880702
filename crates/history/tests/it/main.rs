//! Integration tests of the history index: synthetic records checked against an independent
//! filter over the same records, and the real example records in `tests/data` at the repository root.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use opentrail_history::{
    FORMAT_VERSION, History, HistoryConfig, HistoryError, HistoryEvent, IndexStats,
    LookupAttributeKey, LookupPage, LookupQuery,
};
use serde_json::json;

const DAY_MS: i64 = 86_400_000;
const ACCOUNTS: [&str; 2] = ["111111111111", "222222222222"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// One synthetic record and what the test expects event history to make of it, derived
/// by construction (not by the code under test).
#[derive(Clone, Debug)]
struct Synth {
    seq: u64,
    event_id: String,
    account: String,
    region: String,
    time_ms: i64,
    insight: bool,
    event_name: Option<String>,
    event_source: Option<String>,
    read_only: Option<bool>,
    username: Option<String>,
    access_key_id: Option<String>,
    /// (type, ARN, derived name)
    resources: Vec<(Option<String>, String, String)>,
    json: String,
}

impl Synth {
    fn attribute_values(&self, key: LookupAttributeKey) -> Vec<String> {
        let one = |v: &Option<String>| v.iter().cloned().collect::<Vec<_>>();
        match key {
            LookupAttributeKey::EventId => vec![self.event_id.clone()],
            LookupAttributeKey::EventName => one(&self.event_name),
            LookupAttributeKey::ReadOnly => {
                self.read_only.map(|b| b.to_string()).into_iter().collect()
            }
            LookupAttributeKey::Username => one(&self.username),
            LookupAttributeKey::ResourceType => {
                self.resources.iter().filter_map(|r| r.0.clone()).collect()
            }
            LookupAttributeKey::ResourceName => self
                .resources
                .iter()
                .flat_map(|r| [r.1.clone(), r.2.clone()])
                .collect(),
            LookupAttributeKey::EventSource => one(&self.event_source),
            LookupAttributeKey::AccessKeyId => one(&self.access_key_id),
        }
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn event_time_text(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(ms / 1000).expect("time");
    opentrail_model::time::format_event_time(at)
}

/// Now, whole seconds (records carry no fraction).
fn now_s_ms() -> i64 {
    opentrail_model::time::now_ms() / 1000 * 1000
}

const NAMES: [(&str, &str, bool); 6] = [
    ("CreateBucket", "s3.amazonaws.com", false),
    ("ListBuckets", "s3.amazonaws.com", true),
    ("AssumeRole", "sts.amazonaws.com", false),
    ("DescribeInstances", "ec2.amazonaws.com", true),
    ("RunInstances", "ec2.amazonaws.com", false),
    ("StopLogging", "cloudtrail.amazonaws.com", false),
];

/// Management records spread over two accounts, two regions and ~5 days, with many records
/// sharing a second (ties), plus Insights records.
fn synthetic(count: usize, now_ms: i64) -> Vec<Synth> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::new();
    for i in 0..count {
        let seq = 1000 + i as u64 * 3;
        let account = rng.pick(&ACCOUNTS).to_string();
        let region = rng.pick(&REGIONS).to_string();
        let time_ms = now_ms - rng.below(150) as i64 * 2_731_000;
        let (name, source, read_only) = *rng.pick(&NAMES);
        let read_only = (rng.below(8) != 0).then_some(read_only);
        let key_id = format!("AKIA{:04}", rng.below(5));
        // Sometimes the caller is another account: the record belongs to recipientAccountId.
        let caller_account = if rng.below(6) == 0 {
            "999999999999".to_string()
        } else {
            account.clone()
        };
        let (identity, username, access_key_id) = match rng.below(4) {
            0 => {
                let user = format!("user-{}", rng.below(3));
                (
                    json!({"type":"IAMUser","principalId":"AIDAX","arn":format!("arn:aws:iam::{caller_account}:user/{user}"),
                           "accountId":caller_account,"accessKeyId":key_id,"userName":user}),
                    Some(user),
                    Some(key_id),
                )
            }
            1 => {
                let session = format!("session-{}", rng.below(3));
                (
                    json!({"type":"AssumedRole","principalId":format!("AROAX:{session}"),
                           "arn":format!("arn:aws:sts::{caller_account}:assumed-role/Admin/{session}"),
                           "accountId":caller_account,"accessKeyId":key_id,
                           "sessionContext":{"sessionIssuer":{"type":"Role","userName":"Admin"},
                                             "attributes":{"creationDate":"2024-01-01T00:00:00Z","mfaAuthenticated":"false"}}}),
                    Some(session),
                    Some(key_id),
                )
            }
            2 => (
                json!({"type":"Root","principalId":caller_account,"arn":format!("arn:aws:iam::{caller_account}:root"),
                       "accountId":caller_account,"accessKeyId":key_id}),
                Some("root".to_string()),
                Some(key_id),
            ),
            _ => (
                json!({"type":"AWSService","invokedBy":"ec2.amazonaws.com"}),
                None,
                None,
            ),
        };
        let mut resources = Vec::new();
        for _ in 0..rng.below(4) {
            let resource = match rng.below(5) {
                0 | 1 => {
                    let bucket = format!("bucket-{}", rng.below(3));
                    (
                        Some("AWS::S3::Bucket".to_string()),
                        format!("arn:aws:s3:::{bucket}"),
                        bucket,
                    )
                }
                2 => {
                    let arn = format!("arn:aws:s3:::bucket-0/key-{}", rng.below(2));
                    (Some("AWS::S3::Object".to_string()), arn.clone(), arn)
                }
                3 => {
                    let arn = format!("arn:aws:iam::{account}:role/Role{}", rng.below(2));
                    (Some("AWS::IAM::Role".to_string()), arn.clone(), arn)
                }
                _ => {
                    let arn = format!("arn:aws:ec2:{region}:{account}:instance/i-{}", rng.below(2));
                    (None, arn.clone(), arn)
                }
            };
            resources.push(resource);
        }
        let event_id = format!("00000000-0000-4000-8000-{i:012}");
        let mut record = json!({
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": event_time_text(time_ms),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": "192.0.2.1",
            "userAgent": "aws-cli/2",
            "requestParameters": {"n": i},
            "responseElements": null,
            "requestID": format!("req-{i}"),
            "eventID": event_id,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": account,
            "eventCategory": "Management",
        });
        if let Some(read_only) = read_only {
            record["readOnly"] = json!(read_only);
        }
        if !resources.is_empty() {
            record["resources"] = resources
                .iter()
                .map(|(kind, arn, _)| match kind {
                    Some(kind) => json!({"accountId": account, "type": kind, "ARN": arn}),
                    None => json!({"accountId": account, "ARN": arn}),
                })
                .collect();
        }
        out.push(Synth {
            seq,
            event_id,
            account,
            region,
            time_ms,
            insight: false,
            event_name: Some(name.to_string()),
            event_source: Some(source.to_string()),
            read_only,
            username,
            access_key_id,
            resources,
            json: serde_json::to_string(&record).expect("serialize"),
        });
    }
    for (i, (account, region)) in [
        (ACCOUNTS[0], REGIONS[0]),
        (ACCOUNTS[0], REGIONS[0]),
        (ACCOUNTS[1], REGIONS[1]),
    ]
    .into_iter()
    .enumerate()
    {
        let time_ms = now_ms - (i as i64 + 1) * 3_600_000;
        let event_id = format!("11111111-0000-4000-8000-{i:012}");
        let record = json!({
            "eventVersion": "1.07", "eventTime": event_time_text(time_ms), "awsRegion": region,
            "eventID": event_id, "eventType": "AwsCloudTrailInsight", "recipientAccountId": account,
            "sharedEventID": "shared-1",
            "insightDetails": {"state": "Start", "eventSource": "s3.amazonaws.com", "eventName": "CreateBucket",
                               "insightType": "ApiCallRateInsight"},
            "eventCategory": "Insight",
        });
        out.push(Synth {
            seq: 5000 + i as u64,
            event_id,
            account: account.into(),
            region: region.into(),
            time_ms,
            insight: true,
            event_name: Some("CreateBucket".into()),
            event_source: Some("s3.amazonaws.com".into()),
            read_only: None,
            username: None,
            access_key_id: None,
            resources: Vec::new(),
            json: serde_json::to_string(&record).expect("serialize"),
        });
    }
    out.sort_by_key(|s| s.seq);
    out
}

/// Journal entries that must all be skipped, with seqs after the synthetic ones.
fn junk(synth: &[Synth], now_ms: i64) -> Vec<(u64, Vec<u8>)> {
    let data_event = json!({
        "eventVersion": "1.09", "userIdentity": {"type":"Root","accountId":ACCOUNTS[0]},
        "eventTime": event_time_text(now_ms), "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
        "awsRegion": REGIONS[0], "eventID": "data-1", "eventType": "AwsApiCall", "readOnly": true,
        "managementEvent": false, "recipientAccountId": ACCOUNTS[0], "eventCategory": "Data",
    });
    let too_old = json!({
        "eventVersion": "1.09", "userIdentity": {"type":"Root","accountId":ACCOUNTS[0]},
        "eventTime": event_time_text(now_ms - 100 * DAY_MS), "eventSource": "s3.amazonaws.com",
        "eventName": "CreateBucket", "awsRegion": REGIONS[0], "eventID": "old-1", "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNTS[0], "eventCategory": "Management",
    });
    // Same eventID as an indexed record but other content: still a duplicate.
    let mut altered: serde_json::Value = serde_json::from_str(&synth[7].json).expect("json");
    altered["eventName"] = json!("Altered");
    vec![
        (9000, serde_json::to_vec(&data_event).expect("json")),
        (9001, b"this is not json".to_vec()),
        (9002, vec![0xff, 0x00, 0x7b]),
        (9003, synth[5].json.clone().into_bytes()),
        (9004, serde_json::to_vec(&altered).expect("json")),
        (9005, serde_json::to_vec(&too_old).expect("json")),
        (9006, br#"{"Records":[]}"#.to_vec()),
    ]
}

fn entries(synth: &[Synth], junk: &[(u64, Vec<u8>)]) -> Vec<(u64, Vec<u8>)> {
    let mut all: Vec<(u64, Vec<u8>)> = synth
        .iter()
        .map(|s| (s.seq, s.json.clone().into_bytes()))
        .collect();
    all.extend(junk.iter().cloned());
    all.sort_by_key(|e| e.0);
    all
}

fn index_all(history: &History, entries: &[(u64, Vec<u8>)], batch: usize) -> IndexStats {
    let mut total = IndexStats::default();
    for chunk in entries.chunks(batch) {
        let borrowed: Vec<(u64, &[u8])> = chunk
            .iter()
            .map(|(seq, bytes)| (*seq, bytes.as_slice()))
            .collect();
        let stats = history.index(&borrowed).expect("index");
        total.indexed += stats.indexed;
        total.skipped += stats.skipped;
    }
    total
}

fn query(account: &str, region: &str) -> LookupQuery {
    LookupQuery {
        account_id: account.into(),
        region: region.into(),
        attribute: None,
        start_ms: None,
        end_ms: None,
        insight: false,
        max_results: 50,
        next_token: None,
    }
}

/// Every event of `query`, following next tokens; asserts pages are full but the last.
fn all_pages(history: &History, query: &LookupQuery) -> Vec<HistoryEvent> {
    let mut query = query.clone();
    let mut events = Vec::new();
    for _ in 0..10_000 {
        let LookupPage {
            events: page,
            next_token,
        } = history.lookup(&query).expect("lookup");
        assert!(page.len() <= query.max_results);
        if next_token.is_some() {
            assert_eq!(
                page.len(),
                query.max_results,
                "a page with a token must be full"
            );
        }
        events.extend(page);
        match next_token {
            Some(token) => query.next_token = Some(token),
            None => return events,
        }
    }
    panic!("pagination did not end");
}

/// The expected result of `query` over `synth`, newest first, ties by seq descending.
fn expected(synth: &[Synth], query: &LookupQuery) -> Vec<String> {
    let mut hits: Vec<&Synth> = synth
        .iter()
        .filter(|s| {
            s.account == query.account_id && s.region == query.region && s.insight == query.insight
        })
        .filter(|s| query.start_ms.is_none_or(|start| s.time_ms >= start))
        .filter(|s| query.end_ms.is_none_or(|end| s.time_ms <= end))
        .filter(|s| match &query.attribute {
            Some((key, value)) => s.attribute_values(*key).contains(value),
            None => true,
        })
        .collect();
    hits.sort_by(|a, b| b.time_ms.cmp(&a.time_ms).then(b.seq.cmp(&a.seq)));
    hits.into_iter().map(|s| s.event_id.clone()).collect()
}

fn ids(events: &[HistoryEvent]) -> Vec<String> {
    events.iter().map(|e| e.event_id.clone()).collect()
}

fn check_event_fields(synth: &[Synth], events: &[HistoryEvent]) {
    for event in events {
        let s = synth
            .iter()
            .find(|s| s.event_id == event.event_id)
            .expect("known event");
        assert_eq!(event.cloudtrail_event, s.json);
        assert_eq!(event.event_time_ms, s.time_ms);
        assert_eq!(event.event_name, s.event_name);
        assert_eq!(event.event_source, s.event_source);
        assert_eq!(event.read_only, s.read_only.map(|b| b.to_string()));
        assert_eq!(event.username, s.username);
        assert_eq!(event.access_key_id, s.access_key_id);
        let resources: Vec<(Option<String>, Option<String>)> = event
            .resources
            .iter()
            .map(|r| (r.resource_type.clone(), r.resource_name.clone()))
            .collect();
        let want: Vec<(Option<String>, Option<String>)> = s
            .resources
            .iter()
            .map(|r| (r.0.clone(), Some(r.2.clone())))
            .collect();
        assert_eq!(resources, want);
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    history: History,
    synth: Vec<Synth>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let history = History::open(dir.path(), HistoryConfig::default()).expect("open");
    let now = now_s_ms();
    let synth = synthetic(400, now);
    let junk = junk(&synth, now);
    let entries = entries(&synth, &junk);
    let stats = index_all(&history, &entries, 64);
    assert_eq!(
        stats,
        IndexStats {
            indexed: synth.len() as u64,
            skipped: junk.len() as u64
        }
    );
    Fixture {
        _dir: dir,
        history,
        synth,
    }
}

#[test]
fn every_attribute_returns_exactly_the_matching_events_newest_first() {
    let Fixture { history, synth, .. } = fixture();
    assert_eq!(history.len(), synth.len() as u64);
    let mut lookups = 0;
    for account in ACCOUNTS {
        for region in REGIONS {
            for insight in [false, true] {
                let mut base = query(account, region);
                base.insight = insight;
                let events = all_pages(&history, &base);
                assert_eq!(
                    ids(&events),
                    expected(&synth, &base),
                    "{account} {region} insight={insight}"
                );
                check_event_fields(&synth, &events);
                for key in LookupAttributeKey::ALL {
                    let mut values: BTreeSet<String> =
                        synth.iter().flat_map(|s| s.attribute_values(key)).collect();
                    values.insert("no-such-value".into());
                    // Exact match: a prefix or another case must not match.
                    values.insert("CreateBuck".into());
                    values.insert("createbucket".into());
                    if key == LookupAttributeKey::EventId {
                        // Every eventID of this scope plus a few of others.
                        values = values.into_iter().step_by(7).collect();
                    }
                    for value in values {
                        let mut q = base.clone();
                        q.attribute = Some((key, value.clone()));
                        let events = all_pages(&history, &q);
                        assert_eq!(
                            ids(&events),
                            expected(&synth, &q),
                            "{key:?}={value} {account} {region}"
                        );
                        lookups += 1;
                    }
                }
            }
        }
    }
    assert!(lookups > 100);
    // Spot checks that the oracle itself is not trivially empty.
    let mut q = query(ACCOUNTS[0], REGIONS[0]);
    q.attribute = Some((LookupAttributeKey::ResourceName, "bucket-1".into()));
    assert!(!expected(&synth, &q).is_empty());
    q.attribute = Some((
        LookupAttributeKey::ResourceName,
        "arn:aws:s3:::bucket-1".into(),
    ));
    assert_eq!(expected(&synth, &q), ids(&all_pages(&history, &q)));
    assert!(!expected(&synth, &q).is_empty());
}

#[test]
fn pages_of_any_size_give_the_same_sequence_without_duplicates() {
    let Fixture { history, synth, .. } = fixture();
    for attribute in [
        None,
        Some((LookupAttributeKey::ReadOnly, "true".to_string())),
    ] {
        let mut q = query(ACCOUNTS[1], REGIONS[0]);
        q.attribute = attribute;
        let want = expected(&synth, &q);
        let needed = if q.attribute.is_none() { 50 } else { 7 };
        assert!(
            want.len() > needed,
            "need more than one page of {needed}, got {}",
            want.len()
        );
        for max_results in [1, 7, 50] {
            q.max_results = max_results;
            let got = ids(&all_pages(&history, &q));
            assert_eq!(got, want, "max_results {max_results}");
            let unique: HashSet<&String> = got.iter().collect();
            assert_eq!(unique.len(), got.len());
        }
    }
    // Ties: many events share a second; the order among them is seq descending.
    let times: Vec<i64> = synth.iter().map(|s| s.time_ms).collect();
    let distinct: HashSet<i64> = times.iter().copied().collect();
    assert!(distinct.len() < times.len() / 2);
}

#[test]
fn tampered_or_mismatched_tokens_are_rejected() {
    let Fixture { history, .. } = fixture();
    let mut q = query(ACCOUNTS[0], REGIONS[0]);
    q.max_results = 5;
    let first = history.lookup(&q).expect("lookup");
    let token = first.next_token.expect("more than one page");

    // Reusing the token with another page size is allowed.
    let mut other_size = q.clone();
    other_size.max_results = 3;
    other_size.next_token = Some(token.clone());
    let page = history.lookup(&other_size).expect("same parameters");
    assert_eq!(page.events.len(), 3);
    assert!(!ids(&first.events).contains(&page.events[0].event_id));

    let mut bad = Vec::new();
    let mut tampered = token.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    bad.push(String::from_utf8(tampered).expect("ascii"));
    bad.push("garbage!".to_string());
    bad.push(String::new());
    bad.push(format!("{token}AA"));
    for token in bad {
        let mut with = q.clone();
        with.next_token = Some(token.clone());
        assert!(
            matches!(
                history.lookup(&with),
                Err(HistoryError::InvalidNextToken(_))
            ),
            "{token}"
        );
    }
    let mut changes = Vec::new();
    let mut c = q.clone();
    c.region = REGIONS[1].into();
    changes.push(c);
    let mut c = q.clone();
    c.account_id = ACCOUNTS[1].into();
    changes.push(c);
    let mut c = q.clone();
    c.attribute = Some((LookupAttributeKey::EventName, "CreateBucket".into()));
    changes.push(c);
    let mut c = q.clone();
    c.start_ms = Some(1);
    changes.push(c);
    let mut c = q.clone();
    c.end_ms = Some(i64::MAX);
    changes.push(c);
    let mut c = q.clone();
    c.insight = true;
    changes.push(c);
    for mut changed in changes {
        changed.next_token = Some(token.clone());
        assert!(
            matches!(
                history.lookup(&changed),
                Err(HistoryError::InvalidNextToken(_))
            ),
            "{changed:?}"
        );
    }
}

#[test]
fn time_ranges_are_inclusive() {
    let Fixture { history, synth, .. } = fixture();
    let scope: Vec<&Synth> = synth
        .iter()
        .filter(|s| s.account == ACCOUNTS[0] && s.region == REGIONS[1] && !s.insight)
        .collect();
    let mut times: Vec<i64> = scope.iter().map(|s| s.time_ms).collect();
    times.sort();
    times.dedup();
    assert!(times.len() > 10);
    let (start, end) = (times[3], times[times.len() - 4]);
    let mut q = query(ACCOUNTS[0], REGIONS[1]);
    for (start_ms, end_ms) in [
        (Some(start), Some(end)),
        (Some(start), None),
        (None, Some(end)),
        (Some(start), Some(start)),
        (Some(end + 1), Some(end)),
    ] {
        q.start_ms = start_ms;
        q.end_ms = end_ms;
        let got = ids(&all_pages(&history, &q));
        let want = expected(&synth, &q);
        assert_eq!(got, want, "{start_ms:?}..={end_ms:?}");
        if start_ms.is_some() && start_ms <= end_ms {
            let first_and_last = [start_ms, end_ms].map(|t| t.expect("bound"));
            for bound in first_and_last {
                assert!(
                    got.iter().any(|id| scope
                        .iter()
                        .any(|s| &s.event_id == id && s.time_ms == bound)),
                    "an event exactly at {bound} must be included"
                );
            }
        }
    }
    q.start_ms = Some(end + 1);
    q.end_ms = Some(end);
    assert!(history.lookup(&q).expect("lookup").events.is_empty());
}

#[test]
fn reopen_keeps_everything_and_reindexing_adds_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = now_s_ms();
    let synth = synthetic(300, now);
    let junk = junk(&synth, now);
    let entries = entries(&synth, &junk);
    let last_seq = entries.last().expect("entries").0;
    let q = query(ACCOUNTS[1], REGIONS[1]);
    let before;
    {
        let history = History::open(dir.path(), HistoryConfig::default()).expect("open");
        assert_eq!(history.applied_seq(), 0);
        index_all(&history, &entries, 100);
        assert_eq!(history.applied_seq(), last_seq);
        before = ids(&all_pages(&history, &q));
        assert_eq!(before, expected(&synth, &q));
        history.flush().expect("flush");
    }
    let history = History::open(dir.path(), HistoryConfig::default()).expect("reopen");
    assert_eq!(history.applied_seq(), last_seq);
    assert_eq!(history.len(), synth.len() as u64);
    assert_eq!(ids(&all_pages(&history, &q)), before);

    // A replay (crash recovery) of everything, in other batch sizes: nothing new.
    let stats = index_all(&history, &entries, 37);
    assert_eq!(
        stats,
        IndexStats {
            indexed: 0,
            skipped: entries.len() as u64
        }
    );
    assert_eq!(history.len(), synth.len() as u64);
    assert_eq!(history.applied_seq(), last_seq);
    assert_eq!(ids(&all_pages(&history, &q)), before);
    let mut by_id = q.clone();
    by_id.attribute = Some((LookupAttributeKey::EventId, before[0].clone()));
    assert_eq!(ids(&all_pages(&history, &by_id)), vec![before[0].clone()]);

    // Replay without flush: nothing was lost across a clean drop either.
    drop(history);
    let history = History::open(dir.path(), HistoryConfig::default()).expect("reopen again");
    assert_eq!(history.applied_seq(), last_seq);
    assert_eq!(history.len(), synth.len() as u64);
}

#[test]
fn unknown_format_versions_are_refused() {
    // 1 is the layout before posting blocks, 2 the one before event pages, 3 the one before
    // hashed eventID keys; 999 one from the future.
    for version in ["1", "2", "3", "999"] {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(History::open(dir.path(), HistoryConfig::default()).expect("open"));
        {
            let db = fjall::Database::builder(dir.path())
                .open()
                .expect("raw open");
            let meta = db
                .keyspace("meta", fjall::KeyspaceCreateOptions::default)
                .expect("meta");
            meta.insert("format_version", version).expect("write");
            db.persist(fjall::PersistMode::SyncAll).expect("persist");
        }
        match History::open(dir.path(), HistoryConfig::default()) {
            Err(err @ HistoryError::UnsupportedFormat { .. }) => {
                let text = err.to_string();
                let expected = format!("reads only version {FORMAT_VERSION}");
                assert!(
                    text.contains(&format!("format version {version},"))
                        && text.contains(&expected),
                    "{text}"
                );
            }
            Err(other) => panic!("wrong error: {other}"),
            Ok(_) => panic!("opened an index of format version {version}"),
        }
    }
}

#[test]
fn retention_hides_and_removes_old_days() {
    let dir = tempfile::tempdir().expect("tempdir");
    let history = History::open(dir.path(), HistoryConfig { retention_days: 30 }).expect("open");
    let now = now_s_ms();
    let record = |i: u64, days_ago: i64| {
        let text = json!({
            "eventVersion": "1.09", "userIdentity": {"type":"Root","accountId":ACCOUNTS[0]},
            "eventTime": event_time_text(now - days_ago * DAY_MS), "eventSource": "s3.amazonaws.com",
            "eventName": "CreateBucket", "awsRegion": REGIONS[0], "eventID": format!("ret-{i}"),
            "eventType": "AwsApiCall", "recipientAccountId": ACCOUNTS[0], "eventCategory": "Management",
        });
        (i, serde_json::to_vec(&text).expect("json"))
    };
    // Days ago: 31 is already out of retention when indexed.
    let ages = [31, 25, 20, 20, 10, 2, 0];
    let entries: Vec<(u64, Vec<u8>)> = ages
        .iter()
        .enumerate()
        .map(|(i, age)| record(i as u64 + 1, *age))
        .collect();
    let stats = index_all(&history, &entries, 10);
    assert_eq!(
        stats,
        IndexStats {
            indexed: 6,
            skipped: 1
        }
    );
    let q = query(ACCOUNTS[0], REGIONS[0]);
    assert_eq!(
        ids(&all_pages(&history, &q)),
        ["ret-7", "ret-6", "ret-5", "ret-4", "ret-3", "ret-2"]
    );

    // Fifteen days later everything older than 15 days ago goes.
    let removed = history
        .enforce_retention(now + 15 * DAY_MS)
        .expect("retention");
    assert_eq!(removed, 3);
    assert_eq!(history.len(), 3);
    assert_eq!(ids(&all_pages(&history, &q)), ["ret-7", "ret-6", "ret-5"]);
    let mut by_id = q.clone();
    by_id.attribute = Some((LookupAttributeKey::EventId, "ret-2".into()));
    assert!(all_pages(&history, &by_id).is_empty());

    // Expired records are not re-indexed; the dedupe entries of dropped days are gone, so a
    // new record reusing such an eventID is indexed.
    assert_eq!(
        index_all(&history, &entries, 10),
        IndexStats {
            indexed: 0,
            skipped: 7
        }
    );
    let mut reused: serde_json::Value = serde_json::from_slice(&record(2, 0).1).expect("json");
    reused["eventTime"] = json!(event_time_text(now));
    let reused = vec![(100, serde_json::to_vec(&reused).expect("json"))];
    assert_eq!(
        index_all(&history, &reused, 10),
        IndexStats {
            indexed: 1,
            skipped: 0
        }
    );
    assert_eq!(ids(&all_pages(&history, &by_id)), ["ret-2"]);

    // The cutoff survives a reopen; the disk space of dropped days is gone.
    history.flush().expect("flush");
    drop(history);
    let history = History::open(dir.path(), HistoryConfig { retention_days: 30 }).expect("reopen");
    assert_eq!(history.len(), 4);
    assert_eq!(
        ids(&all_pages(&history, &q)),
        ["ret-2", "ret-7", "ret-6", "ret-5"]
    );
    // Retention is idempotent.
    assert_eq!(
        history.enforce_retention(now + 15 * DAY_MS).expect("again"),
        0
    );
}

/// The `Records` of an AWS log file and the JSON arrays of the stratus-red-team files, each
/// record as its exact original text.
fn real_records() -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct LogFile<'a> {
        #[serde(rename = "Records", borrow)]
        records: Vec<&'a serde_json::value::RawValue>,
    }
    let dir = Path::new(&manifest_dir()).join("../../tests/data/cloudtrail-examples");
    let text = fs_err::read_to_string(dir.join("aws-docs-example-records.json")).expect("examples");
    let file: LogFile<'_> = serde_json::from_str(&text).expect("log file");
    let mut out: Vec<String> = file.records.iter().map(|r| r.get().to_owned()).collect();
    let mut paths: Vec<_> = fs_err::read_dir(dir.join("stratus-red-team"))
        .expect("stratus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let text = fs_err::read_to_string(&path).expect("stratus file");
        let records: Vec<&serde_json::value::RawValue> =
            serde_json::from_str(&text).expect("array");
        out.extend(records.iter().map(|r| r.get().to_owned()));
    }
    out
}

#[test]
fn real_records_index_and_come_back_verbatim() {
    let records = real_records();
    assert!(records.len() > 300);
    let dir = tempfile::tempdir().expect("tempdir");
    // The examples are years old: keep a century.
    let history = History::open(
        dir.path(),
        HistoryConfig {
            retention_days: 36_500,
        },
    )
    .expect("open");
    let entries: Vec<(u64, Vec<u8>)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (i as u64 + 1, r.clone().into_bytes()))
        .collect();
    let stats = index_all(&history, &entries, 50);

    // Independent expectation from the model's full parse.
    let mut seen = HashSet::new();
    let mut want = Vec::new();
    for text in &records {
        let Ok(record) = serde_json::from_str::<opentrail_model::Record>(text) else {
            continue;
        };
        let keep = matches!(
            record.category(),
            opentrail_model::EventCategory::Management | opentrail_model::EventCategory::Insight
        );
        if keep && record.account_id().is_some() && seen.insert(record.event_id.clone()) {
            want.push((record, text.clone()));
        }
    }
    assert!(want.len() > 250, "{}", want.len());
    assert_eq!(stats.indexed, want.len() as u64);
    assert_eq!(stats.indexed + stats.skipped, records.len() as u64);
    assert_eq!(history.len(), want.len() as u64);

    for (record, text) in &want {
        let mut q = query(record.account_id().expect("account"), &record.aws_region);
        q.insight = record.category() == opentrail_model::EventCategory::Insight;
        q.attribute = Some((LookupAttributeKey::EventId, record.event_id.clone()));
        let page = history.lookup(&q).expect("lookup");
        assert_eq!(page.events.len(), 1, "{}", record.event_id);
        let event = &page.events[0];
        assert_eq!(&event.cloudtrail_event, text);
        assert_eq!(
            event.event_name,
            record.event_name.clone().or_else(|| {
                record
                    .insight_details
                    .as_ref()?
                    .get("eventName")?
                    .as_str()
                    .map(str::to_owned)
            })
        );
        assert_eq!(
            event.username,
            record
                .user_identity
                .as_ref()
                .and_then(|u| u.lookup_username())
        );
        assert_eq!(
            event.event_time_ms,
            opentrail_model::time::parse_event_time_ms(&record.event_time).expect("time")
        );
    }
    // Insights records are found by the API they are about, only with insight = true.
    let insight = want
        .iter()
        .find(|(r, _)| r.category() == opentrail_model::EventCategory::Insight)
        .map(|(r, _)| r.clone())
        .expect("an insight record");
    let mut q = query(insight.account_id().expect("account"), &insight.aws_region);
    q.attribute = Some((
        LookupAttributeKey::EventName,
        "CompleteLifecycleAction".into(),
    ));
    assert!(all_pages(&history, &q).is_empty());
    q.insight = true;
    assert!(ids(&all_pages(&history, &q)).contains(&insight.event_id));
}

#[test]
fn concurrent_indexing_and_lookups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let history =
        std::sync::Arc::new(History::open(dir.path(), HistoryConfig::default()).expect("open"));
    let synth = synthetic(300, now_s_ms());
    let entries = entries(&synth, &[]);
    let writer = {
        let history = history.clone();
        std::thread::spawn(move || index_all(&history, &entries, 10))
    };
    let q = query(ACCOUNTS[0], REGIONS[0]);
    let mut seen_max = 0;
    while !writer.is_finished() {
        let events = all_pages(&history, &q);
        let unique: HashSet<&String> = events.iter().map(|e| &e.event_id).collect();
        assert_eq!(unique.len(), events.len());
        seen_max = seen_max.max(events.len());
    }
    let stats = writer.join().expect("writer thread");
    assert_eq!(stats.indexed, synth.len() as u64);
    let all = ids(&all_pages(&history, &q));
    assert_eq!(all, expected(&synth, &q));
    assert!(seen_max <= all.len());
}

#[test]
fn a_token_survives_retention_passing_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let history = History::open(dir.path(), HistoryConfig::default()).expect("open");
    let synth = synthetic(120, now_s_ms());
    index_all(&history, &entries(&synth, &[]), 50);
    let mut q = query(ACCOUNTS[0], REGIONS[0]);
    q.max_results = 1;
    let token = history
        .lookup(&q)
        .expect("lookup")
        .next_token
        .expect("token");
    // Everything expires; the old token now points below the lower bound.
    assert!(
        history
            .enforce_retention(now_s_ms() + 200 * DAY_MS)
            .expect("retention")
            > 0
    );
    assert_eq!(history.len(), 0);
    q.next_token = Some(token);
    let page = history.lookup(&q).expect("lookup after retention");
    assert!(page.events.is_empty() && page.next_token.is_none());
}

/// Batches whose blocks overlap in time (an import of shuffled logs): several blocks of one
/// posting share an hour, ties abound, and time bounds and page ends fall inside blocks.
/// Every query must still return exactly the matching events, newest first.
#[test]
fn overlapping_batches_merge_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let history = History::open(dir.path(), HistoryConfig::default()).expect("open");
    let now = now_s_ms();
    let mut synth = synthetic(600, now);
    // Squeeze every time into a quarter hour (many ties), then index in a shuffled order.
    let hour_start = now - now.rem_euclid(3_600_000) - 3_600_000;
    for s in &mut synth {
        let squeezed = hour_start + (s.time_ms - now).rem_euclid(900) * 1000;
        let mut record: serde_json::Value = serde_json::from_str(&s.json).expect("json");
        record["eventTime"] = json!(event_time_text(squeezed));
        s.json = serde_json::to_string(&record).expect("json");
        s.time_ms = squeezed;
    }
    let mut rng = Rng(0xDEAD_BEEF);
    let mut order: Vec<usize> = (0..synth.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut start = 0;
    while start < order.len() {
        let len = (1 + rng.below(90) as usize).min(order.len() - start);
        let mut batch: Vec<(u64, &[u8])> = order[start..start + len]
            .iter()
            .map(|&i| (synth[i].seq, synth[i].json.as_bytes()))
            .collect();
        batch.sort_by_key(|e| e.0);
        history.index(&batch).expect("index");
        start += len;
    }
    assert_eq!(history.len(), synth.len() as u64);

    let mut checked = 0;
    for _ in 0..150 {
        let account = ACCOUNTS[rng.below(2) as usize];
        let region = REGIONS[rng.below(2) as usize];
        let mut q = query(account, region);
        q.insight = rng.below(10) == 0;
        q.max_results = [1, 3, 7, 50][rng.below(4) as usize];
        if rng.below(3) > 0 {
            let key = *rng.pick(&LookupAttributeKey::ALL);
            let values: Vec<String> = synth.iter().flat_map(|s| s.attribute_values(key)).collect();
            q.attribute = Some((key, rng.pick(&values).clone()));
        }
        if rng.below(2) == 0 {
            q.start_ms = Some(hour_start + rng.below(900) as i64 * 1000);
        }
        if rng.below(2) == 0 {
            q.end_ms = Some(hour_start + rng.below(900) as i64 * 1000);
        }
        let want = expected(&synth, &q);
        checked += want.len();
        assert_eq!(ids(&all_pages(&history, &q)), want, "{q:?}");
    }
    assert!(checked > 500, "only {checked} events expected in all");
}

/// The crate's directory where the tests run (read when they run: a test binary may have been
/// built from a checkout at another path).
fn manifest_dir() -> String {
    std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())
}
