//! The RabbitMQ bus (AMQP 0-9-1 via `lapin`) for split mode.
//!
//! Topology:
//! - RPC: one queue per topic, `ferrostack.rpc.<topic>`, shared by the topic's servers
//!   (competing consumers, bounded prefetch, ack after handling). It is declared by servers,
//!   callers and casters alike, is not auto-deleted (a cast waits there for a server) and
//!   expires after [`AmqpConfig::rpc_queue_expiry`] without consumers or use.
//! - Replies: one exclusive, auto-delete, server-named queue per bus, found through
//!   `reply_to` and matched to the waiting call by `correlation_id`.
//! - Notifications: topic exchange [`NOTIFICATIONS_EXCHANGE`] keyed by event type; each
//!   subscription is an exclusive auto-delete queue bound with its pattern.
//!
//! Every publish waits for the broker's confirm. Connection loss is logged; reconnecting is
//! left to the process supervisor (the bus reports `Unavailable` meanwhile).

mod notify;
mod rpc;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use common_error::Error;
use lapin::{
    options::{
        BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
        ExchangeDeclareOptions, QueueDeclareOptions,
    },
    publisher_confirm::Confirmation,
    types::{AMQPValue, FieldTable},
    BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind,
};
use tokio::sync::{mpsc, oneshot, watch, OnceCell};

use crate::{
    server::ServerHandle,
    wire::{timed_out, validate_event_type, validate_pattern, validate_topic, Request},
    Bus, Notification, RpcHandler, Value,
};

/// The topic exchange notifications are published to, keyed by event type.
pub const NOTIFICATIONS_EXCHANGE: &str = "ferrostack.notifications";
/// RPC request queues are named this prefix plus the topic.
pub const RPC_QUEUE_PREFIX: &str = "ferrostack.rpc.";

const JSON: &str = "application/json";

/// Tuning for [`AmqpBus`]. Every process on one broker must use the same
/// `rpc_queue_expiry`: RabbitMQ refuses to redeclare a queue with other arguments.
#[derive(Debug, Clone)]
pub struct AmqpConfig {
    /// Requests a server (and a subscription) takes before acking earlier ones; also caps
    /// how many requests one server handles at once.
    pub prefetch: u16,
    /// An RPC queue with no consumer that nobody declared for this long is deleted by the
    /// broker, with any casts still in it (RabbitMQ `x-expires`).
    pub rpc_queue_expiry: Duration,
    /// How long [`AmqpBus::connect`] waits for the broker.
    pub connect_timeout: Duration,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        AmqpConfig {
            prefetch: 32,
            rpc_queue_expiry: Duration::from_secs(30 * 60),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The bus over RabbitMQ. One AMQP connection; dropping the bus closes it once the servers
/// and subscriptions it started are gone too.
pub struct AmqpBus {
    conn: Connection,
    /// Confirm-mode channel for calls, casts and notifications.
    publisher: Channel,
    config: AmqpConfig,
    /// RPC queues this bus has declared (so each is declared once, not per message).
    declared: Mutex<HashSet<String>>,
    /// Name of the reply queue, created with its consumer on the first call.
    reply_queue: OnceCell<String>,
    pending: rpc::Pending,
    /// Dropped with the bus: tells the reply consumer to finish.
    shutdown: watch::Sender<()>,
}

impl std::fmt::Debug for AmqpBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpBus")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A broker failure: the bus is a dependency that could not be reached.
pub(crate) fn unavailable(what: &str, err: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("{what}: {err}"))
}

/// The queue holding requests for `topic`.
pub(crate) fn rpc_queue_name(topic: &str) -> String {
    format!("{RPC_QUEUE_PREFIX}{topic}")
}

impl AmqpBus {
    /// Connects with the default [`AmqpConfig`], e.g. to `amqp://guest:guest@127.0.0.1:5672/%2f`.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(url, AmqpConfig::default()).await
    }

