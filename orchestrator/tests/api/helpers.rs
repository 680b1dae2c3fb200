//! What this test binary uses of the testkit: the server under test and its client.

pub use harness_testkit::app::{TestApp, error_field, json_with, secret, test_client};
pub use harness_testkit::server::{spawn_app, spawn_in, spawn_with};
