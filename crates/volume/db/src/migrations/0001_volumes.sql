-- Volumes, their attachments and snapshots, and per-project quota overrides.
-- Booleans are BIGINT 0/1, timestamps RFC 3339 text, maps and connection info JSON text.

CREATE TABLE vol_volume (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT,
    description TEXT,
    size BIGINT NOT NULL,
    status TEXT NOT NULL,
    attach_status TEXT NOT NULL,
    availability_zone TEXT NOT NULL,
    volume_type_id TEXT NOT NULL,
    bootable BIGINT NOT NULL,
    multiattach BIGINT NOT NULL,
    read_only BIGINT NOT NULL,
    snapshot_id TEXT,
    source_volid TEXT,
    image_id TEXT,
    metadata TEXT NOT NULL,
    image_metadata TEXT NOT NULL,
    host TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT
);
CREATE INDEX vol_volume_project ON vol_volume (project_id);
CREATE INDEX vol_volume_status ON vol_volume (status);

CREATE TABLE vol_attachment (
    id TEXT PRIMARY KEY,
    volume_id TEXT NOT NULL,
    instance_uuid TEXT,
    attached_host TEXT,
    mountpoint TEXT,
    attach_status TEXT NOT NULL,
    attach_mode TEXT NOT NULL,
    connection_info TEXT,
    attached_at TEXT,
    detached_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX vol_attachment_volume ON vol_attachment (volume_id);

CREATE TABLE vol_snapshot (
    id TEXT PRIMARY KEY,
    volume_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT,
    description TEXT,
    size BIGINT NOT NULL,
    status TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT
);
CREATE INDEX vol_snapshot_volume ON vol_snapshot (volume_id);
CREATE INDEX vol_snapshot_project ON vol_snapshot (project_id);

CREATE TABLE vol_quota (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);
