-- Compute's schema. Booleans are BIGINT 0/1, timestamps RFC 3339 text, JSON as text.
CREATE TABLE compute_flavor (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    vcpus BIGINT NOT NULL,
    ram BIGINT NOT NULL,
    disk BIGINT NOT NULL,
    ephemeral BIGINT NOT NULL,
    swap BIGINT NOT NULL,
    rxtx_factor DOUBLE PRECISION NOT NULL,
    is_public BIGINT NOT NULL,
    disabled BIGINT NOT NULL,
    description TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE compute_flavor_extra_spec (
    flavor_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (flavor_id, key)
);
CREATE TABLE compute_flavor_project (
    flavor_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    PRIMARY KEY (flavor_id, project_id)
);
CREATE TABLE compute_keypair (
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    key_type TEXT NOT NULL,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
);
CREATE TABLE compute_server_group (
    uuid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    policy TEXT NOT NULL,
    max_server_per_host BIGINT,
    created_at TEXT NOT NULL
);
CREATE TABLE compute_server_group_member (
    group_uuid TEXT NOT NULL,
    instance_uuid TEXT NOT NULL,
    PRIMARY KEY (group_uuid, instance_uuid)
);
-- Per-project hard limits set with os-quota-sets (absent: the configured default).
CREATE TABLE compute_quota (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);
-- What each project uses of instances, cores and ram, changed in the same transaction as
-- the instance rows, with a conditional UPDATE so concurrent creates never pass the limit.
CREATE TABLE compute_quota_usage (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    in_use BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);
CREATE TABLE compute_service (
    uuid TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    binary_name TEXT NOT NULL,
    availability_zone TEXT NOT NULL,
    disabled BIGINT NOT NULL,
    disabled_reason TEXT,
    forced_down BIGINT NOT NULL,
    node_uuid TEXT NOT NULL,
    hypervisor_type TEXT NOT NULL,
    hypervisor_version BIGINT NOT NULL,
    host_ip TEXT NOT NULL,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    local_gb BIGINT NOT NULL,
    cpu_info TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (host, binary_name)
);
CREATE TABLE compute_instance (
    uuid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    image_ref TEXT NOT NULL,
    flavor TEXT NOT NULL,
    new_flavor TEXT,
    vm_state TEXT NOT NULL,
    task_state TEXT,
    power_state BIGINT NOT NULL,
    host TEXT,
    node TEXT,
    availability_zone TEXT,
    key_name TEXT,
    key_data TEXT,
    user_data TEXT,
    description TEXT,
    hostname TEXT NOT NULL,
    locked BIGINT NOT NULL,
    locked_reason TEXT,
    config_drive BIGINT NOT NULL,
    access_ip_v4 TEXT NOT NULL,
    access_ip_v6 TEXT NOT NULL,
    launch_index BIGINT NOT NULL,
    reservation_id TEXT NOT NULL,
    progress BIGINT NOT NULL,
    server_group TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    launched_at TEXT,
    terminated_at TEXT,
    deleted BIGINT NOT NULL,
    deleted_at TEXT,
    generation BIGINT NOT NULL
);
CREATE INDEX compute_instance_project ON compute_instance (project_id, deleted);
CREATE INDEX compute_instance_host ON compute_instance (host, deleted);
CREATE TABLE compute_instance_metadata (
    instance_uuid TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (instance_uuid, key)
);
CREATE TABLE compute_instance_tag (
    instance_uuid TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (instance_uuid, tag)
);
CREATE TABLE compute_instance_fault (
    id TEXT PRIMARY KEY,
    instance_uuid TEXT NOT NULL,
    code BIGINT NOT NULL,
    message TEXT NOT NULL,
    details TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX compute_instance_fault_instance ON compute_instance_fault (instance_uuid);
CREATE TABLE compute_instance_action (
    instance_uuid TEXT NOT NULL,
    request_id TEXT NOT NULL,
    action TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    start_time TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    message TEXT,
    PRIMARY KEY (instance_uuid, request_id)
);
CREATE TABLE compute_instance_action_event (
    instance_uuid TEXT NOT NULL,
    request_id TEXT NOT NULL,
    event TEXT NOT NULL,
    start_time TEXT NOT NULL,
    finish_time TEXT,
    result TEXT,
    host TEXT,
    PRIMARY KEY (instance_uuid, request_id, event)
);
-- Persistent workflows (the conductor's build, delete, resize, snapshot, shelve, ...):
-- one row per run, one row per step recorded *before* the step runs, so a restart knows
-- exactly which steps may have happened and must be resumed or undone.
CREATE TABLE compute_workflow (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    instance_uuid TEXT NOT NULL,
    status TEXT NOT NULL,
    data TEXT NOT NULL,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX compute_workflow_status ON compute_workflow (status);
CREATE TABLE compute_workflow_step (
    workflow_id TEXT NOT NULL,
    idx BIGINT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    data TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (workflow_id, idx)
);
CREATE TABLE compute_migration (
    uuid TEXT PRIMARY KEY,
    id BIGINT NOT NULL UNIQUE,
    instance_uuid TEXT NOT NULL,
    migration_type TEXT NOT NULL,
    status TEXT NOT NULL,
    source_compute TEXT,
    dest_compute TEXT,
    source_node TEXT,
    dest_node TEXT,
    old_flavor_id TEXT NOT NULL,
    new_flavor_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
