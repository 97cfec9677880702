//! Root credentials. Given by the environment, or generated on first start and kept in
//! `<data-dir>/credentials.json` (mode 0600), so the same keys work after a restart.

use std::path::Path;

use opentrail_api::SecretLookup;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::ServerError;

/// One access key and what it belongs to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account_id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    version: u32,
    root: AccessKey,
}

/// The keys the server accepts.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub root: AccessKey,
}

/// How root credentials were obtained, so the CLI can print generated ones once.
pub enum Origin {
    Environment,
    Stored,
    Generated,
}

impl Credentials {
    /// Loads the root key: from the configuration when given, else from the data directory,
    /// else a new one (stored before it is returned).
    pub fn load(
        data_dir: &Path,
        account_id: &str,
        configured: Option<(String, String)>,
    ) -> Result<(Credentials, Origin), ServerError> {
        if let Some((access_key_id, secret_access_key)) = configured {
            let root = AccessKey {
                access_key_id,
                secret_access_key,
                account_id: account_id.to_owned(),
            };
            return Ok((Credentials { root }, Origin::Environment));
        }
        let path = data_dir.join("credentials.json");
        if path.exists() {
            let text = fs_err::read_to_string(&path)?;
            let file: CredentialsFile = serde_json::from_str(&text)
                .map_err(|err| ServerError::Config(format!("{}: {err}", path.display())))?;
            if file.version != 1 {
                return Err(ServerError::Config(format!(
                    "{}: unsupported version {}",
                    path.display(),
                    file.version
                )));
            }
            let mut root = file.root;
            root.account_id = account_id.to_owned();
            return Ok((Credentials { root }, Origin::Stored));
        }
        let root = AccessKey {
            access_key_id: format!("AKIA{}", random_string(16, UPPER_DIGITS)),
            secret_access_key: random_string(40, SECRET_CHARS),
            account_id: account_id.to_owned(),
        };
        let file = CredentialsFile {
            version: 1,
            root: root.clone(),
        };
        let text = serde_json::to_string_pretty(&file)
            .map_err(|err| ServerError::Config(err.to_string()))?;
        write_private(&path, text.as_bytes())?;
        Ok((Credentials { root }, Origin::Generated))
    }

    /// The key with this id, if the server knows it.
    pub fn find(&self, access_key_id: &str) -> Option<&AccessKey> {
        (self.root.access_key_id == access_key_id).then_some(&self.root)
    }
}

impl SecretLookup for Credentials {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self.find(access_key_id)
            .map(|key| key.secret_access_key.clone())
    }
}

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ServerError> {
    #[cfg(unix)]
    use fs_err::os::unix::fs::OpenOptionsExt;
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = fs_err::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs_err::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_stored_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (first, origin) = Credentials::load(dir.path(), "123456789012", None).expect("load");
        assert!(matches!(origin, Origin::Generated));
        assert!(first.root.access_key_id.starts_with("AKIA"));
        assert_eq!(first.root.secret_access_key.len(), 40);
        let (second, origin) = Credentials::load(dir.path(), "123456789012", None).expect("load");
        assert!(matches!(origin, Origin::Stored));
        assert_eq!(first.root, second.root);
        assert_eq!(
            second.secret_for(&first.root.access_key_id).as_deref(),
            Some(first.root.secret_access_key.as_str())
        );
        assert_eq!(second.secret_for("AKIAUNKNOWN"), None);
    }
}
