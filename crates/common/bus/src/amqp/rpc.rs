//! RPC over AMQP: the server loop on a topic queue, and the caller's reply queue with its
//! table of calls waiting for a reply.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use common_error::Error;
use futures_util::StreamExt;
use lapin::{
    message::Delivery,
    options::{
        BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions,
        QueueDeclareOptions,
    },
    types::{FieldTable, ShortString},
    BasicProperties, Channel, Connection, Consumer,
};
use tokio::{
    sync::{oneshot, watch},
    task::JoinSet,
};

use super::{unavailable, JSON};
use crate::{
    server::dispatch,
    wire::{Reply, Request, WireError},
    RpcHandler,
};

/// Calls waiting for a reply, by correlation id.
#[derive(Clone, Default)]
pub(crate) struct Pending(Arc<Mutex<HashMap<String, oneshot::Sender<Reply>>>>);

impl Pending {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, oneshot::Sender<Reply>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a call; the entry goes away when the returned guard drops.
    pub fn insert(&self, correlation_id: &str, tx: oneshot::Sender<Reply>) -> PendingGuard {
        self.lock().insert(correlation_id.to_owned(), tx);
        PendingGuard {
            pending: self.clone(),
            correlation_id: correlation_id.to_owned(),
        }
    }

    fn complete(&self, correlation_id: &str, reply: Reply) {
        match self.lock().remove(correlation_id) {
            Some(tx) => {
                let _ = tx.send(reply);
            }
            None => tracing::debug!(correlation_id, "late or unknown rpc reply dropped"),
        }
    }

    /// Fails every waiting call at once (their senders drop).
    fn clear(&self) {
        self.lock().clear();
    }
}

pub(crate) struct PendingGuard {
    pending: Pending,
    correlation_id: String,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.pending.lock().remove(&self.correlation_id);
    }
}

/// Declares this bus's exclusive reply queue and spawns the consumer that routes replies to
/// waiting calls. Returns the queue name for `reply_to`.
pub(crate) async fn start_reply_consumer(
    conn: &Connection,
    pending: Pending,
    mut shutdown: watch::Receiver<()>,
) -> Result<String, Error> {
    let channel = conn
        .create_channel()
        .await
        .map_err(|e| unavailable("open AMQP channel", e))?;
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
        .map_err(|e| unavailable("declare the rpc reply queue", e))?;
    let name = queue.name().as_str().to_owned();
    let tag = format!("ferrostack-replies-{}", uuid::Uuid::new_v4());
    let mut consumer = channel
        .basic_consume(
            &name,
            &tag,
            BasicConsumeOptions {
                no_ack: true,
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| unavailable("consume rpc replies", e))?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                // Resolves only when the bus (the sender) is dropped.
                _ = shutdown.changed() => break,
                delivery = consumer.next() => match delivery {
                    Some(Ok(delivery)) => route_reply(&pending, &delivery),
                    Some(Err(err)) => {
                        tracing::error!(error = %err, "rpc reply consumer failed");
                        break;
                    }
                    None => break,
                },
            }
        }
        pending.clear();
        if let Err(err) = channel.close(200, "bus closed").await {
            tracing::debug!(error = %err, "closing the reply channel failed");
        }
    });
    Ok(name)
}

fn route_reply(pending: &Pending, delivery: &Delivery) {
    let Some(correlation_id) = delivery.properties.correlation_id() else {
        tracing::warn!("rpc reply without correlation id dropped");
        return;
    };
    let reply = serde_json::from_slice::<Reply>(&delivery.data).unwrap_or_else(|err| {
        Reply::Error(WireError::from_error(&Error::internal(
            "decode rpc reply",
            err,
        )))
    });
    pending.complete(correlation_id.as_str(), reply);
}

/// Takes requests from a topic queue until stopped, each on its own task (so one slow call
/// does not hold up others); acks after handling. On stop: cancel the consumer, finish the
/// requests taken, then close the channel so unstarted deliveries go back to the queue.
pub(crate) async fn serve_loop(
    topic: String,
    channel: Channel,
    mut consumer: Consumer,
    tag: String,
    handler: Arc<dyn RpcHandler>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut inflight = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => break,
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
            delivery = consumer.next() => match delivery {
                Some(Ok(delivery)) => {
                    inflight.spawn(handle_delivery(channel.clone(), handler.clone(), delivery));
                }
                Some(Err(err)) => {
                    tracing::error!(topic = %topic, error = %err, "rpc consumer failed");
                    break;
                }
                None => {
                    tracing::warn!(topic = %topic, "rpc consumer ended");
                    break;
                }
            },
        }
    }
    if let Err(err) = channel
        .basic_cancel(&tag, BasicCancelOptions::default())
        .await
    {
        tracing::debug!(topic = %topic, error = %err, "cancelling the rpc consumer failed");
    }
    while inflight.join_next().await.is_some() {}
    if let Err(err) = channel.close(200, "server stopped").await {
        tracing::debug!(topic = %topic, error = %err, "closing the rpc channel failed");
    }
    tracing::debug!(topic = %topic, "rpc server stopped");
}

async fn handle_delivery(channel: Channel, handler: Arc<dyn RpcHandler>, delivery: Delivery) {
    let reply_to = delivery.properties.reply_to().clone();
    let correlation_id = delivery.properties.correlation_id().clone();
    let (method, result) = match serde_json::from_slice::<Request>(&delivery.data) {
        Ok(Request { method, args }) => {
            let result = dispatch(handler, method.clone(), args).await;
            (method, result)
        }
        Err(err) => {
            tracing::warn!(error = %err, "malformed rpc request dropped");
            let malformed = Err(Error::bad_request("malformed rpc request"));
            (String::from("?"), malformed)
        }
    };
    match reply_to {
        Some(reply_to) => send_reply(&channel, &reply_to, correlation_id, result).await,
        None => {
            if let Err(err) = result {
                tracing::warn!(method = %method, error = %err, "rpc cast failed");
            }
        }
    }
    if let Err(err) = delivery.acker.ack(BasicAckOptions::default()).await {
        tracing::warn!(method = %method, error = %err, "acking an rpc request failed");
    }
}

async fn send_reply(
    channel: &Channel,
    reply_to: &ShortString,
    correlation_id: Option<ShortString>,
    result: Result<serde_json::Value, Error>,
) {
    let body = match serde_json::to_vec(&Reply::from_result(result)) {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(error = %err, "encoding an rpc reply failed");
            return;
        }
    };
    let mut props = BasicProperties::default().with_content_type(JSON.into());
    if let Some(correlation_id) = correlation_id {
        props = props.with_correlation_id(correlation_id);
    }
    let confirm = channel
        .basic_publish(
            "",
            reply_to.as_str(),
            BasicPublishOptions::default(),
            &body,
            props,
        )
        .await;
    let confirmed = match confirm {
        Ok(confirm) => confirm.await.map(|_| ()),
        Err(err) => Err(err),
    };
    if let Err(err) = confirmed {
        tracing::warn!(error = %err, "sending an rpc reply failed");
    }
}
