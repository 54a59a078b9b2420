//! Security groups, anti-spoofing and the guests' egress policing in nftables, in the host
//! namespace (where the bridges are).
//!
//! This kernel has no bridge-family conntrack, so filtering is split (see
//! vm-feasibility.md §3). With `br_netfilter` on, bridged IP packets also traverse the
//! `inet` forward hook, where conntrack works, but there every bridged packet's in and out
//! device is the bridge. So the `bridge` table identifies the ports and leaves a mark:
//! `b_pre` (prerouting) sends frames from a secured tap to its chain `ps-<port>`, which drops
//! spoofed MAC/ARP/IP sources and sets the port's index in the mark's high 16 bits;
//! `b_fwd` sends frames to a secured tap to `pd-<port>`, which puts the port's index in the
//! low 16 bits. The `inet` table then filters statefully: base chain `egress_hook` jumps by
//! the high half to `pe-<port>` (the guest's egress rules), and `ingress_hook` (a later
//! priority, so an egress `accept` still meets it) by the low half to `pi-<port>`. A port's
//! chains jump to one chain per group and direction (`ge-<group>`, `gi-<group>`), and a
//! remote-group rule matches the named sets `m4-<group>` / `m6-<group>`: a change of a group
//! rewrites one chain whatever the number of ports using it, and a membership change is a
//! set update.
//!
//! Changes go to the kernel as one `nft -f -` transaction holding only the objects that
//! differ from what was applied last; the first apply of a process (or after the tables were
//! removed behind its back) rewrites both tables atomically.

use std::collections::{BTreeMap, BTreeSet};

use common_error::{Error, Result};
use network_model::dataplane::{Direction, HostPlan, PortPlan, SecurityGroupPlan};
use network_model::names;

use crate::cmd::{self, Ns};

mod conntrack;
mod rules;
use rules::{always_allowed, rule_match, source_rules, split_aggregate};

/// An nftables object this module owns, keyed by (family, name).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Obj {
    /// A regular chain and its rules.
    Chain(Vec<String>),
    /// A named interval set of addresses: its type and elements.
    Set(&'static str, Vec<String>),
}

type Key = (&'static str, String);

/// What was applied last, to send only differences.
#[derive(Debug, Default)]
pub(crate) struct FirewallState {
    applied: BTreeMap<Key, Obj>,
    /// The two maps of each family (from_port, to_port), rendered.
    maps: BTreeMap<Key, Vec<String>>,
    /// Handles of our (bridge, inet) tables after the last apply; a mismatch means someone
    /// removed them and everything is rewritten.
    handles: Option<(u64, u64)>,
    /// Port id → index in the mark.
    index: BTreeMap<String, u32>,
    /// Network id → conntrack zone of its bridge.
    zones: BTreeMap<String, u32>,
}

/// The desired objects for a plan.
struct Desired {
    objs: BTreeMap<Key, Obj>,
    maps: BTreeMap<Key, Vec<String>>,
}

const MAPS: [(&str, &str, &str); 5] = [
    ("bridge", "from_port", "ifname : verdict"),
    ("bridge", "to_port", "ifname : verdict"),
    ("inet", "from_port", "mark : verdict"),
    ("inet", "to_port", "mark : verdict"),
    ("inet", "zones", "iifname : ct zone"),
];

/// The firewall of one host namespace.
pub(crate) struct Firewall<'a> {
    pub ns: Ns<'a>,
    /// Table name in both families.
    pub table: &'a str,
}

