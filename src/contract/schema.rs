//! The report as a JSON Schema (draft 2020-12), made from the contract's own types and limits,
//! and published as `docs/report.schema.json` (`tests/schema.rs` keeps the file equal to
//! [`report_schema`], and checks both ways that the schema and the contract agree: every report
//! the reporter writes is valid, and every valid report is one a collector keeps as it is).
//!
//! The schema describes a report within every limit: one that no collector refuses or cuts. A
//! collector also reads longer values and control characters, which it cuts by the clamp rules
//! of [`super::limits`] (so do the reporter's writers, before writing). Unknown fields are
//! allowed (`additionalProperties`), as the reader skips them. Four rules of the contract cannot
//! be said in JSON Schema and are in its description: distinct node IDs, the size of the whole
//! report, the length of any one JSON string as sent, and no key twice in an object.
//!
//! Extending it: each top-level part of the report is one entry of [`PARTS`] with the function
//! that describes it (a new optional part, such as a list of workloads, is one added function
//! and one added entry); shared shapes go in `$defs` through [`defs`].

use super::ObjectKind;
use super::limits::{
    MAX_AGE_DAYS, MAX_BODY_BYTES, MAX_CAPACITY, MAX_CLUSTER_ID_CHARS, MAX_EXTENSION_NAME_CHARS,
    MAX_EXTENSIONS, MAX_NODES, MAX_STRING_CHARS, MAX_TOKEN_BYTES, MAX_WORKLOAD_COUNT, NODE_ID_HEX,
    WORKLOAD_BUCKETS,
};
use serde_json::{Map, Value, json};

/// Where the schema is published, from the repository's root.
pub const PATH: &str = "docs/report.schema.json";

/// A JSON Schema pattern matching text without control characters (Unicode category Cc, which
/// the clamp rules replace).
pub(crate) const NO_CONTROLS: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";

/// One top-level field of the report: its name, its schema, whether a report must have it.
pub(crate) struct Part {
    pub name: &'static str,
    pub schema: fn() -> Value,
    pub required: bool,
}

/// The report's top-level fields.
pub(crate) const PARTS: &[Part] = &[
    Part {
        name: "version",
        schema: version,
        required: true,
    },
    Part {
        name: "timestamp",
        schema: timestamp,
        required: false,
    },
    Part {
        name: "clusterID",
        schema: cluster_id,
        required: true,
    },
    Part {
        name: "masterVersion",
        schema: master_version,
        required: false,
    },
    Part {
        name: "nodes",
        schema: nodes,
        required: false,
    },
    Part {
        name: "extensions",
        schema: extensions,
        required: false,
    },
    Part {
        name: "workloads",
        schema: workloads,
        required: false,
    },
];

/// The whole schema.
pub fn report_schema() -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for part in PARTS {
        properties.insert(part.name.to_string(), (part.schema)());
        if part.required {
            required.push(part.name);
        }
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "spartakus report",
        "description": format!(
            "One anonymous usage report, as the spartakus reporter writes it and a spartakus collector keeps it unchanged (src/contract/ in the spartakus repository). Unknown fields are allowed and ignored. Also required, but not expressible here: node IDs are distinct within a report; the report is at most {} MiB once decompressed; no JSON string (key or value, known field or not) is longer than {} KiB as sent; no object has a key twice; counts are written as plain integers (no fraction or exponent). A collector also accepts longer values, control characters and larger counts, and cuts them to these limits.",
            MAX_BODY_BYTES >> 20,
            MAX_TOKEN_BYTES >> 10
        ),
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": true,
        "$defs": defs(),
    })
}

/// The shapes the parts share, by name (referred to as `#/$defs/NAME`).
fn defs() -> Value {
    json!({
        "text": {
            "description": format!("A text value: at most {MAX_STRING_CHARS} characters, no control characters."),
            "type": "string",
            "maxLength": MAX_STRING_CHARS,
            "pattern": NO_CONTROLS,
        },
        "optionalText": {
            "description": format!("An optional text value (null or empty is absent): at most {MAX_STRING_CHARS} characters, no control characters."),
            "type": ["string", "null"],
            "maxLength": MAX_STRING_CHARS,
            "pattern": NO_CONTROLS,
        },
        "node": node(),
        "resource": resource(),
        "extension": extension(),
        "count": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_WORKLOAD_COUNT,
        },
        "days": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_AGE_DAYS,
        },
        "kindStats": kind_stats(),
    })
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/$defs/{name}") })
}

