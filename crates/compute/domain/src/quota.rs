//! Quotas (Nova's `quota.py` with the DB driver) and usage reports
//! (`os-simple-tenant-usage`). Limits are the configured defaults overridden per project;
//! usage of instances, cores and ram is what the instance store keeps, server groups are
//! counted, and `key_pairs`/`server_group_members` read 0 in use at project level, as in
//! Nova. The network and personality resources Nova still lists have fixed defaults.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use common_error::{Error, Result};
pub use compute_db::QUOTA_RESOURCES;
use compute_db::{InstanceQuery, ReadDeleted};
use compute_model::Instance;

use crate::Compute;

/// Defaults of the resources Ferrostack does not enforce (Nova's defaults).
pub const FIXED_QUOTA_DEFAULTS: [(&str, i64); 7] = [
    ("floating_ips", 10),
    ("fixed_ips", -1),
    ("injected_files", 5),
    ("injected_file_content_bytes", 10240),
    ("injected_file_path_bytes", 255),
    ("security_groups", 10),
    ("security_group_rules", 20),
];

/// One resource of `os-quota-sets/{id}/detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaDetail {
    pub limit: i64,
    pub in_use: i64,
    pub reserved: i64,
}

/// One server's line of a usage report.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerUsage {
    pub instance_id: String,
    pub name: String,
    pub tenant_id: String,
    pub flavor: String,
    pub hours: f64,
    pub memory_mb: i64,
    pub local_gb: i64,
    pub vcpus: i64,
    pub started_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
    /// `terminated`, or the vm state.
    pub state: String,
    /// Seconds.
    pub uptime: i64,
}

/// A project's usage over a period.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantUsage {
    pub tenant_id: String,
    pub server_usages: Vec<ServerUsage>,
    pub total_local_gb_usage: f64,
    pub total_vcpus_usage: f64,
    pub total_memory_mb_usage: f64,
    pub total_hours: f64,
    pub start: NaiveDateTime,
    pub stop: NaiveDateTime,
}

/// A stored timestamp as a naive UTC time.
pub fn parse_stored(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok()
}

/// Nova's `_hours_for`: hours of `[launched, terminated]` inside `[start, stop]`.
fn hours_for(
    launched: Option<NaiveDateTime>,
    terminated: Option<NaiveDateTime>,
    start: NaiveDateTime,
    stop: NaiveDateTime,
) -> f64 {
    let Some(launched) = launched else { return 0.0 };
    if terminated.is_some_and(|t| t < start) || launched > stop {
        return 0.0;
    }
    let from = launched.max(start);
    let to = terminated.map_or(stop, |t| t.min(stop));
    (to - from).num_microseconds().unwrap_or(0) as f64 / 3_600_000_000.0
}

impl Compute {
    /// Every resource's default limit: the configured ones and Nova's fixed ones.
    pub fn quota_defaults(&self) -> BTreeMap<String, i64> {
        let c = &self.cfg;
        let mut d: BTreeMap<String, i64> = FIXED_QUOTA_DEFAULTS
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        for (k, v) in [
            ("instances", c.quota_instances),
            ("cores", c.quota_cores),
            ("ram", c.quota_ram),
            ("metadata_items", c.quota_metadata_items),
            ("key_pairs", c.quota_key_pairs),
            ("server_groups", c.quota_server_groups),
            ("server_group_members", c.quota_server_group_members),
        ] {
            d.insert(k.to_string(), v);
        }
        d
    }

    /// `project_id`'s limits (defaults overridden by what was set for it).
    pub async fn quota_limits(&self, project_id: &str) -> Result<BTreeMap<String, i64>> {
        self.store
            .quota_limits(project_id, &self.quota_defaults())
            .await
    }

