//! Authorization latency: one `opentrail_policy::evaluate` call per request, in-process, on one
//! thread, for a role session holding 10 identity policies of 20 statements each (200
//! statements: action lists with wildcards across services, ARN patterns, policy variables,
//! conditions of the string, IP, date, bool and tag families, one conditional deny per policy),
//! then with a permissions boundary, a session policy and three levels of SCPs (root, OU,
//! account) on top, then a cross-account call against a resource-based policy. The last row
//! is the whole authorization step of the request pipeline: the server's authorizer
//! (`opentrail_authz::PolicyAuthorizer`) asked with a request context, as a call asks it —
//! the principal's policy generation looked up, its compiled policies taken from the cache,
//! the condition keys built from the call, the SCPs of its account, then the evaluation.
//!
//! Run with: `cargo bench -p opentrail-bench --bench authorize`
//!
//! - `OPENTRAIL_BENCH_CALLS` (default 200000): timed calls per row (after 20,000 warm-up calls).
//!
//! Each call is timed alone (`Instant` around it, ~20 ns of the figure); the requests cycle
//! through 1,000 prepared ones (50 actions × resources × contexts); the last two policies allow
//! most of them (the share is printed), the rest are denied after every statement was scanned. The
//! policies are parsed once before timing, as the server keeps them compiled. This binary
//! links the server crate so that it runs on the server's global allocator (mimalloc).

use std::hint::black_box;
use std::time::{Duration, Instant};

use opentrail_bench::setup::{cpus, env_usize, load_average};
use opentrail_bench::stats::{Summary, Table};
use std::sync::Arc;

use opentrail_authz::{OrgContext, OrgSource, PolicyAuthorizer, PolicySource, PrincipalPolicies};
use opentrail_core::access::{Authorizer, AuthzRequest};
use opentrail_core::context::RequestContext;
use opentrail_core::{AppState, ServerConfig};
use opentrail_model::{Identity, SessionContext, SessionIssuer};
use opentrail_policy::{
    ConditionContext, Decision, Policies, Policy, PolicyKind, Principal, PrincipalKind, Request,
    evaluate,
};
// the global allocator of every process linking the server
use opentrail_server as _;

const BOUNDARY: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":["s3:*","ec2:*","sqs:*","sns:*","cloudtrail:*","logs:*","events:*","kms:*","dynamodb:*"],"Resource":"*"},
    {"Effect":"Allow","Action":["iam:Get*","iam:List*","iam:PassRole"],"Resource":"*"},
    {"Effect":"Deny","Action":["iam:DeleteRolePermissionsBoundary","iam:PutRolePermissionsBoundary"],"Resource":"*"}]}"#;
const SESSION: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":["iam:Create*","iam:Delete*"],"Resource":"*"}]}"#;
const FULL_ACCESS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
const REGION_GUARD: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Sid":"DenyOutsideEU","Effect":"Deny","NotAction":["cloudfront:*","iam:*","route53:*","support:*","sts:*"],"Resource":"*",
     "Condition":{"StringNotEquals":{"aws:RequestedRegion":["eu-west-1","eu-central-1"]}}},
    {"Sid":"DenyLeave","Effect":"Deny","Action":"organizations:LeaveOrganization","Resource":"*"}]}"#;

const ACCOUNT: &str = "111122223333";
const OTHER_ACCOUNT: &str = "444455556666";

