//! Cinder's default policy (`cinder/policies/*.py`) for the parts of the block storage API
//! Ferrostack serves, with the secure-RBAC check strings of current Cinder: a project
//! `member` writes its project's volumes, snapshots and attachments, a project `reader` reads
//! them, and admin-only actions (reset status, force delete, quota updates, services) need
//! `admin`.
//!
//! # Target keys the API must build
//!
//! `project_id`: the owner of what is acted on (the caller's project on create).

use crate::RuleDefault;

const PROJECT: &[&str] = &["project"];
const ANY_SCOPE: &[&str] = &[];

const ADMIN: &str = "rule:context_is_admin";
const MEMBER: &str = "rule:context_is_admin or (role:member and project_id:%(project_id)s)";
const READER: &str = "rule:context_is_admin or (role:reader and project_id:%(project_id)s)";

const fn p(name: &'static str, check_str: &'static str) -> RuleDefault {
    RuleDefault::new(name, check_str, PROJECT)
}

/// Cinder's default rules that Ferrostack enforces.
pub const DEFAULTS: &[RuleDefault] = &[
    RuleDefault::new("context_is_admin", "role:admin", ANY_SCOPE),
    RuleDefault::new("admin_api", "rule:context_is_admin", ANY_SCOPE),
    // volumes.py
    p("volume:create", MEMBER),
    p("volume:create_from_image", MEMBER),
    p("volume:get", READER),
    p("volume:get_all", READER),
    p("volume:update", MEMBER),
    p("volume:delete", MEMBER),
    p("volume:force_delete", ADMIN),
    p("volume:extend", MEMBER),
    p("volume_extension:volume_actions:upload_image", MEMBER),
    p("volume_extension:volume_admin_actions:reset_status", ADMIN),
    p("volume_extension:volume_admin_actions:force_delete", ADMIN),
    p("volume:get_all_tenants", ADMIN),
    // attachments.py
    p("volume:attachment_create", MEMBER),
    p("volume:attachment_update", MEMBER),
    p("volume:attachment_complete", MEMBER),
    p("volume:attachment_delete", MEMBER),
    p("volume:attachment_get", READER),
    // snapshots.py
    p("volume:create_snapshot", MEMBER),
    p("volume:get_snapshot", READER),
    p("volume:get_all_snapshots", READER),
    p("volume:delete_snapshot", MEMBER),
    // quotas.py, limits.py, services.py, availability zones
    p("volume_extension:quotas:show", READER),
    p("volume_extension:quotas:update", ADMIN),
    p("volume_extension:quotas:delete", ADMIN),
    p("limits_extension:used_limits", READER),
    RuleDefault::new("volume_extension:services:index", ADMIN, ANY_SCOPE),
    p("volume_extension:availability_zone_list", READER),
    p("volume_extension:types_manage", ADMIN),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Enforcer;

    #[test]
    fn every_default_parses() {
        assert!(Enforcer::new(DEFAULTS).is_ok());
    }
}
