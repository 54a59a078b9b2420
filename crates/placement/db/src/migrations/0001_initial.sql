CREATE TABLE placement_provider (
    uuid TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    generation BIGINT NOT NULL,
    parent_uuid TEXT,
    root_uuid TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE placement_class (
    name TEXT PRIMARY KEY
);
CREATE TABLE placement_trait (
    name TEXT PRIMARY KEY
);
CREATE TABLE placement_inventory (
    provider_uuid TEXT NOT NULL,
    resource_class TEXT NOT NULL,
    total BIGINT NOT NULL,
    reserved BIGINT NOT NULL,
    min_unit BIGINT NOT NULL,
    max_unit BIGINT NOT NULL,
    step_size BIGINT NOT NULL,
    allocation_ratio DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (provider_uuid, resource_class)
);
CREATE TABLE placement_provider_trait (
    provider_uuid TEXT NOT NULL,
    trait TEXT NOT NULL,
    PRIMARY KEY (provider_uuid, trait)
);
CREATE TABLE placement_provider_aggregate (
    provider_uuid TEXT NOT NULL,
    aggregate_uuid TEXT NOT NULL,
    PRIMARY KEY (provider_uuid, aggregate_uuid)
);
CREATE TABLE placement_consumer (
    uuid TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    generation BIGINT NOT NULL,
    consumer_type TEXT
);
CREATE TABLE placement_allocation (
    consumer_uuid TEXT NOT NULL,
    provider_uuid TEXT NOT NULL,
    resource_class TEXT NOT NULL,
    used BIGINT NOT NULL,
    PRIMARY KEY (consumer_uuid, provider_uuid, resource_class)
);
CREATE INDEX placement_allocation_provider ON placement_allocation (provider_uuid, resource_class)
