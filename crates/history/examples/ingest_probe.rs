//! A quick probe of indexing throughput and lookup latency of the history index, for tuning
//! the on-disk layout (the official benchmarks live in `opentrail-bench`).
//!
//! Run with: `cargo run --release -p opentrail-history --example ingest_probe`
//!
//! Indexes `PROBE_EVENTS` (default 1,000,000) synthetic ~1 KB management records — 40 event
//! names with a skewed popularity, 200 users behind 50 access keys, two regions, resources on
//! about half of them — spread evenly over the last `PROBE_DAYS` (default 30) days in journal
//! order, in batches of 4,096 (the history worker's batch). It reports the index rate (wall
//! time of `History::index` and the process CPU time it took, background flushes and
//! compactions included), then runs `PROBE_QUERIES` (default 200) lookups per attribute kind
//! and for time ranges, following one `NextToken` each, and reports p50/p99/max. The index
//! lives under `PROBE_DIR` when set, else the system temporary directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use opentrail_history::{History, HistoryConfig, LookupAttributeKey, LookupQuery};

const BATCH: usize = 4_096;
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
const ACCOUNT: &str = "123456789012";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const USERS: u64 = 200;
const KEYS: u64 = 50;

/// (source, name, read-only, resource kind index or none)
const APIS: [(&str, &str, bool, Option<usize>); 40] = [
    ("sts.amazonaws.com", "AssumeRole", true, Some(3)),
    ("kms.amazonaws.com", "Decrypt", true, Some(4)),
    ("ec2.amazonaws.com", "DescribeInstances", true, None),
    ("sts.amazonaws.com", "GetCallerIdentity", true, None),
    ("kms.amazonaws.com", "GenerateDataKey", true, Some(4)),
    ("s3.amazonaws.com", "GetBucketAcl", true, Some(0)),
    ("s3.amazonaws.com", "ListBuckets", true, None),
    ("ec2.amazonaws.com", "DescribeSecurityGroups", true, None),
    ("s3.amazonaws.com", "GetBucketLocation", true, Some(0)),
    ("lambda.amazonaws.com", "ListFunctions20150331", true, None),
    ("iam.amazonaws.com", "GetRole", true, Some(3)),
    ("logs.amazonaws.com", "DescribeLogGroups", true, None),
    ("dynamodb.amazonaws.com", "DescribeTable", true, Some(5)),
    ("ec2.amazonaws.com", "DescribeVolumes", true, None),
    ("kms.amazonaws.com", "DescribeKey", true, Some(4)),
    ("iam.amazonaws.com", "ListRoles", true, None),
    ("cloudtrail.amazonaws.com", "LookupEvents", true, None),
    ("s3.amazonaws.com", "GetBucketPolicy", true, Some(0)),
    ("ec2.amazonaws.com", "DescribeSubnets", true, None),
    ("iam.amazonaws.com", "GetUser", true, Some(6)),
    ("lambda.amazonaws.com", "GetFunction", true, Some(7)),
    ("ec2.amazonaws.com", "DescribeVpcs", true, None),
    ("s3.amazonaws.com", "PutBucketTagging", false, Some(0)),
    ("ec2.amazonaws.com", "RunInstances", false, Some(1)),
    ("ec2.amazonaws.com", "StartInstances", false, Some(1)),
    ("ec2.amazonaws.com", "StopInstances", false, Some(1)),
    (
        "ec2.amazonaws.com",
        "AuthorizeSecurityGroupIngress",
        false,
        Some(2),
    ),
    ("iam.amazonaws.com", "CreateRole", false, Some(3)),
    ("iam.amazonaws.com", "AttachRolePolicy", false, Some(3)),
    ("s3.amazonaws.com", "CreateBucket", false, Some(0)),
    ("s3.amazonaws.com", "DeleteBucket", false, Some(0)),
    (
        "lambda.amazonaws.com",
        "UpdateFunctionCode20150331v2",
        false,
        Some(7),
    ),
    ("dynamodb.amazonaws.com", "UpdateTable", false, Some(5)),
    ("logs.amazonaws.com", "CreateLogGroup", false, Some(8)),
    ("kms.amazonaws.com", "CreateKey", false, Some(4)),
    ("iam.amazonaws.com", "CreateUser", false, Some(6)),
    ("iam.amazonaws.com", "CreateAccessKey", false, Some(6)),
    ("cloudtrail.amazonaws.com", "StopLogging", false, Some(9)),
    ("signin.amazonaws.com", "ConsoleLogin", false, None),
    ("ec2.amazonaws.com", "TerminateInstances", false, Some(1)),
];

