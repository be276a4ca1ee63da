//! Tests of [`super`]: every chunking, only the wanted fields, bounded memory.

use super::*;
use crate::contract::NodeFacts;

fn scan_in_chunks(body: &[u8], size: usize) -> Result<(Vec<NodeFacts>, Option<ListMeta>)> {
    let mut scanner = ListScanner::new();
    let mut nodes = Vec::new();
    let mut meta = None;
    let mut emit = |piece: Piece<'_>| -> Result<()> {
        match piece {
            Piece::Item(b) => nodes.push(serde_json::from_slice(b)?),
            Piece::Metadata(b) => meta = Some(serde_json::from_slice(b)?),
        }
        Ok(())
    };
    for chunk in body.chunks(size.max(1)) {
        scanner.feed(chunk, &mut emit)?;
    }
    scanner.finish(&mut emit)?;
    Ok((nodes, meta))
}

const LIST: &str = r#" {"kind":"NodeList","apiVersion":"v1",
  "metadata":{"resourceVersion":"42","continue":"eyJ2Ijoi\"x\\y"},
  "items":[
    {"metadata":{"name":"a]}\"{[","uid":"u1","labels":{"items":"[{"}},
     "status":{"images":[{"names":["r/x:1","r/x@sha256:00"]}],"nodeInfo":{"osImage":"Ubuntu \"22\""}}},
    {"metadata":{"uid":"u2"},"spec":{"providerID":"aws:///z/i-1"}},
    {"metadata":{"uid":"u3\u00e9\\"}}
  ],
  "extra":{"items":[{"metadata":{"uid":"not-me"}}]} } "#;

#[test]
fn every_chunking_gives_the_same_items_and_metadata() {
    let (whole, meta) = scan_in_chunks(LIST.as_bytes(), LIST.len()).unwrap();
    let uids: Vec<_> = whole
        .iter()
        .map(|n| n.metadata.uid.clone().unwrap())
        .collect();
    assert_eq!(uids, ["u1", "u2", "u3é\\"]);
    assert_eq!(
        whole[0].status.node_info.os_image.as_deref(),
        Some("Ubuntu \"22\"")
    );
    let meta = meta.unwrap();
    assert_eq!(meta.resource_version.as_deref(), Some("42"));
    assert_eq!(meta.continue_token.as_deref(), Some("eyJ2Ijoi\"x\\y"));
    for size in 1..40 {
        let (nodes, m) = scan_in_chunks(LIST.as_bytes(), size).unwrap();
        assert_eq!(nodes, whole, "chunk size {size}");
        assert_eq!(m.as_ref(), Some(&meta), "chunk size {size}");
    }
}

#[test]
fn metadata_after_items_and_empty_lists() {
    let body = br#"{"items":[{"metadata":{"uid":"a"}}],"metadata":{"continue":"t"}}"#;
    let (nodes, meta) = scan_in_chunks(body, 5).unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(meta.unwrap().continue_token.as_deref(), Some("t"));
    for empty in [
        &br#"{"kind":"NodeList","metadata":{},"items":[]}"#[..],
        br#"{"items":null,"metadata":{}}"#,
        br#"{}"#,
    ] {
        let (nodes, _) = scan_in_chunks(empty, 3).unwrap();
        assert!(nodes.is_empty());
    }
}

