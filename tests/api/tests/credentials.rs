//! `/v3/credentials` over raw HTTP: EC2 ids, validation, ownership and delegation.

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

async fn post(c: &TestCloud, tok: &str, path: &str, body: Value) -> Resp {
    c.req(Method::POST, &c.v3(path), Some(tok), Some(body))
        .await
}

async fn patch(c: &TestCloud, tok: &str, path: &str, body: Value) -> Resp {
    c.req(Method::PATCH, &c.v3(path), Some(tok), Some(body))
        .await
}

async fn list_ids(c: &TestCloud, tok: &str, query: &str) -> Vec<String> {
    let r = get(c, tok, &format!("/credentials{query}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut ids: Vec<String> = r.body["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn ec2(user: &str, project: &str, access: &str) -> Value {
    json!({"credential": {"type": "ec2", "user_id": user, "project_id": project,
        "blob": json!({"access": access, "secret": "s"}).to_string()}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_credential_lifecycle_and_validation() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let (uid, pid, _) = c.user_with_role(&admin, "dave", "member").await;

    let r = post(&c, &admin, "/credentials", ec2(&uid, &pid, "a")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let cred = &r.body["credential"];
    let mut k: Vec<&String> = cred.as_object().unwrap().keys().collect();
    k.sort();
    assert_eq!(k, ["blob", "id", "links", "project_id", "type", "user_id"]);
    let id = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"; // sha256("a")
    assert_eq!(cred["id"], id);
    assert_eq!(
        cred["blob"],
        json!({"access": "a", "secret": "s"}).to_string()
    );
    assert_eq!(cred["links"]["self"], c.v3(&format!("/credentials/{id}")));

    // Same access key again: 409. Validation: 400, and nothing written.
    let dup = post(&c, &admin, "/credentials", ec2(&uid, &pid, "a")).await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.body["error"]["message"], format!("Conflict occurred attempting to store credential - Duplicate entry found with ID {id}."));
    let cases = [
        json!({"credential": {"type": "ec2", "user_id": uid, "blob": "{\"access\": \"b\"}"}}),
        json!({"credential": {"type": "ec2", "user_id": uid, "project_id": pid, "blob": "not json"}}),
        json!({"credential": {"type": "ec2", "user_id": uid, "project_id": pid, "blob": "{\"secret\": \"s\"}"}}),
        json!({"credential": {"type": "ec2", "user_id": uid, "project_id": pid, "blob": "[]"}}),
        json!({"credential": {"type": "ec2", "user_id": uid, "project_id": pid, "blob": {"access": "b"}}}),
        json!({"credential": {"type": "ec2", "project_id": pid, "blob": "{\"access\": \"b\"}"}}),
        json!({"credential": {"user_id": uid, "blob": "x"}}),
        json!({"credential": {"type": "totp", "user_id": uid}}),
        json!({"credential": {"type": 1, "user_id": uid, "blob": "x"}}),
        json!({"credential": []}),
    ];
    for body in cases {
        let r = post(&c, &admin, "/credentials", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.body["error"]["title"], "Bad Request");
    }
    assert_eq!(list_ids(&c, &admin, "").await, [id]);

    // Other types get a random id.
    let r = post(
        &c,
        &admin,
        "/credentials",
        json!({"credential": {"type": "totp", "user_id": uid, "blob": "seed"}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["credential"]["project_id"], Value::Null);
    let totp = r.body["credential"]["id"].as_str().unwrap().to_string();
    assert_eq!(totp.len(), 32);
    assert_eq!(list_ids(&c, &admin, "?type=ec2").await, [id]);
    assert_eq!(
        list_ids(&c, &admin, &format!("?user_id={uid}")).await.len(),
        2
    );
    assert!(list_ids(&c, &admin, "?user_id=nobody").await.is_empty());

    // PATCH: the blob may change, the id and bound keys may not.
    let p = patch(
        &c,
        &admin,
        &format!("/credentials/{id}"),
        json!({"credential": {"blob": "{\"access\": \"a\", \"secret\": \"new\"}"}}),
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(
        p.body["credential"]["blob"],
        "{\"access\": \"a\", \"secret\": \"new\"}"
    );
    assert_eq!(p.body["credential"]["id"], id);
    for body in [
        json!({"credential": {"id": "other"}}),
        json!({"credential": {"blob": "{\"access\": \"a\", \"app_cred_id\": \"x\"}"}}),
        json!({"credential": {"blob": "nope"}}),
        json!({"credential": {"project_id": null}}),
        json!({"credential": {}}),
    ] {
        let r = patch(&c, &admin, &format!("/credentials/{id}"), body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }
    let g = get(&c, &admin, &format!("/credentials/{id}")).await;
    assert_eq!(
        g.body["credential"]["blob"],
        "{\"access\": \"a\", \"secret\": \"new\"}"
    );
    assert_eq!(g.body["credential"]["project_id"], pid.as_str());

    assert_eq!(
        del(&c, &admin, &format!("/credentials/{id}")).await.status,
        204
    );
    let g = get(&c, &admin, &format!("/credentials/{id}")).await;
    assert_eq!(g.status, 404);
    assert_eq!(
        g.body["error"]["message"],
        format!("Could not find credential: {id}.")
    );
    assert_eq!(
        del(&c, &admin, &format!("/credentials/{id}")).await.status,
        404
    );
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_see_and_manage_only_their_own() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let (erin, epid, etok) = c.user_with_role(&admin, "erin", "member").await;
    let (frank, fpid, ftok) = c.user_with_role(&admin, "frank", "member").await;

    let r = post(&c, &etok, "/credentials", ec2(&erin, &epid, "erin-key")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let eid = r.body["credential"]["id"].as_str().unwrap().to_string();
    let r = post(&c, &ftok, "/credentials", ec2(&frank, &fpid, "frank-key")).await;
    assert_eq!(r.status, 201);
    let fid = r.body["credential"]["id"].as_str().unwrap().to_string();

    // Creating for someone else, reading, changing or deleting theirs: 403.
    let r = post(&c, &etok, "/credentials", ec2(&frank, &fpid, "sneaky")).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(
        r.body["error"]["message"],
        "You are not authorized to perform the requested action: identity:create_credential."
    );
    for (m, body) in [
        (Method::GET, None),
        (
            Method::PATCH,
            Some(json!({"credential": {"blob": "{\"access\": \"frank-key\"}"}})),
        ),
        (Method::DELETE, None),
    ] {
        let r = c
            .req(
                m.clone(),
                &c.v3(&format!("/credentials/{fid}")),
                Some(&etok),
                body.clone(),
            )
            .await;
        assert_eq!(r.status, 403, "{m}: {}", r.text);
        assert_eq!(
            c.req(
                m.clone(),
                &c.v3(&format!("/credentials/{fid}")),
                Some("bad"),
                body
            )
            .await
            .status,
            401
        );
    }
    // Nor give one's own away.
    let r = patch(
        &c,
        &etok,
        &format!("/credentials/{eid}"),
        json!({"credential": {"user_id": frank}}),
    )
    .await;
    assert_eq!(r.status, 403);
    // An unknown id is 403 for users (nothing to own) and 404 for admins.
    assert_eq!(get(&c, &etok, "/credentials/nope").await.status, 403);
    assert_eq!(get(&c, &admin, "/credentials/nope").await.status, 404);

    // Lists are filtered to what the caller may see, whatever the query says.
    assert_eq!(list_ids(&c, &etok, "").await, std::slice::from_ref(&eid));
    assert!(list_ids(&c, &etok, &format!("?user_id={frank}"))
        .await
        .is_empty());
    let mut both = vec![eid.clone(), fid.clone()];
    both.sort();
    assert_eq!(list_ids(&c, &admin, "").await, both);
    assert_eq!(get(&c, "bad", "/credentials").await.status, 401);

    // The owner may read, change and delete their own.
    assert_eq!(
        get(&c, &etok, &format!("/credentials/{eid}")).await.status,
        200
    );
    let p = patch(
        &c,
        &etok,
        &format!("/credentials/{eid}"),
        json!({"credential": {"blob": "{\"access\": \"erin-key\", \"secret\": \"2\"}"}}),
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(
        del(&c, &etok, &format!("/credentials/{eid}")).await.status,
        204
    );
    assert_eq!(list_ids(&c, &admin, "").await, [fid]);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_credential_tokens_are_bound_to_their_project() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let (uid, pid, tok) = c.user_with_role(&admin, "gina", "member").await;
    let other = post(
        &c,
        &admin,
        "/projects",
        json!({"project": {"name": "elsewhere"}}),
    )
    .await;
    let other_pid = other.body["project"]["id"].as_str().unwrap().to_string();
    let acs = c.v3(&format!("/users/{uid}/application_credentials"));
    let mut tokens = Vec::new();
    for (name, unrestricted) in [("r", false), ("u", true)] {
        let r = c.req(Method::POST, &acs, Some(&tok), Some(json!({"application_credential": {"name": name, "secret": name, "unrestricted": unrestricted}}))).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.body["application_credential"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let body = json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": id, "secret": name}}}});
        let t = c
            .req(Method::POST, &c.v3("/auth/tokens"), None, Some(body))
            .await;
        assert_eq!(t.status, 201, "{}", t.text);
        tokens.push((id, t.header("x-subject-token")));
    }
    let (_, restricted) = &tokens[0];
    let (ucid, unrestricted) = &tokens[1];

    let r = post(&c, restricted, "/credentials", ec2(&uid, &pid, "k1")).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"]["message"], "You are not authorized to perform the requested action: Using method 'application_credential' is not allowed for managing additional credentials.");
    let r = post(
        &c,
        unrestricted,
        "/credentials",
        ec2(&uid, &other_pid, "k1"),
    )
    .await;
    assert_eq!(
        r.status, 403,
        "another project than the token's: {}",
        r.text
    );
    let r = post(&c, unrestricted, "/credentials", ec2(&uid, &pid, "k1")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let blob: Value = serde_json::from_str(r.body["credential"]["blob"].as_str().unwrap()).unwrap();
    assert_eq!(
        blob["app_cred_id"],
        ucid.as_str(),
        "bound to the application credential"
    );

    // A credential of the user's on another project is out of reach of the delegated token.
    let r = post(&c, &tok, "/credentials", ec2(&uid, &other_pid, "k2")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let k2 = r.body["credential"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        get(&c, unrestricted, &format!("/credentials/{k2}"))
            .await
            .status,
        403
    );
    assert_eq!(list_ids(&c, unrestricted, "").await.len(), 1);
    assert_eq!(list_ids(&c, &tok, "").await.len(), 2);
    c.stop().await.unwrap();
}
