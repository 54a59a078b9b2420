//! The metadata router (`crate::metadata`): a guest reads its metadata by its address on
//! the listener's network; strangers, bad paths and writes get nothing.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use common_error::{Error, Result};
use compute_domain::MetadataLookup;
use tower::ServiceExt as _;

use super::{Cloud, ALICE};

/// 10.0.0.5 on `net-1` is the instance; 10.0.0.66 makes the lookup fail.
struct Lookup(String);

#[async_trait::async_trait]
impl MetadataLookup for Lookup {
    async fn instance_for(&self, network_id: &str, ip: IpAddr) -> Result<Option<String>> {
        if ip.to_string() == "10.0.0.66" {
            return Err(Error::internal("look up", "network service down"));
        }
        Ok((network_id == "net-1" && ip.to_string() == "10.0.0.5").then(|| self.0.clone()))
    }
}

async fn get(app: &Router, from: &str, path: &str) -> (StatusCode, String, String) {
    let mut req = Request::builder().uri(path).body(Body::empty()).unwrap();
    let addr: SocketAddr = SocketAddr::new(from.parse().unwrap(), 41234);
    req.extensions_mut().insert(ConnectInfo(addr));
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, ct, String::from_utf8_lossy(&body).into_owned())
}

async fn app() -> (Cloud, Router, String) {
    let c = Cloud::with_host().await;
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f meta-test";
    let r = c
        .call(
            &ALICE,
            axum::http::Method::POST,
            "/os-keypairs",
            Some("2.79"),
            Some(serde_json::json!({"keypair": {"name": "k1", "public_key": key}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let body = serde_json::json!({"server": {"name": "vm one", "imageRef": super::IMAGE,
        "flavorRef": "1", "networks": "none", "key_name": "k1"}});
    let r = c
        .call(
            &ALICE,
            axum::http::Method::POST,
            "/servers",
            Some("2.79"),
            Some(body),
        )
        .await;
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    c.wait_status(&ALICE, &id, "ACTIVE").await;
    let app = crate::metadata::router(c.compute.clone(), Arc::new(Lookup(id.clone())), "net-1");
    (c, app, id)
}

#[tokio::test]
async fn the_guest_reads_its_metadata_by_its_address() {
    let (_c, app, id) = app().await;
    let (st, ct, body) = get(&app, "10.0.0.5", "/openstack/latest/meta_data.json").await;
    assert_eq!((st, ct.as_str()), (StatusCode::OK, "application/json"));
    let md: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(md["uuid"], id.as_str());
    assert_eq!(md["name"], "vm one");
    assert_eq!(md["hostname"], "vm-one");
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f meta-test";
    assert_eq!(md["public_keys"], serde_json::json!({ "k1": key }));
    assert_eq!(
        md["keys"],
        serde_json::json!([{"name": "k1", "type": "ssh", "data": key}])
    );
    assert_eq!(md["availability_zone"], "nova");
    assert_eq!(md["project_id"], ALICE.project);
    assert_eq!(md["launch_index"], 0);
    assert_eq!(md["devices"], serde_json::json!([]));
    // No user data: 404 (the guest's init takes it as none).
    let (st, _, _) = get(&app, "10.0.0.5", "/openstack/latest/user_data").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _, body) = get(&app, "10.0.0.5", "/openstack/2013-10-17/vendor_data.json").await;
    assert_eq!((st, body.as_str()), (StatusCode::OK, "{}"));
    let (_, _, body) = get(&app, "10.0.0.5", "/openstack/latest/network_data.json").await;
    let nd: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        nd,
        serde_json::json!({"links": [], "networks": [], "services": []})
    );
    let (st, ct, body) = get(&app, "10.0.0.5", "/latest/meta-data/hostname").await;
    assert_eq!(
        (st, ct.as_str(), body.as_str()),
        (StatusCode::OK, "text/plain; charset=UTF-8", "vm-one")
    );
    let (_, _, body) = get(&app, "10.0.0.5", "/latest/meta-data/public-keys/").await;
    assert_eq!(body, "0=k1");
    let (_, _, body) = get(
        &app,
        "10.0.0.5",
        "/latest/meta-data/public-keys/0/openssh-key",
    )
    .await;
    assert_eq!(body, key);
    let (_, _, body) = get(
        &app,
        "10.0.0.5",
        "/latest/meta-data/placement/availability-zone",
    )
    .await;
    assert_eq!(body, "nova");
    let (_, _, body) = get(&app, "::ffff:10.0.0.5", "/openstack").await;
    assert!(
        body.ends_with("\nlatest"),
        "IPv4-mapped callers are IPv4 callers: {body}"
    );
}

#[tokio::test]
async fn strangers_bad_paths_and_writes_get_no_metadata() {
    let (_c, app, _id) = app().await;
    let (st, _, _) = get(&app, "10.0.0.9", "/openstack/latest/meta_data.json").await;
    assert_eq!(st, StatusCode::NOT_FOUND, "no instance has this address");
    let (st, _, _) = get(&app, "10.0.0.5", "/openstack/latest/secrets").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _, body) = get(&app, "10.0.0.66", "/openstack").await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        !body.contains("network service down"),
        "no internal detail leaks"
    );
    let req = Request::builder()
        .method("POST")
        .uri("/openstack/latest/password")
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    // Served without the peer address: nothing.
    let req = Request::builder()
        .uri("/openstack")
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}