fn described(mut schema: Value, description: &str) -> Value {
    schema["description"] = json!(description);
    schema
}

fn version() -> Value {
    json!({
        "description": "The report format, v1.0.0 as the original spartakus sent it.",
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_STRING_CHARS,
        "pattern": NO_CONTROLS,
    })
}

fn timestamp() -> Value {
    described(
        reference("optionalText"),
        "When the report was made, Unix seconds as a string; collectors keep their own time too.",
    )
}

fn cluster_id() -> Value {
    json!({
        "description": "The cluster's random ID (a UUID made once by spartakus init): printable ASCII without spaces.",
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_CLUSTER_ID_CHARS,
        "pattern": format!("^[!-~]{{1,{MAX_CLUSTER_ID_CHARS}}}$"),
    })
}

fn master_version() -> Value {
    described(reference("optionalText"), "The API server's gitVersion.")
}

fn nodes() -> Value {
    json!({
        "description": "The cluster's nodes, anonymized; their IDs are distinct.",
        "type": ["array", "null"],
        "maxItems": MAX_NODES,
        "items": reference("node"),
    })
}

fn extensions() -> Value {
    json!({
        "description": "What the operator chose to add with --extensions.",
        "type": ["array", "null"],
        "maxItems": MAX_EXTENSIONS,
        "items": reference("extension"),
    })
}

/// A node: its ID, and the optional facts of `Node::texts_mut` and its capacity.
fn node() -> Value {
    let mut properties = Map::new();
    properties.insert(
        "id".to_string(),
        json!({
            "description": "An opaque ID: SHA-256 over a domain tag, the cluster ID and the node's UID, cut to 128 bits.",
            "type": "string",
            "pattern": format!("^[0-9a-f]{{{NODE_ID_HEX}}}$"),
        }),
    );
    // The names `Node::texts_mut` counts clamps by: `nodes.osImage` is `osImage`.
    for (field, _) in super::Node::default().texts_mut() {
        let name = field.label().trim_start_matches("nodes.");
        properties.insert(name.to_string(), reference("optionalText"));
    }
    properties.insert(
        "capacity".to_string(),
        json!({
            "description": "Resource names on the allowlist and their quantities as the API gives them; an entry \"other\" counts the rest.",
            "type": ["array", "null"],
            "maxItems": MAX_CAPACITY,
            "items": reference("resource"),
        }),
    );
    json!({
        "type": "object",
        "required": ["id"],
        "properties": properties,
        "additionalProperties": true,
    })
}

fn resource() -> Value {
    json!({
        "type": "object",
        "required": ["resource", "value"],
        "properties": {
            "resource": reference("text"),
            "value": reference("text"),
        },
        "additionalProperties": true,
    })
}

fn extension() -> Value {
    json!({
        "type": "object",
        "required": ["name", "value"],
        "properties": {
            "name": {
                "type": "string",
                "maxLength": MAX_EXTENSION_NAME_CHARS,
                "pattern": NO_CONTROLS,
            },
            "value": reference("text"),
        },
        "additionalProperties": true,
    })
}

/// The optional workload statistics: one entry per kind of object that was listed.
fn workloads() -> Value {
    let mut properties = Map::new();
    for kind in ObjectKind::ALL {
        properties.insert(kind.name().to_string(), reference("kindStats"));
    }
    json!({
        "description": "Workload statistics (report --workload-stats): counts and whole days only, per kind of object listed.",
        "type": ["object", "null"],
        "properties": properties,
        "additionalProperties": true,
    })
}

