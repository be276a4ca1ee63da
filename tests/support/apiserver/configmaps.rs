//! ConfigMaps: get, list and create in any namespace, kept in memory, with the validation
//! answers and the lost create race of a real server.

use super::State;
use super::status::{self, FieldError, Reply};
use crate::support::util::{now_rfc3339, random_uuid};
use serde_json::{Value, json};

/// A stored ConfigMap, new: the next resourceVersion, a UID, created now.
pub fn new_configmap(state: &mut State, ns: &str, name: &str, data: Value, labels: Value) -> Value {
    state.rv += 1;
    let mut metadata = json!({
        "name": name,
        "namespace": ns,
        "uid": random_uuid(),
        "resourceVersion": state.rv.to_string(),
        "creationTimestamp": now_rfc3339(),
    });
    if labels.as_object().is_some_and(|l| !l.is_empty()) {
        metadata["labels"] = labels;
    }
    json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": metadata, "data": data})
}

pub fn get(state: &mut State, ns: &str, name: &str) -> Reply {
    match state.configmaps.get(&(ns.to_string(), name.to_string())) {
        Some(object) => Reply::value(200, object),
        None => status::not_found("", "configmaps", name),
    }
}

pub fn list(state: &mut State, ns: &str) -> Reply {
    let items: Vec<Value> = state
        .configmaps
        .iter()
        .filter(|((n, _), _)| n == ns)
        .map(|(_, object)| {
            let mut item = object.clone();
            if let Some(map) = item.as_object_mut() {
                map.remove("kind");
                map.remove("apiVersion");
            }
            item
        })
        .collect();
    let list = json!({
        "kind": "ConfigMapList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": state.rv.to_string()},
        "items": items,
    });
    Reply::value(200, &list)
}

/// The body's object, if it is one a real server would accept as a ConfigMap for `ns`.
pub fn decode_object(body: &[u8], kind: &str, ns: &str) -> Result<Value, Reply> {
    let Ok(object) = serde_json::from_slice::<Value>(body) else {
        return Err(status::bad_request(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        ));
    };
    if !object.is_object() {
        return Err(status::bad_request(&format!(
            "the object provided is not a {kind}"
        )));
    }
    if object.get("kind").is_some_and(|k| k != kind) {
        return Err(status::bad_request(&format!(
            "the object provided is unrecognized (must be of type {kind}): {}",
            object["kind"]
        )));
    }
    if (object["metadata"]["namespace"].as_str()).is_some_and(|n| !n.is_empty() && n != ns) {
        return Err(status::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(object)
}

/// `metadata.name`, or `metadata.generateName` and 5 random characters, or the 422 of neither.
pub fn name_of(object: &Value, group: &str, kind: &str) -> Result<String, Reply> {
    let metadata = &object["metadata"];
    match (metadata["name"].as_str(), metadata["generateName"].as_str()) {
        (Some(name), _) if !name.is_empty() => Ok(name.to_string()),
        (_, Some(prefix)) if !prefix.is_empty() => Ok(format!("{prefix}{}", &random_uuid()[..5])),
        _ => {
            let error = FieldError::required("metadata.name", "name or generateName is required");
            Err(status::invalid(group, kind, "", &[error]))
        }
    }
}

pub fn create(state: &mut State, ns: &str, body: &[u8]) -> Reply {
    let object = match decode_object(body, "ConfigMap", ns) {
        Ok(object) => object,
        Err(reply) => return reply,
    };
    let name = match name_of(&object, "", "ConfigMap") {
        Ok(name) => name,
        Err(reply) => return reply,
    };
    let key = (ns.to_string(), name.clone());
    if let Some(winner) = state.config.lose_create_race.take() {
        let data = json!({"clusterID": winner});
        let labels = json!({"app.kubernetes.io/name": "spartakus"});
        let winner = new_configmap(state, ns, &name, data, labels);
        state.configmaps.entry(key.clone()).or_insert(winner);
    }
    if state.configmaps.contains_key(&key) {
        return status::already_exists("", "configmaps", &name);
    }
    let data = object.get("data").cloned().unwrap_or(json!({}));
    let labels = object["metadata"]
        .get("labels")
        .cloned()
        .unwrap_or(json!({}));
    let mut stored = new_configmap(state, ns, &name, data, labels);
    if let Some(annotations) = object["metadata"].get("annotations") {
        stored["metadata"]["annotations"] = annotations.clone();
    }
    for field in ["binaryData", "immutable"] {
        if let Some(value) = object.get(field) {
            stored[field] = value.clone();
        }
    }
    state.configmaps.insert(key, stored.clone());
    Reply::value(201, &stored)
}