    /// Connects, opens the publishing channel and declares the notifications exchange.
    pub async fn connect_with(url: &str, config: AmqpConfig) -> Result<Self, Error> {
        let props = ConnectionProperties::default().with_connection_name("ferrostack".into());
        let connecting = Connection::connect(url, props);
        let conn = tokio::time::timeout(config.connect_timeout, connecting)
            .await
            .map_err(|_| Error::Unavailable("connect to the AMQP broker timed out".into()))?
            // lapin's errors do not carry the URL, so no password leaks into the message.
            .map_err(|e| unavailable("connect to the AMQP broker", e))?;
        conn.on_error(|err| tracing::error!(error = %err, "AMQP connection failed"));
        let publisher = conn
            .create_channel()
            .await
            .map_err(|e| unavailable("open AMQP channel", e))?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| unavailable("enable publisher confirms", e))?;
        publisher
            .exchange_declare(
                NOTIFICATIONS_EXCHANGE,
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| unavailable("declare the notifications exchange", e))?;
        Ok(AmqpBus {
            conn,
            publisher,
            config,
            declared: Mutex::new(HashSet::new()),
            reply_queue: OnceCell::new(),
            pending: rpc::Pending::default(),
            shutdown: watch::channel(()).0,
        })
    }

    /// Declares an RPC queue with the shared arguments on `channel`.
    async fn declare_rpc_queue(&self, channel: &Channel, queue: &str) -> Result<(), Error> {
        let expiry_ms = i32::try_from(self.config.rpc_queue_expiry.as_millis())
            .unwrap_or(i32::MAX)
            .max(1);
        let mut args = FieldTable::default();
        args.insert("x-expires".into(), AMQPValue::LongInt(expiry_ms));
        channel
            .queue_declare(queue, QueueDeclareOptions::default(), args)
            .await
            .map_err(|e| unavailable(&format!("declare queue {queue}"), e))?;
        self.declared_set().insert(queue.to_owned());
        Ok(())
    }

    fn declared_set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.declared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes sure the RPC queue exists before publishing to it. Declares on a short-lived
    /// channel so that a refused declaration cannot close the shared publishing channel.
    async fn ensure_rpc_queue(&self, queue: &str) -> Result<(), Error> {
        if self.declared_set().contains(queue) {
            return Ok(());
        }
        let channel = self
            .conn
            .create_channel()
            .await
            .map_err(|e| unavailable("open AMQP channel", e))?;
        let declared = self.declare_rpc_queue(&channel, queue).await;
        if let Err(err) = channel.close(200, "declared").await {
            tracing::debug!(error = %err, "closing the declaring channel failed");
        }
        declared
    }

    /// Publishes a request to a topic's queue, with the broker's confirm. Mandatory routing
    /// catches a queue that expired since this bus declared it: then it is declared again
    /// and the request sent once more.
    async fn publish_request(
        &self,
        topic: &str,
        body: &[u8],
        props: BasicProperties,
    ) -> Result<(), Error> {
        let queue = rpc_queue_name(topic);
        for _ in 0..2 {
            self.ensure_rpc_queue(&queue).await?;
            let options = BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            };
            match self
                .publish("", &queue, options, body, props.clone())
                .await?
            {
                Confirmation::Ack(Some(_)) => {
                    tracing::debug!(queue = %queue, "rpc queue vanished; declaring it again");
                    self.declared_set().remove(&queue);
                }
                Confirmation::Ack(None) | Confirmation::NotRequested => return Ok(()),
                Confirmation::Nack(_) => {
                    return Err(Error::Unavailable(format!(
                        "broker refused a message for {queue}"
                    )))
                }
            }
        }
        Err(Error::Unavailable(format!("no queue for topic {topic}")))
    }

    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        options: BasicPublishOptions,
        body: &[u8],
        props: BasicProperties,
    ) -> Result<Confirmation, Error> {
        self.publisher
            .basic_publish(exchange, routing_key, options, body, props)
            .await
            .map_err(|e| unavailable("publish to the AMQP broker", e))?
            .await
            .map_err(|e| unavailable("confirm a publish to the AMQP broker", e))
    }

    /// The reply queue, created with its consumer on first use.
    async fn reply_queue(&self) -> Result<&str, Error> {
        self.reply_queue
            .get_or_try_init(|| {
                rpc::start_reply_consumer(
                    &self.conn,
                    self.pending.clone(),
                    self.shutdown.subscribe(),
                )
            })
            .await
            .map(String::as_str)
    }

    async fn call_inner(
        &self,
        topic: &str,
        method: &str,
        args: Value,
        timeout: Duration,
    ) -> Result<Value, Error> {
        let reply_to = self.reply_queue().await?;
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        // Removes the pending entry however this call ends (reply, timeout, cancellation).
        let _pending = self.pending.insert(&correlation_id, tx);
        let body = encode_request(method, args)?;
        let props = BasicProperties::default()
            .with_content_type(JSON.into())
            .with_reply_to(reply_to.into())
            .with_correlation_id(correlation_id.as_str().into())
            // A request nobody took in time is dropped by the broker, not served late.
            .with_expiration(timeout.as_millis().max(1).to_string().into());
        self.publish_request(topic, &body, props).await?;
        match rx.await {
            Ok(reply) => reply.into_result(),
            Err(_) => Err(Error::Unavailable(format!(
                "rpc call {method} on topic {topic}: the reply consumer stopped"
            ))),
        }
    }
}

