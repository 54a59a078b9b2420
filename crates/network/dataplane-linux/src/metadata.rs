//! Metadata listeners: a TCP socket on 169.254.169.254:80 bound inside each DHCP namespace
//! and handed to the [`MetadataSink`], which serves it until the network goes.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use common_error::{Error, Result};
use network_agent::MetadataSink;
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};
use tokio::task::AbortHandle;

use crate::cmd::NETNS_DIR;
use crate::dhcp::METADATA_IP;

/// A listener being served, and the namespace (device, inode) it was bound in: a namespace
/// recreated under the same name needs a new one.
struct Served {
    handle: AbortHandle,
    ns_id: (u64, u64),
}

/// The listeners of this host, by network id.
#[derive(Default)]
pub(crate) struct Listeners {
    served: BTreeMap<String, Served>,
}

fn ns_id(ns: &str) -> Result<(u64, u64)> {
    let m = std::fs::metadata(format!("{NETNS_DIR}/{ns}"))
        .map_err(|e| Error::internal("stat a DHCP namespace", e))?;
    Ok((m.dev(), m.ino()))
}

impl Listeners {
    /// Makes sure `network_id`'s listener is served from namespace `ns`.
    pub(crate) async fn ensure(
        &mut self,
        sink: &Arc<dyn MetadataSink>,
        network_id: &str,
        ns: &str,
    ) -> Result<()> {
        let id = ns_id(ns)?;
        if let Some(s) = self.served.get(network_id) {
            if s.ns_id == id && !s.handle.is_finished() {
                return Ok(());
            }
        }
        if let Some(old) = self.served.remove(network_id) {
            old.handle.abort();
        }
        let listener = bind_in(ns).await?;
        let handle = sink.serve(network_id.to_string(), listener);
        self.served
            .insert(network_id.to_string(), Served { handle, ns_id: id });
        Ok(())
    }

    /// Stops serving every network not in `keep`.
    pub(crate) fn retain(&mut self, keep: &dyn Fn(&str) -> bool) {
        self.served.retain(|net, s| {
            let kept = keep(net);
            if !kept {
                s.handle.abort();
            }
            kept
        });
    }
}

/// Binds 169.254.169.254:80 inside namespace `ns` from a fresh thread that enters it (the
/// socket stays in that namespace; the thread ends).
async fn bind_in(ns: &str) -> Result<TcpListener> {
    let path = format!("{NETNS_DIR}/{ns}");
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("metadata-bind".into())
        .spawn(move || {
            let bound = (|| -> std::io::Result<TcpListener> {
                let file = std::fs::File::open(&path)?;
                move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&file),
                    Some(LinkNameSpaceType::Network),
                )?;
                let listener = TcpListener::bind((METADATA_IP, 80))?;
                listener.set_nonblocking(true)?;
                Ok(listener)
            })();
            let _ = tx.send(bound);
        })
        .map_err(|e| Error::internal("start the metadata bind thread", e))?;
    rx.await
        .map_err(|e| Error::internal("metadata bind thread", e))?
        .map_err(|e| Error::internal(&format!("bind {METADATA_IP}:80 in {ns}"), e))
}
