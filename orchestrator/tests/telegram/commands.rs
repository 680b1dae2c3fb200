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
    let missing = ask(&fake, "/cancel T-99").await;
    assert!(missing.text.contains("⚠️"), "{}", missing.text);
    assert!(
        missing.text.contains("/help lists the commands"),
        "a failed action points at the help: {}",
        missing.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_and_unblock_act_and_a_strangers_button_does_nothing() {
    let repo = crate::git_repo::init_repo(&[("README.md", "hello\n")]);
    let dir = tempfile::tempdir().unwrap();
    crate::engine_config(dir.path(), &crate::git_repo::repo_path(&repo), "error");
    // A long backoff, so the failed task waits for /retry.
    let toml = std::fs::read_to_string(dir.path().join("harness.toml")).unwrap();
    std::fs::write(
        dir.path().join("harness.toml"),
        toml.replace("retry_base_secs = 0.05", "retry_base_secs = 3600"),
    )
    .unwrap();
    let fake = FakeTelegram::start().await;
    let h = Harness::start(dir.path(), &telegram_env(&fake));
    h.post(
        "/api/tasks",
        serde_json::json!({"title": "Flaky", "max_attempts": 2}),
    )
    .await;
    h.wait_json("/api/tasks/1", "waiting to retry", |t| {
        t["status"] == "pending" && t["attempts"] == 1 && t["retry_at"].is_string()
    })
    .await;

    let retried = ask(&fake, "/retry T-1").await;
    assert!(
        retried.text.contains("T-1</b> is now pending"),
        "{}",
        retried.text
    );
    let blocked = fake.wait_message(CHAT, "is blocked").await;
    // The second attempt ran at once, not an hour later.
    assert_eq!(h.get("/api/tasks/1").await["attempts"], 2, "the retry ran");

    // Someone in another chat presses Cancel under a forwarded copy of the message.
    let stranger = 666;
    let query = fake.push_button(stranger, "mallory", blocked.message_id, "cancel:1");
    // Handled in order: the stranger's press came first, and did not cancel.
    let unblocked = ask(&fake, "/unblock T-1").await;
    assert!(
        unblocked.text.contains("T-1</b> is now pending"),
        "{}",
        unblocked.text
    );
    assert!(
        !fake
            .calls("answerCallbackQuery")
            .iter()
            .any(|c| c.body["callback_query_id"] == query.as_str()),
        "no answer to a stranger"
    );
    assert!(fake.sent_to(stranger).is_empty());
    assert_eq!(
        fake.sent_to(CHAT)
            .iter()
            .find(|s| s.message_id == blocked.message_id)
            .unwrap()
            .edits,
        0,
        "the message is not edited"
    );
    let history = h.get("/api/tasks/1/history").await;
    let by_alice = history
        .as_array()
        .or_else(|| history["items"].as_array())
        .unwrap()
        .iter()
        .filter(|t| t["actor"] == "telegram:alice")
        .count();
    // A retry out of backoff changes no status (no history row); the unblock does.
    assert_eq!(by_alice, 1, "the unblock in the history: {history}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_group_only_replies_to_the_bots_questions_get_an_answer() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let group = -4242;
    let mut env = telegram_env(&fake);
    env.retain(|(k, _)| *k != "TELEGRAM_CHAT_ID");
    env.push(("TELEGRAM_CHAT_ID", format!("{group},{CHAT}")));
    env.push(("TELEGRAM_NOTIFY", "created".to_owned()));
    let h = Harness::start(dir.path(), &env);
    h.post("/api/tasks", serde_json::json!({"title": "Announced"}))
        .await;
    let notice = fake.wait_message(group, "Announced").await;
    let private_notice = fake.wait_message(CHAT, "Announced").await;
    h.wait_json("/api/telegram", "deliveries recorded", |v| {
        v["outbox_pending"] == 0
    })
    .await;

    // People reply to each other, and to the bot's notice, in the group.
    fake.push_reply(group, "bob", "did you see this?", 777_777);
    fake.push_reply(group, "carol", "nice", notice.message_id);
    // The private chat: a reply to something the bot never sent stays unanswered too,
    // a reply to its notice gets the hint.
    fake.push_reply(CHAT, USER, "hm", 888_888);
    let hint_for = fake.push_reply(CHAT, USER, "thanks", private_notice.message_id);
    let hint = fake
        .wait_for(std::time::Duration::from_secs(20), "the hint", |f| {
            f.sent_to(CHAT)
                .into_iter()
                .find(|s| s.text.contains("not a question"))
        })
        .await;
    let answered_to: Vec<i64> = fake
        .calls("sendMessage")
        .iter()
        .filter_map(|c| c.body["reply_parameters"]["message_id"].as_i64())
        .collect();
    assert_eq!(answered_to, [500_000 + hint_for], "{hint:?}");
    // A command in the group, after all of those, is still answered.
    let update = fake.push_message(group, "bob", "/help");
    fake.wait_for(
        std::time::Duration::from_secs(20),
        "the group's help",
        |f| {
            f.calls("sendMessage").into_iter().find(|c| {
                c.body["reply_parameters"]["message_id"].as_i64() == Some(500_000 + update)
            })
        },
    )
    .await;
    let group_texts: Vec<String> = fake.sent_to(group).into_iter().map(|s| s.text).collect();
    assert_eq!(
        group_texts.len(),
        2,
        "the notice and the help: {group_texts:#?}"
    );
    assert!(!group_texts.iter().any(|t| t.contains("not a question")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_answer_waits_out_a_429_and_is_sent() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let _h = Harness::start(dir.path(), &telegram_env(&fake));
    fake.fail_next(
        "sendMessage",
        429,
        "Too Many Requests: retry after 1",
        Some(1),
    );
    let help = ask(&fake, "/help").await;
    assert!(help.text.contains("/status"), "{}", help.text);
    let calls: Vec<_> = fake
        .calls("sendMessage")
        .into_iter()
        .filter(|c| c.body["reply_parameters"]["message_id"].is_i64())
        .collect();
    assert_eq!(calls.len(), 2, "refused once, then sent");
    let waited = calls[1].at - calls[0].at;
    assert!(
        waited >= std::time::Duration::from_secs(1),
        "waited only {waited:?}"
    );
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
