//! Nova's default policy (`nova/policies/*.py`): every `os_compute_api:*` rule (and the few
//! `compute:*`/`network:*` ones) with the secure-RBAC check strings and `scope_types` of
//! current Nova, so operators override them with the `policy.yaml` they would give Nova.
//!
//! Personas: `admin` anywhere is a cloud admin (`context_is_admin`); a project `member`
//! writes its project's resources (`project_member_or_admin`); a project `reader` reads them
//! (`project_reader_or_admin`); a project `manager` may list and drive migrations
//! (`project_manager_or_admin`); `service` is for other services (`service_or_admin`).
//!
//! Nova's deprecated `admin_api` and `admin_or_owner` read `is_admin:True`, which Nova sets
//! when `context_is_admin` passes; our credentials carry no `is_admin`, so both are spelled
//! with `rule:context_is_admin` here to keep the same meaning for operator overrides.
//!
//! # Target keys the API must build
//!
//! `project_id`: the project that owns what is acted on (the server's, the quota set's, the
//! server group's), or the caller's own project for list and create calls. `user_id`: for
//! `os-keypairs:*`, the user whose keypairs are asked about (the `user_id` query parameter,
//! else the caller). Nova builds `{"project_id": …, "user_id": …}` from the resource when
//! there is one, which is what these keys follow.

use crate::RuleDefault;

const PROJECT: &[&str] = &["project"];
/// No scope check: for the base rules other rules reference.
const ANY_SCOPE: &[&str] = &[];

/// Nova's `base.ADMIN`.
const ADMIN: &str = "rule:context_is_admin";
/// Nova's `base.PROJECT_MEMBER_OR_ADMIN`.
const MEMBER: &str = "rule:project_member_or_admin";
/// Nova's `base.PROJECT_READER_OR_ADMIN`.
const READER: &str = "rule:project_reader_or_admin";
/// Nova's `base.PROJECT_MANAGER_OR_ADMIN`.
const MANAGER: &str = "rule:project_manager_or_admin";
/// Nova's `base.SERVICE_ROLE`.
const SERVICE: &str = "rule:service_or_admin";
/// `keypairs.py`: the keypair's user, or an admin.
const KEYPAIR_OWNER: &str = "(rule:context_is_admin) or user_id:%(user_id)s";
/// Nova's `base.RULE_ANY` and `base.RULE_NOBODY`.
const ANYONE: &str = "@";
const NOBODY: &str = "!";

const fn rule(
    name: &'static str,
    check_str: &'static str,
    scope_types: &'static [&'static str],
) -> RuleDefault {
    RuleDefault::new(name, check_str, scope_types)
}

/// A rule for project-scoped tokens, as every Nova API rule is.
const fn p(name: &'static str, check_str: &'static str) -> RuleDefault {
    RuleDefault::new(name, check_str, PROJECT)
}

