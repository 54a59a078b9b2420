-- The image service's schema. One SQL for SQLite and PostgreSQL: TEXT and BIGINT only,
-- booleans as 0/1, timestamps as UTC text `YYYY-MM-DDTHH:MM:SS.ffffff`.

CREATE TABLE image (
    id TEXT PRIMARY KEY,
    name TEXT NULL,
    status TEXT NOT NULL,
    visibility TEXT NOT NULL,
    protected BIGINT NOT NULL DEFAULT 0,
    os_hidden BIGINT NOT NULL DEFAULT 0,
    owner TEXT NULL,
    disk_format TEXT NULL,
    container_format TEXT NULL,
    size BIGINT NULL,
    virtual_size BIGINT NULL,
    checksum TEXT NULL,
    os_hash_algo TEXT NULL,
    os_hash_value TEXT NULL,
    min_disk BIGINT NOT NULL DEFAULT 0,
    min_ram BIGINT NOT NULL DEFAULT 0,
    blob TEXT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    deleted_at TEXT NULL,
    generation BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX image_owner_idx ON image (owner);
CREATE INDEX image_visibility_idx ON image (visibility);
CREATE INDEX image_blob_idx ON image (blob);
CREATE INDEX image_created_idx ON image (created_at, id);

CREATE TABLE image_property (
    image_id TEXT NOT NULL REFERENCES image (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (image_id, name)
);
CREATE INDEX image_property_name_idx ON image_property (name, value);

CREATE TABLE image_tag (
    image_id TEXT NOT NULL REFERENCES image (id) ON DELETE CASCADE,
    value TEXT NOT NULL,
    PRIMARY KEY (image_id, value)
);
CREATE INDEX image_tag_value_idx ON image_tag (value);

CREATE TABLE image_member (
    image_id TEXT NOT NULL REFERENCES image (id) ON DELETE CASCADE,
    member TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (image_id, member)
);
CREATE INDEX image_member_member_idx ON image_member (member, status);

CREATE TABLE image_stage (
    image_id TEXT PRIMARY KEY REFERENCES image (id) ON DELETE CASCADE,
    blob TEXT NOT NULL,
    size BIGINT NOT NULL,
    checksum TEXT NOT NULL,
    os_hash_value TEXT NOT NULL,
    detected_format TEXT NOT NULL,
    virtual_size BIGINT NULL,
    unsafe_reason TEXT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX image_stage_blob_idx ON image_stage (blob);
