//! `ComputeFilter`: only hosts whose compute service is enabled and up.

use crate::{Filter, HostState, RequestSpec};

/// Drops hosts whose compute service is disabled by an operator or down (no recent
/// heartbeat, or forced down).
#[derive(Debug, Clone, Copy, Default)]
pub struct ComputeFilter;

impl Filter for ComputeFilter {
    fn name(&self) -> &'static str {
        "ComputeFilter"
    }

    fn passes(&self, host: &HostState, _spec: &RequestSpec) -> bool {
        !host.disabled && host.up
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{host, spec};

    #[test]
    fn only_enabled_and_up_hosts_pass() {
        let cases = [
            // (disabled, up, passes)
            (false, true, true),
            (true, true, false),
            (false, false, false),
            (true, false, false),
        ];
        for (disabled, up, want) in cases {
            let h = HostState {
                disabled,
                up,
                ..host("h1")
            };
            assert_eq!(
                ComputeFilter.passes(&h, &spec()),
                want,
                "disabled={disabled} up={up}"
            );
        }
    }
}
