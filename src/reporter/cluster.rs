//! Every call to the Kubernetes API: the client, `/version`, the cluster-ID ConfigMap (kube's
//! typed calls) and the paged node list (raw, streamed: kube's typed list would hold whole pages
//! of 10-15 KB Nodes). Failures follow the one retry policy of [`crate::retry`]: connection
//! errors, 429 and 5xx are retried inside the run's deadline; 401/403/404 and other answers, and
//! anything that fails before a request is sent, are not.

use super::nodelist::{ListMeta, ListScanner, Piece};
use crate::contract::NodeFacts;
use crate::exit::{Class, fail};
use crate::retry::{Deadline, Patience, next_wait, parse_retry_after, random_u64};
use anyhow::{Context, Result};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

/// Nodes asked for per page (kubectl's default chunk size).
pub const PAGE_SIZE: usize = 500;
/// How many times the node list may start over after its continue token expired (410).
pub const MAX_LIST_RESTARTS: usize = 3;

/// A Kubernetes API connection and the namespace it defaults to.
pub struct Cluster {
    client: kube::Client,
    default_namespace: String,
    /// The API server's host, for deciding what is worth retrying.
    host: String,
    patience: Patience,
    /// Requests sent, retries included (for the log and the benchmark).
    pub requests: usize,
}

/// What an API call was doing, for messages: `list nodes`, `get configmaps "x" in namespace "y"`.
#[derive(Debug, Clone)]
pub struct Op {
    pub verb: &'static str,
    pub resource: String,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)
    }
}

/// The parts of a Kubernetes `Status` error body worth showing.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Status {
    message: String,
    reason: String,
}

/// A failed attempt worth retrying, with the server's `Retry-After`, if any. Failures that
/// retrying cannot help are plain errors.
struct Retry {
    error: anyhow::Error,
    after: Option<Duration>,
}

impl Retry {
    fn new(error: anyhow::Error) -> Retry {
        Retry { error, after: None }
    }
}

/// One attempt's outcome: `Err` is worth another attempt; an outer error is final.
type Attempt<T> = std::result::Result<T, Retry>;

impl Cluster {
    /// Connects the standard way: `KUBECONFIG` or `~/.kube/config`, else in-cluster, reading
    /// credentials as kubectl does. `HTTPS_PROXY`/`NO_PROXY` are honoured as kubectl does.
    pub async fn connect(patience: Patience) -> Result<Cluster> {
        let mut config = infer_config()
            .await
            .map_err(|e| fail(Class::Usage, anyhow::anyhow!("{}", credentials_problem(&e))))?;
        // kube takes HTTPS_PROXY from the environment but checks NO_PROXY against the proxy's
        // address instead of the API server's; decide as kubectl does.
        let host = config.cluster_url.host().unwrap_or("").to_string();
        if config.proxy_url.is_some() && proxy_is_from_environment(config.proxy_url.as_ref()) {
            let port = config.cluster_url.port_u16().unwrap_or(443);
            if super::proxy::bypass(&host, port, &super::proxy::no_proxy_from_env()) {
                config.proxy_url = None;
            }
        }
        trim_token_file(&mut config)?;
        // Retries are ours, bounded by the run's deadline (kube's own policy could wait far longer).
        config.default_retry = false;
        config.read_timeout = Some(Duration::from_secs(60));
        let default_namespace = config.default_namespace.clone();
        let client = kube::Client::try_from(config).map_err(|e| {
            fail(
                Class::Usage,
                anyhow::anyhow!("building the Kubernetes client: {e}"),
            )
        })?;
        Ok(Cluster {
            client,
            default_namespace,
            host,
            patience,
            requests: 0,
        })
    }

    /// The namespace of the in-cluster service account, else the kubeconfig context's.
    pub fn default_namespace(&self) -> &str {
        &self.default_namespace
    }

    /// The API server's `gitVersion`.
    pub async fn git_version(&mut self, deadline: &Deadline) -> Result<String> {
        let op = Op {
            verb: "get",
            resource: "/version".into(),
        };
        let info = self
            .typed(&op, deadline, |client| async move {
                client.apiserver_version().await
            })
            .await?;
        Ok(info.git_version)
    }

