//! Keeps one attempt's latest status current in the background, for callers that ask
//! "where is it now?" (a poll-style executor interface) instead of reading the stream
//! of changes. One watch per attempt, whatever the number of polls; dropping the
//! follower stops it.

use std::sync::Arc;

use futures_util::{StreamExt, stream::BoxStream};
use tokio::{sync::watch, task::JoinHandle};

use super::{KubeError, launch::Status};

/// What is known of a followed attempt.
#[derive(Debug, Clone)]
pub enum Latest {
    Status(Status),
    /// The watch failed for good: the attempt's state is unknown.
    Lost(Arc<KubeError>),
}

/// A background watch of one attempt.
pub struct Follower {
    latest: watch::Receiver<Latest>,
    task: JoinHandle<()>,
}

impl Follower {
    pub(super) fn spawn(mut statuses: BoxStream<'static, Result<Status, KubeError>>) -> Self {
        let (tx, latest) = watch::channel(Latest::Status(Status::Pending));
        let task = tokio::spawn(async move {
            while let Some(next) = statuses.next().await {
                let next = match next {
                    Ok(status) => Latest::Status(status),
                    Err(e) => Latest::Lost(Arc::new(e)),
                };
                // The stream starts with the `Pending` the channel already holds.
                tx.send_if_modified(|current| {
                    let same = matches!((&*current, &next),
                        (Latest::Status(a), Latest::Status(b)) if a == b);
                    if !same {
                        *current = next;
                    }
                    !same
                });
                if tx.is_closed() {
                    return;
                }
            }
        });
        Self { latest, task }
    }

    /// The status now.
    pub fn latest(&self) -> Latest {
        self.latest.borrow().clone()
    }

    /// Waits for the next change and returns it; after the last one, returns it again
    /// at once.
    pub async fn changed(&mut self) -> Latest {
        // An error means the watch ended: what it left is final.
        self.latest.changed().await.ok();
        self.latest()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}
