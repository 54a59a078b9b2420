//! Image data over raw HTTP: upload and download with checksums, qcow2 virtual size, ranges,
//! shared storage of identical data, quotas, a client vanishing mid-upload, staging and the
//! `glance-direct` import.

mod image_common;

use api_tests::TestCloud;
use image_common::*;
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `PUT /file` with `Transfer-Encoding: chunked` (no announced size) over a raw socket;
/// returns the response status, if one came.
async fn chunked_upload(c: &TestCloud, t: &str, id: &str, chunks: Vec<Vec<u8>>) -> Option<u16> {
    let addr = c.base.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.ok()?;
    let head = format!(
        "PUT /image/v2/images/{id}/file HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Token: {t}\r\n\
         Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.ok()?;
    for ch in chunks {
        let mut frame = format!("{:x}\r\n", ch.len()).into_bytes();
        frame.extend_from_slice(&ch);
        frame.extend_from_slice(b"\r\n");
        if s.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_download_checksums_and_ranges() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let id = create_raw(&c, &t, "data").await;
    // Before any data: Glance answers 204 No Content.
    let (st, _, body) = download(&c, &t, &id, None).await;
    assert_eq!((st, body.len()), (204, 0));
    let data = bytes(3 * 1024 * 1024 + 17, 1);
    let r = upload(&c, &t, &id, data.clone()).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let img = get(&c, &t, &format!("/images/{id}")).await.body;
    assert_eq!(img["status"], "active");
    assert_eq!(img["size"], data.len());
    assert_eq!(img["virtual_size"], data.len());
    assert_eq!(img["checksum"], digest("md5sum", &data));
    assert_eq!(img["os_hash_algo"], "sha512");
    assert_eq!(img["os_hash_value"], digest("sha512sum", &data));
    let (st, h, body) = download(&c, &t, &id, None).await;
    assert_eq!(st, 200);
    assert_eq!(digest("sha512sum", &body), digest("sha512sum", &data));
    assert!(body == data);
    assert_eq!(h["content-md5"], digest("md5sum", &data).as_str());
    assert_eq!(h["content-length"], data.len().to_string().as_str());
    assert_eq!(h["content-type"], "application/octet-stream");
    let n = data.len();
    let (st, h, body) = download(&c, &t, &id, Some("bytes=10-19")).await;
    assert_eq!(st, 206);
    assert_eq!(h["content-range"], format!("bytes 10-19/{n}").as_str());
    assert_eq!(body, data[10..20]);
    let (st, h, body) = download(&c, &t, &id, Some("bytes=-5")).await;
    assert_eq!((st, body.as_slice()), (206, &data[n - 5..]));
    assert_eq!(
        h["content-range"],
        format!("bytes {}-{}/{n}", n - 5, n - 1).as_str()
    );
    let (st, _, body) = download(&c, &t, &id, Some(&format!("bytes={}-", n - 3))).await;
    assert_eq!((st, body.as_slice()), (206, &data[n - 3..]));
    let (st, h, _) = download(&c, &t, &id, Some(&format!("bytes={n}-"))).await;
    assert_eq!(st, 416);
    assert_eq!(h["content-range"], format!("bytes */{n}").as_str());
    // Data may be given once only.
    let r = upload(&c, &t, &id, vec![1, 2, 3]).await;
    assert_eq!(r.status, 409);
    assert!(
        html_text(&r).contains("Image status transition from active to saving is not allowed"),
        "{}",
        r.text
    );
    assert_eq!(
        get(&c, &t, &format!("/images/{id}")).await.body["checksum"],
        digest("md5sum", &data)
    );
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qcow2_virtual_size_and_format_checks() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.qcow2");
    let out = std::process::Command::new("qemu-img")
        .args(["create", "-f", "qcow2"])
        .arg(&path)
        .arg("64M")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let qcow = std::fs::read(&path).unwrap();
    let id = create(
        &c,
        &t,
        json!({"name": "q", "disk_format": "qcow2", "container_format": "bare"}),
    )
    .await
    .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(upload(&c, &t, &id, qcow.clone()).await.status, 204);
    let img = get(&c, &t, &format!("/images/{id}")).await.body;
    assert_eq!(img["virtual_size"], 64 * 1024 * 1024);
    assert_eq!(img["size"], qcow.len());
    let (_, _, body) = download(&c, &t, &id, None).await;
    assert!(body == qcow);
    // Raw bytes claimed to be qcow2: refused, nothing kept, the image can try again.
    let bad = create(
        &c,
        &t,
        json!({"name": "bad", "disk_format": "qcow2", "container_format": "bare"}),
    )
    .await
    .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let files = store_files(&c);
    let r = upload(&c, &t, &bad, bytes(4096, 2)).await;
    assert_eq!(r.status, 415, "{}", r.text);
    assert!(html_text(&r).contains("Image disk_format qcow2 does not match stream data raw"));
    let img = get(&c, &t, &format!("/images/{bad}")).await.body;
    assert_eq!(
        (img["status"].clone(), img["size"].clone()),
        (json!("queued"), json!(null))
    );
    assert_eq!(store_files(&c), files);
    // A qcow2 pointing at a backing file fails the safety checks.
    let backed = dir.path().join("b.qcow2");
    let out = std::process::Command::new("qemu-img")
        .args(["create", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(&path)
        .arg(&backed)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let r = upload(&c, &t, &bad, std::fs::read(&backed).unwrap()).await;
    assert_eq!(r.status, 415);
    assert!(html_text(&r).contains("Image failed safety checks"));
    // The same qcow2 declared raw is kept, sized as raw.
    let raw = create_raw(&c, &t, "raw-q").await;
    assert_eq!(upload(&c, &t, &raw, qcow.clone()).await.status, 204);
    assert_eq!(
        get(&c, &t, &format!("/images/{raw}")).await.body["virtual_size"],
        qcow.len()
    );
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let id = create_raw(&c, &t, "x").await;
    let r = send(
        &c,
        Method::PUT,
        &v2(&c, &format!("/images/{id}/file")),
        &t,
        "application/json",
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(r.status, 415);
    assert!(html_text(&r).contains("Invalid content type application/json"));
    let no_format = create(&c, &t, json!({"name": "nf"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = upload(&c, &t, &no_format, vec![1, 2, 3]).await;
    assert_eq!(r.status, 400);
    assert!(html_text(&r)
        .contains("Properties disk_format, container_format must be set prior to saving data."));
    assert_eq!(
        get(&c, &t, &format!("/images/{no_format}")).await.body["status"],
        "queued"
    );
    let r = upload(&c, &t, "00000000-0000-0000-0000-000000000000", vec![1]).await;
    assert_eq!(r.status, 404);
    let r = c
        .client
        .put(v2(&c, &format!("/images/{id}/file")))
        .header("X-Auth-Token", &t)
        .header("Content-Type", "application/octet-stream")
        .header("x-openstack-image-size", "lots")
        .body(vec![1u8])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(store_files(&c), 0);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_data_is_stored_once() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let data = bytes(200_000, 3);
    let a = create_raw(&c, &t, "a").await;
    let b = create_raw(&c, &t, "b").await;
    assert_eq!(upload(&c, &t, &a, data.clone()).await.status, 204);
    assert_eq!(upload(&c, &t, &b, data.clone()).await.status, 204);
    assert_eq!(store_files(&c), 1);
    assert_eq!(
        c.req(
            Method::DELETE,
            &v2(&c, &format!("/images/{a}")),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(store_files(&c), 1);
    let (st, _, body) = download(&c, &t, &b, None).await;
    assert_eq!(st, 200);
    assert!(body == data);
    assert_eq!(
        c.req(
            Method::DELETE,
            &v2(&c, &format!("/images/{b}")),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(store_files(&c), 0);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_refuse_with_413_and_keep_nothing() {
    let c = TestCloud::start_with(|cfg| {
        cfg.image.image_size_total = 100_000;
        cfg.image.image_count_total = 3;
    })
    .await
    .unwrap();
    let t = c.admin_token().await;
    let a = create_raw(&c, &t, "a").await;
    assert_eq!(upload(&c, &t, &a, bytes(60_000, 4)).await.status, 204);
    let b = create_raw(&c, &t, "b").await;
    // Announced too big: refused before reading.
    let r = upload(&c, &t, &b, bytes(60_000, 5)).await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert!(
        html_text(&r).contains("image_size_total"),
        "{}",
        html_text(&r)
    );
    // Not announced (chunked): refused while streaming.
    let status = chunked_upload(&c, &t, &b, (0..60).map(|i| bytes(1000, 100 + i)).collect()).await;
    assert_eq!(status, Some(413));
    let img = get(&c, &t, &format!("/images/{b}")).await.body;
    assert_eq!(
        (img["status"].clone(), img["size"].clone()),
        (json!("queued"), json!(null))
    );
    assert_eq!(store_files(&c), 1);
    // Within quota it works.
    assert_eq!(upload(&c, &t, &b, bytes(30_000, 6)).await.status, 204);
    assert_eq!(store_files(&c), 2);
    let usage = get(&c, &t, "/info/usage").await;
    assert_eq!(usage.status, 200);
    assert_eq!(
        usage.body["usage"]["image_count_total"],
        json!({"limit": 3, "usage": 2})
    );
    // Image count.
    create_raw(&c, &t, "c").await;
    let r = create(&c, &t, json!({"name": "d"})).await;
    assert_eq!(r.status, 413);
    assert!(
        html_text(&r).contains("image_count_total is over limit of 3"),
        "{}",
        html_text(&r)
    );
    assert_eq!(
        get(&c, &t, "/images").await.body["images"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_gone_mid_upload_leaves_queued_image_and_no_file() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let id = create_raw(&c, &t, "gone").await;
    let addr = c.base.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PUT /image/v2/images/{id}/file HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Token: {t}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        10 * 1024 * 1024
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&bytes(1024 * 1024, 7)).await.unwrap();
    s.flush().await.unwrap();
    // Wait until the upload is under way, then vanish.
    assert!(
        eventually(|| async {
            get(&c, &t, &format!("/images/{id}")).await.body["status"] == "saving"
        })
        .await
    );
    drop(s);
    assert!(
        eventually(|| async {
            get(&c, &t, &format!("/images/{id}")).await.body["status"] == "queued"
        })
        .await
    );
    assert!(
        eventually(|| async { store_files(&c) == 0 }).await,
        "leftover files: {}",
        store_files(&c)
    );
    let img = get(&c, &t, &format!("/images/{id}")).await.body;
    assert!(img["size"].is_null() && img["checksum"].is_null());
    // And the image takes a complete upload afterwards.
    assert_eq!(upload(&c, &t, &id, bytes(1000, 8)).await.status, 204);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_and_glance_direct_import() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let info = get(&c, &t, "/info/import").await;
    assert_eq!(info.status, 200);
    assert_eq!(
        info.body["import-methods"]["value"],
        json!(["glance-direct"])
    );
    assert_eq!(get(&c, &t, "/info/stores").await.status, 404);
    let id = create_raw(&c, &t, "imp").await;
    let import = |body: serde_json::Value| {
        let url = v2(&c, &format!("/images/{id}/import"));
        let t = t.clone();
        let c = &c;
        async move { c.req(Method::POST, &url, Some(&t), Some(body)).await }
    };
    let r = import(json!({"method": {"name": "glance-direct"}})).await;
    assert_eq!(r.status, 409);
    assert!(html_text(&r)
        .contains("Image needs to be staged before 'glance-direct' method can be used"));
    let data = bytes(50_000, 9);
    let r = send(
        &c,
        Method::PUT,
        &v2(&c, &format!("/images/{id}/stage")),
        &t,
        "application/octet-stream",
        data.clone(),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let img = get(&c, &t, &format!("/images/{id}")).await.body;
    assert_eq!(img["status"], "uploading");
    let r = send(
        &c,
        Method::PUT,
        &v2(&c, &format!("/images/{id}/stage")),
        &t,
        "application/octet-stream",
        data.clone(),
    )
    .await;
    assert_eq!(r.status, 409);
    for (body, msg) in [
        (json!({}), "Import request requires a 'method' field."),
        (
            json!({"method": {}}),
            "Import request requires a 'name' field.",
        ),
        (
            json!({"method": {"name": "web-download"}}),
            "Unknown import method name 'web-download'.",
        ),
        (
            json!({"method": {"name": "glance-direct"}, "all_stores": "yes"}),
            "'all_stores' must be boolean value only",
        ),
    ] {
        let r = import(body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert!(html_text(&r).contains(msg), "{body}: {}", html_text(&r));
    }
    let r = import(json!({"method": {"name": "glance-direct"}})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let img = get(&c, &t, &format!("/images/{id}")).await.body;
    assert_eq!(img["status"], "active");
    assert_eq!(img["os_hash_value"], digest("sha512sum", &data));
    let (_, _, body) = download(&c, &t, &id, None).await;
    assert!(body == data);
    let r = import(json!({"method": {"name": "glance-direct"}})).await;
    assert_eq!(r.status, 409);
    assert!(html_text(&r).contains("Image with status active cannot be target for import"));
    // Deleting a staged image drops the staged data too.
    let other = create_raw(&c, &t, "staged-then-deleted").await;
    let r = send(
        &c,
        Method::PUT,
        &v2(&c, &format!("/images/{other}/stage")),
        &t,
        "application/octet-stream",
        bytes(10_000, 10),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(store_files(&c), 2);
    assert_eq!(
        c.req(
            Method::DELETE,
            &v2(&c, &format!("/images/{other}")),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(store_files(&c), 1);
    c.stop().await.unwrap();
}
