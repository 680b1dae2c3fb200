//! Integration tests: the real server on port 0, a fresh SQLite file per test, and
//! real HTTP and WebSocket clients. One binary, so it links once.

use harness_testkit::git_repo;

mod agents;
mod auth;
mod cli;
mod crash;
mod helpers;
mod migrations;
mod security;
mod sessions_events;
mod tasks;
mod validation;
mod ws;
