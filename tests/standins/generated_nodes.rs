//! The generated nodes: their size, shapes like their providers', unique names and UIDs, and the
//! planted identifying strings.

use super::*;

#[test]
fn nodes_are_10_to_15_kb_each() {
    // Every shape several times, and a sample across a 65,000-node cluster.
    let sample = (0..nodes::SHAPES.len() * 12).chain((0..65_000).step_by(61));
    let sizes: Vec<(usize, usize)> = sample
        .map(|i| {
            let json = nodes::node_json(i);
            let value: Value = serde_json::from_str(&json).unwrap();
            assert_eq!(value["status"]["images"].as_array().unwrap().len(), 36);
            (i, json.len())
        })
        .collect();
    for shape in nodes::SHAPES {
        let of_shape: Vec<usize> = sizes
            .iter()
            .filter(|(i, _)| nodes::shape(*i) == shape)
            .map(|(_, size)| *size)
            .collect();
        eprintln!(
            "{shape:?}: node JSON bytes min {} max {}",
            of_shape.iter().min().unwrap(),
            of_shape.iter().max().unwrap()
        );
    }
    for (i, size) in &sizes {
        assert!(
            (10 * 1024..=15 * 1024).contains(size),
            "node {i} ({:?}) is {size} bytes",
            nodes::shape(*i),
        );
    }
    let avg = sizes.iter().map(|(_, s)| s).sum::<usize>() / sizes.len();
    eprintln!("node JSON bytes: average {avg}");
}

#[test]
fn every_shape_looks_like_its_provider() {
    for i in 0..nodes::SHAPES.len() * 2 {
        let node: Value = serde_json::from_str(&nodes::node_json(i)).unwrap();
        let provider = node["spec"]["providerID"].as_str();
        let info = &node["status"]["nodeInfo"];
        let scheme = provider.and_then(|p| p.split_once("://")).map(|p| p.0);
        match nodes::shape(i) {
            nodes::Shape::Eks => assert_eq!(scheme, Some("aws")),
            nodes::Shape::Gke => assert_eq!(scheme, Some("gce")),
            nodes::Shape::Aks => assert_eq!(scheme, Some("azure")),
            nodes::Shape::Kind => assert_eq!(scheme, Some("kind")),
            nodes::Shape::K3s => assert_eq!(scheme, Some("k3s")),
            nodes::Shape::OpenShift => {
                assert!(matches!(scheme, Some("aws" | "openstack")));
                assert!(
                    info["containerRuntimeVersion"]
                        .as_str()
                        .unwrap()
                        .starts_with("cri-o://")
                );
            }
            nodes::Shape::Windows => {
                assert_eq!(scheme, Some("azure"));
                assert_eq!(info["operatingSystem"], "windows");
            }
            nodes::Shape::BareMetal => assert_eq!(provider, None),
        }
        for field in [
            "machineID",
            "systemUUID",
            "bootID",
            "kernelVersion",
            "osImage",
            "containerRuntimeVersion",
            "kubeletVersion",
            "kubeProxyVersion",
            "operatingSystem",
            "architecture",
        ] {
            assert!(
                info[field].as_str().is_some_and(|v| !v.is_empty()),
                "{i} {field}"
            );
        }
        for part in ["capacity", "allocatable"] {
            let map = node["status"][part].as_object().unwrap();
            for key in ["cpu", "memory", "pods", "ephemeral-storage"] {
                assert!(map.contains_key(key), "{i} {part} {key}");
            }
        }
        assert!(node["metadata"]["managedFields"].as_array().unwrap().len() >= 3);
        assert!(node["status"]["conditions"].as_array().unwrap().len() >= 4);
    }
    // Some nodes have GPUs and some a company-specific resource.
    let caps: Vec<Value> = (0..64)
        .map(|i| {
            serde_json::from_str::<Value>(&nodes::node_json(i)).unwrap()["status"]["capacity"]
                .clone()
        })
        .collect();
    assert!(caps.iter().any(|c| c.get("nvidia.com/gpu").is_some()));
    assert!(
        caps.iter()
            .any(|c| c.get(nodes::COMPANY_RESOURCE).is_some())
    );
    assert!(caps.iter().any(|c| c.get("hugepages-2Mi").is_some()));
}

