//! Request ids, health, metrics and rate limits.

use api_tests::TestCloud;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_metrics_count_requests_per_route() {
    let c = TestCloud::start().await.unwrap();
    let h = c
        .req(Method::GET, &format!("{}/healthz", c.base), None, None)
        .await;
    assert_eq!(h.status, 200);
    let t = c.admin_token().await;
    for _ in 0..3 {
        let r = c.req(Method::GET, &c.v3("/projects"), Some(&t), None).await;
        assert!(r.header("x-openstack-request-id").starts_with("req-"));
    }
    let m = c
        .client
        .get(format!("{}/metrics", c.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains(r#"ferrostack_http_requests_total{service="identity",method="GET",route="/identity/v3/projects",status="200"} 3"#),
        "{m}"
    );
    assert!(m.contains("ferrostack_http_request_duration_seconds_bucket"));
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_is_rate_limited_per_user_with_retry_after() {
    let c = TestCloud::start_with(|cfg| {
        cfg.rate_limit.token_per_user_per_sec = 0.5;
        cfg.rate_limit.token_burst = 3.0;
    })
    .await
    .unwrap();
    for _ in 0..3 {
        assert_eq!(c.token("admin", "wrong", None).await.status, 401);
    }
    let r = c.token("admin", &c.admin_password, Some("admin")).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
    assert_eq!(r.body["error"]["code"], 429);
    // Another user is not affected.
    assert_eq!(c.token("someone-else", "x", None).await.status, 401);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_is_rate_limited_per_source_address() {
    let c = TestCloud::start_with(|cfg| {
        cfg.rate_limit.token_per_addr_per_sec = 0.5;
        cfg.rate_limit.token_burst = 4.0;
    })
    .await
    .unwrap();
    for i in 0..4 {
        assert_eq!(c.token(&format!("user{i}"), "x", None).await.status, 401);
    }
    assert_eq!(c.token("user-new", "x", None).await.status, 429);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_requests_are_rate_limited_per_project() {
    let c = TestCloud::start_with(|cfg| {
        cfg.rate_limit.api_per_project_per_sec = 0.5;
        cfg.rate_limit.api_burst = 5.0;
    })
    .await
    .unwrap();
    let t = c.admin_token().await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(
            c.req(Method::GET, &c.v3("/projects"), Some(&t), None)
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(&statuses[..5], &[200; 5]);
    assert_eq!(statuses[6], 429);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_project_revokes_its_tokens() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    // A second admin token scoped to the demo project.
    let demo = c.token("admin", &c.admin_password, Some("demo")).await;
    assert_eq!(demo.status, 201);
    let demo_tok = demo.header("x-subject-token");
    let pid = demo.body["token"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        c.req(Method::GET, &c.v3("/projects"), Some(&demo_tok), None)
            .await
            .status,
        200
    );
    let r = c
        .req(
            Method::PATCH,
            &c.v3(&format!("/projects/{pid}")),
            Some(&admin),
            Some(json!({"project": {"enabled": false}})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        c.req(Method::GET, &c.v3("/projects"), Some(&demo_tok), None)
            .await
            .status,
        401
    );
    // Re-enabling does not resurrect the revoked token, and new tokens work again.
    let r = c
        .req(
            Method::PATCH,
            &c.v3(&format!("/projects/{pid}")),
            Some(&admin),
            Some(json!({"project": {"enabled": true}})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        c.req(Method::GET, &c.v3("/projects"), Some(&demo_tok), None)
            .await
            .status,
        401
    );
    assert_eq!(
        c.token("admin", &c.admin_password, Some("demo"))
            .await
            .status,
        201
    );
    c.stop().await.unwrap();
}
