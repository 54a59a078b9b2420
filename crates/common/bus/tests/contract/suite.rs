//! The contract every [`Bus`] keeps, written once against `Arc<dyn Bus>`. Every wait is
//! bounded so a broken bus fails fast instead of hanging.

use std::{
    collections::BTreeSet,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use common_bus::{Bus, RpcHandler, Value};
use common_error::Error;
use futures_util::future::join_all;
use serde_json::json;
use tokio::sync::mpsc;

/// Upper bound for any single step of a case.
const WAIT: Duration = Duration::from_secs(10);
/// Timeout for calls that are expected to be answered.
const CALL: Duration = Duration::from_secs(5);
/// Timeout for calls that are expected to time out.
const SHORT: Duration = Duration::from_millis(300);
/// How long to watch for a message that must not come.
const QUIET: Duration = Duration::from_millis(300);

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what} did not finish within {WAIT:?}"),
    }
}

/// Returns the method and the args it was called with.
struct Echo;

#[async_trait::async_trait]
impl RpcHandler for Echo {
    async fn handle(&self, method: &str, args: Value) -> Result<Value, Error> {
        Ok(json!({"method": method, "args": args}))
    }
}

/// Fails with the error named by the method, or panics on "panic".
struct Failing;

fn error_for(method: &str) -> Error {
    match method {
        "not_found" => Error::not_found("server", "4f1c-abc"),
        "conflict" => Error::conflict("Instance is in task_state deleting."),
        "bad_request" => Error::bad_request("Invalid flavorRef provided."),
        "forbidden" => Error::forbidden("Policy doesn't allow os_compute_api:servers:create."),
        "unavailable" => Error::Unavailable("database is down".into()),
        other => Error::Internal(format!("unexpected method {other}")),
    }
}

#[async_trait::async_trait]
impl RpcHandler for Failing {
    async fn handle(&self, method: &str, _args: Value) -> Result<Value, Error> {
        if method == "panic" {
            panic!("handler panics on purpose");
        }
        if method == "ok" {
            return Ok(json!("fine"));
        }
        Err(error_for(method))
    }
}

/// What a [`Recorder`] saw.
#[derive(Debug)]
struct Seen {
    server: &'static str,
    method: String,
    args: Value,
}

/// Reports every request to a channel and answers `{"server", "args"}`; sleeps
/// `args.delay_ms` first when given.
struct Recorder {
    name: &'static str,
    tx: mpsc::UnboundedSender<Seen>,
}

fn recorder(name: &'static str, tx: &mpsc::UnboundedSender<Seen>) -> Arc<dyn RpcHandler> {
    Arc::new(Recorder {
        name,
        tx: tx.clone(),
    })
}

