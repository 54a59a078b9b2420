//! Grants (`/v3/{projects,domains}/{id}/{users,groups}/{id}/roles[/{role_id}]`, their
//! OS-INHERIT `inherited_to_projects` forms, and `/v3/system/{users,groups}/{id}/roles`) and
//! `GET /v3/role_assignments`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use axum::{Json, Router};
use common_error::{Error, Result};
use common_http::{AuthContext, Authed, HttpResult};
use common_policy::Target;
use identity_domain::assignment::{
    AssignmentNames, AssignmentQuery, AssignmentRef, GrantSubject, Named,
};
use identity_model::{Actor, Assignment, AssignmentTarget};
use serde_json::{json, Map, Value};

use crate::v3::roles::{render as render_role, role_target};
use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    let mut r = Router::new().route("/v3/role_assignments", get(list_assignments));
    for scope in ["/v3/projects/{id}", "/v3/domains/{id}", "/v3/system"] {
        for actor in ["users/{user_id}", "groups/{group_id}"] {
            r = r
                .route(&format!("{scope}/{actor}/roles"), get(grant_list))
                .route(
                    &format!("{scope}/{actor}/roles/{{role_id}}"),
                    get(grant_check).put(grant_create).delete(grant_delete),
                );
        }
    }
    for actor in ["users/{user_id}", "groups/{group_id}"] {
        let domain = format!("/v3/OS-INHERIT/domains/{{id}}/{actor}/roles");
        r = r
            .route(&format!("{domain}/inherited_to_projects"), get(grant_list))
            .route(&format!("{domain}/{{role_id}}/inherited_to_projects"), get(grant_check).put(grant_create).delete(grant_delete))
            .route(
                &format!("/v3/OS-INHERIT/projects/{{id}}/{actor}/roles/{{role_id}}/inherited_to_projects"),
                get(grant_check).put(grant_create).delete(grant_delete),
            );
    }
    r
}

/// What a grant URL names.
struct GrantPath {
    actor: Actor,
    target: AssignmentTarget,
    role_id: Option<String>,
    inherited: bool,
}

/// The path after `/v3/`, as segments.
fn v3_segments(uri: &Uri) -> Vec<&str> {
    let segs: Vec<&str> = uri.path().split('/').collect();
    match segs.iter().position(|s| *s == "v3") {
        Some(i) => segs[i + 1..].to_vec(),
        None => segs,
    }
}

fn grant_path(uri: &Uri, p: &HashMap<String, String>) -> Result<GrantPath> {
    let segs = v3_segments(uri);
    let inherited = segs.first() == Some(&"OS-INHERIT");
    let kind = segs
        .get(usize::from(inherited))
        .copied()
        .unwrap_or_default();
    let id = || p.get("id").cloned().unwrap_or_default();
    let target = match kind {
        "projects" => AssignmentTarget::Project(id()),
        "domains" => AssignmentTarget::Domain(id()),
        _ => AssignmentTarget::System,
    };
    let actor = match (p.get("user_id"), p.get("group_id")) {
        (Some(u), _) => Actor::User(u.clone()),
        (None, Some(g)) => Actor::Group(g.clone()),
        (None, None) => return Err(Error::not_found("user", "")),
    };
    Ok(GrantPath {
        actor,
        target,
        role_id: p.get("role_id").cloned(),
        inherited,
    })
}

#[derive(Clone, Copy)]
enum Op {
    Check,
    Create,
    Revoke,
    List,
}

fn action(g: &GrantPath, op: Op) -> &'static str {
    match (&g.target, &g.actor, op) {
        (AssignmentTarget::System, Actor::User(_), Op::Check) => {
            "identity:check_system_grant_for_user"
        }
        (AssignmentTarget::System, Actor::User(_), Op::Create) => {
            "identity:create_system_grant_for_user"
        }
        (AssignmentTarget::System, Actor::User(_), Op::Revoke) => {
            "identity:revoke_system_grant_for_user"
        }
        (AssignmentTarget::System, Actor::User(_), Op::List) => {
            "identity:list_system_grants_for_user"
        }
        (AssignmentTarget::System, Actor::Group(_), Op::Check) => {
            "identity:check_system_grant_for_group"
        }
        (AssignmentTarget::System, Actor::Group(_), Op::Create) => {
            "identity:create_system_grant_for_group"
        }
        (AssignmentTarget::System, Actor::Group(_), Op::Revoke) => {
            "identity:revoke_system_grant_for_group"
        }
        (AssignmentTarget::System, Actor::Group(_), Op::List) => {
            "identity:list_system_grants_for_group"
        }
        (_, _, Op::Check) => "identity:check_grant",
        (_, _, Op::Create) => "identity:create_grant",
        (_, _, Op::Revoke) => "identity:revoke_grant",
        (_, _, Op::List) => "identity:list_grants",
    }
}

