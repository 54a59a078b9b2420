//! Image service (Glance v2) over raw HTTP: updates by JSON patch, tags, actions
//! (deactivate/reactivate), protection, and the policy matrix between projects.

mod image_common;

use api_tests::TestCloud;
use image_common::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_properties_tags_and_refusals() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let id = create_raw(&c, &t, "p").await;
    let r = patch(
        &c,
        &t,
        &id,
        json!([
            {"op": "replace", "path": "/name", "value": "renamed"},
            {"op": "add", "path": "/hw_disk_bus", "value": "virtio"},
            {"op": "add", "path": "/empty", "value": ""},
            {"op": "replace", "path": "/tags", "value": ["x", "y"]},
            {"op": "replace", "path": "/min_disk", "value": 2},
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.body["name"].clone(),
            r.body["hw_disk_bus"].clone(),
            r.body["empty"].clone()
        ),
        (json!("renamed"), json!("virtio"), json!(""))
    );
    assert_eq!(r.body["tags"], json!(["x", "y"]));
    assert_eq!(r.body["min_disk"], 2);
    let r = patch(&c, &t, &id, json!([{"op": "remove", "path": "/hw_disk_bus"}, {"op": "replace", "path": "/empty", "value": "now"}])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body.get("hw_disk_bus").is_none());
    assert_eq!(r.body["empty"], "now");
    // The v2.0 (draft 4) dialect.
    let d4 = send(
        &c,
        Method::PATCH,
        &v2(&c, &format!("/images/{id}")),
        &t,
        "application/openstack-images-v2.0-json-patch",
        json!([{"replace": "/name", "value": "d4"}])
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(d4.status, 200, "{}", d4.text);
    assert_eq!(d4.body["name"], "d4");
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!([{"op": "replace", "path": "/status", "value": "active"}]),
            403,
            "Attribute 'status' is read-only.",
        ),
        (
            json!([{"op": "replace", "path": "/id", "value": "x"}]),
            403,
            "Attribute 'id' is read-only.",
        ),
        (
            json!([{"op": "replace", "path": "/checksum", "value": "x"}]),
            403,
            "read-only",
        ),
        (
            json!([{"op": "add", "path": "/deleted", "value": "x"}]),
            403,
            "Attribute 'deleted' is reserved.",
        ),
        (
            json!([{"op": "remove", "path": "/name"}]),
            403,
            "Property name may not be removed.",
        ),
        (
            json!([{"op": "replace", "path": "/nope", "value": "x"}]),
            409,
            "Property nope does not exist.",
        ),
        (
            json!([{"op": "remove", "path": "/nope"}]),
            409,
            "Property nope does not exist.",
        ),
        (
            json!([{"op": "replace", "path": "/min_ram", "value": "x"}]),
            400,
            "is not of type 'integer'",
        ),
        (
            json!([{"op": "replace", "path": "/disk_format", "value": "floppy"}]),
            400,
            "is not one of",
        ),
        (
            json!([{"op": "add", "path": "/k", "value": 1}]),
            400,
            "is not of type 'string'",
        ),
        (
            json!([{"op": "move", "path": "/name"}]),
            400,
            "Invalid operation: `move`.",
        ),
        (
            json!([{"path": "/name", "value": "x"}]),
            400,
            "Unable to find `op` in JSON Schema change.",
        ),
        (
            json!([{"op": "add", "value": "x"}]),
            400,
            "Unable to find 'path' in JSON Schema change",
        ),
        (
            json!([{"op": "add", "path": "/name"}]),
            400,
            "Operation \"add\" requires a member named \"value\".",
        ),
        (
            json!([{"op": "add", "path": "name", "value": "x"}]),
            400,
            "does not start with \"/\".",
        ),
        (
            json!([{"op": "add", "path": "/a/b", "value": "x"}]),
            400,
            "Invalid JSON pointer for this resource: '/a/b'",
        ),
        (
            json!({"op": "add"}),
            400,
            "Request body must be a JSON array of operation objects.",
        ),
        (json!(["x"]), 400, "Operations must be JSON objects."),
        (
            json!([{"op": "replace", "path": "/locations", "value": []}]),
            403,
            "locations are invisible",
        ),
    ];
    let before = get(&c, &t, &format!("/images/{id}")).await.body;
    for (ops, status, msg) in cases {
        let r = patch(&c, &t, &id, ops.clone()).await;
        assert_eq!(r.status.as_u16(), status, "{ops}: {}", r.text);
        assert!(html_text(&r).contains(msg), "{ops}: {}", html_text(&r));
    }
    // A failing operation in a list leaves the earlier ones unapplied.
    let r = patch(&c, &t, &id, json!([{"op": "replace", "path": "/name", "value": "half"}, {"op": "remove", "path": "/nope"}])).await;
    assert_eq!(r.status, 409);
    assert_eq!(get(&c, &t, &format!("/images/{id}")).await.body, before);
    // Wrong media type.
    let r = c
        .raw(
            Method::PATCH,
            &v2(&c, &format!("/images/{id}")),
            Some(&t),
            b"[]".to_vec(),
        )
        .await;
    assert_eq!(r.status, 415);
    assert!(r
        .header("accept-patch")
        .contains("application/openstack-images-v2.1-json-patch"));
    // Tags one by one.
    let tag = |m: Method, tag: &str| {
        let url = v2(&c, &format!("/images/{id}/tags/{tag}"));
        let t = t.clone();
        let c = &c;
        async move { c.req(m, &url, Some(&t), None).await }
    };
    assert_eq!(tag(Method::PUT, "new").await.status, 204);
    assert_eq!(tag(Method::PUT, "new").await.status, 204);
    assert_eq!(
        get(&c, &t, &format!("/images/{id}")).await.body["tags"],
        json!(["new", "x", "y"])
    );
    assert_eq!(tag(Method::DELETE, "x").await.status, 204);
    assert_eq!(tag(Method::DELETE, "x").await.status, 404);
    assert_eq!(tag(Method::PUT, &"l".repeat(256)).await.status, 400);
    assert_eq!(
        get(&c, &t, &format!("/images/{id}")).await.body["tags"],
        json!(["new", "y"])
    );
    // disk_format is frozen once the image has data.
    assert_eq!(upload(&c, &t, &id, vec![0u8; 10]).await.status, 204);
    let r = patch(
        &c,
        &t,
        &id,
        json!([{"op": "replace", "path": "/disk_format", "value": "qcow2"}]),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(
        html_text(&r).contains("Attribute disk_format can be only replaced for a queued image.")
    );
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_matrix_and_actions() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let (_a, pa, ta) = c.user_with_role(&admin, "owner-a", "member").await;
    let (_b, _pb, tb) = c.user_with_role(&admin, "other-b", "member").await;
    let (_r, reader) = user_on_project(&c, &admin, "reader-a", &pa, "reader").await;
    let r = create(&c, &ta, json!({"name": "a-private", "visibility": "private", "disk_format": "raw", "container_format": "bare"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["owner"], pa);
    let id = r.body["id"].as_str().unwrap().to_string();
    // Another project's private image does not exist for them.
    assert_eq!(get(&c, &tb, &format!("/images/{id}")).await.status, 404);
    assert!(names(&c, &tb, "").await.is_empty());
    assert_eq!(
        patch(
            &c,
            &tb,
            &id,
            json!([{"op": "replace", "path": "/name", "value": "x"}])
        )
        .await
        .status,
        404
    );
    assert_eq!(
        c.req(
            Method::DELETE,
            &v2(&c, &format!("/images/{id}")),
            Some(&tb),
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(upload(&c, &tb, &id, vec![1]).await.status, 404);
    // A reader of the owner project reads but does not write.
    assert_eq!(get(&c, &reader, &format!("/images/{id}")).await.status, 200);
    assert_eq!(names(&c, &reader, "").await, vec!["a-private"]);
    let r = patch(
        &c,
        &reader,
        &id,
        json!([{"op": "replace", "path": "/name", "value": "x"}]),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(html_text(&r).contains("You are not authorized to complete modify_image action."));
    assert_eq!(create(&c, &reader, json!({"name": "r"})).await.status, 403);
    // Owners only create for themselves; publicizing needs admin.
    let r = create(&c, &ta, json!({"name": "theirs", "owner": "someone-else"})).await;
    assert_eq!(r.status, 403);
    assert!(
        html_text(&r).contains("You are not permitted to create images owned by 'someone-else'")
    );
    assert_eq!(
        create(&c, &ta, json!({"name": "pub", "visibility": "public"}))
            .await
            .status,
        403
    );
    assert_eq!(
        patch(
            &c,
            &ta,
            &id,
            json!([{"op": "replace", "path": "/visibility", "value": "public"}])
        )
        .await
        .status,
        403
    );
    assert_eq!(
        patch(
            &c,
            &ta,
            &id,
            json!([{"op": "replace", "path": "/owner", "value": "x"}])
        )
        .await
        .status,
        403
    );
    let r = patch(
        &c,
        &admin,
        &id,
        json!([{"op": "replace", "path": "/visibility", "value": "public"}]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(get(&c, &tb, &format!("/images/{id}")).await.status, 200);
    assert_eq!(names(&c, &tb, "").await, vec!["a-private"]);
    // Public now, but still not theirs to change.
    let r = patch(
        &c,
        &tb,
        &id,
        json!([{"op": "replace", "path": "/name", "value": "x"}]),
    )
    .await;
    assert_eq!(r.status, 403);
    // The admin sees every project's images, and may create for another owner.
    let r = create(
        &c,
        &admin,
        json!({"name": "for-a", "owner": pa, "visibility": "private"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        get(
            &c,
            &ta,
            &format!("/images/{}", r.body["id"].as_str().unwrap())
        )
        .await
        .status,
        200
    );
    // Community images: visible by id, listed only when asked for (or to the owner).
    let cid = create_raw(&c, &ta, "comm").await;
    assert_eq!(
        patch(
            &c,
            &ta,
            &cid,
            json!([{"op": "replace", "path": "/visibility", "value": "community"}])
        )
        .await
        .status,
        200
    );
    assert_eq!(get(&c, &tb, &format!("/images/{cid}")).await.status, 200);
    assert!(!names(&c, &tb, "").await.contains(&"comm".to_string()));
    assert_eq!(names(&c, &tb, "?visibility=community").await, vec!["comm"]);
    assert!(names(&c, &ta, "").await.contains(&"comm".to_string()));
    // Actions: deactivate needs data; protected images refuse deletion.
    let action = |tok: String, id: String, a: &'static str| {
        let url = v2(&c, &format!("/images/{id}/actions/{a}"));
        let c = &c;
        async move { c.req(Method::POST, &url, Some(&tok), None).await }
    };
    let r = action(ta.clone(), cid.clone(), "deactivate").await;
    assert_eq!(r.status, 403);
    assert!(html_text(&r).contains("Not allowed to deactivate image in status 'queued'"));
    assert_eq!(upload(&c, &ta, &cid, vec![7u8; 64]).await.status, 204);
    assert_eq!(
        action(tb.clone(), cid.clone(), "deactivate").await.status,
        403
    );
    assert_eq!(
        action(ta.clone(), cid.clone(), "deactivate").await.status,
        204
    );
    assert_eq!(
        action(ta.clone(), cid.clone(), "deactivate").await.status,
        204
    );
    assert_eq!(
        get(&c, &ta, &format!("/images/{cid}")).await.body["status"],
        "deactivated"
    );
    let (st, _, _) = download(&c, &tb, &cid, None).await;
    assert_eq!(st, 403);
    let (st, _, body) = download(&c, &admin, &cid, None).await;
    assert_eq!((st, body.len()), (200, 64));
    assert_eq!(
        action(ta.clone(), cid.clone(), "reactivate").await.status,
        204
    );
    assert_eq!(
        action(ta.clone(), cid.clone(), "reactivate").await.status,
        204
    );
    assert_eq!(
        get(&c, &ta, &format!("/images/{cid}")).await.body["status"],
        "active"
    );
    let pid = create(&c, &ta, json!({"name": "prot", "protected": true}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .req(
            Method::DELETE,
            &v2(&c, &format!("/images/{pid}")),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        html_text(&r),
        format!("403 Forbidden 403 Forbidden Image {pid} is protected and cannot be deleted.")
    );
    assert_eq!(get(&c, &ta, &format!("/images/{pid}")).await.status, 200);
    assert_eq!(
        patch(
            &c,
            &ta,
            &pid,
            json!([{"op": "replace", "path": "/protected", "value": false}])
        )
        .await
        .status,
        200
    );
    assert_eq!(
        c.req(
            Method::DELETE,
            &v2(&c, &format!("/images/{pid}")),
            Some(&ta),
            None
        )
        .await
        .status,
        204
    );
    c.stop().await.unwrap();
}
