//! Placement's default policy (`placement/policies/*`): everything is for admins and
//! services, except that a project reader may read its own project's usages.
//!
//! # Target keys the API must build
//!
//! `project_id` and `user_id`: the caller's, except for `placement:usages`, where
//! `project_id` is the project asked about.

use crate::RuleDefault;

const PROJECT: &[&str] = &["project"];
const ANY_SCOPE: &[&str] = &[];
const ADMIN_OR_SERVICE: &str = "rule:context_is_admin or rule:service_api";
const ADMIN_OR_SERVICE_OR_PROJECT_READER: &str =
    "rule:context_is_admin or rule:service_api or (role:reader and project_id:%(project_id)s)";

const fn rule(
    name: &'static str,
    check_str: &'static str,
    scope_types: &'static [&'static str],
) -> RuleDefault {
    RuleDefault::new(name, check_str, scope_types)
}

/// Placement's default rules.
pub const DEFAULTS: &[RuleDefault] = &[
    rule("admin_api", "role:admin", ANY_SCOPE),
    rule("context_is_admin", "role:admin", ANY_SCOPE),
    rule("service_api", "role:service", ANY_SCOPE),
    rule(
        "placement:resource_providers:list",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule(
        "placement:resource_providers:create",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule(
        "placement:resource_providers:show",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule(
        "placement:resource_providers:update",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule(
        "placement:resource_providers:delete",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule("placement:resource_classes:list", ADMIN_OR_SERVICE, PROJECT),
    rule(
        "placement:resource_classes:create",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule("placement:resource_classes:show", ADMIN_OR_SERVICE, PROJECT),
    rule(
        "placement:resource_classes:update",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule(
        "placement:resource_classes:delete",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule(
        "placement:resource_providers:inventories:list",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule(
        "placement:resource_providers:inventories:create",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule(
        "placement:resource_providers:inventories:show",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule(
        "placement:resource_providers:inventories:update",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule(
        "placement:resource_providers:inventories:delete",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule(
        "placement:resource_providers:aggregates:list",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule(
        "placement:resource_providers:aggregates:update",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule(
        "placement:resource_providers:usages",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule(
        "placement:usages",
        ADMIN_OR_SERVICE_OR_PROJECT_READER,
        PROJECT,
    ),
    rule("placement:traits:list", ADMIN_OR_SERVICE, PROJECT),
    rule("placement:traits:show", ADMIN_OR_SERVICE, PROJECT),
    rule("placement:traits:update", ADMIN_OR_SERVICE, PROJECT),
    rule("placement:traits:delete", ADMIN_OR_SERVICE, PROJECT),
    rule(
        "placement:resource_providers:traits:list",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule(
        "placement:resource_providers:traits:update",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule(
        "placement:resource_providers:traits:delete",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule("placement:allocations:manage", ADMIN_OR_SERVICE, PROJECT),
    rule("placement:allocations:list", ADMIN_OR_SERVICE, PROJECT),
    rule("placement:allocations:update", ADMIN_OR_SERVICE, PROJECT),
    rule("placement:allocations:delete", ADMIN_OR_SERVICE, PROJECT),
    rule(
        "placement:resource_providers:allocations:list",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule(
        "placement:allocation_candidates:list",
        ADMIN_OR_SERVICE,
        PROJECT,
    ),
    rule("placement:reshaper:reshape", ADMIN_OR_SERVICE, PROJECT),
];
