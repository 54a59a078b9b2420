//! `POST /servers/{id}/action` through the router: Nova's dispatch errors, per-action
//! validation and policy, and the answers of the actions that answer with a body.

use axum::http::Method;
use serde_json::json;

use super::{Cloud, ADMIN, ALICE, BASE, HOST, READER};

const NOBODY: &str = "5a7c3f5e-1a8b-4c4e-9a55-7b8f0a1c2d3e";

#[tokio::test]
async fn dispatch_errors_come_first() {
    let c = Cloud::start().await;
    let path = format!("/servers/{NOBODY}/action");
    let r = c
        .call(
            &ALICE,
            Method::POST,
            &path,
            Some("2.79"),
            Some(json!({"fly": {}})),
        )
        .await;
    assert_eq!(r.error(400, "badRequest"), "There is no such action: fly");
    let r = c
        .call(
            &ALICE,
            Method::POST,
            &path,
            Some("2.79"),
            Some(json!({"os-stop": null, "os-start": null})),
        )
        .await;
    assert_eq!(r.error(400, "badRequest"), "Malformed request body");
    let r = c
        .raw(&ALICE, Method::POST, &path, Some("2.79"), b"{".to_vec())
        .await;
    assert_eq!(r.error(400, "badRequest"), "Malformed request body");
    let r = c
        .raw(&ALICE, Method::POST, &path, Some("2.79"), Vec::new())
        .await;
    assert_eq!(r.error(400, "badRequest"), "Malformed request body");
    let r = c
        .call(
            &ALICE,
            Method::POST,
            &path,
            Some("2.16"),
            Some(json!({"trigger_crash_dump": null})),
        )
        .await;
    assert_eq!(
        r.error(400, "badRequest"),
        "There is no such action: trigger_crash_dump"
    );
    // The body is validated before the server is looked up.
    let r = c
        .call(
            &ALICE,
            Method::POST,
            &path,
            Some("2.79"),
            Some(json!({"reboot": {"type": "warm"}})),
        )
        .await;
    assert_eq!(
        r.error(400, "badRequest"),
        "Invalid input for field/attribute type. Value: warm. 'warm' is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']"
    );
    // A well-formed action on a server that does not exist.
    let r = c
        .call(
            &ALICE,
            Method::POST,
            &path,
            Some("2.79"),
            Some(json!({"os-stop": null})),
        )
        .await;
    r.error(404, "itemNotFound");
}

#[tokio::test]
async fn actions_check_their_policy_on_the_server() {
    let c = Cloud::start().await;
    let id = c.server(&ALICE, "vm").await;
    let path = format!("/servers/{id}/action");
    for (body, rule) in [
        (json!({"os-stop": null}), "os_compute_api:servers:stop"),
        (json!({"os-start": null}), "os_compute_api:servers:start"),
        (
            json!({"reboot": {"type": "SOFT"}}),
            "os_compute_api:servers:reboot",
        ),
        (
            json!({"pause": null}),
            "os_compute_api:os-pause-server:pause",
        ),
        (
            json!({"suspend": null}),
            "os_compute_api:os-suspend-server:suspend",
        ),
        (json!({"lock": null}), "os_compute_api:os-lock-server:lock"),
        (
            json!({"createImage": {"name": "snap"}}),
            "os_compute_api:servers:create_image",
        ),
        (
            json!({"os-getConsoleOutput": {}}),
            "os_compute_api:os-console-output",
        ),
        (
            json!({"shelveOffload": null}),
            "os_compute_api:os-shelve:shelve_offload",
        ),
        (
            json!({"forceDelete": null}),
            "os_compute_api:os-deferred-delete:force",
        ),
    ] {
        let r = c
            .call(&READER, Method::POST, &path, Some("2.79"), Some(body))
            .await;
        assert_eq!(
            r.error(403, "forbidden"),
            format!("Policy doesn't allow {rule} to be performed."),
        );
    }
}

#[tokio::test]
async fn restore_and_crash_dump_are_refused_as_nova_would_here() {
    let c = Cloud::start().await;
    let id = c.server(&ALICE, "vm").await;
    let path = format!("/servers/{id}/action");
    let r = c
        .call(
            &ALICE,
            Method::POST,
            &path,
            Some("2.79"),
            Some(json!({"restore": null})),
        )
        .await;
    let msg = r.error(409, "conflictingRequest");
    assert!(
        msg.starts_with(&format!(
            "Cannot 'restore' instance {id} while it is in vm_state "
        )),
        "{msg}"
    );
    let r = c
        .call(
            &ALICE,
            Method::POST,
            &path,
            Some("2.79"),
            Some(json!({"trigger_crash_dump": {}})),
        )
        .await;
    assert_eq!(
        r.error(400, "badRequest"),
        "Invalid input for field/attribute trigger_crash_dump. Value: {}. {} is not of type 'null'"
    );
    let r = c
        .call(
            &ALICE,
            Method::POST,
            &path,
            Some("2.79"),
            Some(json!({"trigger_crash_dump": null})),
        )
        .await;
    assert_eq!(
        r.error(400, "badRequest"),
        "Triggering crash dump is not supported"
    );
}

