//! The endpoint and the project's overlays: each changes what it says and nothing else, and
//! the overlays checked are the ones git ships.

use super::*;
use crate::support::util::TempDir;
use k8s_openapi::api::core::v1::{ContainerPort, ServiceSpec};

fn endpoint(objects: &[Value]) -> String {
    let cm = by_id(objects)[&format!("ConfigMap/{NAMESPACE}/spartakus-config")];
    cm["data"]["SPARTAKUS_ENDPOINT"]
        .as_str()
        .expect("SPARTAKUS_ENDPOINT in spartakus-config")
        .to_owned()
}

#[test]
fn the_install_endpoint_is_a_placeholder_that_cannot_resolve() {
    if !need::kubectl() {
        return;
    }
    assert_eq!(endpoint(rendered(INSTALL)), PLACEHOLDER_ENDPOINT);
    // RFC 2606 reserves `.example`: no report can leave the cluster before it is set.
    let host = PLACEHOLDER_ENDPOINT
        .strip_prefix("https://")
        .and_then(|rest| rest.split('/').next())
        .unwrap();
    assert!(host.ends_with(".example"), "{host}");
}

#[test]
fn the_custom_endpoint_overlay_changes_the_endpoint_and_nothing_else() {
    if !need::kubectl() {
        return;
    }
    let overlay = rendered("overlays/custom-endpoint");
    let c = changes(rendered(INSTALL), overlay);
    assert!(
        c.added.is_empty() && c.removed.is_empty(),
        "{:?} {:?}",
        c.added,
        c.removed
    );
    assert_eq!(
        c.changed,
        BTreeMap::from([(
            format!("ConfigMap/{NAMESPACE}/spartakus-config"),
            vec!["/data/SPARTAKUS_ENDPOINT".to_owned()]
        )])
    );
    assert!(endpoint(overlay).starts_with("https://"));
}

#[test]
fn the_install_docs_show_the_endpoint_overlay_in_full() {
    let overlay =
        std::fs::read_to_string(repo().join("overlays/custom-endpoint/kustomization.yaml"))
            .unwrap();
    let text = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        text.contains("overlays/custom-endpoint"),
        "README.md must name the endpoint overlay's path"
    );
    assert!(
        text.contains(overlay.trim_end()),
        "README.md names overlays/custom-endpoint but does not show its kustomization.yaml as it is"
    );
    assert!(
        text.contains(PLACEHOLDER_ENDPOINT),
        "README.md must name the placeholder endpoint"
    );
}

#[test]
fn the_self_hosted_overlay_adds_a_collector_and_points_the_reporter_at_it() {
    if !need::kubectl() {
        return;
    }
    let objects = rendered("overlays/self-hosted");
    let c = changes(rendered(INSTALL), objects);
    assert!(c.removed.is_empty(), "{:?}", c.removed);
    assert_eq!(
        c.added,
        set(&[
            "Deployment/spartakus/spartakus-collector",
            "PersistentVolumeClaim/spartakus/spartakus-collector",
            "Service/spartakus/spartakus-collector",
            "ServiceAccount/spartakus/spartakus-collector",
        ])
    );
    assert_eq!(
        c.changed,
        BTreeMap::from([(
            format!("ConfigMap/{NAMESPACE}/spartakus-config"),
            vec!["/data/SPARTAKUS_ENDPOINT".to_owned()]
        )])
    );
    assert_eq!(endpoint(objects), SELF_HOSTED_ENDPOINT);

    let (_, service) = the_one::<Service>(objects, "Service");
    let (_, deployment) = the_one::<Deployment>(objects, "Deployment");
    let (_, claim) = the_one::<PersistentVolumeClaim>(objects, "PersistentVolumeClaim");
    let service = the_endpoint_is_this_services_port_80(service);
    let pod = one_replica_replaced_by_stopping_the_old_first(deployment, &service);
    let container = &pod.containers[0];
    let port = the_service_targets_the_containers_port(&service, container);
    // Every setting in one place, the environment: no flag to win over a patched variable.
    assert_eq!(container.args.as_deref(), Some(&["collect".to_owned()][..]));
    let env = environment(container, objects, &BTreeMap::new());
    assert_eq!(env["SPARTAKUS_LISTEN"], "0.0.0.0:8080");
    probes_are_on_the_containers_port(container, &port);
    the_store_is_on_the_claim(&pod, &claim, &env["SPARTAKUS_STORE"]);
}

