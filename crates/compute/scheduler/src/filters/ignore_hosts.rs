//! `IgnoreHostsFilter`: hosts the request asks to avoid (a retry after a failed claim or
//! build).

use crate::{Filter, HostState, RequestSpec};

/// Drops the hosts named in `spec.ignore_hosts`.
#[derive(Debug, Clone, Copy, Default)]
pub struct IgnoreHostsFilter;

impl Filter for IgnoreHostsFilter {
    fn name(&self) -> &'static str {
        "IgnoreHostsFilter"
    }

    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        !spec.ignore_hosts.contains(&host.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{host, spec};

    #[test]
    fn ignored_hosts_are_dropped() {
        let cases: [(&[&str], &str, bool); 4] = [
            (&[], "h1", true),
            (&["h2"], "h1", true),
            (&["h2", "h1"], "h1", false),
            (&["h1"], "h1", false),
        ];
        for (ignore, name, want) in cases {
            let s = RequestSpec {
                ignore_hosts: ignore.iter().map(|h| h.to_string()).collect(),
                ..spec()
            };
            assert_eq!(
                IgnoreHostsFilter.passes(&host(name), &s),
                want,
                "ignore {ignore:?}, host {name}"
            );
        }
    }
}
