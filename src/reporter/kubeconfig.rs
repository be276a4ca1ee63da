//! Finding the cluster and its credentials as kubectl does: the kubeconfig (or the pod's service
//! account), a `KUBECONFIG` list with missing files, `HTTPS_PROXY` and `NO_PROXY` for the API
//! server, and a token file's trailing newline.

use crate::exit::{Class, fail};
use anyhow::Result;

/// The client configuration, as kubectl would find it. Problems are usage errors, in one line.
pub(crate) async fn load() -> Result<kube::Config> {
    let mut config = infer_config()
        .await
        .map_err(|e| fail(Class::Usage, anyhow::anyhow!("{}", credentials_problem(&e))))?;
    // kube takes HTTPS_PROXY from the environment but checks NO_PROXY against the proxy's
    // address instead of the API server's; decide as kubectl does.
    if config.proxy_url.is_some() && proxy_is_from_environment(config.proxy_url.as_ref()) {
        let host = config.cluster_url.host().unwrap_or("");
        let port = config.cluster_url.port_u16().unwrap_or(443);
        if super::proxy::bypass(host, port, &super::proxy::no_proxy_from_env()) {
            config.proxy_url = None;
        }
    }
    trim_token_file(&mut config);
    check_token(&config)?;
    Ok(config)
}

/// Reads a kubeconfig's `tokenFile` as kubectl does: surrounding whitespace (the newline of
/// `echo "$TOKEN" > file`) is not part of the token. kube sends the file as it is, which fails
/// before any request. A file without such whitespace is left to kube, which re-reads it.
fn trim_token_file(config: &mut kube::Config) {
    let auth = &mut config.auth_info;
    let Some(path) = auth.token_file.clone().filter(|_| auth.token.is_none()) else {
        return;
    };
    let Ok(raw) = std::fs::read_to_string(&path) else {
        return; // kube reports an unreadable file with its path
    };
    let trimmed = raw.trim();
    if trimmed.len() != raw.len() {
        auth.token = Some(secrecy::SecretString::from(trimmed.to_string()));
    }
}

/// A bearer token must fit in an HTTP header (kube would otherwise fail on every request, or
/// panic for an inline token): refuse one that does not, before anything is sent.
fn check_token(config: &kube::Config) -> Result<()> {
    use secrecy::ExposeSecret;
    let Some(token) = &config.auth_info.token else {
        return Ok(());
    };
    if http::HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).is_ok() {
        return Ok(());
    }
    let source = match &config.auth_info.token_file {
        Some(file) => format!("the token file {file}"),
        None => "the kubeconfig's token".to_string(),
    };
    Err(fail(
        Class::Usage,
        anyhow::anyhow!(
            "the credentials of the kubeconfig cannot be used (nothing was sent to the API server): {source} holds characters a bearer token cannot have, such as a line break inside it"
        ),
    ))
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
}
