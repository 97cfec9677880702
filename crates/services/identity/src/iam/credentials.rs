//! A user's other credentials: SSH public keys (for CodeCommit) and X.509 signing
//! certificates; and the account's server certificates (their private keys checked, never
//! kept or recorded).

use base64::Engine;
use md5::{Digest, Md5};
use serde_json::{Value, json};

use super::users::{user, user_mut};
use super::{Call, input_tags, opt, page, path_of, tags_json, text};
use crate::error::{IdentityError, Result};
use crate::ids::{self, IdKind};
use crate::store::{ServerCert, SigningCert, SshKey, User};

/// Signing certificates and SSH keys per user.
const MAX_CERTS: usize = 2;
const MAX_SSH_KEYS: usize = 5;

fn check_status(status: &str) -> Result<()> {
    if !matches!(status, "Active" | "Inactive") {
        return Err(IdentityError::constraint(
            status,
            "status",
            "Member must satisfy enum value set: [Active, Inactive]",
        ));
    }
    Ok(())
}

/// The key bytes of an `ssh-rsa AAAA… comment` or PEM public key; `None` when it is
/// neither.
fn ssh_key_bytes(body: &str) -> Option<Vec<u8>> {
    let base64 = base64::engine::general_purpose::STANDARD;
    let body = body.trim();
    if let Some(rest) = body.strip_prefix("ssh-rsa ") {
        let encoded = rest.split_whitespace().next()?;
        return base64.decode(encoded).ok();
    }
    let pem = body
        .strip_prefix("-----BEGIN PUBLIC KEY-----")
        .or_else(|| body.strip_prefix("-----BEGIN RSA PUBLIC KEY-----"))?;
    let end = pem.find("-----END")?;
    let encoded: String = pem[..end].split_whitespace().collect();
    base64.decode(encoded).ok()
}

fn ssh_json(user: &User, key: &SshKey, body: bool) -> Value {
    let mut out = json!({
        "UserName": user.name,
        "SSHPublicKeyId": key.id,
        "Fingerprint": key.fingerprint,
        "Status": key.status,
        "UploadDate": key.uploaded,
    });
    if body {
        out["SSHPublicKeyBody"] = json!(key.body);
    }
    out
}

fn no_ssh_key(id: &str) -> IdentityError {
    IdentityError::NoSuchEntity(format!("The Public Key with id {id} cannot be found."))
}

pub fn upload_ssh_key(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "UserName")?;
    let body = text(input, "SSHPublicKeyBody")?;
    let Some(bytes) = ssh_key_bytes(body) else {
        return Err(IdentityError::Client(
            "InvalidPublicKey",
            400,
            "The public key must be encoded in ssh-rsa format or PEM format.".into(),
        ));
    };
    let digest = Md5::digest(&bytes);
    let fingerprint = digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    call.update(|account| {
        let user = user_mut(account, name)?;
        if user.ssh_keys.iter().any(|k| k.fingerprint == fingerprint) {
            return Err(IdentityError::Client(
                "DuplicateSSHPublicKey",
                400,
                "The public key is already associated with the user.".into(),
            ));
        }
        if user.ssh_keys.len() >= MAX_SSH_KEYS {
            return Err(IdentityError::LimitExceeded(format!(
                "Cannot exceed quota for SSHPublicKeysPerUser: {MAX_SSH_KEYS}"
            )));
        }
        let key = SshKey {
            id: ids::new_id(IdKind::SshKey),
            body: body.to_owned(),
            fingerprint,
            status: "Active".into(),
            uploaded: call.now,
        };
        let out = json!({"SSHPublicKey": ssh_json(user, &key, true)});
        user.ssh_keys.push(key);
        Ok(out)
    })
}

pub fn get_ssh_key(call: &Call<'_>, input: &Value) -> Result<Value> {
    let id = text(input, "SSHPublicKeyId")?;
    let account = call.account();
    let user = user(&account, text(input, "UserName")?)?;
    let key = user
        .ssh_keys
        .iter()
        .find(|k| k.id == id)
        .ok_or_else(|| no_ssh_key(id))?;
    Ok(json!({"SSHPublicKey": ssh_json(user, key, true)}))
}

