//! Device and namespace names, shared by the network agent (which creates them) and the
//! compute agent (which hands the tap to QEMU). Linux limits interface names to 15 bytes, so
//! ids are cut to 11 characters after a 3–4 character prefix, as Neutron's Linux bridge
//! agent does.

/// Characters of a resource id kept in a device name.
pub const ID_LEN: usize = 11;

fn short(id: &str) -> &str {
    id.get(..ID_LEN).unwrap_or(id)
}

/// The bridge carrying a network on every host: `brq` + network id.
pub fn bridge(network_id: &str) -> String {
    format!("brq{}", short(network_id))
}

/// The tap (host side) of a port: `tap` + port id. For an instance port QEMU opens it; for a
/// DHCP or router port it is the bridge end of the veth pair.
pub fn tap(port_id: &str) -> String {
    format!("tap{}", short(port_id))
}

/// The namespace end of a DHCP port's veth: `ns-` + port id.
pub fn dhcp_leg(port_id: &str) -> String {
    format!("ns-{}", short(port_id))
}

/// The namespace end of a router interface's veth: `qr-` + port id.
pub fn router_leg(port_id: &str) -> String {
    format!("qr-{}", short(port_id))
}

/// The namespace end of a router gateway's veth: `qg-` + port id.
pub fn gateway_leg(port_id: &str) -> String {
    format!("qg-{}", short(port_id))
}

/// The VXLAN device of a segment: `vxlan-` + VNI.
pub fn vxlan(vni: u32) -> String {
    format!("vxlan-{vni}")
}

/// The DHCP namespace of a network. Namespace names are global on the host (not per network
/// namespace), so every name carries the agent's configured prefix.
pub fn dhcp_ns(prefix: &str, network_id: &str) -> String {
    format!("{prefix}qdhcp-{network_id}")
}

/// The namespace of a router.
pub fn router_ns(prefix: &str, router_id: &str) -> String {
    format!("{prefix}qrouter-{router_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_in_ifnamsiz() {
        let id = "3b5d8c1e-7f0a-4e2b-9c6d-0123456789ab";
        for n in [
            bridge(id),
            tap(id),
            dhcp_leg(id),
            router_leg(id),
            gateway_leg(id),
            vxlan(16_777_215),
        ] {
            assert!(n.len() <= 15, "{n}");
        }
        assert_eq!(tap(id), "tap3b5d8c1e-7f");
        assert_eq!(bridge(id), "brq3b5d8c1e-7f");
    }
}
