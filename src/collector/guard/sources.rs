//! Where reports come from, in memory only: how many **new** cluster IDs one source may bring
//! per hour, so that one client cannot flood the store with made-up clusters. A source is an
//! IPv4 address or an IPv6 /64 (one host gets a whole /64). Addresses are never stored in the
//! store nor written to a log, and live here no longer than their allowance needs.
//!
//! Behind a reverse proxy every report arrives from the proxy; the client's address is taken from
//! `X-Forwarded-For` only when the connection comes from a proxy the operator named
//! (`--trusted-proxy`), never otherwise (anyone can write that header). Pure.

use super::limit::Allowances;
use std::net::IpAddr;
use std::sync::Mutex;

/// Deletion requests per source per hour (a burst of that many, then one every six minutes).
pub(crate) const DELETIONS_PER_SOURCE_PER_HOUR: u32 = 10;

/// Sources tracked at once. When full, expired entries go first, then the ones that would be
/// full again soonest: a full table never refuses anyone, it forgets.
pub(crate) const MAX_SOURCES: usize = 65_536;

/// One source: an IPv4 address, or the /64 of an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    V4(u32),
    V6(u64),
}

impl Source {
    pub(crate) fn of(address: IpAddr) -> Source {
        match address {
            IpAddr::V4(a) => Source::V4(u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => Source::V4(u32::from(v4)),
                None => Source::V6((u128::from(a) >> 64) as u64),
            },
        }
    }
}

/// The allowance of new clusters per source: a generic cell rate (GCRA), a burst of
/// `per_hour`, then one every hour / `per_hour`; at most [`MAX_SOURCES`] sources tracked.
pub(crate) type Sources = Allowances<Source>;

impl Sources {
    /// `per_hour` 0 turns the limit off.
    pub(crate) fn new(per_hour: u32) -> Sources {
        Allowances::with(per_hour, MAX_SOURCES)
    }
}

/// An address range, `10.0.0.0/8` or `fd00::/8` (or one address), as `ipnet` reads and matches
/// it; an IPv4 address seen as IPv6 (`::ffff:10.1.2.3`) matches the IPv4 ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr(ipnet::IpNet);

impl Cidr {
    pub(crate) fn parse(text: &str) -> Result<Cidr, String> {
        let trimmed = text.trim();
        let net = match trimmed.split_once('/') {
            None => trimmed.parse::<IpAddr>().map(ipnet::IpNet::from).ok(),
            Some(_) => trimmed.parse::<ipnet::IpNet>().ok(),
        };
        if let Some(net) = net {
            return Ok(Cidr(net));
        }
        match trimmed.split_once('/').map(|(a, _)| a.parse::<IpAddr>()) {
            Some(Ok(address)) => {
                let max = if address.is_ipv4() { 32 } else { 128 };
                Err(format!("{text:?}: the prefix length must be 0 to {max}"))
            }
            _ => Err(format!(
                "{text:?} is not an IP address or range (e.g. 10.0.0.0/8)"
            )),
        }
    }

    pub(crate) fn contains(&self, address: IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        self.0.contains(&address)
    }
}

/// The client a request comes from: the connection's peer, unless the peer is a trusted proxy,
/// in which case the right-most address of `X-Forwarded-For` that is not itself a trusted
/// proxy (what the outermost trusted proxy saw). A header that does not parse is ignored.
pub(crate) fn client(peer: IpAddr, forwarded_for: &[&str], trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |a: IpAddr| trusted.iter().any(|c| c.contains(a));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    hops.into_iter()
        .rev()
        .find(|a| !is_trusted(*a))
        .unwrap_or(peer)
}

/// An allowance per source shared by the requests of a kind (reports that may bring a new
/// cluster, deletion requests): each request is checked and counted at once.
#[derive(Debug)]
pub(crate) struct Shared(Mutex<Sources>);

impl Shared {
    pub(crate) fn new(per_hour: u32) -> Shared {
        Shared(Mutex::new(Sources::new(per_hour)))
    }

