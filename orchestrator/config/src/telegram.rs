//! Telegram settings: parsed and checked here, so the rest of the code gets a token
//! that looks like one, integer chat ids and a known mode.

use std::{collections::BTreeSet, time::Duration};

use clap::Args;
use serde::Deserialize;

use super::{ConfigError, Secret, invalid};

const DEFAULT_API_URL: &str = "https://api.telegram.org";

/// Flags and environment variables for Telegram.
#[derive(Debug, Clone, Default, Args)]
pub struct TelegramArgs {
    /// TELEGRAM_BOT_TOKEN: from the environment only, like every secret (a flag shows
    /// in `ps`); see `ConfigArgs::with_env_secrets`.
    #[arg(skip)]
    pub telegram_bot_token: Option<Secret>,
    /// Chat id, or a comma-separated list: notifications go to all, commands come only from them.
    #[arg(long, env = "TELEGRAM_CHAT_ID")]
    pub telegram_chat_id: Option<String>,
    /// Bot API base URL [default: https://api.telegram.org].
    #[arg(long, env = "TELEGRAM_API_URL")]
    pub telegram_api_url: Option<String>,
    /// `polling` (getUpdates) or `webhook` [default: polling].
    #[arg(long, env = "TELEGRAM_MODE")]
    pub telegram_mode: Option<String>,
    /// Public HTTPS URL Telegram posts updates to in webhook mode (ends in /api/telegram/webhook).
    #[arg(long, env = "TELEGRAM_WEBHOOK_URL")]
    pub telegram_webhook_url: Option<String>,
    /// TELEGRAM_WEBHOOK_SECRET: from the environment only (see above).
    #[arg(skip)]
    pub telegram_webhook_secret: Option<Secret>,
    /// Notification kinds, comma-separated [default: completed,blocked,diagnosis,question,budget,rate_limit,recovered,stopped].
    #[arg(long, env = "TELEGRAM_NOTIFY")]
    pub telegram_notify: Option<String>,
    /// Long-poll timeout of getUpdates in seconds [default: 25].
    #[arg(long, env = "TELEGRAM_POLL_TIMEOUT_SECS")]
    pub telegram_poll_timeout_secs: Option<u64>,
}

/// The `[telegram]` table of harness.toml. The token and webhook secret are not accepted here.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramFile {
    chat_id: Option<ChatIds>,
    api_url: Option<String>,
    mode: Option<String>,
    webhook_url: Option<String>,
    notify: Option<Vec<String>>,
    poll_timeout_secs: Option<u64>,
}

/// `chat_id` in harness.toml: `42`, `[42, -100123]` or `"42,-100123"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
enum ChatIds {
    One(i64),
    Many(Vec<i64>),
    Text(String),
}

impl ChatIds {
    /// The comma-separated form of `TELEGRAM_CHAT_ID`, checked by one parser.
    fn into_text(self) -> String {
        match self {
            Self::One(id) => id.to_string(),
            Self::Many(ids) => ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
            Self::Text(text) => text,
        }
    }
}

/// How updates reach the harness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TelegramMode {
    Polling,
    Webhook { url: String, secret: Secret },
}

impl TelegramMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Polling => "polling",
            Self::Webhook { .. } => "webhook",
        }
    }
}

/// What a person can be told about. The default set is what one wants on a phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotifyKind {
    Completed,
    Blocked,
    Diagnosis,
    Question,
    Budget,
    RateLimit,
    Recovered,
    Stopped,
    /// Each failed attempt that will be retried (not in the default set).
    Failed,
    /// Each task created (not in the default set).
    Created,
    /// A task SIA proposes, waiting for `/accept` or `/reject`.
    Proposed,
    /// Verified work waiting for a person's review, with Approve / Request changes.
    Review,
}

