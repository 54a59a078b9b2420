//! `ServerGroupAntiAffinityFilter`: members of an `anti-affinity` group spread over hosts.

use crate::{Filter, HostState, RequestSpec};

/// For a group with the hard `anti-affinity` policy, only hosts running fewer than
/// `max_server_per_host` (default 1) members pass. A host already running the instance
/// being scheduled passes (a resize may stay on its host). Other policies pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerGroupAntiAffinityFilter;

impl Filter for ServerGroupAntiAffinityFilter {
    fn name(&self) -> &'static str {
        "ServerGroupAntiAffinityFilter"
    }

    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        let Some(group) = spec.group.as_ref().filter(|g| g.policy == "anti-affinity") else {
            return true;
        };
        if !spec.instance_uuid.is_empty() && host.instances.contains(&spec.instance_uuid) {
            return true;
        }
        let max = group.max_server_per_host.unwrap_or(1).max(1);
        i64::try_from(group.members_on(&host.host)).unwrap_or(i64::MAX) < max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{group_spec, host, spec};

    /// (policy, hosts of the members, max_server_per_host, host, passes)
    type Case = (
        &'static str,
        &'static [&'static str],
        Option<i64>,
        &'static str,
        bool,
    );

    #[test]
    fn anti_affinity_allows_max_server_per_host_members() {
        let cases: [Case; 10] = [
            ("anti-affinity", &[], None, "h1", true),
            ("anti-affinity", &["h2"], None, "h1", true),
            ("anti-affinity", &["h1"], None, "h1", false),
            ("anti-affinity", &["h1"], Some(1), "h1", false),
            ("anti-affinity", &["h1"], Some(2), "h1", true),
            ("anti-affinity", &["h1", "h1"], Some(2), "h1", false),
            ("anti-affinity", &["h1", "h2", "h3"], Some(2), "h1", true),
            // Nonsense limits behave like the default.
            ("anti-affinity", &["h1"], Some(0), "h1", false),
            ("soft-anti-affinity", &["h1"], None, "h1", true),
            ("affinity", &["h1"], None, "h1", true),
        ];
        for (policy, members, max, name, want) in cases {
            let s = group_spec(policy, members, max);
            assert_eq!(
                ServerGroupAntiAffinityFilter.passes(&host(name), &s),
                want,
                "{policy} max {max:?} members on {members:?}, host {name}"
            );
        }
        assert!(
            ServerGroupAntiAffinityFilter.passes(&host("h1"), &spec()),
            "no group"
        );
    }

    #[test]
    fn the_instance_own_host_passes_for_a_resize() {
        let s = group_spec("anti-affinity", &["h1"], None);
        let mut h = host("h1");
        h.instances = vec!["other".into(), s.instance_uuid.clone()];
        assert!(ServerGroupAntiAffinityFilter.passes(&h, &s));
    }
}
