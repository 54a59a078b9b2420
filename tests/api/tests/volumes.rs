//! Block storage API (Cinder v3) on a running cloud (SQLite, and PostgreSQL in the `pg`
//! stage) with the real `file` driver in the test's data directory: version discovery and
//! microversions, volume CRUD with the body the real CLI sends, and every bad request of
//! issue #6's acceptance 2 answered with Cinder's status and body and nothing half-created.

use std::time::{Duration, Instant};

use api_tests::{Resp, TestCloud};
use reqwest::Method;
use serde_json::{json, Value};

struct Vol {
    cloud: TestCloud,
}

impl Vol {
    async fn start() -> Vol {
        Vol {
            cloud: TestCloud::start_with(|_| {}).await.expect("start cloud"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/volume/v3{}", self.cloud.base, path)
    }

    async fn call(&self, m: Method, t: &str, path: &str, mv: &str, body: Option<Value>) -> Resp {
        let mut rb = self
            .cloud
            .client
            .request(m, self.url(path))
            .header("X-Auth-Token", t);
        if !mv.is_empty() {
            rb = rb.header("OpenStack-API-Version", format!("volume {mv}"));
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        api_tests::into_resp(rb.send().await.expect("request")).await
    }

    async fn get(&self, t: &str, path: &str) -> Resp {
        self.call(Method::GET, t, path, "3.70", None).await
    }

    async fn post(&self, t: &str, path: &str, body: Value) -> Resp {
        self.call(Method::POST, t, path, "3.70", Some(body)).await
    }

    /// Creates a volume as the CLI does (explicit nulls) and waits until it is available.
    async fn volume(&self, t: &str, pid: &str, name: &str, size: i64) -> String {
        let r = self
            .post(
                t,
                &format!("/{pid}/volumes"),
                json!({"volume": {"size": size, "name": name, "metadata": null,
                    "description": null, "availability_zone": null, "imageRef": null,
                    "snapshot_id": null, "source_volid": null, "consistencygroup_id": null,
                    "backup_id": null, "volume_type": null}}),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.body["volume"]["status"], "creating", "{}", r.text);
        let id = r.body["volume"]["id"].as_str().unwrap().to_string();
        self.wait(t, pid, &id, "available").await;
        id
    }

    async fn wait(&self, t: &str, pid: &str, id: &str, want: &str) -> Value {
        let start = Instant::now();
        loop {
            let r = self.get(t, &format!("/{pid}/volumes/{id}")).await;
            assert_eq!(r.status, 200, "{}", r.text);
            if r.body["volume"]["status"] == want {
                return r.body["volume"].clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "volume {id} never {want}: {}",
                r.text
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn count(&self, t: &str, pid: &str) -> usize {
        let r = self
            .get(t, &format!("/{pid}/volumes/detail?all_tenants=1"))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["volumes"].as_array().unwrap().len()
    }

    async fn admin(&self) -> (String, String) {
        let t = self.cloud.admin_token().await;
        let r = self
            .cloud
            .req(
                Method::GET,
                &self.cloud.v3("/auth/projects"),
                Some(&t),
                None,
            )
            .await;
        let pid = r.body["projects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "admin")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        (t, pid)
    }
}

/// Asserts a Cinder error: status and `{"<name>": {"code", "message"}}`.
fn assert_cinder(r: &Resp, status: u16, name: &str, message: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body[name]["code"], status, "{}", r.text);
    assert_eq!(r.body[name]["message"], message, "{}", r.text);
}

#[tokio::test]
async fn discovery_microversions_and_crud() {
    let v = Vol::start().await;
    let (t, pid) = v.admin().await;

    // Discovery needs no token.
    let r = v
        .cloud
        .req(
            Method::GET,
            &format!("{}/volume/", v.cloud.base),
            None,
            None,
        )
        .await;
    assert!(r.status == 200 || r.status == 300, "{}", r.text);
    let ver = &r.body["versions"][0];
    assert_eq!(ver["id"], "v3.0", "{}", r.text);
    assert_eq!(ver["min_version"], "3.0");
    assert!(ver["version"].as_str().unwrap() >= "3.60", "{}", r.text);
    let r = v
        .cloud
        .req(
            Method::GET,
            &format!("{}/volume/v3/", v.cloud.base),
            None,
            None,
        )
        .await;
    assert!(r.status == 200 || r.status == 300, "{}", r.text);

    // Negotiation: echoed, latest, out of range.
    let r = v
        .call(Method::GET, &t, &format!("/{pid}/volumes"), "3.27", None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("openstack-api-version"), "volume 3.27");
    let r = v
        .call(Method::GET, &t, &format!("/{pid}/volumes"), "3.99", None)
        .await;
    assert_eq!(r.status, 406, "{}", r.text);

    // Create, show, list, update, delete.
    let id = v.volume(&t, &pid, "v1", 1).await;
    let show = v.get(&t, &format!("/{pid}/volumes/{id}")).await;
    let vol = &show.body["volume"];
    assert_eq!(vol["size"], 1);
    assert_eq!(vol["name"], "v1");
    assert_eq!(vol["bootable"], "false");
    assert_eq!(vol["multiattach"], false);
    assert_eq!(vol["attachments"], json!([]));
    assert_eq!(vol["os-vol-tenant-attr:tenant_id"], pid.as_str());
    assert!(vol["volume_type"].is_string(), "{}", show.text);
    let list = v.get(&t, &format!("/{pid}/volumes?name=v1")).await;
    assert_eq!(
        list.body["volumes"].as_array().unwrap().len(),
        1,
        "{}",
        list.text
    );
    let r = v
        .call(
            Method::PUT,
            &t,
            &format!("/{pid}/volumes/{id}"),
            "3.70",
            Some(json!({"volume": {"name": "renamed"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["volume"]["name"], "renamed");
    let r = v
        .call(
            Method::DELETE,
            &t,
            &format!("/{pid}/volumes/{id}"),
            "3.70",
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let start = Instant::now();
    loop {
        let r = v.get(&t, &format!("/{pid}/volumes/{id}")).await;
        if r.status == 404 {
            assert_cinder(
                &r,
                404,
                "itemNotFound",
                &format!("Volume {id} could not be found."),
            );
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{}", r.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    v.cloud.stop().await.unwrap();
}

#[tokio::test]
async fn bad_requests_get_cinders_answers_and_leave_nothing_behind() {
    let v = Vol::start().await;
    let (t, pid) = v.admin().await;
    let id = v.volume(&t, &pid, "v1", 2).await;
    let before = v.count(&t, &pid).await;

    // Shrinking.
    let r = v
        .post(
            &t,
            &format!("/{pid}/volumes/{id}/action"),
            json!({"os-extend": {"new_size": 1}}),
        )
        .await;
    assert_cinder(
        &r,
        400,
        "badRequest",
        "New size for extend must be greater than current size. (current: 2, extended: 1).",
    );
    assert_eq!(v.wait(&t, &pid, &id, "available").await["size"], 2);

    // Over the gigabytes quota: 413, nothing created.
    let r = v
        .call(
            Method::PUT,
            &t,
            &format!("/{pid}/os-quota-sets/{pid}"),
            "3.70",
            Some(json!({"quota_set": {"gigabytes": 5}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["quota_set"]["gigabytes"], 5, "{}", r.text);
    let r = v
        .post(
            &t,
            &format!("/{pid}/volumes"),
            json!({"volume": {"size": 4}}),
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.text);
    let msg = r.body["overLimit"]["message"].as_str().unwrap_or_default();
    assert_eq!(r.body["overLimit"]["code"], 413, "{}", r.text);
    assert!(
        msg.contains("Requested 4G, quota is 5G and 2G has been consumed."),
        "{}",
        r.text
    );
    assert_eq!(v.count(&t, &pid).await, before);

    // Another project's volume is not found, exactly like a missing one.
    let (_, other_pid, other) = v.cloud.user_with_role(&t, "other", "member").await;
    let r = v.get(&other, &format!("/{other_pid}/volumes/{id}")).await;
    assert_cinder(
        &r,
        404,
        "itemNotFound",
        &format!("Volume {id} could not be found."),
    );
    let r = v
        .call(
            Method::DELETE,
            &other,
            &format!("/{other_pid}/volumes/{id}"),
            "3.70",
            None,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);

    // Attached (v3 attachments): no delete, no second attachment.
    let server = "11111111-2222-3333-4444-555555555555";
    let r = v
        .post(
            &t,
            &format!("/{pid}/attachments"),
            json!({"attachment": {"volume_uuid": id, "instance_uuid": server,
                "connector": {"host": "elsewhere", "initiator": null}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let att = r.body["attachment"]["id"].as_str().unwrap().to_string();
    let r = v
        .post(
            &t,
            &format!("/{pid}/attachments/{att}/action"),
            json!({"os-complete": null}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    v.wait(&t, &pid, &id, "in-use").await;
    let r = v
        .call(
            Method::DELETE,
            &t,
            &format!("/{pid}/volumes/{id}"),
            "3.70",
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.body["badRequest"]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Invalid volume: "),
        "{}",
        r.text
    );
    let r = v
        .post(
            &t,
            &format!("/{pid}/attachments"),
            json!({"attachment": {"volume_uuid": id,
                "instance_uuid": "66666666-2222-3333-4444-555555555555"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.body["badRequest"]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Invalid volume: "),
        "{}",
        r.text
    );
    let r = v
        .get(&t, &format!("/{pid}/attachments?volume_id={id}"))
        .await;
    assert_eq!(
        r.body["attachments"].as_array().unwrap().len(),
        1,
        "{}",
        r.text
    );
    let r = v
        .call(
            Method::DELETE,
            &t,
            &format!("/{pid}/attachments/{att}"),
            "3.70",
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    v.wait(&t, &pid, &id, "available").await;

    // A snapshot of a volume in error.
    let r = v
        .post(
            &t,
            &format!("/{pid}/volumes/{id}/action"),
            json!({"os-reset_status": {"status": "error"}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let r = v
        .post(
            &t,
            &format!("/{pid}/snapshots"),
            json!({"snapshot": {"volume_id": id, "name": "s"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.body["badRequest"]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Invalid volume"),
        "{}",
        r.text
    );
    let r = v.get(&t, &format!("/{pid}/snapshots")).await;
    assert_eq!(r.body["snapshots"], json!([]), "{}", r.text);
    assert_eq!(v.count(&t, &pid).await, before);
    v.cloud.stop().await.unwrap();
}
