//! Regions, services and endpoints over raw HTTP, and how they show up in the token catalog.

// Helpers outside #[test] fns panic on a broken server, as the tests themselves do.
#![allow(clippy::unwrap_used)]

use api_tests::{Resp, TestCloud};
use reqwest::Method;
use serde_json::{json, Value};

async fn get(c: &TestCloud, tok: &str, path: &str) -> Resp {
    c.req(Method::GET, &c.v3(path), Some(tok), None).await
}

async fn del(c: &TestCloud, tok: &str, path: &str) -> Resp {
    c.req(Method::DELETE, &c.v3(path), Some(tok), None).await
}

async fn post(c: &TestCloud, tok: &str, path: &str, body: Value) -> Resp {
    c.req(Method::POST, &c.v3(path), Some(tok), Some(body))
        .await
}

async fn put(c: &TestCloud, tok: &str, path: &str, body: Value) -> Resp {
    c.req(Method::PUT, &c.v3(path), Some(tok), Some(body)).await
}

async fn patch(c: &TestCloud, tok: &str, path: &str, body: Value) -> Resp {
    c.req(Method::PATCH, &c.v3(path), Some(tok), Some(body))
        .await
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

async fn count(c: &TestCloud, tok: &str, path: &str, key: &str) -> usize {
    let r = get(c, tok, path).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body[key].as_array().map(Vec::len).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_crud_hierarchy_and_errors() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let l = get(&c, &t, "/regions").await;
    assert_eq!(l.status, 200);
    assert_eq!(l.body["regions"][0]["id"], "RegionOne");
    assert_eq!(keys(&l.body), ["links", "regions"]);
    assert_eq!(l.body["links"]["self"], c.v3("/regions"));

    // POST without id: a generated one.
    let r = post(
        &c,
        &t,
        "/regions",
        json!({"region": {"description": "gen"}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let gen = r.body["region"]["id"].as_str().unwrap().to_string();
    assert_eq!(gen.len(), 32);
    assert_eq!(
        keys(&r.body["region"]),
        ["description", "id", "links", "parent_region_id"]
    );
    assert_eq!(
        r.body["region"]["links"]["self"],
        c.v3(&format!("/regions/{gen}"))
    );

    // POST with id, PUT with id, child regions.
    let r = post(&c, &t, "/regions", json!({"region": {"id": "East"}})).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["region"]["description"], "");
    assert_eq!(r.body["region"]["parent_region_id"], Value::Null);
    let r = put(
        &c,
        &t,
        "/regions/East-1",
        json!({"region": {"parent_region_id": "East", "x": 1}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["region"]["parent_region_id"], "East");
    assert_eq!(r.body["region"]["x"], 1);
    let r = put(
        &c,
        &t,
        "/regions/East-2",
        json!({"region": {"id": "Other"}}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["error"]["message"],
        "Conflicting region IDs specified: \"East-2\" != \"Other\""
    );
    let r = put(
        &c,
        &t,
        "/regions/East-2",
        json!({"region": {"parent_region_id": "East-1"}}),
    )
    .await;
    assert_eq!(r.status, 201);

    // Duplicates and unknown parents.
    let r = post(&c, &t, "/regions", json!({"region": {"id": "East"}})).await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.body["error"]["message"],
        "Conflict occurred attempting to store region - Duplicate ID, East."
    );
    assert_eq!(r.body["error"]["title"], "Conflict");
    let r = post(
        &c,
        &t,
        "/regions",
        json!({"region": {"id": "W", "parent_region_id": "nope"}}),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["message"], "Could not find region: nope.");
    let g = get(&c, &t, "/regions/W").await;
    assert_eq!(g.status, 404, "nothing half-written");
    assert_eq!(g.body["error"]["code"], 404);

    // Filter.
    let f = get(&c, &t, "/regions?parent_region_id=East").await;
    let ids: Vec<&str> = f.body["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["East-1"]);

    // PATCH: description, cycles, unknown parent, id change, empty body.
    let p = patch(
        &c,
        &t,
        "/regions/East",
        json!({"region": {"description": "d"}}),
    )
    .await;
    assert_eq!(p.status, 200);
    assert_eq!(p.body["region"]["description"], "d");
    let p = patch(
        &c,
        &t,
        "/regions/East",
        json!({"region": {"parent_region_id": "East-2"}}),
    )
    .await;
    assert_eq!(p.status, 400);
    assert_eq!(
        p.body["error"]["message"],
        "The specified parent region East would create a circular region hierarchy."
    );
    let p = patch(
        &c,
        &t,
        "/regions/East",
        json!({"region": {"parent_region_id": "East"}}),
    )
    .await;
    assert_eq!(p.status, 400);
    let p = patch(
        &c,
        &t,
        "/regions/East",
        json!({"region": {"parent_region_id": "zzz"}}),
    )
    .await;
    assert_eq!(p.status, 404);
    let p = patch(&c, &t, "/regions/East", json!({"region": {"id": "zzz"}})).await;
    assert_eq!(p.status, 400);
    let p = patch(&c, &t, "/regions/East", json!({"region": {}})).await;
    assert_eq!(p.status, 400);
    let p = patch(
        &c,
        &t,
        "/regions/nope",
        json!({"region": {"description": "x"}}),
    )
    .await;
    assert_eq!(p.status, 404);
    let g = get(&c, &t, "/regions/East").await;
    assert_eq!(
        g.body["region"]["parent_region_id"],
        Value::Null,
        "failed updates change nothing"
    );
    assert_eq!(g.body["region"]["description"], "d");

    // Bad input.
    let before = count(&c, &t, "/regions", "regions").await;
    for body in [
        json!({"region": {"id": "x".repeat(256)}}),
        json!({"region": {"id": "y", "description": "d".repeat(256)}}),
        json!({"region": {"id": "y", "description": 5}}),
        json!({"region": {"id": 5}}),
        json!({"region": {"id": "y", "parent_region_id": ""}}),
        json!({"region": "x"}),
        json!({"nope": {}}),
    ] {
        let r = post(&c, &t, "/regions", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.body["error"]["title"], "Bad Request");
    }
    let r = c
        .raw(Method::POST, &c.v3("/regions"), Some(&t), b"{nope".to_vec())
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(count(&c, &t, "/regions", "regions").await, before);

    // A region whose subtree has endpoints cannot go; otherwise the subtree goes with it.
    let svc = post(&c, &t, "/services", json!({"service": {"type": "x"}})).await;
    let sid = svc.body["service"]["id"].as_str().unwrap().to_string();
    let ep = post(&c, &t, "/endpoints", json!({"endpoint": {"service_id": sid, "interface": "public", "url": "http://e", "region_id": "East-2"}})).await;
    assert_eq!(ep.status, 201, "{}", ep.text);
    let d = del(&c, &t, "/regions/East").await;
    assert_eq!(d.status, 403);
    assert_eq!(
        d.body["error"]["message"],
        "Unable to delete region East because it or its child regions have associated endpoints."
    );
    assert_eq!(count(&c, &t, "/regions", "regions").await, before);
    let eid = ep.body["endpoint"]["id"].as_str().unwrap().to_string();
    assert_eq!(del(&c, &t, &format!("/endpoints/{eid}")).await.status, 204);
    let d = del(&c, &t, "/regions/East").await;
    assert_eq!(d.status, 204);
    assert_eq!(d.text, "");
    for id in ["East", "East-1", "East-2"] {
        assert_eq!(get(&c, &t, &format!("/regions/{id}")).await.status, 404);
    }
    assert_eq!(del(&c, &t, "/regions/East").await.status, 404);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_crud_and_errors() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let r = post(&c, &t, "/services", json!({"service": {"type": "dns", "name": "designate", "description": "d", "extra_key": "v"}})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let svc = &r.body["service"];
    assert_eq!(
        keys(svc),
        [
            "description",
            "enabled",
            "extra_key",
            "id",
            "links",
            "name",
            "type"
        ]
    );
    assert_eq!(svc["enabled"], true);
    let id = svc["id"].as_str().unwrap().to_string();
    assert_eq!(svc["links"]["self"], c.v3(&format!("/services/{id}")));
    let r = post(&c, &t, "/services", json!({"service": {"type": "image"}})).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["service"]["name"], "");
    assert!(
        r.body["service"].get("description").is_none(),
        "Keystone omits an unset description"
    );

    let before = count(&c, &t, "/services", "services").await;
    for body in [
        json!({"service": {}}),
        json!({"service": {"type": ""}}),
        json!({"service": {"type": 3}}),
        json!({"service": {"type": "t".repeat(256)}}),
        json!({"service": {"type": "a", "name": "n".repeat(256)}}),
        json!({"service": {"type": "a", "enabled": "yes"}}),
        json!({"service": []}),
    ] {
        let r = post(&c, &t, "/services", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }
    assert_eq!(count(&c, &t, "/services", "services").await, before);

    assert_eq!(count(&c, &t, "/services?type=dns", "services").await, 1);
    assert_eq!(
        count(&c, &t, "/services?name=designate", "services").await,
        1
    );
    assert_eq!(count(&c, &t, "/services?name=nope", "services").await, 0);

    let p = patch(
        &c,
        &t,
        &format!("/services/{id}"),
        json!({"service": {"enabled": false, "name": "designate2"}}),
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["service"]["enabled"], false);
    assert_eq!(p.body["service"]["name"], "designate2");
    assert_eq!(p.body["service"]["type"], "dns");
    let p = patch(
        &c,
        &t,
        &format!("/services/{id}"),
        json!({"service": {"id": "other"}}),
    )
    .await;
    assert_eq!(p.status, 400);
    assert_eq!(p.body["error"]["message"], "Cannot change ID");
    let p = patch(&c, &t, "/services/nope", json!({"service": {"name": "x"}})).await;
    assert_eq!(p.status, 404);
    assert_eq!(p.body["error"]["message"], "Could not find service: nope.");

    // Deleting a service takes its endpoints.
    let ep = post(
        &c,
        &t,
        "/endpoints",
        json!({"endpoint": {"service_id": id, "interface": "admin", "url": "http://n"}}),
    )
    .await;
    assert_eq!(ep.status, 201);
    let eid = ep.body["endpoint"]["id"].as_str().unwrap().to_string();
    assert_eq!(del(&c, &t, &format!("/services/{id}")).await.status, 204);
    assert_eq!(get(&c, &t, &format!("/services/{id}")).await.status, 404);
    assert_eq!(get(&c, &t, &format!("/endpoints/{eid}")).await.status, 404);
    assert_eq!(del(&c, &t, &format!("/services/{id}")).await.status, 404);
    c.stop().await.unwrap();
}

async fn catalog_urls(c: &TestCloud, tok: &str, service_type: &str) -> Vec<String> {
    let r = c
        .client
        .get(c.v3("/auth/tokens"))
        .header("X-Auth-Token", tok)
        .header("X-Subject-Token", tok)
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    body["token"]["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["type"] == service_type)
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .map(|e| e["url"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_crud_validation_and_token_catalog() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let svc = post(
        &c,
        &t,
        "/services",
        json!({"service": {"type": "sharev2", "name": "manila"}}),
    )
    .await;
    let sid = svc.body["service"]["id"].as_str().unwrap().to_string();
    let r = post(
        &c,
        &t,
        "/endpoints",
        json!({"endpoint": {"service_id": sid, "interface": "public",
            "url": "http://v/v3/%(project_id)s", "region_id": "RegionOne", "enabled": true}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let e = &r.body["endpoint"];
    assert_eq!(
        keys(e),
        [
            "enabled",
            "id",
            "interface",
            "links",
            "region",
            "region_id",
            "service_id",
            "url"
        ]
    );
    assert_eq!(e["region"], "RegionOne");
    let eid = e["id"].as_str().unwrap().to_string();
    assert_eq!(e["links"]["self"], c.v3(&format!("/endpoints/{eid}")));

    // The catalog of a new token substitutes the project id.
    let issued = c.token("admin", &c.admin_password, Some("admin")).await;
    let t2 = issued.header("x-subject-token");
    let pid = issued.body["token"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let urls = catalog_urls(&c, &t2, "sharev2").await;
    assert_eq!(urls, [format!("http://v/v3/{pid}")]);

    // Validation: interface, url, service, region; nothing written.
    let before = count(&c, &t, "/endpoints", "endpoints").await;
    let cases = [
        (json!({"service_id": sid, "interface": "bogus", "url": "http://x"}), "Invalid input for field 'interface': 'bogus' is not one of ['admin', 'internal', 'public']"),
        (json!({"service_id": "nope", "interface": "public", "url": "http://x"}), "Expecting to find endpoint service_id in service table. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error."),
        (json!({"service_id": sid, "interface": "public", "url": "http://x", "region_id": "nope"}), "Expecting to find endpoint region_id in region table. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error."),
        (json!({"service_id": sid, "interface": "public", "url": "http://x/%(secret)s"}), "Cannot create an endpoint with an invalid URL: http://x/%(secret)s."),
        (json!({"service_id": sid, "interface": "public", "url": "no scheme"}), ""),
        (json!({"service_id": sid, "interface": "public"}), "'url' is a required property"),
        (json!({"service_id": sid, "url": "http://x"}), "'interface' is a required property"),
        (json!({"interface": "public", "url": "http://x"}), "'service_id' is a required property"),
        (json!({"service_id": sid, "interface": "public", "url": 5}), ""),
        (json!({"service_id": sid, "interface": "public", "url": "http://x", "enabled": "no"}), ""),
    ];
    for (body, msg) in cases {
        let r = post(&c, &t, "/endpoints", json!({"endpoint": body.clone()})).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        if !msg.is_empty() {
            assert_eq!(r.body["error"]["message"], msg);
        }
    }
    assert_eq!(count(&c, &t, "/endpoints", "endpoints").await, before);
    assert_eq!(get(&c, &t, "/endpoints?interface=bogus").await.status, 400);

    // The legacy `region` field creates the region.
    let r = post(&c, &t, "/endpoints", json!({"endpoint": {"service_id": sid, "interface": "internal", "url": "http://i", "region": "Legacy"}})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["endpoint"]["region_id"], "Legacy");
    assert_eq!(get(&c, &t, "/regions/Legacy").await.status, 200);
    let legacy_id = r.body["endpoint"]["id"].as_str().unwrap().to_string();

    // Filters.
    assert_eq!(
        count(&c, &t, &format!("/endpoints?service_id={sid}"), "endpoints").await,
        2
    );
    assert_eq!(
        count(
            &c,
            &t,
            &format!("/endpoints?service_id={sid}&interface=internal"),
            "endpoints"
        )
        .await,
        1
    );
    assert_eq!(
        count(&c, &t, "/endpoints?region_id=Legacy", "endpoints").await,
        1
    );

    // PATCH, then the catalog follows; disabled endpoints and services leave it.
    let p = patch(
        &c,
        &t,
        &format!("/endpoints/{eid}"),
        json!({"endpoint": {"url": "http://v2/v3"}}),
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["endpoint"]["url"], "http://v2/v3");
    assert_eq!(p.body["endpoint"]["interface"], "public");
    let p = patch(
        &c,
        &t,
        &format!("/endpoints/{eid}"),
        json!({"endpoint": {"region_id": "nope"}}),
    )
    .await;
    assert_eq!(p.status, 400);
    let p = patch(
        &c,
        &t,
        &format!("/endpoints/{eid}"),
        json!({"endpoint": {"interface": "x"}}),
    )
    .await;
    assert_eq!(p.status, 400);
    let p = patch(
        &c,
        &t,
        "/endpoints/nope",
        json!({"endpoint": {"url": "http://a"}}),
    )
    .await;
    assert_eq!(p.status, 404);
    assert_eq!(p.body["error"]["message"], "Could not find endpoint: nope.");
    let t3 = c.admin_token().await;
    let mut urls = catalog_urls(&c, &t3, "sharev2").await;
    urls.sort();
    assert_eq!(urls, ["http://i", "http://v2/v3"]);
    let p = patch(
        &c,
        &t,
        &format!("/endpoints/{legacy_id}"),
        json!({"endpoint": {"enabled": false}}),
    )
    .await;
    assert_eq!(p.body["endpoint"]["enabled"], false);
    assert_eq!(catalog_urls(&c, &t3, "sharev2").await, ["http://v2/v3"]);
    patch(
        &c,
        &t,
        &format!("/services/{sid}"),
        json!({"service": {"enabled": false}}),
    )
    .await;
    assert!(catalog_urls(&c, &t3, "sharev2").await.is_empty());

    assert_eq!(del(&c, &t, &format!("/endpoints/{eid}")).await.status, 204);
    assert_eq!(get(&c, &t, &format!("/endpoints/{eid}")).await.status, 404);
    assert_eq!(del(&c, &t, &format!("/endpoints/{eid}")).await.status, 404);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_policy_matrix() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let (_, _, member) = c.user_with_role(&admin, "carol", "member").await;
    let svc = post(&c, &admin, "/services", json!({"service": {"type": "t"}})).await;
    let sid = svc.body["service"]["id"].as_str().unwrap().to_string();
    let ep = post(
        &c,
        &admin,
        "/endpoints",
        json!({"endpoint": {"service_id": sid, "interface": "public", "url": "http://e"}}),
    )
    .await;
    let eid = ep.body["endpoint"]["id"].as_str().unwrap().to_string();

    // Anyone may read regions; services and endpoints are for admins and system readers.
    assert_eq!(get(&c, &member, "/regions").await.status, 200);
    assert_eq!(get(&c, &member, "/regions/RegionOne").await.status, 200);
    let denied = [
        (
            Method::POST,
            "/regions".to_string(),
            Some(json!({"region": {"id": "M"}})),
        ),
        (
            Method::PUT,
            "/regions/M".to_string(),
            Some(json!({"region": {}})),
        ),
        (
            Method::PATCH,
            "/regions/RegionOne".to_string(),
            Some(json!({"region": {"description": "x"}})),
        ),
        (Method::DELETE, "/regions/RegionOne".to_string(), None),
        (Method::GET, "/services".to_string(), None),
        (Method::GET, format!("/services/{sid}"), None),
        (
            Method::POST,
            "/services".to_string(),
            Some(json!({"service": {"type": "m"}})),
        ),
        (
            Method::PATCH,
            format!("/services/{sid}"),
            Some(json!({"service": {"name": "m"}})),
        ),
        (Method::DELETE, format!("/services/{sid}"), None),
        (Method::GET, "/endpoints".to_string(), None),
        (Method::GET, format!("/endpoints/{eid}"), None),
        (
            Method::POST,
            "/endpoints".to_string(),
            Some(
                json!({"endpoint": {"service_id": sid, "interface": "public", "url": "http://m"}}),
            ),
        ),
        (
            Method::PATCH,
            format!("/endpoints/{eid}"),
            Some(json!({"endpoint": {"url": "http://m"}})),
        ),
        (Method::DELETE, format!("/endpoints/{eid}"), None),
    ];
    for (m, path, body) in &denied {
        let r = c
            .req(m.clone(), &c.v3(path), Some(&member), body.clone())
            .await;
        assert_eq!(r.status, 403, "{m} {path}: {}", r.text);
        assert_eq!(r.body["error"]["title"], "Forbidden");
        let r = c
            .req(m.clone(), &c.v3(path), Some("not-a-token"), body.clone())
            .await;
        assert_eq!(r.status, 401, "{m} {path}");
        let r = c.req(m.clone(), &c.v3(path), None, body.clone()).await;
        assert_eq!(r.status, 401, "{m} {path}");
    }
    // Nothing changed.
    assert_eq!(get(&c, &admin, "/regions/M").await.status, 404);
    assert_eq!(
        get(&c, &admin, &format!("/endpoints/{eid}")).await.body["endpoint"]["url"],
        "http://e"
    );
    assert_eq!(get(&c, "not-a-token", "/regions").await.status, 401);
    c.stop().await.unwrap();
}
