//! Synthetic management events that look like a real account's CloudTrail: about 40 event
//! names with a skewed (Zipf-like) popularity, about 200 users behind 50 access keys, two
//! regions, resources on roughly half of the calls, a few failed calls. Every record is built
//! by the server's recorder ([`opentrail_server::recorder::build_record`]) from a
//! [`RequestContext`] and [`EventDetails`], as a real call would be; serialized records are
//! about 1 KB.
//!
//! Generation is deterministic for a seed (event and request ids aside, which are random).

use opentrail_core::context::{EventDetails, RequestContext};
use opentrail_model::{Identity, IdentityType, Record, Resource};
use opentrail_server::recorder::build_record;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// The account every synthetic event belongs to (the server's default account).
pub const ACCOUNT_ID: &str = opentrail_model::ids::DEFAULT_ACCOUNT_ID;
/// The regions events are spread over, with their share of the calls.
pub const REGIONS: [(&str, f64); 2] = [("us-east-1", 0.7), ("eu-west-1", 0.3)];
/// IAM users (and role session names).
pub const USERS: usize = 200;
/// Long-term (`AKIA…`) access keys used by IAM users.
pub const USER_KEYS: usize = 40;
/// Temporary (`ASIA…`) access keys used by assumed-role sessions.
pub const SESSION_KEYS: usize = 10;
/// Share of calls made by an assumed role rather than an IAM user.
const ASSUMED_ROLE_SHARE: f64 = 0.15;
/// Share of calls that fail with `AccessDenied`.
const ERROR_SHARE: f64 = 0.03;
/// Zipf exponent of event-name and user popularity.
const SKEW: f64 = 1.1;

/// The kind of resource an API acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceKind {
    Bucket,
    Instance,
    SecurityGroup,
    Role,
    User,
    Key,
    Function,
    Table,
    Trail,
    LogGroup,
}

impl ResourceKind {
    /// Every kind, in a fixed order.
    pub const ALL: [ResourceKind; 10] = [
        ResourceKind::Bucket,
        ResourceKind::Instance,
        ResourceKind::SecurityGroup,
        ResourceKind::Role,
        ResourceKind::User,
        ResourceKind::Key,
        ResourceKind::Function,
        ResourceKind::Table,
        ResourceKind::Trail,
        ResourceKind::LogGroup,
    ];

