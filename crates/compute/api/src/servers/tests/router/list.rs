//! `GET /servers[/detail]`, `GET|PUT|DELETE /servers/{id}` through the router: project
//! isolation (404), query validation, paging links, views per microversion.

use axum::http::Method;
use serde_json::{json, Value};

use super::{Cloud, ADMIN, ALICE, BASE, BOB, READER};

#[tokio::test]
async fn query_errors_follow_nova() {
    let c = Cloud::start().await;
    let cases = [
        ("2.79", "/servers?sort_key=bogus", 400),
        ("2.79", "/servers?limit=-1", 400),
        ("2.79", "/servers/detail?changes-since=yesterday", 400),
        ("2.79", "/servers?unknown=1", 400),
        ("2.79", "/servers?status=NOPE", 400),
        ("2.79", "/servers?locked=maybe", 400),
        ("2.79", "/servers?sort_key=created_at&sort_dir=sideways", 400),
        ("2.79", "/servers?all_tenants=1", 403),
        ("2.79", "/servers?sort_key=host", 403),
        ("2.79", "/servers?status=DELETED", 403),
        ("2.79", "/servers/detail?changes-since=2026-01-02T00:00:00Z&changes-before=2026-01-01T00:00:00Z", 400),
    ];
    let mut messages = Vec::new();
    for (mv, path, status) in cases {
        let r = c.call(&ALICE, Method::GET, path, Some(mv), None).await;
        let name = if status == 400 {
            "badRequest"
        } else {
            "forbidden"
        };
        messages.push(r.error(status, name));
    }
    assert_eq!(
        messages[1],
        "Invalid input for query parameters limit. Value: -1. '-1' does not match '^[0-9]*$'"
    );
    assert_eq!(
        messages[2],
        "Invalid input for query parameters changes-since. Value: yesterday. 'yesterday' is not a 'date-time'"
    );
    assert_eq!(
        messages[3],
        "'unknown' does not match any of the regexes: '^_'"
    );
    assert_eq!(messages[4], "Invalid status value");
    assert!(
        messages[5].starts_with("Invalid input received: Unrecognized value 'maybe'"),
        "{}",
        messages[5]
    );
    assert_eq!(
        messages[6],
        "Invalid input received: Unknown sort direction, must be 'desc' or 'asc'"
    );
    assert_eq!(
        messages[7],
        "Policy doesn't allow os_compute_api:servers:index:get_all_tenants to be performed."
    );
    assert_eq!(messages[8], "Only administrators can sort servers by host");
    assert_eq!(
        messages[9],
        "Only administrators may list deleted instances"
    );
    assert_eq!(
        messages[10],
        "The value of changes-since must be less than or equal to changes-before."
    );
    assert!(messages[0].starts_with("Invalid input for query parameters sort_key. Value: bogus. 'bogus' is not one of ['locked', 'access_ip_v4'"), "{}", messages[0]);

    // Before 2.75 unknown filters are dropped for non-admins; before 2.38 an unknown status
    // is an empty list.
    let r = c
        .call(
            &ALICE,
            Method::GET,
            "/servers?unknown=1&host=h&deleted=False",
            Some("2.74"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = c
        .call(
            &ALICE,
            Method::GET,
            "/servers?status=NOPE",
            Some("2.37"),
            None,
        )
        .await;
    assert_eq!(r.body, json!({"servers": []}));
    // Admins may use every filter, but not the joined-table ones.
    let r = c
        .call(
            &ADMIN,
            Method::GET,
            "/servers?metadata=x",
            Some("2.74"),
            None,
        )
        .await;
    assert_eq!(
        r.error(400, "badRequest"),
        "Invalid filter field: metadata."
    );
}

#[tokio::test]
async fn another_projects_server_is_404_everywhere() {
    let c = Cloud::start().await;
    let id = c.server(&ALICE, "mine").await;
    let paths: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/servers/{id}"), None),
        (
            Method::PUT,
            format!("/servers/{id}"),
            Some(json!({"server": {"name": "stolen"}})),
        ),
        (Method::DELETE, format!("/servers/{id}"), None),
        (
            Method::POST,
            format!("/servers/{id}/action"),
            Some(json!({"os-stop": null})),
        ),
        (
            Method::POST,
            format!("/servers/{id}/action"),
            Some(json!({"reboot": {"type": "HARD"}})),
        ),
        (Method::GET, format!("/servers/{id}/metadata"), None),
        (
            Method::PUT,
            format!("/servers/{id}/metadata/k"),
            Some(json!({"meta": {"k": "v"}})),
        ),
        (Method::GET, format!("/servers/{id}/tags"), None),
        (
            Method::GET,
            format!("/servers/{id}/os-instance-actions"),
            None,
        ),
        (Method::GET, format!("/servers/{id}/ips"), None),
        (
            Method::GET,
            format!("/servers/{id}/os-volume_attachments"),
            None,
        ),
    ];
    for (m, path, body) in paths {
        let r = c.call(&BOB, m.clone(), &path, Some("2.79"), body).await;
        r.error(404, "itemNotFound");
    }
    let list = c
        .call(&BOB, Method::GET, "/servers/detail", Some("2.79"), None)
        .await;
    assert_eq!(list.body, json!({"servers": []}));
    // The owner still has it, untouched; a reader of the project may see but not change it.
    let r = c
        .call(
            &READER,
            Method::GET,
            &format!("/servers/{id}"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(r.body["server"]["name"], "mine", "{}", r.body);
    let r = c
        .call(
            &READER,
            Method::PUT,
            &format!("/servers/{id}"),
            Some("2.79"),
            Some(json!({"server": {"name": "x"}})),
        )
        .await;
    assert_eq!(
        r.error(403, "forbidden"),
        "Policy doesn't allow os_compute_api:servers:update to be performed."
    );
    // Admins see every project's servers with all_tenants, and the extended attributes.
    let r = c
        .call(
            &ADMIN,
            Method::GET,
            "/servers/detail?all_tenants=1",
            Some("2.79"),
            None,
        )
        .await;
    let servers = r.body["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 1, "{}", r.body);
    assert!(servers[0].get("OS-EXT-SRV-ATTR:instance_name").is_some());
    assert!(servers[0].get("host_status").is_some());
    let r = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}"),
            Some("2.79"),
            None,
        )
        .await;
    assert!(
        r.body["server"].get("OS-EXT-SRV-ATTR:host").is_none(),
        "admin-only attributes"
    );
}

#[tokio::test]
async fn show_follows_the_microversion() {
    let c = Cloud::start().await;
    let id = c.server(&ALICE, "vm").await;
    let old = c
        .call(&ALICE, Method::GET, &format!("/servers/{id}"), None, None)
        .await;
    let s = &old.body["server"];
    assert_eq!(s["flavor"]["id"], "1", "{s:#}");
    assert_eq!(
        s["flavor"]["links"][0]["href"],
        format!("{BASE}/compute/flavors/1")
    );
    for absent in [
        "locked",
        "description",
        "tags",
        "locked_reason",
        "trusted_image_certificates",
    ] {
        assert!(s.get(absent).is_none(), "{absent} at 2.1");
    }
    let new = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}"),
            Some("2.79"),
            None,
        )
        .await;
    let s = &new.body["server"];
    assert_eq!(s["flavor"]["original_name"], "m1.tiny", "{s:#}");
    assert_eq!(
        s["flavor"]["extra_specs"],
        json!({}),
        "members may see extra specs (reader rule)"
    );
    assert_eq!(s["locked"], false);
    assert_eq!(s["tags"], json!([]));
    assert_eq!(s["locked_reason"], Value::Null);
    assert_eq!(s["description"], Value::Null);
    assert_eq!(s["image"]["id"], super::IMAGE);
    assert_eq!(s["addresses"], json!({}));
    assert_eq!(
        new.headers["openstack-api-version"], "compute 2.79",
        "the negotiated version is echoed"
    );
    // Before 2.19 there is no description to give, and Nova records the name as one.
    let body = json!({"server": {"name": "named", "imageRef": super::IMAGE, "flavorRef": "1"}});
    let r = c
        .call(&ALICE, Method::POST, "/servers", Some("2.18"), Some(body))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let old_id = r.body["server"]["id"].as_str().unwrap().to_string();
    let r = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{old_id}"),
            Some("2.19"),
            None,
        )
        .await;
    assert_eq!(r.body["server"]["description"], "named");
}

