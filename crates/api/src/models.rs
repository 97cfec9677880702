//! The botocore service models opentrail embeds, in one place.
//!
//! The files live in `crates/api/models/`, written by `crates/api/models/strip.py` from
//! botocore's `data/<service>/<version>/service-2.json`: minified and without their
//! `documentation` strings, every other field kept. Each is parsed into a [`ServiceModel`] the
//! first time [`model`] is asked for it and kept for the life of the process; they are
//! compile-time constants, not state, so a `static` holds them.
//!
//! An embedded model that does not parse is a bug in this crate, not a runtime condition:
//! [`model`] panics with the parse error, and the `embedded_models` tests parse every one.

use std::sync::OnceLock;

use crate::model::ServiceModel;

/// A service whose botocore model is embedded, named by its SigV4 signing name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmbeddedModel {
    /// `cloudtrail` (CloudTrail, 2013-11-01, awsJson 1.1).
    Cloudtrail,
    /// `cloudtrail-data` (CloudTrail Data, 2021-08-11, restJson: `PutAuditEvents`).
    CloudtrailData,
    /// `monitoring` (CloudWatch, 2010-08-01, Smithy RPC v2 CBOR / awsJson / awsQuery).
    Monitoring,
    /// `events` (EventBridge, 2015-10-07, awsJson 1.1).
    Events,
    /// `logs` (CloudWatch Logs, 2014-03-28, awsJson 1.1).
    Logs,
    /// `sqs` (SQS, 2012-11-05, awsJson 1.0; older clients speak awsQuery).
    Sqs,
    /// `sns` (SNS, 2010-03-31, awsQuery).
    Sns,
    /// `iam` (IAM, 2010-05-08, awsQuery).
    Iam,
    /// `sts` (STS, 2011-06-15, awsQuery).
    Sts,
    /// `organizations` (Organizations, 2016-11-28, awsJson 1.1).
    Organizations,
}

impl EmbeddedModel {
    /// Every embedded model.
    pub const ALL: [EmbeddedModel; 10] = [
        EmbeddedModel::Cloudtrail,
        EmbeddedModel::CloudtrailData,
        EmbeddedModel::Monitoring,
        EmbeddedModel::Events,
        EmbeddedModel::Logs,
        EmbeddedModel::Sqs,
        EmbeddedModel::Sns,
        EmbeddedModel::Iam,
        EmbeddedModel::Sts,
        EmbeddedModel::Organizations,
    ];

    /// The model of the service that signs requests as `signing_name`, e.g. `monitoring`.
    pub fn from_signing_name(signing_name: &str) -> Option<EmbeddedModel> {
        Self::ALL
            .into_iter()
            .find(|service| service.signing_name() == signing_name)
    }

    /// The SigV4 signing name: the model's `signingName`, else its `endpointPrefix`.
    pub fn signing_name(self) -> &'static str {
        match self {
            EmbeddedModel::Cloudtrail => "cloudtrail",
            EmbeddedModel::CloudtrailData => "cloudtrail-data",
            EmbeddedModel::Monitoring => "monitoring",
            EmbeddedModel::Events => "events",
            EmbeddedModel::Logs => "logs",
            EmbeddedModel::Sqs => "sqs",
            EmbeddedModel::Sns => "sns",
            EmbeddedModel::Iam => "iam",
            EmbeddedModel::Sts => "sts",
            EmbeddedModel::Organizations => "organizations",
        }
    }

    /// The service prefix of its IAM actions (`cloudwatch:PutMetricData` for `monitoring`).
    pub fn iam_prefix(self) -> &'static str {
        match self {
            EmbeddedModel::Monitoring => "cloudwatch",
            other => other.signing_name(),
        }
    }

    /// The embedded `service-2.json` text, for code that reads fields [`ServiceModel`] does
    /// not keep.
    pub fn json(self) -> &'static str {
        match self {
            EmbeddedModel::Cloudtrail => include_str!("../models/cloudtrail-2013-11-01.json"),
            EmbeddedModel::CloudtrailData => {
                include_str!("../models/cloudtrail-data-2021-08-11.json")
            }
            EmbeddedModel::Monitoring => include_str!("../models/cloudwatch-2010-08-01.json"),
            EmbeddedModel::Events => include_str!("../models/events-2015-10-07.json"),
            EmbeddedModel::Logs => include_str!("../models/logs-2014-03-28.json"),
            EmbeddedModel::Sqs => include_str!("../models/sqs-2012-11-05.json"),
            EmbeddedModel::Sns => include_str!("../models/sns-2010-03-31.json"),
            EmbeddedModel::Iam => include_str!("../models/iam-2010-05-08.json"),
            EmbeddedModel::Sts => include_str!("../models/sts-2011-06-15.json"),
            EmbeddedModel::Organizations => {
                include_str!("../models/organizations-2016-11-28.json")
            }
        }
    }

    fn index(self) -> usize {
        match self {
            EmbeddedModel::Cloudtrail => 0,
            EmbeddedModel::CloudtrailData => 1,
            EmbeddedModel::Monitoring => 2,
            EmbeddedModel::Events => 3,
            EmbeddedModel::Logs => 4,
            EmbeddedModel::Sqs => 5,
            EmbeddedModel::Sns => 6,
            EmbeddedModel::Iam => 7,
            EmbeddedModel::Sts => 8,
            EmbeddedModel::Organizations => 9,
        }
    }
}

/// The parsed model of `service`, parsed on first use.
///
/// # Panics
///
/// If the embedded model does not parse, which the crate's tests rule out.
pub fn model(service: EmbeddedModel) -> &'static ServiceModel {
    static MODELS: [OnceLock<ServiceModel>; EmbeddedModel::ALL.len()] =
        [const { OnceLock::new() }; EmbeddedModel::ALL.len()];
    MODELS[service.index()].get_or_init(|| {
        ServiceModel::from_json(service.json()).unwrap_or_else(|err| {
            panic!(
                "embedded {} model does not parse: {err}",
                service.signing_name()
            )
        })
    })
}