    /// The CloudFormation-style type name CloudTrail writes in `resources[].type`.
    pub fn type_name(self) -> &'static str {
        match self {
            ResourceKind::Bucket => "AWS::S3::Bucket",
            ResourceKind::Instance => "AWS::EC2::Instance",
            ResourceKind::SecurityGroup => "AWS::EC2::SecurityGroup",
            ResourceKind::Role => "AWS::IAM::Role",
            ResourceKind::User => "AWS::IAM::User",
            ResourceKind::Key => "AWS::KMS::Key",
            ResourceKind::Function => "AWS::Lambda::Function",
            ResourceKind::Table => "AWS::DynamoDB::Table",
            ResourceKind::Trail => "AWS::CloudTrail::Trail",
            ResourceKind::LogGroup => "AWS::Logs::LogGroup",
        }
    }

    /// How many distinct resources of this kind exist.
    pub fn pool(self) -> usize {
        match self {
            ResourceKind::Bucket => 300,
            ResourceKind::Instance => 2_000,
            ResourceKind::SecurityGroup => 150,
            ResourceKind::Role => 100,
            ResourceKind::User => USERS,
            ResourceKind::Key => 20,
            ResourceKind::Function => 80,
            ResourceKind::Table => 40,
            ResourceKind::Trail => 3,
            ResourceKind::LogGroup => 120,
        }
    }

    /// The short name of resource `index` (a bucket name, an instance id, …).
    pub fn name(self, index: usize) -> String {
        match self {
            ResourceKind::Bucket => format!("corp-data-{index:03}"),
            ResourceKind::Instance => format!("i-0{:016x}", mix(index as u64) >> 4),
            ResourceKind::SecurityGroup => format!("sg-0{:016x}", mix(index as u64 + 7) >> 4),
            ResourceKind::Role => format!("app-role-{index:03}"),
            ResourceKind::User => user_name(index),
            ResourceKind::Key => {
                let bits = mix(index as u64 + 99);
                format!(
                    "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                    bits >> 32,
                    (bits >> 16) & 0xffff,
                    bits & 0xfff,
                    (bits >> 20) & 0xfff,
                    mix(bits) & 0xffff_ffff_ffff
                )
            }
            ResourceKind::Function => format!("svc-{index:02}-handler"),
            ResourceKind::Table => format!("orders-{index:02}"),
            ResourceKind::Trail => format!("org-trail-{index}"),
            ResourceKind::LogGroup => format!("/aws/lambda/svc-{index:03}"),
        }
    }

    /// The ARN of resource `index` in `region`.
    pub fn arn(self, index: usize, region: &str) -> String {
        let name = self.name(index);
        match self {
            ResourceKind::Bucket => format!("arn:aws:s3:::{name}"),
            ResourceKind::Instance => format!("arn:aws:ec2:{region}:{ACCOUNT_ID}:instance/{name}"),
            ResourceKind::SecurityGroup => {
                format!("arn:aws:ec2:{region}:{ACCOUNT_ID}:security-group/{name}")
            }
            ResourceKind::Role => format!("arn:aws:iam::{ACCOUNT_ID}:role/{name}"),
            ResourceKind::User => format!("arn:aws:iam::{ACCOUNT_ID}:user/{name}"),
            ResourceKind::Key => format!("arn:aws:kms:{region}:{ACCOUNT_ID}:key/{name}"),
            ResourceKind::Function => {
                format!("arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}")
            }
            ResourceKind::Table => format!("arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{name}"),
            ResourceKind::Trail => format!("arn:aws:cloudtrail:{region}:{ACCOUNT_ID}:trail/{name}"),
            ResourceKind::LogGroup => {
                format!("arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{name}")
            }
        }
    }
}

/// One API of the catalog.
#[derive(Clone, Copy, Debug)]
pub struct Api {
    pub source: &'static str,
    pub name: &'static str,
    pub read_only: bool,
    pub resource: Option<ResourceKind>,
}

const fn api(
    source: &'static str,
    name: &'static str,
    read_only: bool,
    resource: Option<ResourceKind>,
) -> Api {
    Api {
        source,
        name,
        read_only,
        resource,
    }
}

use ResourceKind as K;

