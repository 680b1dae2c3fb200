//! What reaches the chat: completions with their merge commit, blocked tasks with
//! buttons that act, questions answered by a reply, hostile text escaped.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    CHAT, Harness, USER, engine_config, fake_telegram::FakeTelegram, git_repo, telegram_env,
};

use harness_testkit::fake_anthropic;

use fake_anthropic::{FakeAnthropic, Reply};

/// Waits until the harness recorded every delivery (what a person's reply or button
/// press refers to), as it has long done by the time a person reacts.
async fn wait_recorded(h: &Harness) {
    h.wait_json("/api/telegram", "deliveries recorded", |v| {
        v["outbox_pending"] == 0 && v["last_delivery_at"].is_string()
    })
    .await;
}

async fn wait_task(h: &Harness, id: i64, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    h.wait_json(&format!("/api/tasks/{id}"), what, check).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_task_arrives_with_buttons_and_a_press_acts_and_says_who() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let dir = tempfile::tempdir().unwrap();
    engine_config(dir.path(), &git_repo::repo_path(&repo), "error");
    let fake = FakeTelegram::start().await;
    let h = Harness::start(dir.path(), &telegram_env(&fake));
    let task = h
        .post(
            "/api/tasks",
            json!({"title": "Doomed <task>", "max_attempts": 1}),
        )
        .await;
    let id = task["id"].as_i64().unwrap();

    let blocked = fake.wait_message(CHAT, "is blocked").await;
    assert!(blocked.text.contains("T-1 is blocked"), "{}", blocked.text);
    assert!(
        blocked.text.contains("Doomed &lt;task&gt;"),
        "{}",
        blocked.text
    );
    assert!(
        blocked.text.contains("could not finish: tests fail"),
        "the failure summary: {}",
        blocked.text
    );
    assert!(
        !blocked.text.contains("diagnosis"),
        "no investigator is staffed, so none is promised: {}",
        blocked.text
    );
    let buttons: Vec<(String, String)> = blocked.reply_markup.as_ref().unwrap()["inline_keyboard"]
        [0]
    .as_array()
    .unwrap()
    .iter()
    .map(|b| {
        (
            b["text"].as_str().unwrap().to_owned(),
            b["callback_data"].as_str().unwrap().to_owned(),
        )
    })
    .collect();
    assert_eq!(
        buttons,
        [
            ("Retry".to_owned(), format!("retry:{id}")),
            ("Unblock".to_owned(), format!("unblock:{id}")),
            ("Cancel".to_owned(), format!("cancel:{id}")),
        ]
    );

    wait_recorded(&h).await;
    let query = fake.push_button(CHAT, USER, blocked.message_id, &format!("cancel:{id}"));
    let edited = fake
        .wait_for(Duration::from_secs(20), "the message edited", |f| {
            f.sent_to(CHAT)
                .into_iter()
                .find(|s| s.message_id == blocked.message_id && s.edits > 0)
        })
        .await;
    assert!(
        edited.text.contains("Cancelled by alice"),
        "{}",
        edited.text
    );
    assert!(
        edited.text.contains("Doomed &lt;task&gt;"),
        "the original stays: {}",
        edited.text
    );
    assert_eq!(
        edited.reply_markup,
        Some(json!({"inline_keyboard": []})),
        "the buttons are gone"
    );
    let answered = fake.calls("answerCallbackQuery");
    assert!(
        answered
            .iter()
            .any(|c| c.body["callback_query_id"] == query.as_str()),
        "the button stops spinning"
    );
    assert_eq!(
        h.get(&format!("/api/tasks/{id}")).await["status"],
        "cancelled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_is_answered_by_a_reply_and_the_completion_names_the_merge_commit() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let anthropic = FakeAnthropic::start(vec![
        Reply::tool(
            "write_file",
            json!({"path": "draft.txt", "content": "half"}),
        ),
        Reply::tool("ask_human", json!({"question": "Blue or <green>?"})),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("harness.toml"),
        format!(
            "workspace = {:?}\ntick_secs = 0.1\nsession_spacing_secs = 0\n",
            path.display().to_string()
        ),
    )
    .unwrap();
    let fake = FakeTelegram::start().await;
    let mut env = telegram_env(&fake);
    env.push(("ANTHROPIC_API_KEY", fake_anthropic::API_KEY.to_owned()));
    env.push(("ANTHROPIC_BASE_URL", anthropic.base_url.clone()));
    env.push((
        "HARNESS_PUBLIC_URL",
        "https://harness.example.com/".to_owned(),
    ));
    let h = Harness::start(dir.path(), &env);
    let task = h
        .post("/api/tasks", json!({"title": "Pick a colour"}))
        .await;
    let id = task["id"].as_i64().unwrap();

    let question = fake.wait_message(CHAT, "asks").await;
    assert!(
        question.text.contains("Blue or &lt;green&gt;?"),
        "{}",
        question.text
    );
    assert!(
        question
            .text
            .contains(&format!("https://harness.example.com/tasks/{id}")),
        "a link to the dashboard: {}",
        question.text
    );
    assert_eq!(question.reply_markup.as_ref().unwrap()["force_reply"], true);

    anthropic.push([Reply::tool(
        "complete_task",
        json!({"summary": "went with green"}),
    )]);
    wait_recorded(&h).await;
    fake.push_reply(CHAT, USER, "green, please", question.message_id);
    fake.wait_message(CHAT, "Answer recorded for").await;
    let done = wait_task(&h, id, "completed", |t| t["status"] == "completed").await;
    assert_eq!(done["answer"], Value::Null);
    let head = git_repo::git(&path, &["rev-parse", "main"]);
    let completed = fake.wait_message(CHAT, "completed").await;
    assert!(
        completed.text.contains("T-1 completed"),
        "{}",
        completed.text
    );
    assert!(
        completed.text.contains(&format!("merged as {head}")),
        "the merge commit {head}: {}",
        completed.text
    );
    let last = anthropic.requests().pop().unwrap();
    assert!(
        last.all_text().contains("green, please"),
        "the agent got the answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_titles_are_escaped_and_never_refused() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = telegram_env(&fake);
    env.push(("TELEGRAM_NOTIFY", "created".to_owned()));
    let h = Harness::start(dir.path(), &env);
    let hostile = r#"</b><a href="javascript:x">&amp; <script>alert(1)</script> "q" &"#;
    h.post("/api/tasks", json!({"title": hostile})).await;
    let sent = fake.wait_message(CHAT, "created").await;
    assert!(
        sent.text.contains(
            "&lt;/b&gt;&lt;a href=&quot;javascript:x&quot;&gt;&amp;amp; &lt;script&gt;alert(1)&lt;/script&gt; &quot;q&quot; &amp;"
        ),
        "{}",
        sent.text
    );
    // The fake refuses HTML Telegram would refuse; nothing was.
    let status = h
        .wait_json("/api/telegram", "delivered", |v| v["outbox_pending"] == 0)
        .await;
    assert_eq!(status["outbox_failed"], 0, "{status}");
    assert_eq!(fake.sent_to(CHAT).len(), 1);
}

/// The buttons under a blocked task's message, as (label, callback data).
fn buttons(sent: &crate::fake_telegram::Sent) -> Vec<(String, String)> {
    sent.reply_markup.as_ref().expect("a keyboard")["inline_keyboard"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["text"].as_str().unwrap().to_owned(),
                b["callback_data"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diagnosis_is_promised_and_follows_when_an_investigator_is_staffed() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let dir = tempfile::tempdir().unwrap();
    engine_config(dir.path(), &git_repo::repo_path(&repo), "error");
    let fake_cli =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake-claude");
    let mut toml = std::fs::read_to_string(dir.path().join("harness.toml")).unwrap();
    toml.push_str(&format!(
        "[agents.investigator]\nruntime = \"cli\"\ncommand = [\"env\", \"FAKE_CLAUDE_MODE=success\", {:?}]\n",
        fake_cli.display().to_string()
    ));
    std::fs::write(dir.path().join("harness.toml"), toml).unwrap();
    let fake = FakeTelegram::start().await;
    let h = Harness::start(dir.path(), &telegram_env(&fake));
    let task = h
        .post(
            "/api/tasks",
            json!({"title": "Needs a look", "max_attempts": 1}),
        )
        .await;
    let id = task["id"].as_i64().unwrap();

    let blocked = fake.wait_message(CHAT, "is blocked").await;
    assert!(
        blocked.text.contains("diagnosis follows"),
        "an investigator is staffed: {}",
        blocked.text
    );
    let diagnosis = fake.wait_message(CHAT, "T-1 diagnosis").await;
    let task = wait_task(&h, id, "the diagnosis stored", |t| {
        t["diagnosis"].is_string()
    })
    .await;
    let stored = task["diagnosis"].as_str().unwrap();
    assert!(!stored.is_empty());
    let first_line = stored.lines().next().unwrap();
    assert!(
        diagnosis.text.contains(first_line),
        "the diagnosis {first_line:?} in {}",
        diagnosis.text
    );
    assert!(
        diagnosis.reply_markup.is_none(),
        "the follow-up has no buttons"
    );
    let sent = fake.sent_to(CHAT);
    let blocked_at = sent
        .iter()
        .position(|s| s.text.contains("is blocked"))
        .unwrap();
    let diagnosis_at = sent
        .iter()
        .position(|s| s.text.contains("T-1 diagnosis"))
        .unwrap();
    assert!(
        blocked_at < diagnosis_at,
        "the diagnosis follows the blocked message"
    );
    assert_eq!(
        sent.iter()
            .filter(|s| s.text.contains("is blocked"))
            .count(),
        1,
        "one blocked message: {sent:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_blocked_by_repeated_crashes_arrives_with_buttons_after_the_restart() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let dir = tempfile::tempdir().unwrap();
    engine_config(dir.path(), &git_repo::repo_path(&repo), "sleep");
    let fake = FakeTelegram::start().await;
    let mut env = telegram_env(&fake);
    env.push(("HARNESS_MAX_CRASH_INTERRUPTIONS", "1".to_owned()));
    let h = Harness::start(dir.path(), &env);
    let task = h.post("/api/tasks", json!({"title": "Crashy <one>"})).await;
    let id = task["id"].as_i64().unwrap();
    wait_task(&h, id, "running", |t| t["status"] == "in_progress").await;
    h.kill_9();

    let h = Harness::start(dir.path(), &env);
    let blocked = fake.wait_message(CHAT, "is blocked").await;
    assert!(blocked.text.contains("T-1 is blocked"), "{}", blocked.text);
    assert!(
        blocked.text.contains("Crashy &lt;one&gt;"),
        "{}",
        blocked.text
    );
    assert!(
        blocked.text.contains("interrupted by 1 orchestrator crash"),
        "the reason: {}",
        blocked.text
    );
    assert!(!blocked.text.contains("diagnosis"), "{}", blocked.text);
    assert_eq!(
        buttons(&blocked),
        [
            ("Retry".to_owned(), format!("retry:{id}")),
            ("Unblock".to_owned(), format!("unblock:{id}")),
            ("Cancel".to_owned(), format!("cancel:{id}")),
        ]
    );
    let recovered = fake
        .wait_message(CHAT, "Orchestrator started after an unclean stop")
        .await;
    assert!(
        recovered.text.contains("1 sessions interrupted"),
        "{}",
        recovered.text
    );
    assert_eq!(
        h.get(&format!("/api/tasks/{id}")).await["status"],
        "blocked"
    );
    // The buttons act on it.
    wait_recorded(&h).await;
    fake.push_button(CHAT, USER, blocked.message_id, &format!("cancel:{id}"));
    wait_task(&h, id, "cancelled", |t| t["status"] == "cancelled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_is_answered_with_the_answer_command() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let anthropic = FakeAnthropic::start(vec![Reply::tool(
        "ask_human",
        json!({"question": "Tabs or spaces?"}),
    )])
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("harness.toml"),
        format!(
            "workspace = {:?}\ntick_secs = 0.1\nsession_spacing_secs = 0\n",
            path.display().to_string()
        ),
    )
    .unwrap();
    let fake = FakeTelegram::start().await;
    let mut env = telegram_env(&fake);
    env.push(("ANTHROPIC_API_KEY", fake_anthropic::API_KEY.to_owned()));
    env.push(("ANTHROPIC_BASE_URL", anthropic.base_url.clone()));
    let h = Harness::start(dir.path(), &env);
    let task = h.post("/api/tasks", json!({"title": "Indent"})).await;
    let id = task["id"].as_i64().unwrap();
    let question = fake.wait_message(CHAT, "asks").await;
    assert!(question.text.contains("/answer T-1"), "{}", question.text);
    anthropic.push([Reply::tool(
        "complete_task",
        json!({"summary": "used spaces", "no_changes_needed": "a decision, no code"}),
    )]);
    let answered = crate::commands::ask(&fake, "/answer T-1 spaces, four").await;
    assert!(
        answered.text.contains("Answer recorded for"),
        "{}",
        answered.text
    );
    wait_task(&h, id, "completed", |t| t["status"] == "completed").await;
    let last = anthropic.requests().pop().unwrap();
    assert!(
        last.all_text().contains("spaces, four"),
        "the agent got the answer"
    );
    let history = h.get("/api/events?type=task.answered").await;
    assert!(history.to_string().contains("telegram:alice"), "{history}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_limit_reached_is_announced_with_the_spend() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let dir = tempfile::tempdir().unwrap();
    engine_config(dir.path(), &git_repo::repo_path(&repo), "success");
    let fake = FakeTelegram::start().await;
    let mut env = telegram_env(&fake);
    // One session of the fake CLI costs $0.0123.
    env.push(("HARNESS_BUDGET_DAILY_USD", "0.01".to_owned()));
    let h = Harness::start(dir.path(), &env);
    h.post("/api/tasks", json!({"title": "Spend it"})).await;
    let budget = fake.wait_message(CHAT, "Budget limit reached").await;
    assert!(
        budget.text.contains("Spent today: $0.01"),
        "{}",
        budget.text
    );
    assert!(budget.reply_markup.is_none());
    let status = h.get("/api/budget").await;
    assert_eq!(status["exceeded"], true, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_in_review_arrives_with_buttons_a_reply_requests_changes_and_approve_lands_it() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let write = |content: &str| {
        [
            Reply::tool("write_file", json!({"path": "a.txt", "content": content})),
            Reply::tool("complete_task", json!({"summary": "wrote a.txt"})),
        ]
    };
    let anthropic = FakeAnthropic::start(write("one\n").to_vec()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("harness.toml"),
        format!(
            "workspace = {:?}\ntick_secs = 0.1\nsession_spacing_secs = 0\n",
            path.display().to_string()
        ),
    )
    .unwrap();
    let fake = FakeTelegram::start().await;
    let mut env = telegram_env(&fake);
    env.push(("ANTHROPIC_API_KEY", fake_anthropic::API_KEY.to_owned()));
    env.push(("ANTHROPIC_BASE_URL", anthropic.base_url.clone()));
    let h = Harness::start(dir.path(), &env);
    let task = h
        .post("/api/tasks", json!({"title": "Write a", "land": "review"}))
        .await;
    let id = task["id"].as_i64().unwrap();

    let review = fake.wait_message(CHAT, "waits for review").await;
    let buttons: Vec<String> = review.reply_markup.as_ref().unwrap()["inline_keyboard"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["callback_data"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(buttons, [format!("approve:{id}"), format!("changes:{id}")]);

    // A reply to the review is the change request.
    anthropic.push(write("two\n"));
    wait_recorded(&h).await;
    fake.push_reply(CHAT, USER, "Write two instead", review.message_id);
    fake.wait_message(CHAT, "Changes requested for").await;
    let second = fake
        .wait_for(Duration::from_secs(30), "a second review message", |f| {
            f.sent_to(CHAT)
                .into_iter()
                .filter(|s| s.text.contains("waits for review"))
                .nth(1)
        })
        .await;
    assert!(
        anthropic
            .requests()
            .iter()
            .any(|r| r.all_text().contains("Write two instead")),
        "the agent got the change request"
    );

    wait_recorded(&h).await;
    fake.push_button(CHAT, USER, second.message_id, &format!("approve:{id}"));
    let edited = fake
        .wait_for(Duration::from_secs(20), "the review message edited", |f| {
            f.sent_to(CHAT)
                .into_iter()
                .find(|s| s.message_id == second.message_id && s.edits > 0)
        })
        .await;
    assert!(edited.text.contains("Approved by alice"), "{}", edited.text);
    wait_task(&h, id, "completed", |t| t["status"] == "completed").await;
    assert_eq!(git_repo::git(&path, &["show", "main:a.txt"]), "two");
}
