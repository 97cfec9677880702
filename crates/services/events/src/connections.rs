//! Connections and API destinations: CreateConnection, DescribeConnection, ListConnections,
//! UpdateConnection, DeleteConnection, DeauthorizeConnection, and the same five for API
//! destinations. Secrets (API key values, passwords, client secrets) are stored and used for
//! delivery but never returned.

use opentrail_model::Arn;
use serde_json::{Map, Value, json};

use super::error::EventsError;
use super::ops::{self, Call, epoch_seconds};
use super::store::{self, ApiDestination, Connection};

const AUTH_TYPES: &[&str] = &["BASIC", "OAUTH_CLIENT_CREDENTIALS", "API_KEY"];
const METHODS: &[&str] = &["POST", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"];

fn key(call: &Call, name: &str) -> String {
    format!("{}/{}/{name}", call.account, call.region)
}

fn not_found_connection(name: &str) -> EventsError {
    EventsError::ResourceNotFound(format!("Connection '{name}' does not exist."))
}

fn not_found_destination(name: &str) -> EventsError {
    EventsError::ResourceNotFound(format!("An api-destination '{name}' does not exist."))
}

/// The connection an ARN names (delivery looks it up by ARN).
pub fn connection_by_arn(
    meta: &opentrail_meta::Meta,
    arn: &str,
) -> Result<Option<Connection>, EventsError> {
    stored_by_arn(meta, arn, "connection/", store::CONNECTIONS)
}

/// The API destination an ARN names.
pub fn destination_by_arn(
    meta: &opentrail_meta::Meta,
    arn: &str,
) -> Result<Option<ApiDestination>, EventsError> {
    stored_by_arn(meta, arn, "api-destination/", store::DESTINATIONS)
}

/// What `table` keeps for `arn:…:events:<region>:<account>:<kind><name>[/…]`; `None` for an
/// ARN of another shape.
fn stored_by_arn<T: serde::de::DeserializeOwned>(
    meta: &opentrail_meta::Meta,
    arn: &str,
    kind: &str,
    table: &str,
) -> Result<Option<T>, EventsError> {
    let Some(Arn {
        region,
        account,
        resource,
        ..
    }) = Arn::of_service(arn, "events")
    else {
        return Ok(None);
    };
    let Some(name) = resource
        .strip_prefix(kind)
        .and_then(|rest| rest.split('/').next())
    else {
        return Ok(None);
    };
    Ok(meta.get(table, &format!("{account}/{region}/{name}"))?)
}

fn check_auth(auth_type: &str, parameters: &Value) -> Result<(), EventsError> {
    if !AUTH_TYPES.contains(&auth_type) {
        return Err(EventsError::Validation(format!(
            "1 validation error detected: Value '{auth_type}' at 'authorizationType' failed to satisfy constraint: Member must satisfy enum value set: [BASIC, OAUTH_CLIENT_CREDENTIALS, API_KEY]"
        )));
    }
    let member = match auth_type {
        "BASIC" => "BasicAuthParameters",
        "API_KEY" => "ApiKeyAuthParameters",
        _ => "OAuthParameters",
    };
    if parameters.get(member).is_none() {
        return Err(EventsError::Validation(format!(
            "The {member} is required for the {auth_type} authorization type."
        )));
    }
    Ok(())
}

/// The auth parameters without their secrets, as Describe shows them.
fn public_auth(parameters: &Value) -> Value {
    let mut copy = parameters.clone();
    for (member, secret) in [
        ("ApiKeyAuthParameters", "ApiKeyValue"),
        ("BasicAuthParameters", "Password"),
    ] {
        if let Some(inner) = copy.get_mut(member).and_then(Value::as_object_mut) {
            inner.remove(secret);
        }
    }
    if let Some(client) = copy
        .get_mut("OAuthParameters")
        .and_then(|o| o.get_mut("ClientParameters"))
        .and_then(Value::as_object_mut)
    {
        client.remove("ClientSecret");
    }
    copy
}

fn connection_summary(connection: &Connection) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("ConnectionArn".into(), json!(connection.arn()));
    out.insert("ConnectionState".into(), json!(connection.state));
    out.insert("CreationTime".into(), epoch_seconds(connection.created_ms));
    out.insert(
        "LastModifiedTime".into(),
        epoch_seconds(connection.modified_ms),
    );
    out.insert(
        "LastAuthorizedTime".into(),
        epoch_seconds(connection.modified_ms),
    );
    out
}

