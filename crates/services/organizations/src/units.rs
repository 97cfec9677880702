//! The tree: ListRoots, organizational units, ListParents, ListChildren, MoveAccount.

use serde_json::{Value, json};

use crate::accounts::attach_managed;
use crate::error::OrgError;
use crate::ids;
use crate::ops::{Call, listed, parse_tags, root_json, unit_json};
use crate::store::{Organization, Unit};

/// AWS's limit on how deep OUs nest under the root.
pub const MAX_OU_DEPTH: usize = 5;

pub fn list_roots(call: &Call) -> Result<Value, OrgError> {
    let org = call.reader_org()?;
    Ok(listed("Roots", vec![root_json(&org)], None))
}

/// Checks the form of an OU id (`INVALID_PATTERN` otherwise).
fn check_ou_id(id: &str) -> Result<(), OrgError> {
    if ids::is_ou_id(id) {
        Ok(())
    } else {
        Err(OrgError::invalid_pattern())
    }
}

fn sibling_named(org: &Organization, parent: &str, name: &str, except: &str) -> bool {
    org.units
        .iter()
        .any(|unit| unit.parent_id == parent && unit.name == name && unit.id != except)
}

pub fn create_organizational_unit(call: &Call) -> Result<Value, OrgError> {
    let parent = call.required("ParentId")?.to_owned();
    let name = call.required("Name")?.to_owned();
    let tags = parse_tags(call.input.get("Tags"));
    call.change(|org| {
        if !org.is_parent(&parent) {
            return Err(OrgError::parent_not_found());
        }
        if sibling_named(org, &parent, &name, "") {
            return Err(OrgError::duplicate_ou());
        }
        if org.depth(&parent) + 1 > MAX_OU_DEPTH {
            return Err(OrgError::constraint(
                "OU_DEPTH_LIMIT_EXCEEDED",
                "You attempted to create an OU tree that is too many levels deep.",
            ));
        }
        let id = loop {
            let id = ids::new_ou_id(&org.root.id);
            if org.unit(&id).is_none() {
                break id;
            }
        };
        let unit = Unit {
            id: id.clone(),
            name: name.clone(),
            parent_id: parent.clone(),
            tags: tags.clone(),
        };
        let out = json!({"OrganizationalUnit": unit_json(org, &unit)});
        org.units.push(unit);
        attach_managed(org, &id);
        Ok(out)
    })
}

pub fn describe_organizational_unit(call: &Call) -> Result<Value, OrgError> {
    let org = call.reader_org()?;
    let id = call.required("OrganizationalUnitId")?;
    check_ou_id(id)?;
    let unit = org.unit(id).ok_or_else(OrgError::ou_not_found)?;
    Ok(json!({"OrganizationalUnit": unit_json(&org, unit)}))
}

pub fn update_organizational_unit(call: &Call) -> Result<Value, OrgError> {
    let id = call.required("OrganizationalUnitId")?.to_owned();
    check_ou_id(&id)?;
    let name = call.str("Name").map(str::to_owned);
    call.change(|org| {
        let parent = org
            .unit(&id)
            .map(|unit| unit.parent_id.clone())
            .ok_or_else(OrgError::ou_not_found)?;
        if let Some(name) = &name
            && sibling_named(org, &parent, name, &id)
        {
            return Err(OrgError::duplicate_ou());
        }
        let unit = org
            .units
            .iter_mut()
            .find(|unit| unit.id == id)
            .ok_or_else(OrgError::ou_not_found)?;
        if let Some(name) = name {
            unit.name = name;
        }
        let unit = unit.clone();
        Ok(json!({"OrganizationalUnit": unit_json(org, &unit)}))
    })
}

pub fn delete_organizational_unit(call: &Call) -> Result<Value, OrgError> {
    let id = call.required("OrganizationalUnitId")?.to_owned();
    check_ou_id(&id)?;
    call.change(|org| {
        if org.unit(&id).is_none() {
            return Err(OrgError::ou_not_found());
        }
        let has_children = org.units.iter().any(|unit| unit.parent_id == id)
            || org.accounts.iter().any(|account| account.parent_id == id);
        if has_children {
            return Err(OrgError::ou_not_empty());
        }
        org.units.retain(|unit| unit.id != id);
        org.attachments.retain(|(_, target)| *target != id);
        Ok(json!({}))
    })
}

pub fn list_organizational_units_for_parent(call: &Call) -> Result<Value, OrgError> {
    let org = call.reader_org()?;
    let parent = call.required("ParentId")?;
    if !org.is_parent(parent) {
        return Err(OrgError::parent_not_found());
    }
    let units: Vec<Value> = org
        .units
        .iter()
        .filter(|unit| unit.parent_id == parent)
        .map(|unit| unit_json(&org, unit))
        .collect();
    let (page, next) = call.page(&units)?;
    Ok(listed("OrganizationalUnits", page, next))
}

/// `ROOT` or `ORGANIZATIONAL_UNIT`: the type of a parent id.
fn parent_type(org: &Organization, id: &str) -> &'static str {
    if id == org.root.id {
        "ROOT"
    } else {
        "ORGANIZATIONAL_UNIT"
    }
}

pub fn list_parents(call: &Call) -> Result<Value, OrgError> {
    let org = call.reader_org()?;
    let child = call.required("ChildId")?;
    if !ids::is_account_id(child) && !ids::is_ou_id(child) {
        return Err(OrgError::invalid_pattern());
    }
    let parent = org.parent_of(child).ok_or_else(OrgError::child_not_found)?;
    let parents = vec![json!({"Id": parent, "Type": parent_type(&org, parent)})];
    Ok(listed("Parents", parents, None))
}

pub fn list_children(call: &Call) -> Result<Value, OrgError> {
    let org = call.reader_org()?;
    let parent = call.required("ParentId")?;
    let child_type = call.required("ChildType")?;
    if !org.is_parent(parent) {
        return Err(OrgError::parent_not_found());
    }
    let children: Vec<Value> = match child_type {
        "ACCOUNT" => org
            .accounts
            .iter()
            .filter(|account| account.parent_id == parent)
            .map(|account| json!({"Id": account.id, "Type": child_type}))
            .collect(),
        "ORGANIZATIONAL_UNIT" => org
            .units
            .iter()
            .filter(|unit| unit.parent_id == parent)
            .map(|unit| json!({"Id": unit.id, "Type": child_type}))
            .collect(),
        _ => return Err(OrgError::invalid_enum()),
    };
    let (page, next) = call.page(&children)?;
    Ok(listed("Children", page, next))
}

pub fn move_account(call: &Call) -> Result<Value, OrgError> {
    let id = call.required("AccountId")?.to_owned();
    let source = call.required("SourceParentId")?.to_owned();
    let destination = call.required("DestinationParentId")?.to_owned();
    call.change(|org| {
        if !org.is_parent(&source) {
            return Err(OrgError::source_parent_not_found());
        }
        if !org.is_parent(&destination) {
            return Err(OrgError::destination_parent_not_found());
        }
        let account = org
            .account_mut(&id)
            .ok_or_else(OrgError::account_not_found)?;
        if account.parent_id == destination {
            return Err(OrgError::duplicate_account());
        }
        if account.parent_id != source {
            return Err(OrgError::account_not_found());
        }
        account.parent_id = destination.clone();
        Ok(json!({}))
    })
}
