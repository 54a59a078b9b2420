//! Tokens and the catalog, as `openstack` shows them: `token issue`, `token revoke`,
//! `catalog list`, `endpoint list`, `region list`.

use std::collections::BTreeSet;

use e2e_tests::{field, rows_where, strs, text, Cloud};

#[test]
fn token_issue_gives_a_project_scoped_fernet_token_for_admin() {
    let c = Cloud::start();
    let t = c.osc_json(&["token", "issue"]);
    let id = text(&t, "id");
    assert!(id.starts_with("gAAAAA"), "a Fernet token: {id}");
    assert!(
        id.len() <= 255,
        "fits Keystone's max_token_size: {}",
        id.len()
    );
    let expires = text(&t, "expires");
    assert!(
        expires.contains('T') && expires.len() >= 19,
        "ISO-8601 expiry: {expires}"
    );

    let admin = c.osc_json(&["project", "show", "admin"]);
    assert_eq!(
        text(&t, "project_id"),
        text(&admin, "id"),
        "scoped to the admin project"
    );

    // The token validates, and it is the admin user's with the admin role.
    let v = c.http(
        "GET",
        "/identity/v3/auth/tokens",
        &[("X-Auth-Token", &id), ("X-Subject-Token", &id)],
        None,
    );
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.body["token"]["user"]["id"], text(&t, "user_id").as_str());
    assert_eq!(v.body["token"]["user"]["name"], "admin");
    let roles: Vec<&str> = v.body["token"]["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(roles.contains(&"admin"), "roles: {roles:?}");
}

#[test]
fn token_revoke_makes_the_token_fail() {
    let c = Cloud::start();
    let t = c.token();
    let other = c.token();
    assert_eq!(c.get_with_token("/identity/v3/projects", &t).status, 200);

    let out = c.osc(&["token", "revoke", &t]);
    assert_eq!(out.trim(), "", "token revoke prints nothing");

    let r = c.get_with_token("/identity/v3/projects", &t);
    assert_eq!(r.status, 401, "a revoked token is refused: {}", r.text);
    assert_eq!(r.body["error"]["code"], 401);
    let v = c.http(
        "GET",
        "/identity/v3/auth/tokens",
        &[("X-Auth-Token", &other), ("X-Subject-Token", &t)],
        None,
    );
    assert_eq!(
        v.status, 404,
        "validating a revoked token is 404 in Keystone: {}",
        v.text
    );

    let auth = [
        "--os-auth-type".to_string(),
        "token".into(),
        "--os-token".into(),
        t.clone(),
        "--os-auth-url".into(),
        c.auth_url(),
        "--os-project-name".into(),
        "admin".into(),
        "--os-project-domain-name".into(),
        "Default".into(),
    ];
    let err = c.osc_with_fails(&strs(&auth), &["project", "list"]);
    assert!(
        err.contains("401"),
        "the CLI reports 401 for the revoked token: {err}"
    );

    assert_eq!(
        c.get_with_token("/identity/v3/projects", &other).status,
        200,
        "other tokens still work"
    );
}

#[test]
fn catalog_list_shows_identity_with_three_interfaces() {
    let c = Cloud::start();
    let cat = c.osc_json(&["catalog", "list"]);
    let identity = rows_where(&cat, "type", "identity");
    assert_eq!(identity.len(), 1, "one identity service: {cat:#}");
    assert_eq!(field(identity[0], "name"), "keystone");
    let eps = field(identity[0], "endpoints")
        .as_array()
        .cloned()
        .unwrap_or_default();
    let interfaces: BTreeSet<String> = eps.iter().map(|e| text(e, "interface")).collect();
    assert_eq!(
        interfaces,
        ["admin", "internal", "public"].map(String::from).into(),
        "{eps:#?}"
    );
    for e in &eps {
        assert_eq!(text(e, "url"), c.auth_url());
        assert_eq!(text(e, "region_id"), "RegionOne");
        assert_eq!(text(e, "region"), "RegionOne");
    }
}

#[test]
fn endpoint_list_shows_the_identity_endpoints() {
    let c = Cloud::start();
    let list = c.osc_json(&["endpoint", "list"]);
    let identity = rows_where(&list, "Service Type", "identity");
    assert_eq!(identity.len(), 3, "{list:#}");
    let interfaces: BTreeSet<String> = identity.iter().map(|e| text(e, "Interface")).collect();
    assert_eq!(
        interfaces,
        ["admin", "internal", "public"].map(String::from).into()
    );
    for e in identity {
        assert_eq!(text(e, "URL"), c.auth_url());
        assert_eq!(text(e, "Region"), "RegionOne");
        assert_eq!(text(e, "Service Name"), "keystone");
        assert_eq!(field(e, "Enabled"), true);
    }
    let public = rows_where(&list, "Service Type", "identity")
        .into_iter()
        .find(|e| field(e, "Interface") == "public")
        .unwrap_or_else(|| panic!("no public identity endpoint: {list:#}"));
    let id = text(public, "ID");
    let shown = c.osc_json(&["endpoint", "show", &id]);
    assert_eq!(text(&shown, "url"), c.auth_url());
    assert_eq!(text(&shown, "service_type"), "identity");
}

#[test]
fn region_list_shows_region_one() {
    let c = Cloud::start();
    let list = c.osc_json(&["region", "list"]);
    let rows = rows_where(&list, "Region", "RegionOne");
    assert_eq!(rows.len(), 1, "{list:#}");
    assert!(field(rows[0], "Parent Region").is_null() || field(rows[0], "Parent Region") == "");
    let shown = c.osc_json(&["region", "show", "RegionOne"]);
    assert_eq!(text(&shown, "region"), "RegionOne");
}