    /// Whether `source` may go on now; if so, it is counted against it. A poisoned lock lets
    /// it through.
    pub(crate) fn take(&self, source: Source, now_ms: u64) -> Result<(), u64> {
        match self.0.lock() {
            Ok(mut sources) => sources.take(source, now_ms),
            Err(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_source_brings_a_burst_then_one_per_interval() {
        let mut s = Sources::new(3);
        let a = Source::of(ip("198.51.100.7"));
        for _ in 0..3 {
            assert_eq!(s.check(a, 0), Ok(()));
            s.record(a, 0);
        }
        assert_eq!(s.check(a, 0), Err(1200));
        assert_eq!(
            s.check(Source::of(ip("198.51.100.8")), 0),
            Ok(()),
            "others unaffected"
        );
        assert_eq!(s.check(a, 1_200_000), Ok(()));
        let off = Sources::new(0);
        assert_eq!(off.check(a, 0), Ok(()));
    }

    #[test]
    fn an_ipv6_host_is_its_slash_64() {
        let one = Source::of(ip("2001:db8:1:2::1"));
        assert_eq!(one, Source::of(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(one, Source::of(ip("2001:db8:1:3::1")));
        assert_eq!(
            Source::of(ip("::ffff:192.0.2.1")),
            Source::of(ip("192.0.2.1"))
        );
    }

    #[test]
    fn a_full_table_forgets_rather_than_refuses() {
        let mut s = Sources::new(1).with_max(16);
        for i in 0..16u32 {
            s.record(Source::V4(i), u64::from(i));
        }
        assert_eq!(s.tracked(), 16);
        // A new source is never refused for lack of room...
        let newcomer = Source::V4(999);
        assert_eq!(s.check(newcomer, 100), Ok(()));
        s.record(newcomer, 100);
        // ...the entries that would be full again soonest made room for it.
        assert!(s.tracked() <= 16);
        assert!(s.check(newcomer, 101).is_err(), "the newcomer is tracked");
        assert_eq!(
            s.check(Source::V4(0), 101),
            Ok(()),
            "the oldest was forgotten"
        );
    }

    #[test]
    fn ranges_and_forwarded_clients() {
        let proxies = [
            Cidr::parse("10.0.0.0/8").unwrap(),
            Cidr::parse("fd00::/8").unwrap(),
        ];
        assert!(proxies[0].contains(ip("10.1.2.3")));
        assert!(!proxies[0].contains(ip("11.1.2.3")));
        assert!(proxies[0].contains(ip("::ffff:10.9.9.9")));
        assert!(proxies[1].contains(ip("fd12::1")));
        assert!(!proxies[1].contains(ip("10.1.2.3")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("192.0.2.1").unwrap().contains(ip("192.0.2.1")));
        for bad in ["10.0.0.0/33", "nope", "fd00::/129", "10.0.0.0/x"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        // Not from a trusted proxy: the header is anyone's to write, and ignored.
        assert_eq!(
            client(ip("203.0.113.9"), &["1.2.3.4"], &proxies),
            ip("203.0.113.9")
        );
        // From a trusted proxy: the right-most untrusted hop.
        let xff = ["6.6.6.6, 198.51.100.20", "10.0.0.5"];
        assert_eq!(client(ip("10.0.0.1"), &xff, &proxies), ip("198.51.100.20"));
        assert_eq!(
            client(ip("10.0.0.1"), &["garbage"], &proxies),
            ip("10.0.0.1")
        );
        assert_eq!(client(ip("10.0.0.1"), &[], &proxies), ip("10.0.0.1"));
    }

    #[test]
    fn each_source_has_its_own_allowance() {
        let sources = Shared::new(DELETIONS_PER_SOURCE_PER_HOUR);
        let (a, b) = (Source::V4(1), Source::V4(2));
        for _ in 0..DELETIONS_PER_SOURCE_PER_HOUR {
            assert_eq!(sources.take(a, 1_000), Ok(()));
        }
        let wait = sources.take(a, 1_000).unwrap_err();
        assert!((1..=360).contains(&wait), "{wait}");
        assert_eq!(sources.take(b, 1_000), Ok(()));
        assert_eq!(
            sources.take(a, 1_000 + 360_000),
            Ok(()),
            "one back after 6 min"
        );
    }
}
