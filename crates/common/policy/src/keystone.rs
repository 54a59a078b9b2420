//! Keystone's default policy: every `identity:*` rule of `keystone/common/policies/`, with the
//! secure-RBAC check strings and `scope_types` of current Keystone (not the deprecated ones),
//! and the base rules they reference. Operators override them with a `policy.yaml` exactly as
//! they would Keystone's.
//!
//! Personas: `admin` anywhere is a cloud admin (`admin_required` = `role:admin or is_admin:1`,
//! as in Keystone); `reader` with `system_scope:all` reads everything; a domain-scoped `reader`
//! or `manager` acts within its domain; a project-scoped `member`/`reader` sees its own project
//! and itself. Roles in [`Credentials`](crate::Credentials) must already be expanded through
//! implied roles (admin ⇒ member ⇒ reader).
//!
//! # Target keys the API must build
//!
//! Keystone flattens `{"target": {"project": ref}}` into dotted keys; build the same keys
//! (see [`target`](crate::target)). A null attribute is inserted as [`NONE`](crate::NONE), a
//! missing one makes its check false. Path parameters go in as top-level keys (`user_id`).
//!
//! - **Projects and project tags** (`get_project`, `create_project`, `update_project`,
//!   `delete_project`, `list_project_tags`, `*_project_tag*`): `target.project.id`,
//!   `target.project.domain_id` (for `create_project`, from the request body).
//! - **Listings filtered by domain** (`list_projects`, `list_users`, `list_role_assignments`):
//!   `target.domain_id` = the token's domain, for a domain-scoped token only; no key
//!   otherwise. `list_groups` likewise gets `target.group.domain_id`, and `list_domains`
//!   `target.domain.id`.
//! - **`list_role_assignments_for_tree`**: `target.project.id`, `target.project.domain_id`
//!   and `target.domain_id` (the project's domain).
//! - **Users** (`get_user`, `create_user`, `update_user`, `delete_user`, `list_user_projects`):
//!   `target.user.id`, `target.user.domain_id`.
//! - **Groups** (`get_group`, `create_group`, `update_group`, `delete_group`,
//!   `list_users_in_group`): `target.group.domain_id`. Membership (`add_user_to_group`,
//!   `remove_user_from_group`, `check_user_in_group`) adds `target.user.domain_id`.
//!   `list_groups_for_user`: `user_id` (path) and `target.user.domain_id`.
//! - **Roles** (`get_role`, `get_domain_role`): `target.role.name`, `target.role.domain_id`.
//! - **Grants** (`check_grant`, `list_grants`, `create_grant`, `revoke_grant`):
//!   `target.role.name`, `target.role.domain_id` ([`NONE`](crate::NONE) for a global role),
//!   the actor's `target.user.domain_id` or `target.group.domain_id`, and the scope's
//!   `target.project.domain_id` or `target.domain.id`.
//! - **Domains** (`get_domain`): `target.domain.id`.
//! - **Application credentials** (`*_application_credential*`): top-level `user_id`: the
//!   path's user for list and create, the credential's owner for get and delete.
//! - **Access rules** (`*_access_rule*`): `target.user.id`.
//! - **Credentials and EC2 credentials** (`*_credential*`): `target.credential.user_id`
//!   (`ec2_list_credentials`: `user_id` from the path; `list_credentials` from a non-system
//!   token: the caller's own id).
//! - **Tokens** (`check_token`, `validate_token`, `revoke_token`): `target.token.user_id`,
//!   the owner of the `X-Subject-Token`.
//! - **Limits** (`get_limit`): `target.limit.domain.id`, `target.limit.project.domain_id`,
//!   `target.limit.project_id`.
//! - **Trusts** (`create_trust`, `get_trust`, `delete_trust`, `list_trusts_for_trustor`,
//!   `list_trusts_for_trustee`, `*_role*_for_trust`): `target.trust.trustor_user_id`,
//!   `target.trust.trustee_user_id`.
//! - **Everything else** (regions, services, endpoints, endpoint groups, catalog, federation,
//!   policies, limits' and roles' writes, revoke events, …): no target keys.
//!
//! Password change (`POST /v3/users/{user_id}/password`) has no rule: Keystone runs it
//! unenforced, the original password being the proof. `identity:update_user` is for admins
//! and domain managers only; the API must not route a self-service password change through it.

