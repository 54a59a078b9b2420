-- An instance's NICs as compute knows them (Nova's instance_info_caches): the ports the
-- network service allocated, in the guest's NIC order, as one JSON list.
CREATE TABLE compute_instance_network (
    instance_uuid TEXT PRIMARY KEY,
    network_info TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
