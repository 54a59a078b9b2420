//! Image data: upload and download (`/file`), staging and import, and `/v2/info/*`.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use common_error::Error;
use common_http::{Authed, HttpError, HttpResult};
use image_domain::data::io_stream;
use image_domain::DataError;
use serde_json::{json, Value};

use crate::{caller, html_error, json_body, ApiState};

const OCTET_STREAM: &str = "application/octet-stream";
const MIB: u64 = 1024 * 1024;
const IMPORT_METHODS: &[&str] = &["glance-direct"];

/// 415 unless the body is `application/octet-stream`.
fn require_octet_stream(headers: &HeaderMap) -> Option<Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim());
    match ct {
        Some(OCTET_STREAM) => None,
        other => Some(html_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("Invalid content type {}", other.unwrap_or("None")),
        )),
    }
}

/// The announced size: `x-openstack-image-size`, else `Content-Length`, else unknown.
fn size_hint(headers: &HeaderMap) -> Result<Option<u64>, Error> {
    let bad = || Error::bad_request("Invalid or missing image size in request headers.");
    for name in ["x-openstack-image-size", "content-length"] {
        if let Some(v) = headers.get(name) {
            let n = v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(bad)?;
            return Ok(if n == 0 && name == "content-length" {
                None
            } else {
                Some(n)
            });
        }
    }
    Ok(None)
}

fn data_error(e: DataError) -> Response {
    match e {
        DataError::Error(e) => HttpError(e).into_response(),
        DataError::InvalidImageData(m) => html_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, &m),
        DataError::Gone(m) => html_error(StatusCode::GONE, &m),
    }
}

/// A response to a request whose body may be left unread: anything but success closes the
/// connection, so that a client does not reuse it while unread bytes are still in flight.
fn closing(res: HttpResult<Response>) -> Response {
    let mut r = res.unwrap_or_else(IntoResponse::into_response);
    if !r.status().is_success() {
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

pub async fn upload(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    closing(receive(s, auth, id, headers, body, false).await)
}

pub async fn stage(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    closing(receive(s, auth, id, headers, body, true).await)
}

/// `PUT /file` (`stage` false) or `PUT /stage`.
async fn receive(
    s: ApiState,
    auth: common_http::AuthContext,
    id: String,
    headers: HeaderMap,
    body: Body,
    stage: bool,
) -> HttpResult<Response> {
    if let Some(r) = require_octet_stream(&headers) {
        return Ok(r);
    }
    let hint = size_hint(&headers)?;
    let c = caller(&auth);
    let img = s.fetch(&auth, &c, &id).await?;
    let res = if stage {
        s.enforce_image(&auth, &c, "modify_image", &img)?;
        s.images
            .image_stage(img, hint, body.into_data_stream())
            .await
    } else {
        s.enforce_image(&auth, &c, "upload_image", &img)
            .map_err(|e| {
                if e.status() == 403 {
                    Error::forbidden(format!("Not allowed to upload image data for image {id}"))
                } else {
                    e
                }
            })?;
        s.images
            .image_upload(img, hint, body.into_data_stream())
            .await
    };
    match res {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) => Ok(data_error(e)),
    }
}

pub async fn import(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Response> {
    let body = json_body(&body)?;
    let method = body
        .get("method")
        .ok_or_else(|| Error::bad_request("Import request requires a 'method' field."))?;
    let name = method
        .get("name")
        .ok_or_else(|| Error::bad_request("Import request requires a 'name' field."))?;
    let name = name.as_str().unwrap_or_default();
    if !IMPORT_METHODS.contains(&name) {
        return Err(Error::bad_request(format!("Unknown import method name '{name}'.")).into());
    }
    let flag = |k: &str| match body.get(k) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(Error::bad_request(format!(
            "'{k}' must be boolean value only"
        ))),
    };
    let must_succeed = flag("all_stores_must_succeed")?;
    flag("all_stores")?;
    let c = caller(&auth);
    let img = s.fetch(&auth, &c, &id).await?;
    s.enforce_image(&auth, &c, "modify_image", &img)?;
    if must_succeed == Some(false) {
        return Err(Error::bad_request(
            "All_stores_must_succeed can only be set with enabled_backends",
        )
        .into());
    }
    match s.images.image_import(&img).await {
        Ok(()) => Ok(StatusCode::ACCEPTED.into_response()),
        Err(e) => Ok(data_error(e)),
    }
}

/// A parsed `Range: bytes=...` header: (offset, length), or `Err` when unsatisfiable.
fn parse_range(v: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let r = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 || size == 0 {
            Err(())
        } else {
            let n = n.min(size);
            Ok((size - n, n))
        }
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>().ok()?.min(size.saturating_sub(1))
        };
        if start >= size || end < start {
            Err(())
        } else {
            Ok((start, end - start + 1))
        }
    };
    Some(r)
}

