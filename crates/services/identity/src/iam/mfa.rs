//! MFA devices: virtual devices and the devices enabled for users.
//!
//! Authentication codes are not checked (there is no console sign-in to protect), and a
//! virtual device's seed is answered once and never kept or recorded.

use base64::Engine;
use serde_json::{Value, json};

use super::users::{user, user_json, user_mut};
use super::{Call, input_tags, opt, tags_json, text};
use crate::error::{IdentityError, Result};
use crate::ids::check_name;
use crate::store::MfaDevice;

/// A 1×1 PNG: opentrail answers the seed, not a rendered QR code.
const PLACEHOLDER_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

const PATH_MESSAGE: &str = "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.";

fn check_mfa_path(path: &str) -> Result<()> {
    if path.len() > 512 {
        return Err(IdentityError::Validation(format!(
            "1 validation error detected: Value \"{path}\" at \"path\" failed to satisfy constraint: Member must have length less than or equal to 512"
        )));
    }
    let valid = path.starts_with('/')
        && path.ends_with('/')
        && !path.contains("//")
        && path.chars().all(|c| c.is_ascii_alphanumeric() || c == '/');
    if !valid {
        return Err(IdentityError::Validation(PATH_MESSAGE.into()));
    }
    Ok(())
}

pub fn create_virtual(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "VirtualMFADeviceName")?;
    check_name(name, "virtualMFADeviceName", 226)?;
    let path = opt(input, "Path").unwrap_or("/");
    check_mfa_path(path)?;
    let tags = input_tags(input)?;
    let serial = call.arn("mfa", path, name);
    call.update(|account| {
        if account.mfa_devices.contains_key(&serial) {
            return Err(IdentityError::EntityAlreadyExists(
                "MFADevice entity at the same path and name already exists.".into(),
            ));
        }
        let device = MfaDevice {
            serial: serial.clone(),
            virtual_device: true,
            created: call.now,
            user: None,
            enabled: None,
            tags,
        };
        let seed = crate::ids::new_mfa_seed();
        let base64 = base64::engine::general_purpose::STANDARD;
        let mut out = json!({
            "SerialNumber": serial,
            "Base32StringSeed": base64.encode(seed),
            "QRCodePNG": base64.encode(PLACEHOLDER_PNG),
        });
        if !device.tags.is_empty() {
            out["Tags"] = tags_json(&device.tags);
        }
        account.mfa_devices.insert(serial.clone(), device);
        Ok(json!({"VirtualMFADevice": out}))
    })
}

pub fn delete_virtual(call: &Call<'_>, input: &Value) -> Result<Value> {
    let serial = text(input, "SerialNumber")?;
    call.update(|account| {
        let device = account
            .mfa_devices
            .get(serial)
            .filter(|d| d.virtual_device)
            .ok_or_else(|| {
                IdentityError::NoSuchEntity(format!(
                    "VirtualMFADevice with serial number {serial} doesn't exist."
                ))
            })?;
        if device.user.is_some() {
            return Err(IdentityError::DeleteConflict(
                "MFA Device is in use.".into(),
            ));
        }
        account.mfa_devices.remove(serial);
        Ok(json!({}))
    })
}

pub fn list_virtual(call: &Call<'_>, input: &Value) -> Result<Value> {
    let status = opt(input, "AssignmentStatus").unwrap_or("Any");
    let account = call.account();
    let mut devices: Vec<&MfaDevice> = account
        .mfa_devices
        .values()
        .filter(|d| d.virtual_device)
        .filter(|d| match status {
            "Assigned" => d.user.is_some(),
            "Unassigned" => d.user.is_none(),
            _ => true,
        })
        .collect();
    devices.sort_by(|a, b| (a.created, &a.serial).cmp(&(b.created, &b.serial)));
    let start = match opt(input, "Marker") {
        Some(marker) => marker
            .parse::<usize>()
            .ok()
            .filter(|start| *start < devices.len())
            .ok_or_else(|| IdentityError::Validation("Invalid Marker.".into()))?,
        None => 0,
    };
    let max = opentrail_core::pipeline::input::opt_i64(input, "MaxItems")
        .and_then(|max| usize::try_from(max).ok())
        .unwrap_or(100);
    let end = (start + max).min(devices.len());
    let listed: Vec<Value> = devices[start..end]
        .iter()
        .map(|device| {
            let mut out = json!({"SerialNumber": device.serial});
            if let Some(user) = device.user.as_ref().and_then(|u| account.users.get(u)) {
                out["User"] = user_json(user, true);
            }
            if let Some(enabled) = device.enabled {
                out["EnableDate"] = json!(enabled);
            }
            if !device.tags.is_empty() {
                out["Tags"] = tags_json(&device.tags);
            }
            out
        })
        .collect();
    let mut out = json!({"VirtualMFADevices": listed, "IsTruncated": end < devices.len()});
    if end < devices.len() {
        out["Marker"] = json!(end.to_string());
    }
    Ok(out)
}

pub fn enable(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "UserName")?;
    let serial = text(input, "SerialNumber")?;
    call.update(|account| {
        let key = user(account, name)?.name.to_lowercase();
        let device = account
            .mfa_devices
            .entry(serial.to_owned())
            .or_insert_with(|| MfaDevice {
                serial: serial.to_owned(),
                virtual_device: false,
                created: call.now,
                user: None,
                enabled: None,
                tags: Vec::new(),
            });
        if device.user.is_some() {
            return Err(IdentityError::EntityAlreadyExists(
                "Device is already in use.".into(),
            ));
        }
        device.user = Some(key);
        device.enabled = Some(call.now);
        Ok(json!({}))
    })
}

pub fn deactivate(call: &Call<'_>, input: &Value) -> Result<Value> {
    let serial = text(input, "SerialNumber")?;
    call.update(|account| {
        let key = match opt(input, "UserName") {
            Some(name) => Some(user_mut(account, name)?.name.to_lowercase()),
            None => None,
        };
        let device = account
            .mfa_devices
            .get_mut(serial)
            .filter(|d| d.user.is_some() && (key.is_none() || d.user == key))
            .ok_or_else(|| {
                IdentityError::NoSuchEntity(format!(
                    "MFA Device with serial number {serial} does not exist."
                ))
            })?;
        if device.virtual_device {
            device.user = None;
            device.enabled = None;
        } else {
            account.mfa_devices.remove(serial);
        }
        Ok(json!({}))
    })
}

pub fn list(call: &Call<'_>, input: &Value) -> Result<Value> {
    let account = call.account();
    let name = match opt(input, "UserName") {
        Some(name) => name.to_owned(),
        None => call.ctx.identity.user_name.clone().unwrap_or_default(),
    };
    let owner = user(&account, &name)?;
    let key = owner.name.to_lowercase();
    let devices: Vec<Value> = account
        .mfa_devices
        .values()
        .filter(|d| d.user.as_deref() == Some(key.as_str()))
        .map(|d| {
            json!({
                "UserName": owner.name,
                "SerialNumber": d.serial,
                "EnableDate": d.enabled.unwrap_or(d.created),
            })
        })
        .collect();
    Ok(json!({"MFADevices": devices, "IsTruncated": false}))
}
