//! Per-project quotas (`/v2.0/quotas`) for every counted resource, L2 and L3 alike:
//! defaults from `[network] quota_*`, overrides in the store, usage counted from the
//! resource's table inside the write transaction that creates the resource.

use std::collections::BTreeMap;

use common_error::{Error, Result};
use network_db::WriteTx;
use network_model::{over_quota, QuotaSet};

use crate::{Caller, Network};

/// Every resource with a quota, and the table whose rows (by `project_id`) count against it
/// (`None`: shown but not counted).
pub const RESOURCES: &[(&str, Option<&str>)] = &[
    ("floatingip", Some("net_floatingip")),
    ("network", Some("net_network")),
    ("port", Some("net_port")),
    ("rbac_policy", None),
    ("router", Some("net_router")),
    ("security_group", Some("net_security_group")),
    ("security_group_rule", Some("net_security_group_rule")),
    ("subnet", Some("net_subnet")),
    ("subnetpool", None),
];

/// Usage and limit of one resource (`/details`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaDetail {
    pub limit: i64,
    pub used: i64,
    pub reserved: i64,
}

impl Network {
    /// The configured default limits.
    pub fn quota_defaults(&self) -> QuotaSet {
        let c = &self.cfg;
        RESOURCES
            .iter()
            .map(|(r, _)| {
                let v = match *r {
                    "floatingip" => c.quota_floatingip,
                    "network" => c.quota_network,
                    "port" => c.quota_port,
                    "router" => c.quota_router,
                    "security_group" => c.quota_security_group,
                    "security_group_rule" => c.quota_security_group_rule,
                    "subnet" => c.quota_subnet,
                    "rbac_policy" => 10,
                    _ => -1,
                };
                (r.to_string(), v)
            })
            .collect()
    }

    /// A project's effective limits (defaults with its overrides).
    pub async fn quota_get(&self, project: &str) -> Result<QuotaSet> {
        let mut q = self.quota_defaults();
        q.extend(self.store.quota_get(project).await?);
        Ok(q)
    }

    /// Effective limits of every project that has overrides.
    pub async fn quota_list(&self) -> Result<Vec<(String, QuotaSet)>> {
        let mut out = Vec::new();
        for p in self.store.quota_projects().await? {
            let q = self.quota_get(&p).await?;
            out.push((p, q));
        }
        Ok(out)
    }

    /// Sets limits (admin; the API checked policy). Unknown resources and values below -1
    /// are refused before anything is written.
    pub async fn quota_update(
        &self,
        project: &str,
        limits: &BTreeMap<String, i64>,
    ) -> Result<QuotaSet> {
        for (r, v) in limits {
            if !RESOURCES.iter().any(|(k, _)| k == r) {
                return Err(network_model::errors::bad_request(format!(
                    "Unrecognized attribute(s) '{r}'"
                )));
            }
            if *v < -1 {
                return Err(network_model::errors::invalid_attribute(
                    r,
                    format!("'{v}' should be greater than or equal to -1"),
                ));
            }
        }
        let mut tx = self.store.begin().await?;
        for (r, v) in limits {
            tx.quota_set(project, r, *v).await?;
        }
        tx.commit().await?;
        self.quota_get(project).await
    }

    /// Back to the defaults.
    pub async fn quota_delete(&self, project: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.quota_delete(project).await?;
        tx.commit().await
    }

    /// Limits with usage.
    pub async fn quota_details(&self, project: &str) -> Result<BTreeMap<String, QuotaDetail>> {
        let limits = self.quota_get(project).await?;
        let mut out = BTreeMap::new();
        for (r, table) in RESOURCES {
            let used = match table {
                Some(t) => self
                    .store
                    .count_owned(t, project)
                    .await
                    .unwrap_or_else(|e| {
                        // An L3 table not created yet counts as empty.
                        tracing::debug!(resource = r, error = %e, "quota usage unavailable");
                        0
                    }),
                None => 0,
            };
            out.insert(
                r.to_string(),
                QuotaDetail {
                    limit: limits.get(*r).copied().unwrap_or(-1),
                    used,
                    reserved: 0,
                },
            );
        }
        Ok(out)
    }

    /// Refuses to create `delta` more `resource`s for `project` over its limit, counting
    /// inside `tx` (so the count and the insert are one step). Any resource of [`RESOURCES`]
    /// may be checked; the L3 work calls it for routers and floating IPs.
    pub async fn quota_check(
        &self,
        tx: &mut WriteTx,
        project: &str,
        resource: &str,
        delta: i64,
    ) -> Result<()> {
        let Some((_, Some(table))) = RESOURCES.iter().find(|(r, _)| *r == resource) else {
            return Err(Error::internal(
                "quota check",
                format!("no counted resource {resource}"),
            ));
        };
        let mut limit = self.quota_defaults().get(resource).copied().unwrap_or(-1);
        if let Some(v) = tx.quota_get(project).await?.get(resource) {
            limit = *v;
        }
        if limit < 0 {
            return Ok(());
        }
        let used = tx.count_owned(table, project).await?;
        if used + delta > limit {
            return Err(over_quota(&[resource]));
        }
        Ok(())
    }

    /// Whether `caller` may read `project`'s quota (its own, or any for an admin).
    pub fn quota_visible(&self, caller: &Caller, project: &str) -> bool {
        caller.owns(project)
    }
}