pub fn create_connection(call: &Call) -> Result<Value, EventsError> {
    let name = call.str("Name").unwrap_or("");
    ops::check_name(name, "name")?;
    let auth_type = call.str("AuthorizationType").unwrap_or("");
    let parameters = call
        .input
        .get("AuthParameters")
        .cloned()
        .unwrap_or_else(|| json!({}));
    check_auth(auth_type, &parameters)?;
    let key = key(call, name);
    if call
        .meta()
        .get::<Connection>(store::CONNECTIONS, &key)?
        .is_some()
    {
        return Err(EventsError::ResourceAlreadyExists(format!(
            "Connection {name} already exists."
        )));
    }
    let connection = Connection {
        version: store::FORMAT_VERSION,
        account: call.account.clone(),
        region: call.region.clone(),
        name: name.to_owned(),
        uuid: uuid::Uuid::new_v4().to_string(),
        description: call.str("Description").map(str::to_owned),
        authorization_type: auth_type.to_owned(),
        auth_parameters: parameters,
        created_ms: call.now_ms,
        modified_ms: call.now_ms,
        state: "AUTHORIZED".into(),
    };
    call.meta().put(store::CONNECTIONS, &key, &connection)?;
    let mut out = connection_summary(&connection);
    out.remove("LastAuthorizedTime");
    Ok(Value::Object(out))
}

fn load_connection(call: &Call) -> Result<Connection, EventsError> {
    let name = call.str("Name").unwrap_or("");
    call.meta()
        .get::<Connection>(store::CONNECTIONS, &key(call, name))?
        .ok_or_else(|| not_found_connection(name))
}

pub fn describe_connection(call: &Call) -> Result<Value, EventsError> {
    let connection = load_connection(call)?;
    let mut out = connection_summary(&connection);
    out.insert("Name".into(), json!(connection.name));
    if let Some(description) = &connection.description {
        out.insert("Description".into(), json!(description));
    }
    out.insert(
        "AuthorizationType".into(),
        json!(connection.authorization_type),
    );
    out.insert(
        "AuthParameters".into(),
        public_auth(&connection.auth_parameters),
    );
    out.insert(
        "SecretArn".into(),
        json!(format!(
            "arn:aws:secretsmanager:{}:{}:secret:events!connection/{}/{}",
            connection.region, connection.account, connection.name, connection.uuid
        )),
    );
    Ok(Value::Object(out))
}

pub fn list_connections(call: &Call) -> Result<Value, EventsError> {
    let prefix = call.str("NamePrefix").unwrap_or("");
    let state = call.str("ConnectionState");
    let connections: Vec<Connection> = call
        .meta()
        .list::<Connection>(
            store::CONNECTIONS,
            &format!("{}/{}/", call.account, call.region),
        )?
        .into_iter()
        .map(|(_, c)| c)
        .filter(|c| c.name.starts_with(prefix) && state.is_none_or(|s| s == c.state))
        .collect();
    let (page, next) = ops::paginate(&connections, call.str("NextToken"), call.limit())?;
    let listed: Vec<Value> = page
        .iter()
        .map(|c| {
            let mut out = connection_summary(c);
            out.insert("Name".into(), json!(c.name));
            out.insert("AuthorizationType".into(), json!(c.authorization_type));
            Value::Object(out)
        })
        .collect();
    let mut out = json!({"Connections": listed});
    if let Some(next) = next {
        out["NextToken"] = json!(next);
    }
    Ok(out)
}

