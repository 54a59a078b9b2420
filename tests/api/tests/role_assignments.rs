//! Grants (projects, domains, system, OS-INHERIT) and `/v3/role_assignments` over raw HTTP.

use api_tests::{assert_error, TestCloud};
use reqwest::Method;
use serde_json::json;

async fn project(c: &TestCloud, t: &str, name: &str, parent: Option<&str>) -> String {
    let mut body = json!({"name": name, "domain_id": "default"});
    if let Some(p) = parent {
        body["parent_id"] = json!(p);
    }
    c.create(t, "/projects", "project", body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_direct_with_filters_and_names() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let (uid, pid, _) = c.user_with_role(&t, "erin", "member").await;
    let member = c.role_id(&t, "member").await;
    let gid = c
        .create(&t, "/groups", "group", json!({"name": "devs"}))
        .await;
    assert_eq!(
        c.req(
            Method::PUT,
            &c.v3(&format!("/projects/{pid}/groups/{gid}/roles/{member}")),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );

    let r = c
        .req(
            Method::GET,
            &c.v3(&format!("/role_assignments?user.id={uid}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["links"],
        json!({"self": c.v3(&format!("/role_assignments?user.id={uid}")), "previous": null, "next": null})
    );
    assert_eq!(
        r.body["role_assignments"],
        json!([{
            "role": {"id": member},
            "user": {"id": uid},
            "scope": {"project": {"id": pid}},
            "links": {"assignment": c.v3(&format!("/projects/{pid}/users/{uid}/roles/{member}"))},
        }])
    );
    let by_project = c
        .role_assignments(&t, &format!("?scope.project.id={pid}"))
        .await;
    assert_eq!(by_project.len(), 2);
    let g = by_project
        .iter()
        .find(|a| a.get("group").is_some())
        .unwrap();
    assert_eq!(
        g["links"]["assignment"],
        c.v3(&format!("/projects/{pid}/groups/{gid}/roles/{member}"))
    );
    assert_eq!(
        c.role_assignments(&t, &format!("?group.id={gid}"))
            .await
            .len(),
        1
    );
    assert_eq!(
        c.role_assignments(&t, &format!("?role.id={member}&scope.project.id={pid}"))
            .await
            .len(),
        2
    );
    assert!(c.role_assignments(&t, "?role.id=nope").await.is_empty());
    assert!(c
        .role_assignments(&t, "?scope.domain.id=default")
        .await
        .is_empty());
    let all = c.role_assignments(&t, "").await;
    assert!(
        all.iter().any(|a| a["scope"].get("system").is_some()),
        "the bootstrap system grant is listed"
    );

    let named = c
        .role_assignments(&t, &format!("?user.id={uid}&include_names"))
        .await;
    assert_eq!(
        named[0]["user"],
        json!({"id": uid, "name": "erin", "domain": {"id": "default", "name": "Default"}})
    );
    assert_eq!(named[0]["role"], json!({"id": member, "name": "member"}));
    assert_eq!(
        named[0]["scope"]["project"],
        json!({"id": pid, "name": "erin-project", "domain": {"id": "default", "name": "Default"}})
    );
    let named = c
        .role_assignments(&t, &format!("?group.id={gid}&include_names=1"))
        .await;
    assert_eq!(
        named[0]["group"],
        json!({"id": gid, "name": "devs", "domain": {"id": "default", "name": "Default"}})
    );
    let unnamed = c
        .role_assignments(&t, &format!("?group.id={gid}&include_names=0"))
        .await;
    assert_eq!(unnamed[0]["group"], json!({"id": gid}));

    for (q, msg) in [
        ("?scope.project.id=a&scope.domain.id=b", "Specify a domain or project, not both"),
        ("?scope.system=all&scope.domain.id=b", "Specify system or domain, not both"),
        ("?scope.system=all&scope.project.id=a", "Specify system or project, not both"),
        ("?user.id=a&group.id=b", "Specify a user or group, not both"),
        ("?effective&group.id=b", "Combining effective and group filter will always result in an empty list."),
        (
            "?effective&scope.domain.id=d&scope.OS-INHERIT:inherited_to=projects",
            "Combining effective, domain and inherited filters will always result in an empty list.",
        ),
        ("?include_subtree=true", "scope.project.id must be specified if include_subtree is also specified"),
    ] {
        let r = c.req(Method::GET, &c.v3(&format!("/role_assignments{q}")), Some(&t), None).await;
        assert_error(&r, 400, msg);
    }
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_effective_expands_groups_inheritance_and_implications() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let uid = c.create_user(&t, "frank").await;
    let parent = project(&c, &t, "parent", None).await;
    let child = project(&c, &t, "child", Some(&parent)).await;
    let member = c.role_id(&t, "member").await;
    let reader = c.role_id(&t, "reader").await;
    let gid = c
        .create(&t, "/groups", "group", json!({"name": "team"}))
        .await;
    assert_eq!(
        c.req(
            Method::PUT,
            &c.v3(&format!("/groups/{gid}/users/{uid}")),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
    // Through the group on the parent; inherited from the parent to the child.
    assert_eq!(
        c.req(
            Method::PUT,
            &c.v3(&format!("/projects/{parent}/groups/{gid}/roles/{member}")),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
    let inh =
        format!("/OS-INHERIT/projects/{parent}/users/{uid}/roles/{reader}/inherited_to_projects");
    assert_eq!(
        c.req(Method::PUT, &c.v3(&inh), Some(&t), None).await.status,
        204
    );
    assert_eq!(
        c.req(Method::HEAD, &c.v3(&inh), Some(&t), None)
            .await
            .status,
        204
    );
    assert_eq!(
        c.req(
            Method::HEAD,
            &c.v3(&format!("/projects/{parent}/users/{uid}/roles/{reader}")),
            Some(&t),
            None
        )
        .await
        .status,
        404
    );

    let direct = c.role_assignments(&t, &format!("?user.id={uid}")).await;
    assert_eq!(direct.len(), 1);
    assert_eq!(
        direct[0]["scope"],
        json!({"project": {"id": parent}, "OS-INHERIT:inherited_to": "projects"})
    );
    assert_eq!(direct[0]["links"]["assignment"], c.v3(&inh));
    assert_eq!(
        c.role_assignments(
            &t,
            &format!("?user.id={uid}&scope.OS-INHERIT:inherited_to=projects")
        )
        .await
        .len(),
        1
    );
    assert!(c
        .role_assignments(
            &t,
            &format!("?user.id={uid}&scope.OS-INHERIT:inherited_to=none")
        )
        .await
        .is_empty());

    let eff = c
        .role_assignments(&t, &format!("?user.id={uid}&effective"))
        .await;
    let on = |pid: &str, rid: &str| {
        eff.iter()
            .filter(|a| a["scope"]["project"]["id"] == pid && a["role"]["id"] == rid)
            .cloned()
            .collect::<Vec<_>>()
    };
    let via_group = on(&parent, &member);
    assert_eq!(via_group.len(), 1, "{eff:#?}");
    assert_eq!(via_group[0]["user"]["id"], uid.as_str());
    assert_eq!(
        via_group[0]["links"]["membership"],
        c.v3(&format!("/groups/{gid}/users/{uid}"))
    );
    assert_eq!(
        via_group[0]["links"]["assignment"],
        c.v3(&format!("/projects/{parent}/groups/{gid}/roles/{member}"))
    );
    let implied = on(&parent, &reader);
    assert_eq!(implied.len(), 1, "member implies reader: {eff:#?}");
    assert_eq!(
        implied[0]["links"]["prior_role"],
        c.v3(&format!("/prior_role/{reader}/implies/{member}"))
    );
    let inherited = on(&child, &reader);
    assert_eq!(inherited.len(), 1, "{eff:#?}");
    assert_eq!(inherited[0]["scope"]["OS-INHERIT:inherited_to"], "projects");
    assert_eq!(inherited[0]["links"]["assignment"], c.v3(&inh));
    assert!(on(&child, &member).is_empty());
    assert!(
        eff.iter().all(|a| a.get("group").is_none()),
        "no group rows in effective mode"
    );

    let eff_child = c
        .role_assignments(
            &t,
            &format!("?user.id={uid}&scope.project.id={child}&effective&include_names"),
        )
        .await;
    assert_eq!(eff_child.len(), 1, "{eff_child:#?}");
    assert_eq!(eff_child[0]["role"]["name"], "reader");
    assert_eq!(eff_child[0]["scope"]["project"]["name"], "child");
    let subtree = c
        .role_assignments(
            &t,
            &format!("?scope.project.id={parent}&include_subtree=true"),
        )
        .await;
    assert_eq!(
        subtree.len(),
        2,
        "the group grant and the inherited grant: {subtree:#?}"
    );

    // The inherited grant lets the user into the child, and only the child's tree.
    let tok = c.project_token("frank", &child).await;
    assert_eq!(tok.status, 201, "{}", tok.text);
    assert_eq!(tok.body["token"]["roles"].as_array().unwrap().len(), 1);
    assert_eq!(
        c.req(Method::DELETE, &c.v3(&inh), Some(&t), None)
            .await
            .status,
        204
    );
    assert_eq!(c.project_token("frank", &child).await.status, 401);

    // Domain-inherited grants reach every project of the domain.
    let dinh =
        format!("/OS-INHERIT/domains/default/users/{uid}/roles/{reader}/inherited_to_projects");
    assert_eq!(
        c.req(Method::PUT, &c.v3(&dinh), Some(&t), None)
            .await
            .status,
        204
    );
    assert_eq!(
        c.grant_roles(
            &t,
            &format!("/OS-INHERIT/domains/default/users/{uid}/roles/inherited_to_projects")
        )
        .await,
        ["reader"]
    );
    assert!(c
        .grant_roles(&t, &format!("/domains/default/users/{uid}/roles"))
        .await
        .is_empty());
    assert_eq!(c.project_token("frank", &child).await.status, 201);
    let eff = c
        .role_assignments(
            &t,
            &format!("?user.id={uid}&scope.project.id={child}&effective"),
        )
        .await;
    assert_eq!(eff[0]["links"]["assignment"], c.v3(&dinh));
    assert_eq!(
        c.req(Method::DELETE, &c.v3(&dinh), Some(&t), None)
            .await
            .status,
        204
    );
    assert_eq!(
        c.req(Method::DELETE, &c.v3(&dinh), Some(&t), None)
            .await
            .status,
        404
    );
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_and_listing_policy_matrix() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let (a_uid, a_pid, member_a) = c.user_with_role(&t, "gina", "member").await;
    let (_, b_pid, reader_b) = c.user_with_role(&t, "hank", "reader").await;
    let reader = c.role_id(&t, "reader").await;
    let admin = c.role_id(&t, "admin").await;
    for tok in [&member_a, &reader_b] {
        for path in [
            "/role_assignments".to_string(),
            format!("/role_assignments?scope.project.id={b_pid}"),
            format!("/role_assignments?scope.project.id={a_pid}"),
        ] {
            let r = c.req(Method::GET, &c.v3(&path), Some(tok), None).await;
            assert_eq!(r.status, 403, "{path}: {}", r.text);
        }
        for (m, path) in [
            (
                Method::PUT,
                format!("/projects/{a_pid}/users/{a_uid}/roles/{admin}"),
            ),
            (
                Method::PUT,
                format!("/projects/{b_pid}/users/{a_uid}/roles/{reader}"),
            ),
            (
                Method::DELETE,
                format!("/projects/{a_pid}/users/{a_uid}/roles/{reader}"),
            ),
            (Method::PUT, format!("/system/users/{a_uid}/roles/{reader}")),
            (
                Method::PUT,
                format!("/domains/default/users/{a_uid}/roles/{reader}"),
            ),
            (
                Method::GET,
                format!("/projects/{b_pid}/users/{a_uid}/roles"),
            ),
        ] {
            let r = c.req(m.clone(), &c.v3(&path), Some(tok), None).await;
            assert_eq!(r.status, 403, "{m} {path}: {}", r.text);
        }
    }
    assert!(
        c.grant_roles(&t, &format!("/projects/{a_pid}/users/{a_uid}/roles"))
            .await
            == ["member"],
        "denied writes changed nothing"
    );
    assert!(c
        .grant_roles(&t, &format!("/system/users/{a_uid}/roles"))
        .await
        .is_empty());
    assert_eq!(
        c.req(Method::GET, &c.v3("/role_assignments"), Some("bogus"), None)
            .await
            .status,
        401
    );
    assert_eq!(
        c.req(
            Method::PUT,
            &c.v3(&format!("/projects/{a_pid}/users/{a_uid}/roles/{reader}")),
            None,
            None
        )
        .await
        .status,
        401
    );

    // A domain-scoped reader sees its domain's assignments only (no system ones).
    assert_eq!(
        c.req(
            Method::PUT,
            &c.v3(&format!("/domains/default/users/{a_uid}/roles/{reader}")),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
    let auth = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": a_uid, "password": "pw-123456"}}}, "scope": {"domain": {"id": "default"}}}});
    let r = c
        .req(Method::POST, &c.v3("/auth/tokens"), None, Some(auth))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let dt = r.header("x-subject-token");
    let seen = c.role_assignments(&dt, "").await;
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|a| a["scope"].get("system").is_none()),
        "{seen:#?}"
    );
    let w = c
        .req(
            Method::PUT,
            &c.v3(&format!("/projects/{b_pid}/users/{a_uid}/roles/{reader}")),
            Some(&dt),
            None,
        )
        .await;
    assert_eq!(w.status, 403, "a domain reader cannot grant");
    c.stop().await.unwrap();
}

/// A domain manager grants the roles it may manage (manager, member, reader) within its
/// domain, and no others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_manager_grants_within_its_domain() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let (mgr, _, _) = c.user_with_role(&t, "mgr", "member").await;
    let manager = c.role_id(&t, "manager").await;
    let member = c.role_id(&t, "member").await;
    let admin = c.role_id(&t, "admin").await;
    let g = format!("/domains/default/users/{mgr}/roles/{manager}");
    assert_eq!(
        c.req(Method::PUT, &c.v3(&g), Some(&t), None).await.status,
        204
    );
    let auth = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": mgr, "password": "pw-123456"}}}, "scope": {"domain": {"id": "default"}}}});
    let r = c
        .req(Method::POST, &c.v3("/auth/tokens"), None, Some(auth))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mt = r.header("x-subject-token");
    let uid = c.create_user(&t, "worker").await;
    let pid = project(&c, &t, "site", None).await;
    let ok = c
        .req(
            Method::PUT,
            &c.v3(&format!("/projects/{pid}/users/{uid}/roles/{member}")),
            Some(&mt),
            None,
        )
        .await;
    assert_eq!(ok.status, 204, "{}", ok.text);
    let no = c
        .req(
            Method::PUT,
            &c.v3(&format!("/projects/{pid}/users/{uid}/roles/{admin}")),
            Some(&mt),
            None,
        )
        .await;
    assert_eq!(no.status, 403, "{}", no.text);
    assert_eq!(
        c.req(Method::GET, &c.v3("/roles"), Some(&mt), None)
            .await
            .status,
        200
    );
    assert_eq!(
        c.req(
            Method::GET,
            &c.v3(&format!("/roles/{member}")),
            Some(&mt),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        c.req(
            Method::GET,
            &c.v3(&format!("/roles/{admin}")),
            Some(&mt),
            None
        )
        .await
        .status,
        403
    );
    let seen = c
        .role_assignments(&mt, &format!("?scope.project.id={pid}"))
        .await;
    assert_eq!(seen.len(), 1);
    let del = c
        .req(
            Method::DELETE,
            &c.v3(&format!("/projects/{pid}/users/{uid}/roles/{member}")),
            Some(&mt),
            None,
        )
        .await;
    assert_eq!(del.status, 204);
    c.stop().await.unwrap();
}
