//! Events: created through `events.k8s.io/v1` with the validation kube-apiserver applies to it,
//! kept so tests can read them back, and listed through both `events.k8s.io/v1` and core `v1`
//! (which kubectl uses).

use super::State;
use super::configmaps::{decode_object, name_of};
use super::router::Request;
use super::status::{self, FieldError, Reply};
use crate::support::util::{random_uuid, timestamp, unix_now, write_list_item};
use k8s_openapi::api::core::v1::{Event as CoreEvent, EventSeries as CoreSeries};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    FieldsV1, ManagedFieldsEntry, ObjectMeta, Time,
};
use serde_json::json;

const GROUP: &str = "events.k8s.io";
const LIMIT: usize = 128;
const NOTE_LIMIT: usize = 1024;

/// `POST /apis/events.k8s.io/v1/namespaces/{ns}/events`.
pub fn create(state: &mut State, ns: &str, req: &Request) -> Reply {
    let mut object = match decode_object(req.body, "Event", ns) {
        Ok(object) => object,
        Err(reply) => return reply,
    };
    if let Some(version) = object["apiVersion"]
        .as_str()
        .filter(|v| *v != "events.k8s.io/v1")
    {
        return status::bad_request(&format!(
            "the API version in the data ({version}) does not match the expected API version (events.k8s.io/v1)"
        ));
    }
    let name = match name_of(&object, GROUP, "Event") {
        Ok(name) => name,
        Err(reply) => return reply,
    };
    object["apiVersion"] = json!("events.k8s.io/v1");
    object["kind"] = json!("Event");
    object["metadata"]["name"] = json!(name);
    object["metadata"]["namespace"] = json!(ns);
    let mut event: Event = match serde_json::from_value(object) {
        Ok(event) => event,
        Err(e) => {
            let message = format!("Event in version \"v1\" cannot be handled as a Event: {e}");
            return status::bad_request(&message);
        }
    };
    let mut errors = legacy_errors(&event, ns);
    errors.extend(strict_errors(&event, &name));
    if !errors.is_empty() {
        return status::invalid(GROUP, "Event", &name, &errors);
    }
    if find(state, ns, &name).is_some() {
        return status::already_exists(GROUP, "events", &name);
    }
    state.rv += 1;
    let now = Time(timestamp(unix_now()));
    let manager = req
        .user_agent
        .and_then(|ua| ua.split('/').next())
        .unwrap_or("unknown");
    let fields = json!({"f:action": {}, "f:eventTime": {}, "f:note": {}, "f:reason": {}, "f:regarding": {}, "f:reportingController": {}, "f:reportingInstance": {}, "f:type": {}});
    event.metadata = ObjectMeta {
        uid: Some(random_uuid()),
        resource_version: Some(state.rv.to_string()),
        creation_timestamp: Some(now.clone()),
        managed_fields: Some(vec![ManagedFieldsEntry {
            manager: Some(manager.to_string()),
            operation: Some("Update".to_string()),
            api_version: Some("events.k8s.io/v1".to_string()),
            time: Some(now),
            fields_type: Some("FieldsV1".to_string()),
            fields_v1: Some(FieldsV1(fields)),
            subresource: None,
        }]),
        ..event.metadata
    };
    state.events.push(event.clone());
    Reply::json(
        201,
        serde_json::to_vec(&event).expect("an Event serializes"),
    )
}

/// The checks every Event gets, whichever API it comes through (`legacyValidateEvent`), for
/// one with an `eventTime`. Field names are those of core/v1, as the real messages have them.
fn legacy_errors(e: &Event, ns: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let regarding_ns = e
        .regarding
        .as_ref()
        .and_then(|r| r.namespace.as_deref())
        .unwrap_or("");
    if regarding_ns.is_empty() && ns != "default" && ns != "kube-system" {
        errors.push(FieldError::invalid(
            "involvedObject.namespace",
            "",
            "does not match event.namespace",
        ));
    }
    let controller = e.reporting_controller.as_deref().unwrap_or("");
    if controller.is_empty() {
        errors.push(FieldError::required("reportingController", ""));
    }
    for message in qualified_name_errors(controller) {
        errors.push(FieldError::invalid(
            "reportingController",
            controller,
            &message,
        ));
    }
    for (field, value, limit) in [
        ("reportingInstance", &e.reporting_instance, LIMIT),
        ("action", &e.action, LIMIT),
        ("reason", &e.reason, LIMIT),
    ] {
        let value = value.as_deref().unwrap_or("");
        if value.is_empty() {
            errors.push(FieldError::required(field, ""));
        }
        if value.len() > limit {
            let detail = format!("can have at most {limit} characters");
            errors.push(FieldError::invalid(field, "", &detail));
        }
    }
    if e.note.as_deref().unwrap_or("").len() > NOTE_LIMIT {
        let detail = format!("can have at most {NOTE_LIMIT} characters");
        errors.push(FieldError::invalid("message", "", &detail));
    }
    errors
}