/// (type, pool size)
const RESOURCES: [(&str, u64); 10] = [
    ("AWS::S3::Bucket", 300),
    ("AWS::EC2::Instance", 2_000),
    ("AWS::EC2::SecurityGroup", 150),
    ("AWS::IAM::Role", 100),
    ("AWS::KMS::Key", 20),
    ("AWS::DynamoDB::Table", 40),
    ("AWS::IAM::User", 200),
    ("AWS::Lambda::Function", 80),
    ("AWS::Logs::LogGroup", 120),
    ("AWS::CloudTrail::Trail", 3),
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf-like popularity over `n` ranks.
struct Skewed(Vec<f64>);

impl Skewed {
    fn new(n: usize) -> Skewed {
        let weights: Vec<f64> = (1..=n).map(|rank| 1.0 / (rank as f64).powf(1.1)).collect();
        let total: f64 = weights.iter().sum();
        let mut sum = 0.0;
        Skewed(
            weights
                .iter()
                .map(|w| {
                    sum += w / total;
                    sum
                })
                .collect(),
        )
    }
    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.0.partition_point(|c| *c < u).min(self.0.len() - 1)
    }
}

fn user_name(i: u64) -> String {
    format!("user-{i:03}")
}

fn access_key(i: u64) -> String {
    if i < 40 {
        format!("AKIAEXAMPLE{i:09}")
    } else {
        format!("ASIAEXAMPLE{i:09}")
    }
}

