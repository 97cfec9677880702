//! OpenID Connect identity providers (the issuers `AssumeRoleWithWebIdentity` trusts).

use serde_json::{Value, json};

use super::{Call, input_tags, tag_entity, tags_json, tags_page, text, untag_entity};
use crate::error::{IdentityError, Result};
use crate::store::{Account, OidcProvider};

/// Thumbprints and client ids per provider.
const MAX_THUMBPRINTS: usize = 5;
const MAX_CLIENT_IDS: usize = 100;

fn not_found(arn: &str) -> IdentityError {
    IdentityError::NoSuchEntity(format!("OpenIDConnect Provider not found for arn {arn}"))
}

fn provider_mut<'a>(account: &'a mut Account, arn: &str) -> Result<&'a mut OidcProvider> {
    account
        .oidc_providers
        .get_mut(arn)
        .ok_or_else(|| not_found(arn))
}

fn thumbprints(input: &Value) -> Result<Vec<String>> {
    let list = opentrail_core::pipeline::input::string_list(input, "ThumbprintList");
    if list.len() > MAX_THUMBPRINTS {
        return Err(IdentityError::InvalidInput(format!(
            "Thumbprint list must contain fewer than {MAX_THUMBPRINTS} entries."
        )));
    }
    Ok(list)
}

pub fn create(call: &Call<'_>, input: &Value) -> Result<Value> {
    let url = text(input, "Url")?;
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return Err(IdentityError::Validation(
            "Invalid Open ID Connect Provider URL".into(),
        ));
    };
    let issuer = rest
        .split(['?', '#'])
        .next()
        .unwrap_or(rest)
        .trim_end_matches('/');
    if issuer.is_empty() {
        return Err(IdentityError::Validation(
            "Invalid Open ID Connect Provider URL".into(),
        ));
    }
    let thumbprints = thumbprints(input)?;
    let client_ids = opentrail_core::pipeline::input::string_list(input, "ClientIDList");
    if client_ids.len() > MAX_CLIENT_IDS {
        return Err(IdentityError::LimitExceeded(format!(
            "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}"
        )));
    }
    let tags = input_tags(input)?;
    let arn = format!(
        "arn:{}:iam::{}:oidc-provider/{issuer}",
        crate::ids::partition(&call.ctx.region),
        call.account
    );
    call.update(|account| {
        if account.oidc_providers.contains_key(&arn) {
            return Err(IdentityError::EntityAlreadyExists("Unknown".into()));
        }
        let provider = OidcProvider {
            url: issuer.to_owned(),
            arn: arn.clone(),
            created: call.now,
            thumbprints,
            client_ids,
            tags,
        };
        let mut out = json!({"OpenIDConnectProviderArn": arn});
        if !provider.tags.is_empty() {
            out["Tags"] = tags_json(&provider.tags);
        }
        account.oidc_providers.insert(arn.clone(), provider);
        Ok(out)
    })
}

pub fn get(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "OpenIDConnectProviderArn")?;
    let account = call.account();
    let provider = account
        .oidc_providers
        .get(arn)
        .ok_or_else(|| not_found(arn))?;
    Ok(json!({
        "Url": provider.url,
        "ClientIDList": provider.client_ids,
        "ThumbprintList": provider.thumbprints,
        "CreateDate": provider.created,
        "Tags": tags_json(&provider.tags),
    }))
}

pub fn list(call: &Call<'_>, _input: &Value) -> Result<Value> {
    let account = call.account();
    let arns: Vec<Value> = account
        .oidc_providers
        .keys()
        .map(|arn| json!({"Arn": arn}))
        .collect();
    Ok(json!({"OpenIDConnectProviderList": arns}))
}

/// Deleting a provider that does not exist succeeds, as in IAM.
pub fn delete(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "OpenIDConnectProviderArn")?;
    call.update(|account| {
        account.oidc_providers.remove(arn);
        Ok(json!({}))
    })
}

pub fn update_thumbprint(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "OpenIDConnectProviderArn")?;
    let thumbprints = thumbprints(input)?;
    call.update(|account| {
        provider_mut(account, arn)?.thumbprints = thumbprints;
        Ok(json!({}))
    })
}

pub fn add_client_id(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "OpenIDConnectProviderArn")?;
    let client_id = text(input, "ClientID")?;
    call.update(|account| {
        let provider = provider_mut(account, arn)?;
        if !provider.client_ids.iter().any(|c| c == client_id) {
            if provider.client_ids.len() >= MAX_CLIENT_IDS {
                return Err(IdentityError::LimitExceeded(format!(
                    "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}"
                )));
            }
            provider.client_ids.push(client_id.to_owned());
        }
        Ok(json!({}))
    })
}

pub fn remove_client_id(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "OpenIDConnectProviderArn")?;
    let client_id = text(input, "ClientID")?;
    call.update(|account| {
        provider_mut(account, arn)?
            .client_ids
            .retain(|c| c != client_id);
        Ok(json!({}))
    })
}

pub fn tag(call: &Call<'_>, input: &Value) -> Result<Value> {
    tag_entity(call, input, "OpenIDConnectProviderArn", |account, name| {
        Ok(&mut provider_mut(account, name)?.tags)
    })
}

pub fn untag(call: &Call<'_>, input: &Value) -> Result<Value> {
    untag_entity(call, input, "OpenIDConnectProviderArn", |account, name| {
        Ok(&mut provider_mut(account, name)?.tags)
    })
}

pub fn list_tags(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "OpenIDConnectProviderArn")?;
    let account = call.account();
    let provider = account
        .oidc_providers
        .get(arn)
        .ok_or_else(|| not_found(arn))?;
    tags_page(input, &provider.tags)
}
