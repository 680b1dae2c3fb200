//! Commands from the chat act through the same write path as the API; other chats
//! are ignored.

use crate::{
    CHAT, Harness, USER,
    fake_telegram::{FakeTelegram, Sent},
    telegram_env,
};

/// Sends `text` from the allowed chat and waits for the bot's answer to it.
pub async fn ask(fake: &FakeTelegram, text: &str) -> Sent {
    let update = fake.push_message(CHAT, USER, text);
    let message_id = 500_000 + update;
    fake.wait_for(
        std::time::Duration::from_secs(20),
        &format!("the answer to {text:?}"),
        |f| {
            let call = f
                .calls("sendMessage")
                .into_iter()
                .find(|c| c.body["reply_parameters"]["message_id"].as_i64() == Some(message_id))?;
            let text = call.body["text"].as_str()?.to_owned();
            f.sent_to(CHAT).into_iter().find(|s| s.text == text)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_command_from_an_allowed_chat_acts_and_answers() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), &telegram_env(&fake));

    // At start: the command menu is registered and polling replaces any webhook (two
    // calls the bot makes in whichever order its tasks get there).
    for method in ["setMyCommands", "deleteWebhook"] {
        fake.wait_for(std::time::Duration::from_secs(10), method, |f| {
            f.calls(method).pop()
        })
        .await;
    }

    let help = ask(&fake, "/help").await;
    assert!(help.text.contains("/answer"), "{}", help.text);

    let added = ask(&fake, "/add P1 Fix the <login> page").await;
    assert!(added.text.contains("T-1"), "{}", added.text);
    assert!(
        added.text.contains("&lt;login&gt;"),
        "escaped: {}",
        added.text
    );
    let task = h.get("/api/tasks/1").await;
    assert_eq!(task["title"], "Fix the <login> page");
    assert_eq!(task["priority"], "P1");

    let listed = ask(&fake, "/tasks pending").await;
    assert!(listed.text.contains("T-1"), "{}", listed.text);
    let one = ask(&fake, "/task T-1").await;
    assert!(
        one.text.contains("pending") && one.text.contains("P1"),
        "{}",
        one.text
    );

    let status = ask(&fake, "/status").await;
    assert!(status.text.contains("Running"), "{}", status.text);

    let paused = ask(&fake, "/pause").await;
    assert!(paused.text.contains("Paused"), "{}", paused.text);
    assert_eq!(h.get("/api/orchestrator/status").await["paused"], true);
    assert!(ask(&fake, "/status").await.text.contains("Paused"));
    ask(&fake, "/resume").await;
    assert_eq!(h.get("/api/orchestrator/status").await["paused"], false);

    let budget = ask(&fake, "/budget").await;
    assert!(budget.text.contains("Today $0.00"), "{}", budget.text);

    let unblock = ask(&fake, "/unblock T-1").await;
    assert!(
        unblock.text.contains("only a blocked task"),
        "{}",
        unblock.text
    );
    let answer = ask(&fake, "/answer T-1 blue").await;
    assert!(answer.text.contains("no open question"), "{}", answer.text);
    let retry = ask(&fake, "/retry T-1").await;
    assert!(
        retry.text.contains("⚠️"),
        "a pending task is not retried: {}",
        retry.text
    );

    let cancelled = ask(&fake, "/cancel T-1").await;
    assert!(cancelled.text.contains("cancelled"), "{}", cancelled.text);
    assert_eq!(h.get("/api/tasks/1").await["status"], "cancelled");
    let history = h.get("/api/tasks/1/history").await;
    let actors: Vec<&str> = history["items"]
        .as_array()
        .or_else(|| history.as_array())
        .unwrap()
        .iter()
        .filter_map(|t| t["actor"].as_str())
        .collect();
    assert!(
        actors.iter().all(|a| *a == "telegram:alice"),
        "history: {history}"
    );
    // The same events as from the API.
    let events = h.get("/api/events?type=task.status_changed").await;
    assert!(events.to_string().contains("telegram:alice"), "{events}");

    let unknown = ask(&fake, "/frobnicate").await;
    assert!(
        unknown.text.contains("unknown command /frobnicate"),
        "{}",
        unknown.text
    );
    assert!(
        unknown.text.contains("/status"),
        "the help follows: {}",
        unknown.text
    );
    let bad = ask(&fake, "/task banana").await;
    assert!(bad.text.contains("/help"), "{}", bad.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_commands_from_another_chat_do_nothing() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), &telegram_env(&fake));
    let stranger = 666;
    for text in ["/add P0 sneaky", "/pause", "/status", "/add again"] {
        fake.push_message(stranger, "mallory", text);
    }
    // Updates are handled in order: once the allowed chat's command is answered,
    // the stranger's were handled (and ignored) before it.
    ask(&fake, "/help").await;
    assert!(
        fake.sent_to(stranger).is_empty(),
        "{:?}",
        fake.sent_to(stranger)
    );
    let tasks = h.get("/api/tasks").await;
    assert_eq!(tasks["total"], 0, "{tasks}");
    assert_eq!(h.get("/api/orchestrator/status").await["paused"], false);
    let log = std::fs::read_to_string(&h.log).unwrap();
    assert_eq!(
        log.matches("ignoring a chat that is not in TELEGRAM_CHAT_ID")
            .count(),
        1,
        "warned once per chat"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_takes_the_bot_back_from_a_webhook_set_elsewhere() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let _h = Harness::start(dir.path(), &telegram_env(&fake));
    ask(&fake, "/help").await;
    // Someone points the bot at a webhook; getUpdates now answers 409.
    let set = crate::http_client()
        .post(format!(
            "{}/bot{}/setWebhook",
            fake.url(),
            crate::fake_telegram::TOKEN
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("url=https%3A%2F%2Felsewhere.example.com%2Fhook")
        .send()
        .await
        .unwrap();
    assert!(set.status().is_success());
    let answer = ask(&fake, "/status").await;
    assert!(answer.text.contains("Running"), "{}", answer.text);
    assert!(fake.calls("deleteWebhook").len() >= 2);
}
