//! What the server knows about live MCP sessions: which key created each (a session is bound to
//! it; another key presenting its id is refused) and, once initialized, its peer, so a change to
//! the user's synthesized tools reaches every live session as `notifications/tools/list_changed`.
//! Sessions live in this process's memory (rmcp's local session manager), and so does this map.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::service::{Peer, RoleServer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Past this many bindings, stale ones (never initialized, or closed) are pruned.
const PRUNE_ABOVE: usize = 4096;
/// A session that has not finished initializing after this long is stale.
const INIT_GRACE: Duration = Duration::from_secs(120);

#[derive(Debug)]
struct Binding {
    key_id: String,
    user_id: String,
    created: Instant,
    peer: Option<Peer<RoleServer>>,
}

/// Cheap to clone; shared by the MCP service, its middleware and the REST handlers that change
/// synthesized tools.
#[derive(Debug, Clone, Default)]
pub struct McpHub {
    sessions: Arc<Mutex<HashMap<String, Binding>>>,
    shutdown: CancellationToken,
}

impl McpHub {
    /// Cancelled when the server shuts down: open MCP streams end so the shutdown can finish.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// The key a session is bound to, if the session is known.
    pub fn owner(&self, session_id: &str) -> Option<String> {
        let sessions = self.sessions.lock().ok()?;
        sessions.get(session_id).map(|b| b.key_id.clone())
    }

    /// Binds a new session to the key that created it.
    pub fn bind(&self, session_id: &str, key_id: &str, user_id: &str) {
        let Ok(mut sessions) = self.sessions.lock() else {
            return;
        };
        if sessions.len() >= PRUNE_ABOVE {
            sessions.retain(|_, b| match &b.peer {
                Some(peer) => !peer.is_transport_closed(),
                None => b.created.elapsed() < INIT_GRACE,
            });
        }
        sessions.insert(
            session_id.to_owned(),
            Binding {
                key_id: key_id.to_owned(),
                user_id: user_id.to_owned(),
                created: Instant::now(),
                peer: None,
            },
        );
    }

    /// Remembers an initialized session's peer for notifications.
    pub fn attach_peer(&self, session_id: &str, peer: Peer<RoleServer>) {
        if let Ok(mut sessions) = self.sessions.lock()
            && let Some(binding) = sessions.get_mut(session_id)
        {
            binding.peer = Some(peer);
        }
    }

    /// Forgets a closed session.
    pub fn forget(&self, session_id: &str) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(session_id);
        }
    }

    /// Sends `notifications/tools/list_changed` to every live session of `user_id`, on `tasks`
    /// so the caller does not wait for slow clients.
    pub fn notify_tools_changed(&self, user_id: &str, tasks: &TaskTracker) {
        let peers: Vec<Peer<RoleServer>> = match self.sessions.lock() {
            Ok(sessions) => sessions
                .values()
                .filter(|b| b.user_id == user_id)
                .filter_map(|b| b.peer.clone())
                .filter(|p| !p.is_transport_closed())
                .collect(),
            Err(_) => return,
        };
        for peer in peers {
            tasks.spawn(async move {
                if let Err(e) = peer.notify_tool_list_changed().await {
                    tracing::debug!(error = %e, "cannot send tools/list_changed to an MCP session");
                }
            });
        }
    }
}

/// Held by a session's handler: forgets the session's binding when the session ends.
#[derive(Debug)]
pub struct SessionGuard {
    hub: McpHub,
    session_id: Mutex<Option<String>>,
}

impl SessionGuard {
    pub fn new(hub: McpHub) -> Self {
        Self {
            hub,
            session_id: Mutex::new(None),
        }
    }

    /// Records the session this handler serves.
    pub fn set(&self, session_id: &str) {
        if let Ok(mut slot) = self.session_id.lock() {
            *slot = Some(session_id.to_owned());
        }
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        if let Ok(slot) = self.session_id.lock()
            && let Some(id) = slot.as_deref()
        {
            self.hub.forget(id);
        }
    }
}
