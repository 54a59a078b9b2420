//! Image sharing over raw HTTP: members offered by the owner, answered by the consumer
//! project, and what each side may see and do.

mod image_common;

use api_tests::TestCloud;
use image_common::*;
use reqwest::Method;
use serde_json::json;

async fn listed(c: &TestCloud, t: &str, query: &str) -> Vec<String> {
    let r = get(c, t, &format!("/images{query}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_accept_reject_and_withdraw() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let (_a, pa, ta) = c.user_with_role(&admin, "owner", "member").await;
    let (_b, pb, tb) = c.user_with_role(&admin, "consumer", "member").await;
    let (_x, px, tx) = c.user_with_role(&admin, "stranger", "member").await;
    let id = create_raw(&c, &ta, "shared-img").await;
    let data = bytes(4096, 11);
    assert_eq!(upload(&c, &ta, &id, data.clone()).await.status, 204);
    assert_eq!(get(&c, &tb, &format!("/images/{id}")).await.status, 404);
    let members = v2(&c, &format!("/images/{id}/members"));
    let member = |m: &str| v2(&c, &format!("/images/{id}/members/{m}"));
    // Bad bodies.
    for (body, msg) in [
        (json!({}), "Member to be added not specified"),
        (json!({"member": ""}), "Member can't be empty"),
        (json!(["x"]), "Expected a member in the form"),
    ] {
        let r = c
            .req(Method::POST, &members, Some(&ta), Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}");
        assert!(html_text(&r).contains(msg), "{body}: {}", html_text(&r));
    }
    // Offer.
    let r = c
        .req(
            Method::POST,
            &members,
            Some(&ta),
            Some(json!({"member": pb})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["member_id"], pb);
    assert_eq!(r.body["image_id"], id);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["schema"], "/v2/schemas/member");
    assert!(r.body["created_at"].as_str().unwrap().ends_with('Z'));
    let dup = c
        .req(
            Method::POST,
            &members,
            Some(&ta),
            Some(json!({"member": pb})),
        )
        .await;
    assert_eq!(dup.status, 409);
    assert!(html_text(&dup).contains(&format!("Member {pb} is duplicated for image {id}")));
    assert_eq!(
        c.req(
            Method::POST,
            &members,
            Some(&ta),
            Some(json!({"member": px}))
        )
        .await
        .status,
        200
    );
    // The consumer sees the pending image by id, not in its default list.
    assert_eq!(get(&c, &tb, &format!("/images/{id}")).await.status, 200);
    assert!(listed(&c, &tb, "").await.is_empty());
    assert_eq!(
        listed(&c, &tb, "?member_status=pending").await,
        vec![id.clone()]
    );
    assert_eq!(
        listed(&c, &tb, "?member_status=all").await,
        vec![id.clone()]
    );
    // Only the consumer answers, only for itself.
    let r = c
        .req(
            Method::PUT,
            &member(&pb),
            Some(&ta),
            Some(json!({"status": "accepted"})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(html_text(&r).contains(&format!("Not allowed to update members for image {id}.")));
    assert_eq!(
        c.req(
            Method::PUT,
            &member(&px),
            Some(&tb),
            Some(json!({"status": "accepted"}))
        )
        .await
        .status,
        404
    );
    let r = c
        .req(
            Method::PUT,
            &member(&pb),
            Some(&tb),
            Some(json!({"status": "maybe"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(html_text(&r).contains("Status must be \"pending\", \"accepted\" or \"rejected\"."));
    let r = c
        .req(Method::PUT, &member(&pb), Some(&tb), Some(json!({})))
        .await;
    assert_eq!(r.status, 400);
    assert!(html_text(&r).contains("Status not specified"));
    let r = c
        .req(
            Method::PUT,
            &member(&pb),
            Some(&tb),
            Some(json!({"status": "accepted"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "accepted");
    assert_eq!(listed(&c, &tb, "").await, vec![id.clone()]);
    let (st, _, body) = download(&c, &tb, &id, None).await;
    assert_eq!(st, 200);
    assert!(body == data);
    // Member lists: the owner sees all, a consumer only itself.
    let r = c.req(Method::GET, &members, Some(&ta), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["schema"], "/v2/schemas/members");
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2);
    let r = c.req(Method::GET, &members, Some(&tb), None).await;
    assert_eq!(r.body["members"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["members"][0]["member_id"], pb);
    assert_eq!(
        c.req(Method::GET, &member(&pb), Some(&tb), None)
            .await
            .status,
        200
    );
    assert_eq!(
        c.req(Method::GET, &member(&px), Some(&tb), None)
            .await
            .status,
        404
    );
    assert_eq!(
        c.req(Method::GET, &member(&px), Some(&ta), None)
            .await
            .status,
        200
    );
    assert_eq!(
        c.req(Method::GET, &member("nobody"), Some(&ta), None)
            .await
            .status,
        404
    );
    // A consumer neither offers nor withdraws, nor changes the image.
    assert_eq!(
        c.req(
            Method::POST,
            &members,
            Some(&tb),
            Some(json!({"member": "zzz"}))
        )
        .await
        .status,
        403
    );
    assert_eq!(
        c.req(Method::DELETE, &member(&pb), Some(&tb), None)
            .await
            .status,
        403
    );
    assert_eq!(
        patch(
            &c,
            &tb,
            &id,
            json!([{"op": "replace", "path": "/name", "value": "mine"}])
        )
        .await
        .status,
        403
    );
    // Rejecting hides it again; the stranger never accepted so never listed it.
    let r = c
        .req(
            Method::PUT,
            &member(&px),
            Some(&tx),
            Some(json!({"status": "rejected"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(listed(&c, &tx, "").await.is_empty());
    assert_eq!(
        listed(&c, &tx, "?member_status=rejected").await,
        vec![id.clone()]
    );
    // Withdraw.
    assert_eq!(
        c.req(Method::DELETE, &member(&pb), Some(&ta), None)
            .await
            .status,
        204
    );
    assert_eq!(
        c.req(Method::DELETE, &member(&pb), Some(&ta), None)
            .await
            .status,
        404
    );
    assert_eq!(get(&c, &tb, &format!("/images/{id}")).await.status, 404);
    assert!(listed(&c, &tb, "").await.is_empty());
    // The admin manages anyone's members.
    let r = c
        .req(
            Method::POST,
            &members,
            Some(&admin),
            Some(json!({"member": pb})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        c.req(Method::GET, &members, Some(&admin), None).await.body["members"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let _ = pa;
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_shared_images_have_members() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let (_a, _pa, ta) = c.user_with_role(&admin, "owner2", "member").await;
    let (_b, pb, tb) = c.user_with_role(&admin, "consumer2", "member").await;
    let r = create(&c, &ta, json!({"name": "priv", "visibility": "private"})).await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let members = v2(&c, &format!("/images/{id}/members"));
    let r = c
        .req(
            Method::POST,
            &members,
            Some(&ta),
            Some(json!({"member": pb})),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(html_text(&r).contains(&format!("Not allowed to create members for image {id}.")));
    let r = c.req(Method::GET, &members, Some(&ta), None).await;
    assert_eq!(r.status, 403);
    assert!(html_text(&r).contains("Only shared images have members."));
    assert_eq!(
        c.req(Method::GET, &members, Some(&tb), None).await.status,
        404
    );
    // Back to shared: the offer works, and making it private again hides it from the member.
    assert_eq!(
        patch(
            &c,
            &ta,
            &id,
            json!([{"op": "replace", "path": "/visibility", "value": "shared"}])
        )
        .await
        .status,
        200
    );
    assert_eq!(
        c.req(
            Method::POST,
            &members,
            Some(&ta),
            Some(json!({"member": pb}))
        )
        .await
        .status,
        200
    );
    assert_eq!(get(&c, &tb, &format!("/images/{id}")).await.status, 200);
    assert_eq!(
        patch(
            &c,
            &ta,
            &id,
            json!([{"op": "replace", "path": "/visibility", "value": "private"}])
        )
        .await
        .status,
        200
    );
    assert_eq!(get(&c, &tb, &format!("/images/{id}")).await.status, 404);
    c.stop().await.unwrap();
}
