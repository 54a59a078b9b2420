//! `bench compute`, scheduling: the pure scheduler's decision
//! (`compute_scheduler::Scheduler::from_config("spread").select`) over synthetic host states,
//! in this process; and placement's `GET /placement/allocation_candidates` against a running
//! cloud with many resource providers created through the placement API.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure};
use compute_scheduler::{HostState, RequestSpec, Scheduler};
use http::Method;
use serde_json::json;

use crate::compute_server::{self as cs, Api};
use crate::load::Conn;

/// Latencies of one series.
#[derive(Clone, Debug, Default)]
pub struct Series {
    pub label: String,
    /// Hosts (scheduler) or resource providers (placement) in play.
    pub size: usize,
    pub n: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Hosts left after the filters (scheduler), candidates returned (placement).
    pub result: usize,
    /// Placement: bytes of the response body.
    pub bytes: usize,
    /// Scheduler: mean CPU time of this thread per decision, ms (wall time minus waiting
    /// for a CPU on a shared machine).
    pub cpu_ms: Option<f64>,
}

/// CPU time this thread has run, in nanoseconds (`/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// xorshift64*: deterministic synthetic data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn uuid(&mut self) -> String {
        uuid::Uuid::from_u64_pair(self.next(), self.next()).to_string()
    }
}

const TRAITS: [&str; 12] = [
    "COMPUTE_NET_ATTACH_INTERFACE",
    "COMPUTE_VOLUME_ATTACH_WITH_TAG",
    "COMPUTE_IMAGE_TYPE_QCOW2",
    "COMPUTE_IMAGE_TYPE_RAW",
    "COMPUTE_NODE",
    "HW_CPU_X86_AVX2",
    "HW_CPU_X86_SSE42",
    "HW_CPU_X86_AESNI",
    "COMPUTE_STATUS_DISABLED",
    "COMPUTE_DEVICE_TAGGING",
    "COMPUTE_NET_VIF_MODEL_VIRTIO",
    "COMPUTE_STORAGE_BUS_VIRTIO",
];

/// `n` hosts in three sizes, 0–95% used, 1% disabled, 1% down, up to 2 aggregates and
/// 0–40 instances each, 11 traits: what the domain builds from placement and the services.
pub fn synthetic_hosts(n: usize, seed: u64) -> Vec<HostState> {
    let mut rng = Rng(seed | 1);
    let aggregates: Vec<String> = (0..20).map(|_| rng.uuid()).collect();
    (0..n)
        .map(|i| {
            let (cores, ram_mb, disk_gb) = match rng.below(3) {
                0 => (32_i64, 131_072_i64, 1024_i64),
                1 => (64, 262_144, 2048),
                _ => (128, 524_288, 4096),
            };
            let capacity: BTreeMap<String, i64> = [
                ("VCPU", cores * 16),
                ("MEMORY_MB", (ram_mb - 512) * 3 / 2),
                ("DISK_GB", disk_gb),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            let share = rng.below(96) as i64; // percent used
            let used = capacity
                .iter()
                .map(|(k, v)| (k.clone(), v * share / 100))
                .collect();
            let n_aggr = rng.below(3) as usize;
            let host_aggrs: Vec<String> = (0..n_aggr)
                .map(|_| aggregates[rng.below(aggregates.len() as u64) as usize].clone())
                .collect();
            let n_inst = rng.below(41) as usize;
            HostState {
                provider: rng.uuid(),
                host: format!("compute-{i:05}"),
                availability_zone: "nova".into(),
                disabled: rng.below(100) == 0,
                up: rng.below(100) != 0,
                capacity,
                used,
                traits: TRAITS
                    .iter()
                    .filter(|t| **t != "COMPUTE_STATUS_DISABLED")
                    .map(|t| t.to_string())
                    .collect(),
                aggregates: host_aggrs,
                aggregate_metadata: BTreeMap::new(),
                instances: (0..n_inst).map(|_| rng.uuid()).collect(),
                cpu_arch: "x86_64".into(),
                hypervisor_type: "QEMU".into(),
                prepared: Default::default(),
            }
            .prepared()
        })
        .collect()
}

/// The request: m1.small-like resources, an image asking for x86_64, no group, no zone.
pub fn request_spec() -> RequestSpec {
    RequestSpec {
        instance_uuid: "00000000-0000-4000-8000-000000000001".into(),
        project_id: "bench".into(),
        resources: [("VCPU", 1), ("MEMORY_MB", 2048), ("DISK_GB", 20)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        image_properties: [("hw_architecture".to_string(), "x86_64".to_string())].into(),
        ..RequestSpec::default()
    }
}

/// Times `select` over `n_hosts` synthetic hosts: `iterations` decisions (at most `budget`).
pub fn scheduler_series(n_hosts: usize, iterations: usize, budget: Duration) -> Series {
    let hosts = synthetic_hosts(n_hosts, 0x5eed + n_hosts as u64);
    let spec = request_spec();
    let sched = Scheduler::from_config("spread");
    let mut result = 0;
    for _ in 0..3 {
        result = std::hint::black_box(sched.select(&hosts, &spec)).len();
    }
    let mut ms = Vec::with_capacity(iterations);
    let start = Instant::now();
    let cpu0 = thread_cpu_ns();
    while ms.len() < iterations && start.elapsed() < budget {
        let t = Instant::now();
        let picked = std::hint::black_box(sched.select(std::hint::black_box(&hosts), &spec));
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        result = picked.len();
    }
    let cpu_ms = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) if !ms.is_empty() => {
            Some(b.saturating_sub(a) as f64 / 1e6 / ms.len() as f64)
        }
        _ => None,
    };
    let (p50, p99, max) = cs::summary(&mut ms);
    Series {
        label: format!("`select`, {n_hosts} hosts"),
        size: n_hosts,
        n: ms.len(),
        p50_ms: p50,
        p99_ms: p99,
        max_ms: max,
        result,
        bytes: 0,
        cpu_ms,
    }
}

