//! Projects and domains over raw HTTP.

use api_tests::TestCloud;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_crud_and_conflicts() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let r = c
        .req(
            Method::POST,
            &c.v3("/projects"),
            Some(&t),
            Some(json!({"project": {"name": "p1", "tags": ["a", "b"]}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["project"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["project"]["domain_id"], "default");
    let dup = c
        .req(
            Method::POST,
            &c.v3("/projects"),
            Some(&t),
            Some(json!({"project": {"name": "p1"}})),
        )
        .await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.body["error"]["title"], "Conflict");
    let l = c
        .req(Method::GET, &c.v3("/projects?tags=a"), Some(&t), None)
        .await;
    assert_eq!(l.body["projects"].as_array().unwrap().len(), 1);
    let u = c
        .req(
            Method::PATCH,
            &c.v3(&format!("/projects/{id}")),
            Some(&t),
            Some(json!({"project": {"description": "d", "enabled": false}})),
        )
        .await;
    assert_eq!(u.status, 200);
    assert_eq!(u.body["project"]["enabled"], false);
    let d = c
        .req(
            Method::DELETE,
            &c.v3(&format!("/projects/{id}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(d.status, 204);
    let g = c
        .req(
            Method::GET,
            &c.v3(&format!("/projects/{id}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(g.status, 404);
    assert_eq!(
        g.body["error"]["message"],
        format!("Could not find project: {id}.")
    );
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_bad_input_is_rejected_and_nothing_is_written() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let before = c
        .req(Method::GET, &c.v3("/projects"), Some(&t), None)
        .await
        .body["projects"]
        .as_array()
        .unwrap()
        .len();
    let long = "x".repeat(65);
    for body in [
        json!({"project": {"name": 5}}),
        json!({"project": {}}),
        json!({"project": {"name": long}}),
        json!({"project": {"name": "ok", "enabled": "yes"}}),
        json!({"project": {"name": "ok", "tags": ["a/b"]}}),
        json!({"project": "x"}),
        json!({"nope": {}}),
    ] {
        let r = c
            .req(
                Method::POST,
                &c.v3("/projects"),
                Some(&t),
                Some(body.clone()),
            )
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }
    let r = c
        .raw(
            Method::POST,
            &c.v3("/projects"),
            Some(&t),
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .req(
            Method::POST,
            &c.v3("/projects"),
            Some(&t),
            Some(json!({"project": {"name": "x", "domain_id": "nope"}})),
        )
        .await;
    assert_eq!(r.status, 404);
    let after = c
        .req(Method::GET, &c.v3("/projects"), Some(&t), None)
        .await
        .body["projects"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_lifecycle_and_disable_revokes() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let r = c
        .req(
            Method::POST,
            &c.v3("/domains"),
            Some(&t),
            Some(json!({"domain": {"name": "d1"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let did = r.body["domain"]["id"].as_str().unwrap().to_string();
    let p = c
        .req(
            Method::POST,
            &c.v3("/projects"),
            Some(&t),
            Some(json!({"project": {"name": "inside", "domain_id": did}})),
        )
        .await;
    assert_eq!(p.status, 201);
    let del = c
        .req(
            Method::DELETE,
            &c.v3(&format!("/domains/{did}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(del.status, 403, "enabled domains cannot be deleted");
    let dis = c
        .req(
            Method::PATCH,
            &c.v3(&format!("/domains/{did}")),
            Some(&t),
            Some(json!({"domain": {"enabled": false}})),
        )
        .await;
    assert_eq!(dis.status, 200);
    let del = c
        .req(
            Method::DELETE,
            &c.v3(&format!("/domains/{did}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(del.status, 204);
    let gone = c
        .req(
            Method::GET,
            &c.v3(&format!(
                "/projects/{}",
                p.body["project"]["id"].as_str().unwrap()
            )),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(gone.status, 404);
    c.stop().await.unwrap();
}
