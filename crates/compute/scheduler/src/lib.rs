//! The scheduler's decision (Nova's `scheduler/filters` and `scheduler/weights`): pure
//! functions over host states and a request spec. Filters drop hosts, weighers rank the
//! rest; each is a small trait impl, enabled and ordered by configuration. No I/O: the
//! domain gathers host states (from placement candidates and compute services) and makes
//! the claim.
//!
//! [`Scheduler::select`] runs every filter over the hosts (one pass each, in order), then
//! every weigher once per surviving host, normalises each weigher's raw weights over the
//! survivors to `0..=1` (Nova's `normalize`), sums them with their multipliers and sorts
//! best first, ties broken by host name then provider uuid so the order is deterministic.
//!
//! This crate depends on nothing: the domain converts its records into [`HostState`] and
//! [`RequestSpec`].

pub mod filters;
pub mod weighers;

use std::collections::BTreeMap;

/// One candidate host as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostState {
    /// The compute node (resource provider) uuid.
    pub provider: String,
    pub host: String,
    pub availability_zone: String,
    /// The compute service is disabled by an operator.
    pub disabled: bool,
    /// The compute service's heartbeat is recent and it is not forced down.
    pub up: bool,
    /// resource class → usable capacity.
    pub capacity: BTreeMap<String, i64>,
    /// resource class → allocated.
    pub used: BTreeMap<String, i64>,
    pub traits: Vec<String>,
    /// Aggregate uuids the host belongs to.
    pub aggregates: Vec<String>,
    /// Metadata of the host's aggregates, merged (`filter_tenant_id`, `availability_zone`...).
    pub aggregate_metadata: BTreeMap<String, Vec<String>>,
    /// Instances on the host (uuids).
    pub instances: Vec<String>,
    /// `x86_64`, ...
    pub cpu_arch: String,
    pub hypervisor_type: String,
    /// The free amounts of the standard classes resolved once, by [`HostState::prepared`]
    /// (a decision over 10,000 hosts asks for them several times per host; reading them from
    /// the maps each time costs more than the rest of the decision).
    pub prepared: Prepared,
}

/// Free `VCPU`, `MEMORY_MB` and `DISK_GB` of a host, resolved from its maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prepared {
    pub ready: bool,
    pub free: [i64; 3],
}

const STANDARD: [&str; 3] = ["VCPU", "MEMORY_MB", "DISK_GB"];

/// The server group a request belongs to.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupSpec {
    /// `affinity`, `anti-affinity`, `soft-affinity` or `soft-anti-affinity`.
    pub policy: String,
    /// Hosts already running members of the group (one entry per member).
    pub member_hosts: Vec<String>,
    /// Anti-affinity: at most this many members per host (default 1).
    pub max_server_per_host: Option<i64>,
}

/// What is being scheduled.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestSpec {
    pub instance_uuid: String,
    pub project_id: String,
    /// resource class → amount.
    pub resources: BTreeMap<String, i64>,
    pub availability_zone: Option<String>,
    pub image_properties: BTreeMap<String, String>,
    pub group: Option<GroupSpec>,
    /// Hosts not to use (a retry after a failed claim or build).
    pub ignore_hosts: Vec<String>,
}

impl HostState {
    /// Capacity of `class` not yet allocated (0 when the host has none of it; negative when
    /// the host is over-allocated).
    pub fn free(&self, class: &str) -> i64 {
        if self.prepared.ready {
            match class {
                "VCPU" => return self.prepared.free[0],
                "MEMORY_MB" => return self.prepared.free[1],
                "DISK_GB" => return self.prepared.free[2],
                _ => {}
            }
        }
        self.free_from_maps(class)
    }

    fn free_from_maps(&self, class: &str) -> i64 {
        let capacity = self.capacity.get(class).copied().unwrap_or(0);
        let used = self.used.get(class).copied().unwrap_or(0);
        capacity.saturating_sub(used)
    }

