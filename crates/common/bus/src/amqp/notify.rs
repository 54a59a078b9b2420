//! Notification subscriptions over AMQP: an exclusive auto-delete queue per subscription,
//! bound to the notifications exchange with the subscriber's pattern, forwarded to a channel.

use common_error::Error;
use futures_util::StreamExt;
use lapin::{
    message::Delivery,
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueBindOptions,
        QueueDeclareOptions,
    },
    types::FieldTable,
    Channel, Connection, Consumer,
};
use tokio::sync::mpsc;

use super::{unavailable, NOTIFICATIONS_EXCHANGE};
use crate::Notification;

/// Notifications buffered for a subscriber beyond the broker's prefetch.
const SUBSCRIBER_BUFFER: usize = 256;

/// Binds a fresh queue with `pattern` and starts forwarding; the binding is in place when
/// this returns, so any later `notify` reaches the subscriber.
pub(crate) async fn subscribe(
    conn: &Connection,
    pattern: &str,
    prefetch: u16,
) -> Result<mpsc::Receiver<Notification>, Error> {
    let channel = conn
        .create_channel()
        .await
        .map_err(|e| unavailable("open AMQP channel", e))?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| unavailable("set prefetch", e))?;
    let queue = channel
        .queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| unavailable("declare a subscription queue", e))?;
    let name = queue.name().as_str().to_owned();
    channel
        .queue_bind(
            &name,
            NOTIFICATIONS_EXCHANGE,
            pattern,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| unavailable("bind a subscription queue", e))?;
    let tag = format!("ferrostack-subscriber-{}", uuid::Uuid::new_v4());
    let consumer = channel
        .basic_consume(
            &name,
            &tag,
            BasicConsumeOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| unavailable("consume a subscription queue", e))?;
    let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
    tokio::spawn(forward(pattern.to_owned(), channel, consumer, tx));
    Ok(rx)
}

/// Hands deliveries to the subscriber, acking each once it is in the subscriber's buffer
/// (so the broker's prefetch is the backpressure). Ends when the receiver is dropped;
/// closing the channel deletes the queue.
async fn forward(
    pattern: String,
    channel: Channel,
    mut consumer: Consumer,
    tx: mpsc::Sender<Notification>,
) {
    loop {
        let delivery = tokio::select! {
            _ = tx.closed() => break,
            delivery = consumer.next() => delivery,
        };
        let delivery = match delivery {
            Some(Ok(delivery)) => delivery,
            Some(Err(err)) => {
                tracing::error!(pattern = %pattern, error = %err, "subscription consumer failed");
                break;
            }
            None => break,
        };
        if let Some(notification) = decode(&delivery) {
            if tx.send(notification).await.is_err() {
                break;
            }
        }
        if let Err(err) = delivery.acker.ack(BasicAckOptions::default()).await {
            tracing::warn!(pattern = %pattern, error = %err, "acking a notification failed");
        }
    }
    if let Err(err) = channel.close(200, "unsubscribed").await {
        tracing::debug!(pattern = %pattern, error = %err, "closing a subscription failed");
    }
}

fn decode(delivery: &Delivery) -> Option<Notification> {
    match serde_json::from_slice(&delivery.data) {
        Ok(notification) => Some(notification),
        Err(err) => {
            tracing::warn!(
                routing_key = %delivery.routing_key,
                error = %err,
                "malformed notification dropped"
            );
            None
        }
    }
}
