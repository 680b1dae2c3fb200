//! What this test binary uses of the testkit: the server under test and its client.

pub use harness_testkit::app::{TestApp, json_with, secret};
pub use harness_testkit::server::spawn_with;