/// The endpoint's host is this Service, on its port 80. Its spec.
fn the_endpoint_is_this_services_port_80(service: Service) -> ServiceSpec {
    let service_name = service.metadata.name.clone().unwrap();
    assert_eq!(
        SELF_HOSTED_ENDPOINT,
        format!("http://{service_name}.{NAMESPACE}.svc/api/v1")
    );
    let service_spec = service.spec.unwrap();
    let ports = service_spec.ports.as_ref().unwrap();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0].port, 80);
    service_spec
}

/// SQLite has one writer: one replica, replaced by stopping the old pod first; the Service and
/// the Deployment select its pod. The pod.
fn one_replica_replaced_by_stopping_the_old_first(
    deployment: Deployment,
    service: &ServiceSpec,
) -> PodSpec {
    let spec = deployment.spec.unwrap();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(
        spec.strategy.and_then(|s| s.type_).as_deref(),
        Some("Recreate")
    );
    let template = spec.template;
    let pod_labels = template.metadata.unwrap().labels.unwrap();
    let selector = spec.selector.match_labels.unwrap();
    for (k, v) in service.selector.as_ref().unwrap().iter().chain(&selector) {
        assert_eq!(
            pod_labels.get(k),
            Some(v),
            "selector {k}={v} does not match the pod"
        );
    }
    template.spec.unwrap()
}

/// The collector listens on 8080, the port the Service targets. That port.
fn the_service_targets_the_containers_port(
    service: &ServiceSpec,
    container: &Container,
) -> ContainerPort {
    let container_port = container.ports.as_ref().unwrap()[0].clone();
    assert_eq!(container_port.container_port, 8080);
    let target = service.ports.as_ref().unwrap()[0]
        .target_port
        .clone()
        .unwrap();
    assert!(
        target == IntOrString::Int(8080)
            || Some(&target)
                == container_port
                    .name
                    .clone()
                    .map(IntOrString::String)
                    .as_ref(),
        "the Service's targetPort {target:?} is not the container's port"
    );
    container_port
}

/// Probes: live on /healthz, ready on /readyz, on the container's port.
fn probes_are_on_the_containers_port(container: &Container, container_port: &ContainerPort) {
    for (probe, path) in [
        (container.liveness_probe.clone(), "/healthz"),
        (container.readiness_probe.clone(), "/readyz"),
    ] {
        let get = probe.and_then(|p| p.http_get).expect("an HTTP probe");
        assert_eq!(get.path.as_deref(), Some(path));
        assert!(
            get.port == IntOrString::Int(8080)
                || Some(&get.port)
                    == container_port
                        .name
                        .clone()
                        .map(IntOrString::String)
                        .as_ref()
        );
    }
}

/// The store (`SPARTAKUS_STORE`) is on the claim, mounted where the collector's group may write.
fn the_store_is_on_the_claim(pod: &PodSpec, claim: &PersistentVolumeClaim, store: &str) {
    let container = &pod.containers[0];
    let data = pod
        .volumes
        .clone()
        .unwrap()
        .into_iter()
        .find(|v| v.persistent_volume_claim.is_some())
        .expect("a PVC volume");
    assert_eq!(
        data.persistent_volume_claim.unwrap().claim_name,
        claim.metadata.name.clone().unwrap()
    );
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == data.name)
        .expect("the PVC is mounted");
    assert_eq!(mount.mount_path, "/data");
    assert!(
        store.starts_with("/data/"),
        "--store {store} is not on the volume"
    );
    assert_eq!(
        pod.security_context.as_ref().and_then(|s| s.fs_group),
        Some(UID),
        "the volume must be writable by the collector's group"
    );
}