const SERVICES: [(&str, [&str; 5]); 10] = [
    (
        "s3",
        [
            "GetObject",
            "PutObject",
            "ListBucket",
            "DeleteObject",
            "GetBucketPolicy",
        ],
    ),
    (
        "ec2",
        [
            "RunInstances",
            "DescribeInstances",
            "StartInstances",
            "StopInstances",
            "CreateTags",
        ],
    ),
    (
        "iam",
        ["GetUser", "ListRoles", "CreateRole", "PassRole", "TagRole"],
    ),
    (
        "sqs",
        [
            "SendMessage",
            "ReceiveMessage",
            "DeleteMessage",
            "CreateQueue",
            "GetQueueUrl",
        ],
    ),
    (
        "sns",
        [
            "Publish",
            "Subscribe",
            "CreateTopic",
            "ListTopics",
            "SetTopicAttributes",
        ],
    ),
    (
        "cloudtrail",
        [
            "CreateTrail",
            "LookupEvents",
            "StartLogging",
            "DescribeTrails",
            "PutEventSelectors",
        ],
    ),
    (
        "logs",
        [
            "CreateLogGroup",
            "PutLogEvents",
            "FilterLogEvents",
            "DescribeLogGroups",
            "PutMetricFilter",
        ],
    ),
    (
        "events",
        [
            "PutRule",
            "PutTargets",
            "PutEvents",
            "ListRules",
            "DeleteRule",
        ],
    ),
    (
        "kms",
        [
            "Decrypt",
            "Encrypt",
            "GenerateDataKey",
            "DescribeKey",
            "CreateGrant",
        ],
    ),
    (
        "dynamodb",
        ["GetItem", "PutItem", "Query", "Scan", "UpdateItem"],
    ),
];

fn resource_arn(service: &str, index: usize) -> String {
    match service {
        "s3" => format!("arn:aws:s3:::bucket-{}/team/ops/key-{index}", index % 7),
        "iam" => format!("arn:aws:iam::{ACCOUNT}:role/app/role-{}", index % 9),
        _ => format!(
            "arn:aws:{service}:eu-west-1:{ACCOUNT}:thing/item-{}",
            index % 11
        ),
    }
}

/// Statement `s` of identity policy `p`: the last two policies allow what the requests ask,
/// the others cover neighbouring services, resources and conditions that do not match.
fn statement(p: usize, s: usize) -> String {
    let (service, actions) = SERVICES[(p + s) % SERVICES.len()];
    let listed: Vec<String> = actions
        .iter()
        .take(2 + s % 3)
        .map(|a| format!("\"{service}:{a}\""))
        .collect();
    if s == 19 {
        return format!(
            r#"{{"Sid":"Deny{p}","Effect":"Deny","Action":["{service}:Delete*","iam:*Policy*"],"Resource":"*","Condition":{{"Bool":{{"aws:MultiFactorAuthPresent":"false"}},"StringNotEquals":{{"aws:PrincipalTag/team":"ops"}}}}}}"#
        );
    }
    let allowing = p >= 8;
    let resource = match (service, s % 4, allowing) {
        // IAM and S3 ARNs have no region
        ("iam", _, true) => format!("arn:aws:iam::{ACCOUNT}:role/app/*"),
        ("iam", _, false) => format!("arn:aws:iam::{OTHER_ACCOUNT}:role/legacy-*"),
        ("s3", 2, _) => "arn:aws:s3:::bucket-*/team/${aws:PrincipalTag/team}/*".to_owned(),
        ("s3", _, true) => "arn:aws:s3:::bucket-*/*".to_owned(),
        ("s3", _, false) => "arn:aws:s3:::archive-*/*".to_owned(),
        (_, s, allowing) => match (s, allowing) {
            (0, true) => format!("arn:aws:{service}:*:{ACCOUNT}:*"),
            (0, false) => format!("arn:aws:{service}:us-east-?:{OTHER_ACCOUNT}:*"),
            (1, true) => "*".to_owned(),
            (1, false) => format!("arn:aws:{service}:*:*:archive/*"),
            (2, true) if service == "s3" => {
                "arn:aws:s3:::bucket-*/team/${aws:PrincipalTag/team}/*".to_owned()
            }
            (2, _) => {
                format!("arn:aws:{service}:eu-west-1:{ACCOUNT}:thing/${{aws:PrincipalTag/team}}-*")
            }
            (_, true) => format!("arn:aws:{service}:eu-*:{ACCOUNT}:thing/item-*"),
            (_, false) => format!("arn:aws:{service}:ap-*:{ACCOUNT}:thing/legacy-*"),
        },
    };
    let condition = match s % 5 {
        0 => r#","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.0/24","2001:db8::/32"]}}"#.to_owned(),
        1 => r#","Condition":{"StringEquals":{"aws:PrincipalTag/team":["ops","platform"],"aws:RequestedRegion":["eu-west-1","eu-central-1"]}}"#.to_owned(),
        2 => r#","Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"},"Bool":{"aws:SecureTransport":"true"}}"#.to_owned(),
        3 => r#","Condition":{"ForAllValues:StringLike":{"aws:TagKeys":["env","owner","cost-*"]}}"#.to_owned(),
        _ => String::new(),
    };
    let effect_actions = if allowing {
        listed.join(",")
    } else {
        // other policies name actions the requests do not use
        format!("\"{service}:Batch*\",\"{service}:Untag*\"")
    };
    format!(
        r#"{{"Sid":"P{p}S{s}","Effect":"Allow","Action":[{effect_actions}],"Resource":"{resource}"{condition}}}"#
    )
}

