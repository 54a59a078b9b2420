//! The compute API's servers over HTTP against the whole cloud (fake virt driver: these
//! tests are about the API, quotas, isolation and scheduling; real guests boot in the
//! end-to-end tests): microversion negotiation, Nova's error bodies for malformed input,
//! project isolation (404, never 403), quota races, and "No valid host".

use api_tests::{Resp, TestCloud};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn compute(c: &TestCloud, path: &str) -> String {
    format!("{}/compute/v2.1{}", c.base, path)
}

/// A request with a compute microversion header.
async fn nova(
    c: &TestCloud,
    m: Method,
    path: &str,
    tok: &str,
    mv: &str,
    body: Option<Value>,
) -> Resp {
    let mut rb = c
        .client
        .request(m, compute(c, path))
        .header("X-Auth-Token", tok)
        .header("OpenStack-API-Version", format!("compute {mv}"));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
        text,
    }
}

/// Asserts a Nova error: status and `{"<name>": {"code", "message"}}`; returns the message.
fn nova_error(r: &Resp, status: u16, name: &str) -> String {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    assert_eq!(r.body[name]["code"], status, "{}", r.text);
    r.body[name]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {}", r.text))
        .to_string()
}

/// An active raw image visible to everyone; returns its id.
async fn image(c: &TestCloud, admin: &str) -> String {
    let r = c
        .req(
            Method::POST,
            &format!("{}/image/v2/images", c.base),
            Some(admin),
            Some(json!({"name": "blank", "disk_format": "raw", "container_format": "bare", "visibility": "public"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let up = c
        .client
        .put(format!("{}/image/v2/images/{id}/file", c.base))
        .header("X-Auth-Token", admin)
        .header("Content-Type", "application/octet-stream")
        .body(vec![0u8; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), StatusCode::NO_CONTENT);
    id
}

fn server_body(image: &str, flavor: &str, name: &str) -> Value {
    json!({"server": {"name": name, "imageRef": image, "flavorRef": flavor, "networks": "none"}})
}

async fn wait_status(c: &TestCloud, tok: &str, id: &str, want: &str) -> Value {
    for _ in 0..400 {
        let r = nova(c, Method::GET, &format!("/servers/{id}"), tok, "2.79", None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let status = r.body["server"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if status == want {
            return r.body["server"].clone();
        }
        if status == "ERROR" && want != "ERROR" {
            panic!("server went to ERROR: {}", r.text);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("server {id} never became {want}");
}

#[tokio::test]
async fn versions_and_microversion_negotiation() {
    let c = TestCloud::start().await.unwrap();
    let r = c
        .req(Method::GET, &format!("{}/compute/", c.base), None, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v21 = r.body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "v2.1")
        .unwrap()
        .clone();
    assert_eq!(v21["status"], "CURRENT");
    assert_eq!(v21["min_version"], "2.1");
    assert_eq!(v21["version"], "2.79");
    let admin = c.admin_token().await;
    let r = nova(&c, Method::GET, "/flavors", &admin, "2.1000", None).await;
    nova_error(&r, 406, "HTTPNotAcceptable");
    let r = nova(&c, Method::GET, "/flavors", &admin, "two", None).await;
    nova_error(&r, 400, "badRequest");
    let r = nova(&c, Method::GET, "/flavors", &admin, "2.60", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("openstack-api-version"), "compute 2.60");
    assert_eq!(r.header("x-openstack-nova-api-version"), "2.60");
    c.stop().await.unwrap();
}

#[tokio::test]
async fn malformed_create_bodies_get_nova_400s_and_create_nothing() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let img = image(&c, &admin).await;
    let bad = [
        json!({"server": {"imageRef": img, "flavorRef": "1", "networks": "none"}}),
        json!({"server": {"name": "x", "imageRef": img, "networks": "none"}}),
        json!({"server": {"name": "x", "imageRef": img, "flavorRef": "1"}}),
        json!({"server": {"name": "x", "imageRef": img, "flavorRef": "1", "networks": "none", "bogus": 1}}),
        json!({"server": {"name": "x", "imageRef": img, "flavorRef": "1", "networks": "none", "user_data": "***"}}),
        json!({"server": {"name": "x", "imageRef": img, "flavorRef": "1", "networks": "none", "min_count": 0}}),
        json!({"server": {"name": "x", "imageRef": img, "flavorRef": "nope", "networks": "none"}}),
        json!({"server": {"name": "x", "imageRef": "00000000-0000-0000-0000-000000000000", "flavorRef": "1", "networks": "none"}}),
        json!({"server": {"name": "x", "imageRef": img, "flavorRef": "1", "networks": "none", "key_name": "missing"}}),
        json!({"server": "not an object"}),
        json!({}),
    ];
    for body in bad {
        let r = nova(
            &c,
            Method::POST,
            "/servers",
            &admin,
            "2.79",
            Some(body.clone()),
        )
        .await;
        nova_error(&r, 400, "badRequest");
    }
    let r = c
        .raw(
            Method::POST,
            &compute(&c, "/servers"),
            Some(&admin),
            b"{not json".to_vec(),
        )
        .await;
    nova_error(&r, 400, "badRequest");
    let r = nova(&c, Method::GET, "/servers/detail", &admin, "2.79", None).await;
    assert_eq!(
        r.body["servers"],
        json!([]),
        "nothing half-created: {}",
        r.text
    );
    c.stop().await.unwrap();
}

#[tokio::test]
async fn another_projects_server_is_404_for_everything() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let img = image(&c, &admin).await;
    let (_, _, a) = c.user_with_role(&admin, "alice", "member").await;
    let (_, _, b) = c.user_with_role(&admin, "bob", "member").await;
    let r = nova(
        &c,
        Method::POST,
        "/servers",
        &a,
        "2.79",
        Some(server_body(&img, "1", "mine")),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    wait_status(&c, &a, &id, "ACTIVE").await;
    let list = nova(&c, Method::GET, "/servers/detail", &b, "2.79", None).await;
    assert_eq!(list.body["servers"], json!([]), "{}", list.text);
    let list = nova(
        &c,
        Method::GET,
        "/servers/detail?all_tenants=1",
        &b,
        "2.79",
        None,
    )
    .await;
    assert!(
        !list.text.contains(&id),
        "all_tenants is ignored for members: {}",
        list.text
    );
    for (m, path, body) in [
        (Method::GET, format!("/servers/{id}"), None),
        (
            Method::PUT,
            format!("/servers/{id}"),
            Some(json!({"server": {"name": "stolen"}})),
        ),
        (
            Method::POST,
            format!("/servers/{id}/action"),
            Some(json!({"os-stop": null})),
        ),
        (
            Method::POST,
            format!("/servers/{id}/action"),
            Some(json!({"os-getConsoleOutput": {}})),
        ),
        (Method::GET, format!("/servers/{id}/metadata"), None),
        (Method::DELETE, format!("/servers/{id}"), None),
    ] {
        let r = nova(&c, m, &path, &b, "2.79", body).await;
        nova_error(&r, 404, "itemNotFound");
    }
    let s = wait_status(&c, &a, &id, "ACTIVE").await;
    assert_eq!(s["name"], "mine");
    c.stop().await.unwrap();
}

#[tokio::test]
async fn a_flavor_bigger_than_any_host_ends_in_error_with_no_valid_host() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let img = image(&c, &admin).await;
    let (_, pid, tok) = c.user_with_role(&admin, "dave", "member").await;
    let q = nova(
        &c,
        Method::PUT,
        &format!("/os-quota-sets/{pid}"),
        &admin,
        "2.79",
        Some(json!({"quota_set": {"ram": -1}})),
    )
    .await;
    assert_eq!(q.status, 200, "{}", q.text);
    let f = nova(
        &c,
        Method::POST,
        "/flavors",
        &admin,
        "2.79",
        Some(json!({"flavor": {
        "name": "huge", "id": "huge", "vcpus": 1, "ram": 1048576000, "disk": 1}})),
    )
    .await;
    assert_eq!(f.status, 200, "{}", f.text);
    let r = nova(
        &c,
        Method::POST,
        "/servers",
        &tok,
        "2.79",
        Some(server_body(&img, "huge", "big")),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    let s = wait_status(&c, &tok, &id, "ERROR").await;
    let msg = s["fault"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("No valid host"), "{s:#}");
    let u = c
        .req(
            Method::GET,
            &format!("{}/placement/allocations/{id}", c.base),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        u.body["allocations"],
        json!({}),
        "no allocation: {}",
        u.text
    );
    c.stop().await.unwrap();
}

#[tokio::test]
async fn twenty_concurrent_creates_against_a_quota_of_ten_admit_exactly_ten() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let img = image(&c, &admin).await;
    let (_, pid, tok) = c.user_with_role(&admin, "carol", "member").await;
    let r = nova(
        &c,
        Method::PUT,
        &format!("/os-quota-sets/{pid}"),
        &admin,
        "2.79",
        Some(json!({"quota_set": {"instances": 10, "cores": 100, "ram": 1000000}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let body = server_body(&img, "42", &format!("q{i}"));
        let url = compute(&c, "/servers");
        let client = c.client.clone();
        let tok = tok.clone();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .header("X-Auth-Token", tok)
                .header("OpenStack-API-Version", "compute 2.79")
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (status, text) = t.await.unwrap();
        match status {
            202 => ok += 1,
            403 => {
                let v: Value = serde_json::from_str(&text).unwrap();
                let msg = v["forbidden"]["message"].as_str().unwrap_or_default();
                assert!(msg.starts_with("Quota exceeded for instances"), "{text}");
            }
            other => panic!("unexpected {other}: {text}"),
        }
    }
    assert_eq!(ok, 10);
    let list = nova(&c, Method::GET, "/servers", &tok, "2.79", None).await;
    assert_eq!(
        list.body["servers"].as_array().map(Vec::len),
        Some(10),
        "{}",
        list.text
    );
    c.stop().await.unwrap();
}
