//! Devices: a bridge per network with its VXLAN device or uplink, persistent taps of
//! instance ports, veth legs of DHCP and router namespaces, and their addresses.

use std::collections::BTreeMap;

use common_error::Result;
use ipnet::IpNet;
use network_model::dataplane::{NetworkPlan, Segment};
use network_model::names;

use crate::cmd::{self, ip, Link, Ns};

/// VXLAN's IANA port.
pub(crate) const VXLAN_PORT: &str = "4789";

/// The links of one namespace by name, read once per apply and kept current by the
/// functions that change them.
pub(crate) struct Links {
    pub ns: Option<String>,
    pub by_name: BTreeMap<String, Link>,
}

impl Links {
    pub(crate) async fn read(ns: Ns<'_>) -> Result<Self> {
        let by_name = cmd::links(ns)
            .await?
            .into_iter()
            .map(|l| (l.ifname.clone(), l))
            .collect();
        Ok(Links {
            ns: ns.map(str::to_string),
            by_name,
        })
    }

    fn ns(&self) -> Ns<'_> {
        self.ns.as_deref()
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Link> {
        self.by_name.get(name)
    }

    /// Sets master, MTU and up/down of an existing device where they differ, in one command.
    pub(crate) async fn settle(
        &mut self,
        name: &str,
        master: Option<&str>,
        mtu: Option<u32>,
        up: bool,
    ) -> Result<()> {
        let Some(link) = self.by_name.get(name) else {
            return Err(common_error::Error::Internal(format!(
                "device {name} is missing"
            )));
        };
        let mut args: Vec<String> = vec!["link".into(), "set".into(), "dev".into(), name.into()];
        if let Some(m) = master {
            if link.master.as_deref() != Some(m) {
                args.extend(["master".into(), m.into()]);
            }
        }
        if let Some(mtu) = mtu {
            if link.mtu != mtu {
                args.extend(["mtu".into(), mtu.to_string()]);
            }
        }
        if link.is_up() != up {
            args.push(if up { "up" } else { "down" }.into());
        }
        if args.len() > 4 {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            ip(self.ns(), &refs).await?;
            let link = self.refresh(name).await?;
            if let Some(l) = link {
                self.by_name.insert(name.into(), l);
            }
        }
        Ok(())
    }

    async fn refresh(&self, name: &str) -> Result<Option<Link>> {
        let out = ip(self.ns(), &["-d", "-j", "link", "show", "dev", name]).await?;
        let mut links: Vec<Link> = serde_json::from_str(&out)
            .map_err(|e| common_error::Error::internal("parse ip -j link show", e))?;
        Ok(links.pop())
    }

    async fn reread(&mut self, name: &str) -> Result<()> {
        match self.refresh(name).await? {
            Some(l) => {
                self.by_name.insert(name.into(), l);
            }
            None => {
                self.by_name.remove(name);
            }
        }
        Ok(())
    }

    pub(crate) async fn delete(&mut self, name: &str) -> Result<()> {
        if self.by_name.contains_key(name) {
            ip(self.ns(), &["link", "delete", "dev", name]).await?;
            self.by_name.remove(name);
        }
        Ok(())
    }

    /// The bridge of `net` with its MTU and admin state, and its uplink: the VXLAN device
    /// (with the peers' flood entries) or the mapped physical interface.
    pub(crate) async fn ensure_network(
        &mut self,
        net: &NetworkPlan,
        underlay: Option<&str>,
        mappings: &BTreeMap<String, String>,
    ) -> Result<()> {
        let br = names::bridge(&net.id);
        if self.get(&br).is_none() {
            ip(
                self.ns(),
                &[
                    "link",
                    "add",
                    &br,
                    "type",
                    "bridge",
                    "stp_state",
                    "0",
                    "forward_delay",
                    "0",
                ],
            )
            .await?;
            self.reread(&br).await?;
        }
        self.settle(&br, None, Some(net.mtu), net.admin_state_up)
            .await?;
        match &net.segment {
            Segment::Local => {}
            Segment::Flat { physical_network } => {
                if let Some(dev) = mappings.get(physical_network) {
                    if self.get(dev).is_none() {
                        self.reread(dev).await?;
                    }
                    self.settle(dev, Some(&br), None, true).await?;
                }
            }
            Segment::Vxlan { vni } => {
                let dev = names::vxlan(*vni);
                let vni = vni.to_string();
                if self.get(&dev).is_none() {
                    let mut args = vec![
                        "link", "add", &dev, "type", "vxlan", "id", &vni, "dstport", VXLAN_PORT,
                    ];
                    if let Some(local) = underlay {
                        args.extend(["local", local]);
                    }
                    args.push("nolearning");
                    ip(self.ns(), &args).await?;
                    self.reread(&dev).await?;
                }
                self.settle(&dev, Some(&br), Some(net.mtu), true).await?;
                let peers = if underlay.is_some() {
                    net.vxlan_peers.as_slice()
                } else {
                    &[]
                };
                self.ensure_flood(&dev, peers).await?;
            }
        }
        Ok(())
    }

