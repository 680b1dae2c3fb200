//! Settings that bound what the engine may spend, keep and retry: landing, crash
//! interruptions, spend caps, session logs, the git timeout and how long a worker waits
//! for an orchestrator that is away.

use std::time::Duration;

use clap::Args;

use super::{ConfigError, invalid};

/// Flags and environment variables of the engine's bounds.
#[derive(Debug, Clone, Default, Args)]
pub struct ReliabilityArgs {
    /// Seconds a git command of the harness may run before its process group is killed [default: 300].
    #[arg(long, env = "HARNESS_GIT_TIMEOUT_SECS")]
    pub git_timeout_secs: Option<f64>,
    /// Times an attempt brings its branch up to a base that keeps moving before it fails [default: 3].
    #[arg(long, env = "HARNESS_LAND_TRIES")]
    pub land_tries: Option<u32>,
    /// Restarts a task's sessions may be interrupted by before it is blocked [default: 2].
    #[arg(long, env = "HARNESS_MAX_CRASH_INTERRUPTIONS")]
    pub max_crash_interruptions: Option<u32>,
    /// Sessions of one task that may end without counting an attempt (an interruption, a
    /// runtime or worktree that cannot start) within HARNESS_REQUEUE_WINDOW_SECS; the next
    /// one counts as a failed attempt, with its backoff [default: 3].
    #[arg(long, env = "HARNESS_MAX_REQUEUES")]
    pub max_requeues: Option<u32>,
    /// The window HARNESS_MAX_REQUEUES counts in, in seconds [default: 600].
    #[arg(long, env = "HARNESS_REQUEUE_WINDOW_SECS")]
    pub requeue_window_secs: Option<f64>,
    /// Seconds verified work waits for a base that refuses it (the checkout has changes
    /// in the way, a lock, a base that keeps moving) before the attempt fails [default: 3600].
    #[arg(long, env = "HARNESS_LAND_WAIT_SECS")]
    pub land_wait_secs: Option<f64>,
    /// Largest file an attempt's work may add, in MB; larger ones are not landed (0: no cap) [default: 50].
    #[arg(long, env = "HARNESS_LAND_MAX_FILE_MB")]
    pub land_max_file_mb: Option<u64>,
    /// Land symlinks that are absolute or lead outside the repository [default: false].
    #[arg(long, env = "HARNESS_LAND_ALLOW_OUTSIDE_SYMLINKS", value_parser = clap::builder::BoolishValueParser::new())]
    pub land_allow_outside_symlinks: Option<bool>,
    /// Cost limit of one session in USD; unset: none.
    #[arg(long, env = "HARNESS_SESSION_MAX_USD")]
    pub session_max_usd: Option<f64>,
    /// When a budget limit is crossed mid-session: `stop` the running sessions or let them `finish` [default: stop].
    #[arg(long, env = "HARNESS_BUDGET_OVERRUN")]
    pub budget_overrun: Option<String>,
    /// Log lines kept per session; past it one marker line says what was cut [default: 20000].
    #[arg(long, env = "HARNESS_SESSION_LOG_MAX_LINES")]
    pub session_log_max_lines: Option<u64>,
    /// Log bytes kept per session [default: 16 MiB].
    #[arg(long, env = "HARNESS_SESSION_LOG_MAX_BYTES")]
    pub session_log_max_bytes: Option<u64>,
    /// Days session logs are kept after their session ended [default: 30].
    #[arg(long, env = "HARNESS_SESSION_LOG_RETENTION_DAYS")]
    pub session_log_retention_days: Option<f64>,
    /// Seconds a remote worker keeps retrying an orchestrator it cannot reach before it gives up [default: 300].
    #[arg(long, env = "HARNESS_WORKER_RECONNECT_SECS")]
    pub worker_reconnect_secs: Option<f64>,
}

/// What happens to running sessions when a budget limit is crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overrun {
    #[default]
    Stop,
    Finish,
}

/// Validated bounds.
#[derive(Debug, Clone)]
pub struct ReliabilitySettings {
    pub git_timeout: Duration,
    pub land_tries: u32,
    pub max_crash_interruptions: u32,
    /// Requeues of one task (sessions that end without using an attempt) allowed within
    /// `requeue_window`; the next counts as a failed attempt.
    pub max_requeues: u32,
    pub requeue_window: Duration,
    /// How long verified work waits to land before the attempt fails.
    pub land_wait: Duration,
    /// What an attempt's work may add and still land (file size, symlinks).
    pub land_content: harness_engine::landing::ContentRules,
    pub session_max_usd: Option<f64>,
    pub budget_overrun: Overrun,
    pub session_log_max_lines: u64,
    pub session_log_max_bytes: u64,
    pub session_log_retention: Duration,
    /// How long a worker waits out an orchestrator that is away (a restart, an
    /// upgrade) before giving up; the orchestrator re-adopts it if it is back in time.
    pub worker_reconnect: Duration,
}

