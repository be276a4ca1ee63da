//! Answers: a JSON body with a status code, and the `Status` objects a real kube-apiserver sends
//! for every error, with `Retry-After` whenever `details.retryAfterSeconds` is set (as its
//! response writer does).

use super::router::Target;
use crate::support::http::Body;
use hyper::body::Bytes;
use serde_json::{Value, json};

/// What the stand-in answers.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: Body::bytes(body),
        }
    }

    pub fn value(status: u16, value: &Value) -> Reply {
        Reply::json(status, serde_json::to_vec(value).expect("JSON"))
    }

    pub fn text(status: u16, text: &'static str) -> Reply {
        Reply {
            content_type: "text/plain; charset=utf-8",
            ..Reply::json(status, text)
        }
    }
}

/// The reason a real server gives with `code`, if it gives one.
fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "AlreadyExists",
        410 => "Expired",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "",
    }
}

/// A `Status` object; empty `reason` and `details` are left out, as Go's `omitempty` does.
pub fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Reply {
    status_with(code, reason, message, details, json!({}))
}

/// [`status`] with list metadata (the continue token of a 410).
pub fn status_with(
    code: u16,
    reason: &str,
    message: &str,
    details: Option<Value>,
    metadata: Value,
) -> Reply {
    let mut object = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": metadata,
        "status": "Failure",
        "message": message,
        "code": code,
    });
    if !reason.is_empty() {
        object["reason"] = json!(reason);
    }
    let retry_after = details
        .as_ref()
        .and_then(|d| d["retryAfterSeconds"].as_u64())
        .filter(|s| *s > 0);
    if let Some(details) = details {
        object["details"] = details;
    }
    let mut reply = Reply::value(code, &object);
    if let Some(seconds) = retry_after {
        reply.headers.push(("retry-after", seconds.to_string()));
    }
    reply
}

/// `StatusDetails` naming a resource: `{"name":..,"group":..,"kind":<resource>}`.
pub fn details(group: &str, resource: &str, name: Option<&str>) -> Value {
    let mut d = json!({"kind": resource});
    if let Some(name) = name {
        d["name"] = json!(name);
    }
    if !group.is_empty() {
        d["group"] = json!(group);
    }
    d
}

/// `pods` or `deployments.apps`: how messages name a resource.
pub fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

pub fn bad_request(message: &str) -> Reply {
    status(400, "BadRequest", message, None)
}

pub fn unauthorized() -> Reply {
    status(401, "Unauthorized", "Unauthorized", None)
}

/// 403 as the RBAC authorizer words it, for `user` doing what `t` describes.
pub fn forbidden(user: &str, t: &Target) -> Reply {
    let verb = t.verb;
    if t.resource.is_empty() {
        let message = format!(
            "forbidden: User \"{user}\" cannot {verb} path \"{}\"",
            t.path
        );
        return status(403, "Forbidden", &message, Some(json!({})));
    }
    let (group, resource) = (t.group, t.resource);
    let mut subject = qualified(group, resource);
    if let Some(name) = t.name {
        subject = format!("{subject} \"{name}\"");
    }
    let scope = match t.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    let message = format!(
        "{subject} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" {scope}"
    );
    status(
        403,
        "Forbidden",
        &message,
        Some(details(group, resource, t.name)),
    )
}

/// `pods "x" not found`.
pub fn not_found(group: &str, resource: &str, name: &str) -> Reply {
    let message = format!("{} \"{name}\" not found", qualified(group, resource));
    status(
        404,
        "NotFound",
        &message,
        Some(details(group, resource, Some(name))),
    )
}

/// What the server answers for a path it has no handler for.
pub fn no_such_path() -> Reply {
    let message = "the server could not find the requested resource";
    status(404, "NotFound", message, Some(json!({})))
}

pub fn method_not_allowed() -> Reply {
    let message = "the server does not allow this method on the requested resource";
    status(405, "MethodNotAllowed", message, Some(json!({})))
}

pub fn not_acceptable() -> Reply {
    let message = "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf";
    status(406, "NotAcceptable", message, None)
}

/// `configmaps "x" already exists`.
pub fn already_exists(group: &str, resource: &str, name: &str) -> Reply {
    let message = format!("{} \"{name}\" already exists", qualified(group, resource));
    status(
        409,
        "AlreadyExists",
        &message,
        Some(details(group, resource, Some(name))),
    )
}

/// One field error of a 422: `(field, type, detail)` with type `Required` or `Invalid`.
pub struct FieldError {
    pub field: String,
    pub required: bool,
    /// The invalid value as the server quotes it (validation code often passes `""`).
    pub value: String,
    pub detail: String,
}

impl FieldError {
    pub fn required(field: &str, detail: &str) -> FieldError {
        FieldError {
            field: field.to_string(),
            required: true,
            value: String::new(),
            detail: detail.to_string(),
        }
    }

    pub fn invalid(field: &str, value: &str, detail: &str) -> FieldError {
        FieldError {
            field: field.to_string(),
            required: false,
            value: value.to_string(),
            detail: detail.to_string(),
        }
    }

    /// What follows the field name: `Required value` or `Invalid value: "x": detail`.
    fn body(&self) -> String {
        let mut body = if self.required {
            "Required value".to_string()
        } else {
            format!(
                "Invalid value: {}",
                serde_json::to_string(&self.value).expect("JSON")
            )
        };
        if !self.detail.is_empty() {
            body = format!("{body}: {}", self.detail);
        }
        body
    }
}

/// 422 Invalid, as `NewInvalid` words it: `Event.events.k8s.io "x" is invalid: [a: ..., b: ...]`.
pub fn invalid(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Reply {
    let all: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.body()))
        .collect();
    let qualified_kind = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let listed = match all.as_slice() {
        [one] => one.clone(),
        _ => format!("[{}]", all.join(", ")),
    };
    let message = format!("{qualified_kind} \"{name}\" is invalid: {listed}");
    let causes: Vec<Value> = errors
        .iter()
        .map(|e| {
            let reason = if e.required {
                "FieldValueRequired"
            } else {
                "FieldValueInvalid"
            };
            json!({"reason": reason, "message": e.body(), "field": e.field})
        })
        .collect();
    let mut d = json!({"name": name, "kind": kind, "causes": causes});
    if !group.is_empty() {
        d["group"] = json!(group);
    }
    status(422, "Invalid", &message, Some(d))
}

/// An injected failure of `code`, worded as kube-apiserver words it.
pub fn injected(code: u16, user: &str, t: &Target) -> Reply {
    match code {
        401 => unauthorized(),
        403 => forbidden(user, t),
        429 => status(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
            Some(json!({"retryAfterSeconds": 1})),
        ),
        500 => status(
            500,
            "InternalError",
            "Internal error occurred: etcdserver: request timed out",
            Some(json!({"causes": [{"message": "etcdserver: request timed out"}]})),
        ),
        503 => status(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
            None,
        ),
        504 => status(
            504,
            "Timeout",
            "request did not complete within requested timeout - context deadline exceeded",
            Some(json!({})),
        ),
        _ => status(
            code,
            reason_for(code),
            &format!("injected failure {code}"),
            None,
        ),
    }
}
