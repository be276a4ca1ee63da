//! Every call to the Kubernetes API: the client, and raw requests with bounded answers for
//! `/version`, the cluster-ID ConfigMap and the paged lists ([`super::listing`]). Failures
//! follow the one retry policy of [`crate::retry`]: connection errors, 429 and 5xx are retried
//! inside the run's deadline; 401/403/404 and other answers, and anything that fails before a
//! request is sent, are not.

use super::status::{
    Attempt, Op, Retry, Status, api_error, classify_status, deadline_error, error_chain,
    retry_after_of,
};
use super::tls::Peer;
use crate::exit::{Class, fail};
use crate::retry::{Deadline, Patience, next_wait, random_u64};
use crate::text::url_part;
use anyhow::{Context, Result};
use http::{Method, Request, StatusCode};
use k8s_openapi::api::events::v1::Event;
use kube::api::ObjectMeta;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The User-Agent of every request to the API server.
pub(crate) const USER_AGENT: &str = concat!("spartakus/", env!("CARGO_PKG_VERSION"));

/// A Kubernetes API connection and the namespace it defaults to.
pub(crate) struct Cluster {
    client: kube::Client,
    default_namespace: String,
    /// The API server's host, for deciding what is worth retrying.
    host: String,
    /// The API server's URL, for messages.
    server: String,
    in_cluster: bool,
    patience: Patience,
    /// Requests sent, retries included (for the log and the benchmark).
    pub requests: usize,
}

impl Cluster {
    /// Connects the standard way: `KUBECONFIG` or `~/.kube/config`, else in-cluster, reading
    /// credentials as kubectl does. `HTTPS_PROXY`/`NO_PROXY` are honoured as kubectl does.
    pub(crate) async fn connect(patience: Patience) -> Result<Cluster> {
        let mut config = super::kubeconfig::load().await?;
        let host = config.cluster_url.host().unwrap_or("").to_string();
        let server = super::upload::redact(&config.cluster_url.to_string());
        // Retries are ours, bounded by the run's deadline (kube's own policy could wait far longer).
        config.default_retry = false;
        config.read_timeout = Some(Duration::from_secs(60));
        // Every request says what sent it, for audit logs and API Priority and Fairness.
        config.headers.push((
            http::header::USER_AGENT,
            http::HeaderValue::from_static(USER_AGENT),
        ));
        let default_namespace = config.default_namespace.clone();
        // kube names the CA file only for the pod's own service account (in-cluster).
        let in_cluster = config.root_cert_file.is_some();
        let client = super::transport::client(config)?;
        Ok(Cluster {
            client,
            default_namespace,
            host,
            server,
            in_cluster,
            patience,
            requests: 0,
        })
    }

    /// Whether the connection uses the service account of the pod this runs in.
    pub(crate) fn in_cluster(&self) -> bool {
        self.in_cluster
    }

    /// The namespace of the in-cluster service account, else the kubeconfig context's.
    pub(crate) fn default_namespace(&self) -> &str {
        &self.default_namespace
    }

    /// The API server's `gitVersion`.
    pub(crate) async fn git_version(&mut self, deadline: &Deadline) -> Result<String> {
        #[derive(Deserialize)]
        struct Info {
            #[serde(rename = "gitVersion")]
            git_version: String,
        }
        let op = Op {
            verb: "get",
            resource: "/version".into(),
        };
        let request = || request(Method::GET, "/version", None);
        let (_, body) = self
            .call(&op, request, MAX_SMALL_ANSWER, &[], deadline)
            .await?;
        let info: Info = serde_json::from_slice(&body)
            .map_err(|e| api_error(&op, anyhow::anyhow!("the answer is not a version: {e}")))?;
        Ok(info.git_version)
    }

    /// The data of ConfigMap `name` in `namespace`, or `None` if it does not exist.
    pub(crate) async fn get_configmap(
        &mut self,
        namespace: &str,
        name: &str,
        deadline: &Deadline,
    ) -> Result<Option<BTreeMap<String, String>>> {
        #[derive(Deserialize)]
        struct Data {
            data: Option<BTreeMap<String, String>>,
        }
        let op = configmap_op("get", namespace, name);
        let path = configmap_path(namespace, Some(name));
        let request = || request(Method::GET, &path, None);
        let answer = self.call(
            &op,
            request,
            MAX_CONFIGMAP,
            &[StatusCode::NOT_FOUND],
            deadline,
        );
        let (status, body) = answer.await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let found: Data = serde_json::from_slice(&body)
            .map_err(|e| api_error(&op, anyhow::anyhow!("the answer is not a ConfigMap: {e}")))?;
        Ok(Some(found.data.unwrap_or_default()))
    }