/// The APIs, most popular first (popularity falls off as 1 / rank^1.1).
pub const APIS: [Api; 40] = [
    api("sts.amazonaws.com", "AssumeRole", true, Some(K::Role)),
    api("kms.amazonaws.com", "Decrypt", true, Some(K::Key)),
    api("ec2.amazonaws.com", "DescribeInstances", true, None),
    api("sts.amazonaws.com", "GetCallerIdentity", true, None),
    api("kms.amazonaws.com", "GenerateDataKey", true, Some(K::Key)),
    api("s3.amazonaws.com", "GetBucketAcl", true, Some(K::Bucket)),
    api("s3.amazonaws.com", "ListBuckets", true, None),
    api("ec2.amazonaws.com", "DescribeSecurityGroups", true, None),
    api(
        "s3.amazonaws.com",
        "GetBucketLocation",
        true,
        Some(K::Bucket),
    ),
    api("lambda.amazonaws.com", "ListFunctions20150331", true, None),
    api("iam.amazonaws.com", "GetRole", true, Some(K::Role)),
    api("logs.amazonaws.com", "DescribeLogGroups", true, None),
    api(
        "dynamodb.amazonaws.com",
        "DescribeTable",
        true,
        Some(K::Table),
    ),
    api("ec2.amazonaws.com", "DescribeVolumes", true, None),
    api("kms.amazonaws.com", "DescribeKey", true, Some(K::Key)),
    api("iam.amazonaws.com", "ListRoles", true, None),
    api("cloudtrail.amazonaws.com", "LookupEvents", true, None),
    api("s3.amazonaws.com", "GetBucketPolicy", true, Some(K::Bucket)),
    api("monitoring.amazonaws.com", "DescribeAlarms", true, None),
    api(
        "lambda.amazonaws.com",
        "GetFunction20150331v2",
        true,
        Some(K::Function),
    ),
    api("iam.amazonaws.com", "GetUser", true, Some(K::User)),
    api("kms.amazonaws.com", "Encrypt", true, Some(K::Key)),
    api("cloudtrail.amazonaws.com", "DescribeTrails", true, None),
    api("sqs.amazonaws.com", "ListQueues", true, None),
    api("signin.amazonaws.com", "ConsoleLogin", false, None),
    api(
        "cloudtrail.amazonaws.com",
        "GetTrailStatus",
        true,
        Some(K::Trail),
    ),
    api(
        "ec2.amazonaws.com",
        "StartInstances",
        false,
        Some(K::Instance),
    ),
    api(
        "ec2.amazonaws.com",
        "StopInstances",
        false,
        Some(K::Instance),
    ),
    api(
        "ec2.amazonaws.com",
        "RunInstances",
        false,
        Some(K::Instance),
    ),
    api(
        "lambda.amazonaws.com",
        "UpdateFunctionCode20150331v2",
        false,
        Some(K::Function),
    ),
    api(
        "s3.amazonaws.com",
        "PutBucketPolicy",
        false,
        Some(K::Bucket),
    ),
    api(
        "ec2.amazonaws.com",
        "AuthorizeSecurityGroupIngress",
        false,
        Some(K::SecurityGroup),
    ),
    api(
        "logs.amazonaws.com",
        "CreateLogGroup",
        false,
        Some(K::LogGroup),
    ),
    api(
        "iam.amazonaws.com",
        "AttachRolePolicy",
        false,
        Some(K::Role),
    ),
    api(
        "ec2.amazonaws.com",
        "TerminateInstances",
        false,
        Some(K::Instance),
    ),
    api("s3.amazonaws.com", "CreateBucket", false, Some(K::Bucket)),
    api("iam.amazonaws.com", "CreateRole", false, Some(K::Role)),
    api(
        "dynamodb.amazonaws.com",
        "CreateTable",
        false,
        Some(K::Table),
    ),
    api("iam.amazonaws.com", "CreateAccessKey", false, Some(K::User)),
    api("s3.amazonaws.com", "DeleteBucket", false, Some(K::Bucket)),
];

const USER_AGENTS: [&str; 6] = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.167.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off command/ec2.describe-instances",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.213-201.855.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
    "aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/sts#1.28.5",
    "terraform-provider-aws/5.42.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.0 os/linux lang/go#1.21.8",
    "AWS Internal",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
];

/// A 64-bit mix (splitmix64 finalizer): stable pseudo-random ids from small indexes.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The name of IAM user `index` (also the session name of its assumed-role calls).
pub fn user_name(index: usize) -> String {
    const FIRST: [&str; 20] = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
        "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
        "zoe",
    ];
    format!("{}.{:02}", FIRST[index % FIRST.len()], index / FIRST.len())
}

/// The `AKIA…` key of IAM users `k`, `k + USER_KEYS`, …
pub fn user_key(index: usize) -> String {
    format!("AKIA{:016X}", mix(index as u64 + 1_000) >> 1)[..20].to_owned()
}

/// The `ASIA…` key of assumed-role session key `index`.
pub fn session_key(index: usize) -> String {
    format!("ASIA{:016X}", mix(index as u64 + 2_000) >> 1)[..20].to_owned()
}

/// Every access key in use.
pub fn access_keys() -> Vec<String> {
    (0..USER_KEYS)
        .map(user_key)
        .chain((0..SESSION_KEYS).map(session_key))
        .collect()
}

/// Cumulative Zipf weights over `n` ranks, normalized to end at 1.
fn zipf_cdf(n: usize) -> Vec<f64> {
    let weights: Vec<f64> = (1..=n).map(|rank| 1.0 / (rank as f64).powf(SKEW)).collect();
    let total: f64 = weights.iter().sum();
    let mut running = 0.0;
    weights
        .iter()
        .map(|weight| {
            running += weight / total;
            running
        })
        .collect()
}