#[tokio::test]
async fn an_active_server_shows_its_host_to_admins_only() {
    let c = Cloud::with_host().await;
    let id = c.active_server(&ALICE, "vm").await;
    let admin = c
        .call(
            &ADMIN,
            Method::GET,
            &format!("/servers/{id}"),
            Some("2.79"),
            None,
        )
        .await;
    let s = &admin.body["server"];
    assert_eq!(s["OS-EXT-SRV-ATTR:host"], HOST, "{s:#}");
    assert_eq!(s["OS-EXT-SRV-ATTR:hypervisor_hostname"], HOST);
    assert_eq!(s["host_status"], "UP");
    assert_eq!(s["OS-EXT-STS:power_state"], 1);
    assert_eq!(s["OS-EXT-STS:vm_state"], "active");
    assert_eq!(s["OS-EXT-STS:task_state"], serde_json::Value::Null);
    assert!(s["OS-SRV-USG:launched_at"].is_string());
    assert_eq!(s["hostId"].as_str().map(str::len), Some(56));
    let member = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}"),
            Some("2.79"),
            None,
        )
        .await;
    let m = &member.body["server"];
    assert_eq!(
        m["hostId"], s["hostId"],
        "the same obfuscated host for its project"
    );
    for hidden in [
        "OS-EXT-SRV-ATTR:host",
        "host_status",
        "OS-EXT-SRV-ATTR:user_data",
    ] {
        assert!(m.get(hidden).is_none(), "{hidden} is for admins");
    }
}

#[tokio::test]
async fn power_actions_answer_202_and_move_the_server() {
    let c = Cloud::with_host().await;
    let id = c.active_server(&ALICE, "vm").await;
    let path = format!("/servers/{id}/action");
    // What `openstack server stop` sends: a JSON null.
    let r = c
        .call(
            &ALICE,
            Method::POST,
            &path,
            None,
            Some(json!({"os-stop": null})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body, serde_json::Value::Null, "an empty body");
    c.wait_status(&ALICE, &id, "SHUTOFF").await;
    let r = c
        .call(
            &ALICE,
            Method::POST,
            &path,
            None,
            Some(json!({"os-stop": null})),
        )
        .await;
    let msg = r.error(409, "conflictingRequest");
    assert!(
        msg.starts_with(&format!(
            "Cannot 'stop' instance {id} while it is in vm_state stopped"
        )),
        "{msg}"
    );
    let r = c
        .call(
            &ALICE,
            Method::POST,
            &path,
            None,
            Some(json!({"os-start": null})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    c.wait_status(&ALICE, &id, "ACTIVE").await;
    let r = c
        .call(
            &ALICE,
            Method::POST,
            &path,
            None,
            Some(json!({"reboot": {"type": "hard"}})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    c.wait_status(&ALICE, &id, "ACTIVE").await;
}

#[tokio::test]
async fn console_output_lock_and_snapshots() {
    let c = Cloud::with_host().await;
    let id = c.active_server(&ALICE, "vm").await;
    let path = format!("/servers/{id}/action");
    let r = c
        .call(
            &ALICE,
            Method::POST,
            &path,
            None,
            Some(json!({"os-getConsoleOutput": {"length": 10}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"output": "login: ok"}),
        "control characters are stripped"
    );

    let r = c
        .call(
            &ALICE,
            Method::POST,
            &path,
            Some("2.79"),
            Some(json!({"createImage": {"name": "snap"}})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(r.body["image_id"].is_string(), "{}", r.body);
    c.wait_status(&ALICE, &id, "ACTIVE").await;
    let r = c
        .call(
            &ALICE,
            Method::POST,
            &path,
            Some("2.44"),
            Some(json!({"createImage": {"name": "snap2"}})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let loc = r.headers["location"].to_str().unwrap();
    assert!(
        loc.starts_with(&format!("{BASE}/image/v2/images/")),
        "{loc}"
    );
    c.wait_status(&ALICE, &id, "ACTIVE").await;

    let r = c
        .call(
            &ALICE,
            Method::POST,
            &path,
            Some("2.73"),
            Some(json!({"lock": {"locked_reason": "maintenance"}})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let s = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(s.body["server"]["locked"], true);
    assert_eq!(s.body["server"]["locked_reason"], "maintenance");
    let r = c
        .call(
            &ALICE,
            Method::DELETE,
            &format!("/servers/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(
        r.error(409, "conflictingRequest"),
        format!("Instance {id} is locked")
    );
    let r = c
        .call(
            &ALICE,
            Method::POST,
            &path,
            None,
            Some(json!({"unlock": null})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let s = c
        .call(
            &ALICE,
            Method::GET,
            &format!("/servers/{id}"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(s.body["server"]["locked"], false);
}

#[tokio::test]
async fn rebuild_answers_the_server_with_its_password() {
    let c = Cloud::with_host().await;
    let id = c.active_server(&ALICE, "vm").await;
    let body = json!({"rebuild": {"imageRef": super::IMAGE, "name": "rebuilt", "adminPass": "pw",
                                  "user_data": "IyEvYmluL3NoCg==", "metadata": {"r": "1"}}});
    let r = c
        .call(
            &ALICE,
            Method::POST,
            &format!("/servers/{id}/action"),
            Some("2.79"),
            Some(body),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let s = &r.body["server"];
    assert_eq!(s["adminPass"], "pw", "{s:#}");
    assert_eq!(s["name"], "rebuilt");
    assert_eq!(s["user_data"], "IyEvYmluL3NoCg==");
    assert_eq!(s["metadata"], json!({"r": "1"}));
    assert!(s.get("OS-EXT-SRV-ATTR:user_data").is_none());
    assert_eq!(
        r.headers["location"],
        format!("{BASE}/compute/v2.1/servers/{id}").as_str()
    );
    let s = c.wait_status(&ALICE, &id, "ACTIVE").await;
    assert_eq!(s["name"], "rebuilt");
}
