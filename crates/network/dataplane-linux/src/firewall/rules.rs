//! Rendering of rules: anti-spoofing and policing of a port's frames (bridge family) and
//! security group rules (inet family).

use std::collections::BTreeMap;

use ipnet::IpNet;
use network_model::dataplane::{Bandwidth, Direction, PortPlan, RulePlan, SecurityGroupPlan};

/// Traffic every secured port may send (egress) or receive (ingress) whatever its groups:
/// DHCP and IPv6 neighbour discovery.
pub(super) fn always_allowed(dir: Direction) -> &'static [&'static str] {
    match dir {
        Direction::Egress => &[
            "udp sport 68 udp dport 67 accept",
            "udp sport 546 udp dport 547 accept",
            "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld2-listener-report } accept",
        ],
        Direction::Ingress => &[
            "udp sport 67 udp dport 68 accept",
            "udp sport 547 udp dport 546 accept",
            "icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-query } accept",
        ],
    }
}

/// The bridge-family chain of frames from a port: egress policing, then anti-spoofing (the
/// port's MAC with its fixed IPs, allowed address pairs, DHCP discovery from 0.0.0.0, IPv6
/// link-local and DAD; no DHCP or router advertisement from the guest), then the mark.
pub(super) fn source_rules(port: &PortPlan, mark: u32) -> Vec<String> {
    let mut rules = Vec::new();
    let set_mark = format!("meta mark set {mark:#010x}");
    let Some(security) = &port.security else {
        if let Some(bw) = port.qos.as_ref().and_then(|q| q.egress) {
            rules.push(police(bw));
        }
        return rules;
    };
    // (mac, address) pairs the guest may send from.
    let mut pairs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let own = port.mac_address.to_lowercase();
    for ip in &port.fixed_ips {
        pairs
            .entry(own.clone())
            .or_default()
            .push(ip.ip_address.clone());
    }
    for pair in &security.allowed_address_pairs {
        let mac = pair.mac_address.as_deref().unwrap_or(&own).to_lowercase();
        pairs.entry(mac).or_default().push(pair.ip_address.clone());
    }
    pairs.entry(own.clone()).or_default();
    let macs: Vec<&str> = pairs.keys().map(String::as_str).collect();
    rules.push(format!("ether saddr != {{ {} }} drop", macs.join(", ")));
    if let Some(bw) = port.qos.as_ref().and_then(|q| q.egress) {
        rules.push(police(bw));
    }
    rules.push("ether type arp arp saddr ip 0.0.0.0 accept".into());
    for (mac, addrs) in &pairs {
        let (v4, _) = split_aggregate(addrs.iter().map(String::as_str));
        if !v4.is_empty() {
            rules.push(format!(
                "ether type arp arp saddr ether {mac} arp saddr ip {{ {} }} accept",
                v4.join(", ")
            ));
        }
    }
    rules.push("ether type arp drop".into());
    rules.push("udp sport 67 udp dport 68 drop".into());
    rules.push(format!(
        "ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 {set_mark} accept"
    ));
    for (mac, addrs) in &pairs {
        let (v4, _) = split_aggregate(addrs.iter().map(String::as_str));
        if !v4.is_empty() {
            rules.push(format!(
                "ether saddr {mac} ip saddr {{ {} }} {set_mark} accept",
                v4.join(", ")
            ));
        }
    }
    rules.push("ether type ip drop".into());
    rules.push("icmpv6 type nd-router-advert drop".into());
    rules.push("udp sport 547 udp dport 546 drop".into());
    rules.push(format!(
        "ip6 saddr :: icmpv6 type {{ nd-neighbor-solicit, mld-listener-report, mld2-listener-report }} {set_mark} accept"
    ));
    for (mac, addrs) in &pairs {
        let (_, v6) = split_aggregate(addrs.iter().map(String::as_str).chain(["fe80::/64"]));
        rules.push(format!(
            "ether saddr {mac} ip6 saddr {{ {} }} {set_mark} accept",
            v6.join(", ")
        ));
    }
    rules.push("ether type ip6 drop".into());
    rules.push(set_mark);
    rules
}

/// A policer for traffic from the guest (`tc` police is not in this kernel).
fn police(bw: Bandwidth) -> String {
    let rate = bw.max_kbps.max(1) * 125;
    // Neutron's default burst is 80 % of the rate (in kbit).
    let burst_kbit = if bw.max_burst_kbps > 0 {
        bw.max_burst_kbps
    } else {
        bw.max_kbps * 8 / 10
    };
    let burst = (burst_kbit * 125).max(3000);
    format!("limit rate over {rate} bytes/second burst {burst} bytes drop")
}

/// Addresses or CIDRs, parsed, merged and split by family (`ip/len`, or the bare address
/// for a host). Unparsable entries are skipped: the domain validated them.
pub(super) fn split_aggregate<'a>(
    addrs: impl Iterator<Item = &'a str>,
) -> (Vec<String>, Vec<String>) {
    let nets: Vec<IpNet> = addrs
        .filter_map(|a| {
            a.parse::<IpNet>()
                .ok()
                .or_else(|| a.parse::<std::net::IpAddr>().ok().map(IpNet::from))
        })
        .map(|n| n.trunc())
        .collect();
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for n in IpNet::aggregate(&nets) {
        let text = if n.prefix_len() == n.max_prefix_len() {
            n.addr().to_string()
        } else {
            n.to_string()
        };
        match n {
            IpNet::V4(_) => v4.push(text),
            IpNet::V6(_) => v6.push(text),
        }
    }
    (v4, v6)
}