    /// Creates ConfigMap `name` in `namespace`. Returns `false` if it already existed (409).
    pub(crate) async fn create_configmap(
        &mut self,
        namespace: &str,
        name: &str,
        labels: &BTreeMap<String, String>,
        data: &BTreeMap<String, String>,
        deadline: &Deadline,
    ) -> Result<bool> {
        let op = configmap_op("create", namespace, name);
        let object = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": { "name": name, "namespace": namespace, "labels": labels },
            "data": data,
        });
        let body = serde_json::to_vec(&object).context("writing the ConfigMap")?;
        let path = configmap_path(namespace, None);
        let request = || request(Method::POST, &path, Some(body.clone()));
        let answer = self.call(
            &op,
            request,
            MAX_CONFIGMAP,
            &[StatusCode::CONFLICT],
            deadline,
        );
        let (status, _) = answer.await?;
        Ok(status != StatusCode::CONFLICT)
    }

    /// The UID of CronJob `name` in `namespace`, read as metadata only. One attempt, never
    /// retried: it serves the run's receipt, which has a short budget of its own.
    pub(crate) async fn cronjob_uid(&mut self, namespace: &str, name: &str) -> Result<String> {
        let op = Op {
            verb: "get",
            resource: format!("cronjobs \"{name}\" in namespace \"{namespace}\""),
        };
        let path = format!(
            "/apis/batch/v1/namespaces/{}/cronjobs/{}",
            url_part(namespace),
            url_part(name)
        );
        let request = accepting(Method::GET, &path, None, METADATA)?;
        let body = self.once(&op, request).await?;
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Meta {
            metadata: ObjectMeta,
        }
        let meta: Meta = serde_json::from_slice(&body).unwrap_or_default();
        meta.metadata
            .uid
            .filter(|uid| !uid.is_empty())
            .ok_or_else(|| api_error(&op, anyhow::anyhow!("the answer holds no metadata.uid")))
    }

    /// Creates `event` (events.k8s.io/v1) in `namespace`. One attempt, never retried (see
    /// [`Cluster::cronjob_uid`]).
    pub(crate) async fn create_event(&mut self, namespace: &str, event: &Event) -> Result<()> {
        let op = Op {
            verb: "create",
            resource: format!("events.events.k8s.io in namespace \"{namespace}\""),
        };
        let path = format!(
            "/apis/events.k8s.io/v1/namespaces/{}/events",
            url_part(namespace)
        );
        let body = serde_json::to_vec(event).context("writing the Event")?;
        let request = request(Method::POST, &path, Some(body))?;
        self.once(&op, request).await.map(drop)
    }

    /// One request, one attempt: the body of a 2xx answer (at most 64 KiB), else the error.
    async fn once(&mut self, op: &Op, request: Request<kube::client::Body>) -> Result<Vec<u8>> {
        use http_body_util::BodyExt;
        self.requests += 1;
        let response = match self.client.send(request).await {
            Ok(response) => response,
            Err(e) => {
                return Err(self
                    .classify_transport(op, e)
                    .map_or_else(|e| e, |r| api_error(op, r.error)));
            }
        };
        let status = response.status();
        let body = http_body_util::Limited::new(response.into_body(), MAX_SMALL_ANSWER)
            .collect()
            .await
            .map(|b| b.to_bytes().to_vec())
            .unwrap_or_default();
        if status.is_success() {
            return Ok(body);
        }
        let parsed: Status = serde_json::from_slice(&body).unwrap_or_default();
        match classify_status(op, status, &parsed.message, &parsed.reason, None) {
            Ok(transient) => Err(api_error(op, transient.error)),
            Err(e) => Err(e),
        }
    }

    /// One request, retried by the policy: the status and body of a success (or of an answer
    /// in `expected`, such as a 404 the caller takes as an answer), the body read within
    /// `limit` bytes. A larger answer is refused: no API server sends one.
    async fn call(
        &mut self,
        op: &Op,
        request: impl Fn() -> Result<Request<kube::client::Body>>,
        limit: usize,
        expected: &[StatusCode],
        deadline: &Deadline,
    ) -> Result<(StatusCode, Vec<u8>)> {
        let mut failures = 0u32;
        loop {
            self.requests += 1;
            let sent = tokio::time::timeout(deadline.remaining(), self.client.send(request()?));
            let retry = match sent.await {
                Err(_) => return Err(deadline_error(op, deadline)),
                Ok(Err(e)) => self.classify_transport(op, e)?,
                Ok(Ok(response)) => {
                    let status = response.status();
                    let wanted = status.is_success() || expected.contains(&status);
                    let retry_after = retry_after_of(response.headers());
                    let limit = if wanted { limit } else { MAX_SMALL_ANSWER };
                    match read_within(response.into_body(), limit, deadline).await {
                        Err(Read::TooLarge) => {
                            let large = format!(
                                "the answer is larger than {} KiB, more than an API server sends",
                                limit >> 10
                            );
                            return Err(api_error(op, anyhow::anyhow!("{large}")));
                        }
                        Err(Read::Late) => return Err(deadline_error(op, deadline)),
                        Err(Read::Broken(e)) => {
                            Retry::new(anyhow::anyhow!("the answer broke off: {e}"))
                        }
                        Ok(body) if wanted => return Ok((status, body)),
                        Ok(body) => {
                            let parsed: Status = serde_json::from_slice(&body).unwrap_or_default();
                            let message = match parsed.message.is_empty() {
                                true => String::from_utf8_lossy(&body).into_owned(),
                                false => parsed.message,
                            };
                            classify_status(op, status, &message, &parsed.reason, retry_after)?
                        }
                    }
                }
            };
            self.wait_before_retry(op, retry, failures, deadline)
                .await?;
            failures += 1;
        }
    }

    /// Sends one raw GET within the deadline, asking for the media types of `accept`.
    pub(super) async fn send_accepting(
        &mut self,
        op: &Op,
        path: &str,
        accept: &str,
        deadline: &Deadline,
    ) -> Result<Attempt<http::Response<kube::client::Body>>> {
        let request = accepting(Method::GET, path, None, accept)?;
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
        // Waiting cannot mend a certificate: the kubeconfig (or the server's certificate) must
        // change, so it is a configuration error.
        if let Some(message) = super::tls::explain(Peer::ApiServer, &self.server, &text) {
            return Err(fail(Class::Usage, anyhow::anyhow!("{op}: {message}")));
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

    pub(super) async fn wait_before_retry(
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

/// What a raw request accepts: JSON, or (for [`accepting`]'s callers that need only an object's
/// metadata) its metadata alone where the server can give it.
pub(super) const JSON: &str = "application/json";
const METADATA: &str =
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

/// The largest answer read of `/version`, of an error, or of a CronJob's metadata.
const MAX_SMALL_ANSWER: usize = 64 << 10;
/// The largest ConfigMap answer read: its data may hold 1 MiB.
const MAX_CONFIGMAP: usize = 2 << 20;

/// A raw API request asking for JSON; a `body` is sent as JSON. The User-Agent is set on every
/// request by the client ([`Cluster::connect`]).
fn request(
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<Request<kube::client::Body>> {
    accepting(method, path, body, JSON)
}

fn accepting(
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    accept: &str,
) -> Result<Request<kube::client::Body>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::ACCEPT, accept);
    let body = match body {
        Some(body) => {
            builder = builder.header(http::header::CONTENT_TYPE, JSON);
            kube::client::Body::from(body)
        }
        None => kube::client::Body::empty(),
    };
    builder.body(body).context("building an API request")
}

/// Why an answer's body was not read whole.
enum Read {
    TooLarge,
    Late,
    Broken(String),
}

/// The body of an answer, read as it arrives, within `limit` bytes and the run's deadline.
async fn read_within(
    mut body: kube::client::Body,
    limit: usize,
    deadline: &Deadline,
) -> std::result::Result<Vec<u8>, Read> {
    use http_body_util::BodyExt;
    let mut out = Vec::new();
    loop {
        let frame = match tokio::time::timeout(deadline.remaining(), body.frame()).await {
            Err(_) => return Err(Read::Late),
            Ok(None) => return Ok(out),
            Ok(Some(Err(e))) => return Err(Read::Broken(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(Read::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
}

/// `/api/v1/namespaces/NS/configmaps`, and `/NAME` when named.
fn configmap_path(namespace: &str, name: Option<&str>) -> String {
    let mut path = format!("/api/v1/namespaces/{}/configmaps", url_part(namespace));
    if let Some(name) = name {
        path.push('/');
        path.push_str(&url_part(name));
    }
    path
}

fn configmap_op(verb: &'static str, namespace: &str, name: &str) -> Op {
    Op {
        verb,
        resource: format!("configmaps \"{name}\" in namespace \"{namespace}\""),
    }
}
