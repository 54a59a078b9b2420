//! Users' passwords and token revocation over raw HTTP: an administrator's reset, the user's
//! own change, disabling and deleting.

use std::time::Duration;

use api_tests::TestCloud;
use reqwest::Method;
use serde_json::{json, Value};

async fn create_user(c: &TestCloud, tok: &str, body: Value) -> Value {
    let r = c
        .req(
            Method::POST,
            &c.v3("/users"),
            Some(tok),
            Some(json!({ "user": body })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["user"].clone()
}

/// Password auth by user id; returns the response.
async fn auth_by_id(c: &TestCloud, id: &str, pw: &str) -> api_tests::Resp {
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": id, "password": pw}}}}});
    c.req(Method::POST, &c.v3("/auth/tokens"), None, Some(body))
        .await
}

/// Revocation events have one-second resolution, as in Keystone: a token issued in the same
/// second as an event is revoked by it.
async fn next_second() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_and_self_service_change_revoke_tokens() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let u = create_user(&c, &t, json!({"name": "carol", "password": "first-pw"})).await;
    let id = u["id"].as_str().unwrap().to_string();
    let r = c.token("carol", "first-pw", None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let old = r.header("x-subject-token");
    let me = c
        .req(
            Method::GET,
            &c.v3(&format!("/users/{id}")),
            Some(&old),
            None,
        )
        .await;
    assert_eq!(me.status, 200, "a user may read themselves: {}", me.text);

    // An administrator's reset.
    let p = c
        .req(
            Method::PATCH,
            &c.v3(&format!("/users/{id}")),
            Some(&t),
            Some(json!({"user": {"password": "second-pw"}})),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert!(!p.text.contains("second-pw"));
    let me = c
        .req(
            Method::GET,
            &c.v3(&format!("/users/{id}")),
            Some(&old),
            None,
        )
        .await;
    assert_eq!(me.status, 401, "a reset revokes the user's tokens");
    next_second().await;
    assert_eq!(c.token("carol", "first-pw", None).await.status, 401);
    let r = c.token("carol", "second-pw", None).await;
    assert_eq!(r.status, 201);
    let tok2 = r.header("x-subject-token");

    // The user's own change: no token needed, the original password is the proof.
    let url = c.v3(&format!("/users/{id}/password"));
    let wrong = c
        .req(
            Method::POST,
            &url,
            None,
            Some(json!({"user": {"original_password": "nope", "password": "third-pw"}})),
        )
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    assert_eq!(wrong.body["error"]["title"], "Unauthorized");
    let unknown = c
        .req(
            Method::POST,
            &c.v3("/users/nobody/password"),
            None,
            Some(json!({"user": {"original_password": "x", "password": "y"}})),
        )
        .await;
    assert_eq!(unknown.status, 401);
    assert_eq!(
        unknown.body["error"]["message"], wrong.body["error"]["message"],
        "unknown users look like wrong passwords"
    );
    for body in [
        json!({"user": {"password": "third-pw"}}),
        json!({"user": {"original_password": "second-pw"}}),
        json!({"user": {"original_password": "second-pw", "password": 3}}),
        json!({"user": {"original_password": "second-pw", "password": "x", "name": "z"}}),
        json!({"password": "x"}),
    ] {
        let r = c.req(Method::POST, &url, None, Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }
    let get = c.req(Method::GET, &url, Some(&t), None).await;
    assert_eq!(get.status, 405);
    let ok = c
        .req(
            Method::POST,
            &url,
            Some(&tok2),
            Some(json!({"user": {"original_password": "second-pw", "password": "third-pw"}})),
        )
        .await;
    assert_eq!(ok.status, 204, "{}", ok.text);
    assert!(ok.text.is_empty());
    let me = c
        .req(
            Method::GET,
            &c.v3(&format!("/users/{id}")),
            Some(&tok2),
            None,
        )
        .await;
    assert_eq!(me.status, 401, "a change revokes the user's tokens");
    let admin_still = c
        .req(Method::GET, &c.v3(&format!("/users/{id}")), Some(&t), None)
        .await;
    assert_eq!(admin_still.status, 200, "other users' tokens survive");
    next_second().await;
    assert_eq!(auth_by_id(&c, &id, "second-pw").await.status, 401);
    assert_eq!(auth_by_id(&c, &id, "third-pw").await.status, 201);

    // lock_password forbids self-service changes but not an admin's reset.
    let p = c
        .req(
            Method::PATCH,
            &c.v3(&format!("/users/{id}")),
            Some(&t),
            Some(json!({"user": {"options": {"lock_password": true}}})),
        )
        .await;
    assert_eq!(p.status, 200);
    let locked = c
        .req(
            Method::POST,
            &url,
            None,
            Some(json!({"user": {"original_password": "third-pw", "password": "fourth-pw"}})),
        )
        .await;
    assert_eq!(locked.status, 400, "{}", locked.text);
    assert_eq!(
        auth_by_id(&c, &id, "third-pw").await.status,
        201,
        "a refused change keeps the password"
    );
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_and_deleting_revoke_tokens() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let u = create_user(&c, &t, json!({"name": "dave", "password": "pw-dave"})).await;
    let id = u["id"].as_str().unwrap().to_string();
    let tok = c
        .token("dave", "pw-dave", None)
        .await
        .header("x-subject-token");
    let url = c.v3(&format!("/users/{id}"));
    assert_eq!(c.req(Method::GET, &url, Some(&tok), None).await.status, 200);
    let p = c
        .req(
            Method::PATCH,
            &url,
            Some(&t),
            Some(json!({"user": {"enabled": false}})),
        )
        .await;
    assert_eq!(p.status, 200);
    assert_eq!(c.req(Method::GET, &url, Some(&tok), None).await.status, 401);
    assert_eq!(
        c.token("dave", "pw-dave", None).await.status,
        401,
        "a disabled user cannot authenticate"
    );
    let p = c
        .req(
            Method::PATCH,
            &url,
            Some(&t),
            Some(json!({"user": {"enabled": true}})),
        )
        .await;
    assert_eq!(p.status, 200);
    next_second().await;
    let tok = c
        .token("dave", "pw-dave", None)
        .await
        .header("x-subject-token");
    assert_eq!(c.req(Method::GET, &url, Some(&tok), None).await.status, 200);
    assert_eq!(
        c.req(Method::DELETE, &url, Some(&t), None).await.status,
        204
    );
    assert_eq!(c.req(Method::GET, &url, Some(&tok), None).await.status, 401);
    assert_eq!(c.token("dave", "pw-dave", None).await.status, 401);
    c.stop().await.unwrap();
}
