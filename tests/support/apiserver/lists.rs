//! Lists of generated objects (nodes, namespaces, pods, deployments...), whole or metadata-only
//! (`Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`), paged, and the
//! single objects of them served by name.

use super::State;
use super::paging::{self, Page};
use super::router::Request;
use super::status::{self, Reply};
use crate::support::nodes;
use crate::support::objects::Resource;
use serde_json::json;

/// How a list is to be written, from the request's `Accept` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// The typed list (`PodList`) of whole objects.
    Full,
    /// A `PartialObjectMetadataList` of this `meta.k8s.io` version.
    Metadata(&'static str),
}

/// The first media type of `accept` this server can write, as kube-apiserver negotiates:
/// `as=Table` and protobuf are not offered here, so a client asking for them alone gets 406,
/// and kubectl (Table, then plain JSON) gets plain JSON.
pub fn negotiate(accept: Option<&str>) -> Option<Wanted> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Wanted::Full);
    };
    accept.split(',').find_map(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        if !matches!(media, "application/json" | "application/*" | "*/*") {
            return None;
        }
        let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
        let param = |key: &str| params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        match (param("as"), param("g"), param("v")) {
            (None, _, _) => Some(Wanted::Full),
            (Some("PartialObjectMetadataList"), Some("meta.k8s.io"), Some("v1")) => {
                Some(Wanted::Metadata("meta.k8s.io/v1"))
            }
            (Some("PartialObjectMetadataList"), Some("meta.k8s.io"), Some("v1beta1")) => {
                Some(Wanted::Metadata("meta.k8s.io/v1beta1"))
            }
            _ => None,
        }
    })
}

/// The list's opening, up to `"items":[`, and the response's content type.
fn head(kind: &str, api_version: &str, wanted: Wanted, page: &Page) -> (String, &'static str) {
    let metadata = page.metadata.to_string();
    match wanted {
        Wanted::Full => {
            let head = format!(
                "{{\"kind\":\"{kind}List\",\"apiVersion\":\"{api_version}\",\"metadata\":{metadata},\"items\":["
            );
            (head, "application/json")
        }
        Wanted::Metadata(version) => {
            let head = format!(
                "{{\"kind\":\"PartialObjectMetadataList\",\"apiVersion\":\"{version}\",\"metadata\":{metadata},\"items\":["
            );
            let content_type = if version.ends_with("v1beta1") {
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1beta1"
            } else {
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
            };
            (head, content_type)
        }
    }
}

fn streamed(
    head: (String, &'static str),
    page: &Page,
    per_chunk: usize,
    write: impl FnMut(&mut Vec<u8>, usize) + Send + 'static,
) -> Reply {
    Reply {
        status: 200,
        content_type: head.1,
        headers: Vec::new(),
        body: paging::body(head.0, page.start, page.end, per_chunk, write),
    }
}

/// `GET /api/v1/nodes`: generated nodes, about 200 KB per chunk.
pub fn list_nodes(state: &mut State, req: &Request) -> Reply {
    let Some(wanted) = negotiate(req.accept) else {
        return status::not_acceptable();
    };
    let page = match paging::page(state, "nodes", req.query, state.config.nodes) {
        Ok(page) => page,
        Err(reply) => return reply,
    };
    let head = head("Node", "v1", wanted, &page);
    match wanted {
        Wanted::Full => streamed(head, &page, 16, nodes::write_item),
        Wanted::Metadata(version) => streamed(head, &page, 16, move |out, i| {
            let metadata = nodes::node(i).metadata;
            let item = json!({"kind": "PartialObjectMetadata", "apiVersion": version, "metadata": metadata});
            serde_json::to_writer(out, &item).expect("metadata serializes");
        }),
    }
}

/// `GET /api/v1/nodes/{name}`.
pub fn get_node(state: &mut State, name: &str) -> Reply {
    match (0..state.config.nodes).find(|&i| nodes::node_name(i) == name) {
        Some(index) => Reply::json(200, nodes::node_json(index)),
        None => status::not_found("", "nodes", name),
    }
}

/// The cluster-wide list of `resource`, of objects generated from the layout.
pub fn list_objects(state: &mut State, resource: Resource, req: &Request) -> Reply {
    let Some(wanted) = negotiate(req.accept) else {
        return status::not_acceptable();
    };
    let layout = state.layout.clone();
    let page = match paging::page(state, resource.plural(), req.query, layout.len(resource)) {
        Ok(page) => page,
        Err(reply) => return reply,
    };
    let head = head(resource.kind(), resource.api_version(), wanted, &page);
    match wanted {
        Wanted::Full => streamed(head, &page, 128, move |out, g| {
            layout.write_full_item(out, resource, g);
        }),
        Wanted::Metadata(version) => streamed(head, &page, 128, move |out, g| {
            layout.write_metadata_item(out, resource, g, version);
        }),
    }
}

/// `GET /api/v1/namespaces/{name}`.
pub fn get_namespace(state: &mut State, name: &str) -> Reply {
    match state.layout.namespace_index(name) {
        Some(k) => Reply::json(200, state.layout.object_json(Resource::Namespaces, k)),
        None => status::not_found("", "namespaces", name),
    }
}
