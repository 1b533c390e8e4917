//! The network policy: which hosts and ports `fetch` may reach
//! (`--allow-net`, narrowed per run by `allow_net`), and the rule that
//! names resolving to loopback, private, link-local or metadata
//! addresses are refused unless a grant names that address itself or
//! `--allow-private-net` is set.
//!
//! A grant is `HOST[:PORT]`: an exact host name (`api.example.com`), a
//! wildcard for subdomains (`*.example.com`, not `example.com` itself),
//! an IP literal (`127.0.0.1`, `[::1]`) or a CIDR (`10.0.0.0/8`,
//! `[fc00::/7]`); without a port, every port. A request is allowed when
//! every policy in force (the server's, and the run's if it gave one)
//! allows it, so a run can narrow but never widen.

use std::net::IpAddr;

use ipnet::IpNet;

/// What a grant matches on the host side.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// Exactly this name (lower case, no trailing dot).
    Exact(String),
    /// Any name ending in `.suffix`.
    Subdomains(String),
    /// Exactly this address.
    Ip(IpAddr),
    /// Any address in this network.
    Net(IpNet),
}

/// One `HOST[:PORT]` grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    host: HostPattern,
    port: Option<u16>,
}

impl Grant {
    /// Parses one grant; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Grant, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("an empty grant".into());
        }
        let (host, port) = split_port(text)?;
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let pattern = if let Ok(ip) = host.parse::<IpAddr>() {
            HostPattern::Ip(ip)
        } else if let Ok(net) = host.parse::<IpNet>() {
            HostPattern::Net(net.trunc())
        } else if let Some(suffix) = host.strip_prefix("*.") {
            check_name(suffix, text)?;
            HostPattern::Subdomains(suffix.to_string())
        } else {
            check_name(&host, text)?;
            HostPattern::Exact(host)
        };
        Ok(Grant {
            host: pattern,
            port,
        })
    }

    fn port_ok(&self, port: u16) -> bool {
        self.port.is_none_or(|p| p == port)
    }

    /// Whether this grant covers host name `name` (not an IP) on `port`.
    fn covers_name(&self, name: &str, port: u16) -> bool {
        self.port_ok(port)
            && match &self.host {
                HostPattern::Exact(h) => h == name,
                HostPattern::Subdomains(s) => {
                    name.len() > s.len() + 1
                        && name.ends_with(s.as_str())
                        && name.as_bytes()[name.len() - s.len() - 1] == b'.'
                }
                HostPattern::Ip(_) | HostPattern::Net(_) => false,
            }
    }

    /// Whether this grant names address `ip` (itself or its network).
    fn names_ip(&self, ip: IpAddr, port: u16) -> bool {
        self.port_ok(port)
            && match &self.host {
                HostPattern::Ip(g) => *g == ip,
                HostPattern::Net(n) => n.contains(&ip),
                _ => false,
            }
    }
}

/// Splits `host:port`, `[v6]:port`, `[v6]`, a bare v6 address or CIDR.
fn split_port(text: &str) -> Result<(&str, Option<u16>), String> {
    let port_of = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("bad port in {text:?}"))
    };
    if let Some(rest) = text.strip_prefix('[') {
        let (host, tail) = rest
            .split_once(']')
            .ok_or_else(|| format!("missing ] in {text:?}"))?;
        return match tail {
            "" => Ok((host, None)),
            _ => match tail.strip_prefix(':') {
                Some(p) => Ok((host, Some(port_of(p)?))),
                None => Err(format!("unexpected text after ] in {text:?}")),
            },
        };
    }
    if text.matches(':').count() > 1 {
        return Ok((text, None)); // a bare IPv6 address or network
    }
    match text.rsplit_once(':') {
        Some((host, port)) => Ok((host, Some(port_of(port)?))),
        None => Ok((text, None)),
    }
}

fn check_name(name: &str, text: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("{text:?} is not a host name, IP address or CIDR"))
    }
}

/// Parses a comma-separated list of grants.
pub fn parse_list<S: AsRef<str>>(items: &[S]) -> Result<Vec<Grant>, String> {
    items
        .iter()
        .flat_map(|item| item.as_ref().split(','))
        .filter(|s| !s.trim().is_empty())
        .map(Grant::parse)
        .collect()
}

/// Whether `ip` is loopback, private, link-local, shared (CGNAT),
/// unspecified, multicast or a cloud metadata address: never reached
/// through a name unless a grant names it. An IPv6 address that carries an
/// IPv4 one (IPv4-mapped or -compatible `::/96`, NAT64 `64:ff9b::/96`,
/// 6to4 `2002::/16`) is judged by that IPv4 address, since a gateway may
/// deliver it there; the local-use NAT64 prefix `64:ff9b:1::/48` and
/// site-local `fec0::/10` are internal.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            // ::/96 and ::ffff:0:0/96 (::1 becomes 0.0.0.1, internal).
            if let Some(v4) = v6.to_ipv4() {
                return is_internal(IpAddr::V4(v4));
            }
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                is_internal(IpAddr::V4(std::net::Ipv4Addr::from(
                    (u32::from(hi) << 16) | u32::from(lo),
                )))
            };
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return embedded(s[6], s[7]);
            }
            if s[0] == 0x2002 {
                return embedded(s[1], s[2]);
            }
            (s[0], s[1]) == (0x64, 0xff9b)
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
        }
    }
}

/// The grants of one policy layer.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    grants: Vec<Grant>,
}

