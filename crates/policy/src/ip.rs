//! IPv4/IPv6 addresses and CIDR blocks for `IpAddress`/`NotIpAddress`.

use std::net::IpAddr;

/// A CIDR block; a bare address is a /32 (IPv4) or /128 (IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: u128,
    prefix: u8,
    v6: bool,
}

fn bits(ip: IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), false),
        IpAddr::V6(v6) => (u128::from(v6), true),
    }
}

impl Cidr {
    /// Parses `a.b.c.d[/n]` or an IPv6 address with optional `/n`.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (a, Some(p.parse::<u8>().ok()?))
            }
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().ok()?;
        let (addr, v6) = bits(ip);
        let max = if v6 { 128 } else { 32 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return None;
        }
        Some(Cidr { addr, prefix, v6 })
    }

    /// Whether `ip` lies in the block; families never match each other.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (addr, v6) = bits(ip);
        if v6 != self.v6 {
            return false;
        }
        let width: u32 = if v6 { 128 } else { 32 };
        let host = width - u32::from(self.prefix);
        if host >= 128 {
            return true;
        }
        (addr >> host) == (self.addr >> host)
    }

    /// Prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether the block is IPv6.
    pub fn is_v6(&self) -> bool {
        self.v6
    }

    /// The block with the address bits past the prefix cleared (`203.0.0.0/8` for
    /// `203.0.113.7/8`): those bits are ignored when matching.
    pub fn network(&self) -> Cidr {
        let width: u32 = if self.v6 { 128 } else { 32 };
        let host = width - u32::from(self.prefix);
        let addr = if host >= 128 {
            0
        } else {
            (self.addr >> host) << host
        };
        Cidr { addr, ..*self }
    }

    /// Whether the block lies inside private or loopback space (RFC 1918,
    /// 127/8, fc00::/7, ::1), which `aws:SourceIp` never carries.
    pub fn is_private(&self) -> bool {
        let inside = |net: &str| {
            Cidr::parse(net).is_some_and(|n| {
                n.v6 == self.v6 && n.prefix <= self.prefix && {
                    let host = if self.v6 { 128 } else { 32 } - u32::from(n.prefix);
                    host >= 128 || (self.addr >> host) == (n.addr >> host)
                }
            })
        };
        [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "127.0.0.0/8",
            "fc00::/7",
            "::1/128",
        ]
        .iter()
        .any(|n| inside(n))
    }
}

impl std::fmt::Display for Cidr {
    /// `a.b.c.d/n` or `x:…/n`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.v6 {
            write!(f, "{}/{}", std::net::Ipv6Addr::from(self.addr), self.prefix)
        } else {
            let v4 = u32::try_from(self.addr).unwrap_or(u32::MAX);
            write!(f, "{}/{}", std::net::Ipv4Addr::from(v4), self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_v4_and_v6() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        let c6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(c6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!c6.contains("10.1.2.3".parse().unwrap()));
        assert!(
            Cidr::parse("::/0")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
        assert!(
            Cidr::parse("1.2.3.4")
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        assert!(Cidr::parse("1.2.3.4/33").is_none());
        assert!(Cidr::parse("1.2.3/8").is_none());
        assert!(Cidr::parse("10.0.0.0/16").unwrap().is_private());
        assert!(!Cidr::parse("8.8.0.0/16").unwrap().is_private());
        let c = Cidr::parse("203.0.113.7/8").unwrap();
        assert_eq!(c.network().to_string(), "203.0.0.0/8");
        assert_eq!(c.network().network(), c.network());
        assert_eq!(
            Cidr::parse("2001:db8::1/32").unwrap().network().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(
            Cidr::parse("1.2.3.4/0").unwrap().network().to_string(),
            "0.0.0.0/0"
        );
    }
}
