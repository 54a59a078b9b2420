//! The persona matrix: who may do what with Keystone's defaults.

use super::DEFAULTS;
use crate::{target, Credentials, Enforcer, Target, NONE};

const DEFAULT_DOMAIN: &str = "default";

fn enforcer() -> Enforcer {
    Enforcer::new(DEFAULTS).unwrap()
}

fn roles(names: &[&str]) -> Vec<String> {
    names.iter().map(|r| (*r).to_owned()).collect()
}

/// A project-scoped token on project `pa` (domain `default`), roles already expanded.
fn on_project_a(user: &str, role_names: &[&str]) -> Credentials {
    Credentials {
        user_id: user.into(),
        user_domain_id: DEFAULT_DOMAIN.into(),
        project_id: Some("pa".into()),
        project_domain_id: Some(DEFAULT_DOMAIN.into()),
        roles: roles(role_names),
        ..Default::default()
    }
}

fn project_admin() -> Credentials {
    on_project_a("adm", &["admin", "member", "reader"])
}

fn alice_member() -> Credentials {
    on_project_a("alice", &["member", "reader"])
}

fn rita_reader() -> Credentials {
    on_project_a("rita", &["reader"])
}

fn system(role_names: &[&str]) -> Credentials {
    Credentials {
        user_id: "sys".into(),
        user_domain_id: DEFAULT_DOMAIN.into(),
        system_scope: Some("all".into()),
        roles: roles(role_names),
        ..Default::default()
    }
}

fn system_admin() -> Credentials {
    system(&["admin", "member", "reader"])
}

fn system_reader() -> Credentials {
    system(&["reader"])
}

/// A domain-scoped manager of domain `d1`.
fn d1_manager() -> Credentials {
    Credentials {
        user_id: "dm".into(),
        user_domain_id: "d1".into(),
        domain_id: Some("d1".into()),
        roles: roles(&["manager", "member", "reader"]),
        ..Default::default()
    }
}

fn service_user() -> Credentials {
    Credentials {
        user_id: "nova".into(),
        user_domain_id: DEFAULT_DOMAIN.into(),
        project_id: Some("service".into()),
        project_domain_id: Some(DEFAULT_DOMAIN.into()),
        roles: roles(&["service"]),
        ..Default::default()
    }
}

fn project(id: &str, domain: &str) -> Target {
    target(&[
        ("target.project.id", id),
        ("target.project.domain_id", domain),
    ])
}

fn user(id: &str, domain: &str) -> Target {
    target(&[("target.user.id", id), ("target.user.domain_id", domain)])
}

fn group(domain: &str) -> Target {
    target(&[
        ("target.group.id", "g1"),
        ("target.group.domain_id", domain),
    ])
}

fn path_user(id: &str) -> Target {
    target(&[("user_id", id)])
}

fn token_of(owner: &str) -> Target {
    target(&[("target.token.user_id", owner)])
}

/// A grant of the global role `role` to a user of `user_domain` on a project of
/// `project_domain`.
fn grant(role: &str, user_domain: &str, project_domain: &str) -> Target {
    target(&[
        ("target.role.id", role),
        ("target.role.name", role),
        ("target.role.domain_id", NONE),
        ("target.user.id", "u9"),
        ("target.user.domain_id", user_domain),
        ("target.project.id", "p9"),
        ("target.project.domain_id", project_domain),
    ])
}

fn none() -> Target {
    Target::new()
}