/// The further checks of an Event created through `events.k8s.io/v1`.
fn strict_errors(e: &Event, name: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(message) = dns_subdomain_error(name) {
        errors.push(FieldError::invalid("metadata.name", name, &message));
    }
    if let Some(series) = &e.series
        && series.count < 2
    {
        errors.push(FieldError::invalid(
            "series.count",
            "",
            "should be at least 2",
        ));
    }
    if e.event_time.is_none() {
        errors.push(FieldError::required("eventTime", ""));
    }
    let kind = e.type_.as_deref().unwrap_or("");
    if kind != "Normal" && kind != "Warning" {
        let detail = format!("has invalid value: {kind}");
        errors.push(FieldError::invalid("type", "", &detail));
    }
    for (field, set) in [
        ("firstTimestamp", e.deprecated_first_timestamp.is_some()),
        ("lastTimestamp", e.deprecated_last_timestamp.is_some()),
        ("count", e.deprecated_count.is_some_and(|c| c != 0)),
        (
            "source",
            e.deprecated_source
                .as_ref()
                .is_some_and(|s| s.component.is_some() || s.host.is_some()),
        ),
    ] {
        if set {
            errors.push(FieldError::invalid(field, "", "needs to be unset"));
        }
    }
    errors
}

/// `IsQualifiedName`: an optional DNS-subdomain prefix and `/`, then a name of at most 63
/// alphanumerics, `-`, `_` and `.`, starting and ending alphanumeric.
fn qualified_name_errors(value: &str) -> Vec<String> {
    let name = value.rsplit_once('/').map_or(value, |(_, name)| name);
    let mut errors = Vec::new();
    if name.is_empty() {
        errors.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errors.push("name part must be no more than 63 characters".to_string());
    }
    let bytes = name.as_bytes();
    let ok = !bytes.is_empty()
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(b));
    if !ok {
        errors.push("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')".to_string());
    }
    errors
}

/// `IsDNS1123Subdomain`'s complaint about `name`, if any.
fn dns_subdomain_error(name: &str) -> Option<String> {
    if name.len() > 253 {
        return Some("must be no more than 253 characters".to_string());
    }
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    };
    (!name.split('.').all(label_ok)).then(|| "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string())
}

fn find<'a>(state: &'a State, ns: &str, name: &str) -> Option<&'a Event> {
    let here = |e: &&Event| {
        e.metadata.namespace.as_deref() == Some(ns) && e.metadata.name.as_deref() == Some(name)
    };
    state.events.iter().find(here)
}

/// The same Event as core/v1 shows it.
pub fn to_core(e: &Event) -> CoreEvent {
    CoreEvent {
        metadata: e.metadata.clone(),
        involved_object: e.regarding.clone().unwrap_or_default(),
        reason: e.reason.clone(),
        message: e.note.clone(),
        source: e.deprecated_source.clone(),
        first_timestamp: e.deprecated_first_timestamp.clone(),
        last_timestamp: e.deprecated_last_timestamp.clone(),
        count: e.deprecated_count,
        type_: e.type_.clone(),
        event_time: e.event_time.clone(),
        series: e.series.as_ref().map(|s| CoreSeries {
            count: Some(s.count),
            last_observed_time: Some(s.last_observed_time.clone()),
        }),
        action: e.action.clone(),
        related: e.related.clone(),
        reporting_component: e.reporting_controller.clone(),
        reporting_instance: e.reporting_instance.clone(),
    }
}

/// The Events of `ns`, as an `EventList` of `events.k8s.io/v1` or of core `v1`.
pub fn list(state: &mut State, ns: &str, core: bool) -> Reply {
    let mut items = Vec::new();
    let here = state
        .events
        .iter()
        .filter(|e| e.metadata.namespace.as_deref() == Some(ns));
    for (i, event) in here.enumerate() {
        if i > 0 {
            items.push(b',');
        }
        if core {
            write_list_item(&mut items, &to_core(event));
        } else {
            write_list_item(&mut items, event);
        }
    }
    let api_version = if core { "v1" } else { "events.k8s.io/v1" };
    let head = json!({"resourceVersion": state.rv.to_string()});
    let mut body = format!(
        "{{\"kind\":\"EventList\",\"apiVersion\":\"{api_version}\",\"metadata\":{head},\"items\":["
    )
    .into_bytes();
    body.extend(items);
    body.extend_from_slice(b"]}");
    Reply::json(200, body)
}

/// One Event by name.
pub fn get(state: &mut State, ns: &str, name: &str, core: bool) -> Reply {
    let group = if core { "" } else { GROUP };
    match find(state, ns, name) {
        Some(e) if core => Reply::json(200, serde_json::to_vec(&to_core(e)).expect("JSON")),
        Some(e) => Reply::json(200, serde_json::to_vec(e).expect("JSON")),
        None => status::not_found(group, "events", name),
    }
}
