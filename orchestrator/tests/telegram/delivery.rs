//! Delivery: 429 obeyed, refusals final, nothing lost or repeated across kill -9, the
//! token never logged, a refused token not fatal.

use std::time::Duration;

use serde_json::json;

use crate::{
    CHAT, Harness,
    commands::ask,
    fake_telegram::{FakeTelegram, TOKEN},
    telegram_env,
};

/// Only task creations are announced: the simplest event a test can raise.
fn created_env(fake: &FakeTelegram) -> Vec<(&'static str, String)> {
    let mut env = telegram_env(fake);
    env.push(("TELEGRAM_NOTIFY", "created".to_owned()));
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_obeyed_before_the_next_message() {
    let fake = FakeTelegram::start().await;
    fake.fail_next(
        "sendMessage",
        429,
        "Too Many Requests: retry after 2",
        Some(2),
    );
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), &created_env(&fake));
    h.post("/api/tasks", json!({"title": "after the limit"}))
        .await;
    fake.wait_message(CHAT, "after the limit").await;
    let calls = fake.calls("sendMessage");
    assert_eq!(calls.len(), 2, "refused once, then sent once");
    let waited = calls[1].at - calls[0].at;
    assert!(waited >= Duration::from_secs(2), "waited only {waited:?}");
    let status = h
        .wait_json("/api/telegram", "the delivery recorded", |v| {
            v["outbox_pending"] == 0
        })
        .await;
    assert!(status["last_delivery_at"].is_string(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_that_blocked_the_bot_gets_its_message_failed_not_retried() {
    let fake = FakeTelegram::start().await;
    let blocked = 5555;
    fake.block_chat(blocked);
    let dir = tempfile::tempdir().unwrap();
    let mut env = created_env(&fake);
    env.retain(|(k, _)| *k != "TELEGRAM_CHAT_ID");
    env.push(("TELEGRAM_CHAT_ID", format!("{CHAT},{blocked}")));
    let h = Harness::start(dir.path(), &env);
    h.post("/api/tasks", json!({"title": "to both"})).await;
    fake.wait_message(CHAT, "to both").await;
    let status = h
        .wait_json("/api/telegram", "one failed", |v| v["outbox_failed"] == 1)
        .await;
    assert_eq!(status["outbox_pending"], 0, "not queued again: {status}");
    assert!(
        status["last_error"]
            .as_str()
            .unwrap()
            .contains("blocked by the user"),
        "{status}"
    );
    let tries = fake
        .calls("sendMessage")
        .iter()
        .filter(|c| c.body["chat_id"] == blocked)
        .count();
    assert_eq!(tries, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_notifications_pending_then_each_is_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    // Telegram unreachable at first: a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let fake = FakeTelegram::start().await;
    let mut env = created_env(&fake);
    env.retain(|(k, _)| *k != "TELEGRAM_API_URL");
    let mut first = env.clone();
    first.push(("TELEGRAM_API_URL", dead_url));
    let h = Harness::start(dir.path(), &first);
    let titles = ["first pending", "second pending", "third pending"];
    for t in titles {
        h.post("/api/tasks", json!({"title": t})).await;
    }
    h.wait_json("/api/telegram", "three pending", |v| {
        v["outbox_pending"] == 3
    })
    .await;
    h.kill_9();

    env.push(("TELEGRAM_API_URL", fake.url()));
    let h = Harness::start(dir.path(), &env);
    h.wait_json("/api/telegram", "all sent", |v| v["outbox_pending"] == 0)
        .await;
    let sent = fake.sent_to(CHAT);
    for t in titles {
        let n = sent.iter().filter(|s| s.text.contains(t)).count();
        assert_eq!(n, 1, "{t} sent {n} times: {sent:#?}");
    }
    // In order.
    let order: Vec<usize> = titles
        .iter()
        .map(|t| sent.iter().position(|s| s.text.contains(t)).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_command_runs_again_after_a_restart() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), &telegram_env(&fake));
    let added = ask(&fake, "/add only once").await;
    assert!(added.text.contains("T-1"), "{}", added.text);
    let update = fake.calls("getUpdates").len();
    h.kill_9();

    let h = Harness::start(dir.path(), &telegram_env(&fake));
    // The new process polls from past the handled update...
    let polled = fake
        .wait_for(
            Duration::from_secs(20),
            "a poll from the new process",
            |f| {
                f.calls("getUpdates")
                    .into_iter()
                    .skip(update)
                    .find(|c| c.body["offset"].as_i64().is_some())
            },
        )
        .await;
    let offset = polled.body["offset"].as_i64().unwrap();
    // ...and a command sent now is handled after anything left over would have been.
    ask(&fake, "/status").await;
    assert!(offset > 1000, "offset {offset}");
    let tasks = h.get("/api/tasks").await;
    assert_eq!(tasks["total"], 1, "{tasks}");
    let created = fake
        .sent_to(CHAT)
        .iter()
        .filter(|s| s.text.contains("Created"))
        .count();
    assert_eq!(created, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_reaches_the_logs_or_the_api() {
    let fake = FakeTelegram::start().await;
    // Errors of every kind get logged: a 429, a 500, a refused chat, a network error.
    fake.fail_next("sendMessage", 500, "Internal Server Error", None);
    fake.fail_next(
        "getUpdates",
        429,
        "Too Many Requests: retry after 1",
        Some(1),
    );
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), &created_env(&fake));
    h.post("/api/tasks", json!({"title": "logged around"}))
        .await;
    fake.wait_message(CHAT, "logged around").await;
    ask(&fake, "/status").await;
    let status = h.get("/api/telegram").await;
    assert_eq!(status["configured"], true);
    assert_eq!(status["mode"], "polling");
    assert_eq!(status["bot_username"], "harness_test_bot");
    h.stop();

    let secret = TOKEN.split_once(':').unwrap().1;
    let log = std::fs::read_to_string(
        dir.path()
            .join(format!("harness-{}.log", std::process::id())),
    )
    .unwrap();
    assert!(log.contains("telegram"), "the log has telegram lines");
    assert!(!log.contains(secret), "the token is in the log");
    assert!(!status.to_string().contains(secret));

    // A network error (nothing listening) is logged without the URL's token either.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut env = created_env(&fake);
    env.retain(|(k, _)| *k != "TELEGRAM_API_URL");
    env.push(("TELEGRAM_API_URL", dead));
    let h = Harness::start(dir.path(), &env);
    h.wait_json("/api/telegram", "a network error", |v| {
        v["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot reach"))
    })
    .await;
    h.stop();
    let log = std::fs::read_to_string(
        dir.path()
            .join(format!("harness-{}.log", std::process::id())),
    )
    .unwrap();
    assert!(log.contains("cannot reach the Bot API"), "logged");
    assert!(!log.contains(secret), "the token is in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_does_not_stop_the_server_and_the_status_says_so() {
    let fake = FakeTelegram::start().await;
    fake.set_token("999:someOtherTokenThatIsValidLooking");
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), &telegram_env(&fake));
    let status = h
        .wait_json("/api/telegram", "the refusal", |v| {
            v["last_error"].is_string()
        })
        .await;
    assert!(
        status["last_error"]
            .as_str()
            .unwrap()
            .contains("TELEGRAM_BOT_TOKEN"),
        "{status}"
    );
    assert_eq!(status["bot_username"], serde_json::Value::Null);
    let health = h.get("/health").await;
    assert_eq!(health["status"], "ok", "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_is_announced_before_the_process_exits() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), &telegram_env(&fake));
    h.wait_json("/api/telegram", "the bot known", |v| {
        v["bot_username"].is_string()
    })
    .await;
    h.stop();
    let stopped = fake.wait_message(CHAT, "Orchestrator stopped").await;
    assert!(stopped.text.contains("stopped cleanly"), "{}", stopped.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_happened_while_telegram_was_off_is_not_sent_when_it_is_turned_on() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A first run with Telegram on, stopped with a notification it could not send.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut unreachable = created_env(&fake);
    unreachable.retain(|(k, _)| *k != "TELEGRAM_API_URL");
    unreachable.push(("TELEGRAM_API_URL", dead_url));
    let h = Harness::start(dir.path(), &unreachable);
    h.post("/api/tasks", json!({"title": "stale from before"}))
        .await;
    h.wait_json("/api/telegram", "one pending", |v| v["outbox_pending"] == 1)
        .await;
    h.stop();

    // Then runs without Telegram, one of them killed.
    let h = Harness::start(dir.path(), &[]);
    h.post("/api/tasks", json!({"title": "while off"})).await;
    h.kill_9();
    let h = Harness::start(dir.path(), &[]);
    h.post("/api/tasks", json!({"title": "still off"})).await;
    h.stop();

    let h = Harness::start(dir.path(), &created_env(&fake));
    h.post("/api/tasks", json!({"title": "now on"})).await;
    fake.wait_message(CHAT, "now on").await;
    // Delivery is at least once: a kill between the Bot API's answer and the commit
    // that marks the row sent sends it again. Kill once the row is marked.
    h.wait_json("/api/telegram", "nothing pending", |v| {
        v["outbox_pending"] == 0
    })
    .await;
    h.kill_9();
    // A restart with it on keeps its place: what happens meanwhile is still sent.
    let h = Harness::start(dir.path(), &created_env(&fake));
    h.post("/api/tasks", json!({"title": "after a restart"}))
        .await;
    fake.wait_message(CHAT, "after a restart").await;
    let texts: Vec<String> = fake.sent_to(CHAT).into_iter().map(|s| s.text).collect();
    // Messages go out in event order, so anything older would have come first.
    assert_eq!(texts.len(), 2, "{texts:#?}");
    assert!(texts[0].contains("now on"), "{texts:#?}");
    assert!(texts[1].contains("after a restart"), "{texts:#?}");
    let status = h.get("/api/telegram").await;
    assert_eq!(
        status["outbox_failed"], 1,
        "the stale one given up: {status}"
    );
}
