//! `/v2/images`, one image, its actions and its tags.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use common_error::Error;
use common_http::{Authed, HttpResult};
use common_policy::NONE;
use image_model::Visibility;
use serde_json::{json, Value};

use crate::patch::{self, PATCH_V20, PATCH_V21};
use crate::{caller, html_error, image_target, json_body, views, ApiState};
use crate::{query, wire};

/// The query's pairs, in order.
pub(crate) fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn encode(pairs: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

pub async fn list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let c = caller(&auth);
    let project = c.project_id.clone().unwrap_or_else(|| NONE.into());
    s.authorize(
        &auth,
        "get_images",
        &common_policy::target(&[("project_id", &project)]),
    )?;
    let pairs = query_pairs(q.as_deref());
    let query = query::parse_list(&pairs)?;
    let limit = query.limit;
    let found = s.images.image_list(&c, query).await?;
    let fetched = found.len();
    let visible: Vec<_> = found
        .into_iter()
        .filter(|i| {
            s.policy
                .enforce("get_image", &image_target(&c, i), &auth.credentials)
        })
        .collect();
    let rest: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "marker")
        .cloned()
        .collect();
    let mut body = json!({
        "images": visible.iter().map(views::image).collect::<Vec<_>>(),
        "first": if rest.is_empty() { "/v2/images".to_string() } else { format!("/v2/images?{}", encode(&rest)) },
        "schema": "/v2/schemas/images",
    });
    if fetched == limit && limit > 0 {
        if let Some(last) = visible.last() {
            let mut next = rest;
            next.push(("marker".into(), last.id.clone()));
            body["next"] = json!(format!("/v2/images?{}", encode(&next)));
        }
    }
    Ok(Json(body))
}

pub async fn create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    body: Bytes,
) -> HttpResult<Response> {
    let c = caller(&auth);
    let new = wire::parse_create(json_body(&body)?)?;
    let owner = match &new.owner {
        Some(o) => o.clone().unwrap_or_else(|| NONE.into()),
        None => c.project_id.clone().unwrap_or_else(|| NONE.into()),
    };
    let visibility = new.visibility.map(Visibility::as_str).unwrap_or("private");
    let t = common_policy::target(&[
        ("project_id", &owner),
        ("owner", &owner),
        ("visibility", visibility),
    ]);
    if !s.policy.enforce("add_image", &t, &auth.credentials) {
        if Some(&owner) != c.project_id.as_ref() {
            return Err(Error::forbidden(format!(
                "You are not permitted to create images owned by '{owner}'"
            ))
            .into());
        }
        return Err(crate::forbidden("add_image").into());
    }
    match new.visibility {
        Some(Visibility::Public) => s.authorize(&auth, "publicize_image", &t)?,
        Some(Visibility::Community) => s.authorize(&auth, "communitize_image", &t)?,
        _ => {}
    }
    let img = s.images.image_create(&c, new).await?;
    let mut r = (StatusCode::CREATED, Json(views::image(&img))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{}/v2/images/{}", s.image_url(), img.id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut().insert(
        "openstack-image-import-methods",
        HeaderValue::from_static("glance-direct"),
    );
    Ok(r)
}

pub async fn show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    let c = caller(&auth);
    let img = s.fetch(&auth, &c, &id).await?;
    Ok(Json(views::image(&img)))
}

/// The patch draft of a Content-Type, if it is one of Glance's.
fn patch_draft(headers: &HeaderMap) -> Option<u8> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    match ct.split(';').next().map(str::trim) {
        Some(PATCH_V20) => Some(4),
        Some(PATCH_V21) => Some(10),
        _ => None,
    }
}

pub async fn update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> HttpResult<Response> {
    let Some(draft) = patch_draft(&headers) else {
        let allowed = format!("{PATCH_V20}, {PATCH_V21}");
        let mut r = html_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("Image PATCH expects Content-Type one of: {allowed}"),
        );
        if let Ok(v) = HeaderValue::from_str(&allowed) {
            r.headers_mut().insert("accept-patch", v);
        }
        return Ok(r);
    };
    let c = caller(&auth);
    let ops = patch::parse_patch(json_body(&body)?, draft)?;
    let img = s.fetch(&auth, &c, &id).await?;
    if !ops.is_empty() {
        for o in ops.iter().filter(|o| o.root == "visibility") {
            let t = image_target(&c, &img);
            match o.value.as_ref().and_then(Value::as_str) {
                Some("public") => s.authorize(&auth, "publicize_image", &t)?,
                Some("community") => s.authorize(&auth, "communitize_image", &t)?,
                _ => {}
            }
        }
        s.enforce_image(&auth, &c, "modify_image", &img)?;
    }
    let changes = patch::to_changes(&ops, draft, |k| img.properties.contains_key(k))?;
    let img = s.images.image_update(&c, img, changes).await?;
    Ok(Json(views::image(&img)).into_response())
}

pub async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    let c = caller(&auth);
    let img = s.fetch(&auth, &c, &id).await?;
    s.enforce_image(&auth, &c, "delete_image", &img)?;
    s.images.image_delete(&img).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn deactivate(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    let c = caller(&auth);
    let img = s.fetch(&auth, &c, &id).await?;
    s.enforce_image(&auth, &c, "deactivate", &img)?;
    s.images.image_deactivate(&img).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn reactivate(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    let c = caller(&auth);
    let img = s.fetch(&auth, &c, &id).await?;
    s.enforce_image(&auth, &c, "reactivate", &img)?;
    s.images.image_reactivate(&img).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn tag_add(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((id, tag)): Path<(String, String)>,
) -> HttpResult<StatusCode> {
    let mut probe = serde_json::Map::new();
    probe.insert("tags".into(), json!([tag]));
    crate::schema::validate_image(&probe).map_err(Error::BadRequest)?;
    let c = caller(&auth);
    let img = s.fetch(&auth, &c, &id).await?;
    s.enforce_image(&auth, &c, "modify_image", &img)?;
    s.images.tag_add(img, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn tag_delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((id, tag)): Path<(String, String)>,
) -> HttpResult<StatusCode> {
    let c = caller(&auth);
    let img = s.fetch(&auth, &c, &id).await?;
    s.enforce_image(&auth, &c, "modify_image", &img)?;
    s.images.tag_delete(img, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}
