//! `openstack project create/list/show/set/delete`.

use e2e_tests::{field, rows_where, text, Cloud};

#[test]
fn project_create_list_show_set_delete() {
    let c = Cloud::start();
    let p = c.osc_json(&[
        "project",
        "create",
        "--domain",
        "default",
        "--description",
        "first",
        "p1",
    ]);
    let id = text(&p, "id");
    assert_eq!(id.len(), 32, "a uuid hex id: {id}");
    assert_eq!(text(&p, "name"), "p1");
    assert_eq!(text(&p, "description"), "first");
    assert_eq!(text(&p, "domain_id"), "default");
    assert_eq!(field(&p, "enabled"), true);
    assert_eq!(field(&p, "is_domain"), false);
    assert_eq!(text(&p, "parent_id"), "default");

    let err = c.osc_fails(&["project", "create", "--domain", "default", "p1"]);
    assert!(
        err.contains("409"),
        "a duplicate name is a 409 conflict: {err}"
    );

    let list = c.osc_json(&["project", "list"]);
    let rows = rows_where(&list, "Name", "p1");
    assert_eq!(rows.len(), 1, "{list:#}");
    assert_eq!(text(rows[0], "ID"), id);
    assert!(
        !rows_where(&list, "Name", "admin").is_empty(),
        "bootstrap's admin project is listed"
    );

    let shown = c.osc_json(&["project", "show", "p1"]);
    assert_eq!(text(&shown, "id"), id);
    assert_eq!(text(&shown, "description"), "first");

    let out = c.osc(&[
        "project",
        "set",
        "--name",
        "p1-renamed",
        "--description",
        "second",
        "--disable",
        &id,
    ]);
    assert_eq!(out.trim(), "");
    let shown = c.osc_json(&["project", "show", &id]);
    assert_eq!(text(&shown, "name"), "p1-renamed");
    assert_eq!(text(&shown, "description"), "second");
    assert_eq!(field(&shown, "enabled"), false);
    c.osc(&["project", "set", "--enable", "p1-renamed"]);
    assert_eq!(
        field(&c.osc_json(&["project", "show", &id]), "enabled"),
        true
    );

    let out = c.osc(&["project", "delete", "p1-renamed"]);
    assert_eq!(out.trim(), "");
    let list = c.osc_json(&["project", "list"]);
    assert!(rows_where(&list, "ID", &id).is_empty(), "deleted: {list:#}");
    let err = c.osc_fails(&["project", "show", &id]);
    assert!(err.contains(&format!("No Project found for {id}")), "{err}");
}