impl NotifyKind {
    pub const ALL: [Self; 12] = [
        Self::Completed,
        Self::Blocked,
        Self::Diagnosis,
        Self::Question,
        Self::Budget,
        Self::RateLimit,
        Self::Recovered,
        Self::Stopped,
        Self::Failed,
        Self::Created,
        Self::Proposed,
        Self::Review,
    ];
    pub(crate) const DEFAULT: [Self; 10] = [
        Self::Completed,
        Self::Blocked,
        Self::Diagnosis,
        Self::Question,
        Self::Budget,
        Self::RateLimit,
        Self::Recovered,
        Self::Stopped,
        Self::Proposed,
        Self::Review,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Blocked => "blocked",
            Self::Diagnosis => "diagnosis",
            Self::Question => "question",
            Self::Budget => "budget",
            Self::RateLimit => "rate_limit",
            Self::Recovered => "recovered",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
            Self::Created => "created",
            Self::Proposed => "proposed",
            Self::Review => "review",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// Validated Telegram settings; present only when a token is set.
#[derive(Debug, Clone)]
pub struct TelegramSettings {
    pub token: Secret,
    pub chat_ids: Vec<i64>,
    pub api_url: String,
    pub mode: TelegramMode,
    pub notify: BTreeSet<NotifyKind>,
    pub poll_timeout: Duration,
    /// Where the dashboard is reachable, without a trailing slash.
    pub public_url: Option<String>,
}

impl TelegramSettings {
    /// `None` when no token is set: Telegram is off and the other settings are not used.
    pub fn load(
        args: TelegramArgs,
        file: Option<TelegramFile>,
        public_url: Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let file = file.unwrap_or_default();
        let Some(token) = args
            .telegram_bot_token
            .filter(|t| !t.expose().trim().is_empty())
        else {
            return Ok(None);
        };
        check_token(token.expose())?;
        let chat_ids = parse_chat_ids(
            args.telegram_chat_id
                .or(file.chat_id.map(ChatIds::into_text))
                .unwrap_or_default()
                .as_str(),
        )?;
        let api_url = parse_url(
            "TELEGRAM_API_URL",
            args.telegram_api_url
                .or(file.api_url)
                .unwrap_or_else(|| DEFAULT_API_URL.to_owned()),
        )?;
        let mode = match args
            .telegram_mode
            .or(file.mode)
            .unwrap_or_else(|| "polling".into())
            .trim()
        {
            "polling" => TelegramMode::Polling,
            "webhook" => webhook_mode(
                args.telegram_webhook_url.or(file.webhook_url),
                args.telegram_webhook_secret,
            )?,
            _ => return Err(invalid("TELEGRAM_MODE", "must be polling or webhook")),
        };
        let notify = match (args.telegram_notify, file.notify) {
            (Some(list), _) => parse_notify(list.split(','))?,
            (None, Some(list)) => parse_notify(list.iter().map(String::as_str))?,
            (None, None) => NotifyKind::DEFAULT.into_iter().collect(),
        };
        let poll_timeout = args
            .telegram_poll_timeout_secs
            .or(file.poll_timeout_secs)
            .unwrap_or(25);
        if !(1..=50).contains(&poll_timeout) {
            return Err(invalid(
                "TELEGRAM_POLL_TIMEOUT_SECS",
                "must be between 1 and 50",
            ));
        }
        Ok(Some(Self {
            token,
            chat_ids,
            api_url,
            mode,
            notify,
            poll_timeout: Duration::from_secs(poll_timeout),
            public_url,
        }))
    }
}

/// `digits:chars`, as BotFather hands them out.
fn check_token(token: &str) -> Result<(), ConfigError> {
    let ok = token.split_once(':').is_some_and(|(id, rest)| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && rest.len() >= 20
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "TELEGRAM_BOT_TOKEN",
            "must look like 123456789:AAH... (digits, a colon, then the secret from @BotFather)",
        ))
    }
}

fn parse_chat_ids(raw: &str) -> Result<Vec<i64>, ConfigError> {
    let mut ids = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id: i64 = part.parse().map_err(|_| ConfigError::Invalid {
            name: "TELEGRAM_CHAT_ID",
            message: format!("'{part}' is not an integer chat id (groups start with -)"),
        })?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(invalid(
            "TELEGRAM_CHAT_ID",
            "must name at least one chat when TELEGRAM_BOT_TOKEN is set (see docs/TELEGRAM.md)",
        ));
    }
    Ok(ids)
}

fn parse_url(name: &'static str, raw: String) -> Result<String, ConfigError> {
    let url = raw.trim().trim_end_matches('/').to_owned();
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(url)
    } else {
        Err(invalid(name, "must start with https:// or http://"))
    }
}

fn webhook_mode(url: Option<String>, secret: Option<Secret>) -> Result<TelegramMode, ConfigError> {
    let url = url.ok_or_else(|| invalid("TELEGRAM_WEBHOOK_URL", "is required in webhook mode"))?;
    let url = parse_url("TELEGRAM_WEBHOOK_URL", url)?;
    let secret = secret
        .filter(|s| !s.expose().is_empty())
        .ok_or_else(|| invalid("TELEGRAM_WEBHOOK_SECRET", "is required in webhook mode"))?;
    // Telegram's own rule for secret_token.
    let s = secret.expose();
    if s.len() > 256
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(invalid(
            "TELEGRAM_WEBHOOK_SECRET",
            "must be 1-256 characters of A-Z, a-z, 0-9, _ and -",
        ));
    }
    Ok(TelegramMode::Webhook { url, secret })
}