fn resource_name(kind: usize, i: u64) -> String {
    match kind {
        0 => format!("corp-data-{i:03}"),
        1 => format!("i-0{:016x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 4),
        2 => format!("sg-0{:016x}", i.wrapping_mul(0xC2B2_AE3D_27D4_EB4F) >> 4),
        3 => format!("app-role-{i:03}"),
        4 => format!("0000{i:04}-1111-4222-a333-444455556666"),
        5 => format!("orders-{i:02}"),
        6 => user_name(i),
        7 => format!("svc-{i:02}-handler"),
        8 => format!("/aws/lambda/svc-{i:03}"),
        _ => format!("org-trail-{i}"),
    }
}

fn resource_arn(kind: usize, i: u64, region: &str) -> String {
    let name = resource_name(kind, i);
    match kind {
        0 => format!("arn:aws:s3:::{name}"),
        1 => format!("arn:aws:ec2:{region}:{ACCOUNT}:instance/{name}"),
        2 => format!("arn:aws:ec2:{region}:{ACCOUNT}:security-group/{name}"),
        3 => format!("arn:aws:iam::{ACCOUNT}:role/{name}"),
        4 => format!("arn:aws:kms:{region}:{ACCOUNT}:key/{name}"),
        5 => format!("arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}"),
        6 => format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
        7 => format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"),
        8 => format!("arn:aws:logs:{region}:{ACCOUNT}:log-group:{name}"),
        _ => format!("arn:aws:cloudtrail:{region}:{ACCOUNT}:trail/{name}"),
    }
}

fn event_time(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    opentrail_model::time::format_event_time(at)
}

struct Generator {
    rng: Rng,
    apis: Skewed,
    users: Skewed,
}

impl Generator {
    fn record(&mut self, time_ms: i64, sample: &mut Vec<(String, String)>, keep: bool) -> Vec<u8> {
        let rng = &mut self.rng;
        let (source, name, read_only, resource) = APIS[self.apis.sample(rng)];
        let region = if rng.unit() < 0.7 {
            REGIONS[0]
        } else {
            REGIONS[1]
        };
        let user = self.users.sample(rng) as u64;
        let key = user % KEYS;
        let event_id = {
            let a = rng.next();
            let b = rng.next();
            format!(
                "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                a >> 32,
                (a >> 16) & 0xffff,
                a & 0xfff,
                b >> 52,
                b & 0xffff_ffff_ffff
            )
        };
        let request_id = format!("{:016X}{:016X}", rng.next(), rng.next());
        let identity = if key >= 40 {
            format!(
                r#"{{"type":"AssumedRole","principalId":"AROAEXAMPLE:{u}","arn":"arn:aws:sts::{ACCOUNT}:assumed-role/app-role-{r:03}/{u}","accountId":"{ACCOUNT}","accessKeyId":"{k}","sessionContext":{{"sessionIssuer":{{"type":"Role","principalId":"AROAEXAMPLE","arn":"arn:aws:iam::{ACCOUNT}:role/app-role-{r:03}","accountId":"{ACCOUNT}","userName":"app-role-{r:03}"}},"attributes":{{"creationDate":"{t}","mfaAuthenticated":"false"}}}}}}"#,
                u = user_name(user),
                r = user % 100,
                k = access_key(key),
                t = event_time(time_ms - 600_000),
            )
        } else {
            format!(
                r#"{{"type":"IAMUser","principalId":"AIDAEXAMPLE{user:09}","arn":"arn:aws:iam::{ACCOUNT}:user/{u}","accountId":"{ACCOUNT}","accessKeyId":"{k}","userName":"{u}"}}"#,
                u = user_name(user),
                k = access_key(key),
            )
        };
        let (parameters, resources) = match resource {
            Some(kind) if rng.unit() < 0.8 => {
                let (type_name, pool) = RESOURCES[kind];
                let index = rng.below(pool);
                let arn = resource_arn(kind, index, region);
                (
                    format!(
                        r#"{{"resourceName":"{}","includeDetails":true}}"#,
                        resource_name(kind, index)
                    ),
                    format!(
                        r#","resources":[{{"accountId":"{ACCOUNT}","type":"{type_name}","ARN":"{arn}"}}]"#
                    ),
                )
            }
            _ => (
                r#"{"maxResults":50,"filters":[]}"#.to_owned(),
                String::new(),
            ),
        };
        let error = if rng.unit() < 0.03 {
            r#""errorCode":"AccessDenied","errorMessage":"User is not authorized to perform this operation","#
        } else {
            ""
        };
        let json = format!(
            r#"{{"eventVersion":"1.11","userIdentity":{identity},"eventTime":"{time}","eventSource":"{source}","eventName":"{name}","awsRegion":"{region}","sourceIPAddress":"198.51.100.{ip}","userAgent":"aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.22 cmd/{name}",{error}"requestParameters":{parameters},"responseElements":null,"requestID":"{request_id}","eventID":"{event_id}","readOnly":{read_only}{resources},"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"{ACCOUNT}","eventCategory":"Management","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"{host}"}}}}"#,
            time = event_time(time_ms),
            ip = rng.below(250),
            host = source.replace(".amazonaws.com", &format!(".{region}.amazonaws.com")),
        );
        if keep {
            sample.push((event_id, region.to_owned()));
        }
        json.into_bytes()
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User + system CPU time of this process (all threads), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let Ok(stat) = fs_err::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the comm field: state is field 0, utime 11, stime 12 (clock ticks of 10 ms).
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// CPU time per thread name (all threads of this process), busiest first.
fn thread_cpu() -> Vec<(String, Duration)> {
    let mut by_name: std::collections::BTreeMap<String, Duration> = Default::default();
    let Ok(tasks) = fs_err::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    for task in tasks.filter_map(Result::ok) {
        let Ok(stat) = fs_err::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        *by_name.entry(name).or_default() += Duration::from_millis((ticks(11) + ticks(12)) * 10);
    }
    let mut out: Vec<(String, Duration)> = by_name.into_iter().collect();
    out.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    out
}

fn memory(field: &str) -> String {
    fs_err::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l[field.len()..].trim().to_owned())
        })
        .unwrap_or_default()
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => dir_bytes(&entry.path()),
            _ => entry.metadata().map_or(0, |meta| meta.len()),
        })
        .sum()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events = env_usize("PROBE_EVENTS", 1_000_000);
    let days = env_usize("PROBE_DAYS", 30) as i64;
    let queries = env_usize("PROBE_QUERIES", 200);
    let base: PathBuf = std::env::var_os("PROBE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(&base)?;
    let history = History::open(dir.path(), HistoryConfig::default())?;

    let last_ms = opentrail_model::time::now_ms() - HOUR_MS;
    let first_ms = last_ms - days * DAY_MS;
    let step = (days * DAY_MS) as f64 / events as f64;
    let mut generator = Generator {
        rng: Rng(7),
        apis: Skewed::new(APIS.len()),
        users: Skewed::new(USERS as usize),
    };
    let mut sample = Vec::new();
    let sample_every = (events / 2_000).max(1);
    let mut indexing = Duration::ZERO;
    let mut indexing_cpu = Duration::ZERO;
    let mut bytes = 0usize;
    let mut indexed = 0u64;
    let mut seq = 0u64;
    let mut batch: Vec<(u64, Vec<u8>)> = Vec::with_capacity(BATCH);
    let started = Instant::now();
    let started_cpu = cpu_time();
    while (seq as usize) < events {
        batch.clear();
        while batch.len() < BATCH && (seq as usize) < events {
            let time_ms = first_ms + (seq as f64 * step) as i64;
            let keep = (seq as usize).is_multiple_of(sample_every);
            let json = generator.record(time_ms, &mut sample, keep);
            seq += 1;
            bytes += json.len();
            batch.push((seq, json));
        }
        let entries: Vec<(u64, &[u8])> = batch.iter().map(|(s, j)| (*s, j.as_slice())).collect();
        let cpu = cpu_time();
        let at = Instant::now();
        indexed += history.index(&entries)?.indexed;
        indexing += at.elapsed();
        indexing_cpu += cpu_time().saturating_sub(cpu);
    }
    let flush_at = Instant::now();
    history.flush()?;
    let flushing = flush_at.elapsed();
    let total = started.elapsed();
    let total_cpu = cpu_time().saturating_sub(started_cpu);
    println!("events indexed        {indexed} of {events}");
    println!("mean record size      {} bytes", bytes / events.max(1));
    println!(
        "index rate            {:.0} records/s (History::index wall time {:.2} s)",
        indexed as f64 / indexing.as_secs_f64(),
        indexing.as_secs_f64()
    );
    println!(
        "index CPU             {:.2} us/record (process CPU during History::index, all threads)",
        indexing_cpu.as_secs_f64() * 1e6 / indexed.max(1) as f64
    );
    println!(
        "overall               {:.0} records/s incl. generation; process CPU {:.2} s; flush {}",
        indexed as f64 / total.as_secs_f64(),
        total_cpu.as_secs_f64(),
        ms(flushing)
    );
    let threads: Vec<String> = thread_cpu()
        .iter()
        .map(|(name, cpu)| format!("{name} {:.2} s", cpu.as_secs_f64()))
        .collect();
    println!("CPU by thread         {}", threads.join(", "));
    println!(
        "memory                VmRSS {}, VmHWM {}",
        memory("VmRSS:"),
        memory("VmHWM:")
    );
    println!(
        "index on disk         {:.0} MB",
        dir_bytes(dir.path()) as f64 / 1e6
    );

    let mut rng = Rng(42);
    let apis = Skewed::new(APIS.len());
    let mut kinds: Vec<(String, Option<LookupAttributeKey>, Option<i64>)> = LookupAttributeKey::ALL
        .into_iter()
        .map(|k| (k.as_str().to_owned(), Some(k), None))
        .collect();
    kinds.push(("time range 1 h".to_owned(), None, Some(HOUR_MS)));
    kinds.push(("time range 1 d + attr".to_owned(), None, Some(DAY_MS)));
    kinds.push(("no attribute".to_owned(), None, None));
    println!(
        "{:<24}{:>6}{:>8}{:>11}{:>11}{:>11}{:>11}{:>11}",
        "query", "n", "hits", "p50", "p99", "max", "next p50", "next p99"
    );
    let mut all = Vec::new();
    for (label, key, window) in kinds {
        let mut first = Vec::new();
        let mut next = Vec::new();
        let mut hits = 0usize;
        for _ in 0..queries {
            let region = REGIONS[usize::from(rng.unit() >= 0.7)];
            let mut query = LookupQuery {
                account_id: ACCOUNT.to_owned(),
                region: region.to_owned(),
                attribute: None,
                start_ms: None,
                end_ms: None,
                insight: false,
                max_results: 50,
                next_token: None,
            };
            let value = |key: LookupAttributeKey, rng: &mut Rng| -> String {
                match key {
                    LookupAttributeKey::EventId => String::new(),
                    LookupAttributeKey::EventName => APIS[apis.sample(rng)].1.to_owned(),
                    LookupAttributeKey::ReadOnly => (rng.below(2) == 0).to_string(),
                    LookupAttributeKey::Username => user_name(rng.below(USERS)),
                    LookupAttributeKey::ResourceType => {
                        RESOURCES[rng.below(10) as usize].0.to_owned()
                    }
                    LookupAttributeKey::ResourceName => {
                        let kind = rng.below(10) as usize;
                        let index = rng.below(RESOURCES[kind].1);
                        if kind == 0 && rng.below(2) == 0 {
                            resource_name(kind, index)
                        } else {
                            resource_arn(kind, index, region)
                        }
                    }
                    LookupAttributeKey::EventSource => APIS[rng.below(40) as usize].0.to_owned(),
                    LookupAttributeKey::AccessKeyId => access_key(rng.below(KEYS)),
                }
            };
            match (key, window) {
                (Some(LookupAttributeKey::EventId), _) => {
                    let (id, region) = &sample[rng.below(sample.len() as u64) as usize];
                    query.region = region.clone();
                    query.attribute = Some((LookupAttributeKey::EventId, id.clone()));
                }
                (Some(key), _) => query.attribute = Some((key, value(key, &mut rng))),
                (None, Some(width)) => {
                    let start = first_ms + rng.below((last_ms - first_ms - width) as u64) as i64;
                    query.start_ms = Some(start);
                    query.end_ms = Some(start + width);
                    if width == DAY_MS {
                        let key = if rng.below(2) == 0 {
                            LookupAttributeKey::EventName
                        } else {
                            LookupAttributeKey::Username
                        };
                        query.attribute = Some((key, value(key, &mut rng)));
                    }
                }
                (None, None) => {}
            }
            let at = Instant::now();
            let page = history.lookup(&query)?;
            first.push(at.elapsed());
            hits += page.events.len();
            if let Some(token) = page.next_token {
                query.next_token = Some(token);
                let at = Instant::now();
                let page = history.lookup(&query)?;
                next.push(at.elapsed());
                hits += page.events.len();
            }
        }
        let pages = first.len() + next.len();
        all.extend_from_slice(&first);
        all.extend_from_slice(&next);
        first.sort();
        next.sort();
        println!(
            "{:<24}{:>6}{:>8.1}{:>11}{:>11}{:>11}{:>11}{:>11}",
            label,
            first.len(),
            hits as f64 / pages.max(1) as f64,
            ms(percentile(&first, 0.5)),
            ms(percentile(&first, 0.99)),
            ms(percentile(&first, 1.0)),
            ms(percentile(&next, 0.5)),
            ms(percentile(&next, 0.99)),
        );
    }
    all.sort();
    println!(
        "{:<24}{:>6}{:>8}{:>11}{:>11}{:>11}",
        "all pages",
        all.len(),
        "",
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99)),
        ms(percentile(&all, 1.0)),
    );
    println!(
        "memory after lookups  VmRSS {}, VmHWM {}",
        memory("VmRSS:"),
        memory("VmHWM:")
    );
    Ok(())
}