/// The PostgreSQL variant: no volume, several replicas rolled one at a time, and the store's URL
/// (a password in it) from a Secret, never a flag.
#[test]
fn the_postgres_overlay_runs_replicas_on_a_database_from_a_secret() {
    if !need::kubectl() {
        return;
    }
    let objects = rendered("overlays/self-hosted-postgres");
    let c = changes(rendered("overlays/self-hosted"), objects);
    assert_eq!(
        c.removed,
        set(&["PersistentVolumeClaim/spartakus/spartakus-collector"])
    );
    assert_eq!(
        c.added,
        set(&["PodDisruptionBudget/spartakus/spartakus-collector"])
    );
    assert_eq!(c.changed.len(), 1, "only the Deployment: {:?}", c.changed);
    let (_, deployment) = the_one::<Deployment>(objects, "Deployment");
    let spec = deployment.spec.unwrap();
    let replicas = spec.replicas.unwrap_or(1);
    assert!(replicas >= 2);

    // A drain takes one replica at a time, and never waits on one that is not ready.
    let (_, budget) = the_one::<PodDisruptionBudget>(objects, "PodDisruptionBudget");
    let budget = budget.spec.unwrap();
    assert_eq!(budget.min_available, Some(IntOrString::Int(1)));
    assert!(1 < replicas);
    assert_eq!(
        budget.unhealthy_pod_eviction_policy.as_deref(),
        Some("AlwaysAllow")
    );
    let pod_labels = spec.template.metadata.clone().unwrap().labels.unwrap();
    let selected = budget.selector.unwrap().match_labels.unwrap();
    assert!(
        selected.iter().all(|(k, v)| pod_labels.get(k) == Some(v)),
        "the budget's selector {selected:?} does not select the collector's pods"
    );
    assert_eq!(
        spec.strategy.and_then(|s| s.type_).as_deref(),
        Some("RollingUpdate")
    );
    let pod = spec.template.spec.unwrap();
    assert!(
        pod.volumes
            .iter()
            .flatten()
            .all(|v| v.persistent_volume_claim.is_none()),
        "no volume claim"
    );
    let container = &pod.containers[0];
    let args = container.args.clone().unwrap_or_default();
    assert!(!args.iter().any(|a| a == "--store"), "{args:?}");
    // The store in one place: the one variable, from the Secret.
    let stores: Vec<_> = container
        .env
        .iter()
        .flatten()
        .filter(|e| e.name == "SPARTAKUS_STORE")
        .collect();
    assert_eq!(stores.len(), 1, "{stores:?}");
    let store = stores[0];
    assert!(store.value.is_none());
    let secret = store
        .value_from
        .as_ref()
        .and_then(|v| v.secret_key_ref.as_ref())
        .expect("SPARTAKUS_STORE from a Secret");
    assert_eq!(
        (secret.name.as_str(), secret.key.as_str()),
        ("spartakus-collector-store", "url")
    );
}

#[test]
fn the_collector_drains_within_its_termination_grace_period() {
    if !need::kubectl() {
        return;
    }
    let objects = rendered("overlays/self-hosted");
    let (holder, deployment) = the_one::<Deployment>(objects, "Deployment");
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    // Stated, not left to the API server's default (also 30 s), so that the drain below is
    // checked against the number the cluster uses.
    let grace_period = pod
        .termination_grace_period_seconds
        .unwrap_or_else(|| panic!("{holder}: terminationGracePeriodSeconds is not stated"));
    let container = &pod.containers[0];
    let env = environment(container, objects, &BTreeMap::new());
    // The flag wins over the variable.
    let flag = container
        .args
        .iter()
        .flatten()
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0] == "--shutdown-grace")
        .map(|w| w[1].clone());
    let drain = flag
        .or_else(|| env.get("SPARTAKUS_SHUTDOWN_GRACE").cloned())
        .map(|d| seconds(&d))
        .unwrap_or_else(|| {
            panic!(
                "{holder}: neither --shutdown-grace nor SPARTAKUS_SHUTDOWN_GRACE is set: state \
                 the collector's drain after SIGTERM (its default is 25s) next to the grace \
                 period"
            )
        });
    assert!(
        drain < grace_period,
        "{holder}: the collector drains for up to {drain}s after SIGTERM, but is killed after \
         terminationGracePeriodSeconds {grace_period}s"
    );
}

// ---------------------------------------------------------------------------------------------
// Which overlays are the project's

