//! Server configuration: the compatibility contract of DESIGN.md, read from flags and
//! `OPENTRAIL_*` environment variables.

use std::path::PathBuf;
use std::time::Duration;

use crate::ServerError;

/// Everything `opentrail serve` can be told.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    /// The default account (`OPENTRAIL_ACCOUNT_ID`), 12 digits.
    pub account_id: String,
    /// Root credentials from `OPENTRAIL_ROOT_ACCESS_KEY_ID` / `OPENTRAIL_ROOT_SECRET_ACCESS_KEY`;
    /// generated and stored in the data directory when unset.
    pub root_access_key_id: Option<String>,
    pub root_secret_access_key: Option<String>,
    /// Trail log delivery cadence (`OPENTRAIL_DELIVERY_INTERVAL`, seconds).
    pub delivery_interval: Duration,
    /// Digest cadence (`OPENTRAIL_DIGEST_INTERVAL`, seconds).
    pub digest_interval: Duration,
    /// Event history retention (`OPENTRAIL_HISTORY_RETENTION_DAYS`).
    pub history_retention_days: u32,
    /// Development mode (`OPENTRAIL_DEV=1`): enables `POST /_opentrail/reset`.
    pub dev: bool,
}

impl ServerConfig {
    /// Defaults for `data_dir`, overridden by the environment.
    pub fn from_env(data_dir: PathBuf) -> Result<ServerConfig, ServerError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let account_id = var("OPENTRAIL_ACCOUNT_ID")
            .unwrap_or_else(|| opentrail_model::ids::DEFAULT_ACCOUNT_ID.into());
        if !opentrail_model::ids::is_account_id(&account_id) {
            return Err(ServerError::Config(format!(
                "OPENTRAIL_ACCOUNT_ID must be 12 digits, got {account_id:?}"
            )));
        }
        let root_access_key_id = var("OPENTRAIL_ROOT_ACCESS_KEY_ID");
        let root_secret_access_key = var("OPENTRAIL_ROOT_SECRET_ACCESS_KEY");
        if root_access_key_id.is_some() != root_secret_access_key.is_some() {
            return Err(ServerError::Config(
                "set both OPENTRAIL_ROOT_ACCESS_KEY_ID and OPENTRAIL_ROOT_SECRET_ACCESS_KEY, or neither".into(),
            ));
        }
        Ok(ServerConfig {
            data_dir,
            account_id,
            root_access_key_id,
            root_secret_access_key,
            delivery_interval: Duration::from_secs(seconds_var(
                "OPENTRAIL_DELIVERY_INTERVAL",
                300,
            )?),
            digest_interval: Duration::from_secs(seconds_var("OPENTRAIL_DIGEST_INTERVAL", 3600)?),
            history_retention_days: u32::try_from(seconds_var(
                "OPENTRAIL_HISTORY_RETENTION_DAYS",
                90,
            )?)
            .map_err(|_| {
                ServerError::Config("OPENTRAIL_HISTORY_RETENTION_DAYS is too large".into())
            })?,
            dev: matches!(var("OPENTRAIL_DEV").as_deref(), Some("1" | "true" | "yes")),
        })
    }

    /// A configuration for tests: everything in `data_dir`, fixed root credentials, dev mode.
    pub fn for_tests(data_dir: PathBuf) -> ServerConfig {
        ServerConfig {
            data_dir,
            account_id: opentrail_model::ids::DEFAULT_ACCOUNT_ID.into(),
            root_access_key_id: Some("AKIAOPENTRAILTEST".into()),
            root_secret_access_key: Some("opentrail-test-secret".into()),
            delivery_interval: Duration::from_secs(300),
            digest_interval: Duration::from_secs(3600),
            history_retention_days: 90,
            dev: true,
        }
    }
}

fn seconds_var(name: &str, default: u64) -> Result<u64, ServerError> {
    match std::env::var(name) {
        Ok(text) if !text.is_empty() => match text.parse::<u64>() {
            Ok(value) if value > 0 => Ok(value),
            _ => Err(ServerError::Config(format!(
                "{name} must be a positive whole number, got {text:?}"
            ))),
        },
        _ => Ok(default),
    }
}
