//! `AggregateMultiTenancyIsolation`: hosts reserved for some projects take only theirs.

use crate::{Filter, HostState, RequestSpec};

/// A host whose aggregates carry `filter_tenant_id` metadata (or any key starting with it:
/// `filter_tenant_id2`, ... — Nova allows several keys; each value may be a comma-separated
/// list) accepts only requests from those projects. Hosts without such metadata accept
/// every project.
#[derive(Debug, Clone, Copy, Default)]
pub struct AggregateMultiTenancyIsolation;

impl Filter for AggregateMultiTenancyIsolation {
    fn name(&self) -> &'static str {
        "AggregateMultiTenancyIsolation"
    }

    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        let mut restricted = false;
        for (key, values) in &host.aggregate_metadata {
            if !key.starts_with("filter_tenant_id") {
                continue;
            }
            for project in values.iter().flat_map(|v| v.split(',')).map(str::trim) {
                if project.is_empty() {
                    continue;
                }
                if project == spec.project_id {
                    return true;
                }
                restricted = true;
            }
        }
        !restricted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{host, spec};

    /// (aggregate metadata, passes for project p1)
    type Case = (&'static [(&'static str, &'static [&'static str])], bool);

    #[test]
    fn isolated_hosts_take_only_their_projects() {
        let cases: [Case; 9] = [
            (&[], true),
            (&[("availability_zone", &["az1"])], true),
            (&[("filter_tenant_id", &["p1"])], true),
            (&[("filter_tenant_id", &["p2"])], false),
            (&[("filter_tenant_id", &["p2", "p1"])], true),
            (&[("filter_tenant_id", &["p2,p1"])], true),
            (&[("filter_tenant_id", &["p2, p3"])], false),
            (
                &[
                    ("filter_tenant_id", &["p2"]),
                    ("filter_tenant_id2", &["p1"]),
                ],
                true,
            ),
            (&[("filter_tenant_id", &[""])], true),
        ];
        for (metadata, want) in cases {
            let h = HostState {
                aggregate_metadata: metadata
                    .iter()
                    .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
                    .collect(),
                ..host("h1")
            };
            assert_eq!(
                AggregateMultiTenancyIsolation.passes(&h, &spec()),
                want,
                "metadata {metadata:?}, project p1"
            );
        }
    }
}