/// Keystone's grant policy target: the role, the actor and the project or domain.
fn grant_target(sub: &GrantSubject) -> Target {
    let mut t = Target::new();
    if let Some(r) = &sub.role {
        role_target("role", r, &mut t);
    }
    if let Some(u) = &sub.user {
        t.insert("target.user.id".into(), u.id.clone());
        t.insert("target.user.name".into(), u.name.clone());
        t.insert("target.user.domain_id".into(), u.domain_id.clone());
    }
    if let Some(g) = &sub.group {
        t.insert("target.group.id".into(), g.id.clone());
        t.insert("target.group.name".into(), g.name.clone());
        t.insert("target.group.domain_id".into(), g.domain_id.clone());
    }
    if let Some(p) = &sub.project {
        t.insert("target.project.id".into(), p.id.clone());
        t.insert("target.project.name".into(), p.name.clone());
        t.insert(
            "target.project.domain_id".into(),
            p.domain_id.clone().unwrap_or_default(),
        );
    }
    if let Some(d) = &sub.domain {
        t.insert("target.domain.id".into(), d.id.clone());
        t.insert("target.domain.name".into(), d.name.clone());
    }
    t
}

/// Looks up what the URL names (404s first, as Keystone builds its target), then checks
/// policy. Returns the assignment the URL means.
async fn authorize_grant(
    s: &ApiState,
    auth: &AuthContext,
    g: &GrantPath,
    op: Op,
) -> Result<Option<Assignment>> {
    let sub = s
        .identity
        .grant_subject(
            g.role_id.as_deref(),
            &g.actor,
            &g.target,
            matches!(op, Op::Revoke),
        )
        .await?;
    s.authorize(auth, action(g, op), &grant_target(&sub))?;
    Ok(g.role_id.clone().map(|role_id| Assignment {
        actor: g.actor.clone(),
        target: g.target.clone(),
        role_id,
        inherited: g.inherited,
    }))
}

fn assignment(a: Option<Assignment>) -> Result<Assignment> {
    a.ok_or_else(|| Error::not_found("role", ""))
}

/// `self` of a collection: the request URL under the public v3 URL, with its query.
fn self_url(s: &ApiState, uri: &Uri) -> String {
    let mut url = format!("{}/{}", s.v3_url(), v3_segments(uri).join("/"));
    if let Some(q) = uri.query() {
        url.push('?');
        url.push_str(q);
    }
    url
}

async fn grant_check(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    uri: Uri,
    Path(p): Path<HashMap<String, String>>,
) -> HttpResult<StatusCode> {
    let g = grant_path(&uri, &p)?;
    let a = assignment(authorize_grant(&s, &auth, &g, Op::Check).await?)?;
    s.identity.grant_check(&a).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn grant_create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    uri: Uri,
    Path(p): Path<HashMap<String, String>>,
) -> HttpResult<StatusCode> {
    let g = grant_path(&uri, &p)?;
    let a = assignment(authorize_grant(&s, &auth, &g, Op::Create).await?)?;
    s.identity.grant_create(&a).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn grant_delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    uri: Uri,
    Path(p): Path<HashMap<String, String>>,
) -> HttpResult<StatusCode> {
    let g = grant_path(&uri, &p)?;
    let a = assignment(authorize_grant(&s, &auth, &g, Op::Revoke).await?)?;
    s.identity.grant_delete(&a).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn grant_list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    uri: Uri,
    Path(p): Path<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    let g = grant_path(&uri, &p)?;
    authorize_grant(&s, &auth, &g, Op::List).await?;
    let roles = s
        .identity
        .grant_list(&g.actor, &g.target, g.inherited)
        .await?;
    let items: Vec<Value> = roles.iter().map(|r| render_role(&s, r)).collect();
    Ok(Json(
        json!({"roles": items, "links": {"self": self_url(&s, &uri), "previous": null, "next": null}}),
    ))
}

/// Keystone's reading of a flag query parameter: present and not `0` means true.
fn flag(q: &HashMap<String, String>, key: &str) -> bool {
    q.get(key).is_some_and(|v| v != "0")
}

async fn list_assignments(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    let get = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
    let query = AssignmentQuery {
        role_id: get("role.id"),
        user_id: get("user.id"),
        group_id: get("group.id"),
        system: get("scope.system"),
        domain_id: get("scope.domain.id"),
        project_id: get("scope.project.id"),
        include_subtree: flag(&q, "include_subtree"),
        inherited: q
            .get("scope.OS-INHERIT:inherited_to")
            .map(|v| v == "projects"),
        effective: flag(&q, "effective"),
        within_domain: None,
    };
    let query = authorize_listing(&s, &auth, query).await?;
    let refs = s.identity.role_assignment_list(&query).await?;
    let names = if flag(&q, "include_names") {
        Some(s.identity.role_assignment_names(&refs).await?)
    } else {
        None
    };
    let items: Vec<Value> = refs
        .iter()
        .enumerate()
        .map(|(i, r)| format_entity(&s, r, names.as_ref().and_then(|n| n.get(i))))
        .collect();
    Ok(Json(
        json!({"role_assignments": items, "links": {"self": self_url(&s, &uri), "previous": null, "next": null}}),
    ))
}

