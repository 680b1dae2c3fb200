//! The server under test: `harness`'s own `App` on port 0 in a temporary directory,
//! reached through a [`TestApp`].

use harness::{config::Settings, server::App};
use tempfile::TempDir;

use crate::app::{Serving, Shutdown, TestApp};

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_in(tempfile::tempdir().expect("temp dir"), tweak).await
}

/// Starts a server on an existing directory (to test restarts).
pub async fn spawn_in(dir: TempDir, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    TestApp::start(dir, tweak, serve).await
}

async fn serve(settings: Settings, shutdown: Shutdown) -> Serving {
    let app = App::build(settings).await.expect("app builds");
    Serving {
        addr: app.local_addr().unwrap(),
        board: app.board().clone(),
        task: tokio::spawn(app.run_until(shutdown)),
    }
}