    /// The data of ConfigMap `name` in `namespace`, or `None` if it does not exist.
    pub async fn get_configmap(
        &mut self,
        namespace: &str,
        name: &str,
        deadline: &Deadline,
    ) -> Result<Option<BTreeMap<String, String>>> {
        let op = configmap_op("get", namespace, name);
        let found = self
            .typed(&op, deadline, |client| async move {
                Api::<ConfigMap>::namespaced(client, namespace)
                    .get_opt(name)
                    .await
            })
            .await?;
        Ok(found.map(|cm| cm.data.unwrap_or_default()))
    }

    /// Creates ConfigMap `name` in `namespace`. Returns `false` if it already existed (409).
    pub async fn create_configmap(
        &mut self,
        namespace: &str,
        name: &str,
        labels: &BTreeMap<String, String>,
        data: &BTreeMap<String, String>,
        deadline: &Deadline,
    ) -> Result<bool> {
        let op = configmap_op("create", namespace, name);
        let object = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(namespace.to_string()),
                labels: Some(labels.clone()),
                ..ObjectMeta::default()
            },
            data: Some(data.clone()),
            ..ConfigMap::default()
        };
        self.typed(&op, deadline, |client| {
            let object = object.clone();
            async move {
                let api = Api::<ConfigMap>::namespaced(client, namespace);
                match api.create(&PostParams::default(), &object).await {
                    Ok(_) => Ok(true),
                    Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                    Err(e) => Err(e),
                }
            }
        })
        .await
    }

    /// A typed call through kube, retried by the policy.
    async fn typed<T, F, Fut>(&mut self, op: &Op, deadline: &Deadline, call: F) -> Result<T>
    where
        F: Fn(kube::Client) -> Fut,
        Fut: Future<Output = kube::Result<T>>,
    {
        let mut failures = 0u32;
        loop {
            self.requests += 1;
            let answer = tokio::time::timeout(deadline.remaining(), call(self.client.clone()));
            let retry = match answer.await {
                Err(_) => return Err(deadline_error(op, deadline)),
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(kube::Error::Api(status))) => {
                    let code = StatusCode::from_u16(status.code)
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    classify_status(op, code, &status.message, &status.reason, None)?
                }
                Ok(Err(e)) => self.classify_transport(op, e)?,
            };
            self.wait_before_retry(op, retry, failures, deadline)
                .await?;
            failures += 1;
        }
    }

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

    /// Sends one raw GET within the deadline.
    async fn send(
        &mut self,
        op: &Op,
        path: &str,
        deadline: &Deadline,
    ) -> Result<Attempt<http::Response<kube::client::Body>>> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("spartakus/", env!("CARGO_PKG_VERSION")),
            )
            .body(kube::client::Body::empty())
            .context("building an API request")?;
        self.requests += 1;
        match tokio::time::timeout(deadline.remaining(), self.client.send(request)).await {
            Err(_) => Err(deadline_error(op, deadline)),
            Ok(Err(e)) => self.classify_transport(op, e).map(Err),
            Ok(Ok(response)) => Ok(Ok(response)),
        }
    }

    /// A failure without an answer from the API server: retried (rule 1 of the policy) unless
    /// waiting cannot fix it: a certificate problem, credentials that cannot be sent, or, for a
    /// run someone is watching, a refused loopback connection or an unknown name.
    fn classify_transport(&self, op: &Op, error: kube::Error) -> Result<Retry> {
        let text = error_chain(&error);
        if text.contains("certificate") || text.contains("UnknownIssuer") {
            return Err(api_error(
                op,
                anyhow::anyhow!("TLS verification of the API server failed: {text}"),
            ));
        }
        if matches!(error, kube::Error::Auth(_))
            || text.contains("auth error")
            || text.contains("invalid bearer token")
        {
            return Err(fail(
                Class::Usage,
                anyhow::anyhow!(
                    "{op}: the credentials of the kubeconfig cannot be used (nothing was sent to the API server): {text}"
                ),
            ));
        }
        let unreachable = anyhow::anyhow!("cannot reach the API server {}: {text}", self.host);
        if self.patience.gives_up_on(&self.host, &text) {
            return Err(api_error(
                op,
                anyhow::anyhow!(
                    "{unreachable} (is the kubeconfig's context the cluster you mean?)"
                ),
            ));
        }
        Ok(Retry::new(unreachable))
    }

    async fn wait_before_retry(
        &self,
        op: &Op,
        retry: Retry,
        failures: u32,
        deadline: &Deadline,
    ) -> Result<()> {
        let Retry { error, after } = retry;
        let wait = match next_wait(failures, after, deadline.remaining(), random_u64()) {
            Ok(wait) => wait,
            Err(_) => {
                return Err(fail(
                    Class::Kubernetes,
                    anyhow::anyhow!(
                        "{op}: {error:#}; gave up after {} attempts: the {:?} deadline leaves no time to retry",
                        failures + 1,
                        deadline.total()
                    ),
                ));
            }
        };
        if failures == 0 {
            eprintln!(
                "spartakus: {op}: {error:#}; retrying until the run's deadline ({:?} in all, --timeout or SPARTAKUS_TIMEOUT), next in {:.1}s",
                deadline.total(),
                wait.as_secs_f64()
            );
        } else {
            eprintln!(
                "spartakus: {op}: {error:#}; retrying in {:.1}s",
                wait.as_secs_f64()
            );
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

/// Reads a kubeconfig's `tokenFile` as kubectl does: surrounding whitespace (the newline of
/// `echo "$TOKEN" > file`) is not part of the token. kube sends the file as it is, which fails
/// before any request. A file without such whitespace is left to kube, which re-reads it.
fn trim_token_file(config: &mut kube::Config) -> Result<()> {
    let auth = &mut config.auth_info;
    let Some(path) = auth.token_file.clone().filter(|_| auth.token.is_none()) else {
        return Ok(());
    };
    let Ok(raw) = std::fs::read_to_string(&path) else {
        return Ok(()); // kube reports an unreadable file with its path
    };
    let trimmed = raw.trim();
    if trimmed.len() != raw.len() {
        auth.token = Some(secrecy::SecretString::from(trimmed.to_string()));
    }
    Ok(())
}

/// kube's own inference, except that the files of a `KUBECONFIG` list that do not exist are
/// skipped, as kubectl skips them (kube refuses the whole list).
async fn infer_config() -> std::result::Result<kube::Config, String> {
    if let Some(value) = std::env::var_os("KUBECONFIG") {
        let paths: Vec<std::path::PathBuf> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        let existing: Vec<&std::path::PathBuf> = paths.iter().filter(|p| p.exists()).collect();
        if !existing.is_empty() && existing.len() < paths.len() {
            let merged = existing
                .iter()
                .try_fold(kube::config::Kubeconfig::default(), |merged, path| {
                    kube::config::Kubeconfig::read_from(path).and_then(|c| merged.merge(c))
                })
                .map_err(|e| e.to_string())?;
            return kube::Config::from_custom_kubeconfig(merged, &Default::default())
                .await
                .map_err(|e| e.to_string());
        }
    }
    kube::Config::infer().await.map_err(|e| e.to_string())
}

/// What went wrong finding credentials, in one line: which kubeconfig could not be used and why,
/// or that there is none and this is not a pod.
fn credentials_problem(error: &str) -> String {
    let kubeconfig = std::env::var_os("KUBECONFIG")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| std::path::Path::new(&h).join(".kube/config"))
                .filter(|p| p.exists())
        });
    describe_credentials_problem(error, kubeconfig.as_deref())
}

