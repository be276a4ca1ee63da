//! From a request to an answer: recording it, checking the bearer token, finding what the path
//! and method ask for ([`Target`]), then permissions, injected faults and the handler.

use super::status::{self, Reply};
use super::{
    Recorded, Shared, State, batch, configmaps, discovery, events, faults, hostile, lists,
};
use crate::support::http::{Body, CloseConnection, read_body};
use crate::support::objects::Resource;
use crate::support::util::random_uuid;
use hyper::body::Incoming;
use hyper::{Method, Response, StatusCode};
use std::sync::Arc;

/// What a request asks for, as the authorizer sees it, and who handles it.
pub struct Target<'a> {
    /// What the request is recorded as, and the key of its faults (see [`Recorded::kind`]).
    pub kind: &'static str,
    pub verb: &'static str,
    pub group: &'static str,
    /// The resource (`pods`); empty for paths that are not resources (`/version`).
    pub resource: &'static str,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
    pub path: &'a str,
    pub action: Action,
}

/// The handler of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Version,
    Discovery,
    Health,
    ListNodes,
    GetNode,
    List(Resource),
    GetNamespace,
    ListConfigMaps,
    CreateConfigMap,
    GetConfigMap,
    CreateEvent,
    /// `core`: through `/api/v1` (core/v1 Events) rather than `events.k8s.io/v1`.
    ListEvents {
        core: bool,
    },
    GetEvent {
        core: bool,
    },
    GetCronJob,
    GetJob,
    MethodNotAllowed,
    NotFound,
}

impl<'a> Target<'a> {
    fn path(path: &'a str, kind: &'static str, action: Action) -> Target<'a> {
        Target {
            kind,
            verb: "get",
            group: "",
            resource: "",
            namespace: None,
            name: None,
            path,
            action,
        }
    }

    fn resource(mut self, group: &'static str, resource: &'static str, verb: &'static str) -> Self {
        (self.group, self.resource, self.verb) = (group, resource, verb);
        self
    }

    fn at(mut self, namespace: Option<&'a str>, name: Option<&'a str>) -> Self {
        (self.namespace, self.name) = (namespace, name);
        self
    }
}

/// What `method` on `path` asks for.
pub fn resolve<'a>(method: &Method, path: &'a str) -> Target<'a> {
    let segments: Vec<&'a str> = path.trim_matches('/').split('/').collect();
    let get = method == Method::GET;
    let post = method == Method::POST;
    let target = match segments.as_slice() {
        ["version"] => Target::path(path, "version", Action::Version),
        ["api"] | ["apis"] | ["api", "v1"] | ["apis", _] | ["apis", _, "v1"] => {
            Target::path(path, "discovery", Action::Discovery)
        }
        ["openapi", ..] => Target::path(path, "openapi", Action::NotFound),
        ["healthz"] | ["livez"] | ["readyz"] => Target::path(path, "health", Action::Health),
        ["api", "v1", rest @ ..] => core(rest, get, post),
        [
            "apis",
            "batch",
            "v1",
            "namespaces",
            ns,
            plural @ ("cronjobs" | "jobs"),
            name,
        ] => {
            let (kind, resource, action) = match *plural {
                "cronjobs" => ("cronjob", "cronjobs", Action::GetCronJob),
                _ => ("job", "jobs", Action::GetJob),
            };
            Target::path(path, kind, action)
                .resource("batch", resource, "get")
                .at(Some(ns), Some(name))
        }
        [
            "apis",
            "events.k8s.io",
            "v1",
            "namespaces",
            ns,
            "events",
            rest @ ..,
        ] => {
            let (verb, action) = match (rest, post) {
                ([], true) => ("create", Action::CreateEvent),
                ([], false) => ("list", Action::ListEvents { core: false }),
                _ => ("get", Action::GetEvent { core: false }),
            };
            Target::path(path, "events", action)
                .resource("events.k8s.io", "events", verb)
                .at(Some(ns), rest.first().copied())
        }
        ["apis", group @ ("apps" | "batch"), "v1", plural] => match Resource::from_plural(plural) {
            Some(r) if r.group() == *group => Target::path(path, r.plural(), Action::List(r))
                .resource(r.group(), r.plural(), "list"),
            _ => Target::path(path, "other", Action::NotFound),
        },
        _ => Target::path(path, "other", Action::NotFound),
    };
    let target = Target { path, ..target };
    let allowed = match target.action {
        Action::CreateConfigMap | Action::CreateEvent => post,
        Action::NotFound => true,
        _ => get,
    };
    if allowed {
        target
    } else {
        Target {
            action: Action::MethodNotAllowed,
            ..target
        }
    }
}