impl Firewall<'_> {
    /// Converges the tables to `plan`. Ports it could not secure are returned as failures
    /// (all ports with security or QoS: the transaction is atomic).
    pub(crate) async fn apply(&self, state: &mut FirewallState, plan: &HostPlan) -> Result<()> {
        assign_indexes(&mut state.index, &plan.ports);
        assign(
            &mut state.zones,
            plan.networks.iter().map(|n| n.id.as_str()).collect(),
        );
        let desired = desired(plan, &state.index, &state.zones);
        if desired.objs.is_empty() {
            return self.remove(state).await;
        }
        let handles = self.handles().await?;
        let full = state.handles.is_none() || state.handles != handles;
        let script = if full {
            self.full_script(&desired)
        } else {
            self.diff_script(&state.applied, &state.maps, &desired)
        };
        if script.is_empty() {
            return Ok(());
        }
        let sent = cmd::run(self.ns, "nft", &["-f", "-"], Some(&script)).await;
        if let Err(err) = sent {
            if full {
                state.handles = None;
                return Err(err);
            }
            tracing::warn!(error = %err, "incremental nft transaction failed; rewriting the tables");
            let script = self.full_script(&desired);
            if let Err(err) = cmd::run(self.ns, "nft", &["-f", "-"], Some(&script)).await {
                state.handles = None;
                return Err(err);
            }
        }
        let lost = conntrack::to_cut(&state.applied, &desired.objs, plan, &state.zones);
        state.applied = desired.objs;
        state.maps = desired.maps;
        state.handles = self.handles().await?;
        conntrack::cut(self.ns, &lost).await;
        Ok(())
    }

    /// Deletes both tables.
    pub(crate) async fn remove(&self, state: &mut FirewallState) -> Result<()> {
        let t = self.table;
        cmd::run(
            self.ns,
            "nft",
            &["-f", "-"],
            Some(&format!(
                "table bridge {t}\ndelete table bridge {t}\ntable inet {t}\ndelete table inet {t}\n"
            )),
        )
        .await?;
        *state = FirewallState::default();
        Ok(())
    }

    async fn handles(&self) -> Result<Option<(u64, u64)>> {
        let out = cmd::run(self.ns, "nft", &["-j", "list", "tables"], None).await?;
        let v: serde_json::Value = serde_json::from_str(&out)
            .map_err(|e| Error::internal("parse nft -j list tables", e))?;
        let mut bridge = None;
        let mut inet = None;
        for item in v["nftables"].as_array().into_iter().flatten() {
            let t = &item["table"];
            if t["name"].as_str() != Some(self.table) {
                continue;
            }
            match t["family"].as_str() {
                Some("bridge") => bridge = t["handle"].as_u64(),
                Some("inet") => inet = t["handle"].as_u64(),
                _ => {}
            }
        }
        Ok(bridge.zip(inet))
    }

    fn full_script(&self, desired: &Desired) -> String {
        let t = self.table;
        let mut s = String::new();
        for family in ["bridge", "inet"] {
            s += &format!("table {family} {t}\ndelete table {family} {t}\n");
        }
        s += &format!(
            "table bridge {t} {{\n\
             \tmap from_port {{ type ifname : verdict; }}\n\
             \tmap to_port {{ type ifname : verdict; }}\n\
             \tchain b_pre {{\n\t\ttype filter hook prerouting priority -200; policy accept;\n\t\tiifname vmap @from_port\n\t}}\n\
             \tchain b_fwd {{\n\t\ttype filter hook forward priority -200; policy accept;\n\t\toifname vmap @to_port\n\t}}\n\
             }}\n\
             table inet {t} {{\n\
             \tmap from_port {{ type mark : verdict; }}\n\
             \tmap to_port {{ type mark : verdict; }}\n\
             \tmap zones {{ typeof iifname : ct zone; }}\n\
             \tchain raw_pre {{\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t\tiifname \"brq*\" ct zone set iifname map @zones\n\t}}\n\
             \tchain egress_hook {{\n\t\ttype filter hook forward priority -1; policy accept;\n\t\tiifname \"brq*\" meta mark & 0xffff0000 vmap @from_port\n\t}}\n\
             \tchain ingress_hook {{\n\t\ttype filter hook forward priority 0; policy accept;\n\t\toifname \"brq*\" meta mark & 0x0000ffff vmap @to_port\n\t}}\n\
             }}\n"
        );
        s + &self.diff_script(&BTreeMap::new(), &BTreeMap::new(), desired)
    }

    /// The statements turning `applied` into `desired`, in an order the kernel accepts in
    /// one transaction: declare new objects, fill sets, fill chains, rewrite maps, then
    /// delete (chains before the sets their rules used).
    fn diff_script(
        &self,
        applied: &BTreeMap<Key, Obj>,
        applied_maps: &BTreeMap<Key, Vec<String>>,
        desired: &Desired,
    ) -> String {
        let t = self.table;
        let mut declare = String::new();
        let mut fill_sets = String::new();
        let mut fill_chains = String::new();
        for ((family, name), obj) in &desired.objs {
            let old = applied.get(&(*family, name.clone()));
            if old == Some(obj) {
                continue;
            }
            match obj {
                Obj::Chain(rules) => {
                    if old.is_none() {
                        declare += &format!("add chain {family} {t} {name}\n");
                    } else {
                        fill_chains += &format!("flush chain {family} {t} {name}\n");
                    }
                    for rule in rules {
                        fill_chains += &format!("add rule {family} {t} {name} {rule}\n");
                    }
                }
                Obj::Set(ty, elems) => {
                    if old.is_none() {
                        declare += &format!(
                            "add set {family} {t} {name} {{ type {ty}; flags interval; }}\n"
                        );
                    } else {
                        fill_sets += &format!("flush set {family} {t} {name}\n");
                    }
                    if !elems.is_empty() {
                        fill_sets += &format!(
                            "add element {family} {t} {name} {{ {} }}\n",
                            elems.join(", ")
                        );
                    }
                }
            }
        }
        let mut maps = String::new();
        for (key, elems) in &desired.maps {
            if applied_maps.get(key) == Some(elems) {
                continue;
            }
            let (family, name) = key;
            if applied_maps.contains_key(key) {
                maps += &format!("flush map {family} {t} {name}\n");
            }
            if !elems.is_empty() {
                maps += &format!(
                    "add element {family} {t} {name} {{ {} }}\n",
                    elems.join(", ")
                );
            }
        }
        // Port chains reference group chains, which reference sets: delete in that order.
        let mut gone: Vec<(&Key, &Obj)> = applied
            .iter()
            .filter(|(k, _)| !desired.objs.contains_key(*k))
            .collect();
        gone.sort_by_key(|((_, name), obj)| match obj {
            Obj::Chain(_) if name.starts_with('p') => 0,
            Obj::Chain(_) => 1,
            Obj::Set(..) => 2,
        });
        let mut delete = String::new();
        for ((family, name), obj) in gone {
            match obj {
                Obj::Chain(_) => {
                    delete += &format!(
                        "flush chain {family} {t} {name}\ndelete chain {family} {t} {name}\n"
                    )
                }
                Obj::Set(..) => delete += &format!("delete set {family} {t} {name}\n"),
            }
        }
        declare + &fill_sets + &fill_chains + &maps + &delete
    }
}

