//! Roles and assignments: `role add --project --user` (and the user's token then carries the
//! role), `role assignment list --names --effective`, `role create/list/delete`.

use e2e_tests::{field, rows_where, strs, text, Cloud};
use serde_json::Value;

/// The role names in a token, validated by the admin over raw HTTP.
fn token_roles(c: &Cloud, token: &str) -> Vec<String> {
    let admin = c.token();
    let v = c.http(
        "GET",
        "/identity/v3/auth/tokens",
        &[("X-Auth-Token", &admin), ("X-Subject-Token", token)],
        None,
    );
    assert_eq!(v.status, 200, "{}", v.text);
    v.body["token"]["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str().map(String::from))
        .collect()
}

fn has_row(list: &Value, role: &str, user: &str, group: &str, project: &str) -> bool {
    list.as_array().into_iter().flatten().any(|r| {
        field(r, "Role") == role
            && field(r, "User") == user
            && field(r, "Group") == group
            && field(r, "Project") == project
    })
}

#[test]
fn role_list_create_delete() {
    let c = Cloud::start();
    let list = c.osc_json(&["role", "list"]);
    for name in ["admin", "member", "reader"] {
        assert_eq!(
            rows_where(&list, "Name", name).len(),
            1,
            "bootstrap role {name}: {list:#}"
        );
    }
    let r = c.osc_json(&["role", "create", "auditor"]);
    let id = text(&r, "id");
    assert_eq!(text(&r, "name"), "auditor");
    let err = c.osc_fails(&["role", "create", "auditor"]);
    assert!(err.contains("409"), "{err}");
    assert_eq!(text(&c.osc_json(&["role", "show", "auditor"]), "id"), id);
    c.osc(&["role", "delete", "auditor"]);
    assert!(rows_where(&c.osc_json(&["role", "list"]), "ID", &id).is_empty());
}

#[test]
fn role_add_to_user_on_project_then_the_users_token_carries_it() {
    let c = Cloud::start();
    let pid = text(
        &c.osc_json(&["project", "create", "--domain", "default", "p1"]),
        "id",
    );
    let uid = text(
        &c.osc_json(&[
            "user",
            "create",
            "--domain",
            "default",
            "--password",
            "pw",
            "u1",
        ]),
        "id",
    );
    let auth = c.password_auth("u1", "pw", Some("p1"));

    // Without a role the user cannot get a token scoped to the project.
    let err = c.osc_with_fails(&strs(&auth), &["token", "issue"]);
    assert!(err.contains("401"), "{err}");

    let out = c.osc(&["role", "add", "--project", "p1", "--user", "u1", "member"]);
    assert_eq!(out.trim(), "");
    let list = c.osc_json(&[
        "role",
        "assignment",
        "list",
        "--user",
        "u1",
        "--project",
        "p1",
        "--names",
    ]);
    assert!(
        has_row(&list, "member", "u1@Default", "", "p1@Default"),
        "{list:#}"
    );

    let t = c.osc_with_json(&strs(&auth), &["token", "issue"]);
    assert_eq!(text(&t, "project_id"), pid);
    assert_eq!(text(&t, "user_id"), uid);
    let roles = token_roles(&c, &text(&t, "id"));
    assert!(
        roles.iter().any(|r| r == "member"),
        "the token carries the role: {roles:?}"
    );
    assert!(
        !roles.iter().any(|r| r == "admin"),
        "and not admin: {roles:?}"
    );

    // A member may list the project's own things but not create projects.
    let err = c.osc_with_fails(&strs(&auth), &["project", "create", "nope"]);
    assert!(
        err.contains("403"),
        "a member cannot create projects: {err}"
    );

    c.osc(&[
        "role",
        "remove",
        "--project",
        "p1",
        "--user",
        "u1",
        "member",
    ]);
    let err = c.osc_with_fails(&strs(&auth), &["token", "issue"]);
    assert!(
        err.contains("401"),
        "no role, no project-scoped token: {err}"
    );
}

#[test]
fn role_assignment_list_names_effective_expands_groups() {
    let c = Cloud::start();
    c.osc_json(&["project", "create", "--domain", "default", "p1"]);
    c.osc_json(&[
        "user",
        "create",
        "--domain",
        "default",
        "--password",
        "pw",
        "u1",
    ]);
    c.osc_json(&["group", "create", "--domain", "default", "g1"]);
    c.osc(&["group", "add", "user", "g1", "u1"]);
    c.osc(&["role", "add", "--project", "p1", "--user", "u1", "member"]);
    c.osc(&["role", "add", "--project", "p1", "--group", "g1", "reader"]);

    // Direct assignments: the user's member role and the group's reader role.
    let direct = c.osc_json(&["role", "assignment", "list", "--names", "--project", "p1"]);
    assert!(
        has_row(&direct, "member", "u1@Default", "", "p1@Default"),
        "{direct:#}"
    );
    assert!(
        has_row(&direct, "reader", "", "g1@Default", "p1@Default"),
        "{direct:#}"
    );

    // Effective: the group's role shows up as the user's own; no group rows remain.
    let eff = c.osc_json(&[
        "role",
        "assignment",
        "list",
        "--names",
        "--effective",
        "--user",
        "u1",
    ]);
    assert!(
        has_row(&eff, "member", "u1@Default", "", "p1@Default"),
        "{eff:#}"
    );
    assert!(
        has_row(&eff, "reader", "u1@Default", "", "p1@Default"),
        "{eff:#}"
    );
    assert!(
        eff.as_array()
            .into_iter()
            .flatten()
            .all(|r| field(r, "Group") == ""),
        "{eff:#}"
    );
    assert!(
        eff.as_array()
            .into_iter()
            .flatten()
            .all(|r| field(r, "Inherited") == false),
        "{eff:#}"
    );

    let eff = c.osc_json(&[
        "role",
        "assignment",
        "list",
        "--names",
        "--effective",
        "--project",
        "p1",
    ]);
    assert!(
        has_row(&eff, "reader", "u1@Default", "", "p1@Default"),
        "{eff:#}"
    );
    assert!(
        !eff.as_array()
            .into_iter()
            .flatten()
            .any(|r| field(r, "Group") != ""),
        "{eff:#}"
    );

    // The admin's own assignment from bootstrap.
    let admin = c.osc_json(&[
        "role",
        "assignment",
        "list",
        "--names",
        "--effective",
        "--user",
        "admin",
    ]);
    assert!(
        has_row(&admin, "admin", "admin@Default", "", "admin@Default"),
        "{admin:#}"
    );

    // The user's project-scoped token carries both roles.
    let auth = c.password_auth("u1", "pw", Some("p1"));
    let t = c.osc_with_json(&strs(&auth), &["token", "issue"]);
    let roles = token_roles(&c, &text(&t, "id"));
    assert!(
        roles.iter().any(|r| r == "member") && roles.iter().any(|r| r == "reader"),
        "{roles:?}"
    );
}