/// Asserts `creds` may perform every `(action, target)` of `allowed` and none of `denied`,
/// reporting all mismatches at once.
fn assert_policy(
    who: &str,
    creds: &Credentials,
    allowed: &[(&str, Target)],
    denied: &[(&str, Target)],
) {
    let e = enforcer();
    let mut wrong = Vec::new();
    for (expected, rows) in [(true, allowed), (false, denied)] {
        for (action, target) in rows {
            if e.enforce(action, target, creds) != expected {
                wrong.push(format!(
                    "{who} {action} {target:?}: expected allowed={expected}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "policy mismatches:\n{}", wrong.join("\n"));
}

#[test]
fn every_referenced_rule_exists() {
    let e = enforcer();
    assert_eq!(e.undefined_references(), Vec::<(String, String)>::new());
    for rule in DEFAULTS {
        assert_eq!(e.check_str(rule.name), Some(rule.check_str));
    }
}

#[test]
fn defaults_are_keystones_identity_rules() {
    let base = [
        "admin_required",
        "service_role",
        "service_or_admin",
        "owner",
        "admin_or_owner",
        "token_subject",
        "admin_or_token_subject",
        "service_admin_or_token_subject",
        "domain_managed_target_role",
    ];
    for rule in DEFAULTS {
        assert!(
            rule.name.starts_with("identity:") || base.contains(&rule.name),
            "{} is neither identity:* nor a base rule",
            rule.name
        );
    }
    assert_eq!(DEFAULTS.len(), 203);
    assert!(DEFAULTS
        .iter()
        .any(|r| r.name == "identity:list_role_assignments"));
}

#[test]
fn project_admin_manages_the_whole_cloud() {
    let other_project = project("pb", DEFAULT_DOMAIN);
    let bob = user("bob", DEFAULT_DOMAIN);
    let g = group(DEFAULT_DOMAIN);
    let member_grant = grant("member", DEFAULT_DOMAIN, DEFAULT_DOMAIN);
    let mut allowed = vec![
        ("identity:create_project", other_project.clone()),
        ("identity:list_projects", none()),
        ("identity:get_project", other_project.clone()),
        ("identity:update_project", other_project.clone()),
        ("identity:delete_project", other_project.clone()),
        ("identity:create_user", bob.clone()),
        ("identity:list_users", none()),
        ("identity:get_user", bob.clone()),
        ("identity:update_user", bob.clone()),
        ("identity:delete_user", bob),
        ("identity:create_group", g.clone()),
        ("identity:list_groups", none()),
        ("identity:update_group", g.clone()),
        ("identity:delete_group", g),
        ("identity:create_grant", member_grant.clone()),
        ("identity:check_grant", member_grant.clone()),
        ("identity:list_grants", member_grant.clone()),
        ("identity:revoke_grant", member_grant),
        ("identity:list_role_assignments", none()),
        ("identity:list_role_assignments", other_project),
        ("identity:create_domain", none()),
        ("identity:validate_token", token_of("bob")),
        ("identity:revoke_token", token_of("bob")),
        ("identity:delete_application_credential", path_user("bob")),
    ];
    for action in [
        "identity:create_role",
        "identity:get_role",
        "identity:list_roles",
        "identity:update_role",
        "identity:delete_role",
        "identity:create_region",
        "identity:get_region",
        "identity:list_regions",
        "identity:update_region",
        "identity:delete_region",
        "identity:create_service",
        "identity:get_service",
        "identity:list_services",
        "identity:update_service",
        "identity:delete_service",
        "identity:create_endpoint",
        "identity:get_endpoint",
        "identity:list_endpoints",
        "identity:update_endpoint",
        "identity:delete_endpoint",
    ] {
        allowed.push((action, none()));
    }
    assert_policy("project admin", &project_admin(), &allowed, &[]);
}

#[test]
fn project_member_stays_in_its_project() {
    let own = project("pa", DEFAULT_DOMAIN);
    let other = project("pb", DEFAULT_DOMAIN);
    let alice = user("alice", DEFAULT_DOMAIN);
    let bob = user("bob", DEFAULT_DOMAIN);
    let allowed = [
        ("identity:get_project", own.clone()),
        ("identity:list_project_tags", own.clone()),
        ("identity:get_user", alice.clone()),
        ("identity:list_user_projects", alice),
        ("identity:list_regions", none()),
        ("identity:get_region", none()),
        ("identity:get_auth_catalog", none()),
        ("identity:get_auth_projects", none()),
    ];
    let denied = [
        ("identity:get_project", other.clone()),
        ("identity:list_project_tags", other.clone()),
        ("identity:create_project_tag", own.clone()),
        ("identity:update_project", own.clone()),
        ("identity:delete_project", own),
        ("identity:create_project", other.clone()),
        ("identity:list_projects", none()),
        ("identity:create_user", user("new", DEFAULT_DOMAIN)),
        ("identity:list_users", none()),
        ("identity:get_user", bob.clone()),
        ("identity:list_user_projects", bob),
        ("identity:list_role_assignments", other),
        ("identity:list_role_assignments", none()),
        (
            "identity:create_grant",
            grant("member", DEFAULT_DOMAIN, DEFAULT_DOMAIN),
        ),
        ("identity:create_group", group(DEFAULT_DOMAIN)),
        ("identity:create_role", none()),
        ("identity:list_roles", none()),
        ("identity:create_region", none()),
        ("identity:list_services", none()),
    ];
    assert_policy("member", &alice_member(), &allowed, &denied);
}

#[test]
fn readers_read_but_never_write() {
    let own = project("pa", DEFAULT_DOMAIN);
    let other = project("pb", DEFAULT_DOMAIN);
    let limit = target(&[("target.limit.project_id", "pa"), ("target.limit.id", "l1")]);
    let writes = [
        ("identity:create_project", other.clone()),
        ("identity:update_project", own.clone()),
        ("identity:delete_project", own.clone()),
        ("identity:create_project_tag", own.clone()),
        ("identity:create_user", user("bob", "d2")),
        ("identity:update_user", user("rita", DEFAULT_DOMAIN)),
        ("identity:delete_user", user("bob", "d2")),
        ("identity:create_group", group("d2")),
        ("identity:create_role", none()),
        ("identity:delete_role", none()),
        ("identity:create_grant", grant("member", "d2", "d2")),
        ("identity:revoke_grant", grant("member", "d2", "d2")),
        ("identity:create_domain", none()),
        ("identity:create_region", none()),
        ("identity:create_service", none()),
        ("identity:create_endpoint", none()),
        ("identity:revoke_token", token_of("bob")),
        ("identity:delete_application_credential", path_user("bob")),
    ];
    let project_reads = [
        ("identity:get_project", own),
        ("identity:get_user", user("rita", DEFAULT_DOMAIN)),
        ("identity:list_regions", none()),
        ("identity:get_limit", limit.clone()),
        ("identity:list_limits", none()),
    ];
    assert_policy("project reader", &rita_reader(), &project_reads, &writes);
    let system_reads = [
        ("identity:get_project", other),
        ("identity:list_projects", none()),
        ("identity:get_user", user("bob", "d2")),
        ("identity:list_users", none()),
        ("identity:list_groups", none()),
        ("identity:get_role", none()),
        ("identity:list_roles", none()),
        ("identity:list_role_assignments", none()),
        ("identity:check_grant", grant("admin", "d2", "d2")),
        ("identity:get_domain", target(&[("target.domain.id", "d2")])),
        ("identity:list_domains", none()),
        ("identity:list_services", none()),
        ("identity:list_endpoints", none()),
        ("identity:get_limit", limit),
        ("identity:check_token", token_of("bob")),
        ("identity:list_application_credentials", path_user("bob")),
    ];
    assert_policy("system reader", &system_reader(), &system_reads, &writes);
}

#[test]
fn users_manage_their_own_application_credentials() {
    let mine = path_user("alice");
    let bobs = path_user("bob");
    let allowed = [
        ("identity:create_application_credential", mine.clone()),
        ("identity:list_application_credentials", mine.clone()),
        ("identity:get_application_credential", mine.clone()),
        ("identity:delete_application_credential", mine),
    ];
    let denied = [
        ("identity:create_application_credential", bobs.clone()),
        ("identity:list_application_credentials", bobs.clone()),
        ("identity:get_application_credential", bobs.clone()),
        ("identity:delete_application_credential", bobs.clone()),
        ("identity:create_application_credential", none()),
    ];
    assert_policy("alice", &alice_member(), &allowed, &denied);
    // Creating one needs a project-scoped token, even for a system admin.
    assert_policy(
        "system admin",
        &system_admin(),
        &[("identity:delete_application_credential", bobs)],
        &[("identity:create_application_credential", path_user("sys"))],
    );
}

#[test]
fn password_change_has_no_rule_and_update_user_is_not_self_service() {
    let e = enforcer();
    // Keystone runs POST /v3/users/{user_id}/password unenforced: no rule exists.
    assert_eq!(e.check_str("identity:change_password"), None);
    let alice = user("alice", DEFAULT_DOMAIN);
    assert!(!e.enforce("identity:update_user", &alice, &alice_member()));
    assert!(e.enforce("identity:update_user", &alice, &project_admin()));
}

#[test]
fn token_owners_check_validate_and_revoke_their_own_tokens() {
    let own = token_of("alice");
    let bobs = token_of("bob");
    let allowed = [
        ("identity:validate_token", own.clone()),
        ("identity:check_token", own.clone()),
        ("identity:revoke_token", own),
    ];
    let denied = [
        ("identity:validate_token", bobs.clone()),
        ("identity:check_token", bobs.clone()),
        ("identity:revoke_token", bobs.clone()),
        ("identity:validate_token", none()),
        ("identity:list_revoke_events", none()),
    ];
    assert_policy("alice", &alice_member(), &allowed, &denied);
    assert_policy(
        "service",
        &service_user(),
        &[
            ("identity:validate_token", bobs.clone()),
            ("identity:list_revoke_events", none()),
        ],
        &[
            ("identity:check_token", bobs.clone()),
            ("identity:revoke_token", bobs.clone()),
        ],
    );
    assert_policy(
        "system reader",
        &system_reader(),
        &[("identity:validate_token", bobs.clone())],
        &[("identity:revoke_token", bobs)],
    );
}

#[test]
fn domain_manager_acts_within_its_domain() {
    let allowed = [
        ("identity:create_user", user("new", "d1")),
        ("identity:create_project", project("new", "d1")),
        ("identity:get_project", project("p1", "d1")),
        ("identity:create_group", group("d1")),
        ("identity:create_grant", grant("member", "d1", "d1")),
        ("identity:list_roles", none()),
        ("identity:list_users", target(&[("target.domain_id", "d1")])),
    ];
    let denied = [
        ("identity:create_user", user("new", "d2")),
        ("identity:create_project", project("new", "d2")),
        ("identity:create_group", group("d2")),
        ("identity:create_grant", grant("admin", "d1", "d1")),
        ("identity:create_grant", grant("member", "d2", "d1")),
        ("identity:list_users", target(&[("target.domain_id", "d2")])),
        // Role definitions and the catalog are system or project business.
        ("identity:create_role", none()),
        ("identity:create_region", none()),
    ];
    assert_policy("d1 manager", &d1_manager(), &allowed, &denied);
}

#[test]
fn scope_types_follow_keystone() {
    let e = enforcer();
    let mut domain_admin = d1_manager();
    domain_admin.roles.push("admin".into());
    // admin_required alone would pass; scope_types ["system", "project"] refuse the domain token.
    assert!(!e.enforce("identity:create_role", &none(), &domain_admin));
    assert!(!e.enforce("identity:create_service", &none(), &domain_admin));
    assert!(e.enforce("identity:create_user", &user("x", "d9"), &domain_admin));
    // Unscoped-friendly rules carry no scope types.
    assert_eq!(
        e.scope_types("identity:list_projects_for_user"),
        Some(&[][..])
    );
    assert_eq!(
        e.scope_types("identity:create_trust"),
        Some(&["project"][..])
    );
}

#[test]
fn operators_can_override_keystone_defaults() {
    let e = enforcer()
        .with_overrides("\"identity:list_regions\": \"role:admin\"\n")
        .unwrap();
    assert!(!e.enforce("identity:list_regions", &none(), &alice_member()));
    assert!(e.enforce("identity:list_regions", &none(), &project_admin()));
    let all_scopes = ["system", "domain", "project"];
    assert_eq!(
        e.scope_types("identity:list_regions"),
        Some(&all_scopes[..])
    );
}
