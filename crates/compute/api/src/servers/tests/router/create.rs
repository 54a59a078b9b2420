//! `POST /servers` through the router: Nova's 400s (and nothing created), policy refusals,
//! and the 202 body.

use axum::http::Method;
use serde_json::json;

use super::{Cloud, ADMIN, ALICE, BASE, IMAGE, READER};

fn body(extra: serde_json::Value) -> serde_json::Value {
    let mut server = json!({"name": "vm", "imageRef": IMAGE, "flavorRef": "1", "networks": "none"});
    if let (Some(s), Some(e)) = (server.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    json!({"server": server})
}

#[tokio::test]
async fn invalid_bodies_get_novas_400_and_create_nothing() {
    let c = Cloud::start().await;
    let cases = [
        ("2.79", json!({}), "'server' is a required property".to_string()),
        (
            "2.79",
            body(json!({"name": ""})),
            "Invalid input for field/attribute name. Value: . '' should be non-empty".into(),
        ),
        (
            "2.79",
            body(json!({"bogus": true})),
            format!(
                "Invalid input for field/attribute server. Value: {{'bogus': True, 'flavorRef': '1', 'imageRef': '{IMAGE}', 'name': 'vm', 'networks': 'none'}}. Additional properties are not allowed ('bogus' was unexpected)"
            ),
        ),
        (
            "2.79",
            body(json!({"min_count": 3, "max_count": 2})),
            "min_count must be <= max_count".into(),
        ),
        (
            "2.79",
            json!({"server": {"name": "vm", "flavorRef": "1", "networks": "none"}}),
            "Missing imageRef attribute".into(),
        ),
        (
            "2.79",
            body(json!({"user_data": "not base64!"})),
            "Invalid input for field/attribute user_data. Value: not base64!. 'not base64!' is not a 'base64'".into(),
        ),
        (
            "2.79",
            body(json!({"block_device_mapping_v2": [{"source_type": "blank", "uuid": IMAGE}]})),
            "Block Device Mapping is Invalid: Invalid device UUID.".into(),
        ),
        (
            "2.79",
            body(json!({"availability_zone": "a:b:c:d"})),
            "Invalid input received: Unable to parse availability_zone".into(),
        ),
        (
            "2.36",
            body(json!({"networks": [{"fixed_ip": "10.0.0.2"}]})),
            "Bad network format: missing 'uuid'".into(),
        ),
        ("2.79", json!({"server": "x"}), "Invalid input for field/attribute server. Value: x. 'x' is not of type 'object'".into()),
    ];
    for (mv, b, want) in cases {
        let r = c
            .call(&ALICE, Method::POST, "/servers", Some(mv), Some(b.clone()))
            .await;
        assert_eq!(r.error(400, "badRequest"), want, "{b}");
    }
    let r = c
        .raw(
            &ALICE,
            Method::POST,
            "/servers",
            Some("2.79"),
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(r.error(400, "badRequest"), "Malformed request body");
    let r = c
        .raw(&ALICE, Method::POST, "/servers", Some("2.79"), Vec::new())
        .await;
    assert_eq!(r.error(400, "badRequest"), "None is not of type 'object'");
    assert_eq!(c.count().await, 0, "nothing half-created");
}

#[tokio::test]
async fn policy_refusals_come_before_anything_is_created() {
    let c = Cloud::start().await;
    let r = c
        .call(
            &READER,
            Method::POST,
            "/servers",
            Some("2.79"),
            Some(body(json!({}))),
        )
        .await;
    assert_eq!(
        r.error(403, "forbidden"),
        "Policy doesn't allow os_compute_api:servers:create to be performed."
    );
    let r = c
        .call(
            &ALICE,
            Method::POST,
            "/servers",
            Some("2.79"),
            Some(body(json!({"availability_zone": "nova:host1"}))),
        )
        .await;
    assert_eq!(
        r.error(403, "forbidden"),
        "Policy doesn't allow os_compute_api:servers:create:forced_host to be performed."
    );
    let r = c
        .call(
            &ALICE,
            Method::POST,
            "/servers",
            Some("2.79"),
            Some(body(json!({"host": "compute1"}))),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(c.count().await, 0);
}

#[tokio::test]
async fn create_answers_202_with_novas_body_and_location() {
    let c = Cloud::start().await;
    let b = body(json!({"adminPass": "s3cret", "metadata": {"k": "v"}, "min_count": "1"}));
    let r = c
        .call(&ALICE, Method::POST, "/servers", Some("2.79"), Some(b))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let server = &r.body["server"];
    let id = server["id"].as_str().unwrap();
    let self_href = format!("{BASE}/compute/v2.1/servers/{id}");
    assert_eq!(
        r.body,
        json!({"server": {
            "id": id,
            "links": [{"rel": "self", "href": self_href},
                      {"rel": "bookmark", "href": format!("{BASE}/compute/servers/{id}")}],
            "OS-DCF:diskConfig": "MANUAL",
            "security_groups": [{"name": "default"}],
            "adminPass": "s3cret",
        }})
    );
    assert_eq!(r.headers["location"], self_href.as_str());

    let shown = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(shown.body["server"]["metadata"], json!({"k": "v"}));
    assert_eq!(shown.body["server"]["tenant_id"], "proj-a");

    // A generated password when none is given.
    let r = c
        .call(
            &ALICE,
            Method::POST,
            "/servers",
            Some("2.79"),
            Some(body(json!({}))),
        )
        .await;
    assert_eq!(
        r.body["server"]["adminPass"].as_str().map(str::len),
        Some(12),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn return_reservation_id_answers_only_the_reservation() {
    let c = Cloud::start().await;
    let b = body(json!({"return_reservation_id": "True", "min_count": 2}));
    let r = c
        .call(&ALICE, Method::POST, "/servers", Some("2.79"), Some(b))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["reservation_id"]);
    assert!(r.body["reservation_id"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert_eq!(c.count().await, 2);
}

#[tokio::test]
async fn the_openstack_cli_body_is_accepted() {
    // What `openstack server create --image X --flavor Y --nic none` sends at 2.79.
    let c = Cloud::start().await;
    let b = json!({"server": {
        "name": "cli", "imageRef": IMAGE, "flavorRef": "1", "networks": "none",
        "min_count": 1, "max_count": 1,
        "block_device_mapping_v2": [{"uuid": IMAGE, "boot_index": 0, "source_type": "image",
                                     "destination_type": "local", "delete_on_termination": true}],
    }});
    let r = c
        .call(&ALICE, Method::POST, "/servers", Some("2.79"), Some(b))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
}

#[tokio::test]
async fn without_a_token_it_is_401() {
    let c = Cloud::start().await;
    let req = axum::http::Request::builder()
        .method(Method::GET)
        .uri("/v2.1/servers")
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(c.router.clone(), req)
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let _ = ADMIN;
}