    /// What `project_id` uses, per resource (0 for what is not counted).
    pub async fn quota_in_use(&self, project_id: &str) -> Result<BTreeMap<String, i64>> {
        let mut used: BTreeMap<String, i64> =
            QUOTA_RESOURCES.iter().map(|r| (r.to_string(), 0)).collect();
        used.extend(self.store.quota_usage(project_id).await?);
        used.insert(
            "server_groups".into(),
            self.store.server_group_count(project_id).await?,
        );
        Ok(used)
    }

    /// Limit, use and reservations (always 0) of every resource.
    pub async fn quota_detail(&self, project_id: &str) -> Result<BTreeMap<String, QuotaDetail>> {
        let limits = self.quota_limits(project_id).await?;
        let used = self.quota_in_use(project_id).await?;
        Ok(limits
            .into_iter()
            .map(|(k, limit)| {
                let in_use = used.get(&k).copied().unwrap_or(0);
                (
                    k,
                    QuotaDetail {
                        limit,
                        in_use,
                        reserved: 0,
                    },
                )
            })
            .collect())
    }

    /// Sets limits (admins; the API checks policy and shapes). Unless `force`, a limit
    /// below what is in use is `BadRequest` with Nova's message and nothing changes.
    pub async fn quota_update(
        &self,
        project_id: &str,
        values: &BTreeMap<String, i64>,
        force: bool,
    ) -> Result<BTreeMap<String, i64>> {
        if !force {
            let used = self.quota_in_use(project_id).await?;
            for (resource, limit) in values {
                let minimum = used.get(resource).copied().unwrap_or(0);
                if *limit != -1 && *limit < minimum {
                    return Err(Error::bad_request(format!(
                        "Quota limit {limit} for {resource} must be greater than or equal to \
                         already used and reserved {minimum}."
                    )));
                }
            }
        }
        self.store.quota_set(project_id, values).await?;
        self.quota_limits(project_id).await
    }

    /// Drops `project_id`'s limits: it is back on the defaults.
    pub async fn quota_revert(&self, project_id: &str) -> Result<()> {
        self.store.quota_delete(project_id).await
    }

