//! The credential report: one CSV line per user (and the root user) with the state of its
//! password, MFA, access keys and signing certificates, as IAM writes it.

use base64::Engine;
use serde_json::{Value, json};

use super::Call;
use crate::error::{IdentityError, Result};
use crate::ids::iso;
use crate::store::Account;

const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

pub fn generate(call: &Call<'_>, _input: &Value) -> Result<Value> {
    let already = call.account().credential_report.is_some();
    call.update(|account| {
        account.credential_report = Some(call.now);
        Ok(())
    })?;
    let (state, description) = if already {
        ("COMPLETE", "No report generation in progress")
    } else {
        (
            "STARTED",
            "No report exists. Starting a new report generation task",
        )
    };
    Ok(json!({"State": state, "Description": description}))
}

pub fn get(call: &Call<'_>, _input: &Value) -> Result<Value> {
    let account = call.account();
    let Some(generated) = account.credential_report else {
        return Err(IdentityError::Client(
            "ReportNotPresent",
            410,
            "Credential report not present".into(),
        ));
    };
    let csv = report(call, &account);
    Ok(json!({
        "Content": base64::engine::general_purpose::STANDARD.encode(csv),
        "ReportFormat": "text/csv",
        "GeneratedTime": generated,
    }))
}

fn flag(on: bool) -> &'static str {
    if on { "true" } else { "false" }
}

fn report(call: &Call<'_>, account: &Account) -> String {
    let na = "N/A";
    let mut lines = vec![HEADER.to_owned()];
    let root = format!("arn:aws:iam::{}:root", call.account);
    lines.push(format!(
        "<root_account>,{root},{},not_supported,{na},not_supported,not_supported,false,true,{na},{na},{na},{na},false,{na},{na},{na},{na},false,{na},false,{na}",
        iso(0)
    ));
    for user in account.users.values() {
        let mfa = account
            .mfa_devices
            .values()
            .any(|d| d.user.as_deref() == Some(user.name.to_lowercase().as_str()));
        let mut fields = vec![
            user.name.clone(),
            user.arn.clone(),
            iso(user.created),
            flag(user.login_profile.is_some()).to_owned(),
            na.to_owned(),
            user.login_profile
                .as_ref()
                .map_or_else(|| na.to_owned(), |p| iso(p.created)),
            na.to_owned(),
            flag(mfa).to_owned(),
        ];
        for index in 0..2 {
            match user.keys.get(index) {
                Some(key) => {
                    let used = call
                        .iam
                        .noted_use(&key.id)
                        .or_else(|| key.last_used.clone());
                    fields.push(flag(key.status == "Active").to_owned());
                    fields.push(iso(key.created));
                    match used {
                        Some(used) => {
                            fields.push(iso(used.date));
                            fields.push(used.region);
                            fields.push(used.service);
                        }
                        None => fields.extend([na, na, na].map(str::to_owned)),
                    }
                }
                None => fields.extend(["false", na, na, na, na].map(str::to_owned)),
            }
        }
        for index in 0..2 {
            match user.signing_certs.get(index) {
                Some(cert) => {
                    fields.push(flag(cert.status == "Active").to_owned());
                    fields.push(iso(cert.uploaded));
                }
                None => fields.extend(["false", na].map(str::to_owned)),
            }
        }
        lines.push(fields.join(","));
    }
    lines.join("\n")
}
