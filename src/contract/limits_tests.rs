//! Tests of [`super`]: the clamp rules and the structural rules.

use super::*;

fn res(name: &str, value: &str) -> Resource {
    Resource {
        resource: name.into(),
        value: value.into(),
    }
}

#[test]
fn text_is_cut_at_a_character_boundary_and_controls_replaced() {
    let mut s = "é".repeat(300);
    assert!(clamp_text(&mut s, 256));
    assert_eq!(s.chars().count(), 256);
    assert!(s.chars().all(|c| c == 'é'));
    let mut s = "é".repeat(256);
    assert!(!clamp_text(&mut s, 256), "256 two-byte characters fit");
    let mut s = "a\u{1b}[31mb\n".to_string();
    assert!(clamp_text(&mut s, 256));
    assert_eq!(s, "a\u{FFFD}[31mb\u{FFFD}");
    let mut s = "\u{85}x".to_string();
    assert!(clamp_text(&mut s, 256), "C1 controls too");
    let mut s = "\u{1F600}".repeat(3);
    assert!(clamp_text(&mut s, 2));
    assert_eq!(s, "\u{1F600}\u{1F600}");
    let mut fine = "Ubuntu 24.04.1 LTS".to_string();
    assert!(!clamp_text(&mut fine, 256));
}

#[test]
fn capacity_folds_into_other_and_is_a_fixed_point() {
    let mut list: Vec<Resource> = (0..70).map(|i| res(&format!("r{i:02}"), "1")).collect();
    list.push(res(OTHER_RESOURCES, "5"));
    list.sort();
    let folded = fold_capacity(&mut list);
    assert_eq!(list.len(), MAX_CAPACITY);
    assert!(list.is_sorted(), "other keeps its sorted place");
    let other = list.iter().find(|r| r.resource == OTHER_RESOURCES).unwrap();
    // 70 named entries, 63 kept: 7 folded, plus the 5 already counted.
    assert_eq!(folded, 7);
    assert_eq!(other.value, "12");
    let again = list.clone();
    assert_eq!(fold_capacity(&mut list), 0);
    assert_eq!(list, again, "a folded list is left alone");

    let mut unsorted: Vec<Resource> = (0..65)
        .map(|i| res(if i % 2 == 0 { "z" } else { "a" }, "1"))
        .collect();
    unsorted.push(res(OTHER_RESOURCES, "many"));
    assert_eq!(fold_capacity(&mut unsorted), 2);
    assert_eq!(unsorted.last().unwrap(), &res(OTHER_RESOURCES, "3"));
    let mut small = vec![res("cpu", "4")];
    assert_eq!(fold_capacity(&mut small), 0);
    assert_eq!(small, vec![res("cpu", "4")]);
}

#[test]
fn clamps_are_counted_by_field() {
    let mut node = Node {
        id: "0".repeat(32),
        os_image: Some("x".repeat(300)),
        kernel_version: Some(String::new()),
        capacity: vec![res("cpu", &"9".repeat(257))],
        ..Node::default()
    };
    let mut clamps = Clamps::default();
    clamp_node(&mut node, &mut clamps);
    assert_eq!(node.kernel_version, None, "empty is absent, not clamped");
    assert_eq!(clamps.get(Field::OsImage), 1);
    assert_eq!(clamps.get(Field::CapacityValue), 1);
    assert_eq!(clamps.total(), 2);
    assert_eq!(clamps.to_string(), "nodes.osImage:1,nodes.capacity.value:1");

    let mut report = Report {
        timestamp: "1\n".into(),
        extensions: (0..105)
            .map(|i| Extension {
                name: format!("k{i}"),
                value: "v".repeat(300),
            })
            .collect(),
        ..Report::default()
    };
    let mut clamps = Clamps::default();
    clamp_header(&mut report, &mut clamps);
    assert_eq!(report.extensions.len(), MAX_EXTENSIONS);
    assert_eq!(clamps.get(Field::Extensions), 5);
    assert_eq!(clamps.get(Field::ExtensionValue), 100);
    assert_eq!(clamps.get(Field::Timestamp), 1);
}

#[test]
fn required_values() {
    assert!(check_cluster_id("2f9c93d3-156c-47aa-8802-578ffca9b50e").is_ok());
    for bad in ["", "   ", "a b", "é", &"x".repeat(129), "x\u{2028}"] {
        assert!(check_cluster_id(bad).is_err(), "{bad:?}");
    }
    assert!(check_version("v1.0.0").is_ok());
    assert!(check_version("").is_err());
    assert!(check_version("v1\n").is_err());
    assert_eq!(
        parse_node_id(&"ab".repeat(16)),
        Some(u128::from_str_radix(&"ab".repeat(16), 16).unwrap())
    );
    for bad in ["", "n", &"AB".repeat(16), &"ab".repeat(17), &"g".repeat(32)] {
        assert_eq!(parse_node_id(bad), None, "{bad:?}");
    }
}

#[test]
fn idempotency_keys() {
    assert_eq!(idempotency_key(b"abc-123").as_deref(), Some("abc-123"));
    assert_eq!(idempotency_key(b"\"abc\"").as_deref(), Some("abc"));
    assert_eq!(idempotency_key(b" abc ").as_deref(), Some("abc"));
    assert_eq!(idempotency_key(b""), None);
    assert_eq!(idempotency_key(b"\"\""), None);
    assert_eq!(idempotency_key(b"a b"), None);
    assert_eq!(idempotency_key(&[0xff, 0x41]), None);
    assert_eq!(idempotency_key("k".repeat(257).as_bytes()), None);
}