mod check_strings;
#[cfg(test)]
mod tests;

use self::check_strings::*;
use crate::RuleDefault;

const SYSTEM_DOMAIN_PROJECT: &[&str] = &["system", "domain", "project"];
const SYSTEM_PROJECT: &[&str] = &["system", "project"];
const PROJECT: &[&str] = &["project"];
/// No scope check: for unscoped tokens, and for the base rules other rules reference.
const ANY_SCOPE: &[&str] = &[];

const fn rule(
    name: &'static str,
    check_str: &'static str,
    scope_types: &'static [&'static str],
) -> RuleDefault {
    RuleDefault::new(name, check_str, scope_types)
}

/// Keystone's default rules, in the order of Keystone's policy modules.
#[rustfmt::skip] // A table: one rule per line reads like Keystone's sample policy file.
pub const DEFAULTS: &[RuleDefault] = &[
    // keystone/common/policies/base.py
    rule("admin_required", "role:admin or is_admin:1", ANY_SCOPE),
    rule("service_role", "role:service", ANY_SCOPE),
    rule("service_or_admin", "rule:admin_required or rule:service_role", ANY_SCOPE),
    rule("owner", PATH_USER, ANY_SCOPE),
    rule("admin_or_owner", "rule:admin_required or rule:owner", ANY_SCOPE),
    rule("token_subject", "user_id:%(target.token.user_id)s", ANY_SCOPE),
    rule("admin_or_token_subject", ADMIN_OR_TOKEN_SUBJECT, ANY_SCOPE),
    rule("service_admin_or_token_subject",
        "rule:service_or_admin or rule:token_subject", ANY_SCOPE),
    rule("domain_managed_target_role", DOMAIN_MANAGER_ASSIGNABLE_ROLES, ANY_SCOPE),
    // keystone/common/policies/access_rule.py
    rule("identity:get_access_rule", SYSTEM_READER_OR_TARGET_USER, SYSTEM_PROJECT),
    rule("identity:list_access_rules", SYSTEM_READER_OR_TARGET_USER, SYSTEM_PROJECT),
    rule("identity:delete_access_rule", SYSTEM_ADMIN_OR_TARGET_USER, SYSTEM_PROJECT),
    // keystone/common/policies/access_token.py
    rule("identity:authorize_request_token", ADMIN, PROJECT),
    rule("identity:get_access_token", ADMIN, PROJECT),
    rule("identity:get_access_token_role", ADMIN, PROJECT),
    rule("identity:list_access_tokens", ADMIN, PROJECT),
    rule("identity:list_access_token_roles", ADMIN, PROJECT),
    rule("identity:delete_access_token", ADMIN, PROJECT),
    // keystone/common/policies/application_credential.py
    rule("identity:get_application_credential", ADMIN_OR_SYSTEM_READER_OR_OWNER, SYSTEM_PROJECT),
    rule("identity:list_application_credentials", ADMIN_OR_SYSTEM_READER_OR_OWNER, SYSTEM_PROJECT),
    rule("identity:create_application_credential", PATH_USER, PROJECT),
    rule("identity:delete_application_credential", "rule:admin_or_owner", SYSTEM_PROJECT),
    // keystone/common/policies/auth.py
    rule("identity:get_auth_catalog", ANYONE, ANY_SCOPE),
    rule("identity:get_auth_projects", ANYONE, ANY_SCOPE),
    rule("identity:get_auth_domains", ANYONE, ANY_SCOPE),
    rule("identity:get_auth_system", ANYONE, ANY_SCOPE),
    // keystone/common/policies/consumer.py
    rule("identity:get_consumer", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:list_consumers", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:create_consumer", ADMIN, SYSTEM_PROJECT),
    rule("identity:update_consumer", ADMIN, SYSTEM_PROJECT),
    rule("identity:delete_consumer", ADMIN, SYSTEM_PROJECT),
    // keystone/common/policies/credential.py
    rule("identity:get_credential",
        ADMIN_OR_SYSTEM_READER_OR_CREDENTIAL_OWNER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:list_credentials",
        ADMIN_OR_SYSTEM_READER_OR_CREDENTIAL_OWNER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:create_credential", ADMIN_OR_CREDENTIAL_OWNER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:update_credential", ADMIN_OR_CREDENTIAL_OWNER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:delete_credential", ADMIN_OR_CREDENTIAL_OWNER, SYSTEM_DOMAIN_PROJECT),
    // keystone/common/policies/domain.py
    rule("identity:get_domain", DOMAIN_READER_OR_MEMBER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:list_domains", DOMAINS_READER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:create_domain", ADMIN, SYSTEM_PROJECT),
    rule("identity:update_domain", ADMIN, SYSTEM_PROJECT),
    rule("identity:delete_domain", ADMIN, SYSTEM_PROJECT),
    // keystone/common/policies/domain_config.py
    rule("identity:create_domain_config", ADMIN, SYSTEM_PROJECT),
    rule("identity:get_domain_config", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:get_security_compliance_domain_config", ANYONE, SYSTEM_DOMAIN_PROJECT),
    rule("identity:update_domain_config", ADMIN, SYSTEM_PROJECT),
    rule("identity:delete_domain_config", ADMIN, SYSTEM_PROJECT),
    rule("identity:get_domain_config_default", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    // keystone/common/policies/ec2_credential.py
    rule("identity:ec2_get_credential", ADMIN_OR_SYSTEM_READER_OR_CREDENTIAL_OWNER, SYSTEM_PROJECT),
    rule("identity:ec2_list_credentials", ADMIN_OR_SYSTEM_READER_OR_OWNER, SYSTEM_PROJECT),
    rule("identity:ec2_create_credential", ADMIN_OR_MEMBER_CREDENTIAL_OWNER, SYSTEM_PROJECT),
    rule("identity:ec2_delete_credential", ADMIN_OR_MEMBER_CREDENTIAL_OWNER, SYSTEM_PROJECT),
    // keystone/common/policies/endpoint.py
    rule("identity:get_endpoint", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:list_endpoints", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:create_endpoint", ADMIN, SYSTEM_PROJECT),
    rule("identity:update_endpoint", ADMIN, SYSTEM_PROJECT),
    rule("identity:delete_endpoint", ADMIN, SYSTEM_PROJECT),
    // keystone/common/policies/endpoint_group.py
    rule("identity:create_endpoint_group", ADMIN, SYSTEM_PROJECT),
    rule("identity:list_endpoint_groups", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:get_endpoint_group", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:update_endpoint_group", ADMIN, SYSTEM_PROJECT),
    rule("identity:delete_endpoint_group", ADMIN, SYSTEM_PROJECT),
    rule("identity:list_projects_associated_with_endpoint_group",
        ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:list_endpoints_associated_with_endpoint_group",
        ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:get_endpoint_group_in_project", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:list_endpoint_groups_for_project", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:add_endpoint_group_to_project", ADMIN, SYSTEM_PROJECT),
    rule("identity:remove_endpoint_group_from_project", ADMIN, SYSTEM_PROJECT),
    // keystone/common/policies/grant.py
    rule("identity:check_grant", GRANT_CHECKER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:list_grants", GRANT_READER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:create_grant", GRANT_MANAGER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:revoke_grant", GRANT_MANAGER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:list_system_grants_for_user", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:check_system_grant_for_user", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:create_system_grant_for_user", ADMIN, SYSTEM_PROJECT),
    rule("identity:revoke_system_grant_for_user", ADMIN, SYSTEM_PROJECT),
    rule("identity:list_system_grants_for_group", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:check_system_grant_for_group", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:create_system_grant_for_group", ADMIN, SYSTEM_PROJECT),
    rule("identity:revoke_system_grant_for_group", ADMIN, SYSTEM_PROJECT),
    // keystone/common/policies/group.py
    rule("identity:get_group", GROUP_READER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:list_groups", GROUP_READER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:list_groups_for_user", USER_GROUPS_READER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:create_group", GROUP_MANAGER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:update_group", GROUP_MANAGER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:delete_group", GROUP_MANAGER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:list_users_in_group", GROUP_READER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:remove_user_from_group", GROUP_MEMBERSHIP_MANAGER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:check_user_in_group", GROUP_MEMBERSHIP_READER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:add_user_to_group", GROUP_MEMBERSHIP_MANAGER, SYSTEM_DOMAIN_PROJECT),
    // keystone/common/policies/identity_provider.py
    rule("identity:create_identity_provider", ADMIN, SYSTEM_PROJECT),
    rule("identity:list_identity_providers", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:get_identity_provider", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:update_identity_provider", ADMIN, SYSTEM_PROJECT),
    rule("identity:delete_identity_provider", ADMIN, SYSTEM_PROJECT),
    // keystone/common/policies/implied_role.py
    rule("identity:get_implied_role", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:list_implied_roles", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:create_implied_role", ADMIN, SYSTEM_PROJECT),
    rule("identity:delete_implied_role", ADMIN, SYSTEM_PROJECT),
    rule("identity:list_role_inference_rules", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:check_implied_role", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    // keystone/common/policies/limit.py
    rule("identity:get_limit_model", ANYONE, SYSTEM_DOMAIN_PROJECT),
    rule("identity:get_limit", LIMIT_READER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:list_limits", ANYONE, SYSTEM_DOMAIN_PROJECT),
    rule("identity:create_limits", ADMIN, SYSTEM_PROJECT),
    rule("identity:update_limit", ADMIN, SYSTEM_PROJECT),
    rule("identity:delete_limit", ADMIN, SYSTEM_PROJECT),
    // keystone/common/policies/mapping.py
    rule("identity:create_mapping", ADMIN, SYSTEM_PROJECT),
    rule("identity:get_mapping", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:list_mappings", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:delete_mapping", ADMIN, SYSTEM_PROJECT),
    rule("identity:update_mapping", ADMIN, SYSTEM_PROJECT),
    // keystone/common/policies/policy.py
    rule("identity:get_policy", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:list_policies", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:create_policy", ADMIN, SYSTEM_PROJECT),
    rule("identity:update_policy", ADMIN, SYSTEM_PROJECT),
    rule("identity:delete_policy", ADMIN, SYSTEM_PROJECT),
    // keystone/common/policies/policy_association.py
    rule("identity:create_policy_association_for_endpoint", ADMIN, SYSTEM_PROJECT),
    rule("identity:check_policy_association_for_endpoint", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:delete_policy_association_for_endpoint", ADMIN, SYSTEM_PROJECT),
    rule("identity:create_policy_association_for_service", ADMIN, SYSTEM_PROJECT),
    rule("identity:check_policy_association_for_service", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:delete_policy_association_for_service", ADMIN, SYSTEM_PROJECT),
    rule("identity:create_policy_association_for_region_and_service", ADMIN, SYSTEM_PROJECT),
    rule("identity:check_policy_association_for_region_and_service",
        ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:delete_policy_association_for_region_and_service", ADMIN, SYSTEM_PROJECT),
    rule("identity:get_policy_for_endpoint", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:list_endpoints_for_policy", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    // keystone/common/policies/project.py
    rule("identity:get_project", PROJECT_READER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:list_projects", DOMAIN_SCOPED_READER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:list_user_projects", USER_PROJECTS_READER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:create_project", PROJECT_MANAGER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:update_project", PROJECT_MANAGER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:delete_project", PROJECT_MANAGER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:list_project_tags", PROJECT_READER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:get_project_tag", PROJECT_READER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:update_project_tags", PROJECT_MANAGER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:create_project_tag", PROJECT_MANAGER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:delete_project_tags", PROJECT_MANAGER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:delete_project_tag", PROJECT_MANAGER, SYSTEM_DOMAIN_PROJECT),
    // keystone/common/policies/project_endpoint.py
    rule("identity:list_projects_for_endpoint", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:add_endpoint_to_project", ADMIN, SYSTEM_PROJECT),
    rule("identity:check_endpoint_in_project", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:list_endpoints_for_project", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:remove_endpoint_from_project", ADMIN, SYSTEM_PROJECT),
    // keystone/common/policies/protocol.py
    rule("identity:create_protocol", ADMIN, SYSTEM_PROJECT),
    rule("identity:update_protocol", ADMIN, SYSTEM_PROJECT),
    rule("identity:get_protocol", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:list_protocols", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:delete_protocol", ADMIN, SYSTEM_PROJECT),
    // keystone/common/policies/region.py
    rule("identity:get_region", ANYONE, SYSTEM_DOMAIN_PROJECT),
    rule("identity:list_regions", ANYONE, SYSTEM_DOMAIN_PROJECT),
    rule("identity:create_region", ADMIN, SYSTEM_PROJECT),
    rule("identity:update_region", ADMIN, SYSTEM_PROJECT),
    rule("identity:delete_region", ADMIN, SYSTEM_PROJECT),
    // keystone/common/policies/registered_limit.py
    rule("identity:get_registered_limit", ANYONE, SYSTEM_DOMAIN_PROJECT),
    rule("identity:list_registered_limits", ANYONE, SYSTEM_DOMAIN_PROJECT),
    rule("identity:create_registered_limits", ADMIN, SYSTEM_PROJECT),
    rule("identity:update_registered_limit", ADMIN, SYSTEM_PROJECT),
    rule("identity:delete_registered_limit", ADMIN, SYSTEM_PROJECT),
    // keystone/common/policies/revoke_event.py
    rule("identity:list_revoke_events", SERVICE_OR_ADMIN, SYSTEM_PROJECT),
    // keystone/common/policies/role.py
    rule("identity:get_role", ROLE_READER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:list_roles", ROLES_READER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:create_role", ADMIN, SYSTEM_PROJECT),
    rule("identity:update_role", ADMIN, SYSTEM_PROJECT),
    rule("identity:delete_role", ADMIN, SYSTEM_PROJECT),
    rule("identity:get_domain_role", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:list_domain_roles", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:create_domain_role", ADMIN, SYSTEM_PROJECT),
    rule("identity:update_domain_role", ADMIN, SYSTEM_PROJECT),
    rule("identity:delete_domain_role", ADMIN, SYSTEM_PROJECT),
    // keystone/common/policies/role_assignment.py
    rule("identity:list_role_assignments", DOMAIN_SCOPED_READER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:list_role_assignments_for_tree", DOMAIN_SCOPED_READER, SYSTEM_DOMAIN_PROJECT),
    // keystone/common/policies/s3tokens.py
    rule("identity:s3tokens_validate", SERVICE_OR_ADMIN, SYSTEM_DOMAIN_PROJECT),
    // keystone/common/policies/ec2tokens.py
    rule("identity:ec2tokens_validate", SERVICE_OR_ADMIN, SYSTEM_DOMAIN_PROJECT),
    // keystone/common/policies/service.py
    rule("identity:get_service", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:list_services", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:create_service", ADMIN, SYSTEM_PROJECT),
    rule("identity:update_service", ADMIN, SYSTEM_PROJECT),
    rule("identity:delete_service", ADMIN, SYSTEM_PROJECT),
    // keystone/common/policies/service_provider.py
    rule("identity:create_service_provider", ADMIN, SYSTEM_PROJECT),
    rule("identity:list_service_providers", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:get_service_provider", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:update_service_provider", ADMIN, SYSTEM_PROJECT),
    rule("identity:delete_service_provider", ADMIN, SYSTEM_PROJECT),
    // keystone/common/policies/token_revocation.py (deprecated for removal; still registered)
    rule("identity:revocation_list", SERVICE_OR_ADMIN, SYSTEM_PROJECT),
    // keystone/common/policies/token.py
    rule("identity:check_token", TOKEN_CHECKER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:validate_token", TOKEN_VALIDATOR, SYSTEM_DOMAIN_PROJECT),
    rule("identity:revoke_token", ADMIN_OR_TOKEN_SUBJECT, SYSTEM_DOMAIN_PROJECT),
    // keystone/common/policies/trust.py
    rule("identity:create_trust", TRUSTOR, PROJECT),
    rule("identity:list_trusts", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT),
    rule("identity:list_trusts_for_trustor", TRUSTOR_READER, SYSTEM_PROJECT),
    rule("identity:list_trusts_for_trustee", TRUSTEE_READER, SYSTEM_PROJECT),
    rule("identity:list_roles_for_trust", TRUST_READER, SYSTEM_PROJECT),
    rule("identity:get_role_for_trust", TRUST_READER, SYSTEM_PROJECT),
    rule("identity:delete_trust", ADMIN_OR_TRUSTOR, SYSTEM_PROJECT),
    rule("identity:get_trust", TRUST_READER, SYSTEM_PROJECT),
    // keystone/common/policies/user.py
    rule("identity:get_user", USER_READER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:list_users", DOMAIN_SCOPED_READER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:list_projects_for_user", ANYONE, ANY_SCOPE),
    rule("identity:list_domains_for_user", ANYONE, ANY_SCOPE),
    rule("identity:create_user", USER_MANAGER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:update_user", USER_MANAGER, SYSTEM_DOMAIN_PROJECT),
    rule("identity:delete_user", USER_MANAGER, SYSTEM_DOMAIN_PROJECT),
];