fn encode_request(method: &str, args: Value) -> Result<Vec<u8>, Error> {
    let request = Request {
        method: method.to_owned(),
        args,
    };
    serde_json::to_vec(&request).map_err(|e| Error::internal("encode rpc request", e))
}

#[async_trait::async_trait]
impl Bus for AmqpBus {
    async fn serve(
        &self,
        topic: &str,
        handler: Arc<dyn RpcHandler>,
    ) -> Result<ServerHandle, Error> {
        validate_topic(topic)?;
        let queue = rpc_queue_name(topic);
        let channel = self
            .conn
            .create_channel()
            .await
            .map_err(|e| unavailable("open AMQP channel", e))?;
        channel
            .basic_qos(self.config.prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| unavailable("set prefetch", e))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| unavailable("enable publisher confirms", e))?;
        self.declare_rpc_queue(&channel, &queue).await?;
        let tag = format!("ferrostack-server-{}", uuid::Uuid::new_v4());
        let consumer = channel
            .basic_consume(
                &queue,
                &tag,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| unavailable(&format!("consume from {queue}"), e))?;
        tracing::debug!(topic, "rpc server started");
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(rpc::serve_loop(
            topic.to_owned(),
            channel,
            consumer,
            tag,
            handler,
            stop_rx,
        ));
        Ok(ServerHandle::new(topic, stop_tx, task))
    }

    async fn call(
        &self,
        topic: &str,
        method: &str,
        args: Value,
        timeout: Duration,
    ) -> Result<Value, Error> {
        validate_topic(topic)?;
        tracing::debug!(topic, method, "rpc call");
        match tokio::time::timeout(timeout, self.call_inner(topic, method, args, timeout)).await {
            Ok(result) => result,
            Err(_) => Err(timed_out(topic, method, timeout)),
        }
    }

    async fn cast(&self, topic: &str, method: &str, args: Value) -> Result<(), Error> {
        validate_topic(topic)?;
        tracing::debug!(topic, method, "rpc cast");
        let body = encode_request(method, args)?;
        let props = BasicProperties::default().with_content_type(JSON.into());
        self.publish_request(topic, &body, props).await
    }

    async fn notify(
        &self,
        publisher_id: &str,
        event_type: &str,
        payload: Value,
    ) -> Result<(), Error> {
        validate_event_type(event_type)?;
        tracing::debug!(event_type, publisher_id, "notify");
        let notification = Notification::new(publisher_id, event_type, payload);
        let body = serde_json::to_vec(&notification)
            .map_err(|e| Error::internal("encode notification", e))?;
        let props = BasicProperties::default()
            .with_content_type(JSON.into())
            .with_message_id(notification.message_id.as_str().into());
        let options = BasicPublishOptions::default();
        match self
            .publish(NOTIFICATIONS_EXCHANGE, event_type, options, &body, props)
            .await?
        {
            Confirmation::Nack(_) => Err(Error::Unavailable(format!(
                "broker refused notification {event_type}"
            ))),
            Confirmation::Ack(_) | Confirmation::NotRequested => Ok(()),
        }
    }

    async fn subscribe(&self, pattern: &str) -> Result<mpsc::Receiver<Notification>, Error> {
        validate_pattern(pattern)?;
        notify::subscribe(&self.conn, pattern, self.config.prefetch).await
    }
}
