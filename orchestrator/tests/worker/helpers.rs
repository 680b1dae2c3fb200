//! What this test binary uses of the testkit: the server under test and its client.

pub use harness_testkit::app::{TestApp, json_with, test_client};
pub use harness_testkit::server::{spawn_in, spawn_with};
