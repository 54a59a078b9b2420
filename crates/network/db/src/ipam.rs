//! Address arithmetic for IP allocation: which addresses of a subnet's pools are free.
//! Pure functions; the allocation itself is an insert into `net_ip_allocation`, whose
//! primary key (subnet, address) makes a concurrent double allocation impossible.

use std::collections::HashSet;
use std::net::IpAddr;

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRange {
    pub start: IpAddr,
    pub end: IpAddr,
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(v4: bool, n: u128) -> Option<IpAddr> {
    if v4 {
        u32::try_from(n).ok().map(|n| IpAddr::V4(n.into()))
    } else {
        Some(IpAddr::V6(n.into()))
    }
}

/// Up to `max` free addresses of `ranges`, in order, skipping `used`. Never walks more than
/// `used.len() + max` addresses per range, so huge (IPv6) ranges cost nothing.
pub fn first_free(ranges: &[AddressRange], used: &HashSet<IpAddr>, max: usize) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for r in ranges {
        let v4 = r.start.is_ipv4();
        let (mut n, end) = (to_u128(r.start), to_u128(r.end));
        while n <= end && out.len() < max {
            if let Some(ip) = from_u128(v4, n) {
                if !used.contains(&ip) {
                    out.push(ip);
                }
            }
            n = match n.checked_add(1) {
                Some(n) => n,
                None => break,
            };
        }
        if out.len() >= max {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn skips_used_and_spans_ranges() {
        let ranges = [
            AddressRange {
                start: ip("10.0.0.2"),
                end: ip("10.0.0.3"),
            },
            AddressRange {
                start: ip("10.0.0.10"),
                end: ip("10.0.0.11"),
            },
        ];
        let used: HashSet<IpAddr> = [ip("10.0.0.2"), ip("10.0.0.10")].into();
        assert_eq!(
            first_free(&ranges, &used, 5),
            vec![ip("10.0.0.3"), ip("10.0.0.11")]
        );
        assert_eq!(first_free(&ranges, &used, 1), vec![ip("10.0.0.3")]);
        let all: HashSet<IpAddr> = [
            ip("10.0.0.2"),
            ip("10.0.0.3"),
            ip("10.0.0.10"),
            ip("10.0.0.11"),
        ]
        .into();
        assert!(first_free(&ranges, &all, 5).is_empty());
    }

    #[test]
    fn ipv6_ranges_are_cheap() {
        let ranges = [AddressRange {
            start: ip("fd00::2"),
            end: ip("fd00::ffff:ffff:ffff:ffff"),
        }];
        assert_eq!(
            first_free(&ranges, &HashSet::new(), 2),
            vec![ip("fd00::2"), ip("fd00::3")]
        );
    }
}
