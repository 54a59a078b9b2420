//! Address and CIDR parsing as Neutron's validators accept them, and the arithmetic
//! subnets need (default gateway and pools, EUI-64, MACs).

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use network_db::AddressRange;
use network_model::AllocationPool;

/// An IP address in canonical form, or `None` when `s` is not one (no whitespace, no
/// leading zeros: what `netaddr` would not print back the same way is refused).
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    let ip: IpAddr = s.parse().ok()?;
    if ip.is_ipv4() && ip.to_string() != s {
        return None;
    }
    Some(ip)
}

/// A CIDR as Neutron's `validate_subnet` accepts it: a `/` is required and IPv4 text must
/// round-trip. Host bits may be set (the caller normalises).
pub(crate) fn parse_cidr(s: &str) -> Option<IpNet> {
    if !s.contains('/') || s.chars().any(char::is_whitespace) {
        return None;
    }
    let net: IpNet = s.parse().ok()?;
    if let IpNet::V4(v4) = net {
        if format!("{}/{}", v4.addr(), v4.prefix_len()) != s {
            return None;
        }
    }
    Some(net)
}

/// `10.0.0.7/24` → `10.0.0.0/24`.
pub(crate) fn normalize(net: IpNet) -> IpNet {
    net.trunc()
}

pub(crate) fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

pub(crate) fn from_u128(v4: bool, n: u128) -> IpAddr {
    if v4 {
        IpAddr::V4(u32::try_from(n).unwrap_or(u32::MAX).into())
    } else {
        IpAddr::V6(n.into())
    }
}

/// The first and last address a subnet may hand out or route through: IPv4 skips the
/// network and broadcast addresses, IPv6 the subnet-router anycast address.
pub(crate) fn usable_bounds(net: IpNet) -> Option<(u128, u128)> {
    let first = to_u128(net.network());
    let last = to_u128(net.broadcast());
    let (lo, hi) = match net {
        IpNet::V4(_) if net.prefix_len() >= 31 => (first, last),
        IpNet::V4(_) => (first + 1, last.saturating_sub(1)),
        IpNet::V6(_) if net.prefix_len() == 128 => (first, last),
        IpNet::V6(_) => (first + 1, last),
    };
    (lo <= hi).then_some((lo, hi))
}

/// The default gateway: the first usable address.
pub(crate) fn default_gateway(net: IpNet) -> Option<IpAddr> {
    usable_bounds(net).map(|(lo, _)| from_u128(net.addr().is_ipv4(), lo))
}

/// Neutron's default pools: every usable address but the gateway.
pub(crate) fn default_pools(net: IpNet, gateway: Option<IpAddr>) -> Vec<AllocationPool> {
    let Some((lo, hi)) = usable_bounds(net) else {
        return Vec::new();
    };
    let v4 = net.addr().is_ipv4();
    let mut ranges = vec![(lo, hi)];
    if let Some(g) = gateway.map(to_u128) {
        if (lo..=hi).contains(&g) {
            ranges.clear();
            if g > lo {
                ranges.push((lo, g - 1));
            }
            if g < hi {
                ranges.push((g + 1, hi));
            }
        }
    }
    ranges
        .into_iter()
        .map(|(a, b)| AllocationPool {
            start: from_u128(v4, a).to_string(),
            end: from_u128(v4, b).to_string(),
        })
        .collect()
}

/// Pools as address ranges (pools were validated when stored).
pub(crate) fn ranges(pools: &[AllocationPool]) -> Vec<AddressRange> {
    pools
        .iter()
        .filter_map(|p| {
            Some(AddressRange {
                start: p.start.parse().ok()?,
                end: p.end.parse().ok()?,
            })
        })
        .collect()
}

/// A MAC in Neutron's canonical form (lowercase, colons), or `None` when invalid
/// (multicast and all-zero MACs are refused).
pub(crate) fn parse_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut bytes = [0u8; 6];
    for (b, p) in bytes.iter_mut().zip(&parts) {
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    if bytes[0] & 1 == 1 || bytes == [0; 6] {
        return None;
    }
    Some(
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// A random MAC with OpenStack's `fa:16:3e` prefix.
pub(crate) fn random_mac() -> String {
    let tail: [u8; 3] = rand::random();
    format!("fa:16:3e:{:02x}:{:02x}:{:02x}", tail[0], tail[1], tail[2])
}

/// The SLAAC (EUI-64) address of `mac` in a /64.
pub(crate) fn eui64(net: IpNet, mac: &str) -> Option<IpAddr> {
    let IpNet::V6(v6) = net else { return None };
    if v6.prefix_len() != 64 {
        return None;
    }
    let b: Vec<u8> = mac
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    if b.len() != 6 {
        return None;
    }
    let iid = u64::from_be_bytes([b[0] ^ 0x02, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]]);
    let prefix = u128::from(v6.network()) & !u128::from(u64::MAX);
    Some(IpAddr::V6(Ipv6Addr::from(prefix | u128::from(iid))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_like_neutron() {
        assert!(parse_cidr("10.0.0.0/24").is_some());
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("10.0.0.0").is_none());
        assert!(parse_cidr("010.0.0.0/24").is_none());
        assert!(parse_cidr("not-a-cidr").is_none());
        assert_eq!(
            normalize(parse_cidr("10.0.0.7/24").unwrap()).to_string(),
            "10.0.0.0/24"
        );
        assert_eq!(
            normalize(parse_cidr("fd00::1/64").unwrap()).to_string(),
            "fd00::/64"
        );
    }

    #[test]
    fn default_gateway_and_pools() {
        let n = parse_cidr("10.0.0.0/24").unwrap();
        let gw = default_gateway(n).unwrap();
        assert_eq!(gw.to_string(), "10.0.0.1");
        let p = default_pools(n, Some(gw));
        assert_eq!(
            p,
            vec![AllocationPool {
                start: "10.0.0.2".into(),
                end: "10.0.0.254".into()
            }]
        );
        let p = default_pools(n, Some("10.0.0.100".parse().unwrap()));
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].end, "10.0.0.99");
        assert_eq!(p[1].start, "10.0.0.101");
        let p = default_pools(n, None);
        assert_eq!(p[0].start, "10.0.0.1");
        let v6 = parse_cidr("fd00::/64").unwrap();
        let p = default_pools(v6, default_gateway(v6));
        assert_eq!(p[0].start, "fd00::2");
        assert_eq!(p[0].end, "fd00::ffff:ffff:ffff:ffff");
    }

    #[test]
    fn macs_and_eui64() {
        assert_eq!(
            parse_mac("FA:16:3E:00:00:01").as_deref(),
            Some("fa:16:3e:00:00:01")
        );
        assert!(parse_mac("01:00:5e:00:00:01").is_none());
        assert!(parse_mac("zz:16:3e:00:00:01").is_none());
        assert!(random_mac().starts_with("fa:16:3e:"));
        let n = parse_cidr("2001:db8::/64").unwrap();
        assert_eq!(
            eui64(n, "fa:16:3e:00:00:01").unwrap().to_string(),
            "2001:db8::f816:3eff:fe00:1"
        );
    }
}
