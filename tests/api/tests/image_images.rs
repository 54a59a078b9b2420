//! Image service (Glance v2) over raw HTTP: discovery, schemas, image create/show/list/delete,
//! bad create bodies, list filters, sorting and pagination.

mod image_common;

use api_tests::TestCloud;
use image_common::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_schemas_need_no_token() {
    let c = TestCloud::start().await.unwrap();
    for path in ["/image", "/image/"] {
        let r = c
            .req(Method::GET, &format!("{}{path}", c.base), None, None)
            .await;
        assert_eq!(r.status, 300, "{path}: {}", r.text);
        let versions = r.body["versions"].as_array().unwrap();
        assert_eq!(versions[0]["status"], "CURRENT");
        assert!(versions[0]["id"].as_str().unwrap().starts_with("v2."));
        for v in versions {
            assert_eq!(v["links"][0]["rel"], "self");
            assert_eq!(v["links"][0]["href"], format!("{}/image/v2/", c.base));
            assert!(["CURRENT", "SUPPORTED"].contains(&v["status"].as_str().unwrap()));
        }
    }
    let r = c
        .req(
            Method::GET,
            &format!("{}/image/versions", c.base),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body["versions"].is_array());
    for (name, key) in [
        ("image", "disk_format"),
        ("images", "images"),
        ("member", "status"),
        ("members", "members"),
    ] {
        let r = c
            .req(
                Method::GET,
                &v2(&c, &format!("/schemas/{name}")),
                None,
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.body["name"], name);
        assert!(
            r.body["properties"].get(key).is_some(),
            "{name}: {}",
            r.text
        );
    }
    let r = c
        .req(Method::GET, &v2(&c, "/schemas/image"), None, None)
        .await;
    assert_eq!(r.body["additionalProperties"], json!({"type": "string"}));
    // Everything else needs a token.
    let r = c.req(Method::GET, &v2(&c, "/images"), None, None).await;
    assert_eq!(r.status, 401);
    let r = c
        .req(Method::GET, &v2(&c, "/images"), Some("not-a-token"), None)
        .await;
    assert_eq!(r.status, 401);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_show_list_delete() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let r = create(&c, &t, json!({
        "name": "cirros", "disk_format": "qcow2", "container_format": "bare", "min_ram": 64,
        "owner_specified.openstack.md5": "", "owner_specified.openstack.object": "images/cirros", "tags": ["b", "a", "a"],
    }))
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let b = &r.body;
    assert_eq!(b["status"], "queued");
    assert_eq!(b["visibility"], "shared");
    assert_eq!(b["owner_specified.openstack.md5"], "");
    assert_eq!(b["owner_specified.openstack.object"], "images/cirros");
    assert_eq!(b["tags"], json!(["a", "b"]));
    assert_eq!(b["self"], format!("/v2/images/{id}"));
    assert_eq!(b["file"], format!("/v2/images/{id}/file"));
    assert_eq!(b["schema"], "/v2/schemas/image");
    for k in [
        "size",
        "virtual_size",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
    ] {
        assert!(b[k].is_null(), "{k}");
    }
    assert_eq!(
        (
            b["protected"].clone(),
            b["os_hidden"].clone(),
            b["min_ram"].clone(),
            b["min_disk"].clone()
        ),
        (json!(false), json!(false), json!(64), json!(0))
    );
    assert!(b["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        r.header("location"),
        format!("{}/image/v2/images/{id}", c.base)
    );
    assert_eq!(r.header("openstack-image-import-methods"), "glance-direct");
    let s = get(&c, &t, &format!("/images/{id}")).await;
    assert_eq!(s.status, 200);
    assert_eq!(s.body, r.body);
    let l = get(&c, &t, "/images").await;
    assert_eq!(l.status, 200);
    assert_eq!(l.body["images"].as_array().unwrap().len(), 1);
    assert_eq!(l.body["first"], "/v2/images");
    assert_eq!(l.body["schema"], "/v2/schemas/images");
    assert!(l.body.get("next").is_none());
    // A caller-chosen id; reusing it (even after deletion) is a conflict.
    let fixed = "b2173dd3-7ad6-4362-baa6-a68bce3565cb";
    assert_eq!(
        create(&c, &t, json!({"id": fixed, "name": "x"}))
            .await
            .status,
        201
    );
    let dup = create(&c, &t, json!({"id": fixed, "name": "y"})).await;
    assert_eq!(dup.status, 409, "{}", dup.text);
    let d = c
        .req(
            Method::DELETE,
            &v2(&c, &format!("/images/{id}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(d.status, 204);
    assert_eq!(get(&c, &t, &format!("/images/{id}")).await.status, 404);
    let again = c
        .req(
            Method::DELETE,
            &v2(&c, &format!("/images/{id}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(again.status, 404);
    assert!(again.header("content-type").starts_with("text/html"));
    assert_eq!(
        get(&c, &t, "/images").await.body["images"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refuses_bad_input_and_writes_nothing() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"name": "x", "disk_format": "floppy"}),
            400,
            "'floppy' is not one of [None, 'ami'",
        ),
        (json!({"container_format": "tarball"}), 400, "is not one of"),
        (json!({"name": "x".repeat(256)}), 400, "is too long"),
        (
            json!({"min_ram": "64"}),
            400,
            "'64' is not of type 'integer'",
        ),
        (json!({"protected": "yes"}), 400, "is not of type 'boolean'"),
        (json!({"custom": 5}), 400, "5 is not of type 'string'"),
        (json!({"custom": null}), 400, "None is not of type 'string'"),
        (json!({"tags": "a"}), 400, "is not of type 'array'"),
        (json!({"id": "not-a-uuid"}), 400, "does not match"),
        (json!({"visibility": "everyone"}), 400, "is not one of"),
        (json!({"min_disk": -1}), 400, "Cannot be a negative value"),
        (
            json!({"status": "active"}),
            403,
            "Attribute 'status' is read-only.",
        ),
        (json!({"size": 5}), 403, "Attribute 'size' is read-only."),
        (json!({"self": "/x"}), 403, "Attribute 'self' is read-only."),
        (
            json!({"deleted": "1"}),
            403,
            "Attribute 'deleted' is reserved.",
        ),
        (json!({"os_glance_import_task": "x"}), 403, "is reserved."),
        (json!([1, 2]), 400, "does not match schema"),
    ];
    for (body, status, msg) in cases {
        let r = create(&c, &t, body.clone()).await;
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text);
        assert!(html_text(&r).contains(msg), "{body}: {}", html_text(&r));
    }
    let r = c
        .raw(
            Method::POST,
            &v2(&c, "/images"),
            Some(&t),
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(html_text(&r).contains("Malformed JSON in request body."));
    let r = c
        .raw(Method::POST, &v2(&c, "/images"), Some(&t), Vec::new())
        .await;
    assert_eq!(r.status, 400);
    assert!(html_text(&r).contains("Body expected in request."));
    let long_key = json!({"k".repeat(256): "v"});
    assert_eq!(create(&c, &t, long_key).await.status, 400);
    assert_eq!(get(&c, &t, "/images").await.body["images"], json!([]));
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_filters_sorting_and_pagination() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let mut ids = Vec::new();
    for (i, name) in ["alpha", "bravo", "charlie", "delta", "echo"]
        .iter()
        .enumerate()
    {
        let mut body = json!({"name": name, "disk_format": if i % 2 == 0 { "raw" } else { "qcow2" },
            "container_format": "bare", "tags": [format!("t{}", i % 2), "all"], "arch": if i < 2 { "x86_64" } else { "aarch64" }});
        if i == 4 {
            body["protected"] = json!(true);
            body["os_hidden"] = json!(true);
        }
        let r = create(&c, &t, body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    assert_eq!(upload(&c, &t, &ids[0], vec![1u8; 100]).await.status, 204);
    assert_eq!(upload(&c, &t, &ids[2], vec![2u8; 300]).await.status, 204);
    // Default: newest first, hidden images left out.
    assert_eq!(
        names(&c, &t, "").await,
        vec!["delta", "charlie", "bravo", "alpha"]
    );
    assert_eq!(names(&c, &t, "?os_hidden=true").await, vec!["echo"]);
    assert_eq!(names(&c, &t, "?name=bravo").await, vec!["bravo"]);
    assert_eq!(
        names(&c, &t, "?name=in:alpha,delta&sort_key=name&sort_dir=asc").await,
        vec!["alpha", "delta"]
    );
    assert_eq!(
        names(
            &c,
            &t,
            &format!("?id=in:{},{}&sort=name:asc", ids[1], ids[3])
        )
        .await,
        vec!["bravo", "delta"]
    );
    assert_eq!(
        names(&c, &t, "?status=active&sort=name:asc").await,
        vec!["alpha", "charlie"]
    );
    assert_eq!(
        names(&c, &t, "?disk_format=qcow2&sort=name").await,
        vec!["delta", "bravo"]
    );
    assert_eq!(
        names(&c, &t, "?tag=t0&sort=name:asc").await,
        vec!["alpha", "charlie"]
    );
    assert_eq!(
        names(&c, &t, "?tag=t0&tag=all&os_hidden=true").await,
        vec!["echo"]
    );
    assert!(names(&c, &t, "?tag=t0&tag=t1").await.is_empty());
    assert_eq!(
        names(&c, &t, "?arch=x86_64&sort=name:asc").await,
        vec!["alpha", "bravo"]
    );
    assert_eq!(names(&c, &t, "?size_min=200").await, vec!["charlie"]);
    assert_eq!(names(&c, &t, "?size_max=200").await, vec!["alpha"]);
    assert_eq!(
        names(&c, &t, "?protected=true&os_hidden=true").await,
        vec!["echo"]
    );
    assert_eq!(
        names(&c, &t, "?protected=false&sort=name:desc").await,
        vec!["delta", "charlie", "bravo", "alpha"]
    );
    assert_eq!(names(&c, &t, "?visibility=shared").await.len(), 4);
    assert!(names(&c, &t, "?visibility=public").await.is_empty());
    assert_eq!(
        names(&c, &t, "?created_at=gte:2000-01-01T00:00:00Z")
            .await
            .len(),
        4
    );
    assert!(names(&c, &t, "?created_at=lt:2000-01-01T00:00:00Z")
        .await
        .is_empty());
    assert_eq!(
        names(
            &c,
            &t,
            "?updated_at=gt:2000-01-01T00:00:00Z&sort=size:desc,name:asc"
        )
        .await,
        vec!["charlie", "alpha", "bravo", "delta"]
    );
    // Pagination: relative `next` links, none on the last page, every image exactly once.
    let mut seen = Vec::new();
    let mut url = "/images?limit=2&sort=name:asc".to_string();
    let mut pages = 0;
    loop {
        let r = get(&c, &t, &url).await;
        assert_eq!(r.status, 200, "{}", r.text);
        seen.extend(
            r.body["images"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["name"].as_str().unwrap().to_string()),
        );
        pages += 1;
        assert!(r.body["first"].as_str().unwrap().starts_with("/v2/images?"));
        match r.body.get("next").and_then(Value::as_str) {
            Some(n) => {
                assert!(n.starts_with("/v2/images?"), "{n}");
                assert!(n.contains("limit=2") && n.contains("marker="), "{n}");
                url = n.trim_start_matches("/v2").to_string();
            }
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(seen, vec!["alpha", "bravo", "charlie", "delta"]);
    // Bad queries.
    for (q, msg) in [
        ("?limit=x", "limit param must be an integer"),
        ("?limit=-1", "limit param must be positive"),
        ("?sort_key=owner", "Invalid sort key: owner."),
        ("?sort_dir=sideways", "Invalid sort direction: sideways"),
        (
            "?sort=name&sort_key=name",
            "Old and new sorting syntax cannot be combined",
        ),
        ("?visibility=everyone", "Invalid visibility value: everyone"),
        ("?member_status=maybe", "Invalid status: maybe"),
        (
            "?name=like:x",
            "Unable to filter by unknown operator 'like'.",
        ),
        (
            "?created_at=gte:yesterday",
            "Use ISO 8601 DateTime notation.",
        ),
        (
            "?size_min=big",
            "Unable to filter on a range with a non-numeric value.",
        ),
        (
            "?os_hidden=maybe",
            "Invalid value 'maybe' for 'os_hidden' filter.",
        ),
        (
            "?marker=00000000-0000-0000-0000-000000000000",
            "No image found with ID 00000000-0000-0000-0000-000000000000",
        ),
        ("?changes-since=2020-01-01", "no longer available on v2"),
    ] {
        let r = get(&c, &t, &format!("/images{q}")).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
        assert!(html_text(&r).contains(msg), "{q}: {}", html_text(&r));
    }
    c.stop().await.unwrap();
}
