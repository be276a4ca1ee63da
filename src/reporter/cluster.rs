//! Every call to the Kubernetes API: the client, `/version` and the cluster-ID ConfigMap (kube's
//! typed calls), and the raw requests of the paged lists ([`super::listing`]). Failures follow the one retry policy of [`crate::retry`]: connection
//! errors, 429 and 5xx are retried inside the run's deadline; 401/403/404 and other answers, and
//! anything that fails before a request is sent, are not.

use super::tls::Peer;
use crate::exit::{Class, fail};
use crate::retry::{Deadline, Patience, next_wait, parse_retry_after, random_u64};
use crate::text::url_part;
use anyhow::{Context, Result};
use http::{Method, Request, StatusCode};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ObjectMeta, PostParams};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

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

/// What an API call was doing, for messages: `list nodes`, `get configmaps "x" in namespace "y"`.
#[derive(Debug, Clone)]
pub(crate) struct Op {
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
pub(super) struct Status {
    pub message: String,
    pub reason: String,
}

/// A failed attempt worth retrying, with the server's `Retry-After`, if any. Failures that
/// retrying cannot help are plain errors.
pub(super) struct Retry {
    error: anyhow::Error,
    after: Option<Duration>,
}

impl Retry {
    pub(super) fn new(error: anyhow::Error) -> Retry {
        Retry { error, after: None }
    }
}

/// One attempt's outcome: `Err` is worth another attempt; an outer error is final.
pub(super) type Attempt<T> = std::result::Result<T, Retry>;

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
    pub(crate) async fn get_configmap(
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
    pub(crate) async fn create_configmap(
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
        let request = request(Method::GET, &path, kube::client::Body::empty())?;
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
        let request = request(Method::POST, &path, kube::client::Body::from(body))?;
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
        let body = http_body_util::Limited::new(response.into_body(), 64 << 10)
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

    /// Sends one raw GET within the deadline.
    pub(super) async fn send(
        &mut self,
        op: &Op,
        path: &str,
        deadline: &Deadline,
    ) -> Result<Attempt<http::Response<kube::client::Body>>> {
        self.send_accepting(op, path, "application/json", deadline)
            .await
    }

    /// Sends one raw GET within the deadline, asking for the media types of `accept`.
    pub(super) async fn send_accepting(
        &mut self,
        op: &Op,
        path: &str,
        accept: &str,
        deadline: &Deadline,
    ) -> Result<Attempt<http::Response<kube::client::Body>>> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(http::header::ACCEPT, accept)
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

/// A raw API request with spartakus's User-Agent, asking for JSON (metadata only where the
/// server can give it); a POST sends JSON.
fn request(
    method: Method,
    path: &str,
    body: kube::client::Body,
) -> Result<Request<kube::client::Body>> {
    let mut builder = Request::builder()
        .uri(path)
        .header(
            http::header::ACCEPT,
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json",
        )
        .header(
            http::header::USER_AGENT,
            concat!("spartakus/", env!("CARGO_PKG_VERSION")),
        );
    if method == Method::POST {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    builder
        .method(method)
        .body(body)
        .context("building an API request")
}

fn configmap_op(verb: &'static str, namespace: &str, name: &str) -> Op {
    Op {
        verb,
        resource: format!("configmaps \"{name}\" in namespace \"{namespace}\""),
    }
}

pub(super) fn api_error(op: &Op, error: anyhow::Error) -> anyhow::Error {
    fail(Class::Kubernetes, anyhow::anyhow!("{op}: {error:#}"))
}

pub(super) fn deadline_error(op: &Op, deadline: &Deadline) -> anyhow::Error {
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

pub(super) fn one_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Classifies an answer that is not a success: 429 and 5xx are transient; anything else is
/// final. `message` and `reason` are the `Status` body's.
pub(super) fn classify_status(
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

pub(super) fn retry_after_of(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