fn parse_notify<'a>(
    parts: impl Iterator<Item = &'a str>,
) -> Result<BTreeSet<NotifyKind>, ConfigError> {
    let mut kinds = BTreeSet::new();
    for part in parts.map(str::trim).filter(|p| !p.is_empty()) {
        let kind = NotifyKind::parse(part).ok_or_else(|| ConfigError::Invalid {
            name: "TELEGRAM_NOTIFY",
            message: format!(
                "unknown kind '{part}'; known: {}",
                NotifyKind::ALL.map(NotifyKind::as_str).join(", ")
            ),
        })?;
        kinds.insert(kind);
    }
    Ok(kinds)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345";

    fn args() -> TelegramArgs {
        TelegramArgs {
            telegram_bot_token: Some(Secret::new(TOKEN)),
            telegram_chat_id: Some("42, -100123".into()),
            ..TelegramArgs::default()
        }
    }

    fn err(args: TelegramArgs) -> String {
        TelegramSettings::load(args, None, None)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn no_token_means_telegram_is_off_whatever_else_is_set() {
        let a = TelegramArgs {
            telegram_chat_id: Some("not-a-number".into()),
            ..TelegramArgs::default()
        };
        assert!(TelegramSettings::load(a, None, None).unwrap().is_none());
    }

    #[test]
    fn a_token_without_the_digits_colon_form_is_rejected_by_name() {
        let mut a = args();
        a.telegram_bot_token = Some(Secret::new("not-a-token"));
        let e = err(a);
        assert!(e.starts_with("TELEGRAM_BOT_TOKEN"), "{e}");
        assert!(!e.contains("not-a-token"), "the value is not echoed: {e}");
    }

    #[test]
    fn a_chat_id_that_is_not_an_integer_is_rejected_by_name() {
        let mut a = args();
        a.telegram_chat_id = Some("42,@channel".into());
        assert!(err(a).starts_with("TELEGRAM_CHAT_ID"));
    }

    #[test]
    fn several_chat_ids_and_the_defaults_are_read() {
        let s = TelegramSettings::load(args(), None, None).unwrap().unwrap();
        assert_eq!(s.chat_ids, [42, -100123]);
        assert_eq!(s.api_url, DEFAULT_API_URL);
        assert_eq!(s.mode, TelegramMode::Polling);
        assert!(s.notify.contains(&NotifyKind::Blocked));
        assert!(!s.notify.contains(&NotifyKind::Created));
    }

    fn file(toml_text: &str) -> Result<TelegramFile, toml::de::Error> {
        toml::from_str(toml_text)
    }

    #[test]
    fn a_chat_id_in_the_file_may_be_an_integer_a_list_or_text() {
        let mut a = args();
        a.telegram_chat_id = None;
        for (text, ids) in [
            ("chat_id = 42", vec![42]),
            ("chat_id = -100123", vec![-100123]),
            ("chat_id = [42, -100123, 42]", vec![42, -100123]),
            ("chat_id = \"42, -100123\"", vec![42, -100123]),
        ] {
            let s = TelegramSettings::load(a.clone(), Some(file(text).unwrap()), None)
                .unwrap()
                .unwrap();
            assert_eq!(s.chat_ids, ids, "{text}");
        }
        assert!(file("chat_id = 4.2").is_err());
        assert!(file("chat_id = [\"42\"]").is_err());
        let empty = TelegramSettings::load(a.clone(), Some(file("chat_id = []").unwrap()), None);
        assert!(
            empty
                .unwrap_err()
                .to_string()
                .starts_with("TELEGRAM_CHAT_ID")
        );
        // The environment wins over the file.
        a.telegram_chat_id = Some("7".into());
        let s = TelegramSettings::load(a, Some(file("chat_id = 42").unwrap()), None)
            .unwrap()
            .unwrap();
        assert_eq!(s.chat_ids, [7]);
    }

    #[test]
    fn webhook_mode_needs_a_url_and_a_secret() {
        let mut a = args();
        a.telegram_mode = Some("webhook".into());
        assert!(err(a.clone()).starts_with("TELEGRAM_WEBHOOK_URL"));
        a.telegram_webhook_url = Some("https://example.com/api/telegram/webhook".into());
        assert!(err(a.clone()).starts_with("TELEGRAM_WEBHOOK_SECRET"));
        a.telegram_webhook_secret = Some(Secret::new("s3cret_value"));
        let s = TelegramSettings::load(a, None, None).unwrap().unwrap();
        assert_eq!(s.mode.as_str(), "webhook");
    }

    #[test]
    fn an_unknown_notification_kind_is_rejected_by_name() {
        let mut a = args();
        a.telegram_notify = Some("completed,everything".into());
        assert!(err(a).starts_with("TELEGRAM_NOTIFY"));
    }
}