    /// This host with the standard classes' free amounts resolved (call once after
    /// building it; [`HostState::free`] gives the same answers either way).
    pub fn prepared(mut self) -> Self {
        self.prepared = Prepared {
            ready: true,
            free: STANDARD.map(|c| self.free_from_maps(c)),
        };
        self
    }
}

impl GroupSpec {
    /// How many members of the group run on `host`.
    pub fn members_on(&self, host: &str) -> usize {
        self.member_hosts.iter().filter(|h| *h == host).count()
    }
}

/// Drops hosts that cannot take the request (Nova's `BaseHostFilter.host_passes`).
pub trait Filter: Send + Sync {
    fn name(&self) -> &'static str;
    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool;
}

/// Ranks hosts (Nova's `BaseHostWeigher._weigh_object`): higher is better.
pub trait Weigher: Send + Sync {
    fn name(&self) -> &'static str;
    /// Raw weight; the scheduler normalises each weigher over the hosts to 0..=1.
    fn weigh(&self, host: &HostState, spec: &RequestSpec) -> f64;
}

/// Multiplier of the soft server-group weighers: larger than the sum of every resource
/// weigher (each contributes at most 1.0), so a soft policy decides whenever it can.
pub const GROUP_WEIGHT_MULTIPLIER: f64 = 100.0;

/// An ordered set of filters and weighted weighers.
pub struct Scheduler {
    filters: Vec<Box<dyn Filter>>,
    weighers: Vec<(Box<dyn Weigher>, f64)>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("filters", &self.filter_names())
            .field(
                "weighers",
                &self
                    .weighers
                    .iter()
                    .map(|(w, m)| (w.name(), *m))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Scheduler {
    /// Filters run in the given order; each weigher's normalised weight is multiplied by
    /// its multiplier.
    pub fn new(filters: Vec<Box<dyn Filter>>, weighers: Vec<(Box<dyn Weigher>, f64)>) -> Self {
        Scheduler { filters, weighers }
    }

    /// The default filters (Nova's order, with the resource re-check and tenant isolation
    /// added) and weighers; `weigh` is `"spread"` (most free first) or `"pack"` (least free
    /// first). Anything else is taken as `"spread"`, Nova's default.
    pub fn from_config(weigh: &str) -> Self {
        let resource_multiplier = if weigh.trim().eq_ignore_ascii_case("pack") {
            -1.0
        } else {
            1.0
        };
        Scheduler::new(filters::defaults(), weighers::defaults(resource_multiplier))
    }

    /// The names of the filters, in the order they run.
    pub fn filter_names(&self) -> Vec<&'static str> {
        self.filters.iter().map(|f| f.name()).collect()
    }

    /// Hosts that pass every filter, best first.
    pub fn select<'a>(&self, hosts: &'a [HostState], spec: &RequestSpec) -> Vec<&'a HostState> {
        self.select_explained(hosts, spec).0
    }

    /// Like [`Scheduler::select`], and when no host is left, the name of the filter that
    /// removed the last ones (`None` when there were no hosts to begin with), for the
    /// "No valid host" fault and the log.
    pub fn select_explained<'a>(
        &self,
        hosts: &'a [HostState],
        spec: &RequestSpec,
    ) -> (Vec<&'a HostState>, Option<&'static str>) {
        let mut passing: Vec<&HostState> = hosts.iter().collect();
        for filter in &self.filters {
            if passing.is_empty() {
                break;
            }
            passing.retain(|h| filter.passes(h, spec));
            if passing.is_empty() {
                return (passing, Some(filter.name()));
            }
        }
        if passing.len() < 2 {
            return (passing, None);
        }
        let mut total = vec![0.0_f64; passing.len()];
        let mut raw = Vec::with_capacity(passing.len());
        for (weigher, multiplier) in &self.weighers {
            if *multiplier == 0.0 || !multiplier.is_finite() {
                continue;
            }
            raw.clear();
            raw.extend(passing.iter().map(|h| finite(weigher.weigh(h, spec))));
            normalize(&mut raw);
            for (t, w) in total.iter_mut().zip(&raw) {
                *t += multiplier * w;
            }
        }
        let mut ranked: Vec<(f64, &HostState)> = total.into_iter().zip(passing).collect();
        ranked.sort_by(|(wa, a), (wb, b)| {
            wb.total_cmp(wa)
                .then_with(|| a.host.cmp(&b.host))
                .then_with(|| a.provider.cmp(&b.provider))
        });
        (ranked.into_iter().map(|(_, h)| h).collect(), None)
    }
}

