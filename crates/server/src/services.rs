//! The services this server offers, by SigV4 signing name.

use std::sync::Arc;

use opentrail_core::Service;

/// Every service, in the order `UnknownServiceException` lists them.
pub fn all() -> Vec<Arc<dyn Service>> {
    vec![
        Arc::new(opentrail_cloudtrail::CloudTrailService),
        Arc::new(opentrail_cloudtrail::IngestService),
        Arc::new(opentrail_s3::S3Service),
        Arc::new(opentrail_messaging::SnsService),
        Arc::new(opentrail_messaging::SqsService),
        Arc::new(opentrail_events::EventsService),
        Arc::new(opentrail_monitoring::LogsService),
        Arc::new(opentrail_monitoring::CloudWatchService),
        Arc::new(opentrail_organizations::OrganizationsService),
        Arc::new(opentrail_identity::IamService),
        Arc::new(opentrail_identity::StsService),
    ]
}

/// The services and a lookup by signing name.
pub struct Services {
    services: Vec<Arc<dyn Service>>,
}

impl Services {
    pub fn new(services: Vec<Arc<dyn Service>>) -> Services {
        Services { services }
    }

    /// The service answering `signing_name`.
    pub fn find(&self, signing_name: &str) -> Option<&dyn Service> {
        self.services
            .iter()
            .find(|service| service.signing_names().contains(&signing_name))
            .map(|service| service.as_ref())
    }

    /// Every signing name served.
    pub fn names(&self) -> Vec<&'static str> {
        self.services
            .iter()
            .flat_map(|service| service.signing_names().iter().copied())
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Service>> {
        self.services.iter()
    }
}