impl Default for ReliabilitySettings {
    fn default() -> Self {
        Self::load(ReliabilityArgs::default()).expect("the defaults are valid")
    }
}

impl ReliabilitySettings {
    pub fn load(args: ReliabilityArgs) -> Result<Self, ConfigError> {
        let git_timeout = args
            .git_timeout_secs
            .unwrap_or(harness_engine::safe_git::GIT_TIMEOUT.as_secs_f64());
        if !git_timeout.is_finite() || !(0.1..=86_400.0).contains(&git_timeout) {
            return Err(invalid(
                "HARNESS_GIT_TIMEOUT_SECS",
                "must be between 0.1 and 86400 seconds",
            ));
        }
        let land_tries = args.land_tries.unwrap_or(3);
        if !(1..=20).contains(&land_tries) {
            return Err(invalid("HARNESS_LAND_TRIES", "must be between 1 and 20"));
        }
        let max_crash_interruptions = args.max_crash_interruptions.unwrap_or(2);
        if max_crash_interruptions > 1000 {
            return Err(invalid(
                "HARNESS_MAX_CRASH_INTERRUPTIONS",
                "must be at most 1000",
            ));
        }
        let max_requeues = args.max_requeues.unwrap_or(3);
        if max_requeues > 1000 {
            return Err(invalid("HARNESS_MAX_REQUEUES", "must be at most 1000"));
        }
        let requeue_window = args.requeue_window_secs.unwrap_or(600.0);
        if !requeue_window.is_finite() || !(1.0..=86_400.0).contains(&requeue_window) {
            return Err(invalid(
                "HARNESS_REQUEUE_WINDOW_SECS",
                "must be between 1 and 86400 seconds",
            ));
        }
        let land_wait = args.land_wait_secs.unwrap_or(3600.0);
        if !land_wait.is_finite() || !(0.0..=7.0 * 86_400.0).contains(&land_wait) {
            return Err(invalid(
                "HARNESS_LAND_WAIT_SECS",
                "must be between 0 and 604800 seconds",
            ));
        }
        let max_file_mb = args
            .land_max_file_mb
            .unwrap_or(harness_engine::landing::DEFAULT_MAX_FILE_MB);
        if max_file_mb > 1 << 20 {
            return Err(invalid(
                "HARNESS_LAND_MAX_FILE_MB",
                "must be at most 1048576 (1 TiB); 0 means no cap",
            ));
        }
        let land_content = harness_engine::landing::ContentRules {
            max_file_bytes: (max_file_mb > 0).then_some(max_file_mb << 20),
            allow_outside_symlinks: args.land_allow_outside_symlinks.unwrap_or(false),
        };
        if let Some(usd) = args.session_max_usd
            && (!usd.is_finite() || usd <= 0.0)
        {
            return Err(invalid(
                "HARNESS_SESSION_MAX_USD",
                "must be a positive amount in USD",
            ));
        }
        let budget_overrun = match args.budget_overrun.as_deref().map(str::trim) {
            None | Some("" | "stop") => Overrun::Stop,
            Some("finish") => Overrun::Finish,
            Some(_) => {
                return Err(invalid(
                    "HARNESS_BUDGET_OVERRUN",
                    "must be `stop` or `finish`",
                ));
            }
        };
        let lines = args.session_log_max_lines.unwrap_or(20_000);
        if !(10..=10_000_000).contains(&lines) {
            return Err(invalid(
                "HARNESS_SESSION_LOG_MAX_LINES",
                "must be between 10 and 10000000",
            ));
        }
        let bytes = args.session_log_max_bytes.unwrap_or(16 * 1024 * 1024);
        if !(1024..=(4u64 << 30)).contains(&bytes) {
            return Err(invalid(
                "HARNESS_SESSION_LOG_MAX_BYTES",
                "must be between 1024 and 4 GiB",
            ));
        }
        let days = args.session_log_retention_days.unwrap_or(30.0);
        if !days.is_finite() || !(0.0..=3650.0).contains(&days) {
            return Err(invalid(
                "HARNESS_SESSION_LOG_RETENTION_DAYS",
                "must be between 0 and 3650 days",
            ));
        }
        let reconnect = args.worker_reconnect_secs.unwrap_or(300.0);
        if !reconnect.is_finite() || !(10.0..=86_400.0).contains(&reconnect) {
            return Err(invalid(
                "HARNESS_WORKER_RECONNECT_SECS",
                "must be between 10 and 86400 seconds",
            ));
        }
        Ok(Self {
            git_timeout: Duration::from_secs_f64(git_timeout),
            land_tries,
            max_crash_interruptions,
            max_requeues,
            requeue_window: Duration::from_secs_f64(requeue_window),
            land_wait: Duration::from_secs_f64(land_wait),
            land_content,
            session_max_usd: args.session_max_usd,
            budget_overrun,
            session_log_max_lines: lines,
            session_log_max_bytes: bytes,
            session_log_retention: Duration::from_secs_f64(days * 86_400.0),
            worker_reconnect: Duration::from_secs_f64(reconnect),
        })
    }
}

