//! The optional components and the one version: the NetworkPolicy component admits only the
//! reporter to the collector, and Cargo's version is the image's everywhere it is written.

use super::*;

/// Whether `selector` selects pods labelled `labels` (matchLabels only; the manifests use no
/// expressions).
fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    assert!(selector.match_expressions.is_none(), "{selector:?}");
    selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v))
}

fn pod_labels_of(objects: &[Value], kind: &str) -> BTreeMap<String, String> {
    template_of(objects, kind)
        .metadata
        .and_then(|m| m.labels)
        .unwrap_or_default()
}

/// The optional NetworkPolicy (kustomize/components/collector-network-policy), added to
/// overlays/self-hosted as README shows: one more object, and it admits the reporter's pods to the
/// collector's port and no other pod of the install.
#[test]
fn the_network_policy_component_admits_only_the_reporter_to_the_collector() {
    if !need::kubectl() {
        return;
    }
    let text = std::fs::read_to_string(
        repo().join("kustomize/components/collector-network-policy/kustomization.yaml"),
    )
    .unwrap();
    assert!(
        text.contains("\nkind: Component\n"),
        "a kustomize Component"
    );
    let objects = render(&repo().join("tests/manifests/network-policy"));
    let c = changes(rendered("overlays/self-hosted"), &objects);
    assert_eq!(
        c.added,
        set(&["NetworkPolicy/spartakus/spartakus-collector"])
    );
    assert!(c.removed.is_empty(), "{:?}", c.removed);
    assert!(c.changed.is_empty(), "{:?}", c.changed);
    let object = by_id(&objects)["NetworkPolicy/spartakus/spartakus-collector"];
    assert_eq!(check_schema(object), Ok(()));
    for (key, value) in COMMON_LABELS {
        assert_eq!(object["metadata"]["labels"][key], value);
    }

    let collector = pod_labels_of(&objects, "Deployment");
    let reporter = pod_labels_of(&objects, "CronJob");
    let init = pod_labels_of(&objects, "Job");
    let spec = typed::<NetworkPolicy>(object).spec.unwrap();
    let applies_to = spec.pod_selector.clone().expect("podSelector");
    assert!(selects(&applies_to, &collector));
    assert!(!selects(&applies_to, &reporter) && !selects(&applies_to, &init));
    assert_eq!(spec.policy_types, Some(vec!["Ingress".to_owned()]));
    let ingress = spec.ingress.unwrap();
    assert_eq!(ingress.len(), 1);
    let from = ingress[0].from.clone().unwrap();
    assert_eq!(from.len(), 1);
    assert!(from[0].namespace_selector.is_none() && from[0].ip_block.is_none());
    let peer = from[0].pod_selector.clone().unwrap();
    assert!(selects(&peer, &reporter), "the reporter is admitted");
    assert!(!selects(&peer, &collector) && !selects(&peer, &init));
    let ports = ingress[0].ports.clone().unwrap();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0].protocol.as_deref(), Some("TCP"));
    let (_, deployment) = the_one::<Deployment>(&objects, "Deployment");
    let container_port = deployment.spec.unwrap().template.spec.unwrap().containers[0]
        .ports
        .clone()
        .unwrap()[0]
        .container_port;
    assert_eq!(ports[0].port, Some(IntOrString::Int(container_port)));
}

/// Every `ghcr.io/spartakus/spartakus:TAG` written in `text`.
fn image_tags(text: &str) -> Vec<String> {
    regex::Regex::new(r"ghcr\.io/spartakus/spartakus:([0-9A-Za-z._+-]*[0-9A-Za-z])")
        .unwrap()
        .captures_iter(text)
        .map(|c| c[1].to_owned())
        .collect()
}

/// Cargo's version is the one version: of the image every rendered container runs, of every image
/// README and the Dockerfile name, and of the label image/build puts on the image it builds.
#[test]
fn the_manifests_readme_dockerfile_and_image_build_name_cargos_version() {
    if !need::kubectl() {
        return;
    }
    let version = env!("CARGO_PKG_VERSION");
    for (dir, objects) in all_renders() {
        for (holder, template) in pod_templates(objects) {
            for container in template.spec.unwrap().containers {
                assert_eq!(
                    container.image.as_deref(),
                    Some(format!("{IMAGE_REPO}:{version}").as_str()),
                    "{dir}: {holder}"
                );
            }
        }
    }
    // The other places a version is written: an overlay's `newTag:`, the Dockerfile's label,
    // a remote base's `?ref=v...`.
    let versions =
        regex::Regex::new(r#"(?:newTag: |image\.version=|ref=v)"?([0-9][^"\s`)]*)"#).unwrap();
    for file in ["README.md", "Dockerfile"] {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        let tags = image_tags(&text);
        assert!(!tags.is_empty(), "{file} names no tagged image");
        for tag in tags {
            assert_eq!(tag, version, "{file} names {IMAGE_REPO}:{tag}");
        }
        for found in versions.captures_iter(&text) {
            assert_eq!(&found[1], version, "{file}: {}", &found[0]);
        }
    }
    assert_eq!(image_tags("ghcr.io/spartakus/spartakus:9.9.9`"), ["9.9.9"]);

    let out = Command::new("python3")
        .arg(repo().join("image/build"))
        .arg("--labels")
        .output()
        .expect("python3 runs image/build");
    assert!(
        out.status.success(),
        "image/build --labels: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["name"], IMAGE_REPO);
    assert_eq!(printed["tag"], version);
    let labels = &printed["labels"];
    assert_eq!(labels["org.opencontainers.image.version"], version);
    assert_eq!(
        labels["org.opencontainers.image.licenses"],
        env!("CARGO_PKG_LICENSE")
    );
    for key in ["source", "revision"] {
        assert!(
            labels[format!("org.opencontainers.image.{key}")].is_string(),
            "{key}: {labels}"
        );
    }
}