/// [`credentials_problem`] given the kubeconfig in use, if any. Pure.
fn describe_credentials_problem(error: &str, kubeconfig: Option<&std::path::Path>) -> String {
    // kube's message holds both attempts; keep the kubeconfig's, up to its first line break
    // (YAML errors add a multi-line excerpt of the file).
    let mut reason = error
        .split_once("kubeconfig: (")
        .map_or(error, |(_, rest)| rest)
        .lines()
        .next()
        .unwrap_or("")
        .trim();
    // The excerpt was wrapped in "(...)": drop its closing parenthesis if it is left over.
    if reason.matches(')').count() > reason.matches('(').count() {
        reason = reason.strip_suffix(')').unwrap_or(reason);
    }
    match kubeconfig {
        Some(path) => format!("cannot use the kubeconfig {}: {reason}", path.display()),
        None => "no Kubernetes credentials: KUBECONFIG is not set, ~/.kube/config does not exist, and this is not a pod with a service account".to_string(),
    }
}

/// Whether the proxy kube chose is the one from `HTTPS_PROXY` (rather than a kubeconfig's own
/// `proxy-url`, which kubectl always uses).
fn proxy_is_from_environment(proxy: Option<&http::Uri>) -> bool {
    ["HTTPS_PROXY", "https_proxy"].iter().any(|name| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<http::Uri>().ok())
            .is_some_and(|uri| Some(&uri) == proxy)
    })
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

fn configmap_op(verb: &'static str, namespace: &str, name: &str) -> Op {
    Op {
        verb,
        resource: format!("configmaps \"{name}\" in namespace \"{namespace}\""),
    }
}

