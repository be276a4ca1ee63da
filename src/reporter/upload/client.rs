//! The HTTP client's setup: the CA roots (the system's plus `--ca-file`) and the proxy.

use crate::exit::{Class, fail};
use anyhow::{Context, Result};
use std::path::Path;

/// The proxy for the endpoint's scheme, as curl chooses it: `HTTPS_PROXY` for https, `HTTP_PROXY`
/// for http, `ALL_PROXY` otherwise; `NO_PROXY` is honoured.
pub(super) fn proxy_for(endpoint: &str) -> Option<ureq::Proxy> {
    let https = endpoint
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    let names: &[&str] = if https {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    let url = names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))?;
    let no_proxy = crate::reporter::proxy::no_proxy_from_env();
    let proxy = ureq::Proxy::new(url.trim()).ok()?;
    let mut builder = ureq::Proxy::builder(proxy.protocol())
        .host(proxy.host())
        .port(proxy.port());
    if let Some(user) = proxy.username() {
        builder = builder.username(user);
    }
    if let Some(password) = proxy.password() {
        builder = builder.password(password);
    }
    for entry in no_proxy.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        builder = builder.no_proxy(entry);
    }
    builder.build().ok()
}

/// The system's CA roots plus those in `ca_file`. Without a CA file and without system roots,
/// the Mozilla roots built into the binary.
pub(super) fn roots(ca_file: Option<&Path>) -> Result<ureq::tls::RootCerts> {
    let mut certs: Vec<ureq::tls::Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .into_iter()
        .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    let Some(path) = ca_file else {
        if certs.is_empty() {
            return Ok(ureq::tls::RootCerts::WebPki);
        }
        return Ok(ureq::tls::RootCerts::new_with_certs(&certs));
    };
    let pem = std::fs::read(path)
        .with_context(|| format!("reading the CA file {}", path.display()))
        .map_err(|e| fail(Class::Usage, e))?;
    let mut added = 0;
    for item in ureq::tls::parse_pem(&pem) {
        let item = item
            .with_context(|| format!("parsing the CA file {}", path.display()))
            .map_err(|e| fail(Class::Usage, e))?;
        if let ureq::tls::PemItem::Certificate(cert) = item {
            certs.push(cert);
            added += 1;
        }
    }
    if added == 0 {
        return Err(fail(
            Class::Usage,
            anyhow::anyhow!("the CA file {} holds no PEM certificate", path.display()),
        ));
    }
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_file_problems_are_usage_errors() {
        let dir = std::env::temp_dir().join(format!("spartakus-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        for path in [empty, dir.join("missing.pem")] {
            let Err(err) = roots(Some(&path)) else {
                panic!("{} must be refused", path.display());
            };
            assert_eq!(crate::exit::class_of(&err), Class::Usage);
            assert!(format!("{err:#}").contains(&path.display().to_string()));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