pub fn list_ssh_keys(call: &Call<'_>, input: &Value) -> Result<Value> {
    let account = call.account();
    let name = match opt(input, "UserName") {
        Some(name) => name.to_owned(),
        None => call.ctx.identity.user_name.clone().unwrap_or_default(),
    };
    let user = user(&account, &name)?;
    let keys: Vec<Value> = user
        .ssh_keys
        .iter()
        .map(|key| {
            json!({
                "UserName": user.name,
                "SSHPublicKeyId": key.id,
                "Status": key.status,
                "UploadDate": key.uploaded,
            })
        })
        .collect();
    Ok(json!({"SSHPublicKeys": keys, "IsTruncated": false}))
}

pub fn update_ssh_key(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "UserName")?;
    let id = text(input, "SSHPublicKeyId")?;
    let status = text(input, "Status")?;
    check_status(status)?;
    call.update(|account| {
        let key = user_mut(account, name)?
            .ssh_keys
            .iter_mut()
            .find(|k| k.id == id)
            .ok_or_else(|| no_ssh_key(id))?;
        key.status = status.to_owned();
        Ok(json!({}))
    })
}

pub fn delete_ssh_key(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "UserName")?;
    let id = text(input, "SSHPublicKeyId")?;
    call.update(|account| {
        let user = user_mut(account, name)?;
        let before = user.ssh_keys.len();
        user.ssh_keys.retain(|k| k.id != id);
        if user.ssh_keys.len() == before {
            return Err(no_ssh_key(id));
        }
        Ok(json!({}))
    })
}

/// Whether `body` is a PEM certificate whose content is base64.
fn is_certificate(body: &str) -> bool {
    let body = body.trim();
    let Some(rest) = body.strip_prefix("-----BEGIN CERTIFICATE-----") else {
        return false;
    };
    let Some(end) = rest.find("-----END CERTIFICATE-----") else {
        return false;
    };
    let encoded: String = rest[..end].split_whitespace().collect();
    !encoded.is_empty()
        && base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .is_ok()
}

fn cert_json(user: &User, cert: &SigningCert) -> Value {
    json!({
        "UserName": user.name,
        "CertificateId": cert.id,
        "CertificateBody": cert.body,
        "Status": cert.status,
        "UploadDate": cert.uploaded,
    })
}

fn no_cert(id: &str) -> IdentityError {
    IdentityError::NoSuchEntity(format!("The Certificate with id {id} cannot be found."))
}

/// A user's name from the input, else the calling IAM user's.
fn user_name(call: &Call<'_>, input: &Value) -> String {
    match opt(input, "UserName") {
        Some(name) => name.to_owned(),
        None => call.ctx.identity.user_name.clone().unwrap_or_default(),
    }
}

pub fn upload_signing_cert(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = user_name(call, input);
    let body = text(input, "CertificateBody")?;
    call.update(|account| {
        let user = user_mut(account, &name)?;
        if !is_certificate(body) {
            return Err(malformed_certificate());
        }
        if user.signing_certs.len() >= MAX_CERTS {
            return Err(IdentityError::LimitExceeded(format!(
                "Cannot exceed quota for CertificatesPerUser: {MAX_CERTS}"
            )));
        }
        let id = ids::new_id(IdKind::SshKey)[4..].to_owned() + &ids::new_id(IdKind::SshKey)[4..];
        let cert = SigningCert {
            id,
            body: body.to_owned(),
            status: "Active".into(),
            uploaded: call.now,
        };
        let out = json!({"Certificate": cert_json(user, &cert)});
        user.signing_certs.push(cert);
        Ok(out)
    })
}

pub fn list_signing_certs(call: &Call<'_>, input: &Value) -> Result<Value> {
    let account = call.account();
    let user = user(&account, &user_name(call, input))?;
    let certs: Vec<Value> = user
        .signing_certs
        .iter()
        .map(|cert| cert_json(user, cert))
        .collect();
    Ok(json!({"Certificates": certs, "IsTruncated": false}))
}

pub fn update_signing_cert(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = user_name(call, input);
    let id = text(input, "CertificateId")?;
    let status = text(input, "Status")?;
    check_status(status)?;
    call.update(|account| {
        let cert = user_mut(account, &name)?
            .signing_certs
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or_else(|| no_cert(id))?;
        cert.status = status.to_owned();
        Ok(json!({}))
    })
}