#[async_trait::async_trait]
impl RpcHandler for Recorder {
    async fn handle(&self, method: &str, args: Value) -> Result<Value, Error> {
        if let Some(ms) = args.get("delay_ms").and_then(Value::as_u64) {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let _ = self.tx.send(Seen {
            server: self.name,
            method: method.to_owned(),
            args: args.clone(),
        });
        Ok(json!({"server": self.name, "args": args}))
    }
}

/// Waits out [`QUIET`] and returns whatever else arrived meanwhile.
async fn leftovers(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Vec<Seen> {
    tokio::time::sleep(QUIET).await;
    let mut extra = Vec::new();
    while let Ok(seen) = rx.try_recv() {
        extra.push(seen);
    }
    extra
}

fn assert_timed_out(result: Result<Value, Error>) {
    match result {
        Err(Error::Unavailable(msg)) => assert!(msg.contains("timed out"), "{msg}"),
        other => panic!("expected Unavailable(.. timed out ..), got {other:?}"),
    }
}

pub async fn call_round_trip(bus: Arc<dyn Bus>) {
    let topic = unique("echo");
    let _server = within("serve", bus.serve(&topic, Arc::new(Echo)))
        .await
        .unwrap();
    let args = json!({"n": 1, "name": "vm-1", "tags": ["a", "b"], "nested": {"x": null}});
    let got = within("call", bus.call(&topic, "ping", args.clone(), CALL)).await;
    assert_eq!(got.unwrap(), json!({"method": "ping", "args": args}));
}

pub async fn handler_errors_keep_variant_and_message(bus: Arc<dyn Bus>) {
    let topic = unique("failing");
    let _server = within("serve", bus.serve(&topic, Arc::new(Failing)))
        .await
        .unwrap();
    for method in [
        "not_found",
        "conflict",
        "bad_request",
        "forbidden",
        "unavailable",
    ] {
        let got = within("call", bus.call(&topic, method, json!({}), CALL)).await;
        let err = got.unwrap_err();
        let want = error_for(method);
        assert_eq!(err, want, "{method}");
        assert_eq!(err.to_string(), want.to_string(), "{method}");
    }
}

pub async fn handler_panic_is_an_internal_error(bus: Arc<dyn Bus>) {
    let topic = unique("panicky");
    let _server = within("serve", bus.serve(&topic, Arc::new(Failing)))
        .await
        .unwrap();
    let got = within("call", bus.call(&topic, "panic", json!({}), CALL)).await;
    assert!(matches!(got, Err(Error::Internal(_))), "{got:?}");
    // The server survives its handler's panic.
    let got = within("call", bus.call(&topic, "ok", json!({}), CALL)).await;
    assert_eq!(got.unwrap(), json!("fine"));
}

pub async fn call_without_server_times_out(bus: Arc<dyn Bus>) {
    let topic = unique("nobody");
    let start = Instant::now();
    let got = within("call", bus.call(&topic, "ping", json!({}), SHORT)).await;
    let elapsed = start.elapsed();
    assert_timed_out(got);
    assert!(
        elapsed >= SHORT - Duration::from_millis(20),
        "gave up early: {elapsed:?}"
    );
    assert!(
        elapsed < SHORT + Duration::from_millis(500),
        "overran: {elapsed:?}"
    );
}

pub async fn two_servers_share_the_load(bus: Arc<dyn Bus>) {
    let topic = unique("shared");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _a = within("serve a", bus.serve(&topic, recorder("a", &tx)))
        .await
        .unwrap();
    let _b = within("serve b", bus.serve(&topic, recorder("b", &tx)))
        .await
        .unwrap();
    let calls = (0..20).map(|n| bus.call(&topic, "work", json!({"n": n}), CALL));
    let replies = within("20 calls", join_all(calls)).await;
    let mut answered_by = Vec::new();
    for (n, reply) in replies.into_iter().enumerate() {
        let reply = reply.unwrap();
        assert_eq!(reply["args"]["n"], json!(n));
        answered_by.push(reply["server"].as_str().unwrap().to_owned());
    }
    let by_a = answered_by.iter().filter(|s| *s == "a").count();
    assert!(
        by_a > 0 && by_a < 20,
        "load not shared: a answered {by_a} of 20"
    );

    let mut handled = Vec::new();
    while let Ok(seen) = rx.try_recv() {
        handled.push(seen.args["n"].as_u64().unwrap());
    }
    handled.extend(
        leftovers(&mut rx)
            .await
            .iter()
            .map(|s| s.args["n"].as_u64().unwrap()),
    );
    handled.sort_unstable();
    assert_eq!(
        handled,
        (0..20).collect::<Vec<u64>>(),
        "each request handled exactly once"
    );
}

pub async fn cast_is_delivered_once(bus: Arc<dyn Bus>) {
    let topic = unique("cast");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _a = within("serve a", bus.serve(&topic, recorder("a", &tx)))
        .await
        .unwrap();
    let _b = within("serve b", bus.serve(&topic, recorder("b", &tx)))
        .await
        .unwrap();
    within("cast", bus.cast(&topic, "build", json!({"n": 7})))
        .await
        .unwrap();
    let seen = within("cast delivery", rx.recv()).await.unwrap();
    assert_eq!(seen.method, "build");
    assert_eq!(seen.args, json!({"n": 7}));
    let extra = leftovers(&mut rx).await;
    assert!(extra.is_empty(), "cast delivered more than once: {extra:?}");
}

pub async fn cast_before_any_server_is_kept(bus: Arc<dyn Bus>) {
    let topic = unique("early");
    for n in 0..3 {
        within("cast", bus.cast(&topic, "build", json!({"n": n})))
            .await
            .unwrap();
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _server = within("serve", bus.serve(&topic, recorder("late", &tx)))
        .await
        .unwrap();
    let mut got = BTreeSet::new();
    for _ in 0..3 {
        let seen = within("buffered cast", rx.recv()).await.unwrap();
        assert_eq!(seen.server, "late");
        got.insert(seen.args["n"].as_u64().unwrap());
    }
    assert_eq!(got, BTreeSet::from([0, 1, 2]));
    let extra = leftovers(&mut rx).await;
    assert!(extra.is_empty(), "cast delivered more than once: {extra:?}");
}

pub async fn notifications_fan_out_and_filter(bus: Arc<dyn Bus>) {
    // Prefixed so that parallel tests sharing the broker's exchange never see these.
    let ns = unique("events");
    let mut narrow = within("subscribe", bus.subscribe(&format!("{ns}.a.*")))
        .await
        .unwrap();
    let mut wide = within("subscribe", bus.subscribe(&format!("{ns}.#")))
        .await
        .unwrap();
    for (event, k) in [("c.d", 1), ("a.b.c", 2), ("a.b", 3)] {
        let event_type = format!("{ns}.{event}");
        within(
            "notify",
            bus.notify("compute.host1", &event_type, json!({"k": k})),
        )
        .await
        .unwrap();
    }

    let mut wide_ids = Vec::new();
    for (event, k) in [("c.d", 1), ("a.b.c", 2), ("a.b", 3)] {
        let got = within("wide subscriber", wide.recv()).await.unwrap();
        assert_eq!(got.event_type, format!("{ns}.{event}"));
        assert_eq!(got.payload, json!({"k": k}));
        wide_ids.push(got.message_id);
    }

    // "c.d" and "a.b.c" were published first; the first the narrow one gets must be "a.b".
    let got = within("narrow subscriber", narrow.recv()).await.unwrap();
    assert_eq!(got.event_type, format!("{ns}.a.b"));
    assert_eq!(got.payload, json!({"k": 3}));
    assert_eq!(got.publisher_id, "compute.host1");
    assert_eq!(got.priority, "INFO");
    assert_eq!(
        got.message_id, wide_ids[2],
        "both subscribers get the same notification"
    );
    let ts = got.timestamp.as_bytes();
    assert_eq!(ts.len(), 26, "{}", got.timestamp);
    assert_eq!(
        (ts[4], ts[10], ts[13], ts[19]),
        (b'-', b' ', b':', b'.'),
        "{}",
        got.timestamp
    );

    tokio::time::sleep(QUIET).await;
    assert!(
        narrow.try_recv().is_err(),
        "narrow subscriber got a non-matching event"
    );
    assert!(
        wide.try_recv().is_err(),
        "wide subscriber got an extra event"
    );
}

pub async fn concurrent_calls_are_correlated(bus: Arc<dyn Bus>) {
    let topic = unique("many");
    let (tx, _rx) = mpsc::unbounded_channel();
    let _server = within("serve", bus.serve(&topic, recorder("s", &tx)))
        .await
        .unwrap();
    // Varying delays make replies come back out of order.
    let calls = (0..50u64).map(|n| {
        let args = json!({"n": n, "delay_ms": (n * 7) % 23});
        bus.call(&topic, "work", args, CALL)
    });
    let replies = within("50 calls", join_all(calls)).await;
    for (n, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.unwrap()["args"]["n"], json!(n), "reply for call {n}");
    }
}

pub async fn stop_ends_delivery_to_the_server(bus: Arc<dyn Bus>) {
    let topic = unique("stopping");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let a = within("serve a", bus.serve(&topic, recorder("a", &tx)))
        .await
        .unwrap();
    let b = within("serve b", bus.serve(&topic, recorder("b", &tx)))
        .await
        .unwrap();
    within("stop a", a.stop()).await;
    for n in 0..10 {
        let reply = within("call", bus.call(&topic, "work", json!({"n": n}), CALL)).await;
        assert_eq!(
            reply.unwrap()["server"],
            json!("b"),
            "call {n} reached a stopped server"
        );
    }
    within("stop b", b.stop()).await;
    assert_timed_out(within("call", bus.call(&topic, "work", json!({}), SHORT)).await);
    let mut seen = Vec::new();
    while let Ok(s) = rx.try_recv() {
        seen.push(s);
    }
    seen.extend(leftovers(&mut rx).await);
    assert_eq!(seen.len(), 10, "{seen:?}");
    assert!(seen.iter().all(|s| s.server == "b"), "{seen:?}");
}

pub async fn dropping_the_handle_stops_the_server(bus: Arc<dyn Bus>) {
    let topic = unique("dropping");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = within("serve", bus.serve(&topic, recorder("a", &tx)))
        .await
        .unwrap();
    within("call", bus.call(&topic, "work", json!({}), CALL))
        .await
        .unwrap();
    drop(server);
    // Dropping stops the server in the background; give it a moment.
    tokio::time::sleep(QUIET).await;
    assert_timed_out(within("call", bus.call(&topic, "work", json!({}), SHORT)).await);
    assert!(within("first request", rx.recv()).await.is_some());
    let extra = leftovers(&mut rx).await;
    assert!(
        extra.is_empty(),
        "a dropped server still got requests: {extra:?}"
    );
}

pub async fn invalid_names_are_bad_requests(bus: Arc<dyn Bus>) {
    let bad = |r: &Result<_, Error>| matches!(r, Err(Error::BadRequest(_)));
    let served = within("serve", bus.serve("", Arc::new(Echo))).await;
    assert!(bad(&served.map(|_| ())));
    let called = within("call", bus.call("has space", "m", json!({}), SHORT)).await;
    assert!(bad(&called.map(|_| ())));
    let cast = within("cast", bus.cast("wild.*", "m", json!({}))).await;
    assert!(bad(&cast));
    let notified = within("notify", bus.notify("p", "a.#", json!({}))).await;
    assert!(bad(&notified));
    let subscribed = within("subscribe", bus.subscribe("a*")).await;
    assert!(bad(&subscribed.map(|_| ())));
}