pub fn update_connection(call: &Call) -> Result<Value, EventsError> {
    let mut connection = load_connection(call)?;
    if let Some(description) = call.str("Description") {
        connection.description = Some(description.to_owned());
    }
    if let Some(auth_type) = call.str("AuthorizationType") {
        connection.authorization_type = auth_type.to_owned();
    }
    if let Some(parameters) = call.input.get("AuthParameters").and_then(Value::as_object) {
        let merged = connection
            .auth_parameters
            .as_object_mut()
            .ok_or(EventsError::Internal)?;
        for (member, value) in parameters {
            match (merged.get_mut(member), value) {
                (Some(Value::Object(existing)), Value::Object(update)) => {
                    for (k, v) in update {
                        existing.insert(k.clone(), v.clone());
                    }
                }
                _ => {
                    merged.insert(member.clone(), value.clone());
                }
            }
        }
    }
    check_auth(&connection.authorization_type, &connection.auth_parameters)?;
    connection.modified_ms = call.now_ms;
    connection.state = "AUTHORIZED".into();
    call.meta().put(
        store::CONNECTIONS,
        &key(call, &connection.name),
        &connection,
    )?;
    Ok(Value::Object(connection_summary(&connection)))
}

pub fn delete_connection(call: &Call) -> Result<Value, EventsError> {
    let connection = load_connection(call)?;
    call.meta()
        .delete(store::CONNECTIONS, &key(call, &connection.name))?;
    let mut out = connection_summary(&connection);
    out.insert("ConnectionState".into(), json!("DELETING"));
    Ok(Value::Object(out))
}

pub fn deauthorize_connection(call: &Call) -> Result<Value, EventsError> {
    let mut connection = load_connection(call)?;
    connection.state = "DEAUTHORIZED".into();
    connection.modified_ms = call.now_ms;
    call.meta().put(
        store::CONNECTIONS,
        &key(call, &connection.name),
        &connection,
    )?;
    Ok(Value::Object(connection_summary(&connection)))
}

fn check_method(method: &str) -> Result<(), EventsError> {
    if METHODS.contains(&method) {
        return Ok(());
    }
    Err(EventsError::Validation(format!(
        "1 validation error detected: Value '{method}' at 'httpMethod' failed to satisfy constraint: Member must satisfy enum value set: [POST, GET, HEAD, OPTIONS, PUT, PATCH, DELETE]"
    )))
}

fn destination_summary(destination: &ApiDestination) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("ApiDestinationArn".into(), json!(destination.arn()));
    out.insert("ApiDestinationState".into(), json!("ACTIVE"));
    out.insert("CreationTime".into(), epoch_seconds(destination.created_ms));
    out.insert(
        "LastModifiedTime".into(),
        epoch_seconds(destination.modified_ms),
    );
    out
}

fn destination_json(destination: &ApiDestination) -> Map<String, Value> {
    let mut out = destination_summary(destination);
    out.insert("Name".into(), json!(destination.name));
    if let Some(description) = &destination.description {
        out.insert("Description".into(), json!(description));
    }
    out.insert("ConnectionArn".into(), json!(destination.connection_arn));
    out.insert("InvocationEndpoint".into(), json!(destination.endpoint));
    out.insert("HttpMethod".into(), json!(destination.method));
    if let Some(limit) = destination.rate_limit {
        out.insert("InvocationRateLimitPerSecond".into(), json!(limit));
    }
    out
}