#[test]
fn truncated_and_malformed_bodies_are_errors() {
    for cut in [1, 10, LIST.len() / 2, LIST.len() - 3] {
        assert!(
            scan_in_chunks(&LIST.as_bytes()[..cut], 7).is_err(),
            "cut at {cut}"
        );
    }
    for bad in [&b"[]"[..], b"\"x\"", b"}", b"{}{}", b"x", b""] {
        assert!(
            scan_in_chunks(bad, 1).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn only_the_four_fields_are_copied_and_only_at_their_place() {
    let body =
        br#"{"items":[{"metadata":{"name":"secret-name","ownerReferences":[{"uid":"WRONG1"}],
        "annotations":{"uid":"WRONG2","metadata":"x"},"uid":"right-uid"},
        "spec":{"providerID":"aws:///z/i-1","taints":[{"key":"providerID"}]},
        "status":{"images":[{"names":["nodeInfo"],"nodeInfo":{"osImage":"WRONG3"}}],
          "capacity":{"cpu":"4","memory":"16Gi"},
          "nodeInfo":{"osImage":"Real OS","machineID":"m"},
          "addresses":[{"type":"InternalIP","address":"10.1.2.3"}]}}]}"#;
    let mut scanner = ListScanner::new();
    let mut items: Vec<String> = Vec::new();
    let mut emit = |p: Piece<'_>| -> Result<()> {
        if let Piece::Item(b) = p {
            items.push(String::from_utf8(b.to_vec()).unwrap());
        }
        Ok(())
    };
    scanner.feed(body, &mut emit).unwrap();
    scanner.finish(&mut emit).unwrap();
    assert_eq!(items.len(), 1);
    let item = &items[0];
    for gone in ["WRONG", "secret-name", "10.1.2.3", "taints", "images"] {
        assert!(!item.contains(gone), "{gone} copied: {item}");
    }
    let facts: NodeFacts = serde_json::from_str(item).unwrap();
    assert_eq!(facts.metadata.uid.as_deref(), Some("right-uid"));
    assert_eq!(facts.spec.provider_id.as_deref(), Some("aws:///z/i-1"));
    assert_eq!(facts.status.node_info.os_image.as_deref(), Some("Real OS"));
    assert_eq!(facts.status.capacity.unwrap()["memory"], "16Gi");
}

#[test]
fn huge_fields_elsewhere_cost_nothing_but_huge_wanted_fields_are_refused() {
    let noise = format!(
        r#"{{"items":[{{"status":{{"images":"{}"}},"metadata":{{"uid":"u"}}}}]}}"#,
        "a".repeat(MAX_ITEM_BYTES + 10)
    );
    let (nodes, _) = scan_in_chunks(noise.as_bytes(), 1 << 16).unwrap();
    assert_eq!(nodes[0].metadata.uid.as_deref(), Some("u"));
    let big = format!(
        r#"{{"items":[{{"status":{{"capacity":{{"x":"{}"}}}}}}]}}"#,
        "a".repeat(MAX_ITEM_BYTES + 10)
    );
    let err = scan_in_chunks(big.as_bytes(), 1 << 16).unwrap_err();
    assert!(err.to_string().contains("larger than"));
}

#[test]
fn null_and_odd_values_are_kept_as_they_are() {
    let body = br#"{"items":[{"metadata":{"uid":null},"spec":{"providerID":"gce://p/z/n" },"status":{"capacity":null}}, {}]}"#;
    let (nodes, _) = scan_in_chunks(body, 3).unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0].metadata.uid, None);
    assert_eq!(nodes[0].spec.provider_id.as_deref(), Some("gce://p/z/n"));
    assert_eq!(nodes[1], NodeFacts::default());
}