#[test]
fn namespace_buckets_double_from_one_and_the_last_is_open() {
    let cases = [
        (0, 0),
        (1, 1),
        (2, 2),
        (3, 2),
        (4, 3),
        (7, 3),
        (8, 4),
        (15, 4),
        (16, 5),
        ((1 << 20) - 1, 20),
        (1 << 20, 21),
        (u64::MAX, 21),
    ];
    for (count, bucket) in cases {
        assert_eq!(namespace_bucket(count), bucket, "{count}");
    }
    // Every count falls into the bucket whose range holds it, and the ranges tile 0..∞.
    let mut next = 0;
    for i in 0..WORKLOAD_BUCKETS {
        let (low, high) = bucket_range(i);
        assert_eq!(low, next, "bucket {i} starts where {} ended", i.max(1) - 1);
        assert_eq!(namespace_bucket(low), i);
        match high {
            Some(high) => {
                assert_eq!(namespace_bucket(high), i);
                assert_eq!(namespace_bucket(high + 1), i + 1);
                next = high + 1;
            }
            None => assert_eq!(i, WORKLOAD_BUCKETS - 1, "only the last is open"),
        }
    }
    let labels: Vec<String> = (0..5).map(bucket_label).collect();
    assert_eq!(labels, ["0", "1", "2-3", "4-7", "8-15"]);
    assert_eq!(bucket_label(WORKLOAD_BUCKETS - 1), "1048576+");
}

fn kind(total: u64, per_namespace: Vec<u64>, age: Option<Ages>) -> KindStats {
    KindStats {
        total,
        per_namespace,
        age,
    }
}

#[test]
fn workload_values_over_their_limits_are_clamped_and_counted() {
    let ages = |count, days| Ages {
        count,
        mean_days: days,
        median_days: days,
        p90_days: 1,
    };
    let mut over = vec![1; WORKLOAD_BUCKETS + 3];
    over[WORKLOAD_BUCKETS - 1] = u64::MAX;
    let mut w = Some(Workloads {
        namespaces: Some(kind(MAX_WORKLOAD_COUNT + 1, vec![], Some(ages(3, 99_999)))),
        pods: Some(kind(7, over, None)),
        services: Some(kind(0, vec![4, 0, 0], Some(ages(0, 1)))),
        ..Workloads::default()
    });
    let mut clamps = Clamps::default();
    clamp_workloads(&mut w, &mut clamps);
    let w = w.unwrap();
    let namespaces = w.namespaces.unwrap();
    assert_eq!(namespaces.total, MAX_WORKLOAD_COUNT);
    assert_eq!(namespaces.age, Some(ages(3, MAX_AGE_DAYS)));
    let pods = w.pods.unwrap();
    assert_eq!(pods.per_namespace.len(), WORKLOAD_BUCKETS);
    assert_eq!(pods.per_namespace[WORKLOAD_BUCKETS - 1], MAX_WORKLOAD_COUNT);
    // Trailing empty buckets and an age of nothing are absent, not clamps.
    assert_eq!(w.services, Some(kind(0, vec![4], None)));
    assert_eq!(clamps.get(Field::WorkloadCount), 2);
    assert_eq!(clamps.get(Field::WorkloadBuckets), 3);
    assert_eq!(clamps.get(Field::WorkloadAge), 2);
    assert_eq!(
        clamps.to_string(),
        "workloads.count:2,workloads.perNamespace:3,workloads.age:2"
    );

    // A clamped part is a fixed point, and an empty one is absent.
    let mut again = Some(Workloads {
        namespaces: Some(namespaces),
        pods: Some(pods),
        ..Workloads::default()
    });
    let before = again.clone();
    let mut none = Clamps::default();
    clamp_workloads(&mut again, &mut none);
    assert_eq!((again, none), (before, Clamps::default()));
    let mut empty = Some(Workloads::default());
    clamp_workloads(&mut empty, &mut none);
    assert_eq!(empty, None);
}

#[test]
fn a_capacity_cut_keeps_what_matters_first() {
    // A node of many huge page sizes (value 0) and MIG profiles, sorted by name as reports are:
    // the cut keeps cpu, memory, pods, ephemeral-storage and every accelerator, and folds huge
    // pages into `other`.
    let mut names: Vec<String> = (0..61).map(|i| format!("hugepages-{i:02}Mi")).collect();
    names.extend(["cpu", "memory", "pods", "ephemeral-storage"].map(String::from));
    names.extend((0..5).map(|i| format!("nvidia.com/mig-{i}g.10gb")));
    names.push("nvidia.com/gpu".into());
    names.sort();
    let mut list: Vec<Resource> = names
        .iter()
        .map(|n| Resource {
            resource: n.clone(),
            value: "0".into(),
        })
        .collect();
    let folded = fold_capacity(&mut list);
    assert_eq!(folded as usize, names.len() - (MAX_CAPACITY - 1));
    assert_eq!(list.len(), MAX_CAPACITY);
    let kept: Vec<&str> = list.iter().map(|r| r.resource.as_str()).collect();
    for wanted in [
        "cpu",
        "memory",
        "pods",
        "ephemeral-storage",
        "nvidia.com/gpu",
    ] {
        assert!(kept.contains(&wanted), "{wanted} dropped: {kept:?}");
    }
    assert_eq!(
        kept.iter()
            .filter(|r| r.starts_with("nvidia.com/mig-"))
            .count(),
        5
    );
    let other = list.iter().find(|r| r.resource == OTHER_RESOURCES).unwrap();
    assert_eq!(other.value, folded.to_string());
    assert!(list.is_sorted(), "{kept:?}");
    assert_eq!(accelerator("nvidia.com/mig-1g.5gb"), Some("nvidia"));
    assert_eq!(accelerator("hugepages-2Mi"), None);
}
