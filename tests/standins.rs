//! Self-tests of the stand-ins in `tests/support`: the API server pages exactly like a real one,
//! its faults fire as configured, kubectl can use it, its nodes are realistic and carry the
//! planted identifying strings, and the collector records and answers as scripted.

mod apiserver;
mod collector;
mod generated_nodes;
mod lists;
mod writes;

use crate::support;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::apiserver::{ApiServer, Config, Fault};
use support::collector::{Collector, CollectorConfig, Reply, refused_url};
use support::need;
use support::nodes;
use support::util::{self, TempDir, gzip};

// ---------------------------------------------------------------------------------------------
// A small HTTPS client for the tests.
// ---------------------------------------------------------------------------------------------

fn agent(ca_pem: Option<&str>) -> ureq::Agent {
    agent_with_timeout(ca_pem, support::HANG_GUARD)
}

fn agent_with_timeout(ca_pem: Option<&str>, timeout: Duration) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(timeout));
    if let Some(pem) = ca_pem {
        let cert = ureq::tls::Certificate::from_pem(pem.as_bytes()).unwrap();
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
            .build();
        config = config.tls_config(tls);
    }
    config.build().new_agent()
}

struct Api<'a> {
    server: &'a ApiServer,
    agent: ureq::Agent,
}

impl<'a> Api<'a> {
    fn new(server: &'a ApiServer) -> Api<'a> {
        Api {
            server,
            agent: agent(Some(server.ca_pem())),
        }
    }

    fn get_with(&self, path: &str, token: Option<&str>) -> (u16, Value, Option<String>) {
        let mut req = self.agent.get(format!("{}{path}", self.server.url()));
        if let Some(token) = token {
            req = req.header("Authorization", &format!("Bearer {token}"));
        }
        let mut resp = req.call().unwrap();
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let text = resp
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_string()
            .unwrap();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text:.300}"));
        (status, value, retry_after)
    }

    /// A GET with this `Accept` header: status, body and `Content-Type`.
    fn get_accept(&self, path: &str, accept: &str) -> (u16, Value, String) {
        let mut resp = (self.agent.get(format!("{}{path}", self.server.url())))
            .header("Authorization", &format!("Bearer {}", self.server.token()))
            .header("Accept", accept)
            .call()
            .unwrap();
        let content_type = resp.headers().get("content-type").unwrap();
        let content_type = content_type.to_str().unwrap().to_string();
        let text = resp
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_string()
            .unwrap();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text:.300}"));
        (resp.status().as_u16(), value, content_type)
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let (status, value, _) = self.get_with(path, Some(self.server.token()));
        (status, value)
    }

    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let mut resp = self
            .agent
            .post(format!("{}{path}", self.server.url()))
            .header("Authorization", &format!("Bearer {}", self.server.token()))
            .header("Content-Type", "application/json")
            .send(serde_json::to_vec(body).unwrap().as_slice())
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap())
    }
}

fn assert_status(value: &Value, code: u16, reason: &str) {
    assert_eq!(value["kind"], "Status", "{value}");
    assert_eq!(value["apiVersion"], "v1", "{value}");
    assert_eq!(value["status"], "Failure", "{value}");
    assert_eq!(value["code"], code, "{value}");
    assert_eq!(value["reason"], reason, "{value}");
    assert!(value["metadata"].is_object(), "{value}");
    assert!(
        value["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{value}"
    );
}

/// Lists all nodes with `limit`, following continue tokens; returns the items and page count.
fn list_all(api: &Api, limit: usize) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut token: Option<String> = None;
    let mut rv: Option<String> = None;
    loop {
        let path = match &token {
            None => format!("/api/v1/nodes?limit={limit}"),
            Some(t) => format!("/api/v1/nodes?limit={limit}&continue={t}"),
        };
        let (status, list) = api.get(&path);
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["kind"], "NodeList");
        assert_eq!(list["apiVersion"], "v1");
        let page_rv = list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            rv.get_or_insert(page_rv.clone()),
            &page_rv,
            "one snapshot per list"
        );
        let page = list["items"].as_array().unwrap();
        assert!(page.len() <= limit);
        items.extend(page.iter().cloned());
        pages += 1;
        match list["metadata"]["continue"].as_str() {
            Some(next) => {
                assert_eq!(page.len(), limit, "only full pages have a continue token");
                assert!(!next.is_empty());
                let remaining = list["metadata"]["remainingItemCount"].as_u64().unwrap();
                assert!(remaining > 0);
                token = Some(next.to_string());
            }
            None => {
                assert!(list["metadata"].get("remainingItemCount").is_none());
                return (items, pages);
            }
        }
    }
}

fn uids(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .map(|n| n["metadata"]["uid"].as_str().unwrap().to_string())
        .collect()
}
