//! Server-side apply: atomic structures and quantities are written as the API server stores
//! them.

use super::*;

// What this guards. Server-side apply (`kubectl apply --server-side`, Argo CD's
// `ServerSideApply=true`, Flux) tracks an owner per field, except inside a structure the API's
// OpenAPI schema marks atomic (`x-kubernetes-map-type: atomic`, from `+structType=atomic`; lists
// with `x-kubernetes-list-type: atomic`): such a structure is one value, owned and compared whole.
// When the API server stored one with a field filled in that the manifest leaves out, the applied
// value differs from the stored one; as another manager owns it (an earlier client-side `kubectl
// apply` always does), the apply fails with a conflict, and a GitOps tool shows a diff forever.
// Issue 9.10 was exactly that: two `env[].valueFrom.fieldRef` without `apiVersion: v1`. So the
// manifests write atomic structures as the server stores them. What the server fills in, as of
// Kubernetes 1.33 (its OpenAPI schema and the SetDefaults_* of pkg/apis/{core,rbac,batch}/v1):
//
// - `fieldRef` (ObjectFieldSelector, atomic): `apiVersion` defaults to "v1".
// - `resourceFieldRef` (ResourceFieldSelector, atomic): `divisor` is a Quantity, which is never
//   left out when stored: an absent one comes back as "0". Every value validation accepts ("1m",
//   "1", "1Ki", ...) is already in the form the server stores.
// - `roleRef` (RoleRef, atomic): `apiGroup` defaults to rbac.authorization.k8s.io.
// - `subjects[]` (Subject, atomic): `apiGroup` defaults to rbac.authorization.k8s.io for a User or
//   a Group (to "" for a ServiceAccount, which is the same as leaving it out).
// - `projected.sources` (an atomic list): a `serviceAccountToken`'s `expirationSeconds` defaults
//   to 3600.
//
// Two more ways an applied value can differ from the stored one, atomic or not:
// - a quantity is stored in canonical form ("0.5" becomes "500m", "1024Mi" becomes "1Gi");
// - a keyed list's entry is found by its key, and `ports` are keyed by port and `protocol`, which
//   defaults to TCP: stated, the applied key is the stored key.
//
// Atomic with nothing filled in (nothing to check): `configMapKeyRef`, `secretKeyRef` and every
// LocalObjectReference (`name` is `+default=""`, stored as absent), LabelSelector (`selector`),
// `envFrom`, podFailurePolicy `rules` (`onPodConditions[].status` is required, so the strict
// schema check enforces it), `nodeSelector`, Service `selector`, `tolerations`. Filled in, but
// each field has its own owner, so leaving it out conflicts with nobody: probes' `httpGet.scheme`
// and `path`, probe periods and thresholds, `seccompProfile` (not atomic), volumes'
// `defaultMode`, `imagePullPolicy`, `terminationMessagePath`, and the like.

/// Every `divisor` that validation accepts, as the server stores it ("0": none given).
const DIVISORS: [&str; 15] = [
    "0", "1m", "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei",
];

/// Whether `q` is a quantity written as the API server stores it: an integer without leading
/// zeros and with the largest suffix that keeps it an integer ("1500m", "1", "2k", "128Mi",
/// "2Gi"; not "1000m", "0.5", "1024Mi" or "2000"). Stricter than Kubernetes: a decimal fraction
/// or an exponent is refused even where it happens to be canonical.
fn canonical_quantity(q: &str) -> bool {
    let digits = q.bytes().take_while(u8::is_ascii_digit).count();
    let (number, suffix) = q.split_at(digits);
    let Ok(n) = number.parse::<u64>() else {
        return false;
    };
    if number.starts_with('0') {
        return q == "0";
    }
    match suffix {
        "m" | "" | "k" | "M" | "G" | "T" | "P" => n % 1000 != 0,
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" => n % 1024 != 0,
        "E" | "Ei" => true,
        _ => false,
    }
}

