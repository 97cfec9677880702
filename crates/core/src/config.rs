//! Server configuration: the compatibility contract of DESIGN.md, read from flags and
//! `OPENTRAIL_*` environment variables.

use std::path::PathBuf;
use std::time::Duration;

use opentrail_objects::S3StoreConfig;

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
    /// The external S3-compatible service trail log files and digests go to
    /// (`OPENTRAIL_DELIVERY_S3_*`); `None` delivers into the embedded bucket store.
    pub delivery_s3: Option<S3StoreConfig>,
    /// Free bytes the data directory's file system must keep for calls to be admitted
    /// (`OPENTRAIL_DISK_HEADROOM_BYTES`, default 64 MiB; 0 turns the check off): below it,
    /// calls are refused before they act instead of failing in a store that ran out of space.
    pub disk_headroom_bytes: u64,
}

/// [`ServerConfig::disk_headroom_bytes`] when `OPENTRAIL_DISK_HEADROOM_BYTES` is unset.
pub const DEFAULT_DISK_HEADROOM_BYTES: u64 = 64 * 1024 * 1024;

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
            delivery_s3: delivery_s3(&var)?,
            disk_headroom_bytes: match var("OPENTRAIL_DISK_HEADROOM_BYTES") {
                None => DEFAULT_DISK_HEADROOM_BYTES,
                Some(text) => text.parse::<u64>().map_err(|_| {
                    ServerError::Config(format!(
                        "OPENTRAIL_DISK_HEADROOM_BYTES must be a whole number of bytes, got {text:?}"
                    ))
                })?,
            },
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
            delivery_s3: None,
            disk_headroom_bytes: 0,
        }
    }
}

/// Region of the external delivery store when `OPENTRAIL_DELIVERY_S3_REGION` is unset.
pub const DEFAULT_DELIVERY_S3_REGION: &str = "us-east-1";

