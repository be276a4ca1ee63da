//! Pod security: every pod meets the restricted Pod Security Standard, carries the common
//! labels and keeps service-mesh sidecars out.

use super::*;
use k8s_openapi::api::core::v1::PodSecurityContext;

/// Every pod template in `objects`, with the id of the object that holds it.
pub(super) fn pod_templates(objects: &[Value]) -> Vec<(String, PodTemplateSpec)> {
    let mut out = Vec::new();
    for obj in objects {
        let pointer = match obj["kind"].as_str() {
            Some("Job" | "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") => {
                "/spec/template"
            }
            Some("CronJob") => "/spec/jobTemplate/spec/template",
            Some("Pod" | "PodTemplate") => {
                panic!("{}: bare pods and PodTemplates are not expected", id(obj))
            }
            _ => continue,
        };
        let template = obj.pointer(pointer).cloned().unwrap_or(Value::Null);
        out.push((
            id(obj),
            serde_json::from_value(template).expect("pod template"),
        ));
    }
    out
}

fn all_containers(spec: &PodSpec) -> Vec<(String, SecurityContext, &Container)> {
    let mut out: Vec<_> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .map(|c| {
            (
                c.name.clone(),
                c.security_context.clone().unwrap_or_default(),
                c,
            )
        })
        .collect();
    // Ephemeral containers are checked by the profile too, though none is ever rendered.
    assert!(spec.ephemeral_containers.is_none());
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Volume types the restricted profile allows.
const RESTRICTED_VOLUME_TYPES: [&str; 8] = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// SELinux types the baseline profile allows.
const SELINUX_TYPES: [&str; 5] = [
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// Violations of the Pod Security Standard "restricted" (which includes "baseline"), as of
/// Kubernetes 1.33, field by field, plus this project's own rules (marked "ours").
fn restricted_violations(template: &PodTemplateSpec) -> Vec<String> {
    let spec = template.spec.clone().unwrap_or_default();
    let pod_sc = spec.security_context.clone().unwrap_or_default();
    let mut v = baseline_pod_violations(template, &spec, &pod_sc);

    // restricted: seccomp and non-root at pod level or in every container.
    if let Some(p) = &pod_sc.seccomp_profile
        && !seccomp_ok(&p.type_)
    {
        v.push(format!("pod seccompProfile {}", p.type_));
    }
    if pod_sc.run_as_user == Some(0) {
        v.push("pod runAsUser 0".into());
    }

    for (name, sc, container) in all_containers(&spec) {
        let standard = standard_container_violations(&sc, &pod_sc, container);
        let ours = our_container_violations(&sc, &pod_sc, container);
        for msg in standard.into_iter().chain(ours) {
            v.push(format!("container {name}: {msg}"));
        }
    }

    // ours: own ServiceAccount, the token only where asked for, no Service env variables.
    if spec
        .service_account_name
        .as_deref()
        .is_none_or(|s| s == "default")
    {
        v.push("runs as the namespace's default ServiceAccount (ours)".into());
    }
    if spec.automount_service_account_token.is_none() {
        v.push("automountServiceAccountToken not stated (ours)".into());
    }
    if spec.enable_service_links != Some(false) {
        v.push("enableServiceLinks is not false (ours)".into());
    }
    v
}

fn selinux_ok(o: &Option<k8s_openapi::api::core::v1::SELinuxOptions>) -> bool {
    o.as_ref().is_none_or(|o| {
        SELINUX_TYPES.contains(&o.type_.as_deref().unwrap_or(""))
            && o.user.is_none()
            && o.role.is_none()
    })
}

fn apparmor_ok(p: &Option<k8s_openapi::api::core::v1::AppArmorProfile>) -> bool {
    p.as_ref().is_none_or(|p| p.type_ != "Unconfined")
}

fn seccomp_ok(t: &str) -> bool {
    t == "RuntimeDefault" || t == "Localhost"
}

/// baseline, at pod level: host namespaces, sysctls, SELinux, AppArmor, Windows, hostPath (and
/// every other volume type restricted does not allow).
fn baseline_pod_violations(
    template: &PodTemplateSpec,
    spec: &PodSpec,
    pod_sc: &PodSecurityContext,
) -> Vec<String> {
    let mut v = Vec::new();
    for (name, value) in [
        ("hostNetwork", spec.host_network),
        ("hostPID", spec.host_pid),
        ("hostIPC", spec.host_ipc),
    ] {
        if value == Some(true) {
            v.push(format!("{name} is true"));
        }
    }
    if pod_sc.sysctls.as_ref().is_some_and(|s| !s.is_empty()) {
        v.push("pod sets sysctls".into());
    }
    if pod_sc.windows_options.as_ref().and_then(|w| w.host_process) == Some(true) {
        v.push("pod is a Windows hostProcess".into());
    }
    if !selinux_ok(&pod_sc.se_linux_options) {
        v.push("pod seLinuxOptions not allowed".into());
    }
    if !apparmor_ok(&pod_sc.app_armor_profile) {
        v.push("pod AppArmor profile Unconfined".into());
    }
    let annotations = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    for (key, value) in &annotations {
        if key.starts_with("container.apparmor.security.beta.kubernetes.io/")
            && value != "runtime/default"
            && !value.starts_with("localhost/")
        {
            v.push(format!("annotation {key}={value}"));
        }
    }
    for volume in spec.volumes.iter().flatten() {
        let json = serde_json::to_value(volume).unwrap();
        for key in json.as_object().unwrap().keys() {
            if key != "name" && !RESTRICTED_VOLUME_TYPES.contains(&key.as_str()) {
                v.push(format!("volume {} has type {key}", volume.name));
            }
        }
    }
    v
}

/// baseline and restricted, for one container (`sc` its security context): privileges,
/// capabilities, host ports, seccomp, non-root.
fn standard_container_violations(
    sc: &SecurityContext,
    pod_sc: &PodSecurityContext,
    container: &Container,
) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    if sc.privileged == Some(true) {
        v.push("privileged".into());
    }
    if sc.allow_privilege_escalation != Some(false) {
        v.push("allowPrivilegeEscalation is not false".into());
    }
    let caps = sc.capabilities.clone().unwrap_or_default();
    if !caps.drop.unwrap_or_default().iter().any(|d| d == "ALL") {
        v.push("capabilities.drop lacks ALL".into());
    }
    for add in caps.add.unwrap_or_default() {
        if add != "NET_BIND_SERVICE" {
            v.push(format!("capabilities.add {add}"));
        }
    }
    if sc.proc_mount.as_deref().is_some_and(|p| p != "Default") {
        v.push("procMount not Default".into());
    }
    if !selinux_ok(&sc.se_linux_options) {
        v.push("seLinuxOptions not allowed".into());
    }
    if !apparmor_ok(&sc.app_armor_profile) {
        v.push("AppArmor profile Unconfined".into());
    }
    if sc.windows_options.as_ref().and_then(|w| w.host_process) == Some(true) {
        v.push("Windows hostProcess".into());
    }
    for port in container.ports.iter().flatten() {
        if port.host_port.is_some_and(|p| p != 0) {
            v.push("hostPort".into());
        }
    }
    let seccomp = sc
        .seccomp_profile
        .as_ref()
        .or(pod_sc.seccomp_profile.as_ref())
        .map(|p| p.type_.as_str());
    if !seccomp.is_some_and(seccomp_ok) {
        v.push("no RuntimeDefault or Localhost seccompProfile".into());
    }
    if sc.run_as_non_root.or(pod_sc.run_as_non_root) != Some(true) {
        v.push("runAsNonRoot is not true".into());
    }
    if sc.run_as_user == Some(0) {
        v.push("runAsUser 0".into());
    }
    v
}

/// ours, for one container: a read-only root, the fixed UID and GID, bounded resources, a
/// crash's error in its status, the pinned image.
fn our_container_violations(
    sc: &SecurityContext,
    pod_sc: &PodSecurityContext,
    container: &Container,
) -> Vec<String> {
    let mut v = Vec::new();
    if sc.read_only_root_filesystem != Some(true) {
        v.push("readOnlyRootFilesystem is not true (ours)".into());
    }
    if sc.run_as_user.or(pod_sc.run_as_user) != Some(UID)
        || sc.run_as_group.or(pod_sc.run_as_group) != Some(UID)
    {
        v.push(format!("does not run as {UID}:{UID} (ours)"));
    }
    let resources = container.resources.clone().unwrap_or_default();
    for (what, list) in [
        ("requests", resources.requests),
        ("limits", resources.limits),
    ] {
        let list = list.unwrap_or_default();
        for resource in ["cpu", "memory"] {
            if !list.contains_key(resource) {
                v.push(format!("no {resource} in resources.{what} (ours)"));
            }
        }
    }
    if container.termination_message_policy.as_deref() != Some("FallbackToLogsOnError") {
        v.push(
            "terminationMessagePolicy is not FallbackToLogsOnError: a crash's error would \
             not show in kubectl describe (ours)"
                .into(),
        );
    }
    let image = format!("{IMAGE_REPO}:{}", env!("CARGO_PKG_VERSION"));
    if container.image.as_deref() != Some(image.as_str()) {
        v.push(format!("image {:?} is not {image} (ours)", container.image));
    }
    v
}

#[test]
fn every_pod_meets_the_restricted_pod_security_standard() {
    if !need::kubectl() {
        return;
    }
    let mut errors = Vec::new();
    for (dir, objects) in all_renders() {
        let templates = pod_templates(objects);
        assert!(!templates.is_empty(), "{dir} has no pods");
        for (holder, template) in templates {
            for violation in restricted_violations(&template) {
                errors.push(format!("{dir}: {holder}: {violation}"));
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// A violation of each kind, each to set in a good pod template: (JSON pointer, what the check
/// must report, the value set there).
fn violation_cases() -> [(&'static str, &'static str, Value); 14] {
    [
        ("/spec/hostNetwork", "hostNetwork", true.into()),
        ("/spec/hostPID", "hostPID", true.into()),
        (
            "/spec/volumes/0",
            "hostPath",
            serde_json::json!({"name": "h", "hostPath": {"path": "/"}}),
        ),
        (
            "/spec/containers/0/securityContext/privileged",
            "privileged",
            true.into(),
        ),
        (
            "/spec/containers/0/securityContext/allowPrivilegeEscalation",
            "allowPrivilegeEscalation",
            true.into(),
        ),
        (
            "/spec/containers/0/securityContext/capabilities",
            "capabilities.drop",
            serde_json::json!({"drop": ["NET_RAW"]}),
        ),
        (
            "/spec/containers/0/securityContext/capabilities",
            "capabilities.add SYS_ADMIN",
            serde_json::json!({"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
        ),
        (
            "/spec/securityContext/seccompProfile",
            "seccompProfile",
            serde_json::json!({"type": "Unconfined"}),
        ),
        (
            "/spec/securityContext/runAsNonRoot",
            "runAsNonRoot",
            false.into(),
        ),
        (
            "/spec/containers/0/securityContext/readOnlyRootFilesystem",
            "readOnlyRootFilesystem",
            false.into(),
        ),
        (
            "/spec/containers/0/resources",
            "resources.limits",
            serde_json::json!({"requests": {"cpu": "1m", "memory": "1Mi"}}),
        ),
        (
            "/spec/containers/0/ports",
            "hostPort",
            serde_json::json!([{"containerPort": 80, "hostPort": 80}]),
        ),
        (
            "/spec/containers/0/image",
            "image",
            "ghcr.io/spartakus/spartakus:latest".into(),
        ),
        ("/spec/serviceAccountName", "default", "default".into()),
    ]
}

#[test]
fn the_pod_security_check_catches_each_kind_of_violation() {
    if !need::kubectl() {
        return;
    }
    let (_, good) = pod_templates(rendered(INSTALL))
        .into_iter()
        .find(|(id, _)| id.starts_with("CronJob/"))
        .unwrap();
    assert_eq!(restricted_violations(&good), Vec::<String>::new());
    let good = serde_json::to_value(&good).unwrap();
    for (pointer, expected, value) in violation_cases() {
        let mut bad = good.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = bad.pointer_mut(parent).unwrap();
        match parent {
            Value::Array(items) => items.insert(key.parse().unwrap(), value),
            Value::Object(map) => {
                map.insert(key.to_owned(), value);
            }
            _ => panic!("{pointer}"),
        }
        let violations = restricted_violations(&serde_json::from_value(bad).unwrap());
        assert!(
            violations.iter().any(|v| v.contains(expected)),
            "setting {pointer} should report {expected:?}, got {violations:?}"
        );
    }
}

/// The labels every rendered object and pod carries, so that `kubectl get all,cm,sa,pvc -A -l
/// app.kubernetes.io/part-of=spartakus` (or a prune by label) finds the whole install.
pub(super) const COMMON_LABELS: [(&str, &str); 2] = [
    ("app.kubernetes.io/name", "spartakus"),
    ("app.kubernetes.io/part-of", "spartakus"),
];

#[test]
fn every_object_and_pod_carries_the_common_labels() {
    if !need::kubectl() {
        return;
    }
    let mut errors = Vec::new();
    for (dir, objects) in all_renders() {
        let mut labelled: Vec<(String, Value)> = objects
            .iter()
            .map(|o| (id(o), o["metadata"]["labels"].clone()))
            .collect();
        for (holder, template) in pod_templates(objects) {
            let labels = template.metadata.and_then(|m| m.labels).unwrap_or_default();
            labelled.push((
                format!("{holder} pod"),
                serde_json::to_value(labels).unwrap(),
            ));
        }
        for (what, labels) in labelled {
            for (key, value) in COMMON_LABELS {
                if labels[key] != value {
                    errors.push(format!("{dir}: {what}: label {key} is not {value}"));
                }
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn every_pod_keeps_service_mesh_sidecars_out() {
    if !need::kubectl() {
        return;
    }
    for (dir, objects) in all_renders() {
        for (holder, template) in pod_templates(objects) {
            let meta = template.metadata.unwrap_or_default();
            let annotations = meta.annotations.unwrap_or_default();
            let labels = meta.labels.unwrap_or_default();
            let get = |m: &BTreeMap<String, String>, k: &str| m.get(k).cloned();
            assert_eq!(
                get(&annotations, "sidecar.istio.io/inject").as_deref(),
                Some("false"),
                "{dir}: {holder}"
            );
            assert_eq!(
                get(&labels, "sidecar.istio.io/inject").as_deref(),
                Some("false"),
                "{dir}: {holder}"
            );
            assert_eq!(
                get(&annotations, "linkerd.io/inject").as_deref(),
                Some("disabled"),
                "{dir}: {holder}"
            );
            let default = get(&annotations, "kubectl.kubernetes.io/default-container");
            let spec = template.spec.unwrap_or_default();
            assert!(
                spec.containers
                    .iter()
                    .any(|c| Some(&c.name) == default.as_ref()),
                "{dir}: {holder}: kubectl.kubernetes.io/default-container {default:?} names no container"
            );
        }
    }
}