/// Where `obj` differs from what the API server would store for it in a way server-side apply
/// notices (see above), as `JSON pointer: what`. Fields are recognised by name, which is unique
/// to each of these structures in the API; maps of free-form keys are not searched.
fn server_side_apply_gaps(obj: &Value) -> Vec<String> {
    fn walk(path: &str, value: &Value, out: &mut Vec<String>) {
        let items: Vec<(String, &Value)> = match value {
            Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
            Value::Array(list) => list
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
            _ => Vec::new(),
        };
        for (key, child) in items {
            let here = format!("{path}/{key}");
            let lacks = |field: &str| child.is_object() && child.get(field).is_none();
            let list = || child.as_array().into_iter().flatten().enumerate();
            match key.as_str() {
                "data" | "binaryData" | "labels" | "annotations" => continue,
                "fieldRef" if lacks("apiVersion") => {
                    out.push(format!(
                        "{here}: no apiVersion (the server fills in \"v1\")"
                    ));
                }
                "resourceFieldRef" if child.is_object() => match child["divisor"].as_str() {
                    None => out.push(format!("{here}: no divisor (the server stores \"0\")")),
                    Some(d) if !DIVISORS.contains(&d) => {
                        out.push(format!("{here}: divisor {d:?} is not one of {DIVISORS:?}"));
                    }
                    Some(_) => {}
                },
                "serviceAccountToken" if lacks("expirationSeconds") => out.push(format!(
                    "{here}: no expirationSeconds (the server fills in 3600 in an atomic list)"
                )),
                "roleRef" if lacks("apiGroup") => out.push(format!(
                    "{here}: no apiGroup (the server fills in rbac.authorization.k8s.io)"
                )),
                "subjects" => {
                    for (i, subject) in list() {
                        let kind = subject["kind"].as_str().unwrap_or("");
                        if matches!(kind, "User" | "Group") && subject.get("apiGroup").is_none() {
                            out.push(format!(
                                "{here}/{i}: {kind} without apiGroup (the server fills in \
                                 rbac.authorization.k8s.io)"
                            ));
                        }
                    }
                }
                "ports" => {
                    for (i, port) in list() {
                        if port.is_object() && port.get("protocol").is_none() {
                            out.push(format!(
                                "{here}/{i}: no protocol (part of the key; the server fills in TCP)"
                            ));
                        }
                    }
                }
                "requests" | "limits" | "sizeLimit" => {
                    let quantities: Vec<(String, &Value)> = match child {
                        Value::Object(map) => {
                            map.iter().map(|(k, v)| (format!("/{k}"), v)).collect()
                        }
                        Value::String(_) => vec![(String::new(), child)],
                        _ => Vec::new(),
                    };
                    for (sub, q) in quantities {
                        if !q.as_str().is_some_and(canonical_quantity) {
                            out.push(format!(
                                "{here}{sub}: quantity {q} is not written as the server stores it"
                            ));
                        }
                    }
                }
                _ => {}
            }
            walk(&here, child, out);
        }
    }
    let mut out = Vec::new();
    walk("", obj, &mut out);
    out
}

#[test]
fn atomic_structures_and_quantities_are_written_as_the_server_stores_them() {
    if !need::kubectl() {
        return;
    }
    let mut errors = Vec::new();
    for (dir, objects) in all_renders() {
        for obj in objects {
            for gap in server_side_apply_gaps(obj) {
                errors.push(format!("{dir}: {}: {gap}", id(obj)));
            }
        }
    }
    assert!(
        errors.is_empty(),
        "server-side apply would conflict with an earlier apply here:\n{}",
        errors.join("\n")
    );
}

