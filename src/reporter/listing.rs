//! The paged lists, streamed: kube's typed list would hold whole pages of 10-15 KB Nodes (or of
//! 1-3 KB object metadata). Each page is read as it arrives by [`super::nodelist`]'s scanner,
//! which copies out only the fields a report needs. One loop serves the node list and the
//! metadata-only lists of the workload statistics: `limit`/`continue` paging, a restart when a
//! continue token expires (410), the one retry policy, and the run's deadline.

use super::cluster::{Cluster, JSON};
use super::nodelist::{
    ItemField, ListMeta, ListScanner, ListSink, ListStats, NODE_FIELDS, OBJECT_FIELDS, Piece,
};
use super::status::{
    Op, Retry, Status, api_error, classify_status, deadline_error, retry_after_of,
};
use super::workloads::Tally;
use crate::contract::{NodeFacts, ObjectKind, Workloads};
use crate::retry::Deadline;
use anyhow::{Context, Result};
use http::StatusCode;
use http_body_util::BodyExt;
use std::time::Duration;

/// The most objects of one kind the workload statistics count: far beyond any cluster's (the
/// tested limits are 150,000 pods and 10,000 namespaces), so that a list that never ends does
/// not run the reporter to its deadline.
pub(crate) const MAX_OBJECTS: usize = 1_000_000;

/// The longest continue token taken: a real one is a few hundred bytes, and one much longer
/// than this could not be sent back in a request's URL.
pub(crate) const MAX_CONTINUE_BYTES: usize = 16 << 10;

/// Items asked for per page (kubectl's default chunk size).
pub(crate) const PAGE_SIZE: usize = 500;
/// How many times a list may start over after its continue token expired (410).
pub(crate) const MAX_LIST_RESTARTS: usize = 3;
/// What a metadata-only list asks for, as client-go's metadata client does: the objects'
/// metadata alone (`PartialObjectMetadataList`), else the whole objects, which the scanner reads
/// the same way (it copies out the same two fields).
pub(crate) const METADATA_ONLY: &str =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

/// One cluster-wide list: where it is, how to ask for it, and what to copy out of each item.
#[derive(Debug, Clone)]
pub struct ListSpec {
    /// The resource, for messages (`list pods`).
    pub resource: &'static str,
    /// `/api/v1/nodes`, `/apis/apps/v1/deployments`.
    pub path: &'static str,
    /// The `Accept` header; `None` for plain JSON.
    pub accept: Option<&'static str>,
    pub fields: &'static [ItemField],
    /// The most items the list may have; more is the API server's fault.
    pub max_items: usize,
}

/// The node list.
pub const NODES: ListSpec = ListSpec {
    resource: "nodes",
    path: "/api/v1/nodes",
    accept: None,
    fields: NODE_FIELDS,
    max_items: crate::contract::limits::MAX_NODES,
};

/// The metadata-only list of a kind of the workload statistics.
pub fn object_list(kind: ObjectKind) -> ListSpec {
    let path = match kind {
        ObjectKind::Namespaces => "/api/v1/namespaces",
        ObjectKind::Pods => "/api/v1/pods",
        ObjectKind::Services => "/api/v1/services",
        ObjectKind::Deployments => "/apis/apps/v1/deployments",
        ObjectKind::StatefulSets => "/apis/apps/v1/statefulsets",
        ObjectKind::DaemonSets => "/apis/apps/v1/daemonsets",
        ObjectKind::Jobs => "/apis/batch/v1/jobs",
        ObjectKind::CronJobs => "/apis/batch/v1/cronjobs",
    };
    ListSpec {
        resource: kind.name(),
        path,
        accept: Some(METADATA_ONLY),
        fields: OBJECT_FIELDS,
        max_items: MAX_OBJECTS,
    }
}

impl Cluster {
    /// Lists every node, page by page, handing each to `sink` as it is read. If a continue token
    /// expires (410) or a page breaks off midway, the list starts over and `sink.restart()` is
    /// called first, so the sink always ends up with one consistent listing.
    pub(crate) async fn list_nodes(
        &mut self,
        page_size: usize,
        deadline: &Deadline,
        sink: &mut dyn NodeSink,
    ) -> Result<ListStats> {
        self.list(&NODES, page_size, deadline, &mut Nodes(sink))
            .await
    }