pub fn delete_signing_cert(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = user_name(call, input);
    let id = text(input, "CertificateId")?;
    call.update(|account| {
        let user = user_mut(account, &name)?;
        let before = user.signing_certs.len();
        user.signing_certs.retain(|c| c.id != id);
        if user.signing_certs.len() == before {
            return Err(no_cert(id));
        }
        Ok(json!({}))
    })
}

fn malformed_certificate() -> IdentityError {
    IdentityError::Client(
        "MalformedCertificate",
        400,
        "Certificate body is malformed.".into(),
    )
}

/// Whether `key` is a PEM private key.
fn is_private_key(key: &str) -> bool {
    let key = key.trim();
    key.starts_with("-----BEGIN") && key.contains("PRIVATE KEY-----")
}

fn server_cert_metadata(cert: &ServerCert) -> Value {
    json!({
        "Path": cert.path,
        "ServerCertificateName": cert.name,
        "ServerCertificateId": cert.id,
        "Arn": cert.arn,
        "UploadDate": cert.uploaded,
    })
}

fn no_server_cert(name: &str) -> IdentityError {
    IdentityError::NoSuchEntity(format!(
        "The Server Certificate with name {name} cannot be found."
    ))
}

pub fn upload_server_cert(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "ServerCertificateName")?;
    ids::check_name(name, "serverCertificateName", 128)?;
    let path = path_of(input, "Path")?;
    let body = text(input, "CertificateBody")?;
    let key = text(input, "PrivateKey")?;
    if !is_certificate(body) {
        return Err(malformed_certificate());
    }
    if !is_private_key(key) {
        return Err(IdentityError::Client(
            "MalformedCertificate",
            400,
            "The private key is malformed.".into(),
        ));
    }
    let chain = opt(input, "CertificateChain").map(str::to_owned);
    let tags = input_tags(input)?;
    call.update(|account| {
        if account.server_certs.contains_key(&name.to_lowercase()) {
            return Err(IdentityError::EntityAlreadyExists(format!(
                "The Server Certificate with name {name} already exists."
            )));
        }
        let cert = ServerCert {
            name: name.to_owned(),
            id: ids::new_id(IdKind::ServerCertificate),
            path: path.to_owned(),
            arn: call.arn("server-certificate", path, name),
            uploaded: call.now,
            body: body.to_owned(),
            chain,
            tags,
        };
        let mut out = json!({"ServerCertificateMetadata": server_cert_metadata(&cert)});
        if !cert.tags.is_empty() {
            out["Tags"] = tags_json(&cert.tags);
        }
        account.server_certs.insert(name.to_lowercase(), cert);
        Ok(out)
    })
}

pub fn get_server_cert(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "ServerCertificateName")?;
    let account = call.account();
    let cert = account
        .server_certs
        .get(&name.to_lowercase())
        .ok_or_else(|| no_server_cert(name))?;
    let mut out = json!({
        "ServerCertificateMetadata": server_cert_metadata(cert),
        "CertificateBody": cert.body,
    });
    if let Some(chain) = &cert.chain {
        out["CertificateChain"] = json!(chain);
    }
    if !cert.tags.is_empty() {
        out["Tags"] = tags_json(&cert.tags);
    }
    Ok(json!({"ServerCertificate": out}))
}

pub fn list_server_certs(call: &Call<'_>, input: &Value) -> Result<Value> {
    let prefix = path_of(input, "PathPrefix")?;
    let account = call.account();
    let certs = account
        .server_certs
        .values()
        .filter(|c| c.path.starts_with(prefix))
        .collect();
    let (certs, mut out) = page(input, certs, |c| c.name.to_lowercase())?;
    out.insert(
        "ServerCertificateMetadataList".into(),
        Value::Array(certs.into_iter().map(server_cert_metadata).collect()),
    );
    Ok(Value::Object(out))
}

pub fn delete_server_cert(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "ServerCertificateName")?;
    call.update(|account| {
        account
            .server_certs
            .remove(&name.to_lowercase())
            .ok_or_else(|| no_server_cert(name))?;
        Ok(json!({}))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_keys_and_certificates_are_recognised() {
        assert!(ssh_key_bytes("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ== me@host").is_some());
        assert!(ssh_key_bytes("not a key").is_none());
        assert!(is_certificate(
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
        ));
        assert!(!is_certificate("notacert"));
        assert!(is_private_key(
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"
        ));
        assert!(!is_private_key("secret"));
    }
}
