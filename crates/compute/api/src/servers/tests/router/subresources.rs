//! Metadata, tags, instance actions, ips, volume attachments and interfaces through the
//! router.

use axum::http::Method;
use serde_json::json;

use super::{Cloud, ALICE, BASE, BOB, READER};

#[tokio::test]
async fn metadata_round_trip() {
    let c = Cloud::with_host().await;
    let id = c.active_server(&ALICE, "vm").await;
    let base = format!("/servers/{id}/metadata");
    let r = c
        .call(
            &ALICE,
            Method::PUT,
            &base,
            Some("2.79"),
            Some(json!({"metadata": {"a": "1", "b": "2"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"metadata": {"a": "1", "b": "2"}}));
    let r = c
        .call(
            &ALICE,
            Method::POST,
            &base,
            Some("2.79"),
            Some(json!({"metadata": {"c": "3"}})),
        )
        .await;
    assert_eq!(r.body, json!({"metadata": {"a": "1", "b": "2", "c": "3"}}));
    let r = c
        .call(
            &ALICE,
            Method::PUT,
            &format!("{base}/d"),
            Some("2.79"),
            Some(json!({"meta": {"d": "4"}})),
        )
        .await;
    assert_eq!(r.body, json!({"meta": {"d": "4"}}));
    let r = c
        .call(
            &ALICE,
            Method::PUT,
            &format!("{base}/e"),
            Some("2.79"),
            Some(json!({"meta": {"d": "4"}})),
        )
        .await;
    assert_eq!(r.error(400, "badRequest"), "Request body and URI mismatch");
    let r = c
        .call(
            &ALICE,
            Method::GET,
            &format!("{base}/d"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(r.body, json!({"meta": {"d": "4"}}));
    let r = c
        .call(
            &ALICE,
            Method::DELETE,
            &format!("{base}/d"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = c
        .call(
            &ALICE,
            Method::GET,
            &format!("{base}/d"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(r.error(404, "itemNotFound"), "Metadata item was not found");
    let r = c
        .call(
            &ALICE,
            Method::DELETE,
            &format!("{base}/d"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(r.error(404, "itemNotFound"), "Metadata item was not found");
    let r = c.call(&ALICE, Method::GET, &base, Some("2.79"), None).await;
    assert_eq!(r.body, json!({"metadata": {"a": "1", "b": "2", "c": "3"}}));
    let r = c
        .call(
            &READER,
            Method::POST,
            &base,
            Some("2.79"),
            Some(json!({"metadata": {"x": "y"}})),
        )
        .await;
    assert_eq!(
        r.error(403, "forbidden"),
        "Policy doesn't allow os_compute_api:server-metadata:create to be performed."
    );
}

#[tokio::test]
async fn tags_exist_from_2_26() {
    let c = Cloud::start().await;
    let id = c.server(&ALICE, "vm").await;
    let r = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}/tags"),
            Some("2.25"),
            None,
        )
        .await;
    assert_eq!(
        r.error(404, "itemNotFound"),
        "The resource could not be found."
    );
    let r = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}/tags"),
            Some("2.26"),
            None,
        )
        .await;
    assert_eq!(r.body, json!({"tags": []}));
    // Tags change only on servers at rest; a server that never found a host is in ERROR.
    let r = c
        .call(
            &ALICE,
            Method::PUT,
            &format!("/servers/{id}/tags"),
            Some("2.26"),
            Some(json!({"tags": ["a"]})),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = c
        .call(
            &ALICE,
            Method::PUT,
            &format!("/servers/{id}/tags"),
            Some("2.26"),
            Some(json!({"tags": ["a/b"]})),
        )
        .await;
    assert_eq!(
        r.error(400, "badRequest"),
        "Invalid input for field/attribute 0. Value: a/b. 'a/b' does not match '^[^,/]*$'"
    );
    let r = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}/tags/x"),
            Some("2.26"),
            None,
        )
        .await;
    assert_eq!(
        r.error(404, "itemNotFound"),
        format!("Server {id} has no tag 'x'")
    );
}

#[tokio::test]
async fn tags_round_trip_on_an_active_server() {
    let c = Cloud::with_host().await;
    let id = c.active_server(&ALICE, "vm").await;
    let base = format!("/servers/{id}/tags");
    let r = c
        .call(
            &ALICE,
            Method::PUT,
            &base,
            Some("2.79"),
            Some(json!({"tags": ["a", "b"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"tags": ["a", "b"]}));
    let r = c
        .call(
            &ALICE,
            Method::PUT,
            &format!("{base}/c%20d"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.headers["location"],
        format!("{BASE}/compute/v2.1/servers/{id}/tags/c%20d").as_str()
    );
    let r = c
        .call(
            &ALICE,
            Method::PUT,
            &format!("{base}/a"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "an existing tag");
    let r = c
        .call(
            &ALICE,
            Method::PUT,
            &format!("{base}/x,y"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(
        r.error(400, "badRequest"),
        "Tag 'x,y' is invalid. It must be a non empty string without characters '/' and ','. Validation error message: 'x,y' does not match '^[^,/]*$'"
    );
    let r = c
        .call(
            &ALICE,
            Method::PUT,
            &format!("{base}/z"),
            Some("2.79"),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.error(400, "badRequest"), "{} is not of type 'null'");
    let r = c
        .call(
            &ALICE,
            Method::GET,
            &format!("{base}/c%20d"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = c
        .call(
            &ALICE,
            Method::DELETE,
            &format!("{base}/a"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = c
        .call(
            &ALICE,
            Method::DELETE,
            &format!("{base}/a"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(
        r.error(404, "itemNotFound"),
        format!("Instance {id} has no tag 'a'")
    );
    let r = c.call(&ALICE, Method::GET, &base, Some("2.79"), None).await;
    assert_eq!(r.body, json!({"tags": ["b", "c d"]}));
    let shown = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(shown.body["server"]["tags"], json!(["b", "c d"]));
    let r = c
        .call(&BOB, Method::DELETE, &base, Some("2.79"), None)
        .await;
    r.error(404, "itemNotFound");
    let r = c
        .call(&READER, Method::DELETE, &base, Some("2.79"), None)
        .await;
    r.error(403, "forbidden");
    let r = c
        .call(&ALICE, Method::DELETE, &base, Some("2.79"), None)
        .await;
    assert_eq!(r.status, 204);
    let r = c.call(&ALICE, Method::GET, &base, Some("2.79"), None).await;
    assert_eq!(r.body, json!({"tags": []}));
}

#[tokio::test]
async fn ips_attachments_and_interfaces_are_empty() {
    let c = Cloud::start().await;
    let id = c.server(&ALICE, "vm").await;
    let r = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}/ips"),
            None,
            None,
        )
        .await;
    assert_eq!(r.body, json!({"addresses": {}}));
    let r = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}/ips/private"),
            None,
            None,
        )
        .await;
    assert_eq!(
        r.error(404, "itemNotFound"),
        "Instance is not a member of specified network"
    );
    let r = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}/os-volume_attachments"),
            None,
            None,
        )
        .await;
    assert_eq!(r.body, json!({"volumeAttachments": []}));
    let r = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}/os-interface"),
            None,
            None,
        )
        .await;
    assert_eq!(r.body, json!({"interfaceAttachments": []}));
}

#[tokio::test]
async fn instance_actions_list_the_create() {
    let c = Cloud::start().await;
    let id = c.server(&ALICE, "vm").await;
    let r = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}/os-instance-actions"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let actions = r.body["instanceActions"].as_array().unwrap();
    assert_eq!(actions[0]["action"], "create", "{}", r.body);
    assert_eq!(actions[0]["instance_uuid"], id.as_str());
    assert!(actions[0].get("updated_at").is_some());
    let rid = actions[0]["request_id"].as_str().unwrap().to_string();

    let old = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}/os-instance-actions"),
            Some("2.57"),
            None,
        )
        .await;
    assert!(old.body["instanceActions"][0].get("updated_at").is_none());
    let r = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}/os-instance-actions?limit=1"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(
        r.body["links"][0]["href"],
        format!("{BASE}/compute/v2.1/servers/{id}/os-instance-actions?limit=1&marker={rid}")
    );
    let r = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}/os-instance-actions?marker=nope"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(
        r.error(400, "badRequest"),
        "Marker nope could not be found."
    );
    let r = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}/os-instance-actions?foo=1"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(
        r.error(400, "badRequest"),
        "Additional properties are not allowed ('foo' was unexpected)"
    );

    let one = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}/os-instance-actions/{rid}"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["instanceAction"]["request_id"], rid.as_str());
    let events = one.body["instanceAction"]["events"].as_array().unwrap();
    for e in events {
        assert!(e.get("traceback").is_none(), "tracebacks are for admins");
        assert!(e.get("hostId").is_some());
    }
    let before = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}/os-instance-actions/{rid}"),
            Some("2.50"),
            None,
        )
        .await;
    assert!(
        before.body["instanceAction"].get("events").is_none(),
        "events for owners from 2.51"
    );
    let r = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}/os-instance-actions/req-none"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(r.error(404, "itemNotFound"), "Action req-none not found");
}