#[test]
fn only_quantities_written_as_the_server_stores_them_are_canonical() {
    for q in [
        "0", "1", "10m", "1500m", "999", "1k", "16Mi", "1536Mi", "2Gi", "5Ei",
    ] {
        assert!(canonical_quantity(q), "{q}");
    }
    for q in [
        "", "m", "1000m", "0.5", "2000", "1024Mi", "01", "0Mi", "1e3", "1K", "1 Mi",
    ] {
        assert!(!canonical_quantity(q), "{q}");
    }
}

/// Values to set in the CronJob's container: (JSON pointer under it, the value, what the check
/// must report, or "" for nothing).
fn container_cases() -> [(&'static str, Value, &'static str); 7] {
    [
        (
            "/env/0/valueFrom",
            serde_json::json!({"fieldRef": {"fieldPath": "metadata.name"}}),
            "/valueFrom/fieldRef: no apiVersion",
        ),
        (
            "/env/0/valueFrom",
            serde_json::json!({"resourceFieldRef": {"resource": "limits.cpu"}}),
            "no divisor",
        ),
        (
            "/env/0/valueFrom",
            serde_json::json!({"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1000m"}}),
            "divisor \"1000m\"",
        ),
        (
            "/resources/limits/memory",
            "0.5Gi".into(),
            "/resources/limits/memory: quantity",
        ),
        (
            "/ports",
            serde_json::json!([{"containerPort": 8080}]),
            "/ports/0: no protocol",
        ),
        (
            "/ports",
            serde_json::json!([{"containerPort": 8080, "protocol": "TCP"}]),
            "",
        ),
        (
            "/env/0/valueFrom",
            serde_json::json!({"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}),
            "",
        ),
    ]
}

#[test]
fn the_server_side_apply_check_catches_each_field_the_server_fills_in() {
    if !need::kubectl() {
        return;
    }
    let (_, cronjob) = the_one::<CronJob>(rendered(INSTALL), "CronJob");
    let good = serde_json::to_value(&cronjob).unwrap();
    assert_eq!(server_side_apply_gaps(&good), Vec::<String>::new());
    let container = "/spec/jobTemplate/spec/template/spec/containers/0";
    for (pointer, value, expected) in container_cases() {
        let mut bad = good.clone();
        let full = format!("{container}{pointer}");
        let (parent, key) = full.rsplit_once('/').unwrap();
        bad.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap()
            .insert(key.to_owned(), value);
        let gaps = server_side_apply_gaps(&bad);
        if expected.is_empty() {
            assert_eq!(gaps, Vec::<String>::new(), "{pointer}");
        } else {
            assert!(
                gaps.len() == 1 && gaps[0].contains(expected),
                "setting {pointer} should report {expected:?}, got {gaps:?}"
            );
        }
    }
}

#[test]
fn the_server_side_apply_check_catches_rbac_and_token_defaults_but_not_configmap_keys() {
    let binding = serde_json::json!({
        "kind": "RoleBinding",
        "roleRef": {"kind": "Role", "name": "r"},
        "subjects": [
            {"kind": "ServiceAccount", "name": "a"},
            {"kind": "User", "name": "u"},
            {"kind": "Group", "name": "g", "apiGroup": "rbac.authorization.k8s.io"},
        ],
    });
    assert_eq!(
        server_side_apply_gaps(&binding),
        [
            "/roleRef: no apiGroup (the server fills in rbac.authorization.k8s.io)",
            "/subjects/1: User without apiGroup (the server fills in rbac.authorization.k8s.io)",
        ]
    );
    let volume =
        serde_json::json!({"projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}});
    assert_eq!(
        server_side_apply_gaps(&volume),
        [
            "/projected/sources/0/serviceAccountToken: no expirationSeconds (the server fills in 3600 \
          in an atomic list)"
        ]
    );
    // A ConfigMap's keys are its own: one named like a field is not taken for it.
    let config =
        serde_json::json!({"kind": "ConfigMap", "data": {"limits": "many", "ports": "80"}});
    assert_eq!(server_side_apply_gaps(&config), Vec::<String>::new());
}