fn identity_policy(p: usize) -> String {
    let statements: Vec<String> = (0..20).map(|s| statement(p, s)).collect();
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

fn parse(text: &str, kind: PolicyKind) -> anyhow::Result<Policy> {
    Policy::parse(text, kind).map_err(|e| anyhow::anyhow!("{e}: {text}"))
}

struct Prepared {
    action: String,
    resource: String,
    context: ConditionContext,
}

fn requests() -> Vec<Prepared> {
    let mut out = Vec::with_capacity(1_000);
    for i in 0..1_000 {
        let (service, actions) = SERVICES[i % SERVICES.len()];
        let action = format!("{service}:{}", actions[(i / 10) % 5]);
        let mut context = ConditionContext::new()
            .with(
                "aws:SourceIp",
                if i % 3 == 0 {
                    "10.1.2.3"
                } else {
                    "203.0.113.9"
                },
            )
            .with("aws:RequestedRegion", "eu-west-1")
            .with("aws:CurrentTime", "2026-12-08T04:00:00Z")
            .with("aws:SecureTransport", "true")
            .with(
                "aws:MultiFactorAuthPresent",
                if i % 2 == 0 { "true" } else { "false" },
            );
        if i % 4 == 0 {
            context.set(
                "aws:TagKeys",
                vec!["env".to_owned(), "cost-center".to_owned()],
            );
        }
        out.push(Prepared {
            action,
            resource: resource_arn(service, i),
            context,
        });
    }
    out
}

struct Row {
    name: &'static str,
    summary: Summary,
    allowed: usize,
    calls: usize,
    elapsed: Duration,
}

fn measure(
    name: &'static str,
    calls: usize,
    requests: &[Prepared],
    principal: &Principal<'_>,
    resource_account: Option<&str>,
    policies: &Policies<'_>,
) -> Row {
    let request = |prepared| request_for(prepared, principal, resource_account);
    for prepared in requests.iter().cycle().take(20_000) {
        black_box(evaluate(policies, &request(prepared)));
    }
    let mut samples = Vec::with_capacity(calls);
    let mut allowed = 0;
    let start = Instant::now();
    for prepared in requests.iter().cycle().take(calls) {
        let request = request(prepared);
        let t = Instant::now();
        let decision = black_box(evaluate(black_box(policies), black_box(&request)));
        samples.push(t.elapsed());
        allowed += usize::from(decision == Decision::Allow);
    }
    let elapsed = start.elapsed();
    Row {
        name,
        summary: Summary::of(&mut samples),
        allowed,
        calls,
        elapsed,
    }
}

fn request_for<'a>(
    prepared: &'a Prepared,
    principal: &'a Principal<'a>,
    resource_account: Option<&'a str>,
) -> Request<'a> {
    Request {
        principal,
        action: &prepared.action,
        resource: &prepared.resource,
        resource_account,
        context: &prepared.context,
    }
}

