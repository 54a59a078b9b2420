//! `rescue` and `unrescue` through the router: Nova's schema, policies, 200 with the rescue
//! password, 202, and the 409s of the state machine.

use axum::http::Method;
use serde_json::{json, Value};

use super::{Cloud, Who, ALICE, BOB, IMAGE, READER};

const NO_IMAGE: &str = "5a7c3f5e-1a8b-4c4e-9a55-7b8f0a1c2d3e";

async fn act(c: &Cloud, who: &Who, id: &str, body: Value) -> super::Resp {
    c.call(
        who,
        Method::POST,
        &format!("/servers/{id}/action"),
        Some("2.79"),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn rescue_answers_200_with_the_password_and_unrescue_202() {
    let c = Cloud::with_host().await;
    let id = c.active_server(&ALICE, "vm").await;

    let r = act(&c, &ALICE, &id, json!({"unrescue": null})).await;
    assert_eq!(
        r.error(409, "conflictingRequest"),
        format!("Cannot 'unrescue' instance {id} while it is in vm_state active")
    );

    let r = act(&c, &ALICE, &id, json!({"rescue": {"adminPass": "pw"}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"adminPass": "pw"}));
    let s = c.wait_status(&ALICE, &id, "RESCUE").await;
    assert_eq!(s["OS-EXT-STS:vm_state"], "rescued", "{s:#}");

    let r = act(&c, &ALICE, &id, json!({"rescue": null})).await;
    assert_eq!(
        r.error(409, "conflictingRequest"),
        format!("Cannot 'rescue' instance {id} while it is in vm_state rescued")
    );
    let r = act(&c, &ALICE, &id, json!({"os-stop": null})).await;
    assert_eq!(
        r.error(409, "conflictingRequest"),
        format!("Cannot 'stop' instance {id} while it is in vm_state rescued")
    );

    let r = act(&c, &ALICE, &id, json!({"unrescue": null})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body, Value::Null, "an empty body");
    c.wait_status(&ALICE, &id, "ACTIVE").await;

    // What `openstack server rescue` sends: an empty object; the password is generated.
    let r = act(&c, &ALICE, &id, json!({"rescue": {}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let pass = r.body["adminPass"].as_str().unwrap().to_string();
    assert_eq!(pass.len(), 12, "{pass}");
    c.wait_status(&ALICE, &id, "RESCUE").await;
    let r = act(&c, &ALICE, &id, json!({"unrescue": null})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    c.wait_status(&ALICE, &id, "ACTIVE").await;

    // From SHUTOFF, with an explicit rescue image.
    act(&c, &ALICE, &id, json!({"os-stop": null})).await;
    c.wait_status(&ALICE, &id, "SHUTOFF").await;
    let r = act(
        &c,
        &ALICE,
        &id,
        json!({"rescue": {"rescue_image_ref": IMAGE}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    c.wait_status(&ALICE, &id, "RESCUE").await;

    let r = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}/os-instance-actions"),
            Some("2.79"),
            None,
        )
        .await;
    let actions: Vec<&str> = r.body["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "rescue").count(),
        3,
        "{actions:?}"
    );
}

#[tokio::test]
async fn rescue_validates_its_body_and_checks_policy_on_the_server() {
    let c = Cloud::start().await;
    let id = c.server(&ALICE, "vm").await;
    let invalid = |field: &str, value: &str, msg: &str| {
        format!("Invalid input for field/attribute {field}. Value: {value}. {msg}")
    };
    for (body, msg) in [
        (
            json!({"rescue": {"bogus": 1}}),
            invalid(
                "rescue",
                "{'bogus': 1}",
                "Additional properties are not allowed ('bogus' was unexpected)",
            ),
        ),
        (
            json!({"rescue": {"adminPass": 5}}),
            invalid("adminPass", "5", "5 is not of type 'string'"),
        ),
        (
            json!({"rescue": {"rescue_image_ref": "cirros"}}),
            invalid("rescue_image_ref", "cirros", "'cirros' is not a 'uuid'"),
        ),
        (
            json!({"rescue": "now"}),
            invalid("rescue", "now", "'now' is not of type 'object', 'null'"),
        ),
    ] {
        let r = act(&c, &ALICE, &id, body.clone()).await;
        assert_eq!(r.error(400, "badRequest"), msg, "{body}");
    }

    for (body, rule) in [
        (json!({"rescue": null}), "os_compute_api:os-rescue"),
        (json!({"unrescue": null}), "os_compute_api:os-unrescue"),
    ] {
        let r = act(&c, &READER, &id, body.clone()).await;
        assert_eq!(
            r.error(403, "forbidden"),
            format!("Policy doesn't allow {rule} to be performed.")
        );
        let r = act(&c, &BOB, &id, body).await;
        assert_eq!(r.status, 404, "{}", r.body);
    }

    // No host yet: the server cannot be rescued; an unknown image is Nova's 400.
    let r = act(&c, &ALICE, &id, json!({"rescue": null})).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let c = Cloud::with_host().await;
    let id = c.active_server(&ALICE, "vm").await;
    let r = act(
        &c,
        &ALICE,
        &id,
        json!({"rescue": {"rescue_image_ref": NO_IMAGE}}),
    )
    .await;
    assert_eq!(
        r.error(400, "badRequest"),
        format!("Requested rescue image '{NO_IMAGE}' is not supported")
    );
    c.wait_status(&ALICE, &id, "ACTIVE").await;
}