/// Gives every port with security or QoS a stable index (1..=0xffff) and frees the indexes
/// of ports gone.
fn assign_indexes(index: &mut BTreeMap<String, u32>, ports: &[PortPlan]) {
    let wanted: BTreeSet<&str> = ports
        .iter()
        .filter(|p| needs_chains(p))
        .map(|p| p.id.as_str())
        .collect();
    assign(index, wanted);
}

/// Gives each of `wanted` a stable number in 1..=0xffff, reusing those of ids gone.
fn assign(index: &mut BTreeMap<String, u32>, wanted: BTreeSet<&str>) {
    index.retain(|id, _| wanted.contains(id.as_str()));
    let mut used: BTreeSet<u32> = index.values().copied().collect();
    let mut next = 1;
    for id in wanted {
        if index.contains_key(id) {
            continue;
        }
        while used.contains(&next) {
            next += 1;
        }
        if next > 0xffff {
            tracing::error!(id, "more than 65535 filtered ports or networks on one host");
            return;
        }
        used.insert(next);
        index.insert(id.to_string(), next);
    }
}

fn needs_chains(p: &PortPlan) -> bool {
    p.security.is_some() || p.qos.as_ref().is_some_and(|q| q.egress.is_some())
}

fn desired(
    plan: &HostPlan,
    index: &BTreeMap<String, u32>,
    zones: &BTreeMap<String, u32>,
) -> Desired {
    let mut objs = BTreeMap::new();
    let mut maps: BTreeMap<Key, Vec<String>> = MAPS
        .iter()
        .map(|(f, n, _)| ((*f, n.to_string()), Vec::new()))
        .collect();
    // Each network's traffic is tracked in a zone of its own: overlapping addresses of two
    // networks never share a connection.
    for net in &plan.networks {
        if let Some(zone) = zones.get(&net.id) {
            let bridge = names::bridge(&net.id);
            push(&mut maps, "inet", "zones", format!("\"{bridge}\" : {zone}"));
        }
    }
    let groups: BTreeMap<&str, &SecurityGroupPlan> = plan
        .security_groups
        .iter()
        .map(|g| (g.id.as_str(), g))
        .collect();
    let mut used_groups = BTreeSet::new();
    for port in &plan.ports {
        let Some(&idx) = index.get(&port.id) else {
            continue;
        };
        let tap = names::tap(&port.id);
        let src_mark = idx << 16;
        objs.insert(
            ("bridge", format!("ps-{}", port.id)),
            Obj::Chain(source_rules(port, src_mark)),
        );
        push(
            &mut maps,
            "bridge",
            "from_port",
            format!("\"{tap}\" : jump ps-{}", port.id),
        );
        let Some(security) = &port.security else {
            continue;
        };
        objs.insert(
            ("bridge", format!("pd-{}", port.id)),
            Obj::Chain(vec![format!(
                "meta mark set meta mark & 0xffff0000 | {idx:#010x}"
            )]),
        );
        push(
            &mut maps,
            "bridge",
            "to_port",
            format!("\"{tap}\" : jump pd-{}", port.id),
        );
        let port_groups: Vec<&SecurityGroupPlan> = security
            .security_groups
            .iter()
            .filter_map(|g| groups.get(g.as_str()).copied())
            .collect();
        used_groups.extend(port_groups.iter().map(|g| g.id.as_str()));
        // Neutron's groups are stateful unless all of a port's groups say otherwise.
        let stateful = port_groups.is_empty() || port_groups.iter().any(|g| g.stateful);
        for dir in [Direction::Egress, Direction::Ingress] {
            let (chain, gchain, map, key) = match dir {
                Direction::Egress => ("pe", "ge", "from_port", src_mark),
                Direction::Ingress => ("pi", "gi", "to_port", idx),
            };
            let mut rules = Vec::new();
            if stateful {
                rules.push("ct state established,related accept".to_string());
                rules.push("ct state invalid drop".to_string());
            }
            rules.extend(always_allowed(dir).iter().map(|r| r.to_string()));
            for g in &port_groups {
                rules.push(format!("jump {gchain}-{}", g.id));
            }
            rules.push("drop".into());
            objs.insert(("inet", format!("{chain}-{}", port.id)), Obj::Chain(rules));
            push(
                &mut maps,
                "inet",
                map,
                format!("{key:#010x} : jump {chain}-{}", port.id),
            );
        }
    }
    // Groups used by ports, and those their rules name as remote groups (for the sets).
    let mut set_groups = used_groups.clone();
    for g in &used_groups {
        if let Some(g) = groups.get(g) {
            set_groups.extend(g.rules.iter().filter_map(|r| r.remote_group_id.as_deref()));
        }
    }
    for g in set_groups {
        let Some(group) = groups.get(g) else { continue };
        let (v4, v6) = split_aggregate(group.member_ips.iter().map(String::as_str));
        objs.insert(("inet", format!("m4-{g}")), Obj::Set("ipv4_addr", v4));
        objs.insert(("inet", format!("m6-{g}")), Obj::Set("ipv6_addr", v6));
    }
    for g in used_groups {
        let Some(group) = groups.get(g) else { continue };
        for (dir, prefix) in [(Direction::Ingress, "gi"), (Direction::Egress, "ge")] {
            let rules = group
                .rules
                .iter()
                .filter(|r| r.direction == dir)
                .filter_map(|r| rule_match(r, &groups))
                .map(|m| format!("{m} accept"))
                .collect();
            objs.insert(("inet", format!("{prefix}-{g}")), Obj::Chain(rules));
        }
    }
    Desired { objs, maps }
}