/// Creates `n` resource providers (VCPU/MEMORY_MB/DISK_GB inventory) through the placement
/// API with `concurrency` workers; returns the seconds it took.
pub async fn create_providers(
    api: &Api,
    first: usize,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let next = Arc::new(AtomicUsize::new(first));
    let end = first + n;
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (api, next) = (api.clone(), next.clone());
        set.spawn(async move {
            let mut conn = Conn::open(api.addr).await?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return anyhow::Ok(());
                }
                let uuid = uuid::Uuid::new_v4().to_string();
                let body = json!({"name": format!("bench-rp-{i:05}"), "uuid": uuid});
                let call = api.placement(Method::POST, "/resource_providers", Some(&body))?;
                let v = cs::check(&call, &conn.send(&call).await?, 200)?;
                let generation = v["generation"]
                    .as_i64()
                    .ok_or_else(|| anyhow!("no generation: {v}"))?;
                let (cores, ram) = match i % 3 {
                    0 => (32, 131_072),
                    1 => (64, 262_144),
                    _ => (128, 524_288),
                };
                let inv = json!({"resource_provider_generation": generation, "inventories": {
                    "VCPU": {"total": cores, "allocation_ratio": 16.0},
                    "MEMORY_MB": {"total": ram, "reserved": 512, "allocation_ratio": 1.5},
                    "DISK_GB": {"total": 2048}}});
                let call = api.placement(
                    Method::PUT,
                    &format!("/resource_providers/{uuid}/inventories"),
                    Some(&inv),
                )?;
                cs::check(&call, &conn.send(&call).await?, 200)?;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(t0.elapsed().as_secs_f64())
}

/// `requests` sequential `GET /placement/allocation_candidates` on one connection (after 3
/// unmeasured), at most `budget` long.
pub async fn candidates_series(
    api: &Api,
    providers: usize,
    limit: Option<usize>,
    requests: usize,
    budget: Duration,
) -> anyhow::Result<Series> {
    let mut path = "/allocation_candidates?resources=VCPU:1,MEMORY_MB:512,DISK_GB:1".to_string();
    if let Some(l) = limit {
        path.push_str(&format!("&limit={l}"));
    }
    let call = api.placement(Method::GET, &path, None)?;
    let mut conn = Conn::open(api.addr).await?;
    let mut result = 0;
    let mut bytes = 0;
    for _ in 0..3 {
        let r = conn.send(&call).await?;
        let v = cs::check(&call, &r, 200)?;
        result = v["allocation_requests"].as_array().map_or(0, Vec::len);
        bytes = r.body.len();
    }
    let mut ms = Vec::with_capacity(requests);
    let start = Instant::now();
    while ms.len() < requests && start.elapsed() < budget {
        let t = Instant::now();
        let r = conn.send(&call).await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        ensure!(r.status.as_u16() == 200, "{path}: HTTP {}", r.status);
    }
    let (p50, p99, max) = cs::summary(&mut ms);
    Ok(Series {
        label: format!(
            "`allocation_candidates`, {}",
            limit.map_or("no limit".to_string(), |l| format!("`limit={l}`"))
        ),
        size: providers,
        n: ms.len(),
        p50_ms: p50,
        p99_ms: p99,
        max_ms: max,
        result,
        bytes,
        cpu_ms: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_hosts_are_deterministic_and_mostly_usable() {
        let a = synthetic_hosts(500, 7);
        assert_eq!(a, synthetic_hosts(500, 7));
        let picked = Scheduler::from_config("spread").select(&a, &request_spec());
        // Disabled, down and nearly full hosts drop out; most remain.
        assert!(picked.len() > 400 && picked.len() < 500, "{}", picked.len());
    }
}