fn sample_cdf(cdf: &[f64], uniform: f64) -> usize {
    cdf.partition_point(|&cumulative| cumulative < uniform)
        .min(cdf.len() - 1)
}

/// Makes calls: a [`RequestContext`] and [`EventDetails`] per call, and records from them.
pub struct Generator {
    rng: StdRng,
    api_cdf: Vec<f64>,
    user_cdf: Vec<f64>,
}

impl Generator {
    /// A generator whose choices are fixed by `seed`.
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: StdRng::seed_from_u64(seed),
            api_cdf: zipf_cdf(APIS.len()),
            user_cdf: zipf_cdf(USERS),
        }
    }

    /// The next call, made at `time`.
    pub fn call(&mut self, time: OffsetDateTime) -> (RequestContext, EventDetails) {
        let rng = &mut self.rng;
        let region = if rng.random::<f64>() < REGIONS[0].1 {
            REGIONS[0].0
        } else {
            REGIONS[1].0
        };
        let user = sample_cdf(&self.user_cdf, rng.random());
        let identity = if rng.random::<f64>() < ASSUMED_ROLE_SHARE {
            let role = ResourceKind::Role.name(user % ResourceKind::Role.pool());
            Identity {
                identity_type: IdentityType::AssumedRole,
                account_id: ACCOUNT_ID.to_owned(),
                access_key_id: session_key(user % SESSION_KEYS),
                user_name: None,
                principal_id: format!("AROA{:016X}:{}", mix(user as u64) >> 4, user_name(user)),
                arn: format!(
                    "arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/{}",
                    user_name(user)
                ),
                session: None,
            }
        } else {
            Identity {
                identity_type: IdentityType::IamUser,
                account_id: ACCOUNT_ID.to_owned(),
                access_key_id: user_key(user % USER_KEYS),
                user_name: Some(user_name(user)),
                principal_id: format!("AIDA{:016X}", mix(user as u64 + 500) >> 4),
                arn: format!("arn:aws:iam::{ACCOUNT_ID}:user/{}", user_name(user)),
                session: None,
            }
        };
        let ctx = RequestContext {
            request_id: opentrail_model::ids::new_request_id(),
            event_id: opentrail_model::ids::new_event_id(),
            account_id: ACCOUNT_ID.to_owned(),
            region: region.to_owned(),
            identity,
            source_ip: format!(
                "{}.{}.{}.{}",
                [10, 52, 34, 198][user % 4],
                rng.random_range(0..=255u8),
                rng.random_range(0..=255u8),
                rng.random_range(1..=254u8)
            ),
            user_agent: Some(USER_AGENTS[user % USER_AGENTS.len()].to_owned()),
            time,
            host: None,
        };

        let api = APIS[sample_cdf(&self.api_cdf, rng.random())];
        let mut details = EventDetails::new(api.source, api.name, api.read_only);
        details.api_version = api
            .source
            .starts_with("ec2")
            .then(|| "2016-11-15".to_owned());
        let target = api.resource.map(|kind| {
            let index = rng.random_range(0..kind.pool());
            (kind, kind.name(index), kind.arn(index, region))
        });
        details.request_parameters = Some(request_parameters(api, target.as_ref(), rng));
        if !api.read_only {
            details.response_elements = Some(json!({
                "requestId": opentrail_model::ids::new_request_id(),
                "return": true,
                "requestedAt": opentrail_model::time::format_event_time(time),
            }));
        }
        if api.source == "s3.amazonaws.com" {
            details.additional_event_data = Some(json!({
                "SignatureVersion": "SigV4",
                "CipherSuite": "TLS_AES_128_GCM_SHA256",
                "bytesTransferredIn": 0,
                "AuthenticationMethod": "AuthHeader",
                "x-amz-id-2": format!("{:016x}{:016x}", rng.random::<u64>(), rng.random::<u64>()),
                "bytesTransferredOut": rng.random_range(0..4_096u32),
            }));
        }
        if let Some((kind, _, arn)) = &target {
            details.resources = vec![Resource {
                account_id: Some(ACCOUNT_ID.to_owned()),
                resource_type: Some(kind.type_name().to_owned()),
                arn: Some(arn.clone()),
            }];
        }
        if rng.random::<f64>() < ERROR_SHARE {
            details.error = Some((
                "AccessDenied".to_owned(),
                format!(
                    "User: {} is not authorized to perform: {}:{}",
                    ctx.identity.arn,
                    api.source.trim_end_matches(".amazonaws.com"),
                    api.name
                ),
            ));
            details.response_elements = Some(Value::Null);
        }
        (ctx, details)
    }

    /// The record of the next call, made at `time`.
    pub fn record(&mut self, time: OffsetDateTime) -> Record {
        let (ctx, details) = self.call(time);
        build_record(&ctx, details)
    }

    /// The record of the next call as the JSON bytes the journal stores.
    pub fn record_json(&mut self, time: OffsetDateTime) -> Vec<u8> {
        serialize(&self.record(time))
    }
}