/// The role session's documents, as the identity service would hand them over.
struct Documents {
    identity: Vec<Arc<str>>,
    boundary: Arc<str>,
    session: Arc<str>,
}

impl PolicySource for Documents {
    fn generation(&self, _state: &AppState, _identity: &Identity) -> Result<u64, String> {
        Ok(1)
    }

    fn principal_policies(
        &self,
        _state: &AppState,
        _identity: &Identity,
    ) -> Result<PrincipalPolicies, String> {
        Ok(PrincipalPolicies {
            generation: 1,
            identity: self.identity.clone(),
            boundary: Some(self.boundary.clone()),
            session: vec![self.session.clone()],
            tags: vec![("team".into(), "ops".into()), ("env".into(), "prod".into())],
        })
    }
}

/// Three SCP levels, as the organizations service would hand them over.
struct Scps(Vec<Vec<Arc<str>>>);

impl OrgSource for Scps {
    fn org_context(&self, _state: &AppState, _account_id: &str) -> Option<OrgContext> {
        Some(OrgContext {
            org_id: "o-example".into(),
            management_account: false,
            generation: 1,
        })
    }

    fn scp_levels(&self, _state: &AppState, _account_id: &str) -> Vec<Vec<Arc<str>>> {
        self.0.clone()
    }
}

/// The server's authorizer, asked once per call with what the pipeline gives it.
fn measure_authorizer(
    calls: usize,
    requests: &[Prepared],
    authorizer: &PolicyAuthorizer,
    state: &AppState,
    ctx: &RequestContext,
) -> Row {
    let ask = |prepared: &Prepared| {
        let request = AuthzRequest::new(prepared.action.clone(), vec![prepared.resource.clone()]);
        authorizer.authorize(state, ctx, &request).is_ok()
    };
    for prepared in requests.iter().cycle().take(20_000) {
        black_box(ask(prepared));
    }
    let mut samples = Vec::with_capacity(calls);
    let mut allowed = 0;
    let start = Instant::now();
    for prepared in requests.iter().cycle().take(calls) {
        let t = Instant::now();
        let ok = black_box(ask(black_box(prepared)));
        samples.push(t.elapsed());
        allowed += usize::from(ok);
    }
    let elapsed = start.elapsed();
    Row {
        name: "server authorizer (full chain)",
        summary: Summary::of(&mut samples),
        allowed,
        calls,
        elapsed,
    }
}

fn micros(duration: Duration) -> String {
    format!("{:.2} µs", duration.as_secs_f64() * 1e6)
}

