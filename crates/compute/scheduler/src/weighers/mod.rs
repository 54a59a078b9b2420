//! Weighers (Nova's `scheduler/weights`), one per file. Each gives a raw weight per host
//! (higher is better); the scheduler normalises each over the candidates and multiplies it
//! by the weigher's multiplier. [`defaults`] lists them with their multipliers.

mod cpu;
mod disk;
mod ram;
mod server_group_soft_affinity;
mod server_group_soft_anti_affinity;

pub use cpu::CpuWeigher;
pub use disk::DiskWeigher;
pub use ram::RamWeigher;
pub use server_group_soft_affinity::ServerGroupSoftAffinityWeigher;
pub use server_group_soft_anti_affinity::ServerGroupSoftAntiAffinityWeigher;

use crate::{Weigher, GROUP_WEIGHT_MULTIPLIER};

/// The default weighers: RAM, CPU and disk with `resource_multiplier` (+1.0 spreads, −1.0
/// packs), then the soft server-group weighers with [`GROUP_WEIGHT_MULTIPLIER`].
pub fn defaults(resource_multiplier: f64) -> Vec<(Box<dyn Weigher>, f64)> {
    vec![
        (Box::new(RamWeigher), resource_multiplier),
        (Box::new(CpuWeigher), resource_multiplier),
        (Box::new(DiskWeigher), resource_multiplier),
        (
            Box::new(ServerGroupSoftAffinityWeigher),
            GROUP_WEIGHT_MULTIPLIER,
        ),
        (
            Box::new(ServerGroupSoftAntiAffinityWeigher),
            GROUP_WEIGHT_MULTIPLIER,
        ),
    ]
}
