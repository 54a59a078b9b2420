//! The serving side shared by both buses: the [`ServerHandle`] guard and handler dispatch.

use std::sync::Arc;

use common_error::Error;
use tokio::{sync::oneshot, task::JoinHandle};

use crate::{RpcHandler, Value};

/// Keeps an RPC server running. Dropping it stops serving in the background;
/// [`ServerHandle::stop`] stops and waits until the requests it already took are answered.
#[derive(Debug)]
#[must_use = "dropping the handle stops the server"]
pub struct ServerHandle {
    topic: String,
    /// Dropping the sender is the stop signal.
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    pub(crate) fn new(topic: &str, stop: oneshot::Sender<()>, task: JoinHandle<()>) -> Self {
        ServerHandle {
            topic: topic.to_owned(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The topic this server serves.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Stops taking requests on this server, then waits for the requests already taken.
    /// Once it returns, no further request reaches this server's handler.
    pub async fn stop(mut self) {
        drop(self.stop.take());
        if let Some(task) = self.task.take() {
            if let Err(err) = task.await {
                tracing::error!(topic = %self.topic, error = %err, "rpc server task failed");
            }
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        drop(self.stop.take());
    }
}

/// Runs one request through the handler on its own task, so a panicking handler becomes an
/// `Internal` error for the caller instead of a lost reply.
pub(crate) async fn dispatch(
    handler: Arc<dyn RpcHandler>,
    method: String,
    args: Value,
) -> Result<Value, Error> {
    tracing::debug!(method = %method, "rpc request");
    let task = {
        let method = method.clone();
        tokio::spawn(async move { handler.handle(&method, args).await })
    };
    match task.await {
        Ok(result) => result,
        Err(err) => {
            tracing::error!(method = %method, error = %err, "rpc handler failed");
            Err(Error::Internal(format!(
                "rpc handler for {method} panicked"
            )))
        }
    }
}
