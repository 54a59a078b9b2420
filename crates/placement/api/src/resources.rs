//! `/resource_classes` and `/traits`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Extension;
use common_http::Authed;
use placement_domain::CustomTable;
use placement_model::{is_custom_name, STANDARD_CLASSES, STANDARD_TRAITS};
use serde_json::{json, Value};

use crate::{body_object, invalid, need, no_content, ok, query_pairs, ApiState, Mv, PErr, Res};

fn class_json(name: &str) -> Value {
    json!({"name": name, "links": [{"rel": "self", "href": format!("/placement/resource_classes/{name}")}]})
}

fn custom_only(name: &str, what: &str) -> Result<(), PErr> {
    if is_custom_name(name) {
        Ok(())
    } else {
        Err(invalid(format!("'{name}' does not match '^CUSTOM\\_[A-Z0-9_]+$' ({what} names must start with CUSTOM_)")))
    }
}

pub(crate) async fn classes_list(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
) -> Res {
    need(mv, 2)?;
    s.authorize(&a, "placement:resource_classes:list")?;
    let all = s.placement.classes().await?;
    ok(json!({"resource_classes": all.iter().map(|c| class_json(c)).collect::<Vec<_>>()}))
}

pub(crate) async fn class_create(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    b: Bytes,
) -> Res {
    need(mv, 2)?;
    s.authorize(&a, "placement:resource_classes:create")?;
    let m = body_object(&b)?;
    let Some(Value::String(name)) = m.get("name") else {
        return Err(invalid("'name' is a required property"));
    };
    if m.len() != 1 {
        return Err(invalid("Additional properties are not allowed"));
    }
    custom_only(name, "resource class")?;
    if !s
        .placement
        .store
        .custom_create(CustomTable::Class, name)
        .await?
    {
        return Err(PErr::new(
            409,
            format!("Conflicting resource class already exists: {name}"),
        )
        .coded("placement.duplicate_name"));
    }
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            s.location(&format!("/placement/resource_classes/{name}")),
        )],
    )
        .into_response())
}

pub(crate) async fn class_show(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    Path(name): Path<String>,
) -> Res {
    need(mv, 2)?;
    s.authorize(&a, "placement:resource_classes:show")?;
    if !s.placement.class_exists(&name).await? {
        return Err(PErr::not_found(format!("No such resource class {name}.")));
    }
    ok(class_json(&name))
}

pub(crate) async fn class_put(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    Path(name): Path<String>,
    b: Bytes,
) -> Res {
    need(mv, 2)?;
    s.authorize(&a, "placement:resource_classes:update")?;
    if mv.0 < 7 {
        // Before 1.7 PUT renamed a class; custom classes are identified by name, so a
        // rename is not supported here.
        let _ = body_object(&b)?;
        return Err(PErr::bad("Renaming resource classes is not supported."));
    }
    if STANDARD_CLASSES.contains(&name.as_str()) {
        return Err(PErr::bad(format!(
            "Cannot update standard resource class {name}"
        )));
    }
    custom_only(&name, "resource class")?;
    if s.placement
        .store
        .custom_create(CustomTable::Class, &name)
        .await?
    {
        Ok((
            StatusCode::CREATED,
            [(
                header::LOCATION,
                s.location(&format!("/placement/resource_classes/{name}")),
            )],
        )
            .into_response())
    } else {
        no_content()
    }
}

pub(crate) async fn class_delete(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    Path(name): Path<String>,
) -> Res {
    need(mv, 2)?;
    s.authorize(&a, "placement:resource_classes:delete")?;
    if STANDARD_CLASSES.contains(&name.as_str()) {
        return Err(PErr::bad(format!(
            "Cannot delete standard resource class {name}"
        )));
    }
    s.placement
        .store
        .custom_delete(CustomTable::Class, &name)
        .await
        .map_err(|e| not_found_as(e, "resource class", &name))?;
    no_content()
}

fn not_found_as(e: common_error::Error, what: &str, name: &str) -> PErr {
    match e {
        common_error::Error::NotFound { .. } => PErr::not_found(format!("No such {what} {name}.")),
        other => other.into(),
    }
}

pub(crate) async fn traits_list(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    RawQuery(q): RawQuery,
) -> Res {
    need(mv, 6)?;
    s.authorize(&a, "placement:traits:list")?;
    let mut all = s.placement.traits().await?;
    for (k, v) in query_pairs(q.as_deref()) {
        match k.as_str() {
            "name" => {
                if let Some(list) = v.strip_prefix("in:") {
                    let want: Vec<&str> = list.split(',').collect();
                    all.retain(|t| want.contains(&t.as_str()));
                } else if let Some(p) = v.strip_prefix("startswith:") {
                    all.retain(|t| t.starts_with(p));
                } else {
                    return Err(PErr::bad(format!("Badly formatted name parameter. Expected name query string parameter in form: ?name=[in|startswith]:[name1,name2|prefix]. Got: \"{v}\"")));
                }
            }
            "associated" => {
                let want = match v.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(PErr::bad(format!("Invalid query string parameters: 'associated' must be true or false. Got: {v}"))),
                };
                let snap = s.placement.store.snapshot().await?;
                all.retain(|t| snap.traits.values().any(|ts| ts.contains(t)) == want);
            }
            _ => {
                return Err(PErr::bad(format!(
                    "Invalid query string parameters: '{k}' is not allowed"
                )))
            }
        }
    }
    ok(json!({"traits": all}))
}

pub(crate) async fn trait_show(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    Path(name): Path<String>,
) -> Res {
    need(mv, 6)?;
    s.authorize(&a, "placement:traits:show")?;
    if !s.placement.trait_exists(&name).await? {
        return Err(PErr::not_found(format!("No such trait(s): {name}")));
    }
    no_content()
}

pub(crate) async fn trait_put(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    Path(name): Path<String>,
) -> Res {
    need(mv, 6)?;
    s.authorize(&a, "placement:traits:update")?;
    if STANDARD_TRAITS.contains(&name.as_str()) {
        return no_content();
    }
    custom_only(&name, "trait")?;
    if s.placement
        .store
        .custom_create(CustomTable::Trait, &name)
        .await?
    {
        Ok((
            StatusCode::CREATED,
            [(
                header::LOCATION,
                s.location(&format!("/placement/traits/{name}")),
            )],
        )
            .into_response())
    } else {
        no_content()
    }
}

pub(crate) async fn trait_delete(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    Path(name): Path<String>,
) -> Res {
    need(mv, 6)?;
    s.authorize(&a, "placement:traits:delete")?;
    if STANDARD_TRAITS.contains(&name.as_str()) {
        return Err(PErr::bad(format!("Cannot delete standard trait {name}.")));
    }
    s.placement
        .store
        .custom_delete(CustomTable::Trait, &name)
        .await
        .map_err(|e| not_found_as(e, "trait(s):", &name))?;
    no_content()
}