/// `overlays/<name>` for each `overlays/<name>/kustomization.yaml` that git tracks in the checkout
/// at `root`; `None` where git cannot tell (no git, or not a checkout, as in a source archive).
/// A directory a user made and did not commit is not tracked, so it is never among them.
fn tracked_overlays(root: &Path) -> Option<BTreeSet<String>> {
    let out = Command::new("git")
        .args(["ls-files", "-z", "--", "overlays"])
        .current_dir(root)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let paths = String::from_utf8(out.stdout).expect("git prints UTF-8 paths here");
    Some(
        paths
            .split('\0')
            .filter_map(|path| path.strip_suffix("/kustomization.yaml"))
            .filter(|dir| dir.matches('/').count() == 1)
            .map(str::to_owned)
            .collect(),
    )
}

/// How `listed` (the overlays these tests check) and `shipped` (the overlays git tracks) differ.
fn overlay_list_problems(listed: &[&str], shipped: &BTreeSet<String>) -> Vec<String> {
    let listed: BTreeSet<String> = listed.iter().map(|s| s.to_string()).collect();
    let mut problems: Vec<String> = shipped
        .difference(&listed)
        .map(|dir| {
            format!(
                "{dir} is committed but not in OVERLAYS, so nothing checks it: add it there if \
                 it is one of the project's overlays (a user's own overlay belongs outside \
                 overlays/, see README)"
            )
        })
        .collect();
    problems.extend(listed.difference(shipped).map(|dir| {
        format!("{dir} is in OVERLAYS but git does not track {dir}/kustomization.yaml")
    }));
    problems
}

#[test]
fn the_listed_overlays_are_the_ones_the_project_ships() {
    for dir in OVERLAYS {
        assert!(
            repo().join(dir).join("kustomization.yaml").is_file(),
            "{dir}/kustomization.yaml is missing"
        );
    }
    if !need::git() {
        return;
    }
    match tracked_overlays(&repo()) {
        Some(shipped) => {
            let problems = overlay_list_problems(&OVERLAYS, &shipped);
            assert!(problems.is_empty(), "{}", problems.join("\n"));
        }
        None => {
            need::missing(
                "a git checkout (to compare the overlays git tracks)",
                "run the tests in a clone of the repository",
            );
        }
    }
}

/// A user who follows the README and adds `overlays/my-cluster/` (own image, own endpoint) must
/// still see `cargo test` pass. Proven on a scratch git checkout, not on this one, so that no
/// test ever writes into overlays/ while others render it.
#[test]
fn a_users_own_overlay_under_overlays_is_ignored() {
    if !need::git() {
        return;
    }
    let scratch = TempDir::new("user-overlay");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(scratch.path())
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .output()
    };
    match git(&["init", "--quiet"]) {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("git init: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => panic!("running git: {e}"),
    }
    for dir in OVERLAYS.iter().copied().chain(["overlays/my-cluster"]) {
        std::fs::create_dir_all(scratch.join(dir)).unwrap();
        // The user's overlay runs another image, which the checks of the project's would refuse.
        std::fs::write(
            scratch.join(dir).join("kustomization.yaml"),
            "images:\n  - name: ghcr.io/spartakus/spartakus\n    newTag: mine\n",
        )
        .unwrap();
    }
    for dir in OVERLAYS {
        let out = git(&["add", &format!("{dir}/kustomization.yaml")]).unwrap();
        assert!(
            out.status.success(),
            "git add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let shipped = tracked_overlays(scratch.path()).expect("a git checkout");
    assert_eq!(shipped, OVERLAYS.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        overlay_list_problems(&OVERLAYS, &shipped),
        Vec::<String>::new()
    );

    // The other way round: a project overlay left out of the list, or listed but not shipped.
    let mut more = shipped.clone();
    more.insert("overlays/new-example".into());
    let problems = overlay_list_problems(&OVERLAYS, &more);
    assert!(
        problems.len() == 1 && problems[0].starts_with("overlays/new-example is committed"),
        "{problems:?}"
    );
    let problems = overlay_list_problems(&OVERLAYS, &BTreeSet::new());
    assert_eq!(problems.len(), OVERLAYS.len(), "{problems:?}");
}
