//! Fernet key rotation: a token survives one rotation and dies once its key has left the
//! repository; the server picks up rotated keys without a restart.

use std::time::Duration;

use api_tests::TestCloud;
use identity_token::KeyRepository;
use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_survives_one_rotation_and_dies_after_its_key_is_gone() {
    let c = TestCloud::start().await.unwrap();
    let id = c.running.as_ref().unwrap().identity.clone().unwrap();
    let repo = KeyRepository::new(c.dir.path().join("fernet-keys"));
    let t1 = c.admin_token().await;

    repo.rotate(3).unwrap();
    assert!(
        id.reload_keys_if_changed(Duration::ZERO),
        "server notices the rotation"
    );
    assert_eq!(
        c.req(Method::GET, &c.v3("/projects"), Some(&t1), None)
            .await
            .status,
        200,
        "survives one rotation"
    );
    let t2 = c.admin_token().await;

    repo.rotate(3).unwrap();
    assert!(id.reload_keys_if_changed(Duration::ZERO));
    let r = c
        .req(Method::GET, &c.v3("/projects"), Some(&t1), None)
        .await;
    assert_eq!(r.status, 401, "the key that signed t1 left the repository");
    assert_eq!(
        c.req(Method::GET, &c.v3("/projects"), Some(&t2), None)
            .await
            .status,
        200,
        "t2 survives its first rotation"
    );
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_signed_by_a_key_rotated_in_elsewhere_validate_after_reload() {
    let c = TestCloud::start().await.unwrap();
    // Another process rotates twice; this server still holds the old keys in memory. A token
    // signed with the new primary (as another API node would issue) must validate here.
    let repo = KeyRepository::new(c.dir.path().join("fernet-keys"));
    repo.rotate(3).unwrap();
    let other =
        identity_token::TokenProvider::new(KeyRepository::new(c.dir.path().join("fernet-keys")))
            .unwrap();
    let t = c.admin_token().await;
    let (payload, _) = other.validate(&t).unwrap();
    let foreign = other.issue(&payload).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = c
        .req(Method::GET, &c.v3("/projects"), Some(&foreign), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    c.stop().await.unwrap();
}
