//! Routers, as Neutron's L3 agent does them: a namespace with IP forwarding, a leg per
//! attached subnet (`qr-`) and one on the external network (`qg-`) carrying the gateway and
//! floating addresses, a default route through the external gateway, static routes, and
//! NAT in nftables (`table ip nat`): DNAT floating → fixed, SNAT fixed → floating, and SNAT
//! of the interfaces' subnets to the gateway address.

use std::collections::{BTreeMap, BTreeSet};

use common_error::{Error, Result};
use ipnet::IpNet;
use network_model::dataplane::{NetworkPlan, RouterLeg, RouterPlan};
use network_model::names;

use crate::cmd::{self, ip};
use crate::links::{ensure_addresses, Leg, Links};

/// The NAT table's name inside a router namespace (the namespace is ours alone).
const NAT_TABLE: &str = "nat";

/// Converges one router. `nat_applied` is the NAT text applied last in this process.
pub(crate) async fn ensure(
    host: &mut Links,
    ns: &str,
    router: &RouterPlan,
    networks: &BTreeMap<&str, &NetworkPlan>,
    nat_applied: &mut Option<String>,
) -> Result<()> {
    cmd::ensure_namespace(ns).await?;
    cmd::sysctl(Some(ns), "net.ipv4.ip_forward", "1").await?;
    cmd::sysctl(Some(ns), "net.ipv6.conf.all.forwarding", "1").await?;
    let mut legs: Vec<(&RouterLeg, String, Vec<String>)> = Vec::new();
    for leg in &router.interfaces {
        legs.push((leg, names::router_leg(&leg.port_id), leg.addresses.clone()));
    }
    if let Some(gw) = &router.gateway {
        let mut addrs = gw.leg.addresses.clone();
        addrs.extend(
            router
                .floating_ips
                .iter()
                .map(|f| format!("{}/32", f.floating_ip_address)),
        );
        legs.push((&gw.leg, names::gateway_leg(&gw.leg.port_id), addrs));
    }
    for (leg, inner, addrs) in &legs {
        let net = networks.get(leg.network_id.as_str()).ok_or_else(|| {
            Error::Internal(format!(
                "network {} of router leg {} is not in the plan",
                leg.network_id, leg.port_id
            ))
        })?;
        host.ensure_leg(Leg {
            outer: &names::tap(&leg.port_id),
            bridge: Some(&names::bridge(&net.id)),
            ns,
            inner,
            mac: Some(&leg.mac_address),
            mtu: net.mtu,
            up: router.admin_state_up,
        })
        .await?;
        ensure_addresses(Some(ns), inner, addrs).await?;
    }
    // Legs of ports no longer on the router.
    let wanted: BTreeSet<&str> = legs.iter().map(|(_, n, _)| n.as_str()).collect();
    let mut inside = Links::read(Some(ns)).await?;
    let stale: Vec<String> = inside
        .by_name
        .keys()
        .filter(|n| (n.starts_with("qr-") || n.starts_with("qg-")) && !wanted.contains(n.as_str()))
        .cloned()
        .collect();
    for n in stale {
        inside.delete(&n).await?;
    }
    ensure_routes(ns, router).await?;
    let nat = nat_text(router);
    let exists = cmd::run(Some(ns), "nft", &["list", "table", "ip", NAT_TABLE], None)
        .await
        .is_ok();
    if nat_applied.as_deref() != Some(nat.as_str()) || !exists {
        let script = format!("table ip {NAT_TABLE}\ndelete table ip {NAT_TABLE}\n{nat}");
        cmd::run(Some(ns), "nft", &["-f", "-"], Some(&script)).await?;
        *nat_applied = Some(nat);
    }
    Ok(())
}

/// The router's routes besides the connected ones: default via the gateway's nexthop and
/// the static routes; others (left by an earlier plan) are removed.
async fn ensure_routes(ns: &str, router: &RouterPlan) -> Result<()> {
    let mut want: BTreeSet<(String, String)> = BTreeSet::new();
    if let Some(nh) = router.gateway.as_ref().and_then(|g| g.nexthop.as_deref()) {
        let default = if nh.contains(':') {
            "::/0"
        } else {
            "0.0.0.0/0"
        };
        want.insert((default.into(), nh.into()));
    }
    for r in &router.routes {
        if let Ok(net) = r.destination.parse::<IpNet>() {
            want.insert((net.trunc().to_string(), r.nexthop.clone()));
        }
    }
    let mut have: BTreeSet<(String, String)> = BTreeSet::new();
    for family in ["-4", "-6"] {
        let out = ip(Some(ns), &[family, "-j", "route", "show"]).await?;
        let routes: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap_or_default();
        for r in routes {
            let (Some(dst), Some(gw)) = (r["dst"].as_str(), r["gateway"].as_str()) else {
                continue;
            };
            let dst = match dst {
                "default" if family == "-4" => "0.0.0.0/0".to_string(),
                "default" => "::/0".to_string(),
                d if d.contains('/') => d.to_string(),
                d if d.contains(':') => format!("{d}/128"),
                d => format!("{d}/32"),
            };
            have.insert((dst, gw.to_string()));
        }
    }
    for (dst, nh) in have.difference(&want) {
        ip(Some(ns), &["route", "del", dst, "via", nh]).await?;
    }
    for (dst, nh) in want.difference(&have) {
        ip(Some(ns), &["route", "replace", dst, "via", nh]).await?;
    }
    Ok(())
}

/// The router's NAT table. Floating IP rules come before the general SNAT.
fn nat_text(router: &RouterPlan) -> String {
    let mut pre = Vec::new();
    let mut post = Vec::new();
    if let Some(gw) = &router.gateway {
        let qg = names::gateway_leg(&gw.leg.port_id);
        for f in &router.floating_ips {
            pre.push(format!(
                "ip daddr {} dnat to {}",
                f.floating_ip_address, f.fixed_ip_address
            ));
            post.push(format!(
                "ip saddr {} oifname \"{qg}\" snat to {}",
                f.fixed_ip_address, f.floating_ip_address
            ));
        }
        let gw_addr = gw
            .leg
            .addresses
            .iter()
            .filter_map(|a| a.parse::<IpNet>().ok())
            .find(|a| matches!(a, IpNet::V4(_)));
        if let (true, Some(gw_addr)) = (gw.enable_snat, gw_addr) {
            let subnets: BTreeSet<String> = router
                .interfaces
                .iter()
                .flat_map(|l| &l.addresses)
                .filter_map(|a| a.parse::<IpNet>().ok())
                .filter(|a| matches!(a, IpNet::V4(_)))
                .map(|a| a.trunc().to_string())
                .collect();
            if !subnets.is_empty() {
                post.push(format!(
                    "oifname \"{qg}\" ip saddr {{ {} }} snat to {}",
                    subnets.into_iter().collect::<Vec<_>>().join(", "),
                    gw_addr.addr()
                ));
            }
        }
    }
    let body = |rules: &[String]| {
        rules
            .iter()
            .map(|r| format!("\t\t{r}\n"))
            .collect::<String>()
    };
    format!(
        "table ip {NAT_TABLE} {{\n\
         \tchain nat_pre {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n{}\t}}\n\
         \tchain nat_out {{\n\t\ttype nat hook output priority -100; policy accept;\n{}\t}}\n\
         \tchain nat_post {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n{}\t}}\n\
         }}\n",
        body(&pre),
        body(&pre),
        body(&post)
    )
}