pub fn create_api_destination(call: &Call) -> Result<Value, EventsError> {
    let name = call.str("Name").unwrap_or("");
    ops::check_name(name, "name")?;
    let method = call.str("HttpMethod").unwrap_or("");
    check_method(method)?;
    let connection_arn = call.str("ConnectionArn").unwrap_or("");
    if connection_by_arn(call.meta(), connection_arn)?.is_none() {
        return Err(EventsError::ResourceNotFound(format!(
            "Connection '{connection_arn}' does not exist."
        )));
    }
    let key = key(call, name);
    if call
        .meta()
        .get::<ApiDestination>(store::DESTINATIONS, &key)?
        .is_some()
    {
        return Err(EventsError::ResourceAlreadyExists(format!(
            "An api-destination '{name}' already exists."
        )));
    }
    let destination = ApiDestination {
        version: store::FORMAT_VERSION,
        account: call.account.clone(),
        region: call.region.clone(),
        name: name.to_owned(),
        uuid: uuid::Uuid::new_v4().to_string(),
        description: call.str("Description").map(str::to_owned),
        connection_arn: connection_arn.to_owned(),
        endpoint: call.str("InvocationEndpoint").unwrap_or("").to_owned(),
        method: method.to_owned(),
        rate_limit: call
            .input
            .get("InvocationRateLimitPerSecond")
            .and_then(Value::as_i64),
        created_ms: call.now_ms,
        modified_ms: call.now_ms,
    };
    call.meta().put(store::DESTINATIONS, &key, &destination)?;
    Ok(Value::Object(destination_summary(&destination)))
}

fn load_destination(call: &Call) -> Result<ApiDestination, EventsError> {
    let name = call.str("Name").unwrap_or("");
    call.meta()
        .get::<ApiDestination>(store::DESTINATIONS, &key(call, name))?
        .ok_or_else(|| not_found_destination(name))
}

pub fn describe_api_destination(call: &Call) -> Result<Value, EventsError> {
    Ok(Value::Object(destination_json(&load_destination(call)?)))
}

pub fn list_api_destinations(call: &Call) -> Result<Value, EventsError> {
    let prefix = call.str("NamePrefix").unwrap_or("");
    let connection = call.str("ConnectionArn");
    let destinations: Vec<ApiDestination> = call
        .meta()
        .list::<ApiDestination>(
            store::DESTINATIONS,
            &format!("{}/{}/", call.account, call.region),
        )?
        .into_iter()
        .map(|(_, d)| d)
        .filter(|d| {
            d.name.starts_with(prefix) && connection.is_none_or(|arn| arn == d.connection_arn)
        })
        .collect();
    let (page, next) = ops::paginate(&destinations, call.str("NextToken"), call.limit())?;
    let listed: Vec<Value> = page
        .iter()
        .map(|d| Value::Object(destination_json(d)))
        .collect();
    let mut out = json!({"ApiDestinations": listed});
    if let Some(next) = next {
        out["NextToken"] = json!(next);
    }
    Ok(out)
}

pub fn update_api_destination(call: &Call) -> Result<Value, EventsError> {
    let mut destination = load_destination(call)?;
    if let Some(description) = call.str("Description") {
        destination.description = Some(description.to_owned());
    }
    if let Some(arn) = call.str("ConnectionArn") {
        if connection_by_arn(call.meta(), arn)?.is_none() {
            return Err(EventsError::ResourceNotFound(format!(
                "Connection '{arn}' does not exist."
            )));
        }
        destination.connection_arn = arn.to_owned();
    }
    if let Some(endpoint) = call.str("InvocationEndpoint") {
        destination.endpoint = endpoint.to_owned();
    }
    if let Some(method) = call.str("HttpMethod") {
        check_method(method)?;
        destination.method = method.to_owned();
    }
    if let Some(limit) = call
        .input
        .get("InvocationRateLimitPerSecond")
        .and_then(Value::as_i64)
    {
        destination.rate_limit = Some(limit);
    }
    destination.modified_ms = call.now_ms;
    call.meta().put(
        store::DESTINATIONS,
        &key(call, &destination.name),
        &destination,
    )?;
    Ok(Value::Object(destination_summary(&destination)))
}

pub fn delete_api_destination(call: &Call) -> Result<Value, EventsError> {
    let destination = load_destination(call)?;
    call.meta()
        .delete(store::DESTINATIONS, &key(call, &destination.name))?;
    Ok(json!({}))
}
