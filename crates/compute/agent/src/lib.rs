//! The compute agent (Nova's `compute/manager.py`): one per host, in-process in
//! all-in-one. It serves `compute.<host>` on the bus, drives its virt driver with one task
//! per instance (operations on a VM are serialised), caches base images, reports its host
//! to placement and its heartbeat and power-state changes to the conductor. Holds no
//! database; depends only on the model, the virt trait, the bus and the ports it declares.
