//! Whether a host bypasses an environment proxy, as kubectl (Go's `httpproxy`) decides it for
//! the API server. Pure, but for [`no_proxy_from_env`].
//!
//! `NO_PROXY` is a comma-separated list of entries: `*` (everything), an IP address, a CIDR block,
//! or a domain name, which matches that name and its subdomains (a leading `.` matches the
//! subdomains only); any entry may carry a `:port`. As in Go, `localhost` and loopback addresses
//! are never proxied.

use std::net::IpAddr;

/// The environment's `NO_PROXY` (or `no_proxy`), empty when unset: read here for both the API
/// server and the collector.
pub(crate) fn no_proxy_from_env() -> String {
    ["NO_PROXY", "no_proxy"]
        .iter()
        .find_map(|n| std::env::var(n).ok())
        .unwrap_or_default()
}

/// Whether `host` (a name or an IP address, IPv6 with or without brackets) on `port` is reached
/// directly rather than through the proxy, given the value of `NO_PROXY`.
pub(crate) fn bypass(host: &str, port: u16, no_proxy: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let ip: Option<IpAddr> = host.parse().ok();
    if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
        return true;
    }
    no_proxy
        .split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|entry| matches(&entry, &host, ip, port))
}

fn matches(entry: &str, host: &str, ip: Option<IpAddr>, port: u16) -> bool {
    if entry == "*" {
        return true;
    }
    if let Some((net, bits)) = entry.split_once('/') {
        return match (ip, net.parse::<IpAddr>(), bits.parse::<u32>()) {
            (Some(ip), Ok(net), Ok(bits)) => in_cidr(ip, net, bits),
            _ => false,
        };
    }
    let (name, entry_port) = split_port(entry);
    if entry_port.is_some_and(|p| p != port) {
        return false;
    }
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if let (Some(ip), Ok(entry_ip)) = (ip, name.parse::<IpAddr>()) {
        return ip == entry_ip;
    }
    if let Some(domain) = name.strip_prefix("*.").or_else(|| name.strip_prefix('.')) {
        return host.ends_with(&format!(".{domain}"));
    }
    host == name || host.ends_with(&format!(".{name}"))
}

/// `host:port` or `[v6]:port` into its parts; a bare IPv6 address has no port.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[')
        && let Some((addr, after)) = rest.split_once(']')
    {
        return (addr, after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match entry.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => match port.parse() {
            Ok(port) => (name, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u32) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_never_proxied() {
        for host in [
            "localhost",
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "[::1]",
            "LOCALHOST.",
        ] {
            assert!(bypass(host, 443, ""), "{host}");
        }
    }

    #[test]
    fn no_proxy_entries() {
        let list = "10.0.0.0/8, .svc, cluster.local,api.corp.example:6443,192.168.1.7,[fd00::1],*.internal";
        let cases = [
            ("10.96.0.1", 443, true),
            ("11.0.0.1", 443, false),
            ("kubernetes.default.svc", 443, true),
            ("svc", 443, false),
            ("cluster.local", 443, true),
            ("kubernetes.default.svc.cluster.local", 443, true),
            ("notcluster.local", 443, false),
            ("api.corp.example", 6443, true),
            ("api.corp.example", 443, false),
            ("192.168.1.7", 6443, true),
            ("192.168.1.8", 6443, false),
            ("fd00::1", 443, true),
            ("a.b.internal", 443, true),
            ("internal", 443, false),
            ("public.example.com", 443, false),
        ];
        for (host, port, want) in cases {
            assert_eq!(bypass(host, port, list), want, "{host}:{port}");
        }
        assert!(bypass("anything.example.com", 1, "*"));
        assert!(!bypass("anything.example.com", 1, ""));
        assert!(bypass("fd00::abcd", 1, "fd00::/16"));
        assert!(!bypass("fe80::1", 1, "fd00::/16"));
        assert!(!bypass("10.0.0.1", 1, "10.0.0.0/99"));
    }
}