    /// Lists `spec`, page by page, handing each item to `sink` as it is read, with the restarts
    /// of [`Cluster::list_nodes`].
    pub(crate) async fn list(
        &mut self,
        spec: &ListSpec,
        page_size: usize,
        deadline: &Deadline,
        sink: &mut dyn ListSink,
    ) -> Result<ListStats> {
        let op = Op {
            verb: "list",
            resource: spec.resource.into(),
        };
        let mut stats = ListStats::default();
        let mut failures = 0u32;
        // An honest list has full pages: twice as many, and a few, is the API server's fault.
        let max_pages = spec.max_items.div_ceil(page_size) * 2 + 16;
        'restart: loop {
            sink.restart()?;
            let mut token: Option<String> = None;
            let (mut items, mut pages) = (0usize, 0usize);
            loop {
                let mut path = format!("{}?limit={page_size}", spec.path);
                if let Some(t) = &token {
                    path.push_str("&continue=");
                    path.push_str(&crate::text::url_part(t));
                }
                let allowed = spec.max_items - items;
                match self
                    .list_page(&op, spec, &path, allowed, deadline, sink)
                    .await?
                {
                    PageResult::Page(meta, listed) => {
                        stats.pages += 1;
                        (items, pages) = (items + listed, pages + 1);
                        failures = 0;
                        token = meta.continue_token.filter(|t| !t.is_empty());
                        match &token {
                            None => return Ok(stats),
                            Some(t) => check_page(&op, t, pages, max_pages)?,
                        }
                    }
                    PageResult::Expired => {
                        stats.restarts += 1;
                        self.expired(&op, stats.restarts, deadline).await?;
                        continue 'restart;
                    }
                    PageResult::Failed(retry) => {
                        self.wait_before_retry(&op, retry, failures, deadline)
                            .await?;
                        failures += 1;
                        if sink.partial() {
                            stats.restarts += 1;
                            continue 'restart;
                        }
                    }
                }
            }
        }
    }

    /// A continue token expired (the `restarts`th time): wait by the policy before starting over,
    /// or give up after [`MAX_LIST_RESTARTS`].
    async fn expired(&mut self, op: &Op, restarts: usize, deadline: &Deadline) -> Result<()> {
        if restarts > MAX_LIST_RESTARTS {
            return Err(api_error(
                op,
                anyhow::anyhow!(
                    "the continue token expired (410 Gone) {restarts} times: the list cannot be read consistently before the API server compacts it"
                ),
            ));
        }
        let expired = Retry::new(anyhow::anyhow!(
            "the continue token expired (410 Gone); listing again from the start"
        ));
        self.wait_before_retry(op, expired, restarts as u32 - 1, deadline)
            .await
    }

    async fn list_page(
        &mut self,
        op: &Op,
        spec: &ListSpec,
        path: &str,
        allowed: usize,
        deadline: &Deadline,
        sink: &mut dyn ListSink,
    ) -> Result<PageResult> {
        let accept = spec.accept.unwrap_or(JSON);
        let sent = self.send_accepting(op, path, accept, deadline).await?;
        let response = match sent {
            Ok(response) => response,
            Err(retry) => return Ok(PageResult::Failed(retry)),
        };
        let status = response.status();
        if status == StatusCode::GONE {
            return Ok(PageResult::Expired);
        }
        if !status.is_success() {
            return refused(op, response).await;
        }
        let mut body = response.into_body();
        let mut scanner = ListScanner::with_fields(spec.fields);
        let mut meta = ListMeta::default();
        let mut listed = 0usize;
        let mut emit = |piece: Piece<'_>| -> Result<()> {
            match piece {
                Piece::Item(_) if listed == allowed => Err(anyhow::anyhow!(
                    "the API server listed more than {} {}, {}",
                    spec.max_items,
                    spec.resource,
                    if spec.fields == NODE_FIELDS {
                        "the most a report holds"
                    } else {
                        "the most the workload statistics count"
                    }
                )),
                Piece::Item(bytes) => {
                    listed += 1;
                    sink.item(bytes)
                }
                Piece::Metadata(bytes) => {
                    meta = serde_json::from_slice(bytes)
                        .context("the list's metadata does not have the expected shape")?;
                    Ok(())
                }
            }
        };
        loop {
            let frame = match tokio::time::timeout(deadline.remaining(), body.frame()).await {
                Err(_) => return Err(deadline_error(op, deadline)),
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Ok(PageResult::Failed(Retry::new(anyhow::anyhow!(
                        "the response broke off: {e}"
                    ))));
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            scanner
                .feed(&data, &mut emit)
                .map_err(|e| api_error(op, e))?;
        }
        if !scanner.is_complete() {
            return Ok(PageResult::Failed(Retry::new(anyhow::anyhow!(
                "the list ended early (truncated response)"
            ))));
        }
        scanner.finish(&mut emit).map_err(|e| api_error(op, e))?;
        Ok(PageResult::Page(meta, listed))
    }

    /// The workload statistics: each kind of [`ObjectKind::ALL`] listed metadata-only and
    /// counted ([`Tally`]), within half of the time left (the rest stays for the upload). Never
    /// fails: a kind that cannot be listed (403, not served, errors, no time left) is left out
    /// and named in the log, and the report goes out without it. `None` if no kind was listed.
    pub(crate) async fn workload_stats(&mut self, deadline: &Deadline) -> Option<Workloads> {
        // Whole seconds, for the messages.
        let budget = Deadline::after(Duration::from_secs(deadline.remaining().as_secs() / 2));
        let out_of_time = format!(
            "the {}s given to them (half of the time left) ran out",
            budget.total().as_secs()
        );
        let mut tally = Tally::new(crate::time::now_secs());
        let mut stats = ListStats::default();
        let mut left_out = Vec::new();
        for kind in ObjectKind::ALL {
            let listed = match budget.passed() {
                true => Err(anyhow::anyhow!("{out_of_time}")),
                false => {
                    let mut sink = tally.sink(kind);
                    self.list(&object_list(kind), PAGE_SIZE, &budget, &mut sink)
                        .await
                }
            };
            match listed {
                Ok(s) => {
                    tally.complete(kind);
                    stats.pages += s.pages;
                    stats.restarts += s.restarts;
                }
                Err(e) => {
                    tally.abandon(kind);
                    left_out.push(kind.name());
                    let why = match budget.passed() {
                        true => out_of_time.clone(),
                        false => format!("{e:#}"),
                    };
                    eprintln!(
                        "spartakus: workload statistics: {} left out: {why}",
                        kind.name()
                    );
                }
            }
        }
        if tally.overflowed() {
            eprintln!(
                "spartakus: workload statistics: more than {} namespaces; the per-namespace histograms are left out",
                super::workloads::MAX_NAMESPACES
            );
        }
        let workloads = tally.finish();
        eprintln!(
            "{}",
            super::workloads::summary(workloads.as_ref(), &stats, &left_out)
        );
        workloads
    }
}