#[tokio::test]
async fn update_renames_and_answers_the_server() {
    let c = Cloud::start().await;
    let id = c.server(&ALICE, "old").await;
    let body = json!({"server": {"name": "new", "description": "d"}});
    let r = c
        .call(
            &ALICE,
            Method::PUT,
            &format!("/servers/{id}"),
            Some("2.74"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["server"]["name"], "new");
    assert_eq!(r.body["server"]["description"], "d");
    assert!(
        r.body["server"].get("OS-EXT-STS:vm_state").is_none(),
        "reduced body before 2.75"
    );
    let r = c
        .call(
            &ALICE,
            Method::PUT,
            &format!("/servers/{id}"),
            Some("2.75"),
            Some(body),
        )
        .await;
    assert!(
        r.body["server"].get("OS-EXT-STS:vm_state").is_some(),
        "full body from 2.75"
    );
    let r = c
        .call(
            &ALICE,
            Method::PUT,
            &format!("/servers/{id}"),
            Some("2.18"),
            Some(json!({"server": {"description": "d"}})),
        )
        .await;
    r.error(400, "badRequest");
}

#[tokio::test]
async fn delete_answers_204() {
    let c = Cloud::start().await;
    let id = c.server(&ALICE, "gone").await;
    let r = c
        .call(
            &BOB,
            Method::DELETE,
            &format!("/servers/{id}"),
            Some("2.79"),
            None,
        )
        .await;
    r.error(404, "itemNotFound");
    let r = c
        .call(
            &ALICE,
            Method::DELETE,
            &format!("/servers/{id}"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
}

#[tokio::test]
async fn full_pages_carry_an_absolute_next_link() {
    let c = Cloud::start().await;
    for i in 0..3 {
        c.server(&ALICE, &format!("vm{i}")).await;
    }
    let r = c
        .call(
            &ALICE,
            Method::GET,
            "/servers/detail?limit=2&deleted=False",
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let servers = r.body["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2);
    let last = servers[1]["id"].as_str().unwrap();
    let href = r.body["servers_links"][0]["href"].as_str().unwrap();
    assert_eq!(r.body["servers_links"][0]["rel"], "next");
    assert_eq!(
        href,
        format!("{BASE}/compute/v2.1/servers/detail?deleted=False&limit=2&marker={last}")
    );
    let next = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/detail?deleted=False&limit=2&marker={last}"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(
        next.body["servers"].as_array().map(Vec::len),
        Some(1),
        "{}",
        next.body
    );
    assert!(
        next.body.get("servers_links").is_none(),
        "a short page ends the listing"
    );
    let r = c
        .call(&ALICE, Method::GET, "/servers", Some("2.79"), None)
        .await;
    assert_eq!(r.body["servers"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        r.body["servers"][0].as_object().map(|o| o.len()),
        Some(3),
        "index entries are id, name and links"
    );
}
