//! `ServerGroupAffinityFilter`: members of an `affinity` group share one host.

use crate::{Filter, HostState, RequestSpec};

/// For a group with the hard `affinity` policy whose members are already placed, only the
/// hosts running them pass; the first member goes anywhere. Other policies pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerGroupAffinityFilter;

impl Filter for ServerGroupAffinityFilter {
    fn name(&self) -> &'static str {
        "ServerGroupAffinityFilter"
    }

    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        match &spec.group {
            Some(g) if g.policy == "affinity" && !g.member_hosts.is_empty() => {
                g.member_hosts.contains(&host.host)
            }
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{group_spec, host, spec};

    #[test]
    fn affinity_keeps_members_on_their_host() {
        let cases: [(&str, &[&str], &str, bool); 7] = [
            ("affinity", &[], "h1", true),
            ("affinity", &["h1"], "h1", true),
            ("affinity", &["h1", "h1"], "h2", false),
            ("affinity", &["h2"], "h1", false),
            ("soft-affinity", &["h2"], "h1", true),
            ("anti-affinity", &["h2"], "h1", true),
            ("anti-affinity", &["h1"], "h1", true),
        ];
        for (policy, members, name, want) in cases {
            let s = group_spec(policy, members, None);
            assert_eq!(
                ServerGroupAffinityFilter.passes(&host(name), &s),
                want,
                "{policy} members on {members:?}, host {name}"
            );
        }
        assert!(
            ServerGroupAffinityFilter.passes(&host("h1"), &spec()),
            "no group"
        );
    }
}