/// The part of [`resolve`] under `/api/v1/`.
fn core<'a>(rest: &[&'a str], get: bool, post: bool) -> Target<'a> {
    let t = |kind, action| Target::path("", kind, action);
    match rest {
        ["nodes"] => t("nodes", Action::ListNodes).resource("", "nodes", "list"),
        ["nodes", name] => t("node", Action::GetNode)
            .resource("", "nodes", "get")
            .at(None, Some(name)),
        ["namespaces"] => {
            t("namespaces", Action::List(Resource::Namespaces)).resource("", "namespaces", "list")
        }
        ["namespaces", name] => t("namespace", Action::GetNamespace)
            .resource("", "namespaces", "get")
            .at(None, Some(name)),
        ["namespaces", ns, "configmaps", rest @ ..] => {
            let (verb, action) = match (rest, post) {
                ([], true) => ("create", Action::CreateConfigMap),
                ([], _) => ("list", Action::ListConfigMaps),
                _ => ("get", Action::GetConfigMap),
            };
            t("configmaps", action)
                .resource("", "configmaps", verb)
                .at(Some(ns), rest.first().copied())
        }
        ["namespaces", ns, "events", rest @ ..] if get => {
            let (verb, action) = match rest {
                [] => ("list", Action::ListEvents { core: true }),
                _ => ("get", Action::GetEvent { core: true }),
            };
            t("events", action)
                .resource("", "events", verb)
                .at(Some(ns), rest.first().copied())
        }
        [plural @ ("pods" | "services")] => {
            let r = Resource::from_plural(plural).expect("a core resource");
            t(r.plural(), Action::List(r)).resource("", r.plural(), "list")
        }
        _ => t("other", Action::NotFound),
    }
}

/// One request as the handlers need it.
pub struct Request<'a> {
    pub query: &'a str,
    pub accept: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub body: &'a [u8],
    pub port: u16,
}

pub async fn handle(
    shared: Arc<Shared>,
    req: hyper::Request<Incoming>,
) -> Result<Response<Body>, CloseConnection> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let header = |name: &str| {
        let value = req.headers().get(name)?;
        value.to_str().ok().map(str::to_string)
    };
    let (accept, user_agent) = (header("accept"), header("user-agent"));
    let authorization = header("authorization");
    let kind = resolve(&method, &path).kind;
    let (slot, delay) = {
        let mut state = shared.lock();
        let full_path = if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query}")
        };
        state.requests.push(Recorded {
            method: method.to_string(),
            path: full_path,
            status: 0,
            accept: accept.clone(),
            user_agent: user_agent.clone(),
            kind,
        });
        let delay = state.config.delays.get(kind).copied();
        (state.requests.len() - 1, delay.or(state.config.delay))
    };
    let body = if method == Method::POST || method == Method::PUT {
        read_body(req.into_body()).await
    } else {
        Vec::new()
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let request = Request {
        query: &query,
        accept: accept.as_deref(),
        user_agent: user_agent.as_deref(),
        body: &body,
        port: shared.port,
    };
    let reply = {
        let mut state = shared.lock();
        let reply = if authorization.as_deref() != Some(&format!("Bearer {}", state.config.token)) {
            status::unauthorized()
        } else {
            dispatch(&mut state, &resolve(&method, &path), &request)
        };
        if let Some(r) = state.requests.get_mut(slot) {
            r.status = reply.status;
        }
        reply
    };
    let mut response = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", reply.content_type)
        .header("cache-control", "no-cache, private")
        .header("audit-id", random_uuid());
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    Ok(response.body(reply.body).expect("response"))
}

fn dispatch(state: &mut State, t: &Target, req: &Request) -> Reply {
    if let Some(reply) = faults::forbid(state, t)
        .or_else(|| faults::fire(state, t))
        .or_else(|| hostile::reply(state, t, req.query))
    {
        return reply;
    }
    let (ns, name) = (t.namespace.unwrap_or(""), t.name.unwrap_or(""));
    match t.action {
        Action::Version => discovery::version(state),
        Action::Discovery => discovery::discovery(t.path, req.port),
        Action::Health => Reply::text(200, "ok"),
        Action::ListNodes => lists::list_nodes(state, req),
        Action::GetNode => lists::get_node(state, name),
        Action::List(resource) => lists::list_objects(state, resource, req),
        Action::GetNamespace => lists::get_namespace(state, name),
        Action::ListConfigMaps => configmaps::list(state, ns),
        Action::CreateConfigMap => configmaps::create(state, ns, req.body),
        Action::GetConfigMap => configmaps::get(state, ns, name),
        Action::CreateEvent => events::create(state, ns, req),
        Action::ListEvents { core } => events::list(state, ns, core),
        Action::GetEvent { core } => events::get(state, ns, name, core),
        Action::GetCronJob => batch::get_cronjob(state, ns, name),
        Action::GetJob => batch::get_job(state, ns, name),
        Action::MethodNotAllowed => status::method_not_allowed(),
        Action::NotFound => status::no_such_path(),
    }
}