    /// Default (all-zero MAC) forwarding entries of a VXLAN device: one per peer.
    async fn ensure_flood(&self, dev: &str, peers: &[String]) -> Result<()> {
        let out = cmd::run(
            self.ns(),
            "bridge",
            &["-j", "fdb", "show", "dev", dev],
            None,
        )
        .await?;
        let entries: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap_or_default();
        let current: Vec<String> = entries
            .iter()
            .filter(|e| e["mac"].as_str() == Some("00:00:00:00:00:00"))
            .filter_map(|e| e["dst"].as_str().map(str::to_string))
            .collect();
        for peer in peers.iter().filter(|p| !current.contains(p)) {
            let args = [
                "fdb",
                "append",
                "00:00:00:00:00:00",
                "dev",
                dev,
                "dst",
                peer.as_str(),
            ];
            cmd::run(self.ns(), "bridge", &args, None).await?;
        }
        for old in current.iter().filter(|c| !peers.contains(c)) {
            let args = [
                "fdb",
                "del",
                "00:00:00:00:00:00",
                "dev",
                dev,
                "dst",
                old.as_str(),
            ];
            cmd::run(self.ns(), "bridge", &args, None).await?;
        }
        Ok(())
    }

    /// An instance port's tap on `bridge`: created persistent when missing; any existing
    /// device by that name is kept (QEMU may hold it) and only attached and set up/down.
    pub(crate) async fn ensure_tap(
        &mut self,
        tap: &str,
        bridge: &str,
        mtu: u32,
        up: bool,
    ) -> Result<()> {
        if self.get(tap).is_none() {
            ip(self.ns(), &["tuntap", "add", "dev", tap, "mode", "tap"]).await?;
            self.reread(tap).await?;
        }
        self.settle(tap, Some(bridge), Some(mtu), up).await
    }

    /// A veth joining a bridge to another namespace (see [`Leg`]). A half pair left by a
    /// crash is replaced.
    pub(crate) async fn ensure_leg(&mut self, leg: Leg<'_>) -> Result<()> {
        let Leg {
            outer,
            bridge,
            ns,
            inner,
            mac,
            mtu,
            up,
        } = leg;
        let mut inside = Links::read(Some(ns)).await?;
        let whole =
            self.get(outer).is_some_and(|l| l.kind() == "veth") && inside.get(inner).is_some();
        if !whole {
            self.delete(outer).await?;
            inside.delete(inner).await?;
            let mtu = mtu.to_string();
            ip(
                self.ns(),
                &[
                    "link", "add", outer, "mtu", &mtu, "type", "veth", "peer", "name", inner,
                    "mtu", &mtu, "netns", ns,
                ],
            )
            .await?;
            self.reread(outer).await?;
            inside.reread(inner).await?;
        }
        self.settle(outer, bridge, Some(mtu), true).await?;
        if bridge.is_none() && self.get(outer).is_some_and(|l| l.master.is_some()) {
            ip(self.ns(), &["link", "set", "dev", outer, "nomaster"]).await?;
        }
        if let Some(mac) = mac {
            let has_mac = inside
                .get(inner)
                .and_then(|l| l.address.as_deref())
                .is_some_and(|a| a.eq_ignore_ascii_case(mac));
            if !has_mac {
                ip(Some(ns), &["link", "set", "dev", inner, "address", mac]).await?;
            }
        }
        inside.settle(inner, None, Some(mtu), up).await
    }
}

/// A veth pair: `outer` in the links' namespace on `bridge` (none: detached), `inner` in
/// namespace `ns` with `mac` (none: the kernel's), both with `mtu`; `inner` up or down.
pub(crate) struct Leg<'a> {
    pub outer: &'a str,
    pub bridge: Option<&'a str>,
    pub ns: &'a str,
    pub inner: &'a str,
    pub mac: Option<&'a str>,
    pub mtu: u32,
    pub up: bool,
}

/// Makes the global addresses of `dev` in `ns` exactly `want` (`addr/len`).
pub(crate) async fn ensure_addresses(ns: Ns<'_>, dev: &str, want: &[String]) -> Result<()> {
    let parse = |a: &str| a.parse::<IpNet>().ok();
    let want: Vec<IpNet> = want.iter().filter_map(|a| parse(a)).collect();
    let have: Vec<IpNet> = cmd::addresses(ns, dev)
        .await?
        .iter()
        .filter_map(|a| parse(a))
        .collect();
    for a in want.iter().filter(|a| !have.contains(a)) {
        let text = a.to_string();
        let mut args = vec!["addr", "add", &text, "dev", dev];
        if matches!(a, IpNet::V6(_)) {
            args.push("nodad");
        }
        ip(ns, &args).await?;
    }
    for a in have.iter().filter(|a| !want.contains(a)) {
        ip(ns, &["addr", "del", &a.to_string(), "dev", dev]).await?;
    }
    Ok(())
}

/// `ip` with the prefix length of `subnet_cidr`: `10.0.0.5` in `10.0.0.0/24` → `10.0.0.5/24`.
pub(crate) fn with_prefix(ip: &str, subnet_cidr: &str) -> Option<String> {
    let net: IpNet = subnet_cidr.parse().ok()?;
    let addr: std::net::IpAddr = ip.parse().ok()?;
    Some(format!("{addr}/{}", net.prefix_len()))
}