    /// Usage of servers launched before `stop` and not terminated before `start`, per
    /// project (`project` only, or all), and every server's line, in creation order.
    /// `limit`/`marker` (an instance uuid) page the servers.
    pub async fn tenant_usage(
        &self,
        project: Option<&str>,
        start: NaiveDateTime,
        stop: NaiveDateTime,
        limit: Option<usize>,
        marker: Option<&str>,
    ) -> Result<(Vec<TenantUsage>, Vec<ServerUsage>)> {
        let q = InstanceQuery {
            project_id: project.map(str::to_string),
            deleted: ReadDeleted::Yes,
            ..InstanceQuery::default()
        };
        let mut instances: Vec<Instance> = self
            .store
            .instance_list(&q)
            .await?
            .into_iter()
            .filter(|i| {
                let launched = i.launched_at.as_deref().and_then(parse_stored);
                let terminated = i.terminated_at.as_deref().and_then(parse_stored);
                launched.is_some_and(|l| l < stop) && terminated.is_none_or(|t| t > start)
            })
            .collect();
        instances.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.uuid.cmp(&b.uuid)));
        if let Some(m) = marker {
            let Some(pos) = instances.iter().position(|i| i.uuid == m) else {
                return Err(Error::bad_request(format!(
                    "Marker {m} could not be found."
                )));
            };
            instances.drain(..=pos);
        }
        if let Some(l) = limit {
            instances.truncate(l);
        }
        let now = chrono::Utc::now().naive_utc();
        let mut by_project: Vec<TenantUsage> = Vec::new();
        let mut lines = Vec::new();
        for i in instances {
            let launched = i.launched_at.as_deref().and_then(parse_stored);
            let ended = i.terminated_at.as_deref().and_then(parse_stored);
            let Some(started) = launched else { continue };
            let hours = hours_for(launched, ended, start, stop);
            let state = match ended {
                Some(_) => "terminated".to_string(),
                None => i.vm_state.as_str().to_string(),
            };
            let uptime = (ended.unwrap_or(now) - started).num_seconds();
            let line = ServerUsage {
                instance_id: i.uuid.clone(),
                name: i.name.clone(),
                tenant_id: i.project_id.clone(),
                flavor: i.flavor.name.clone(),
                hours,
                memory_mb: i.flavor.ram,
                local_gb: i.flavor.disk + i.flavor.ephemeral,
                vcpus: i.flavor.vcpus,
                started_at: started,
                ended_at: ended,
                state,
                uptime,
            };
            let pos = match by_project.iter().position(|t| t.tenant_id == i.project_id) {
                Some(p) => p,
                None => {
                    by_project.push(TenantUsage {
                        tenant_id: i.project_id.clone(),
                        server_usages: Vec::new(),
                        total_local_gb_usage: 0.0,
                        total_vcpus_usage: 0.0,
                        total_memory_mb_usage: 0.0,
                        total_hours: 0.0,
                        start,
                        stop,
                    });
                    by_project.len() - 1
                }
            };
            let t = &mut by_project[pos];
            t.total_local_gb_usage += line.local_gb as f64 * hours;
            t.total_vcpus_usage += line.vcpus as f64 * hours;
            t.total_memory_mb_usage += line.memory_mb as f64 * hours;
            t.total_hours += hours;
            t.server_usages.push(line.clone());
            lines.push(line);
        }
        Ok((by_project, lines))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::compute;

    fn t(s: &str) -> NaiveDateTime {
        parse_stored(s).unwrap()
    }

    #[test]
    fn hours_are_clipped_to_the_period() {
        let (a, b) = (t("2026-01-01T00:00:00"), t("2026-01-02T00:00:00"));
        assert_eq!(hours_for(Some(t("2026-01-01T12:00:00")), None, a, b), 12.0);
        assert_eq!(
            hours_for(
                Some(t("2025-12-31T00:00:00")),
                Some(t("2026-01-01T06:00:00")),
                a,
                b
            ),
            6.0
        );
        assert_eq!(hours_for(Some(t("2026-01-03T00:00:00")), None, a, b), 0.0);
        assert_eq!(hours_for(None, None, a, b), 0.0);
        assert_eq!(
            hours_for(
                Some(t("2025-01-01T00:00:00")),
                Some(t("2025-06-01T00:00:00")),
                a,
                b
            ),
            0.0
        );
    }

    #[tokio::test]
    async fn limits_default_override_and_refuse_below_use() {
        let (c, _d) = compute().await;
        let l = c.quota_limits("p1").await.unwrap();
        assert_eq!(l["instances"], c.cfg.quota_instances);
        assert_eq!(l["injected_files"], 5);
        assert_eq!(l.len(), QUOTA_RESOURCES.len());
        let set = BTreeMap::from([("instances".to_string(), 3)]);
        assert_eq!(
            c.quota_update("p1", &set, false).await.unwrap()["instances"],
            3
        );
        c.store
            .db()
            .execute_raw("INSERT INTO compute_quota_usage (project_id, resource, in_use) VALUES ('p1', 'instances', 2)")
            .await
            .unwrap();
        let low = BTreeMap::from([("instances".to_string(), 1)]);
        assert_eq!(
            c.quota_update("p1", &low, false).await,
            Err(Error::bad_request(
                "Quota limit 1 for instances must be greater than or equal to already used and reserved 2."
            ))
        );
        assert_eq!(
            c.quota_update("p1", &low, true).await.unwrap()["instances"],
            1
        );
        let d = c.quota_detail("p1").await.unwrap();
        assert_eq!(
            d["instances"],
            QuotaDetail {
                limit: 1,
                in_use: 2,
                reserved: 0
            }
        );
        c.quota_revert("p1").await.unwrap();
        assert_eq!(
            c.quota_limits("p1").await.unwrap()["instances"],
            c.cfg.quota_instances
        );
    }
}
