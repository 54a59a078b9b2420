//! Users and groups: `user create/set --password/delete` (and logging in as the user),
//! `group create`, `group add user`, `group contains user`.

use e2e_tests::{field, rows_where, strs, text, Cloud};

#[test]
fn user_create_set_password_delete_and_log_in_as_the_user() {
    let c = Cloud::start();
    let u = c.osc_json(&[
        "user",
        "create",
        "--domain",
        "default",
        "--password",
        "first-pw",
        "--email",
        "u1@example.com",
        "--description",
        "a user",
        "u1",
    ]);
    let id = text(&u, "id");
    assert_eq!(id.len(), 32, "{u:#}");
    assert_eq!(text(&u, "name"), "u1");
    assert_eq!(text(&u, "domain_id"), "default");
    assert_eq!(text(&u, "email"), "u1@example.com");
    assert_eq!(field(&u, "enabled"), true);
    assert!(
        field(&u, "password").is_null(),
        "the password is never shown: {u:#}"
    );

    let list = c.osc_json(&["user", "list"]);
    assert_eq!(rows_where(&list, "Name", "u1").len(), 1, "{list:#}");
    assert_eq!(text(&c.osc_json(&["user", "show", "u1"]), "id"), id);

    // The user logs in (unscoped: no role anywhere yet).
    let auth = c.password_auth("u1", "first-pw", None);
    let t = c.osc_with_json(&strs(&auth), &["token", "issue"]);
    assert_eq!(text(&t, "user_id"), id);
    assert!(text(&t, "id").starts_with("gAAAAA"));

    // The admin sets a new password: the old one stops working, the new one works.
    assert_eq!(
        c.osc(&["user", "set", "--password", "second-pw", "u1"])
            .trim(),
        ""
    );
    let err = c.osc_with_fails(&strs(&auth), &["token", "issue"]);
    assert!(err.contains("401"), "the old password is refused: {err}");
    let auth2 = c.password_auth("u1", "second-pw", None);
    assert_eq!(
        text(
            &c.osc_with_json(&strs(&auth2), &["token", "issue"]),
            "user_id"
        ),
        id
    );

    // A disabled user cannot log in.
    c.osc(&["user", "set", "--disable", "u1"]);
    assert_eq!(
        field(&c.osc_json(&["user", "show", "u1"]), "enabled"),
        false
    );
    let err = c.osc_with_fails(&strs(&auth2), &["token", "issue"]);
    assert!(err.contains("401"), "{err}");
    c.osc(&["user", "set", "--enable", "u1"]);

    assert_eq!(c.osc(&["user", "delete", "u1"]).trim(), "");
    assert!(rows_where(&c.osc_json(&["user", "list"]), "ID", &id).is_empty());
    let err = c.osc_fails(&["user", "show", &id]);
    assert!(err.contains(&format!("No User found for {id}")), "{err}");
    let err = c.osc_with_fails(&strs(&auth2), &["token", "issue"]);
    assert!(err.contains("401"), "a deleted user cannot log in: {err}");
}

#[test]
fn user_changes_own_password() {
    let c = Cloud::start();
    let id = text(
        &c.osc_json(&[
            "user",
            "create",
            "--domain",
            "default",
            "--password",
            "old-pw",
            "u2",
        ]),
        "id",
    );
    let auth = c.password_auth("u2", "old-pw", None);
    let out = c.osc_with_output(
        &strs(&auth),
        &[
            "user",
            "password",
            "set",
            "--original-password",
            "old-pw",
            "--password",
            "new-pw",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = c.osc_with_fails(&strs(&auth), &["token", "issue"]);
    assert!(err.contains("401"), "{err}");
    let auth = c.password_auth("u2", "new-pw", None);
    assert_eq!(
        text(
            &c.osc_with_json(&strs(&auth), &["token", "issue"]),
            "user_id"
        ),
        id
    );
}

#[test]
fn group_create_add_user_contains_remove() {
    let c = Cloud::start();
    let g = c.osc_json(&[
        "group",
        "create",
        "--domain",
        "default",
        "--description",
        "the team",
        "g1",
    ]);
    let gid = text(&g, "id");
    assert_eq!(text(&g, "name"), "g1");
    assert_eq!(text(&g, "domain_id"), "default");
    assert_eq!(text(&g, "description"), "the team");
    let err = c.osc_fails(&["group", "create", "--domain", "default", "g1"]);
    assert!(err.contains("409"), "duplicate group: {err}");
    assert_eq!(
        rows_where(&c.osc_json(&["group", "list"]), "Name", "g1").len(),
        1
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
    c.osc_json(&[
        "user",
        "create",
        "--domain",
        "default",
        "--password",
        "pw",
        "u2",
    ]);

    let out = c.osc_output(&["group", "add", "user", "g1", "u1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = c.osc_output(&["group", "contains", "user", "g1", "u1"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "u1 in group g1"
    );
    let out = c.osc_output(&["group", "contains", "user", "g1", "u2"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "u2 not in group g1"
    );

    let members = c.osc_json(&["user", "list", "--group", "g1"]);
    assert_eq!(rows_where(&members, "ID", &uid).len(), 1, "{members:#}");
    assert!(rows_where(&members, "Name", "u2").is_empty(), "{members:#}");

    c.osc(&["group", "remove", "user", "g1", "u1"]);
    let out = c.osc_output(&["group", "contains", "user", "g1", "u1"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "u1 not in group g1"
    );

    c.osc(&["group", "delete", "g1"]);
    assert!(rows_where(&c.osc_json(&["group", "list"]), "ID", &gid).is_empty());
}
