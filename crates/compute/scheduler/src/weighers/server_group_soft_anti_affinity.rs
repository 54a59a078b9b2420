//! `ServerGroupSoftAntiAffinityWeigher`: members of a `soft-anti-affinity` group prefer
//! different hosts.

use crate::{HostState, RequestSpec, Weigher};

/// For a group with the `soft-anti-affinity` policy, a host weighs minus the number of
/// group members it runs (fewer is better); 0 for every other request. Unlike the
/// anti-affinity filter it never excludes a host.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerGroupSoftAntiAffinityWeigher;

impl Weigher for ServerGroupSoftAntiAffinityWeigher {
    fn name(&self) -> &'static str {
        "ServerGroupSoftAntiAffinityWeigher"
    }

    fn weigh(&self, host: &HostState, spec: &RequestSpec) -> f64 {
        match &spec.group {
            Some(g) if g.policy == "soft-anti-affinity" => -(g.members_on(&host.host) as f64),
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{group_spec, host, spec};

    #[test]
    fn weight_is_minus_the_members_on_the_host() {
        let cases: [(&str, &[&str], &str, f64); 6] = [
            ("soft-anti-affinity", &[], "h1", 0.0),
            ("soft-anti-affinity", &["h2"], "h1", 0.0),
            ("soft-anti-affinity", &["h1"], "h1", -1.0),
            ("soft-anti-affinity", &["h1", "h2", "h1"], "h1", -2.0),
            ("soft-affinity", &["h1"], "h1", 0.0),
            ("anti-affinity", &["h1"], "h1", 0.0),
        ];
        for (policy, members, name, want) in cases {
            let s = group_spec(policy, members, None);
            assert_eq!(
                ServerGroupSoftAntiAffinityWeigher.weigh(&host(name), &s),
                want,
                "{policy} members on {members:?}, host {name}"
            );
        }
        assert_eq!(
            ServerGroupSoftAntiAffinityWeigher.weigh(&host("h1"), &spec()),
            0.0
        );
    }
}
