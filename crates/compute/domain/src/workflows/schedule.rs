//! Scheduling and claiming (Nova's `select_destinations` + the placement claim): ask
//! placement for candidates with the flavor's resources, join them with the compute
//! services (zone, disabled, up) and the instances already on each host (server-group
//! policies), let the scheduler's filters and weighers order them, and claim the first
//! that placement still accepts; a lost claim tries the next.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use common_error::{Error, Result};
use compute_model::{ComputeService, Instance};
use compute_scheduler::{GroupSpec, HostState, RequestSpec, Scheduler};

use crate::Compute;

/// The message of a failed schedule.
pub(crate) const NO_VALID_HOST: &str =
    "No valid host was found. There are not enough hosts available.";

/// Where an instance was placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placed {
    pub host: String,
    pub node: String,
    pub availability_zone: String,
}

/// Whether a compute service is up: heard from within `down_secs` and not forced down.
pub(crate) fn service_up(s: &ComputeService, down_secs: u64) -> bool {
    if s.forced_down {
        return false;
    }
    let Ok(seen) = NaiveDateTime::parse_from_str(&s.updated_at, "%Y-%m-%dT%H:%M:%S%.f") else {
        return false;
    };
    let age = chrono::Utc::now().naive_utc() - seen;
    age.num_seconds() < i64::try_from(down_secs).unwrap_or(i64::MAX)
}

fn cpu_arch(cpu_info: &str) -> String {
    serde_json::from_str::<serde_json::Value>(cpu_info)
        .ok()
        .and_then(|v| v.get("arch").and_then(|a| a.as_str()).map(str::to_string))
        .unwrap_or_default()
}

/// The server-group part of the request: the group's policy and where its other members run.
async fn group_spec(
    c: &Compute,
    i: &Instance,
    hosts: &BTreeMap<String, Vec<String>>,
) -> Result<Option<GroupSpec>> {
    let Some(g) = &i.server_group else {
        return Ok(None);
    };
    let Some(group) = c.store.server_group_get(g).await? else {
        return Ok(None);
    };
    let mut member_hosts = Vec::new();
    for (host, uuids) in hosts {
        for u in uuids {
            if *u != i.uuid && group.members.contains(u) {
                member_hosts.push(host.clone());
            }
        }
    }
    Ok(Some(GroupSpec {
        policy: group.policy.clone(),
        member_hosts,
        max_server_per_host: group.max_server_per_host,
    }))
}

/// Picks a host for `i` with `resources` and claims them for it in placement.
/// `force_host` restricts the choice to one host (an admin's `az:host`).
pub(crate) async fn schedule_and_claim(
    c: &Compute,
    i: &Instance,
    resources: &BTreeMap<String, i64>,
    image_properties: &BTreeMap<String, String>,
    force_host: Option<&str>,
) -> Result<Placed> {
    let candidates = c.placement.candidates(resources, &[], &[], 1000).await?;
    let services: BTreeMap<String, ComputeService> = c
        .store
        .service_list()
        .await?
        .into_iter()
        .filter(|s| s.binary == "nova-compute" && !s.node_uuid.is_empty())
        .map(|s| (s.node_uuid.clone(), s))
        .collect();
    let hosts = c.store.instance_hosts().await?;
    let states: Vec<HostState> = candidates
        .iter()
        .filter_map(|cand| {
            let s = services.get(&cand.provider)?;
            if force_host.is_some_and(|h| h != s.host) {
                return None;
            }
            Some(
                HostState {
                    provider: cand.provider.clone(),
                    host: s.host.clone(),
                    availability_zone: s.availability_zone.clone(),
                    disabled: s.disabled,
                    up: service_up(s, c.cfg.service_down_secs),
                    capacity: cand.capacity.clone(),
                    used: cand.used.clone(),
                    traits: cand.traits.clone(),
                    aggregates: cand.aggregates.clone(),
                    aggregate_metadata: BTreeMap::new(),
                    instances: hosts.get(&s.host).cloned().unwrap_or_default(),
                    cpu_arch: cpu_arch(&s.cpu_info),
                    hypervisor_type: s.hypervisor_type.clone(),
                    prepared: Default::default(),
                }
                .prepared(),
            )
        })
        .collect();
    let spec = RequestSpec {
        instance_uuid: i.uuid.clone(),
        project_id: i.project_id.clone(),
        resources: resources.clone(),
        availability_zone: i.availability_zone.clone(),
        image_properties: image_properties.clone(),
        group: group_spec(c, i, &hosts).await?,
        ignore_hosts: Vec::new(),
    };
    let chosen = Scheduler::from_config(&c.cfg.weigh).select(&states, &spec);
    tracing::debug!(instance = %i.uuid, candidates = candidates.len(), hosts = states.len(), passed = chosen.len(), "scheduled");
    for h in chosen {
        let Some(cand) = candidates.iter().find(|x| x.provider == h.provider) else {
            continue;
        };
        match c
            .placement
            .claim(&i.uuid, &i.project_id, &i.user_id, &cand.allocations)
            .await
        {
            Ok(()) => {
                return Ok(Placed {
                    host: h.host.clone(),
                    node: h.provider.clone(),
                    availability_zone: h.availability_zone.clone(),
                })
            }
            Err(Error::Conflict(m)) => {
                tracing::info!(instance = %i.uuid, host = %h.host, "claim lost ({m}); trying the next host");
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::NoValidHost(NO_VALID_HOST.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(updated_at: &str, forced_down: bool) -> ComputeService {
        ComputeService {
            uuid: "s".into(),
            host: "h".into(),
            binary: "nova-compute".into(),
            availability_zone: "nova".into(),
            disabled: false,
            disabled_reason: None,
            forced_down,
            updated_at: updated_at.into(),
            node_uuid: "n".into(),
            hypervisor_type: "fake".into(),
            hypervisor_version: 1,
            host_ip: String::new(),
            vcpus: 1,
            memory_mb: 1,
            local_gb: 1,
            cpu_info: r#"{"arch": "x86_64"}"#.into(),
        }
    }

    #[test]
    fn up_means_recent_heartbeat_and_not_forced_down() {
        let now = compute_db::now_text();
        assert!(service_up(&svc(&now, false), 60));
        assert!(!service_up(&svc(&now, true), 60));
        assert!(!service_up(&svc("2001-01-01T00:00:00.000000", false), 60));
        assert!(!service_up(&svc("garbage", false), 60));
        assert_eq!(cpu_arch(&svc(&now, false).cpu_info), "x86_64");
    }
}
