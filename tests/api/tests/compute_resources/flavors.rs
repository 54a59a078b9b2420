//! Flavors: the bootstrap set per microversion, paging, visibility of private flavors,
//! access, extra specs, description and delete.
use api_tests::TestCloud;
use reqwest::Method;
use serde_json::{json, Value};

use crate::{fault, ids, nova, ok, url};

#[tokio::test]
async fn flavors_visibility_access_specs_and_errors() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let (_, p1, alice) = c.user_with_role(&admin, "alice", "member").await;
    let (_, _, bob) = c.user_with_role(&admin, "bob", "member").await;

    // The bootstrap flavors, brief and detailed, per microversion.
    let r = nova(&c, Method::GET, "/flavors", &alice, None, None).await;
    let names: Vec<String> = ok(&r, 200)["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    for n in [
        "m1.tiny",
        "m1.small",
        "m1.medium",
        "m1.large",
        "m1.xlarge",
        "m1.nano",
        "m1.micro",
    ] {
        assert!(names.contains(&n.to_string()), "{names:?}");
    }
    let r = nova(&c, Method::GET, "/flavors/1", &alice, None, None).await;
    let f = &ok(&r, 200)["flavor"];
    assert_eq!(
        (f["vcpus"].clone(), f["ram"].clone(), f["disk"].clone()),
        (json!(1), json!(512), json!(1))
    );
    assert_eq!(f["swap"], "");
    assert_eq!(f["os-flavor-access:is_public"], true);
    assert_eq!(f["OS-FLV-EXT-DATA:ephemeral"], 0);
    assert!(
        f.get("description").is_none() && f.get("extra_specs").is_none(),
        "{f}"
    );
    assert_eq!(
        f["links"][0]["href"],
        format!("{}/compute/v2.1/flavors/1", c.base)
    );
    assert_eq!(
        f["links"][1]["href"],
        format!("{}/compute/flavors/1", c.base)
    );
    let r = nova(&c, Method::GET, "/flavors/1", &alice, Some("2.75"), None).await;
    let f = &ok(&r, 200)["flavor"];
    assert_eq!(f["swap"], 0);
    assert_eq!(f["extra_specs"], json!({}));
    assert_eq!(f["description"], Value::Null);

    // Paging: a full page carries an absolute next link with the marker.
    let r = nova(
        &c,
        Method::GET,
        "/flavors/detail?limit=2",
        &alice,
        None,
        None,
    )
    .await;
    let b = ok(&r, 200);
    assert_eq!(b["flavors"].as_array().unwrap().len(), 2);
    let next = b["flavors_links"][0]["href"].as_str().unwrap().to_string();
    assert!(
        next.starts_with(&format!("{}/compute/v2.1/flavors/detail?", c.base)),
        "{next}"
    );
    assert!(
        next.contains("marker=") && next.contains("limit=2"),
        "{next}"
    );
    let r = nova(&c, Method::GET, "/flavors?marker=nope", &alice, None, None).await;
    assert_eq!(fault(&r, 400, "badRequest"), "marker [nope] not found");
    let r = nova(&c, Method::GET, "/flavors?limit=abc", &alice, None, None).await;
    assert_eq!(
        fault(&r, 400, "badRequest"),
        "Invalid input for query parameters limit. Value: abc. 'abc' does not match '^[0-9]*$'"
    );
    let r = nova(&c, Method::GET, "/flavors?sort_key=ram", &alice, None, None).await;
    assert!(
        fault(&r, 400, "badRequest").contains("'ram' is not one of"),
        "{}",
        r.text
    );
    let r = nova(&c, Method::GET, "/flavors?minRam=8192", &alice, None, None).await;
    assert_eq!(ids(&ok(&r, 200)["flavors"], "id"), vec!["4", "5"]);

    // Only admins manage flavors.
    let body = json!({"flavor": {"name": "private.one", "id": "priv1", "ram": 256, "vcpus": 1, "disk": 1, "os-flavor-access:is_public": false}});
    let r = nova(
        &c,
        Method::POST,
        "/flavors",
        &alice,
        None,
        Some(body.clone()),
    )
    .await;
    assert_eq!(
        fault(&r, 403, "forbidden"),
        "Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed."
    );
    let r = nova(
        &c,
        Method::POST,
        "/flavors",
        &admin,
        None,
        Some(body.clone()),
    )
    .await;
    assert_eq!(ok(&r, 200)["flavor"]["os-flavor-access:is_public"], false);
    let r = nova(&c, Method::POST, "/flavors", &admin, None, Some(body)).await;
    assert_eq!(
        fault(&r, 409, "conflictingRequest"),
        "Flavor with name private.one already exists."
    );
    let dup_id =
        json!({"flavor": {"name": "other", "id": "priv1", "ram": 256, "vcpus": 1, "disk": 1}});
    let r = nova(&c, Method::POST, "/flavors", &admin, None, Some(dup_id)).await;
    assert_eq!(
        fault(&r, 409, "conflictingRequest"),
        "Flavor with ID priv1 already exists."
    );
    let bad = json!({"flavor": {"name": "bad", "ram": 0, "vcpus": 1, "disk": 1}});
    let r = nova(&c, Method::POST, "/flavors", &admin, None, Some(bad)).await;
    assert_eq!(
        fault(&r, 400, "badRequest"),
        "Invalid input for field/attribute ram. Value: 0. 0 is less than the minimum of 1"
    );
    let missing = json!({"flavor": {"name": "bad", "ram": 1, "vcpus": 1}});
    let r = nova(&c, Method::POST, "/flavors", &admin, None, Some(missing)).await;
    assert_eq!(fault(&r, 400, "badRequest"), "Invalid input for field/attribute flavor. Value: {'name': 'bad', 'ram': 1, 'vcpus': 1}. 'disk' is a required property");
    let r = c
        .raw(
            Method::POST,
            &url(&c, "/flavors"),
            Some(&admin),
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(fault(&r, 400, "badRequest"), "Malformed request body");

    // A private flavor is invisible (404) until its project is given access.
    let r = nova(&c, Method::GET, "/flavors/priv1", &alice, None, None).await;
    assert_eq!(
        fault(&r, 404, "itemNotFound"),
        "Flavor priv1 could not be found."
    );
    let r = nova(
        &c,
        Method::GET,
        "/flavors?is_public=None",
        &admin,
        None,
        None,
    )
    .await;
    assert!(ids(&ok(&r, 200)["flavors"], "id").contains(&"priv1".to_string()));
    let r = nova(
        &c,
        Method::GET,
        "/flavors?is_public=None",
        &alice,
        None,
        None,
    )
    .await;
    assert!(!ids(&ok(&r, 200)["flavors"], "id").contains(&"priv1".to_string()));
    let add = json!({"addTenantAccess": {"tenant": p1}});
    let r = nova(
        &c,
        Method::POST,
        "/flavors/priv1/action",
        &alice,
        None,
        Some(add.clone()),
    )
    .await;
    fault(&r, 403, "forbidden");
    let r = nova(
        &c,
        Method::POST,
        "/flavors/priv1/action",
        &admin,
        None,
        Some(add.clone()),
    )
    .await;
    assert_eq!(
        ok(&r, 200)["flavor_access"],
        json!([{"flavor_id": "priv1", "tenant_id": p1}])
    );
    let r = nova(
        &c,
        Method::POST,
        "/flavors/priv1/action",
        &admin,
        None,
        Some(add),
    )
    .await;
    assert_eq!(
        fault(&r, 409, "conflictingRequest"),
        format!("Flavor access already exists for flavor priv1 and project {p1} combination.")
    );
    let r = nova(&c, Method::GET, "/flavors/priv1", &alice, None, None).await;
    assert_eq!(ok(&r, 200)["flavor"]["name"], "private.one");
    let r = nova(&c, Method::GET, "/flavors/priv1", &bob, None, None).await;
    fault(&r, 404, "itemNotFound");
    let r = nova(
        &c,
        Method::GET,
        "/flavors/1/os-flavor-access",
        &admin,
        None,
        None,
    )
    .await;
    assert_eq!(
        fault(&r, 404, "itemNotFound"),
        "Access list not available for public flavors."
    );

    // Extra specs.
    let specs = json!({"extra_specs": {"hw:cpu_policy": "shared", "n": 2}});
    let r = nova(
        &c,
        Method::POST,
        "/flavors/priv1/os-extra_specs",
        &alice,
        None,
        Some(specs.clone()),
    )
    .await;
    fault(&r, 403, "forbidden");
    let r = nova(
        &c,
        Method::POST,
        "/flavors/priv1/os-extra_specs",
        &admin,
        None,
        Some(specs.clone()),
    )
    .await;
    assert_eq!(ok(&r, 200), &specs);
    let r = nova(
        &c,
        Method::GET,
        "/flavors/priv1/os-extra_specs",
        &alice,
        None,
        None,
    )
    .await;
    assert_eq!(
        ok(&r, 200)["extra_specs"],
        json!({"hw:cpu_policy": "shared", "n": "2"})
    );
    let r = nova(
        &c,
        Method::GET,
        "/flavors/priv1/os-extra_specs/hw:cpu_policy",
        &alice,
        None,
        None,
    )
    .await;
    assert_eq!(ok(&r, 200), &json!({"hw:cpu_policy": "shared"}));
    let r = nova(
        &c,
        Method::PUT,
        "/flavors/priv1/os-extra_specs/n",
        &admin,
        None,
        Some(json!({"m": "1"})),
    )
    .await;
    assert_eq!(
        fault(&r, 400, "badRequest"),
        "Request body and URI mismatch"
    );
    let r = nova(
        &c,
        Method::DELETE,
        "/flavors/priv1/os-extra_specs/n",
        &admin,
        None,
        None,
    )
    .await;
    ok(&r, 200);
    let r = nova(
        &c,
        Method::DELETE,
        "/flavors/priv1/os-extra_specs/n",
        &admin,
        None,
        None,
    )
    .await;
    assert_eq!(
        fault(&r, 404, "itemNotFound"),
        "Flavor priv1 has no extra specs with key n."
    );
    let r = nova(
        &c,
        Method::GET,
        "/flavors/priv1",
        &alice,
        Some("2.61"),
        None,
    )
    .await;
    assert_eq!(
        ok(&r, 200)["flavor"]["extra_specs"],
        json!({"hw:cpu_policy": "shared"})
    );

    // The description (2.55), then delete.
    let d = json!({"flavor": {"description": "small and private"}});
    let r = nova(
        &c,
        Method::PUT,
        "/flavors/priv1",
        &admin,
        Some("2.54"),
        Some(d.clone()),
    )
    .await;
    fault(&r, 404, "itemNotFound");
    let r = nova(
        &c,
        Method::PUT,
        "/flavors/priv1",
        &admin,
        Some("2.55"),
        Some(d),
    )
    .await;
    assert_eq!(ok(&r, 200)["flavor"]["description"], "small and private");
    let r = nova(&c, Method::DELETE, "/flavors/priv1", &alice, None, None).await;
    fault(&r, 403, "forbidden");
    let r = nova(&c, Method::DELETE, "/flavors/priv1", &admin, None, None).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let r = nova(&c, Method::GET, "/flavors/priv1", &admin, None, None).await;
    assert_eq!(
        fault(&r, 404, "itemNotFound"),
        "Flavor priv1 could not be found."
    );
    c.stop().await.unwrap();
}
