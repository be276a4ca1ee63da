//! Kubeconfig files for the stand-in: the CA inline, the bearer token, one context.

use super::ApiServer;
use crate::support::util::base64_encode;
use std::path::Path;

impl ApiServer {
    /// A kubeconfig for this server: the CA inline, the bearer token, one context (with
    /// `namespace` if given), selected as current.
    pub fn kubeconfig(&self, namespace: Option<&str>) -> String {
        self.kubeconfig_trusting(self.ca_pem(), namespace)
    }

    /// [`ApiServer::kubeconfig`] with `ca_pem` (PEM) as `certificate-authority-data`.
    pub fn kubeconfig_trusting(&self, ca_pem: &str, namespace: Option<&str>) -> String {
        let namespace = namespace
            .map(|ns| format!("    namespace: {ns}\n"))
            .unwrap_or_default();
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: stand-in\n  cluster:\n    certificate-authority-data: {ca}\n    server: {url}\nusers:\n- name: stand-in-user\n  user:\n    token: {token}\ncontexts:\n- name: stand-in\n  context:\n    cluster: stand-in\n    user: stand-in-user\n{namespace}current-context: stand-in\npreferences: {{}}\n",
            ca = base64_encode(ca_pem.as_bytes()),
            url = self.url(),
            token = self.token(),
        )
    }

    /// Writes [`ApiServer::kubeconfig`] to `path`, creating its directory. Panics on failure.
    pub fn write_kubeconfig(&self, path: &Path, namespace: Option<&str>) {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        }
        std::fs::write(path, self.kubeconfig(namespace))
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}
