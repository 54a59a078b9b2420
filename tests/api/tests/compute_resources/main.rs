//! The compute API's resources other than servers, over HTTP against the whole cloud (fake
//! virt driver): version documents, flavors (visibility, access, extra specs, paging),
//! keypairs, server groups, quotas and limits, compute services, hypervisors, availability
//! zones, usage and migrations. For each: the happy path, who may do it (member, admin,
//! another project: 404 for what may not be seen), and Nova's status and body for bad input.

mod flavors;
mod hosts;
mod keypairs;
mod quotas;
mod server_groups;

use api_tests::{Resp, TestCloud};
use reqwest::Method;
use serde_json::{json, Value};

pub(crate) fn url(c: &TestCloud, path: &str) -> String {
    format!("{}/compute/v2.1{path}", c.base)
}

/// A compute request at microversion `mv` (`None`: no header, i.e. 2.1).
pub(crate) async fn nova(
    c: &TestCloud,
    m: Method,
    path: &str,
    tok: &str,
    mv: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let mut rb = c
        .client
        .request(m, url(c, path))
        .header("X-Auth-Token", tok);
    if let Some(v) = mv {
        rb = rb.header("OpenStack-API-Version", format!("compute {v}"));
    }
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

/// Asserts a Nova fault and returns its message.
#[track_caller]
pub(crate) fn fault(r: &Resp, status: u16, name: &str) -> String {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    assert_eq!(r.body[name]["code"], status, "{}", r.text);
    r.body[name]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[track_caller]
pub(crate) fn ok(r: &Resp, status: u16) -> &Value {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    &r.body
}

pub(crate) fn ids(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn version_documents_answer_without_a_token() {
    let c = TestCloud::start().await.unwrap();
    for path in ["/compute/", "/compute"] {
        let r = c
            .req(Method::GET, &format!("{}{path}", c.base), None, None)
            .await;
        let b = ok(&r, 200);
        let v = &b["versions"];
        assert_eq!(v[0]["id"], "v2.0");
        assert_eq!(v[0]["version"], "");
        assert_eq!(v[1]["id"], "v2.1");
        assert_eq!(v[1]["status"], "CURRENT");
        assert_eq!(v[1]["version"], "2.79");
        assert_eq!(v[1]["min_version"], "2.1");
        assert_eq!(
            v[1]["links"][0]["href"],
            format!("{}/compute/v2.1/", c.base)
        );
    }
    for path in ["/compute/v2.1", "/compute/v2.1/"] {
        let r = c
            .req(Method::GET, &format!("{}{path}", c.base), None, None)
            .await;
        let b = ok(&r, 200);
        assert_eq!(b["version"]["id"], "v2.1", "{path}");
        assert_eq!(b["version"]["links"][0]["rel"], "self");
    }
    let r = c.req(Method::GET, &url(&c, "/flavors"), None, None).await;
    fault(&r, 401, "unauthorized");
    let admin = c.admin_token().await;
    let r = nova(&c, Method::GET, "/extensions", &admin, None, None).await;
    assert_eq!(ok(&r, 200)["extensions"], json!([]));
    let r = nova(&c, Method::GET, "/flavors", &admin, Some("2.99"), None).await;
    let m = fault(&r, 406, "HTTPNotAcceptable");
    assert!(m.contains("Minimum is 2.1 and maximum is 2.79"), "{m}");
    c.stop().await.unwrap();
}