/// A metadata-only list of pods, as the API server sends it: only each object's namespace and
/// creation time are copied out, never its name, labels, annotations, owners or managedFields,
/// whatever their keys are called.
#[test]
fn object_lists_copy_only_namespace_and_creation_time() {
    let body = br#"{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1",
      "metadata":{"resourceVersion":"9","continue":"next"},
      "items":[
        {"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{
          "name":"acme-ledger-api-7d9f-x2x4k","generateName":"acme-ledger-api-7d9f-",
          "namespace":"acme-payments-prod","uid":"4f1c2a9e-0000-4000-8000-000000000001",
          "creationTimestamp":"2025-06-01T10:00:00Z",
          "labels":{"namespace":"acme-label","creationTimestamp":"acme-label-time"},
          "annotations":{"acme-corp.example/owner":"sre-payments@acme-corp.example"},
          "ownerReferences":[{"kind":"ReplicaSet","name":"acme-ledger-api-7d9f","namespace":"acme-owner"}],
          "managedFields":[{"manager":"acme-deployer","fieldsV1":{"f:metadata":{"f:namespace":{}}}}]}},
        {"metadata":{"name":"acme-bare","creationTimestamp":"2024-01-01T00:00:00Z"}},
        {"spec":{"namespace":"acme-spec"},"metadata":{"namespace":"kube-system"}}
      ]}"#;
    let mut scanner = ListScanner::with_fields(OBJECT_FIELDS);
    let mut items: Vec<String> = Vec::new();
    let mut meta = None;
    let mut emit = |p: Piece<'_>| -> Result<()> {
        match p {
            Piece::Item(b) => items.push(String::from_utf8(b.to_vec()).unwrap()),
            Piece::Metadata(b) => meta = Some(serde_json::from_slice::<ListMeta>(b)?),
        }
        Ok(())
    };
    for chunk in body.chunks(7) {
        scanner.feed(chunk, &mut emit).unwrap();
    }
    scanner.finish(&mut emit).unwrap();
    assert_eq!(
        items,
        [
            r#"{"metadata":{"namespace":"acme-payments-prod","creationTimestamp":"2025-06-01T10:00:00Z"}}"#,
            r#"{"metadata":{"creationTimestamp":"2024-01-01T00:00:00Z"}}"#,
            r#"{"metadata":{"namespace":"kube-system"}}"#,
        ]
    );
    assert_eq!(meta.unwrap().continue_token.as_deref(), Some("next"));
    // The node fields are not object fields: a node list read as objects gives nothing of them.
    let mut scanner = ListScanner::with_fields(OBJECT_FIELDS);
    let mut count = 0;
    let node = br#"{"items":[{"metadata":{"uid":"u"},"status":{"nodeInfo":{}}}]}"#;
    scanner
        .feed(node, &mut |p| {
            if let Piece::Item(b) = p {
                assert_eq!(b, b"{}");
                count += 1;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(count, 1);
}

#[test]
fn nesting_anywhere_is_bounded_and_long_keys_cost_nothing() {
    for open in ["[", "{\"a\":"] {
        let body = format!(
            r#"{{"items":[{{"status":{{"images":{}"#,
            open.repeat(MAX_DEPTH * 4)
        );
        let mut scanner = ListScanner::new();
        let err = scanner.feed(body.as_bytes(), &mut |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("nests more than"), "{err}");
        assert!(scanner.stack.len() <= MAX_DEPTH, "{}", scanner.stack.len());
    }
    let key = "k".repeat(4 << 20);
    let body = format!(r#"{{"items":[{{"metadata":{{"{key}":1,"uid":"u"}}}}]}}"#);
    let mut scanner = ListScanner::new();
    let mut uids = Vec::new();
    for chunk in body.as_bytes().chunks(1 << 16) {
        scanner
            .feed(chunk, &mut |piece| {
                if let Piece::Item(b) = piece {
                    let facts: NodeFacts = serde_json::from_slice(b)?;
                    uids.push(facts.metadata.uid.unwrap_or_default());
                }
                Ok(())
            })
            .unwrap();
        assert!(scanner.key.capacity() <= 4 * MAX_KEY_BYTES);
    }
    assert_eq!(uids, ["u"]);
}

#[test]
fn large_list_metadata_is_kept_until_the_list_ends_or_refused_past_its_limit() {
    // The list's metadata first, over 1 MiB, then items whose fields are large too: the items'
    // memory is given back, never the metadata's.
    let token = "t".repeat(3 << 20);
    let field = "c".repeat(200 << 10);
    let items: Vec<String> = (0..3)
        .map(|i| {
            format!(r#"{{"metadata":{{"uid":"u{i}"}},"status":{{"capacity":{{"x":"{field}"}}}}}}"#)
        })
        .collect();
    let body = format!(
        r#"{{"metadata":{{"continue":"{token}","selfLink":"{}"}},"items":[{}]}}"#,
        "s".repeat(1 << 10),
        items.join(",")
    );
    let (nodes, meta) = scan_in_chunks(body.as_bytes(), 1 << 16).unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(meta.unwrap().continue_token.map(|t| t.len()), Some(3 << 20));
    let huge = format!(
        r#"{{"metadata":{{"continue":"{}"}},"items":[]}}"#,
        "t".repeat(MAX_LIST_META_BYTES)
    );
    let err = scan_in_chunks(huge.as_bytes(), 1 << 16).unwrap_err();
    assert!(
        err.to_string()
            .contains("the list's metadata is larger than"),
        "{err}"
    );
}
