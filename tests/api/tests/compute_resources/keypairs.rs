//! Keypairs: generate, import, bad keys, duplicates, other users, the `key_pairs` quota.
use api_tests::TestCloud;
use reqwest::Method;
use serde_json::json;

use crate::{fault, nova, ok};

#[tokio::test]
async fn keypairs_generate_import_quota_and_isolation() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let (alice_id, p1, alice) = c.user_with_role(&admin, "alice", "member").await;
    let (bob_id, _, bob) = c.user_with_role(&admin, "bob", "member").await;

    let r = nova(
        &c,
        Method::POST,
        "/os-keypairs",
        &alice,
        Some("2.2"),
        Some(json!({"keypair": {"name": "gen"}})),
    )
    .await;
    let k = &ok(&r, 201)["keypair"];
    assert!(
        k["private_key"].as_str().unwrap().contains("PRIVATE KEY"),
        "{k}"
    );
    assert_eq!(k["type"], "ssh");
    assert_eq!(k["user_id"], alice_id.as_str());
    let public = k["public_key"].as_str().unwrap().to_string();
    let fingerprint = k["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(fingerprint.split(':').count(), 16, "{fingerprint}");

    // Import (2.1 answers 200), duplicates and bad keys.
    let import = json!({"keypair": {"name": "imported", "public_key": public}});
    let r = nova(
        &c,
        Method::POST,
        "/os-keypairs",
        &alice,
        None,
        Some(import.clone()),
    )
    .await;
    let k = &ok(&r, 200)["keypair"];
    assert_eq!(k["fingerprint"], fingerprint.as_str());
    assert!(
        k.get("private_key").is_none() && k.get("type").is_none(),
        "{k}"
    );
    let r = nova(&c, Method::POST, "/os-keypairs", &alice, None, Some(import)).await;
    assert_eq!(
        fault(&r, 409, "conflictingRequest"),
        "Key pair 'imported' already exists."
    );
    let bad = json!({"keypair": {"name": "bad", "public_key": "ssh-rsa not-a-key"}});
    let r = nova(&c, Method::POST, "/os-keypairs", &alice, None, Some(bad)).await;
    assert_eq!(
        fault(&r, 400, "badRequest"),
        "Keypair data is invalid: failed to generate fingerprint"
    );
    let r = nova(
        &c,
        Method::POST,
        "/os-keypairs",
        &alice,
        None,
        Some(json!({"keypair": {"name": "a/b"}})),
    )
    .await;
    assert!(
        fault(&r, 400, "badRequest").contains("does not match"),
        "{}",
        r.text
    );
    let r = nova(
        &c,
        Method::POST,
        "/os-keypairs",
        &alice,
        Some("2.2"),
        Some(json!({"keypair": {"name": "t", "type": "pgp"}})),
    )
    .await;
    assert_eq!(
        fault(&r, 400, "badRequest"),
        "Invalid input for field/attribute type. Value: pgp. 'pgp' is not one of ['ssh', 'x509']"
    );

    // List, show, and other users.
    let r = nova(&c, Method::GET, "/os-keypairs", &alice, Some("2.35"), None).await;
    let names: Vec<String> = ok(&r, 200)["keypairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["keypair"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["gen", "imported"]);
    let r = nova(
        &c,
        Method::GET,
        "/os-keypairs?limit=1",
        &alice,
        Some("2.35"),
        None,
    )
    .await;
    assert!(
        ok(&r, 200)["keypairs_links"][0]["href"]
            .as_str()
            .unwrap()
            .contains("marker=gen"),
        "{}",
        r.text
    );
    let r = nova(
        &c,
        Method::GET,
        "/os-keypairs/gen",
        &alice,
        Some("2.2"),
        None,
    )
    .await;
    let k = &ok(&r, 200)["keypair"];
    assert_eq!(
        (k["deleted"].clone(), k["type"].clone()),
        (json!(false), json!("ssh"))
    );
    assert!(k["created_at"].is_string() && k["id"].is_i64(), "{k}");
    let r = nova(&c, Method::GET, "/os-keypairs/gen", &bob, None, None).await;
    assert_eq!(
        fault(&r, 404, "itemNotFound"),
        format!("Keypair gen not found for user {bob_id}")
    );
    let r = nova(&c, Method::GET, "/os-keypairs", &bob, None, None).await;
    assert_eq!(ok(&r, 200)["keypairs"], json!([]));
    let q = format!("/os-keypairs/gen?user_id={alice_id}");
    let r = nova(&c, Method::GET, &q, &bob, Some("2.10"), None).await;
    assert_eq!(
        fault(&r, 403, "forbidden"),
        "Policy doesn't allow os_compute_api:os-keypairs:show to be performed."
    );
    let r = nova(&c, Method::GET, &q, &admin, Some("2.10"), None).await;
    assert_eq!(ok(&r, 200)["keypair"]["name"], "gen");

    // The key_pairs quota.
    let r = nova(
        &c,
        Method::PUT,
        &format!("/os-quota-sets/{p1}"),
        &admin,
        None,
        Some(json!({"quota_set": {"key_pairs": 2}})),
    )
    .await;
    ok(&r, 200);
    let r = nova(
        &c,
        Method::POST,
        "/os-keypairs",
        &alice,
        None,
        Some(json!({"keypair": {"name": "third"}})),
    )
    .await;
    assert_eq!(
        fault(&r, 403, "forbidden"),
        "Quota exceeded, too many key pairs."
    );

    let r = nova(
        &c,
        Method::DELETE,
        "/os-keypairs/gen",
        &bob,
        Some("2.2"),
        None,
    )
    .await;
    fault(&r, 404, "itemNotFound");
    let r = nova(
        &c,
        Method::DELETE,
        "/os-keypairs/gen",
        &alice,
        Some("2.2"),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = nova(
        &c,
        Method::DELETE,
        "/os-keypairs/imported",
        &alice,
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    c.stop().await.unwrap();
}