impl Layer {
    /// A layer of these grants.
    pub fn new(grants: Vec<Grant>) -> Layer {
        Layer { grants }
    }

    /// Whether the layer lets a request to `host` (a name or an IP
    /// literal) on `port` through, before resolution.
    fn allows_host(&self, host: &Host, port: u16) -> bool {
        match host {
            Host::Ip(ip) => self.grants.iter().any(|g| g.names_ip(*ip, port)),
            Host::Name(name) => self.grants.iter().any(|g| g.covers_name(name, port)),
        }
    }

    /// Whether the layer names `ip` itself (so it may be internal).
    fn names_ip(&self, ip: IpAddr, port: u16) -> bool {
        self.grants.iter().any(|g| g.names_ip(ip, port))
    }
}

/// A URL's host, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// An IP literal.
    Ip(IpAddr),
    /// A name, lower case.
    Name(String),
}

/// The policy in force for one run: the server's layer, the run's own
/// narrowing layer if any, and `--allow-private-net`.
#[derive(Debug, Clone)]
pub struct NetPolicy {
    layers: Vec<Layer>,
    allow_private: bool,
}

impl NetPolicy {
    /// The server's policy.
    pub fn new(server: Layer, allow_private: bool) -> NetPolicy {
        NetPolicy {
            layers: vec![server],
            allow_private,
        }
    }

    /// This policy narrowed by a run's `allow_net`.
    pub fn narrowed(&self, run: Layer) -> NetPolicy {
        let mut layers = self.layers.clone();
        layers.push(run);
        NetPolicy {
            layers,
            allow_private: self.allow_private,
        }
    }

    /// Whether a run's `allow_net` narrows this policy.
    pub fn is_narrowed(&self) -> bool {
        self.layers.len() > 1
    }

    /// Whether every layer lets `host:port` through (before resolution).
    pub fn allows(&self, host: &Host, port: u16) -> bool {
        self.layers.iter().all(|l| l.allows_host(host, port))
    }

    /// Whether a connection to `ip` (which `host` resolved to, or is) on
    /// `port` is allowed: public addresses are, internal ones only when
    /// `--allow-private-net` is set or every layer names the address.
    pub fn address_ok(&self, ip: IpAddr, port: u16) -> bool {
        !is_internal(ip) || self.allow_private || self.layers.iter().all(|l| l.names_ip(ip, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(grants: &[&str], private: bool) -> NetPolicy {
        NetPolicy::new(Layer::new(parse_list(grants).unwrap()), private)
    }

    fn name(n: &str) -> Host {
        Host::Name(n.into())
    }

    #[test]
    fn grants_parse_every_form() {
        for ok in [
            "example.com",
            "example.com:443",
            "*.example.com",
            "127.0.0.1:8080",
            "10.0.0.0/8",
            "[::1]:80",
            "::1",
            "fc00::/7",
            "[fc00::/7]:80",
        ] {
            Grant::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "exa mple.com",
            "host:0",
            "host:99999",
            "[::1",
            "a..b",
            "*.",
        ] {
            assert!(Grant::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts_ports_and_wildcards() {
        let p = policy(
            &["api.example.com:443", "*.cdn.net", "127.0.0.1:8080"],
            false,
        );
        assert!(p.allows(&name("api.example.com"), 443));
        assert!(!p.allows(&name("api.example.com"), 80));
        assert!(!p.allows(&name("example.com"), 443));
        assert!(p.allows(&name("a.cdn.net"), 1));
        assert!(p.allows(&name("a.b.cdn.net"), 1));
        assert!(!p.allows(&name("cdn.net"), 1));
        assert!(!p.allows(&name("evilcdn.net"), 1));
        let lo = "127.0.0.1".parse().unwrap();
        assert!(p.allows(&Host::Ip(lo), 8080));
        assert!(!p.allows(&Host::Ip(lo), 8081));
        assert!(!p.allows(&name("localhost"), 8080));
    }

    #[test]
    fn internal_addresses_need_a_grant_naming_them() {
        let p = policy(&["localhost", "10.1.2.3", "example.com"], false);
        assert!(!p.address_ok("127.0.0.1".parse().unwrap(), 80));
        assert!(p.address_ok("10.1.2.3".parse().unwrap(), 80));
        assert!(!p.address_ok("10.1.2.4".parse().unwrap(), 80));
        assert!(p.address_ok("93.184.216.34".parse().unwrap(), 80));
        for ip in [
            "169.254.169.254",
            "100.64.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "fec0::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "::",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:0101::1",
        ] {
            assert!(!p.address_ok(ip.parse().unwrap(), 80), "{ip}");
        }
        // Public addresses, also when carried in IPv6.
        for ip in [
            "2606:4700::1111",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
            "::ffff:93.184.216.34",
        ] {
            assert!(p.address_ok(ip.parse().unwrap(), 80), "{ip}");
        }
        assert!(policy(&["localhost"], true).address_ok("127.0.0.1".parse().unwrap(), 80));
    }

    #[test]
    fn a_run_narrows_and_cannot_widen() {
        let server = policy(&["a.com", "b.com"], false);
        let run = server.narrowed(Layer::new(parse_list(&["a.com", "c.com"]).unwrap()));
        assert!(run.allows(&name("a.com"), 1));
        assert!(!run.allows(&name("b.com"), 1));
        assert!(!run.allows(&name("c.com"), 1));
    }
}
