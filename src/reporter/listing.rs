//! The paged lists, streamed: kube's typed list would hold whole pages of 10-15 KB Nodes. Each
//! page is read as it arrives by [`super::nodelist`]'s scanner, which copies out only the
//! fields a report needs.

use super::cluster::{
    Cluster, Op, Retry, Status, api_error, classify_status, deadline_error, escape, one_line,
    retry_after_of,
};
use super::nodelist::{ListMeta, ListScanner, Piece};
use crate::contract::NodeFacts;
use crate::retry::Deadline;
use anyhow::{Context, Result};
use http::StatusCode;
use http_body_util::BodyExt;
use std::time::Duration;

/// Nodes asked for per page (kubectl's default chunk size).
pub const PAGE_SIZE: usize = 500;
/// How many times the node list may start over after its continue token expired (410).
pub const MAX_LIST_RESTARTS: usize = 3;

impl Cluster {
    /// Lists every node, page by page, handing each to `sink` as it is read. If a continue token
    /// expires (410) or a page breaks off midway, the list starts over and `sink.restart()` is
    /// called first, so the sink always ends up with one consistent listing.
    pub async fn list_nodes(
        &mut self,
        page_size: usize,
        deadline: &Deadline,
        sink: &mut dyn NodeSink,
    ) -> Result<ListStats> {
        let op = Op {
            verb: "list",
            resource: "nodes".into(),
        };
        let mut stats = ListStats::default();
        let mut failures = 0u32;
        'restart: loop {
            sink.restart()?;
            let mut token: Option<String> = None;
            loop {
                let mut path = format!("/api/v1/nodes?limit={page_size}");
                if let Some(t) = &token {
                    path.push_str("&continue=");
                    path.push_str(&escape(t));
                }
                match self.list_page(&op, &path, deadline, sink).await? {
                    PageResult::Page(meta) => {
                        stats.pages += 1;
                        failures = 0;
                        token = meta.continue_token.filter(|t| !t.is_empty());
                        if token.is_none() {
                            return Ok(stats);
                        }
                    }
                    PageResult::Expired => {
                        stats.restarts += 1;
                        if stats.restarts > MAX_LIST_RESTARTS {
                            return Err(api_error(
                                &op,
                                anyhow::anyhow!(
                                    "the continue token expired (410 Gone) {} times: the list cannot be read consistently before the API server compacts it",
                                    stats.restarts
                                ),
                            ));
                        }
                        let expired = Retry::new(anyhow::anyhow!(
                            "the continue token expired (410 Gone); listing again from the start"
                        ));
                        self.wait_before_retry(&op, expired, stats.restarts as u32 - 1, deadline)
                            .await?;
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

    async fn list_page(
        &mut self,
        op: &Op,
        path: &str,
        deadline: &Deadline,
        sink: &mut dyn NodeSink,
    ) -> Result<PageResult> {
        let response = match self.send(op, path, deadline).await? {
            Ok(response) => response,
            Err(retry) => return Ok(PageResult::Failed(retry)),
        };
        let status = response.status();
        if status == StatusCode::GONE {
            return Ok(PageResult::Expired);
        }
        if !status.is_success() {
            let retry_after = retry_after_of(response.headers());
            let body = collect_small(response.into_body()).await;
            let parsed: Status = serde_json::from_slice(&body).unwrap_or_default();
            let message = if parsed.message.is_empty() {
                one_line(&body[..body.len().min(200)])
            } else {
                parsed.message
            };
            return classify_status(op, status, &message, &parsed.reason, retry_after)
                .map(PageResult::Failed);
        }
        let mut body = response.into_body();
        let mut scanner = ListScanner::new();
        let mut meta = ListMeta::default();
        let mut emit = |piece: Piece<'_>| -> Result<()> {
            match piece {
                Piece::Item(bytes) => {
                    // serde's message may quote a value (a machine ID, say): keep only where.
                    let facts: NodeFacts = serde_json::from_slice(bytes).map_err(|e| {
                        anyhow::anyhow!(
                            "a Node in the list does not have the expected shape (a field of status.nodeInfo, status.capacity, metadata.uid or spec.providerID has the wrong type, near column {})",
                            e.column()
                        )
                    })?;
                    sink.node(facts)
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
                "the node list ended early (truncated response)"
            ))));
        }
        scanner.finish(&mut emit).map_err(|e| api_error(op, e))?;
        Ok(PageResult::Page(meta))
    }
}

/// Where listed nodes go.
pub trait NodeSink {
    /// Forget every node received so far: the listing starts over.
    fn restart(&mut self) -> Result<()>;
    /// Whether nodes of an unfinished page were received (a retry must then start over).
    fn partial(&self) -> bool {
        true
    }
    /// One node.
    fn node(&mut self, facts: NodeFacts) -> Result<()>;
}

/// Counts from a listing.
#[derive(Debug, Default, Clone, Copy)]
pub struct ListStats {
    pub pages: usize,
    pub restarts: usize,
}

enum PageResult {
    Page(ListMeta),
    /// The continue token expired (410).
    Expired,
    /// A transient failure.
    Failed(Retry),
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
