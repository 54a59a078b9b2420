-- Routers, floating IPs and QoS. Same dialect as 0001: TEXT and BIGINT only, booleans 0/1,
-- timestamps as text. A router's legs and a floating IP's address are rows of `net_port`
-- (device_owner network:router_interface / network:router_gateway / network:floatingip)
-- whose addresses come from the same IPAM as every port.

CREATE TABLE net_router (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    admin_state_up BIGINT NOT NULL,
    status TEXT NOT NULL,
    -- The gateway leg on the external network (network:router_gateway).
    gw_port_id TEXT NULL UNIQUE REFERENCES net_port (id) ON DELETE SET NULL,
    enable_snat BIGINT NOT NULL,
    availability_zone_hints TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX net_router_project ON net_router (project_id);

-- Neutron's routerports: which port is which router's leg (a port is one router's at most).
CREATE TABLE net_router_port (
    port_id TEXT PRIMARY KEY REFERENCES net_port (id) ON DELETE CASCADE,
    router_id TEXT NOT NULL REFERENCES net_router (id) ON DELETE CASCADE,
    port_type TEXT NOT NULL
);
CREATE INDEX net_router_port_router ON net_router_port (router_id);

CREATE TABLE net_router_route (
    router_id TEXT NOT NULL REFERENCES net_router (id) ON DELETE CASCADE,
    destination TEXT NOT NULL,
    nexthop TEXT NOT NULL,
    PRIMARY KEY (router_id, destination, nexthop)
);

-- A floating IP dies with its port on the external network, the association goes (is read
-- as none) when the internal port goes. One floating IP per (external network, internal
-- port, fixed address): NULLs never collide, so this index settles concurrent associations.
CREATE TABLE net_floatingip (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    floating_network_id TEXT NOT NULL REFERENCES net_network (id),
    floating_ip_address TEXT NOT NULL,
    floating_port_id TEXT NOT NULL UNIQUE REFERENCES net_port (id) ON DELETE CASCADE,
    fixed_port_id TEXT NULL REFERENCES net_port (id) ON DELETE SET NULL,
    fixed_ip_address TEXT NULL,
    router_id TEXT NULL,
    description TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE UNIQUE INDEX net_floatingip_assoc
    ON net_floatingip (floating_network_id, fixed_port_id, fixed_ip_address);
CREATE INDEX net_floatingip_project ON net_floatingip (project_id);
CREATE INDEX net_floatingip_fixed_port ON net_floatingip (fixed_port_id);
CREATE INDEX net_floatingip_router ON net_floatingip (router_id);

CREATE TABLE net_qos_policy (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    shared BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX net_qos_policy_project ON net_qos_policy (project_id);

-- A project's default policy (qos-default): one per project.
CREATE TABLE net_qos_policy_default (
    project_id TEXT PRIMARY KEY,
    qos_policy_id TEXT NOT NULL UNIQUE REFERENCES net_qos_policy (id) ON DELETE CASCADE
);

-- At most one bandwidth limit per direction and policy.
CREATE TABLE net_qos_bandwidth_limit_rule (
    id TEXT PRIMARY KEY,
    qos_policy_id TEXT NOT NULL REFERENCES net_qos_policy (id) ON DELETE CASCADE,
    max_kbps BIGINT NOT NULL,
    max_burst_kbps BIGINT NOT NULL,
    direction TEXT NOT NULL,
    UNIQUE (qos_policy_id, direction)
);

-- `qos_policy_id` of ports and networks (Neutron's qos_*_policy_bindings): they go with
-- their port or network. A policy with bindings cannot be deleted (QosPolicyInUse).
CREATE TABLE net_qos_port_binding (
    port_id TEXT PRIMARY KEY REFERENCES net_port (id) ON DELETE CASCADE,
    policy_id TEXT NOT NULL REFERENCES net_qos_policy (id)
);
CREATE INDEX net_qos_port_binding_policy ON net_qos_port_binding (policy_id);

CREATE TABLE net_qos_network_binding (
    network_id TEXT PRIMARY KEY REFERENCES net_network (id) ON DELETE CASCADE,
    policy_id TEXT NOT NULL REFERENCES net_qos_policy (id)
);
CREATE INDEX net_qos_network_binding_policy ON net_qos_network_binding (policy_id);