/// The stuck watchdog must outlast the longest command an agent may run: a silent build
/// within its own timeout is not a stuck session. A shorter limit is raised, with a warning.
pub(super) fn watchdog_outlasts_commands(
    mut settings: super::EngineSettings,
) -> super::EngineSettings {
    let longest = harness_engine::tools::ToolLimits::default().max_command_timeout;
    let floor = longest + Duration::from_secs(30);
    if settings.stuck_after < floor {
        tracing::warn!(
            configured_secs = settings.stuck_after.as_secs_f64(),
            raised_to_secs = floor.as_secs(),
            "HARNESS_STUCK_AFTER_SECS is shorter than the longest command timeout; raised"
        );
        settings.stuck_after = floor;
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_bound_everything() {
        let s = ReliabilitySettings::default();
        assert_eq!(s.max_crash_interruptions, 2);
        assert_eq!(s.budget_overrun, Overrun::Stop);
        assert!(s.session_max_usd.is_none());
    }

    #[test]
    fn an_unknown_overrun_policy_names_its_variable() {
        let err = ReliabilitySettings::load(ReliabilityArgs {
            budget_overrun: Some("maybe".into()),
            ..ReliabilityArgs::default()
        })
        .unwrap_err();
        assert!(
            err.to_string().starts_with("HARNESS_BUDGET_OVERRUN"),
            "{err}"
        );
    }

    #[test]
    fn a_worker_reconnect_window_out_of_bounds_names_its_variable() {
        for secs in [0.0, 5.0, f64::NAN, 100_000.0] {
            let err = ReliabilitySettings::load(ReliabilityArgs {
                worker_reconnect_secs: Some(secs),
                ..ReliabilityArgs::default()
            })
            .unwrap_err();
            assert!(
                err.to_string().starts_with("HARNESS_WORKER_RECONNECT_SECS"),
                "{secs}: {err}"
            );
        }
        assert_eq!(
            ReliabilitySettings::default().worker_reconnect,
            Duration::from_secs(300)
        );
    }

    #[test]
    fn the_landing_content_settings_parse_with_their_defaults_and_bounds() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: ReliabilityArgs,
        }
        let defaults = ReliabilitySettings::default().land_content;
        assert_eq!(defaults.max_file_bytes, Some(50 << 20));
        assert!(!defaults.allow_outside_symlinks);
        let parsed = |argv: &[&str]| {
            let cli = Cli::try_parse_from(std::iter::once("x").chain(argv.iter().copied()))?;
            Ok::<_, clap::Error>(ReliabilitySettings::load(cli.args))
        };
        let open = parsed(&[
            "--land-max-file-mb",
            "0",
            "--land-allow-outside-symlinks",
            "yes",
        ])
        .unwrap()
        .unwrap()
        .land_content;
        assert_eq!(open.max_file_bytes, None);
        assert!(open.allow_outside_symlinks);
        let err = parsed(&["--land-allow-outside-symlinks", "maybe"])
            .err()
            .unwrap();
        assert!(err.to_string().contains("maybe"), "{err}");
        assert!(parsed(&["--land-max-file-mb", "-3"]).is_err());
        let err = parsed(&["--land-max-file-mb", "9999999"])
            .unwrap()
            .unwrap_err();
        assert!(
            err.to_string().starts_with("HARNESS_LAND_MAX_FILE_MB"),
            "{err}"
        );
    }

    #[test]
    fn a_negative_session_cap_is_rejected() {
        let err = ReliabilitySettings::load(ReliabilityArgs {
            session_max_usd: Some(-1.0),
            ..ReliabilityArgs::default()
        })
        .unwrap_err();
        assert!(
            err.to_string().starts_with("HARNESS_SESSION_MAX_USD"),
            "{err}"
        );
    }
}
