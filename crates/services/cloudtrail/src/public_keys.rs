//! ListPublicKeys: the public keys that verify digest files, exactly as the AWS CLI's
//! `validate-logs` expects them.
//!
//! Keys are per region (the caller's); every key whose validity overlaps `[StartTime,
//! EndTime]` is listed, old rotated keys included. `Value` is the base64 of the DER PKCS#1
//! `RSAPublicKey` (the CLI decodes it once), times are epoch seconds, `Fingerprint` is the hex
//! MD5 of the DER, as written in each digest's `digestPublicKeyFingerprint`.

use serde_json::{Value, json};

use super::error::CloudTrailError;
use super::lookup::time_ms;
use crate::workers::keys;
use opentrail_core::AppState;
use opentrail_core::context::RequestContext;

/// ListPublicKeys. Without times, the keys valid now.
pub fn list_public_keys(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    let now = opentrail_model::time::now_ms();
    let start_ms = time_ms(input, "StartTime")?.unwrap_or(now);
    let end_ms = time_ms(input, "EndTime")?.unwrap_or(now);
    if start_ms > end_ms {
        return Err(CloudTrailError::InvalidTimeRange(
            "Start time must be before end time.".into(),
        ));
    }
    let found = keys::keys_in_range(&state.meta, &ctx.region, start_ms, end_ms, now)?;
    let list: Vec<Value> = found
        .iter()
        .map(|key| {
            json!({
                "Value": key.public_key,
                "ValidityStartTime": key.valid_from_ms / 1000,
                "ValidityEndTime": (key.validity_end_ms(now) + 999) / 1000,
                "Fingerprint": key.fingerprint,
            })
        })
        .collect();
    Ok(json!({ "PublicKeyList": list }))
}
