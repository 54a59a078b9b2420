//! `ServerGroupSoftAffinityWeigher`: members of a `soft-affinity` group prefer one host.

use crate::{HostState, RequestSpec, Weigher};

/// For a group with the `soft-affinity` policy, a host weighs the number of group members
/// it runs (more is better); 0 for every other request. Unlike the affinity filter it
/// never excludes a host.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerGroupSoftAffinityWeigher;

impl Weigher for ServerGroupSoftAffinityWeigher {
    fn name(&self) -> &'static str {
        "ServerGroupSoftAffinityWeigher"
    }

    fn weigh(&self, host: &HostState, spec: &RequestSpec) -> f64 {
        match &spec.group {
            Some(g) if g.policy == "soft-affinity" => g.members_on(&host.host) as f64,
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{group_spec, host, spec};

    #[test]
    fn weight_is_the_members_on_the_host() {
        let cases: [(&str, &[&str], &str, f64); 6] = [
            ("soft-affinity", &[], "h1", 0.0),
            ("soft-affinity", &["h2"], "h1", 0.0),
            ("soft-affinity", &["h1"], "h1", 1.0),
            ("soft-affinity", &["h1", "h2", "h1"], "h1", 2.0),
            ("soft-anti-affinity", &["h1"], "h1", 0.0),
            ("affinity", &["h1"], "h1", 0.0),
        ];
        for (policy, members, name, want) in cases {
            let s = group_spec(policy, members, None);
            assert_eq!(
                ServerGroupSoftAffinityWeigher.weigh(&host(name), &s),
                want,
                "{policy} members on {members:?}, host {name}"
            );
        }
        assert_eq!(
            ServerGroupSoftAffinityWeigher.weigh(&host("h1"), &spec()),
            0.0
        );
    }
}
