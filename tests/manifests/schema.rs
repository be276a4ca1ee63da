//! Schema: every rendered object strictly matches its API type, and every namespaced object
//! is in the install's namespace.

use super::*;

/// Deserializes `obj` into `T` and back; any field lost or altered on the way is unknown to the
/// schema (or has the wrong shape).
fn strict<T: DeserializeOwned + Serialize>(obj: &Value) -> Result<(), String> {
    let value: T = serde_json::from_value(obj.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&value).map_err(|e| e.to_string())?;
    let mut paths = Vec::new();
    diff("", obj, &back, &mut paths);
    if paths.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fields unknown to the schema: {}",
            paths.join(", ")
        ))
    }
}

pub(super) fn check_schema(obj: &Value) -> Result<(), String> {
    match obj["kind"].as_str().unwrap_or("") {
        "Namespace" => strict::<Namespace>(obj),
        "ConfigMap" => strict::<ConfigMap>(obj),
        "ServiceAccount" => strict::<ServiceAccount>(obj),
        "Role" => strict::<Role>(obj),
        "RoleBinding" => strict::<RoleBinding>(obj),
        "ClusterRole" => strict::<ClusterRole>(obj),
        "ClusterRoleBinding" => strict::<ClusterRoleBinding>(obj),
        "Job" => strict::<Job>(obj),
        "CronJob" => strict::<CronJob>(obj),
        "Deployment" => strict::<Deployment>(obj),
        "Service" => strict::<Service>(obj),
        "PersistentVolumeClaim" => strict::<PersistentVolumeClaim>(obj),
        "PodDisruptionBudget" => strict::<PodDisruptionBudget>(obj),
        "NetworkPolicy" => strict::<NetworkPolicy>(obj),
        other => Err(format!(
            "kind {other:?} has no schema check here: add it to check_schema"
        )),
    }
}

#[test]
fn every_rendered_object_matches_the_api_schema_strictly() {
    if !need::kubectl() {
        return;
    }
    let mut errors = Vec::new();
    for (dir, objects) in all_renders() {
        for obj in objects {
            if let Err(e) = check_schema(obj) {
                errors.push(format!("{dir}: {}: {e}", id(obj)));
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn the_strict_schema_check_catches_unknown_and_mistyped_fields() {
    if !need::kubectl() {
        return;
    }
    let (_, cronjob) = the_one::<CronJob>(rendered(INSTALL), "CronJob");
    let good = serde_json::to_value(&cronjob).unwrap();
    assert_eq!(check_schema(&good), Ok(()));

    let mut unknown = good.clone();
    unknown["spec"]["jobTemplate"]["spec"]["backofLimit"] = 1.into();
    let err = check_schema(&unknown).unwrap_err();
    assert!(err.contains("/spec/jobTemplate/spec/backofLimit"), "{err}");

    let mut mistyped = good.clone();
    mistyped["spec"]["jobTemplate"]["spec"]["backoffLimit"] = "1".into();
    assert!(check_schema(&mistyped).is_err());

    let mut wrong_version = good;
    wrong_version["apiVersion"] = "batch/v1beta1".into();
    assert!(check_schema(&wrong_version).is_err());
}

#[test]
fn every_namespaced_object_is_in_the_restricted_spartakus_namespace() {
    if !need::kubectl() {
        return;
    }
    for (dir, objects) in all_renders() {
        let (_, ns) = the_one::<Namespace>(objects, "Namespace");
        assert_eq!(ns.metadata.name.as_deref(), Some(NAMESPACE), "{dir}");
        let labels = ns.metadata.labels.unwrap_or_default();
        for mode in ["enforce", "audit", "warn"] {
            assert_eq!(
                labels
                    .get(&format!("pod-security.kubernetes.io/{mode}"))
                    .map(String::as_str),
                Some("restricted"),
                "{dir}: Namespace label pod-security.kubernetes.io/{mode}"
            );
        }
        for obj in objects {
            let cluster_scoped = matches!(
                obj["kind"].as_str(),
                Some("Namespace" | "ClusterRole" | "ClusterRoleBinding")
            );
            let ns = obj["metadata"]["namespace"].as_str();
            if cluster_scoped {
                assert_eq!(ns, None, "{dir}: {}", id(obj));
            } else {
                assert_eq!(ns, Some(NAMESPACE), "{dir}: {}", id(obj));
            }
        }
    }
}
