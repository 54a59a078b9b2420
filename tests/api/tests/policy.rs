//! Policy: the admin / member / reader personas against Keystone's default rules, another
//! project's resources, and `policy.yaml` overrides.

use api_tests::TestCloud;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_of_a_cannot_touch_b_or_administer_the_cloud() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let (_ua, pa, ta) = c.user_with_role(&admin, "alice", "member").await;
    let (_ub, pb, _tb) = c.user_with_role(&admin, "bob", "member").await;

    // Sees its own project, not B (Keystone answers 403 for get_project on another project).
    assert_eq!(
        c.req(
            Method::GET,
            &c.v3(&format!("/projects/{pa}")),
            Some(&ta),
            None
        )
        .await
        .status,
        200
    );
    let r = c
        .req(
            Method::GET,
            &c.v3(&format!("/projects/{pb}")),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["error"]["title"], "Forbidden");
    assert_eq!(
        r.body["error"]["message"],
        "You are not authorized to perform the requested action: identity:get_project."
    );

    // Cannot list B's role assignments (nor any: Keystone's rule needs an admin or a domain reader).
    let r = c
        .req(
            Method::GET,
            &c.v3(&format!("/role_assignments?scope.project.id={pb}")),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);

    // Cannot create users, projects or roles.
    let r = c
        .req(
            Method::POST,
            &c.v3("/users"),
            Some(&ta),
            Some(json!({"user": {"name": "mallory"}})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = c
        .req(
            Method::POST,
            &c.v3("/projects"),
            Some(&ta),
            Some(json!({"project": {"name": "evil"}})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = c
        .req(
            Method::POST,
            &c.v3("/roles"),
            Some(&ta),
            Some(json!({"role": {"name": "evil"}})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Nothing was created by the denied calls.
    let users = c
        .req(
            Method::GET,
            &c.v3("/users?name=mallory"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        users.body["users"].as_array().map(Vec::len),
        Some(0),
        "{}",
        users.text
    );
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_can_read_but_not_write() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let (_u, p, t) = c.user_with_role(&admin, "rita", "reader").await;
    assert_eq!(
        c.req(
            Method::GET,
            &c.v3(&format!("/projects/{p}")),
            Some(&t),
            None
        )
        .await
        .status,
        200
    );
    let r = c
        .req(
            Method::PATCH,
            &c.v3(&format!("/projects/{p}")),
            Some(&t),
            Some(json!({"project": {"description": "x"}})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = c
        .req(
            Method::DELETE,
            &c.v3(&format!("/projects/{p}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = c
        .req(
            Method::POST,
            &c.v3("/groups"),
            Some(&t),
            Some(json!({"group": {"name": "g"}})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    // The project is untouched.
    let p2 = c
        .req(
            Method::GET,
            &c.v3(&format!("/projects/{p}")),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(p2.body["project"]["description"], "");
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_file_overrides_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(
        &file,
        "\"identity:list_projects\": \"!\"\n\"identity:get_domain\": \"@\"\n",
    )
    .unwrap();
    let path = file.display().to_string();
    let c = TestCloud::start_with(|cfg| cfg.identity.policy_file = path)
        .await
        .unwrap();
    let admin = c.admin_token().await;
    let r = c
        .req(Method::GET, &c.v3("/projects"), Some(&admin), None)
        .await;
    assert_eq!(r.status, 403, "even the admin is denied by the override");
    assert_eq!(
        c.req(Method::GET, &c.v3("/domains/default"), Some(&admin), None)
            .await
            .status,
        200
    );
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_policy_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, "\"identity:list_projects\": \"role:admin and (\"\n").unwrap();
    let path = file.display().to_string();
    let r = TestCloud::start_with(|cfg| cfg.identity.policy_file = path).await;
    assert!(
        r.is_err(),
        "an unparseable rule must not start a server that silently denies"
    );
}
