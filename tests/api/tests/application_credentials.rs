//! Application credentials over raw HTTP: create (secret once), list/show/delete, the
//! `application_credential` auth method, role limits, expiry, revocation and policy.

// Helpers outside #[test] fns panic on a broken server, as the tests themselves do.
#![allow(clippy::unwrap_used)]

use api_tests::{Resp, TestCloud};
use reqwest::Method;
use serde_json::{json, Value};

async fn get(c: &TestCloud, tok: &str, path: &str) -> Resp {
    c.req(Method::GET, &c.v3(path), Some(tok), None).await
}

async fn del(c: &TestCloud, tok: &str, path: &str) -> Resp {
    c.req(Method::DELETE, &c.v3(path), Some(tok), None).await
}

fn ac_url(c: &TestCloud, uid: &str) -> String {
    c.v3(&format!("/users/{uid}/application_credentials"))
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) for `secs` from now.
fn iso_in(secs: i64) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + secs;
    let (days, rem) = (t.div_euclid(86400), t.rem_euclid(86400));
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

async fn whoami(c: &TestCloud, tok: &str) -> Value {
    let r = c
        .client
        .get(c.v3("/auth/tokens"))
        .header("X-Auth-Token", tok)
        .header("X-Subject-Token", tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["token"].clone()
}

async fn auth_ac(c: &TestCloud, ac: Value) -> Resp {
    let body = json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": ac}}});
    c.req(Method::POST, &c.v3("/auth/tokens"), None, Some(body))
        .await
}

fn role_names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_authenticate_and_delete() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let me = whoami(&c, &admin).await;
    let uid = me["user"]["id"].as_str().unwrap().to_string();
    let pid = me["project"]["id"].as_str().unwrap().to_string();
    let url = |uid: &str| ac_url(&c, uid);

    let r = c
        .req(
            Method::POST,
            &url(&uid),
            Some(&admin),
            Some(json!({"application_credential": {"name": "ac1", "description": "d"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ac = r.body["application_credential"].clone();
    let mut k: Vec<&String> = ac.as_object().unwrap().keys().collect();
    k.sort();
    assert_eq!(
        k,
        [
            "access_rules",
            "description",
            "expires_at",
            "id",
            "links",
            "name",
            "project_id",
            "roles",
            "secret",
            "system",
            "unrestricted",
            "user_id"
        ]
    );
    let id = ac["id"].as_str().unwrap().to_string();
    let secret = ac["secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 64, "a long generated secret");
    assert_eq!(ac["project_id"], pid.as_str());
    assert_eq!(ac["user_id"], uid.as_str());
    assert_eq!(ac["unrestricted"], false);
    assert_eq!(ac["expires_at"], Value::Null);
    assert_eq!(ac["access_rules"], json!([]));
    assert_eq!(
        role_names(&ac["roles"]),
        role_names(&me["roles"]),
        "default: all the token's roles"
    );
    assert_eq!(ac["roles"][0]["domain_id"], Value::Null);
    assert_eq!(ac["links"]["self"], format!("{}/{id}", url(&uid)));

    // The secret is shown once only.
    let l = c.req(Method::GET, &url(&uid), Some(&admin), None).await;
    assert_eq!(l.status, 200);
    assert_eq!(
        l.body["application_credentials"].as_array().unwrap().len(),
        1
    );
    assert_eq!(l.body["links"]["self"], url(&uid));
    let s = c
        .req(
            Method::GET,
            &format!("{}/{id}", url(&uid)),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s.status, 200);
    for text in [&l.text, &s.text] {
        assert!(
            !text.contains(&secret) && !text.contains("\"secret\""),
            "{text}"
        );
    }
    assert_eq!(
        c.req(
            Method::GET,
            &format!("{}?name=ac1", url(&uid)),
            Some(&admin),
            None
        )
        .await
        .body["application_credentials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        c.req(
            Method::GET,
            &format!("{}?name=zz", url(&uid)),
            Some(&admin),
            None
        )
        .await
        .body["application_credentials"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // Authenticate by id, then by name + user id, then by name + user name/domain.
    let t = auth_ac(&c, json!({"id": id, "secret": secret})).await;
    assert_eq!(t.status, 201, "{}", t.text);
    let tok = t.header("x-subject-token");
    let body = &t.body["token"];
    assert_eq!(body["methods"], json!(["application_credential"]));
    assert_eq!(body["project"]["id"], pid.as_str());
    assert_eq!(
        body["application_credential"],
        json!({"id": id, "name": "ac1", "restricted": true})
    );
    assert_eq!(role_names(&body["roles"]), role_names(&ac["roles"]));
    assert!(body["catalog"].as_array().is_some_and(|c| !c.is_empty()));
    assert_eq!(
        get(&c, &tok, "/regions").await.status,
        200,
        "the token works"
    );
    let by_name = auth_ac(
        &c,
        json!({"name": "ac1", "user": {"id": uid}, "secret": secret}),
    )
    .await;
    assert_eq!(by_name.status, 201, "{}", by_name.text);
    let by_user_name = auth_ac(&c, json!({"name": "ac1", "user": {"name": "admin", "domain": {"name": "Default"}}, "secret": secret})).await;
    assert_eq!(by_user_name.status, 201, "{}", by_user_name.text);
    // An application-credential token cannot get other tokens, nor another scope.
    let rescope = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": tok}}}});
    assert_eq!(
        c.req(Method::POST, &c.v3("/auth/tokens"), None, Some(rescope))
            .await
            .status,
        403
    );

    // Wrong secrets, unknown ids and names are all the same 401.
    for bad in [
        json!({"id": id, "secret": "wrong"}),
        json!({"id": "nope", "secret": secret}),
        json!({"name": "nope", "user": {"id": uid}, "secret": secret}),
        json!({"name": "ac1", "user": {"id": "nope"}, "secret": secret}),
    ] {
        let r = auth_ac(&c, bad.clone()).await;
        assert_eq!(r.status, 401, "{bad}: {}", r.text);
        assert_eq!(
            r.body["error"]["message"],
            "The request you have made requires authentication."
        );
    }

    // Deleting it kills its tokens and the credential.
    let d = c
        .req(
            Method::DELETE,
            &format!("{}/{id}", url(&uid)),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(d.status, 204, "{}", d.text);
    assert_eq!(get(&c, &tok, "/regions").await.status, 401);
    assert_eq!(
        auth_ac(&c, json!({"id": id, "secret": secret}))
            .await
            .status,
        401
    );
    let g = c
        .req(
            Method::GET,
            &format!("{}/{id}", url(&uid)),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(g.status, 404);
    assert_eq!(
        g.body["error"]["message"],
        format!("Could not find Application Credential: {id}.")
    );
    assert_eq!(
        c.req(
            Method::DELETE,
            &format!("{}/{id}", url(&uid)),
            Some(&admin),
            None
        )
        .await
        .status,
        404
    );
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_limited_to_the_creators() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let (uid, pid, tok) = c.user_with_role(&admin, "mallory", "member").await;
    let url = ac_url(&c, &uid);
    let count = || async {
        c.req(Method::GET, &url, Some(&tok), None).await.body["application_credentials"]
            .as_array()
            .unwrap()
            .len()
    };

    let admin_role = get(&c, &admin, "/roles?name=admin").await.body["roles"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cases = [
        (json!({"name": "x", "roles": [{"name": "admin"}]}), 400, "Invalid application credential: Cannot create an application credential with unassigned role"),
        (json!({"name": "x", "roles": [{"id": admin_role}]}), 400, "Invalid application credential: Cannot create an application credential with unassigned role"),
        (json!({"name": "x", "roles": [{"id": "0123abcd"}]}), 400, ""),
        (json!({"name": "x", "roles": [{"name": "no-such-role"}]}), 404, "Could not find role: no-such-role."),
        (json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}), 400, "The 'expires_at' must not be before now. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error."),
        (json!({"name": "x", "expires_at": "whenever"}), 400, ""),
        (json!({"name": ""}), 400, ""),
        (json!({"name": "n".repeat(256)}), 400, ""),
        (json!({"description": "no name"}), 400, "'name' is a required property"),
        (json!({"name": "x", "bogus": true}), 400, "Additional properties are not allowed ('bogus' was unexpected)"),
        (json!({"name": "x", "roles": "member"}), 400, ""),
        (json!({"name": "x", "unrestricted": "yes"}), 400, ""),
        (json!({"name": "x", "access_rules": [{"path": "/v2.1/servers", "method": "GET", "service": "compute"}]}), 400, ""),
    ];
    for (body, status, msg) in cases {
        let r = c
            .req(
                Method::POST,
                &url,
                Some(&tok),
                Some(json!({"application_credential": body.clone()})),
            )
            .await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
        if !msg.is_empty() {
            assert_eq!(r.body["error"]["message"], msg, "{body}");
        }
    }
    assert_eq!(count().await, 0, "nothing half-written");

    // A subset of the creator's roles: the role and what it implies.
    let r = c.req(Method::POST, &url, Some(&tok), Some(json!({"application_credential": {"name": "ro", "roles": [{"name": "reader"}], "secret": "my-secret", "expires_at": "2999-01-02T03:04:05"}}))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["application_credential"]["secret"], "my-secret");
    assert_eq!(
        r.body["application_credential"]["expires_at"],
        "2999-01-02T03:04:05.000000"
    );
    assert_eq!(
        role_names(&r.body["application_credential"]["roles"]),
        ["reader"]
    );
    let t = auth_ac(
        &c,
        json!({"name": "ro", "user": {"id": uid}, "secret": "my-secret"}),
    )
    .await;
    assert_eq!(t.status, 201, "{}", t.text);
    assert_eq!(role_names(&t.body["token"]["roles"]), ["reader"]);
    assert_eq!(t.body["token"]["project"]["id"], pid.as_str());
    assert!(
        t.body["token"]["expires_at"].as_str().unwrap() < "2999",
        "capped by the token lifetime"
    );

    // Duplicate names are 409.
    let dup = c
        .req(
            Method::POST,
            &url,
            Some(&tok),
            Some(json!({"application_credential": {"name": "ro"}})),
        )
        .await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.body["error"]["message"], "Conflict occurred attempting to store application_credential - Duplicate entry found with name ro.");
    assert_eq!(count().await, 1);

    // Losing the role on the project makes the credential useless.
    let member_role = get(&c, &admin, "/roles?name=member").await.body["roles"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ac_tok = t.header("x-subject-token");
    let g = del(
        &c,
        &admin,
        &format!("/projects/{pid}/users/{uid}/roles/{member_role}"),
    )
    .await;
    assert_eq!(g.status, 204, "{}", g.text);
    assert_eq!(
        auth_ac(
            &c,
            json!({"name": "ro", "user": {"id": uid}, "secret": "my-secret"})
        )
        .await
        .status,
        401
    );
    assert_eq!(get(&c, &ac_tok, "/regions").await.status, 401);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_credentials_cannot_authenticate() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let uid = whoami(&c, &admin).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .req(Method::POST, &ac_url(&c, &uid), Some(&admin), Some(json!({"application_credential": {"name": "brief", "secret": "s3", "expires_at": iso_in(2)}})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["application_credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = auth_ac(&c, json!({"id": id, "secret": "s3"})).await;
    assert_eq!(t.status, 201, "{}", t.text);
    let tok = t.header("x-subject-token");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        auth_ac(&c, json!({"id": id, "secret": "s3"})).await.status,
        401
    );
    assert_eq!(
        get(&c, &tok, "/regions").await.status,
        401,
        "its tokens die with it"
    );
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_users_and_restricted_tokens() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let (alice, _, atok) = c.user_with_role(&admin, "alice", "member").await;
    let (bob, _, btok) = c.user_with_role(&admin, "bob", "member").await;
    let url = |uid: &str| ac_url(&c, uid);
    let r = c
        .req(
            Method::POST,
            &url(&alice),
            Some(&atok),
            Some(json!({"application_credential": {"name": "a1", "secret": "sa"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let aid = r.body["application_credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Bob can neither see, nor delete, nor create alice's, whatever path he uses.
    let deny = [
        (Method::GET, url(&alice), None),
        (
            Method::POST,
            url(&alice),
            Some(json!({"application_credential": {"name": "b"}})),
        ),
        (Method::GET, format!("{}/{aid}", url(&alice)), None),
        (Method::GET, format!("{}/{aid}", url(&bob)), None),
        (Method::DELETE, format!("{}/{aid}", url(&alice)), None),
        (Method::DELETE, format!("{}/{aid}", url(&bob)), None),
    ];
    for (m, u, body) in &deny {
        let r = c.req(m.clone(), u, Some(&btok), body.clone()).await;
        assert_eq!(r.status, 403, "{m} {u}: {}", r.text);
        assert_eq!(
            c.req(m.clone(), u, Some("bogus"), body.clone())
                .await
                .status,
            401
        );
    }
    // Admin may read and delete it, but not create one for alice.
    let r = c
        .req(
            Method::POST,
            &url(&alice),
            Some(&admin),
            Some(json!({"application_credential": {"name": "adm"}})),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        c.req(
            Method::GET,
            &format!("{}/{aid}", url(&alice)),
            Some(&admin),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        c.req(Method::GET, &url(&alice), Some(&admin), None)
            .await
            .body["application_credentials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A restricted credential's token may not manage credentials; an unrestricted one may.
    let at = auth_ac(&c, json!({"id": aid, "secret": "sa"}))
        .await
        .header("x-subject-token");
    let r = c
        .req(
            Method::POST,
            &url(&alice),
            Some(&at),
            Some(json!({"application_credential": {"name": "a2"}})),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"]["message"], "You are not authorized to perform the requested action: Using method 'application_credential' is not allowed for managing additional application credentials.");
    assert_eq!(
        c.req(
            Method::DELETE,
            &format!("{}/{aid}", url(&alice)),
            Some(&at),
            None
        )
        .await
        .status,
        403
    );
    let r = c.req(Method::POST, &url(&alice), Some(&atok), Some(json!({"application_credential": {"name": "u", "secret": "su", "unrestricted": true}}))).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["application_credential"]["unrestricted"], true);
    let uid_ = r.body["application_credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ut = auth_ac(&c, json!({"id": uid_, "secret": "su"})).await;
    assert_eq!(
        ut.body["token"]["application_credential"]["restricted"],
        false
    );
    let r = c
        .req(
            Method::POST,
            &url(&alice),
            Some(&ut.header("x-subject-token")),
            Some(json!({"application_credential": {"name": "child"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let d = c
        .req(
            Method::DELETE,
            &format!("{}/{aid}", url(&alice)),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(d.status, 204);
    assert_eq!(get(&c, &at, "/regions").await.status, 401);

    // Deleting the user takes the credentials with it.
    assert_eq!(
        del(&c, &admin, &format!("/users/{alice}")).await.status,
        204
    );
    assert_eq!(
        auth_ac(&c, json!({"id": uid_, "secret": "su"}))
            .await
            .status,
        401
    );
    assert_eq!(
        c.req(
            Method::GET,
            &format!("{}/{uid_}", url(&alice)),
            Some(&admin),
            None
        )
        .await
        .status,
        404
    );
    c.stop().await.unwrap();
}
