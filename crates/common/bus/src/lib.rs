//! The message bus every Ferrostack service talks through: RPC `call` (request/response with
//! a timeout), `cast` (fire and forget) and notifications (fan-out events).
//!
//! This crate owns the [`Bus`] trait and its two implementations: [`InProcBus`] (all-in-one
//! mode, channels inside one process) and [`AmqpBus`] (split mode, RabbitMQ over AMQP 0-9-1
//! via `lapin`). Both pass the same contract suite (`tests/contract`). It also owns the wire
//! shapes: requests `{"method", "args"}`, replies `{"ok": value}` or
//! `{"error": {"kind", "message"}}`, and the oslo.messaging-style [`Notification`] envelope.
//!
//! It knows no service: topics, method names and payloads are opaque strings and JSON values
//! chosen by each service's `-client` crate. It depends only on `common-error` among
//! Ferrostack crates and must not depend on any service crate.

mod amqp;
mod inproc;
mod pattern;
mod server;
mod wire;

use std::{sync::Arc, time::Duration};

use common_error::Error;
use serde::{Deserialize, Serialize};

pub use amqp::{AmqpBus, AmqpConfig, NOTIFICATIONS_EXCHANGE, RPC_QUEUE_PREFIX};
pub use inproc::InProcBus;
pub use pattern::pattern_matches;
pub use server::ServerHandle;

/// Arguments, results and notification payloads: plain JSON.
pub type Value = serde_json::Value;

/// Serves the methods of one RPC topic. The bus calls `handle` once per request, possibly
/// for many requests at the same time.
#[async_trait::async_trait]
pub trait RpcHandler: Send + Sync + 'static {
    async fn handle(&self, method: &str, args: Value) -> Result<Value, Error>;
}

/// A notification (oslo.messaging-style envelope).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Notification {
    pub message_id: String,
    /// Dotted event name, e.g. `compute.instance.create.end`; subscribers match on it.
    pub event_type: String,
    /// Who sent it, e.g. `compute.host1`.
    pub publisher_id: String,
    /// Always `"INFO"` for now.
    pub priority: String,
    /// UTC, `"2026-11-22 01:02:03.123456"`.
    pub timestamp: String,
    pub payload: Value,
}

/// The message bus. Implemented by [`InProcBus`] and [`AmqpBus`]; code against
/// `Arc<dyn Bus>` built by [`connect`].
#[async_trait::async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Starts serving RPC on `topic` (e.g. "conductor", "compute.host1"). Several servers on
    /// one topic share the load (competing consumers); each request is handled once. Returns
    /// a guard: dropping it or calling [`ServerHandle::stop`] stops serving.
    async fn serve(&self, topic: &str, handler: Arc<dyn RpcHandler>)
        -> Result<ServerHandle, Error>;

    /// Request/response with a timeout. A handler's error comes back as the same
    /// [`Error`] variant and message. Timeout or no server gives
    /// `Error::Unavailable("... timed out ...")`.
    async fn call(
        &self,
        topic: &str,
        method: &str,
        args: Value,
        timeout: Duration,
    ) -> Result<Value, Error>;

    /// Fire and forget; `Ok` once the bus accepted it (AMQP: confirmed by the broker). A cast
    /// to a topic nobody serves yet is kept until a server appears.
    async fn cast(&self, topic: &str, method: &str, args: Value) -> Result<(), Error>;

    /// Publishes a notification to every current subscriber whose pattern matches
    /// `event_type` (AMQP: topic exchange [`NOTIFICATIONS_EXCHANGE`] keyed by `event_type`).
    async fn notify(
        &self,
        publisher_id: &str,
        event_type: &str,
        payload: Value,
    ) -> Result<(), Error>;

    /// Subscribes to notifications whose `event_type` matches `pattern` (AMQP topic syntax:
    /// `*` is one word, `#` is zero or more words: "compute.instance.*", "#"). Dropping the
    /// receiver ends the subscription.
    async fn subscribe(
        &self,
        pattern: &str,
    ) -> Result<tokio::sync::mpsc::Receiver<Notification>, Error>;
}

/// Builds the bus from a config URL: `"inproc"` gives an [`InProcBus`], `"amqp://..."` an
/// [`AmqpBus`] with the default [`AmqpConfig`].
pub async fn connect(url: &str) -> Result<Arc<dyn Bus>, Error> {
    if url == "inproc" {
        Ok(Arc::new(InProcBus::new()))
    } else if url.starts_with("amqp://") {
        Ok(Arc::new(AmqpBus::connect(url).await?))
    } else {
        // Never echo the URL: it may carry a password.
        Err(Error::bad_request(
            "bus url must be \"inproc\" or start with \"amqp://\" (amqps is not built in)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connect_picks_inproc() {
        let bus = connect("inproc").await.unwrap();
        let mut rx = bus.subscribe("x.*").await.unwrap();
        bus.notify("test", "x.y", Value::Null).await.unwrap();
        assert_eq!(rx.recv().await.unwrap().event_type, "x.y");
    }

    #[tokio::test]
    async fn connect_rejects_other_schemes_without_echoing_the_url() {
        let err = connect("amqps://user:s3cret@host/").await.err().unwrap();
        assert!(matches!(err, Error::BadRequest(_)));
        assert!(!err.to_string().contains("s3cret"));
    }

    #[tokio::test]
    async fn malformed_amqp_url_does_not_leak_the_password() {
        let err = connect("amqp://user:s3cret@127.0.0.1:notaport/%2f")
            .await
            .err()
            .unwrap();
        assert!(!format!("{err} {err:?}").contains("s3cret"), "{err:?}");
    }

    #[tokio::test]
    async fn unreachable_broker_is_unavailable() {
        let err = connect("amqp://guest:guest@127.0.0.1:1/%2f")
            .await
            .err()
            .unwrap();
        assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    }
}