/// The external delivery store from `OPENTRAIL_DELIVERY_S3_*` (`var` reads one variable, empty
/// counting as unset): `None` without an endpoint; a configuration error for settings that
/// cannot work together.
fn delivery_s3(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<S3StoreConfig>, ServerError> {
    const ENDPOINT: &str = "OPENTRAIL_DELIVERY_S3_ENDPOINT";
    const REGION: &str = "OPENTRAIL_DELIVERY_S3_REGION";
    const KEY_ID: &str = "OPENTRAIL_DELIVERY_S3_ACCESS_KEY_ID";
    const SECRET: &str = "OPENTRAIL_DELIVERY_S3_SECRET_ACCESS_KEY";
    const TOKEN: &str = "OPENTRAIL_DELIVERY_S3_SESSION_TOKEN";
    const VIRTUAL_HOSTED: &str = "OPENTRAIL_DELIVERY_S3_VIRTUAL_HOSTED";
    let Some(endpoint) = var(ENDPOINT) else {
        let stray: Vec<&str> = [REGION, KEY_ID, SECRET, TOKEN, VIRTUAL_HOSTED]
            .into_iter()
            .filter(|name| var(name).is_some())
            .collect();
        if stray.is_empty() {
            return Ok(None);
        }
        return Err(ServerError::Config(format!(
            "{} set but {ENDPOINT} is not; set the endpoint of the S3-compatible service to \
             deliver to, or unset them",
            stray.join(", ")
        )));
    };
    let endpoint = endpoint.trim_end_matches('/').to_owned();
    let host = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"));
    if host.is_none_or(|host| host.is_empty() || host.contains(['/', '?', '#', ' '])) {
        return Err(ServerError::Config(format!(
            "{ENDPOINT} must be an http:// or https:// URL of a host (and port), without a \
             path, got {endpoint:?}"
        )));
    }
    let region = var(REGION).unwrap_or_else(|| DEFAULT_DELIVERY_S3_REGION.to_owned());
    if !region
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
    {
        return Err(ServerError::Config(format!(
            "{REGION} must be a region name like us-east-1, got {region:?}"
        )));
    }
    let access_key_id = var(KEY_ID);
    let secret_access_key = var(SECRET);
    if access_key_id.is_some() != secret_access_key.is_some() {
        return Err(ServerError::Config(format!(
            "set both {KEY_ID} and {SECRET}, or neither (unsigned requests)"
        )));
    }
    let session_token = var(TOKEN);
    if session_token.is_some() && access_key_id.is_none() {
        return Err(ServerError::Config(format!(
            "{TOKEN} needs {KEY_ID} and {SECRET}"
        )));
    }
    let virtual_hosted_style = match var(VIRTUAL_HOSTED).as_deref() {
        None | Some("0" | "false" | "no") => false,
        Some("1" | "true" | "yes") => true,
        Some(other) => {
            return Err(ServerError::Config(format!(
                "{VIRTUAL_HOSTED} must be true or false, got {other:?}"
            )));
        }
    };
    Ok(Some(S3StoreConfig {
        session_token,
        virtual_hosted_style,
        ..S3StoreConfig::for_endpoint(
            endpoint,
            region,
            access_key_id.unwrap_or_default(),
            secret_access_key.unwrap_or_default(),
        )
    }))
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<Option<S3StoreConfig>, ServerError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        delivery_s3(&|name: &str| vars.get(name).filter(|v| !v.is_empty()).cloned())
    }

    fn config_error(vars: &[(&str, &str)]) -> String {
        match parse(vars) {
            Err(ServerError::Config(message)) => message,
            other => panic!("expected a configuration error for {vars:?}, got {other:?}"),
        }
    }

    #[test]
    fn no_endpoint_means_the_embedded_store() {
        assert_eq!(parse(&[]).expect("valid"), None);
        assert_eq!(
            parse(&[("OPENTRAIL_DELIVERY_S3_ENDPOINT", "")]).expect("valid"),
            None
        );
    }

    #[test]
    fn an_endpoint_with_keys_configures_the_external_store() {
        let config = parse(&[
            ("OPENTRAIL_DELIVERY_S3_ENDPOINT", "http://127.0.0.1:9000/"),
            ("OPENTRAIL_DELIVERY_S3_ACCESS_KEY_ID", "AKID"),
            ("OPENTRAIL_DELIVERY_S3_SECRET_ACCESS_KEY", "secret"),
            ("OPENTRAIL_DELIVERY_S3_SESSION_TOKEN", "token"),
        ])
        .expect("valid")
        .expect("configured");
        assert_eq!(config.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(config.region, "us-east-1");
        assert_eq!(config.access_key_id, "AKID");
        assert_eq!(config.secret_access_key, "secret");
        assert_eq!(config.session_token.as_deref(), Some("token"));
        assert!(config.allow_http);
        assert!(!config.virtual_hosted_style);
        assert_eq!(config.sse, None);

        let config = parse(&[
            ("OPENTRAIL_DELIVERY_S3_ENDPOINT", "https://s3.example.com"),
            ("OPENTRAIL_DELIVERY_S3_REGION", "eu-west-3"),
            ("OPENTRAIL_DELIVERY_S3_VIRTUAL_HOSTED", "true"),
        ])
        .expect("valid")
        .expect("configured");
        assert_eq!(config.region, "eu-west-3");
        assert!(!config.allow_http);
        assert!(config.virtual_hosted_style);
        assert!(config.access_key_id.is_empty() && config.secret_access_key.is_empty());
    }

    #[test]
    fn settings_that_cannot_work_together_are_refused() {
        let message = config_error(&[("OPENTRAIL_DELIVERY_S3_ACCESS_KEY_ID", "AKID")]);
        assert!(
            message.contains("OPENTRAIL_DELIVERY_S3_ENDPOINT is not"),
            "{message}"
        );
        let endpoint = ("OPENTRAIL_DELIVERY_S3_ENDPOINT", "http://127.0.0.1:9000");
        let message = config_error(&[endpoint, ("OPENTRAIL_DELIVERY_S3_ACCESS_KEY_ID", "AKID")]);
        assert!(message.contains("set both"), "{message}");
        let message = config_error(&[endpoint, ("OPENTRAIL_DELIVERY_S3_SESSION_TOKEN", "t")]);
        assert!(message.contains("needs"), "{message}");
        let message = config_error(&[endpoint, ("OPENTRAIL_DELIVERY_S3_VIRTUAL_HOSTED", "maybe")]);
        assert!(message.contains("true or false"), "{message}");
        let message = config_error(&[endpoint, ("OPENTRAIL_DELIVERY_S3_REGION", "us east")]);
        assert!(message.contains("region name"), "{message}");
        for bad in [
            "127.0.0.1:9000",
            "ftp://host",
            "http://",
            "http://host/bucket",
        ] {
            let message = config_error(&[("OPENTRAIL_DELIVERY_S3_ENDPOINT", bad)]);
            assert!(message.contains("http:// or https://"), "{bad}: {message}");
        }
    }
}