/// A record as the JSON bytes the journal stores.
pub fn serialize(record: &Record) -> Vec<u8> {
    // A `Record` has only string keys and plain values: serializing it cannot fail.
    opentrail_server::recorder::serialize_record(record).unwrap_or_default()
}

fn request_parameters(
    api: Api,
    target: Option<&(ResourceKind, String, String)>,
    rng: &mut StdRng,
) -> Value {
    let Some((kind, name, arn)) = target else {
        return json!({
            "maxResults": 1000,
            "filterSet": {},
            "includeAllInstances": false,
        });
    };
    match kind {
        ResourceKind::Bucket => json!({
            "bucketName": name,
            "Host": format!("{name}.s3.amazonaws.com"),
            api.name.trim_start_matches("Get").to_lowercase(): "",
        }),
        ResourceKind::Instance | ResourceKind::SecurityGroup => json!({
            "instancesSet": {"items": [{"instanceId": name}]},
            "force": false,
        }),
        ResourceKind::Role => json!({
            "roleArn": arn,
            "roleSessionName": format!("session-{:08x}", rng.random::<u32>()),
            "durationSeconds": 3600,
        }),
        ResourceKind::Key => json!({
            "keyId": arn,
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": {"aws:lambda:FunctionArn": format!("arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:svc-01-handler")},
        }),
        _ => json!({
            "name": name,
            "arn": arn,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_realistic_and_about_one_kilobyte() {
        let mut generator = Generator::new(7);
        let time = OffsetDateTime::from_unix_timestamp(1_750_000_000).expect("time");
        let records: Vec<Vec<u8>> = (0..2_000).map(|_| generator.record_json(time)).collect();
        let mean = records.iter().map(Vec::len).sum::<usize>() / records.len();
        assert!((700..=1_400).contains(&mean), "mean record size {mean}");
        let record: Record = serde_json::from_slice(&records[0]).expect("record parses");
        assert_eq!(record.account_id(), Some(ACCOUNT_ID));
        assert!(record.is_management());
        let with_resources = records
            .iter()
            .filter(|bytes| {
                let record: Record = serde_json::from_slice(bytes).expect("record parses");
                record.resources.is_some()
            })
            .count();
        assert!(
            (600..=1_600).contains(&with_resources),
            "{with_resources} with resources"
        );
    }

    #[test]
    fn popularity_is_skewed() {
        let cdf = zipf_cdf(APIS.len());
        assert!(cdf[0] > 0.15 && cdf[0] < 0.3, "top api share {}", cdf[0]);
        assert!((cdf[APIS.len() - 1] - 1.0).abs() < 1e-9);
        assert_eq!(sample_cdf(&cdf, 0.0), 0);
        assert_eq!(sample_cdf(&cdf, 1.0), APIS.len() - 1);
        assert_eq!(access_keys().len(), 50);
        assert_eq!(user_key(3).len(), 20);
        assert!(user_key(3).starts_with("AKIA"));
    }
}