fn finite(w: f64) -> f64 {
    if w.is_finite() {
        w
    } else {
        0.0
    }
}

/// Nova's `normalize`: maps the weights linearly onto `0..=1` (minimum → 0, maximum → 1);
/// all equal → all 0.
pub fn normalize(weights: &mut [f64]) {
    let (min, max) = weights
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), w| {
            (lo.min(*w), hi.max(*w))
        });
    let range = max - min;
    if weights.is_empty() || range <= 0.0 || !range.is_finite() {
        weights.iter_mut().for_each(|w| *w = 0.0);
        return;
    }
    weights.iter_mut().for_each(|w| *w = (*w - min) / range);
}

#[cfg(test)]
pub(crate) mod testing {
    //! Builders shared by the filter, weigher and scheduler tests.

    use super::*;

    /// An enabled, up host in zone `nova` with 8 VCPU, 8192 MEMORY_MB, 160 DISK_GB free.
    pub fn host(name: &str) -> HostState {
        HostState {
            provider: format!("rp-{name}"),
            host: name.to_string(),
            availability_zone: "nova".into(),
            disabled: false,
            up: true,
            capacity: [("VCPU", 8), ("MEMORY_MB", 8192), ("DISK_GB", 160)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            cpu_arch: "x86_64".into(),
            hypervisor_type: "QEMU".into(),
            ..HostState::default()
        }
    }

    /// A request for 1 VCPU, 512 MEMORY_MB, 1 DISK_GB from project `p1`.
    pub fn spec() -> RequestSpec {
        RequestSpec {
            instance_uuid: "inst-new".into(),
            project_id: "p1".into(),
            resources: [("VCPU", 1), ("MEMORY_MB", 512), ("DISK_GB", 1)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            ..RequestSpec::default()
        }
    }

    /// `spec()` in a group with `policy` whose members run on `member_hosts`.
    pub fn group_spec(policy: &str, member_hosts: &[&str], max: Option<i64>) -> RequestSpec {
        RequestSpec {
            group: Some(GroupSpec {
                policy: policy.into(),
                member_hosts: member_hosts.iter().map(|h| h.to_string()).collect(),
                max_server_per_host: max,
            }),
            ..spec()
        }
    }

    /// Sets `used` of one class.
    pub fn with_used(mut h: HostState, class: &str, used: i64) -> HostState {
        h.used.insert(class.to_string(), used);
        h
    }
}

#[cfg(test)]
mod select_tests;

#[cfg(test)]
mod prepared_tests {
    use super::*;

    #[test]
    fn prepared_hosts_answer_free_like_the_maps() {
        let mut h = HostState::default();
        h.capacity.insert("VCPU".into(), 16);
        h.capacity.insert("MEMORY_MB".into(), 8192);
        h.capacity.insert("CUSTOM_GPU".into(), 2);
        h.used.insert("VCPU".into(), 20);
        h.used.insert("MEMORY_MB".into(), 1024);
        let p = h.clone().prepared();
        assert!(p.prepared.ready);
        for class in ["VCPU", "MEMORY_MB", "DISK_GB", "CUSTOM_GPU", "PCPU"] {
            assert_eq!(p.free(class), h.free(class), "{class}");
        }
        assert_eq!(p.free("VCPU"), -4);
        assert_eq!(p.free("DISK_GB"), 0);
        assert_eq!(p.free("CUSTOM_GPU"), 2);
    }
}
