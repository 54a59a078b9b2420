//! Cutting connections a rule change no longer allows. Conntrack lets an established flow
//! pass whatever the rules say now, so when a port's filtering loses something (a rule
//! removed or narrowed, a group left, a remote group member gone) its tracked connections
//! are deleted, as Neutron does; flows still allowed are tracked again from their next
//! packet. Additions cut nothing.

use std::collections::{BTreeMap, BTreeSet};

use network_model::dataplane::HostPlan;

use super::{Key, Obj};
use crate::cmd::{self, Ns};

/// (conntrack zone, address) of every port whose filtering lost something from `old` to
/// `new`.
pub(super) fn to_cut(
    old: &BTreeMap<Key, Obj>,
    new: &BTreeMap<Key, Obj>,
    plan: &HostPlan,
    zones: &BTreeMap<String, u32>,
) -> Vec<(u32, String)> {
    let lost = |key: &Key, before: &Obj| match (before, new.get(key)) {
        (_, None) => true,
        (Obj::Chain(a), Some(Obj::Chain(b))) => a.iter().any(|r| !b.contains(r)),
        (Obj::Set(_, a), Some(Obj::Set(_, b))) => a.iter().any(|e| !b.contains(e)),
        _ => true,
    };
    let mut groups: BTreeSet<&str> = BTreeSet::new();
    let mut ports: BTreeSet<&str> = BTreeSet::new();
    for (key, before) in old {
        if !lost(key, before) {
            continue;
        }
        let name = key.1.as_str();
        if let Some(g) = name
            .strip_prefix("gi-")
            .or_else(|| name.strip_prefix("ge-"))
        {
            groups.extend(
                plan.security_groups
                    .iter()
                    .map(|s| s.id.as_str())
                    .filter(|s| *s == g),
            );
        } else if let Some(g) = name
            .strip_prefix("m4-")
            .or_else(|| name.strip_prefix("m6-"))
        {
            // Groups whose rules admit members of `g`.
            groups.extend(
                plan.security_groups
                    .iter()
                    .filter(|s| {
                        s.rules
                            .iter()
                            .any(|r| r.remote_group_id.as_deref() == Some(g))
                    })
                    .map(|s| s.id.as_str()),
            );
        } else if let Some(p) = name
            .strip_prefix("pi-")
            .or_else(|| name.strip_prefix("pe-"))
        {
            ports.insert(p);
        }
    }
    let mut cut = Vec::new();
    for port in &plan.ports {
        let Some(security) = &port.security else {
            continue;
        };
        let hit = ports.contains(port.id.as_str())
            || security
                .security_groups
                .iter()
                .any(|g| groups.contains(g.as_str()));
        let Some(zone) = zones.get(&port.network_id) else {
            continue;
        };
        if hit {
            cut.extend(port.fixed_ips.iter().map(|f| (*zone, f.ip_address.clone())));
        }
    }
    cut.sort();
    cut.dedup();
    cut
}

/// Deletes the tracked connections from and to each address in its zone. Failures (no
/// `conntrack` tool, nothing to delete) are logged only: filtering is in place either way.
pub(super) async fn cut(ns: Ns<'_>, cut: &[(u32, String)]) {
    for (zone, ip) in cut {
        let zone = zone.to_string();
        let family = if ip.contains(':') { "ipv6" } else { "ipv4" };
        for side in ["-s", "-d"] {
            let args = ["-D", "-f", family, "-w", zone.as_str(), side, ip.as_str()];
            if let Err(err) = cmd::run(ns, "conntrack", &args, None).await {
                tracing::debug!(error = %err, "conntrack -D");
            }
        }
    }
}
