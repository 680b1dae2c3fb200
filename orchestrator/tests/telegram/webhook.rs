//! Webhook mode: setWebhook with the secret at start, and every delivery checked.

use crate::{CHAT, Harness, USER, fake_telegram::FakeTelegram, telegram_env};

const SECRET: &str = "webhook-secret_for-tests";
const HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_refuses_a_wrong_secret_and_acts_on_the_right_one() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = telegram_env(&fake);
    env.push(("TELEGRAM_MODE", "webhook".to_owned()));
    env.push((
        "TELEGRAM_WEBHOOK_URL",
        "https://harness.example.com/api/telegram/webhook".to_owned(),
    ));
    env.push(("TELEGRAM_WEBHOOK_SECRET", SECRET.to_owned()));
    // The webhook is reachable without the API token; the API itself is not.
    env.push((
        "HARNESS_API_TOKEN",
        "an-api-token-of-some-length".to_owned(),
    ));
    let h = Harness::start(dir.path(), &env);
    let (url, secret) = fake
        .wait_for(std::time::Duration::from_secs(10), "setWebhook", |f| {
            f.webhook()
        })
        .await;
    assert_eq!(url, "https://harness.example.com/api/telegram/webhook");
    assert_eq!(secret, SECRET);

    let hook = format!("{}/api/telegram/webhook", h.base);
    let update = |id: i64, text: &str| FakeTelegram::message_update(id, CHAT, USER, text, None);
    let client = h.client();
    for header in [None, Some("wrong"), Some("webhook-secret_for-test")] {
        let mut req = client.post(&hook).json(&update(1, "/add sneaky"));
        if let Some(v) = header {
            req = req.header(HEADER, v);
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), 401, "secret {header:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "{body}");
    }
    let response = client
        .post(&hook)
        .header(HEADER, SECRET)
        .json(&update(2, "/add from the hook"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let created = fake.wait_message(CHAT, "Created").await;
    assert!(created.text.contains("from the hook"), "{}", created.text);
    // The same update delivered again (Telegram retries) is not run twice.
    let again = client
        .post(&hook)
        .header(HEADER, SECRET)
        .json(&update(2, "/add from the hook"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let third = client
        .post(&hook)
        .header(HEADER, SECRET)
        .json(&update(3, "/help"))
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), 200);
    fake.wait_message(CHAT, "Commands").await;
    let tasks: serde_json::Value = client
        .get(format!("{}/api/tasks", h.base))
        .bearer_auth("an-api-token-of-some-length")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tasks["total"], 1, "{tasks}");
    assert!(
        fake.calls("getUpdates").is_empty(),
        "no polling in webhook mode"
    );
}
