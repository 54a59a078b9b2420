//! The in-process bus for all-in-one mode: one queue per topic that hands requests to its
//! servers in turn (competing consumers; requests wait while the topic has no server), and a
//! subscriber list for notifications, filtered with the same topic rules as RabbitMQ.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use common_error::Error;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinSet,
};

use crate::{
    pattern::pattern_matches,
    server::{dispatch, ServerHandle},
    wire::{timed_out, validate_event_type, validate_pattern, validate_topic},
    Bus, Notification, RpcHandler, Value,
};

/// How many notifications a subscriber may fall behind before new ones are dropped for it
/// (a slow consumer must never stall the publisher).
const SUBSCRIBER_BUFFER: usize = 1024;

type Responder = oneshot::Sender<Result<Value, Error>>;

/// One request on a topic queue; `reply` is `None` for a cast.
struct Envelope {
    method: String,
    args: Value,
    reply: Option<Responder>,
}

/// A topic's queue. Like a RabbitMQ queue with competing consumers: requests go to the
/// topic's servers in turn, and wait in `pending` while the topic has no server.
#[derive(Default)]
struct Queue {
    pending: VecDeque<Envelope>,
    servers: Vec<ServerSlot>,
    next: usize,
}

struct ServerSlot {
    id: u64,
    tx: mpsc::UnboundedSender<Envelope>,
}

impl Queue {
    /// Hands a request to the next server, or keeps it until a server appears.
    fn push(&mut self, mut envelope: Envelope) {
        while !self.servers.is_empty() {
            let i = self.next % self.servers.len();
            self.next = self.next.wrapping_add(1);
            match self.servers[i].tx.send(envelope) {
                Ok(()) => return,
                // That server is gone: forget it and try the next.
                Err(mpsc::error::SendError(back)) => {
                    envelope = back;
                    self.servers.remove(i);
                }
            }
        }
        // Calls whose caller gave up stay no longer than the next request kept here.
        self.pending
            .retain(|e| !e.reply.as_ref().is_some_and(oneshot::Sender::is_closed));
        self.pending.push_back(envelope);
    }
}

struct Subscriber {
    pattern: String,
    tx: mpsc::Sender<Notification>,
}

#[derive(Default)]
struct State {
    queues: HashMap<String, Queue>,
    subscribers: Vec<Subscriber>,
    next_server_id: u64,
}

/// The bus inside one process. Cloning gives another handle to the same bus.
#[derive(Clone, Default)]
pub struct InProcBus {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for InProcBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcBus").finish_non_exhaustive()
    }
}

impl InProcBus {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn enqueue(&self, topic: &str, envelope: Envelope) {
        self.state()
            .queues
            .entry(topic.to_owned())
            .or_default()
            .push(envelope);
    }

    /// Adds a server to the topic's rotation and hands it the requests kept so far.
    fn register(&self, topic: &str) -> (u64, mpsc::UnboundedReceiver<Envelope>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = self.state();
        let id = state.next_server_id;
        state.next_server_id += 1;
        let queue = state.queues.entry(topic.to_owned()).or_default();
        queue.servers.push(ServerSlot { id, tx });
        for envelope in std::mem::take(&mut queue.pending) {
            queue.push(envelope);
        }
        (id, rx)
    }

    /// Takes a server out of the rotation; requests handed to it but not taken yet go back
    /// to the topic (other servers, or kept), as RabbitMQ requeues unacked messages.
    fn unregister(&self, topic: &str, id: u64, mut rx: mpsc::UnboundedReceiver<Envelope>) {
        let mut state = self.state();
        let queue = state.queues.entry(topic.to_owned()).or_default();
        queue.servers.retain(|s| s.id != id);
        rx.close();
        while let Ok(envelope) = rx.try_recv() {
            queue.push(envelope);
        }
    }
}

#[async_trait::async_trait]
impl Bus for InProcBus {
    async fn serve(
        &self,
        topic: &str,
        handler: Arc<dyn RpcHandler>,
    ) -> Result<ServerHandle, Error> {
        validate_topic(topic)?;
        // Registered before returning: the server is in the rotation from now on.
        let (id, rx) = self.register(topic);
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(serve_loop(
            self.clone(),
            topic.to_owned(),
            (id, rx),
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
        let (tx, rx) = oneshot::channel();
        self.enqueue(
            topic,
            Envelope {
                method: method.to_owned(),
                args,
                reply: Some(tx),
            },
        );
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::Unavailable(format!(
                "rpc call {method} on topic {topic} was dropped without a reply"
            ))),
            Err(_) => Err(timed_out(topic, method, timeout)),
        }
    }

    async fn cast(&self, topic: &str, method: &str, args: Value) -> Result<(), Error> {
        validate_topic(topic)?;
        tracing::debug!(topic, method, "rpc cast");
        self.enqueue(
            topic,
            Envelope {
                method: method.to_owned(),
                args,
                reply: None,
            },
        );
        Ok(())
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
        let mut state = self.state();
        state.subscribers.retain(|s| !s.tx.is_closed());
        for sub in state
            .subscribers
            .iter()
            .filter(|s| pattern_matches(&s.pattern, event_type))
        {
            if let Err(mpsc::error::TrySendError::Full(_)) = sub.tx.try_send(notification.clone()) {
                tracing::warn!(
                    event_type,
                    pattern = %sub.pattern,
                    "notification subscriber is not keeping up; notification dropped for it"
                );
            }
        }
        Ok(())
    }

    async fn subscribe(&self, pattern: &str) -> Result<mpsc::Receiver<Notification>, Error> {
        validate_pattern(pattern)?;
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        self.state().subscribers.push(Subscriber {
            pattern: pattern.to_owned(),
            tx,
        });
        Ok(rx)
    }
}

/// Takes the requests handed to this server until stopped; each runs on its own task so one
/// slow call does not hold up the others. On stop it leaves the rotation, then waits for the
/// requests it took.
async fn serve_loop(
    bus: InProcBus,
    topic: String,
    (id, mut rx): (u64, mpsc::UnboundedReceiver<Envelope>),
    handler: Arc<dyn RpcHandler>,
    mut stop: oneshot::Receiver<()>,
) {
    tracing::debug!(topic = %topic, "rpc server started");
    let mut inflight = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => break,
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
            envelope = rx.recv() => match envelope {
                Some(envelope) => {
                    inflight.spawn(handle(handler.clone(), envelope));
                }
                None => break,
            },
        }
    }
    bus.unregister(&topic, id, rx);
    while inflight.join_next().await.is_some() {}
    tracing::debug!(topic = %topic, "rpc server stopped");
}

async fn handle(handler: Arc<dyn RpcHandler>, envelope: Envelope) {
    let Envelope {
        method,
        args,
        reply,
    } = envelope;
    match reply {
        // The caller already gave up (timed out): like an expired AMQP message, skip it.
        Some(reply) if reply.is_closed() => {}
        Some(reply) => {
            let _ = reply.send(dispatch(handler, method, args).await);
        }
        None => {
            if let Err(err) = dispatch(handler, method.clone(), args).await {
                tracing::warn!(method = %method, error = %err, "rpc cast failed");
            }
        }
    }
}