pub async fn download(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> HttpResult<Response> {
    let c = caller(&auth);
    let img = s.fetch(&auth, &c, &id).await?;
    s.enforce_image(&auth, &c, "download_image", &img)?;
    let size = img.size.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(v) if img.blob.is_some() => match parse_range(v, size) {
            Some(Ok(r)) => Some(r),
            Some(Err(())) => {
                let mut r = html_error(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "Requested range not satisfiable",
                );
                if let Ok(h) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    r.headers_mut().insert(header::CONTENT_RANGE, h);
                }
                return Ok(r);
            }
            None => None,
        },
        _ => None,
    };
    let (offset, len) = range.map(|(o, l)| (o, Some(l))).unwrap_or((0, None));
    let Some(d) = s.images.image_download(&c, &img, offset, len).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let mut resp = Response::new(Body::from_stream(io_stream(d.stream)));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM));
    if let Some(sum) = d
        .checksum
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert("content-md5", sum);
    }
    let length = match range {
        Some((o, l)) => {
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {o}-{}/{}", o + l - 1, d.size)) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            l
        }
        None => d.size,
    };
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    Ok(resp)
}

pub async fn info_import(Authed(_auth): Authed) -> Json<Value> {
    Json(json!({"import-methods": {
        "description": "Import methods available.",
        "type": "array",
        "value": IMPORT_METHODS,
    }}))
}

pub async fn info_stores(Authed(_auth): Authed) -> HttpResult<Json<Value>> {
    Err(Error::not_found("store", "Multi backend is not supported at this site").into())
}

pub async fn info_usage(
    State(s): State<ApiState>,
    Authed(auth): Authed,
) -> HttpResult<Json<Value>> {
    let c = caller(&auth);
    let project = c
        .project_id
        .clone()
        .ok_or_else(|| crate::forbidden("get_usage"))?;
    let u = s.images.usage(&project).await?;
    let cfg = s.images.config();
    let lim = |v: u64, scale: u64| {
        if v == 0 {
            -1
        } else {
            i64::try_from(v / scale).unwrap_or(i64::MAX)
        }
    };
    let mib = |v: i64| v / MIB as i64;
    Ok(Json(json!({"usage": {
        "image_size_total": {"limit": lim(cfg.image_size_total, MIB), "usage": mib(u.bytes)},
        "image_count_total": {"limit": lim(cfg.image_count_total, 1), "usage": u.count},
        "image_stage_total": {"limit": lim(cfg.image_size_total, MIB), "usage": mib(u.staged_bytes)},
        "image_count_uploading": {"limit": -1, "usage": u.uploading},
    }})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-4", 10), Some(Ok((0, 5))));
        assert_eq!(parse_range("bytes=5-", 10), Some(Ok((5, 5))));
        assert_eq!(parse_range("bytes=-3", 10), Some(Ok((7, 3))));
        assert_eq!(parse_range("bytes=8-100", 10), Some(Ok((8, 2))));
        assert_eq!(parse_range("bytes=10-", 10), Some(Err(())));
        assert_eq!(parse_range("bytes=5-2", 10), Some(Err(())));
        assert_eq!(parse_range("items=1-2", 10), None);
        assert_eq!(parse_range("bytes=0-1,3-4", 10), None);
    }
}
