//! The `qemu` virt driver: QEMU processes driven over QMP, no libvirt. Depends only on the
//! virt trait and the model.