fn api_error(op: &Op, error: anyhow::Error) -> anyhow::Error {
    fail(Class::Kubernetes, anyhow::anyhow!("{op}: {error:#}"))
}

fn deadline_error(op: &Op, deadline: &Deadline) -> anyhow::Error {
    fail(
        Class::Kubernetes,
        anyhow::anyhow!(
            "{op}: the run's deadline of {:?} passed while waiting for the Kubernetes API",
            deadline.total()
        ),
    )
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}

fn one_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Classifies an answer that is not a success: 429 and 5xx are transient; anything else is
/// final. `message` and `reason` are the `Status` body's.
fn classify_status(
    op: &Op,
    status: StatusCode,
    message: &str,
    reason: &str,
    retry_after: Option<Duration>,
) -> Result<Retry> {
    let canonical = status.canonical_reason().unwrap_or(reason);
    let detail = if status == StatusCode::UNAUTHORIZED {
        "the API server refused the credentials (expired or wrong token or certificate)"
    } else if message.eq_ignore_ascii_case(canonical) || message.eq_ignore_ascii_case(reason) {
        ""
    } else {
        message
    };
    let summary = if detail.is_empty() {
        format!("{canonical} ({})", status.as_u16())
    } else {
        format!(
            "{canonical} ({}): {}",
            status.as_u16(),
            one_line(detail.as_bytes())
        )
    };
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Ok(Retry {
            error: anyhow::anyhow!("{summary}"),
            after: retry_after,
        });
    }
    Err(api_error(op, anyhow::anyhow!("{summary}")))
}

fn retry_after_of(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
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

/// Percent-encodes a path segment or query value (RFC 3986 unreserved characters stay).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_problems_are_one_line() {
        let kube = "failed to infer config: in-cluster: (failed to read an incluster environment variable: environment variable not found), kubeconfig: (failed to parse kubeconfig YAML: error: line 1 column 10: unclosed bracket '['\n --> <input>:1:10\n  |\n1 | garbage: [\n  |          ^ unclosed bracket '[')";
        let path = std::path::Path::new("/home/me/.kube/config");
        let text = describe_credentials_problem(kube, Some(path));
        assert_eq!(
            text,
            "cannot use the kubeconfig /home/me/.kube/config: failed to parse kubeconfig YAML: error: line 1 column 10: unclosed bracket '['"
        );
        let text = describe_credentials_problem(kube, None);
        assert!(
            text.starts_with("no Kubernetes credentials: KUBECONFIG is not set"),
            "{text}"
        );
        let kube = "failed to infer config: in-cluster: (x), kubeconfig: (failed to read kubeconfig from '\"/k\"': No such file or directory (os error 2))";
        let text = describe_credentials_problem(kube, Some(std::path::Path::new("/k")));
        assert!(
            text.ends_with("No such file or directory (os error 2)"),
            "{text}"
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(escape("eyJ2+/="), "eyJ2%2B%2F%3D");
        assert_eq!(escape("kube-system"), "kube-system");
    }

    #[test]
    fn statuses_are_classified() {
        let op = Op {
            verb: "list",
            resource: "nodes".into(),
        };
        let message = "nodes is forbidden: User \"x\" cannot list resource \"nodes\"";
        let Err(err) = classify_status(&op, StatusCode::FORBIDDEN, message, "Forbidden", None)
        else {
            panic!("403 must not be retried");
        };
        assert_eq!(crate::exit::class_of(&err), Class::Kubernetes);
        let text = format!("{err:#}");
        assert!(
            text.starts_with("list nodes: Forbidden (403): nodes is forbidden"),
            "{text}"
        );
        for code in [429u16, 500, 502, 503, 504] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(matches!(
                classify_status(&op, status, "", "", Some(Duration::from_secs(3))),
                Ok(Retry { after: Some(_), .. })
            ));
        }
        let Err(err) = classify_status(
            &op,
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized",
            None,
        ) else {
            panic!("401 must not be retried");
        };
        let text = format!("{err:#}");
        assert_eq!(text.matches("Unauthorized").count(), 1, "{text}");
        assert!(text.contains("credentials"), "{text}");
        for code in [400u16, 404, 422] {
            let status = StatusCode::from_u16(code).unwrap();
            let Err(err) = classify_status(&op, status, "<html>oops</html>", "", None) else {
                panic!("{code} must not be retried");
            };
            assert!(format!("{err:#}").contains("<html>oops</html>"));
        }
    }
}