fn main() -> anyhow::Result<()> {
    let calls = env_usize("OPENTRAIL_BENCH_CALLS", 200_000)?;
    let texts: Vec<String> = (0..10).map(identity_policy).collect();
    let parse_start = Instant::now();
    let identity: Vec<Policy> = texts
        .iter()
        .map(|t| parse(t, PolicyKind::Identity))
        .collect::<anyhow::Result<_>>()?;
    let parse_time = parse_start.elapsed() / 10;
    let identity_refs: Vec<&Policy> = identity.iter().collect();

    let boundary = parse(BOUNDARY, PolicyKind::Identity)?;
    let session = parse(SESSION, PolicyKind::Identity)?;
    let full_access = parse(FULL_ACCESS, PolicyKind::ServiceControl)?;
    let region_guard = parse(REGION_GUARD, PolicyKind::ServiceControl)?;
    let root_level = [&full_access];
    let ou_level = [&full_access, &region_guard];
    let account_level = [&full_access];
    let scp_levels: [&[&Policy]; 3] = [&root_level, &ou_level, &account_level];
    let resource_policy = parse(
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":["s3:*","sqs:*","sns:Publish","kms:Decrypt"],"Resource":"*",
              "Condition":{{"StringEquals":{{"aws:PrincipalOrgID":"o-example"}}}}}},
            {{"Effect":"Deny","Principal":"*","Action":"s3:DeleteBucket","Resource":"*"}}]}}"#
        ),
        PolicyKind::Resource,
    )?;

    let tags = vec![
        ("team".to_owned(), "ops".to_owned()),
        ("env".to_owned(), "prod".to_owned()),
    ];
    let principal = Principal {
        user_id: Some("AROAEXAMPLEROLEID:session"),
        tags: &tags,
        org_id: Some("o-example"),
        ..Principal::new(
            "arn:aws:sts::111122223333:assumed-role/app/session",
            ACCOUNT,
            PrincipalKind::AssumedRole {
                role_arn: "arn:aws:iam::111122223333:role/app",
            },
        )
    };
    let requests = requests();

    println!(
        "authorize: {calls} timed calls per row, one thread, {} CPUs (load average {} at start); 10 identity policies × 20 statements, parsed in {} each",
        cpus(),
        load_average(),
        micros(parse_time),
    );
    let identity_only = Policies {
        identity: &identity_refs,
        ..Policies::default()
    };
    let full_chain = Policies {
        identity: &identity_refs,
        boundary: Some(&boundary),
        session: Some(&session),
        scp_levels: &scp_levels,
        ..Policies::default()
    };
    let cross_account = Policies {
        resource: Some(&resource_policy),
        ..full_chain
    };
    let dir = tempfile::tempdir()?;
    let state = AppState::open(ServerConfig::for_tests(dir.path().to_path_buf()))?;
    let text_of = |policy: &str| Arc::<str>::from(policy);
    let authorizer = PolicyAuthorizer::new(
        Arc::new(Documents {
            identity: texts.iter().map(|t| text_of(t)).collect(),
            boundary: text_of(BOUNDARY),
            session: text_of(SESSION),
        }),
        Some(Arc::new(Scps(vec![
            vec![text_of(FULL_ACCESS)],
            vec![text_of(FULL_ACCESS), text_of(REGION_GUARD)],
            vec![text_of(FULL_ACCESS)],
        ]))),
    );
    let ctx = RequestContext {
        account_id: ACCOUNT.into(),
        region: "eu-west-1".into(),
        source_ip: "10.1.2.3".into(),
        time: time::OffsetDateTime::now_utc(),
        identity: Identity::assumed_role(
            "ASIAEXAMPLEKEY",
            "session",
            SessionIssuer {
                role_id: "AROAEXAMPLEROLEID".into(),
                role_arn: format!("arn:aws:iam::{ACCOUNT}:role/app"),
                role_name: "app".into(),
                account_id: ACCOUNT.into(),
            },
            SessionContext {
                creation_date: "2026-12-08T04:00:00Z".into(),
                ..SessionContext::default()
            },
        ),
        ..RequestContext::for_tests("eu-west-1")
    };
    let rows = [
        measure(
            "identity (10×20)",
            calls,
            &requests,
            &principal,
            None,
            &identity_only,
        ),
        measure(
            "+ boundary, session, 3 SCP levels",
            calls,
            &requests,
            &principal,
            None,
            &full_chain,
        ),
        measure(
            "cross-account + resource policy",
            calls,
            &requests,
            &principal,
            Some(OTHER_ACCOUNT),
            &cross_account,
        ),
        measure_authorizer(calls, &requests, &authorizer, &state, &ctx),
    ];
    let mut table = Table::new([
        "policies", "allowed", "p50", "p99", "max", "mean", "calls/s",
    ]);
    for row in &rows {
        table.row([
            row.name.to_owned(),
            format!("{:.0}%", 100.0 * row.allowed as f64 / row.calls as f64),
            micros(row.summary.p50),
            micros(row.summary.p99),
            micros(row.summary.max),
            micros(row.summary.mean),
            format!("{:.0}", row.calls as f64 / row.elapsed.as_secs_f64()),
        ]);
    }
    println!("{}", table.render().trim_end());
    println!("load average {} at end", load_average());
    Ok(())
}