fn push(maps: &mut BTreeMap<Key, Vec<String>>, family: &'static str, name: &str, elem: String) {
    maps.entry((family, name.to_string()))
        .or_default()
        .push(elem);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_stable_and_reused() {
        let port = |id: &str| PortPlan {
            id: id.into(),
            network_id: "n".into(),
            mac_address: "fa:16:3e:00:00:01".into(),
            fixed_ips: vec![],
            admin_state_up: true,
            device_id: "d".into(),
            security: Some(network_model::dataplane::PortSecurity {
                security_groups: vec![],
                allowed_address_pairs: vec![],
            }),
            qos: None,
        };
        let mut index = BTreeMap::new();
        assign_indexes(&mut index, &[port("a"), port("b")]);
        assert_eq!(index["a"], 1);
        assign_indexes(&mut index, &[port("b"), port("c")]);
        assert_eq!((index["b"], index["c"]), (2, 1));
    }

    fn shared_group_plan(ports: usize, rules: u16) -> HostPlan {
        use network_model::dataplane::{PortSecurity, RulePlan};
        let port = |i: usize| PortPlan {
            id: format!("p{i:03}"),
            network_id: "n".into(),
            mac_address: format!("fa:16:3e:00:01:{:02x}", i % 256),
            fixed_ips: vec![],
            admin_state_up: true,
            device_id: "d".into(),
            security: Some(PortSecurity {
                security_groups: vec!["g".into()],
                allowed_address_pairs: vec![],
            }),
            qos: None,
        };
        let rule = |i: u16| RulePlan {
            id: format!("r{i:04}"),
            direction: Direction::Ingress,
            ip_version: 4,
            protocol: Some("tcp".into()),
            port_range_min: Some(1000 + i),
            port_range_max: Some(1000 + i),
            remote_ip_prefix: None,
            remote_group_id: Some("g".into()),
        };
        HostPlan {
            ports: (0..ports).map(port).collect(),
            security_groups: vec![SecurityGroupPlan {
                id: "g".into(),
                stateful: true,
                rules: (0..rules).map(rule).collect(),
                member_ips: vec!["10.0.0.5".into()],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_group_change_rewrites_only_that_group() {
        let fw = Firewall {
            ns: None,
            table: "t",
        };
        let mut index = BTreeMap::new();
        let mut plan = shared_group_plan(50, 1000);
        assign_indexes(&mut index, &plan.ports);
        let zones = BTreeMap::new();
        let first = desired(&plan, &index, &zones);
        let full = fw.full_script(&first);
        assert!(full.contains("delete table inet t"));
        assert_eq!(full.matches("add rule inet t gi-g ").count(), 1000);

        // One rule changed: the group's chain is rewritten, no port chain is touched.
        plan.security_groups[0].rules[7].port_range_min = Some(7);
        plan.security_groups[0].rules[7].port_range_max = Some(7);
        let second = desired(&plan, &index, &zones);
        let diff = fw.diff_script(&first.objs, &first.maps, &second);
        assert!(
            diff.starts_with("flush chain inet t gi-g\n"),
            "{}",
            &diff[..200]
        );
        assert_eq!(diff.lines().count(), 1001);
        assert!(!diff.contains(" p0"));

        // A membership change is a set update.
        plan.security_groups[0].member_ips.push("10.0.0.9".into());
        let third = desired(&plan, &index, &zones);
        let diff = fw.diff_script(&second.objs, &second.maps, &third);
        assert_eq!(
            diff,
            "flush set inet t m4-g\nadd element inet t m4-g { 10.0.0.5, 10.0.0.9 }\n"
        );

        // The same plan again: nothing to send.
        assert_eq!(
            fw.diff_script(&third.objs, &third.maps, &desired(&plan, &index, &zones)),
            ""
        );

        // A port gone: its chains are deleted after the maps stop naming them.
        plan.ports.pop();
        assign_indexes(&mut index, &plan.ports);
        let fourth = desired(&plan, &index, &zones);
        let diff = fw.diff_script(&third.objs, &third.maps, &fourth);
        let map_at = diff.find("flush map inet t from_port").unwrap();
        let delete_at = diff.find("delete chain inet t pe-p049").unwrap();
        assert!(map_at < delete_at, "{diff}");
        assert!(!diff.contains("chain inet t pe-p048"), "{diff}");
    }
}
