//! SAML 2.0 identity providers (the issuers `AssumeRoleWithSAML` trusts).

use serde_json::{Value, json};

use super::{Call, input_tags, tag_entity, tags_json, tags_page, text, untag_entity};
use crate::error::{IdentityError, Result};
use crate::ids::check_name;
use crate::store::{Account, SamlProvider};

fn not_found(arn: &str) -> IdentityError {
    IdentityError::NoSuchEntity(format!("SAMLProvider {arn} not found"))
}

fn provider_mut<'a>(account: &'a mut Account, arn: &str) -> Result<&'a mut SamlProvider> {
    account
        .saml_providers
        .get_mut(arn)
        .ok_or_else(|| not_found(arn))
}

/// `validUntil="…"` of the metadata, as epoch seconds.
fn valid_until(metadata: &str) -> Option<i64> {
    let start = metadata.find("validUntil=\"")? + "validUntil=\"".len();
    let end = metadata[start..].find('"')? + start;
    let millis = opentrail_model::time::parse_event_time_ms(&metadata[start..end])?;
    Some(millis / 1000)
}

fn summary(provider: &SamlProvider) -> Value {
    let mut out = json!({"Arn": provider.arn, "CreateDate": provider.created});
    if let Some(until) = provider.valid_until {
        out["ValidUntil"] = json!(until);
    }
    out
}

pub fn create(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "Name")?;
    check_name(name, "name", 128)?;
    let metadata = text(input, "SAMLMetadataDocument")?;
    let tags = input_tags(input)?;
    let arn = format!(
        "arn:{}:iam::{}:saml-provider/{name}",
        crate::ids::partition(&call.ctx.region),
        call.account
    );
    call.update(|account| {
        if account.saml_providers.contains_key(&arn) {
            return Err(IdentityError::EntityAlreadyExists(format!(
                "SAMLProvider {name} already exists"
            )));
        }
        let provider = SamlProvider {
            name: name.to_owned(),
            arn: arn.clone(),
            created: call.now,
            metadata: metadata.to_owned(),
            valid_until: valid_until(metadata),
            tags,
        };
        let mut out = json!({"SAMLProviderArn": arn});
        if !provider.tags.is_empty() {
            out["Tags"] = tags_json(&provider.tags);
        }
        account.saml_providers.insert(arn.clone(), provider);
        Ok(out)
    })
}

pub fn get(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "SAMLProviderArn")?;
    let account = call.account();
    let provider = account
        .saml_providers
        .get(arn)
        .ok_or_else(|| not_found(arn))?;
    let mut out = summary(provider);
    if let Some(members) = out.as_object_mut() {
        members.remove("Arn");
    }
    out["SAMLMetadataDocument"] = json!(provider.metadata);
    out["Tags"] = tags_json(&provider.tags);
    Ok(out)
}

pub fn list(call: &Call<'_>, _input: &Value) -> Result<Value> {
    let account = call.account();
    let providers: Vec<Value> = account.saml_providers.values().map(summary).collect();
    Ok(json!({"SAMLProviderList": providers}))
}

pub fn update(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "SAMLProviderArn")?;
    let metadata = text(input, "SAMLMetadataDocument")?;
    call.update(|account| {
        let provider = provider_mut(account, arn)?;
        provider.metadata = metadata.to_owned();
        provider.valid_until = valid_until(metadata);
        Ok(json!({"SAMLProviderArn": arn}))
    })
}

pub fn delete(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "SAMLProviderArn")?;
    call.update(|account| {
        account
            .saml_providers
            .remove(arn)
            .ok_or_else(|| not_found(arn))?;
        Ok(json!({}))
    })
}

pub fn tag(call: &Call<'_>, input: &Value) -> Result<Value> {
    tag_entity(call, input, "SAMLProviderArn", |account, name| {
        Ok(&mut provider_mut(account, name)?.tags)
    })
}

pub fn untag(call: &Call<'_>, input: &Value) -> Result<Value> {
    untag_entity(call, input, "SAMLProviderArn", |account, name| {
        Ok(&mut provider_mut(account, name)?.tags)
    })
}

pub fn list_tags(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "SAMLProviderArn")?;
    let account = call.account();
    let provider = account
        .saml_providers
        .get(arn)
        .ok_or_else(|| not_found(arn))?;
    tags_page(input, &provider.tags)
}

#[cfg(test)]
mod tests {
    #[test]
    fn valid_until_is_read_from_the_metadata() {
        let metadata = r#"<EntityDescriptor entityID="x" validUntil="2025-08-30T00:00:00Z">"#;
        assert_eq!(super::valid_until(metadata), Some(1_756_512_000));
        assert_eq!(super::valid_until("<EntityDescriptor/>"), None);
    }
}
