//! RabbitMQ-only behaviour the contract cannot express: what is on the broker, and how the
//! bus copes with queues and messages it did not create. Needs the broker like the contract
//! suite (`FERROSTACK_TEST_AMQP_URL`) and fails when it is unreachable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use common_bus::{AmqpBus, AmqpConfig, Bus, RpcHandler, Value, RPC_QUEUE_PREFIX};
use common_error::Error;
use lapin::{
    options::{BasicPublishOptions, QueueDeleteOptions},
    BasicProperties, Channel, Connection, ConnectionProperties,
};
use serde_json::json;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

fn url() -> String {
    std::env::var("FERROSTACK_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

async fn bus() -> AmqpBus {
    let config = AmqpConfig {
        rpc_queue_expiry: Duration::from_secs(60),
        ..AmqpConfig::default()
    };
    AmqpBus::connect_with(&url(), config)
        .await
        .expect("RabbitMQ must be reachable (FERROSTACK_TEST_AMQP_URL)")
}

async fn raw_channel() -> Channel {
    let conn = Connection::connect(&url(), ConnectionProperties::default())
        .await
        .expect("RabbitMQ must be reachable (FERROSTACK_TEST_AMQP_URL)");
    conn.create_channel().await.unwrap()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Forwards each request's args to a channel and answers them back.
struct Forward(mpsc::UnboundedSender<Value>);

#[async_trait::async_trait]
impl RpcHandler for Forward {
    async fn handle(&self, _method: &str, args: Value) -> Result<Value, Error> {
        let _ = self.0.send(args.clone());
        Ok(args)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_are_dropped_and_serving_goes_on() {
    let bus = bus().await;
    let topic = unique("malformed");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _server = bus.serve(&topic, Arc::new(Forward(tx))).await.unwrap();

    let raw = raw_channel().await;
    let queue = format!("{RPC_QUEUE_PREFIX}{topic}");
    raw.basic_publish(
        "",
        &queue,
        BasicPublishOptions::default(),
        b"not json",
        BasicProperties::default(),
    )
    .await
    .unwrap();

    let reply = tokio::time::timeout(WAIT, bus.call(&topic, "m", json!({"n": 1}), WAIT))
        .await
        .unwrap();
    assert_eq!(reply.unwrap(), json!({"n": 1}));
    assert_eq!(rx.try_recv().unwrap(), json!({"n": 1}));
    assert!(
        rx.try_recv().is_err(),
        "the malformed message reached the handler"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_that_vanished_is_declared_again() {
    let bus = bus().await;
    let topic = unique("vanishing");
    let queue = format!("{RPC_QUEUE_PREFIX}{topic}");
    bus.cast(&topic, "m", json!({"n": 1})).await.unwrap();

    // As if the broker expired it (or restarted): the bus still believes it declared it.
    let raw = raw_channel().await;
    let deleted = raw
        .queue_delete(&queue, QueueDeleteOptions::default())
        .await
        .unwrap();
    assert_eq!(deleted, 1, "the first cast was waiting in the queue");

    bus.cast(&topic, "m", json!({"n": 2})).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _server = bus.serve(&topic, Arc::new(Forward(tx))).await.unwrap();
    let got = tokio::time::timeout(WAIT, rx.recv()).await.unwrap();
    assert_eq!(got.unwrap(), json!({"n": 2}));
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_are_unavailable_without_leaking_them() {
    let url = url();
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let url = format!("{scheme}://ferrostack-nobody:wrong-s3cret@{host}");
    let err = AmqpBus::connect(&url).await.err().unwrap();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
}