fn kind_stats() -> Value {
    json!({
        "type": ["object", "null"],
        "required": ["total"],
        "properties": {
            "total": reference("count"),
            "perNamespace": {
                "description": "Namespaces by how many objects of the kind they hold: 0, 1, 2-3, 4-7, ... (bucket i from 1 holds 2^(i-1) to 2^i - 1; the last, all above).",
                "type": ["array", "null"],
                "maxItems": WORKLOAD_BUCKETS,
                "items": reference("count"),
            },
            "age": {
                "type": ["object", "null"],
                "required": ["count", "meanDays", "medianDays", "p90Days"],
                "properties": {
                    "count": reference("count"),
                    "meanDays": reference("days"),
                    "medianDays": reference("days"),
                    "p90Days": reference("days"),
                },
                "additionalProperties": true,
            },
        },
        "additionalProperties": true,
    })
}

/// The schema as it is published: pretty JSON and a final newline.
pub fn published() -> String {
    let mut text = serde_json::to_string_pretty(&report_schema()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Ages, Extension, KindStats, Node, Report, Resource, Workloads};

    /// Every field the types write, filled in.
    fn full() -> Report {
        let text = Some("x".to_string());
        Report {
            version: "v1.0.0".into(),
            timestamp: "1".into(),
            cluster_id: "c".into(),
            master_version: text.clone(),
            nodes: vec![Node {
                id: "0".repeat(32),
                operating_system: text.clone(),
                os_image: text.clone(),
                kernel_version: text.clone(),
                architecture: text.clone(),
                container_runtime_version: text.clone(),
                kubelet_version: text.clone(),
                cloud_provider: text,
                capacity: vec![Resource::default()],
            }],
            extensions: vec![Extension::default()],
            workloads: Some(Workloads {
                pods: Some(KindStats {
                    total: 1,
                    per_namespace: vec![1],
                    age: Some(Ages::default()),
                }),
                ..Workloads::default()
            }),
        }
    }

    fn keys(value: &Value) -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    #[test]
    fn every_field_of_the_types_is_described_and_nothing_else() {
        let report = serde_json::to_value(full()).unwrap();
        let schema = report_schema();
        assert_eq!(keys(&schema["properties"]), keys(&report));
        let defs = &schema["$defs"];
        assert_eq!(keys(&defs["node"]["properties"]), keys(&report["nodes"][0]));
        assert_eq!(
            keys(&defs["resource"]["properties"]),
            keys(&report["nodes"][0]["capacity"][0])
        );
        assert_eq!(
            keys(&defs["extension"]["properties"]),
            keys(&report["extensions"][0])
        );
        let mut kinds = ObjectKind::ALL.map(|k| k.name().to_string()).to_vec();
        kinds.sort();
        assert_eq!(
            keys(&schema["properties"]["workloads"]["properties"]),
            kinds
        );
        let stats = &defs["kindStats"]["properties"];
        assert_eq!(keys(stats), keys(&report["workloads"]["pods"]));
        assert_eq!(
            keys(&stats["age"]["properties"]),
            keys(&report["workloads"]["pods"]["age"])
        );
    }

    #[test]
    fn the_limits_are_the_contracts() {
        let schema = report_schema();
        assert_eq!(schema["properties"]["nodes"]["maxItems"], MAX_NODES);
        assert_eq!(
            schema["properties"]["extensions"]["maxItems"],
            MAX_EXTENSIONS
        );
        assert_eq!(
            schema["$defs"]["node"]["properties"]["capacity"]["maxItems"],
            MAX_CAPACITY
        );
        assert_eq!(schema["$defs"]["text"]["maxLength"], MAX_STRING_CHARS);
        assert_eq!(
            schema["properties"]["clusterID"]["maxLength"],
            MAX_CLUSTER_ID_CHARS
        );
        assert_eq!(
            schema["properties"]["clusterID"]["pattern"],
            "^[!-~]{1,128}$"
        );
        assert_eq!(
            schema["$defs"]["node"]["properties"]["id"]["pattern"],
            "^[0-9a-f]{32}$"
        );
        assert_eq!(schema["required"], json!(["version", "clusterID"]));
        assert_eq!(schema["$defs"]["count"]["maximum"], MAX_WORKLOAD_COUNT);
        assert_eq!(schema["$defs"]["days"]["maximum"], MAX_AGE_DAYS);
        let stats = &schema["$defs"]["kindStats"]["properties"];
        assert_eq!(stats["perNamespace"]["maxItems"], WORKLOAD_BUCKETS);
        assert!(published().ends_with("}\n"));
    }
}