#[test]
fn uids_and_names_are_unique() {
    let count = 4000;
    let uids: BTreeSet<String> = (0..count).map(nodes::node_uid).collect();
    assert_eq!(uids.len(), count);
    let names: BTreeSet<String> = (0..count).map(nodes::node_name).collect();
    assert_eq!(names.len(), count);
    // Far indices too (a 65,000-node cluster).
    let far: BTreeSet<String> = (60_000..65_000).map(nodes::node_uid).collect();
    assert_eq!(far.len(), 5000);
    assert!(far.is_disjoint(&uids));
}

/// Everything a report may legitimately carry, from the first `count` nodes, plus the report's
/// own words. (The company resource is folded into `other`, with its quantity.)
fn legitimate_report_values(count: usize) -> BTreeSet<String> {
    let mut legit: BTreeSet<String> = (0..count)
        .flat_map(nodes::report_values)
        .filter(|v| v != nodes::COMPANY_RESOURCE)
        .collect();
    legit.extend(
        [
            "version",
            "timestamp",
            "clusterID",
            "masterVersion",
            "nodes",
            "id",
            "operatingSystem",
            "osImage",
            "kernelVersion",
            "architecture",
            "containerRuntimeVersion",
            "kubeletVersion",
            "cloudProvider",
            "capacity",
            "resource",
            "value",
            "extensions",
            "name",
            "unknown",
            "other",
            "v1.0.0",
            "v1.33.2",
        ]
        .map(String::from),
    );
    legit
}

#[test]
fn identifying_strings_are_planted_and_distinct_from_report_values() {
    let count = nodes::SHAPES.len() * 6;
    let legit = legitimate_report_values(count);
    for i in 0..count {
        let json = nodes::node_json(i);
        let planted = nodes::identifying_strings(i);
        assert!(planted.len() > 40, "node {i}: {}", planted.len());
        for secret in &planted {
            assert!(
                secret.len() >= 8,
                "node {i}: {secret:?} is too short to be distinctive"
            );
            assert!(!secret.contains('"') && !secret.contains('\\'));
            assert!(
                json.contains(secret.as_str()),
                "node {i}: {secret:?} not planted"
            );
            for value in &legit {
                assert!(
                    !value
                        .to_ascii_lowercase()
                        .contains(&secret.to_ascii_lowercase()),
                    "node {i}: {secret:?} is inside the legitimate value {value:?}"
                );
            }
        }
    }
}

/// Every identifying field of a node (its names, IDs, addresses, images and provider ID) is
/// among its planted strings.
#[test]
fn every_identifying_field_is_among_the_planted_strings() {
    for i in 0..nodes::SHAPES.len() * 6 {
        let json = nodes::node_json(i);
        let planted = nodes::identifying_strings(i);
        for must in ["uid", "name", "machineID", "systemUUID", "bootID"] {
            let node: Value = serde_json::from_str(&json).unwrap();
            let value = node["metadata"][must]
                .as_str()
                .or(node["status"]["nodeInfo"][must].as_str())
                .unwrap();
            assert!(
                planted.iter().any(|p| p == value),
                "node {i}: {must} not listed"
            );
        }
        let node: Value = serde_json::from_str(&json).unwrap();
        for address in node["status"]["addresses"].as_array().unwrap() {
            let address = address["address"].as_str().unwrap();
            assert!(planted.iter().any(|p| p == address), "node {i}: {address}");
        }
        for image in node["status"]["images"].as_array().unwrap() {
            for name in image["names"].as_array().unwrap() {
                assert!(planted.iter().any(|p| p == name.as_str().unwrap()));
            }
        }
        if let Some(id) = node["spec"]["providerID"].as_str() {
            assert!(planted.iter().any(|p| p == id));
        }
    }
}
