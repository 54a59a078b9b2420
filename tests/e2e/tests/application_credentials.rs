//! `openstack application credential create`, and logging in with it.

use e2e_tests::{field, rows_where, strs, text, Cloud};

fn app_cred_auth(c: &Cloud, id: &str, secret: &str) -> Vec<String> {
    vec![
        "--os-auth-type".into(),
        "v3applicationcredential".into(),
        "--os-auth-url".into(),
        c.auth_url(),
        "--os-application-credential-id".into(),
        id.into(),
        "--os-application-credential-secret".into(),
        secret.into(),
        "--os-region-name".into(),
        "RegionOne".into(),
    ]
}

#[test]
fn application_credential_create_and_authenticate_with_it() {
    let c = Cloud::start();
    let admin_token = c.osc_json(&["token", "issue"]);
    let ac = c.osc_json(&[
        "application",
        "credential",
        "create",
        "--secret",
        "s3cr3t-value",
        "--description",
        "for CI",
        "ci",
    ]);
    let id = text(&ac, "id");
    assert_eq!(text(&ac, "name"), "ci");
    assert_eq!(text(&ac, "description"), "for CI");
    assert_eq!(text(&ac, "secret"), "s3cr3t-value");
    assert_eq!(text(&ac, "project_id"), text(&admin_token, "project_id"));
    assert_eq!(field(&ac, "unrestricted"), false);

    let list = c.osc_json(&["application", "credential", "list"]);
    assert_eq!(rows_where(&list, "ID", &id).len(), 1, "{list:#}");
    let shown = c.osc_json(&["application", "credential", "show", "ci"]);
    assert_eq!(text(&shown, "id"), id);
    assert!(
        field(&shown, "secret").is_null(),
        "the secret is shown only at creation: {shown:#}"
    );

    // Logging in with the credential gives a token for its user and project.
    let auth = app_cred_auth(&c, &id, "s3cr3t-value");
    let t = c.osc_with_json(&strs(&auth), &["token", "issue"]);
    assert_eq!(text(&t, "user_id"), text(&admin_token, "user_id"));
    assert_eq!(text(&t, "project_id"), text(&admin_token, "project_id"));
    let projects = c.osc_with_json(&strs(&auth), &["project", "list"]);
    assert!(
        !rows_where(&projects, "Name", "admin").is_empty(),
        "the token works: {projects:#}"
    );

    let bad = app_cred_auth(&c, &id, "wrong-secret");
    let err = c.osc_with_fails(&strs(&bad), &["token", "issue"]);
    assert!(err.contains("401"), "a wrong secret is refused: {err}");

    c.osc(&["application", "credential", "delete", "ci"]);
    let err = c.osc_with_fails(&strs(&auth), &["token", "issue"]);
    assert!(
        err.contains("401"),
        "a deleted credential is refused: {err}"
    );
}

#[test]
fn application_credential_secret_is_generated_when_not_given() {
    let c = Cloud::start();
    let ac = c.osc_json(&["application", "credential", "create", "generated"]);
    let secret = text(&ac, "secret");
    assert!(secret.len() >= 16, "a generated secret: {secret}");
    let auth = app_cred_auth(&c, &text(&ac, "id"), &secret);
    c.osc_with_json(&strs(&auth), &["token", "issue"]);
}
