//! Helpers shared by the image API tests: raw requests with Glance's content types, byte
//! bodies, store inspection and hashes computed by the system's tools.

#![allow(dead_code)]

use std::path::Path;

use api_tests::{Resp, TestCloud};
use reqwest::Method;
use serde_json::{json, Value};

pub const PATCH: &str = "application/openstack-images-v2.1-json-patch";

/// `http://host/image/v2` + `path`.
pub fn v2(c: &TestCloud, path: &str) -> String {
    format!("{}/image/v2{}", c.base, path)
}

async fn into_resp(r: reqwest::Response) -> Resp {
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

/// Sends `body` with `content_type`.
pub async fn send(
    c: &TestCloud,
    m: Method,
    url: &str,
    tok: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Resp {
    let r = c
        .client
        .request(m, url)
        .header("X-Auth-Token", tok)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .expect("request failed");
    into_resp(r).await
}

/// `POST /v2/images`.
pub async fn create(c: &TestCloud, tok: &str, body: Value) -> Resp {
    c.req(Method::POST, &v2(c, "/images"), Some(tok), Some(body))
        .await
}

/// Creates a raw/bare image and returns its id.
pub async fn create_raw(c: &TestCloud, tok: &str, name: &str) -> String {
    let r = create(
        c,
        tok,
        json!({"name": name, "disk_format": "raw", "container_format": "bare"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// `PUT /v2/images/{id}/file`.
pub async fn upload(c: &TestCloud, tok: &str, id: &str, data: Vec<u8>) -> Resp {
    send(
        c,
        Method::PUT,
        &v2(c, &format!("/images/{id}/file")),
        tok,
        "application/octet-stream",
        data,
    )
    .await
}

/// `PATCH /v2/images/{id}` with a v2.1 JSON patch.
pub async fn patch(c: &TestCloud, tok: &str, id: &str, ops: Value) -> Resp {
    send(
        c,
        Method::PATCH,
        &v2(c, &format!("/images/{id}")),
        tok,
        PATCH,
        ops.to_string().into_bytes(),
    )
    .await
}

/// `GET` with a token.
pub async fn get(c: &TestCloud, tok: &str, path: &str) -> Resp {
    c.req(Method::GET, &v2(c, path), Some(tok), None).await
}

/// `GET /v2/images/{id}/file` (with an optional Range): status, headers, bytes.
pub async fn download(
    c: &TestCloud,
    tok: &str,
    id: &str,
    range: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut rb = c
        .client
        .get(v2(c, &format!("/images/{id}/file")))
        .header("X-Auth-Token", tok);
    if let Some(r) = range {
        rb = rb.header("Range", r);
    }
    let r = rb.send().await.expect("download failed");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.unwrap_or_default().to_vec();
    (status, headers, bytes)
}

/// Deterministic pseudo-random bytes.
pub fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Files under the cloud's image store directory.
pub fn store_files(c: &TestCloud) -> usize {
    fn count(p: &Path) -> usize {
        let Ok(rd) = std::fs::read_dir(p) else {
            return 0;
        };
        rd.filter_map(Result::ok)
            .map(|e| {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    count(&e.path())
                } else {
                    1
                }
            })
            .sum()
    }
    count(&c.dir.path().join("images"))
}

/// A hex digest by the system's `md5sum` / `sha512sum`.
pub fn digest(tool: &str, data: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("d");
    std::fs::write(&f, data).unwrap();
    let out = std::process::Command::new(tool)
        .arg(&f)
        .output()
        .expect("digest tool");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A user with `role` on an existing project; returns (user_id, token).
pub async fn user_on_project(
    c: &TestCloud,
    admin: &str,
    name: &str,
    project_id: &str,
    role: &str,
) -> (String, String) {
    let u = c
        .req(
            Method::POST,
            &c.v3("/users"),
            Some(admin),
            Some(json!({"user": {"name": name, "password": "pw-123456", "domain_id": "default"}})),
        )
        .await;
    assert_eq!(u.status, 201, "{}", u.text);
    let uid = u.body["user"]["id"].as_str().unwrap().to_string();
    let roles = c
        .req(
            Method::GET,
            &c.v3(&format!("/roles?name={role}")),
            Some(admin),
            None,
        )
        .await;
    let rid = roles.body["roles"][0]["id"].as_str().unwrap().to_string();
    let g = c
        .req(
            Method::PUT,
            &c.v3(&format!("/projects/{project_id}/users/{uid}/roles/{rid}")),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(g.status, 204, "{}", g.text);
    let auth = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": uid, "password": "pw-123456"}}},
        "scope": {"project": {"id": project_id}}}});
    let t = c
        .req(Method::POST, &c.v3("/auth/tokens"), None, Some(auth))
        .await;
    assert_eq!(t.status, 201, "{}", t.text);
    (uid, t.header("x-subject-token"))
}

/// The text of a Glance HTML error page, tags stripped (as the SDK shows it).
pub fn html_text(r: &Resp) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for ch in r.text.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Waits until `f` holds, up to ten seconds.
pub async fn eventually<F, Fut>(mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if f().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// The names `GET /v2/images<query>` lists, in order.
pub async fn names(c: &TestCloud, t: &str, query: &str) -> Vec<String> {
    let r = get(c, t, &format!("/images{query}")).await;
    assert_eq!(r.status, 200, "{query}: {}", r.text);
    r.body["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap_or("").to_string())
        .collect()
}