/// Checks `list_role_assignments` (or `_for_tree` with `include_subtree`). A domain-scoped
/// caller is shown only its domain's assignments.
async fn authorize_listing(
    s: &ApiState,
    auth: &AuthContext,
    mut q: AssignmentQuery,
) -> Result<AssignmentQuery> {
    if q.include_subtree {
        let mut t = Target::new();
        if let Some(pid) = &q.project_id {
            let p = s.identity.project_get(pid).await?;
            let d = p.domain_id.clone().unwrap_or_default();
            t.insert("target.project.id".into(), p.id.clone());
            t.insert("target.project.name".into(), p.name.clone());
            t.insert("target.project.domain_id".into(), d.clone());
            t.insert("target.domain_id".into(), d);
        }
        s.authorize(auth, "identity:list_role_assignments_for_tree", &t)?;
        return Ok(q);
    }
    let mut t = Target::new();
    if let Some(d) = &auth.credentials.domain_id {
        t.insert("target.domain_id".into(), d.clone());
        q.within_domain = Some(d.clone());
    }
    s.authorize(auth, "identity:list_role_assignments", &t)?;
    Ok(q)
}

fn named(id: &str, n: Option<&Named>) -> Value {
    let mut v = json!({"id": id});
    if let Some(n) = n {
        v["name"] = json!(n.name);
        if let Some((did, dname)) = &n.domain {
            v["domain"] = json!({"id": did, "name": dname});
        }
    }
    v
}

/// One assignment in Keystone's shape, with the grant URL it comes from in
/// `links.assignment` (and `membership`/`prior_role` links for what effective mode expanded).
fn format_entity(s: &ApiState, r: &AssignmentRef, names: Option<&AssignmentNames>) -> Value {
    let mut links = Map::new();
    let mut link;
    let mut inherited = r.inherited_to_projects;
    let target_names = names.and_then(|n| n.target.as_ref());
    let mut scope = match &r.target {
        AssignmentTarget::Project(p) => {
            link = match (&r.indirect.domain_id, &r.indirect.project_id) {
                (Some(d), _) => {
                    inherited = true;
                    format!("/domains/{d}")
                }
                (None, Some(ip)) => {
                    inherited = true;
                    format!("/projects/{ip}")
                }
                (None, None) => format!("/projects/{p}"),
            };
            json!({"project": named(p, target_names)})
        }
        AssignmentTarget::Domain(d) => {
            link = format!("/domains/{d}");
            json!({"domain": named(d, target_names)})
        }
        AssignmentTarget::System => {
            link = "/system".to_string();
            json!({"system": {"all": true}})
        }
    };
    let mut entity = Map::new();
    match &r.actor {
        Actor::User(u) => {
            entity.insert("user".into(), named(u, names.map(|n| &n.actor)));
            match &r.indirect.group_id {
                Some(g) => {
                    links.insert(
                        "membership".into(),
                        json!(format!("{}/groups/{g}/users/{u}", s.v3_url())),
                    );
                    link.push_str(&format!("/groups/{g}"));
                }
                None => link.push_str(&format!("/users/{u}")),
            }
        }
        Actor::Group(g) => {
            entity.insert("group".into(), named(g, names.map(|n| &n.actor)));
            link.push_str(&format!("/groups/{g}"));
        }
    }
    entity.insert("role".into(), named(&r.role_id, names.map(|n| &n.role)));
    let mut prior_link = None;
    match &r.indirect.role_id {
        Some(prior) => {
            link.push_str(&format!("/roles/{prior}"));
            prior_link = Some(format!("/prior_role/{}/implies/{prior}", r.role_id));
        }
        None => link.push_str(&format!("/roles/{}", r.role_id)),
    }
    if inherited {
        scope["OS-INHERIT:inherited_to"] = json!("projects");
        link = format!("/OS-INHERIT{link}/inherited_to_projects");
    }
    links.insert("assignment".into(), json!(format!("{}{link}", s.v3_url())));
    if let Some(p) = prior_link {
        links.insert("prior_role".into(), json!(format!("{}{p}", s.v3_url())));
    }
    entity.insert("scope".into(), scope);
    entity.insert("links".into(), Value::Object(links));
    Value::Object(entity)
}
