//! The Bot API stand-in of the tests as a program, for container tests
//! (`scripts/docker-e2e-telegram`): `fake_telegram [ADDR]` (default 0.0.0.0:8081).
//!
//! It accepts the token `fake_telegram::TOKEN`, and `GET /_sent` lists what the bot
//! sent as JSON. Stops on SIGTERM/SIGINT.

use harness_testkit::fake_telegram;

use std::net::SocketAddr;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr: SocketAddr = match std::env::args()
        .nth(1)
        .unwrap_or_else(|| "0.0.0.0:8081".into())
        .parse()
    {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("fake_telegram: ADDR must be host:port ({e})");
            std::process::exit(2);
        }
    };
    let fake = fake_telegram::FakeTelegram::start_on(addr).await;
    println!("fake telegram listening on http://{}", fake.addr);
    harness::base::listen::shutdown_signal().await;
}
