//! `ResourceFilter`: the host still has room for every requested resource class.

use crate::{Filter, HostState, RequestSpec};

/// Placement already checked capacity when it returned the candidates, but host states can
/// be stale between requests (several builds scheduled from one candidate list): a host
/// passes only when capacity − used covers every requested amount. A class the host does
/// not have counts as 0 free; requests of 0 or less always fit.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResourceFilter;

impl Filter for ResourceFilter {
    fn name(&self) -> &'static str {
        "ResourceFilter"
    }

    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        spec.resources
            .iter()
            .all(|(class, amount)| *amount <= 0 || host.free(class) >= *amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{host, spec, with_used};

    #[test]
    fn free_capacity_must_cover_every_class() {
        let cases = [
            // (class used, amount used, extra request, passes)
            ("VCPU", 0, None, true),
            ("VCPU", 7, None, true),
            ("VCPU", 8, None, false),
            ("MEMORY_MB", 7680, None, true),
            ("MEMORY_MB", 7681, None, false),
            ("DISK_GB", 159, None, true),
            ("DISK_GB", 160, None, false),
            // A class the host lacks.
            ("VCPU", 0, Some(("VGPU", 1)), false),
            ("VCPU", 0, Some(("VGPU", 0)), true),
            // Over-allocated already (stale inventory shrink).
            ("VCPU", 9, None, false),
        ];
        for (class, used, extra, want) in cases {
            let h = with_used(host("h1"), class, used);
            let mut s = spec();
            if let Some((c, a)) = extra {
                s.resources.insert(c.to_string(), a);
            }
            assert_eq!(
                ResourceFilter.passes(&h, &s),
                want,
                "{class} used {used}, extra {extra:?}"
            );
        }
    }
}