/// The match part of one rule, or `None` when it can match nothing here (an unknown
/// protocol, a remote group not in the plan, a prefix of the other family).
pub(super) fn rule_match(
    rule: &RulePlan,
    groups: &BTreeMap<&str, &SecurityGroupPlan>,
) -> Option<String> {
    let v6 = rule.ip_version == 6;
    let (ipk, family) = if v6 { ("ip6", "ipv6") } else { ("ip", "ipv4") };
    let side = match rule.direction {
        Direction::Ingress => "saddr",
        Direction::Egress => "daddr",
    };
    let mut m = vec![format!("meta nfproto {family}")];
    if let Some(prefix) = &rule.remote_ip_prefix {
        let net: IpNet = prefix
            .parse()
            .ok()
            .or_else(|| prefix.parse::<std::net::IpAddr>().ok().map(IpNet::from))?;
        if matches!(net, IpNet::V6(_)) != v6 {
            return None;
        }
        if net.prefix_len() > 0 {
            m.push(format!("{ipk} {side} {}", net.trunc()));
        }
    }
    if let Some(g) = &rule.remote_group_id {
        groups.get(g.as_str())?;
        m.push(format!("{ipk} {side} @m{}-{g}", if v6 { 6 } else { 4 }));
    }
    let proto = rule.protocol.as_deref().map(str::to_lowercase);
    let proto = match proto.as_deref() {
        None | Some("any") | Some("0") => None,
        Some("tcp") | Some("6") => Some("tcp"),
        Some("udp") | Some("17") => Some("udp"),
        Some("sctp") | Some("132") => Some("sctp"),
        Some("icmp") | Some("1") if !v6 => Some("icmp"),
        Some("icmp") | Some("ipv6-icmp") | Some("icmpv6") | Some("58") => Some("icmpv6"),
        Some(other) => {
            let number = match other {
                "igmp" => 2,
                "ipip" => 4,
                "egp" => 8,
                "dccp" => 33,
                "ipv6-encap" => 41,
                "ipv6-route" => 43,
                "ipv6-frag" => 44,
                "rsvp" => 46,
                "gre" => 47,
                "esp" => 50,
                "ah" => 51,
                "ipv6-nonxt" => 59,
                "ipv6-opts" => 60,
                "ospf" => 89,
                "encap" => 98,
                "pgm" => 113,
                "vrrp" => 112,
                "udplite" => 136,
                n => n.parse::<u8>().ok()?,
            };
            m.push(format!("meta l4proto {number}"));
            None
        }
    };
    match proto {
        Some(p @ ("tcp" | "udp" | "sctp")) => match (rule.port_range_min, rule.port_range_max) {
            (Some(lo), Some(hi)) if lo != hi => m.push(format!("{p} dport {lo}-{hi}")),
            (Some(lo), _) => m.push(format!("{p} dport {lo}")),
            _ => m.push(format!("meta l4proto {p}")),
        },
        Some(p @ ("icmp" | "icmpv6")) => {
            let l4 = if p == "icmp" { "icmp" } else { "ipv6-icmp" };
            m.push(format!("meta l4proto {l4}"));
            if let Some(t) = rule.port_range_min {
                m.push(format!("{p} type {t}"));
                if let Some(c) = rule.port_range_max {
                    m.push(format!("{p} code {c}"));
                }
            }
        }
        _ => {}
    }
    Some(m.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(dir: Direction, proto: Option<&str>, lo: Option<u16>, hi: Option<u16>) -> RulePlan {
        RulePlan {
            id: "r".into(),
            direction: dir,
            ip_version: 4,
            protocol: proto.map(str::to_string),
            port_range_min: lo,
            port_range_max: hi,
            remote_ip_prefix: None,
            remote_group_id: None,
        }
    }

    #[test]
    fn rules_render_as_nft_matches() {
        let groups = BTreeMap::new();
        let r = rule(Direction::Ingress, Some("tcp"), Some(22), Some(22));
        assert_eq!(
            rule_match(&r, &groups).unwrap(),
            "meta nfproto ipv4 tcp dport 22"
        );
        let mut r = rule(Direction::Egress, Some("udp"), Some(1000), Some(2000));
        r.remote_ip_prefix = Some("10.0.0.7/24".into());
        assert_eq!(
            rule_match(&r, &groups).unwrap(),
            "meta nfproto ipv4 ip daddr 10.0.0.0/24 udp dport 1000-2000"
        );
        let r = rule(Direction::Ingress, Some("icmp"), Some(8), None);
        assert_eq!(
            rule_match(&r, &groups).unwrap(),
            "meta nfproto ipv4 meta l4proto icmp icmp type 8"
        );
        let r = rule(Direction::Ingress, Some("gre"), None, None);
        assert_eq!(
            rule_match(&r, &groups).unwrap(),
            "meta nfproto ipv4 meta l4proto 47"
        );
        let mut r = rule(Direction::Ingress, None, None, None);
        r.remote_group_id = Some("missing".into());
        assert_eq!(rule_match(&r, &groups), None);
        let mut r = rule(Direction::Ingress, None, None, None);
        r.remote_ip_prefix = Some("fd00::/64".into());
        assert_eq!(rule_match(&r, &groups), None);
    }

    #[test]
    fn addresses_merge_and_split_by_family() {
        let (v4, v6) =
            split_aggregate(["10.0.0.5", "10.0.0.0/28", "fd00::1", "10.1.0.1/32"].into_iter());
        assert_eq!(v4, vec!["10.0.0.0/28", "10.1.0.1"]);
        assert_eq!(v6, vec!["fd00::1"]);
    }
}
