//! Nova defaults: every reference resolves, scopes, and the personas.

use super::*;
use crate::{target, Credentials, Enforcer};

fn creds(user: &str, project: &str, roles: &[&str]) -> Credentials {
    Credentials {
        user_id: user.into(),
        user_domain_id: "default".into(),
        project_id: Some(project.into()),
        project_domain_id: Some("default".into()),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    }
}

#[test]
fn defaults_load_without_dangling_references() {
    let e = Enforcer::new(DEFAULTS).unwrap();
    assert!(
        e.undefined_references().is_empty(),
        "{:?}",
        e.undefined_references()
    );
}

#[test]
fn every_api_rule_is_project_scoped() {
    for r in DEFAULTS.iter().filter(|r| r.name.contains(':')) {
        assert_eq!(r.scope_types, PROJECT, "{}", r.name);
    }
}

#[test]
fn rules_the_compute_api_calls_exist() {
    let e = Enforcer::new(DEFAULTS).unwrap();
    for name in [
        "os_compute_api:servers:index",
        "os_compute_api:servers:detail:get_all_tenants",
        "os_compute_api:servers:create:forced_host",
        "os_compute_api:servers:show:host_status",
        "os_compute_api:servers:trigger_crash_dump",
        "os_compute_api:os-pause-server:unpause",
        "os_compute_api:os-suspend-server:resume",
        "os_compute_api:os-lock-server:unlock:unlock_override",
        "os_compute_api:os-shelve:shelve_offload",
        "os_compute_api:os-console-output",
        "os_compute_api:server-metadata:update_all",
        "os_compute_api:os-server-tags:delete_all",
        "os_compute_api:os-instance-actions:events",
        "os_compute_api:os-extended-server-attributes",
        "os_compute_api:os-rescue",
        "os_compute_api:os-attach-interfaces:create",
        "os_compute_api:os-volumes-attachments:swap",
        "os_compute_api:os-flavor-manage:create",
        "os_compute_api:os-flavor-access:add_tenant_access",
        "os_compute_api:os-flavor-extra-specs:index",
        "os_compute_api:os-keypairs:create",
        "os_compute_api:os-server-groups:index:all_projects",
        "os_compute_api:os-quota-sets:detail",
        "os_compute_api:limits:other_project",
        "os_compute_api:os-availability-zone:detail",
        "os_compute_api:os-services:update",
        "os_compute_api:os-hypervisors:statistics",
        "os_compute_api:os-simple-tenant-usage:list",
        "os_compute_api:os-migrations:index",
        "os_compute_api:extensions",
    ] {
        assert!(e.check_str(name).is_some(), "{name} is not defined");
    }
}

#[test]
fn personas() {
    let e = Enforcer::new(DEFAULTS).unwrap();
    let member = creds("u1", "p1", &["member", "reader"]);
    let reader = creds("u2", "p1", &["reader"]);
    let other = creds("u3", "p2", &["member", "reader"]);
    let admin = creds("u9", "p9", &["admin", "member", "reader"]);
    let manager = creds("u4", "p1", &["manager", "member", "reader"]);
    let own = target(&[("project_id", "p1")]);
    assert!(e.enforce("os_compute_api:servers:create", &own, &member));
    assert!(!e.enforce("os_compute_api:servers:create", &own, &reader));
    assert!(e.enforce("os_compute_api:servers:show", &own, &reader));
    assert!(!e.enforce("os_compute_api:servers:show", &own, &other));
    assert!(e.enforce("os_compute_api:servers:delete", &own, &admin));
    assert!(!e.enforce(
        "os_compute_api:servers:index:get_all_tenants",
        &own,
        &member
    ));
    assert!(e.enforce("os_compute_api:servers:index:get_all_tenants", &own, &admin));
    assert!(!e.enforce("os_compute_api:os-flavor-manage:create", &own, &member));
    assert!(e.enforce("os_compute_api:os-flavor-manage:create", &own, &admin));
    assert!(!e.enforce("os_compute_api:os-migrations:index", &own, &member));
    assert!(e.enforce("os_compute_api:os-migrations:index", &own, &manager));
    assert!(!e.enforce("compute:servers:resize:cross_cell", &own, &admin));
    // Anyone with a project token may list zones, read limits and quota defaults.
    assert!(e.enforce("os_compute_api:os-availability-zone:list", &own, &other));
    assert!(e.enforce("os_compute_api:limits", &own, &other));
    assert!(e.enforce("os_compute_api:os-quota-sets:defaults", &own, &other));
    // Keypairs belong to a user, not a project.
    let mine = target(&[("user_id", "u1")]);
    assert!(e.enforce("os_compute_api:os-keypairs:create", &mine, &member));
    assert!(!e.enforce("os_compute_api:os-keypairs:show", &mine, &reader));
    assert!(e.enforce("os_compute_api:os-keypairs:show", &mine, &admin));
    // The deprecated aliases keep their meaning.
    assert!(e.enforce("admin_api", &own, &admin));
    assert!(!e.enforce("admin_api", &own, &member));
    assert!(e.enforce("admin_or_owner", &own, &reader));
}

#[test]
fn system_scoped_tokens_are_refused() {
    let e = Enforcer::new(DEFAULTS).unwrap();
    let sys = Credentials {
        user_id: "u".into(),
        system_scope: Some("all".into()),
        roles: vec!["admin".into()],
        ..Default::default()
    };
    assert!(!e.enforce("os_compute_api:os-services:list", &target(&[]), &sys));
}
