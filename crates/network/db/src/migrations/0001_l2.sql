-- Networks, subnets, ports and their IP allocations, security groups and rules, quotas.
-- Booleans are BIGINT 0/1, timestamps RFC 3339 text, lists JSON text.

CREATE TABLE net_network (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    admin_state_up BIGINT NOT NULL,
    shared BIGINT NOT NULL,
    external BIGINT NOT NULL,
    network_type TEXT NOT NULL,
    physical_network TEXT,
    segmentation_id BIGINT,
    -- `vxlan:<vni>` or `flat:<physnet>`: one network per segment.
    segment_key TEXT,
    mtu BIGINT NOT NULL,
    port_security_enabled BIGINT NOT NULL,
    status TEXT NOT NULL,
    availability_zone_hints TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX net_network_project ON net_network (project_id);
CREATE UNIQUE INDEX net_network_segment ON net_network (segment_key);

CREATE TABLE net_subnet (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    network_id TEXT NOT NULL REFERENCES net_network (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    ip_version BIGINT NOT NULL,
    cidr TEXT NOT NULL,
    gateway_ip TEXT,
    enable_dhcp BIGINT NOT NULL,
    ipv6_address_mode TEXT,
    ipv6_ra_mode TEXT,
    allocation_pools TEXT NOT NULL,
    dns_nameservers TEXT NOT NULL,
    host_routes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX net_subnet_network ON net_subnet (network_id);
CREATE INDEX net_subnet_project ON net_subnet (project_id);

CREATE TABLE net_port (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    network_id TEXT NOT NULL REFERENCES net_network (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    admin_state_up BIGINT NOT NULL,
    mac_address TEXT NOT NULL,
    device_owner TEXT NOT NULL,
    device_id TEXT NOT NULL,
    status TEXT NOT NULL,
    port_security_enabled BIGINT NOT NULL,
    allowed_address_pairs TEXT NOT NULL,
    binding_host_id TEXT NOT NULL,
    binding_vnic_type TEXT NOT NULL,
    binding_vif_type TEXT NOT NULL,
    binding_profile TEXT NOT NULL,
    binding_vif_details TEXT NOT NULL,
    dns_name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE UNIQUE INDEX net_port_mac ON net_port (network_id, mac_address);
CREATE INDEX net_port_project ON net_port (project_id);
CREATE INDEX net_port_device ON net_port (device_id);
CREATE INDEX net_port_host ON net_port (binding_host_id);

-- IPAM: an address is held by at most one port per subnet, concurrent allocations that
-- pick the same address collide here and retry.
CREATE TABLE net_ip_allocation (
    subnet_id TEXT NOT NULL REFERENCES net_subnet (id),
    ip_address TEXT NOT NULL,
    port_id TEXT NOT NULL REFERENCES net_port (id) ON DELETE CASCADE,
    network_id TEXT NOT NULL,
    PRIMARY KEY (subnet_id, ip_address)
);
CREATE INDEX net_ip_allocation_port ON net_ip_allocation (port_id);
CREATE INDEX net_ip_allocation_network ON net_ip_allocation (network_id, ip_address);

CREATE TABLE net_security_group (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    stateful BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX net_security_group_project ON net_security_group (project_id);

-- The `default` group of each project: one per project, even when two requests create it.
CREATE TABLE net_default_security_group (
    project_id TEXT PRIMARY KEY,
    security_group_id TEXT NOT NULL
);

CREATE TABLE net_security_group_rule (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    security_group_id TEXT NOT NULL REFERENCES net_security_group (id) ON DELETE CASCADE,
    direction TEXT NOT NULL,
    ethertype TEXT NOT NULL,
    protocol TEXT,
    port_range_min BIGINT,
    port_range_max BIGINT,
    remote_ip_prefix TEXT,
    remote_group_id TEXT,
    description TEXT NOT NULL,
    -- Everything that makes two rules the same rule (Neutron's duplicate check).
    fingerprint TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE UNIQUE INDEX net_security_group_rule_fingerprint ON net_security_group_rule (fingerprint);
CREATE INDEX net_security_group_rule_group ON net_security_group_rule (security_group_id);
CREATE INDEX net_security_group_rule_project ON net_security_group_rule (project_id);

CREATE TABLE net_port_security_group (
    port_id TEXT NOT NULL REFERENCES net_port (id) ON DELETE CASCADE,
    security_group_id TEXT NOT NULL REFERENCES net_security_group (id),
    PRIMARY KEY (port_id, security_group_id)
);
CREATE INDEX net_port_security_group_group ON net_port_security_group (security_group_id);

CREATE TABLE net_quota (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);