/// Where listed nodes go.
pub(crate) trait NodeSink {
    /// Forget every node received so far: the listing starts over.
    fn restart(&mut self) -> Result<()>;
    /// Whether nodes of an unfinished page were received (a retry must then start over).
    fn partial(&self) -> bool {
        true
    }
    /// One node.
    fn node(&mut self, facts: NodeFacts) -> Result<()>;
}

/// A [`NodeSink`] fed from the node list: each item decoded into [`NodeFacts`].
struct Nodes<'a>(&'a mut dyn NodeSink);

impl ListSink for Nodes<'_> {
    fn restart(&mut self) -> Result<()> {
        self.0.restart()
    }

    fn partial(&self) -> bool {
        self.0.partial()
    }

    fn item(&mut self, bytes: &[u8]) -> Result<()> {
        // serde's message may quote a value (a machine ID, say): keep only where.
        let facts: NodeFacts = serde_json::from_slice(bytes).map_err(|e| {
            anyhow::anyhow!(
                "a Node in the list does not have the expected shape (a field of status.nodeInfo, status.capacity, metadata.uid or spec.providerID has the wrong type, near column {})",
                e.column()
            )
        })?;
        self.0.node(facts)
    }
}

enum PageResult {
    /// A page read whole: the list's metadata, and how many items it had.
    Page(ListMeta, usize),
    /// The continue token expired (410).
    Expired,
    /// A transient failure.
    Failed(Retry),
}

/// A page that continues the list: its token must be one a request can carry back, and the
/// list must end within `max_pages`.
fn check_page(op: &Op, token: &str, pages: usize, max_pages: usize) -> Result<()> {
    if token.len() > MAX_CONTINUE_BYTES {
        return Err(api_error(
            op,
            anyhow::anyhow!(
                "the API server's continue token is {} KiB long, more than a request can carry back (a real one is a few hundred bytes)",
                token.len() >> 10
            ),
        ));
    }
    if pages >= max_pages {
        return Err(api_error(
            op,
            anyhow::anyhow!("the API server sent {pages} pages without ending the list"),
        ));
    }
    Ok(())
}

/// Reads at most 64 KiB of an error body.
async fn collect_small(mut body: kube::client::Body) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < 64 << 10 {
        match tokio::time::timeout(Duration::from_secs(5), body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data);
                }
            }
            _ => break,
        }
    }
    out
}

/// A page the API server answered with an error: its `Status` read (a bounded body), then
/// retried or final as [`classify_status`] says.
async fn refused(op: &Op, response: http::Response<kube::client::Body>) -> Result<PageResult> {
    let status = response.status();
    let retry_after = retry_after_of(response.headers());
    let body = collect_small(response.into_body()).await;
    let parsed: Status = serde_json::from_slice(&body).unwrap_or_default();
    let message = if parsed.message.is_empty() {
        String::from_utf8_lossy(&body).into_owned()
    } else {
        parsed.message
    };
    classify_status(op, status, &message, &parsed.reason, retry_after).map(PageResult::Failed)
}
