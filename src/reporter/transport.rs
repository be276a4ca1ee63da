//! The HTTP stack to the API server: kube's own layers (base URL, credentials, extra headers) over
//! a connector of ours, so that the server's certificate is checked as kubectl checks it
//! ([`super::tls::KubectlVerifier`]). kube builds the same stack but offers no way to choose the
//! certificate verifier. The connector: TCP, through an `http://` proxy (`CONNECT`) when the
//! configuration has one (see [`super::kubeconfig`]), then TLS, with kube's timeouts.

use super::tls::kubectl_verifier;
use crate::exit::usage;
use anyhow::Result;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::rt::{TokioExecutor, TokioIo};
use kube::client::ConfigExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{BoxError, ServiceBuilder};

/// A kube client for `config`, verifying the server as kubectl does. Configuration problems are
/// [`Class::Usage`] errors.
pub(crate) fn client(config: kube::Config) -> Result<kube::Client> {
    let tls = tls_config(&config).map_err(usage)?;
    let tcp = Tcp::new(config.proxy_url.as_ref()).map_err(usage)?;
    let mut https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    if let Some(name) = &config.tls_server_name {
        let name = rustls::pki_types::ServerName::try_from(name.clone())
            .map_err(|e| usage(format!("the kubeconfig's tls-server-name {name:?}: {e}")))?;
        https = https.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name));
    }
    let mut connector =
        hyper_timeout::TimeoutConnector::new(https.enable_http1().wrap_connector(tcp));
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    let http: hyper_util::client::legacy::Client<_, kube::client::Body> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector);
    let kube_error = |e: kube::Error| usage(format!("building the Kubernetes client: {e}"));
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer().map_err(kube_error)?)
        .layer(config.extra_headers_layer().map_err(kube_error)?)
        .map_err(BoxError::from)
        .service(http);
    Ok(kube::Client::new(service, config.default_namespace))
}

/// kube's TLS settings (client certificate, `insecure-skip-tls-verify`, no CA: the system's
/// verifier), with the kubeconfig's certificate authorities checked as kubectl does
/// ([`super::tls::KubectlVerifier`]).
fn tls_config(config: &kube::Config) -> Result<rustls::ClientConfig, String> {
    let mut tls = config
        .rustls_client_config()
        .map_err(|e| format!("the kubeconfig's TLS settings cannot be used: {e}"))?;
    if let (Some(trusted), false) = (&config.root_cert, config.accept_invalid_certs) {
        let verifier = kubectl_verifier(trusted)?;
        tls.dangerous().set_certificate_verifier(Arc::new(verifier));
    }
    Ok(tls)
}

/// TCP to the server, or to an `http://` proxy that tunnels to it.
#[derive(Clone)]
enum Tcp {
    Direct(HttpConnector),
    Proxied(Tunnel<HttpConnector>),
}

type Stream = TokioIo<tokio::net::TcpStream>;

impl Tcp {
    fn new(proxy: Option<&http::Uri>) -> Result<Tcp, String> {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        let Some(proxy) = proxy else {
            return Ok(Tcp::Direct(tcp));
        };
        if proxy.scheme_str() != Some("http") {
            return Err(format!(
                "the proxy {} for the API server is not an http:// URL: spartakus tunnels to the API server through an HTTP proxy with CONNECT (its TLS goes through the tunnel); give the proxy's http:// address in HTTPS_PROXY or the kubeconfig's proxy-url",
                proxy_shown(proxy)
            ));
        }
        let mut tunnel = Tunnel::new(proxy.clone(), tcp);
        if let Some(auth) = proxy_authorization(proxy) {
            tunnel = tunnel.with_auth(auth);
        }
        Ok(Tcp::Proxied(tunnel))
    }
}

impl tower::Service<http::Uri> for Tcp {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self {
            Tcp::Direct(c) => c.poll_ready(cx).map_err(Into::into),
            Tcp::Proxied(c) => c.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        match self {
            Tcp::Direct(c) => {
                let connecting = c.call(uri);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
            Tcp::Proxied(c) => {
                let connecting = c.call(uri);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
        }
    }
}

/// `Proxy-Authorization: Basic ...` from the proxy URL's `user:password`, percent-decoded.
fn proxy_authorization(proxy: &http::Uri) -> Option<http::HeaderValue> {
    use base64::Engine;
    let (userinfo, _) = proxy.authority()?.as_str().rsplit_once('@')?;
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(userinfo).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(decoded);
    let mut value = http::HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// A proxy URL without its credentials.
fn proxy_shown(proxy: &http::Uri) -> String {
    let host = proxy
        .authority()
        .map_or("", |a| a.as_str().rsplit('@').next().unwrap_or(""));
    format!("{}://{host}", proxy.scheme_str().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_credentials_are_decoded_and_never_shown() {
        let proxy: http::Uri = "http://me:p%40ss@proxy.internal:3128".parse().unwrap();
        let auth = proxy_authorization(&proxy).unwrap();
        // base64("me:p@ss")
        assert_eq!(auth.to_str().unwrap(), "Basic bWU6cEBzcw==");
        assert!(auth.is_sensitive());
        assert_eq!(proxy_shown(&proxy), "http://proxy.internal:3128");
        let plain: http::Uri = "http://proxy.internal:3128".parse().unwrap();
        assert!(proxy_authorization(&plain).is_none());
        let Err(e) = Tcp::new(Some(&"https://me:secret@proxy.internal".parse().unwrap())) else {
            panic!("an https:// proxy is refused");
        };
        assert!(
            e.contains("https://proxy.internal is not an http:// URL")
                || e.contains("proxy.internal"),
            "{e}"
        );
        assert!(!e.contains("secret"), "{e}");
        assert!(matches!(Tcp::new(Some(&plain)), Ok(Tcp::Proxied(_))));
        assert!(matches!(Tcp::new(None), Ok(Tcp::Direct(_))));
    }
}
