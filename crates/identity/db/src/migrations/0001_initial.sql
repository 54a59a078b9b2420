CREATE TABLE project (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL,
    parent_id TEXT,
    description TEXT NOT NULL DEFAULT '',
    enabled BIGINT NOT NULL DEFAULT 1,
    is_domain BIGINT NOT NULL DEFAULT 0,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    UNIQUE (domain_id, name)
);
CREATE INDEX project_parent ON project (parent_id);
CREATE TABLE project_tag (
    project_id TEXT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    PRIMARY KEY (project_id, name)
);
CREATE TABLE identity_user (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    password_hash TEXT,
    password_created_at BIGINT,
    password_expires_at BIGINT,
    default_project_id TEXT,
    description TEXT,
    email TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    UNIQUE (domain_id, name)
);
CREATE TABLE identity_group (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (domain_id, name)
);
CREATE TABLE group_membership (
    user_id TEXT NOT NULL REFERENCES identity_user (id) ON DELETE CASCADE,
    group_id TEXT NOT NULL REFERENCES identity_group (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX group_membership_group ON group_membership (group_id);
CREATE TABLE role (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL,
    description TEXT,
    options TEXT NOT NULL DEFAULT '{}',
    UNIQUE (name, domain_id)
);
CREATE TABLE implied_role (
    prior_role_id TEXT NOT NULL REFERENCES role (id) ON DELETE CASCADE,
    implied_role_id TEXT NOT NULL REFERENCES role (id) ON DELETE CASCADE,
    PRIMARY KEY (prior_role_id, implied_role_id)
);
CREATE TABLE assignment (
    kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    role_id TEXT NOT NULL REFERENCES role (id) ON DELETE CASCADE,
    inherited BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, actor_id, target_id, role_id, inherited)
);
CREATE INDEX assignment_actor ON assignment (actor_id);
CREATE INDEX assignment_target ON assignment (target_id);
CREATE TABLE region (
    id TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    parent_region_id TEXT,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE service (
    id TEXT PRIMARY KEY,
    service_type TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT,
    enabled BIGINT NOT NULL DEFAULT 1,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE endpoint (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES service (id) ON DELETE CASCADE,
    region_id TEXT,
    interface TEXT NOT NULL,
    url TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE application_credential (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    secret_hash TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES identity_user (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    expires_at BIGINT,
    unrestricted BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    UNIQUE (user_id, name)
);
CREATE TABLE application_credential_role (
    application_credential_id TEXT NOT NULL REFERENCES application_credential (id) ON DELETE CASCADE,
    role_id TEXT NOT NULL,
    PRIMARY KEY (application_credential_id, role_id)
);
CREATE TABLE credential (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    project_id TEXT,
    cred_type TEXT NOT NULL,
    blob TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE revocation_event (
    id TEXT PRIMARY KEY,
    user_id TEXT,
    project_id TEXT,
    domain_id TEXT,
    audit_id TEXT,
    audit_chain_id TEXT,
    app_cred_id TEXT,
    issued_before BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revocation_event_revoked_at ON revocation_event (revoked_at);