/// Nova's default rules, in the order of Nova's policy modules.
pub const DEFAULTS: &[RuleDefault] = &[
    // base.py
    rule("context_is_admin", "role:admin", ANY_SCOPE),
    rule(
        "admin_or_owner",
        "rule:context_is_admin or project_id:%(project_id)s",
        ANY_SCOPE,
    ),
    rule("admin_api", "rule:context_is_admin", ANY_SCOPE),
    rule(
        "project_manager_api",
        "role:manager and project_id:%(project_id)s",
        ANY_SCOPE,
    ),
    rule(
        "project_member_api",
        "role:member and project_id:%(project_id)s",
        ANY_SCOPE,
    ),
    rule(
        "project_reader_api",
        "role:reader and project_id:%(project_id)s",
        ANY_SCOPE,
    ),
    rule("service_api", "role:service", ANY_SCOPE),
    rule(
        "project_manager_or_admin",
        "rule:project_manager_api or rule:context_is_admin",
        ANY_SCOPE,
    ),
    rule(
        "project_member_or_admin",
        "rule:project_member_api or rule:context_is_admin",
        ANY_SCOPE,
    ),
    rule(
        "project_reader_or_admin",
        "rule:project_reader_api or rule:context_is_admin",
        ANY_SCOPE,
    ),
    rule(
        "service_or_admin",
        "rule:service_api or rule:context_is_admin",
        ANY_SCOPE,
    ),
    // admin_actions.py
    p("os_compute_api:os-admin-actions:reset_state", ADMIN),
    p("os_compute_api:os-admin-actions:inject_network_info", ADMIN),
    // admin_password.py
    p("os_compute_api:os-admin-password", MEMBER),
    // aggregates.py
    p("os_compute_api:os-aggregates:set_metadata", ADMIN),
    p("os_compute_api:os-aggregates:add_host", ADMIN),
    p("os_compute_api:os-aggregates:create", ADMIN),
    p("os_compute_api:os-aggregates:remove_host", ADMIN),
    p("os_compute_api:os-aggregates:update", ADMIN),
    p("os_compute_api:os-aggregates:index", ADMIN),
    p("os_compute_api:os-aggregates:delete", ADMIN),
    p("os_compute_api:os-aggregates:show", ADMIN),
    p("compute:aggregates:images", ADMIN),
    // assisted_volume_snapshots.py
    p(
        "os_compute_api:os-assisted-volume-snapshots:create",
        SERVICE,
    ),
    p(
        "os_compute_api:os-assisted-volume-snapshots:delete",
        SERVICE,
    ),
    // attach_interfaces.py
    p("os_compute_api:os-attach-interfaces:list", READER),
    p("os_compute_api:os-attach-interfaces:show", READER),
    p("os_compute_api:os-attach-interfaces:create", MEMBER),
    p("os_compute_api:os-attach-interfaces:delete", MEMBER),
    // availability_zone.py
    p("os_compute_api:os-availability-zone:list", ANYONE),
    p("os_compute_api:os-availability-zone:detail", ADMIN),
    // baremetal_nodes.py
    p("os_compute_api:os-baremetal-nodes:list", ADMIN),
    p("os_compute_api:os-baremetal-nodes:show", ADMIN),
    // console_auth_tokens.py
    p("os_compute_api:os-console-auth-tokens", ADMIN),
    // console_output.py
    p("os_compute_api:os-console-output", MEMBER),
    // create_backup.py
    p("os_compute_api:os-create-backup", MEMBER),
    // deferred_delete.py
    p("os_compute_api:os-deferred-delete:restore", MEMBER),
    p("os_compute_api:os-deferred-delete:force", MEMBER),
    // evacuate.py
    p("os_compute_api:os-evacuate", ADMIN),
    // extended_server_attributes.py
    p("os_compute_api:os-extended-server-attributes", ADMIN),
    // extensions.py
    p("os_compute_api:extensions", ANYONE),
    // flavor_access.py
    p("os_compute_api:os-flavor-access:add_tenant_access", ADMIN),
    p(
        "os_compute_api:os-flavor-access:remove_tenant_access",
        ADMIN,
    ),
    p("os_compute_api:os-flavor-access", ADMIN),
    // flavor_extra_specs.py
    p("os_compute_api:os-flavor-extra-specs:show", READER),
    p("os_compute_api:os-flavor-extra-specs:create", ADMIN),
    p("os_compute_api:os-flavor-extra-specs:update", ADMIN),
    p("os_compute_api:os-flavor-extra-specs:delete", ADMIN),
    p("os_compute_api:os-flavor-extra-specs:index", READER),
    // flavor_manage.py
    p("os_compute_api:os-flavor-manage:create", ADMIN),
    p("os_compute_api:os-flavor-manage:update", ADMIN),
    p("os_compute_api:os-flavor-manage:delete", ADMIN),
    // floating_ip_pools.py
    p("os_compute_api:os-floating-ip-pools", ANYONE),
    // floating_ips.py
    p("os_compute_api:os-floating-ips:add", MEMBER),
    p("os_compute_api:os-floating-ips:remove", MEMBER),
    p("os_compute_api:os-floating-ips:list", READER),
    p("os_compute_api:os-floating-ips:create", MEMBER),
    p("os_compute_api:os-floating-ips:show", READER),
    p("os_compute_api:os-floating-ips:delete", MEMBER),
    // hosts.py
    p("os_compute_api:os-hosts:list", ADMIN),
    p("os_compute_api:os-hosts:show", ADMIN),
    p("os_compute_api:os-hosts:update", ADMIN),
    p("os_compute_api:os-hosts:reboot", ADMIN),
    p("os_compute_api:os-hosts:shutdown", ADMIN),
    p("os_compute_api:os-hosts:start", ADMIN),
    // hypervisors.py
    p("os_compute_api:os-hypervisors:list", ADMIN),
    p("os_compute_api:os-hypervisors:list-detail", ADMIN),
    p("os_compute_api:os-hypervisors:statistics", ADMIN),
    p("os_compute_api:os-hypervisors:show", ADMIN),
    p("os_compute_api:os-hypervisors:uptime", ADMIN),
    p("os_compute_api:os-hypervisors:search", ADMIN),
    p("os_compute_api:os-hypervisors:servers", ADMIN),
    // instance_actions.py
    p("os_compute_api:os-instance-actions:events:details", ADMIN),
    p("os_compute_api:os-instance-actions:events", ADMIN),
    p("os_compute_api:os-instance-actions:list", READER),
    p("os_compute_api:os-instance-actions:show", READER),
    // instance_usage_audit_log.py
    p("os_compute_api:os-instance-usage-audit-log:list", ADMIN),
    p("os_compute_api:os-instance-usage-audit-log:show", ADMIN),
    // ips.py
    p("os_compute_api:ips:show", READER),
    p("os_compute_api:ips:index", READER),
    // keypairs.py
    p("os_compute_api:os-keypairs:index", KEYPAIR_OWNER),
    p("os_compute_api:os-keypairs:create", KEYPAIR_OWNER),
    p("os_compute_api:os-keypairs:delete", KEYPAIR_OWNER),
    p("os_compute_api:os-keypairs:show", KEYPAIR_OWNER),
    // limits.py
    p("os_compute_api:limits", ANYONE),
    p("os_compute_api:limits:other_project", ADMIN),
    // lock_server.py
    p("os_compute_api:os-lock-server:lock", MEMBER),
    p("os_compute_api:os-lock-server:unlock", MEMBER),
    p(
        "os_compute_api:os-lock-server:unlock:unlock_override",
        ADMIN,
    ),
    // migrate_server.py
    p("os_compute_api:os-migrate-server:migrate", MANAGER),
    p("os_compute_api:os-migrate-server:migrate:host", ADMIN),
    p("os_compute_api:os-migrate-server:migrate_live", MANAGER),
    p("os_compute_api:os-migrate-server:migrate_live:host", ADMIN),
    // migrations.py
    p("os_compute_api:os-migrations:index", MANAGER),
    p("os_compute_api:os-migrations:index:all_projects", ADMIN),
    p("os_compute_api:os-migrations:index:host", ADMIN),
    // multinic.py
    p("os_compute_api:os-multinic:add", MEMBER),
    p("os_compute_api:os-multinic:remove", MEMBER),
    // networks.py
    p("os_compute_api:os-networks:list", READER),
    p("os_compute_api:os-networks:show", READER),
    // pause_server.py
    p("os_compute_api:os-pause-server:pause", MEMBER),
    p("os_compute_api:os-pause-server:unpause", MEMBER),
    // quota_class_sets.py
    p("os_compute_api:os-quota-class-sets:show", ADMIN),
    p("os_compute_api:os-quota-class-sets:update", ADMIN),
    // quota_sets.py
    p("os_compute_api:os-quota-sets:update", ADMIN),
    p("os_compute_api:os-quota-sets:defaults", ANYONE),
    p("os_compute_api:os-quota-sets:show", READER),
    p("os_compute_api:os-quota-sets:delete", ADMIN),
    p("os_compute_api:os-quota-sets:detail", READER),
    // remote_consoles.py
    p("os_compute_api:os-remote-consoles", MEMBER),
    // rescue.py
    p("os_compute_api:os-rescue", MEMBER),
    p("os_compute_api:os-unrescue", MEMBER),
    // security_groups.py
    p("os_compute_api:os-security-groups:get", READER),
    p("os_compute_api:os-security-groups:show", READER),
    p("os_compute_api:os-security-groups:create", MEMBER),
    p("os_compute_api:os-security-groups:update", MEMBER),
    p("os_compute_api:os-security-groups:delete", MEMBER),
    p("os_compute_api:os-security-groups:rule:create", MEMBER),
    p("os_compute_api:os-security-groups:rule:delete", MEMBER),
    p("os_compute_api:os-security-groups:list", READER),
    p("os_compute_api:os-security-groups:add", MEMBER),
    p("os_compute_api:os-security-groups:remove", MEMBER),
    // server_diagnostics.py
    p("os_compute_api:os-server-diagnostics", ADMIN),
    // server_external_events.py
    p("os_compute_api:os-server-external-events:create", SERVICE),
    // server_groups.py
    p("os_compute_api:os-server-groups:create", MEMBER),
    p("os_compute_api:os-server-groups:delete", MEMBER),
    p("os_compute_api:os-server-groups:index", READER),
    p("os_compute_api:os-server-groups:index:all_projects", ADMIN),
    p("os_compute_api:os-server-groups:show", READER),
    // server_metadata.py
    p("os_compute_api:server-metadata:index", READER),
    p("os_compute_api:server-metadata:show", READER),
    p("os_compute_api:server-metadata:create", MEMBER),
    p("os_compute_api:server-metadata:update_all", MEMBER),
    p("os_compute_api:server-metadata:update", MEMBER),
    p("os_compute_api:server-metadata:delete", MEMBER),
    // server_password.py
    p("os_compute_api:os-server-password:show", READER),
    p("os_compute_api:os-server-password:clear", MEMBER),
    // server_shares.py
    p("os_compute_api:os-server-shares:index", READER),
    p("os_compute_api:os-server-shares:create", MEMBER),
    p("os_compute_api:os-server-shares:show", READER),
    p("os_compute_api:os-server-shares:delete", MEMBER),
    // server_tags.py
    p("os_compute_api:os-server-tags:delete_all", MEMBER),
    p("os_compute_api:os-server-tags:index", READER),
    p("os_compute_api:os-server-tags:update_all", MEMBER),
    p("os_compute_api:os-server-tags:delete", MEMBER),
    p("os_compute_api:os-server-tags:update", MEMBER),
    p("os_compute_api:os-server-tags:show", READER),
    // server_topology.py
    p("compute:server:topology:index", READER),
    p("compute:server:topology:host:index", ADMIN),
    // servers.py
    p("os_compute_api:servers:index", READER),
    p("os_compute_api:servers:detail", READER),
    p("os_compute_api:servers:index:get_all_tenants", ADMIN),
    p("os_compute_api:servers:detail:get_all_tenants", ADMIN),
    p("os_compute_api:servers:allow_all_filters", ADMIN),
    p("os_compute_api:servers:show", READER),
    p("os_compute_api:servers:show:flavor-extra-specs", READER),
    p("os_compute_api:servers:show:host_status", ADMIN),
    p(
        "os_compute_api:servers:show:host_status:unknown-only",
        ADMIN,
    ),
    p("os_compute_api:servers:create", MEMBER),
    p("os_compute_api:servers:create:forced_host", ADMIN),
    p("compute:servers:create:requested_destination", ADMIN),
    p("os_compute_api:servers:create:attach_volume", MEMBER),
    p("os_compute_api:servers:create:attach_network", MEMBER),
    p("os_compute_api:servers:create:trusted_certs", MEMBER),
    p("os_compute_api:servers:create:zero_disk_flavor", ADMIN),
    p("network:attach_external_network", ADMIN),
    p("os_compute_api:servers:delete", MEMBER),
    p("os_compute_api:servers:update", MEMBER),
    p("os_compute_api:servers:confirm_resize", MEMBER),
    p("os_compute_api:servers:revert_resize", MEMBER),
    p("os_compute_api:servers:reboot", MEMBER),
    p("os_compute_api:servers:resize", MEMBER),
    p("compute:servers:resize:cross_cell", NOBODY),
    p("os_compute_api:servers:rebuild", MEMBER),
    p("os_compute_api:servers:rebuild:trusted_certs", MEMBER),
    p("os_compute_api:servers:create_image", MEMBER),
    p(
        "os_compute_api:servers:create_image:allow_volume_backed",
        MEMBER,
    ),
    p("os_compute_api:servers:start", MEMBER),
    p("os_compute_api:servers:stop", MEMBER),
    p("os_compute_api:servers:trigger_crash_dump", MEMBER),
    // servers_migrations.py
    p("os_compute_api:servers:migrations:show", ADMIN),
    p("os_compute_api:servers:migrations:force_complete", MANAGER),
    p("os_compute_api:servers:migrations:delete", MANAGER),
    p("os_compute_api:servers:migrations:index", MANAGER),
    p("os_compute_api:servers:migrations:index:host", ADMIN),
    // services.py
    p("os_compute_api:os-services:list", ADMIN),
    p("os_compute_api:os-services:update", ADMIN),
    p("os_compute_api:os-services:delete", ADMIN),
    // shelve.py
    p("os_compute_api:os-shelve:shelve", MEMBER),
    p("os_compute_api:os-shelve:unshelve", MEMBER),
    p("os_compute_api:os-shelve:unshelve_to_host", ADMIN),
    p("os_compute_api:os-shelve:shelve_offload", ADMIN),
    // simple_tenant_usage.py
    p("os_compute_api:os-simple-tenant-usage:show", READER),
    p("os_compute_api:os-simple-tenant-usage:list", ADMIN),
    // suspend_server.py
    p("os_compute_api:os-suspend-server:resume", MEMBER),
    p("os_compute_api:os-suspend-server:suspend", MEMBER),
    // tenant_networks.py
    p("os_compute_api:os-tenant-networks:list", READER),
    p("os_compute_api:os-tenant-networks:show", READER),
    // volumes.py
    p("os_compute_api:os-volumes:list", READER),
    p("os_compute_api:os-volumes:create", MEMBER),
    p("os_compute_api:os-volumes:detail", READER),
    p("os_compute_api:os-volumes:show", READER),
    p("os_compute_api:os-volumes:delete", MEMBER),
    p("os_compute_api:os-volumes:snapshots:list", READER),
    p("os_compute_api:os-volumes:snapshots:create", MEMBER),
    p("os_compute_api:os-volumes:snapshots:detail", READER),
    p("os_compute_api:os-volumes:snapshots:show", READER),
    p("os_compute_api:os-volumes:snapshots:delete", MEMBER),
    // volumes_attachments.py
    p("os_compute_api:os-volumes-attachments:index", READER),
    p("os_compute_api:os-volumes-attachments:create", MEMBER),
    p("os_compute_api:os-volumes-attachments:show", READER),
    p("os_compute_api:os-volumes-attachments:update", MEMBER),
    p("os_compute_api:os-volumes-attachments:swap", SERVICE),
    p("os_compute_api:os-volumes-attachments:delete", MEMBER),
];

#[cfg(test)]
mod tests;
