//! The one environment policy for agent processes: start from nothing, pass an
//! allow-list. A secret reaches an agent only when someone named it on purpose.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
};

/// Set on every agent process; the startup orphan sweep matches on it
/// (`/proc/<pid>/environ`), so a person's shell in a worktree is never touched.
pub const AGENT_MARKER: &str = "PARENT_HARNESS_AGENT";

/// Variables every agent gets from the server's environment when they are set.
const BASE: [&str; 9] = [
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "TERM",
    "TZ",
    "USER",
];

/// Toolchain homes that default to a directory under `$HOME`. Agents get a private
/// HOME, so these are passed explicitly to keep `cargo`/`rustup` finding their install.
const TOOLCHAIN_HOMES: [(&str, &str); 2] = [("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")];

/// The harness's own secrets, which no agent needs: naming one in `HARNESS_AGENT_ENV`
/// stops startup. (A model API's key, `ANTHROPIC_API_KEY` or `OPENAI_API_KEY`, may be
/// listed on purpose, for a CLI agent that calls that API itself.)
pub(crate) const HARNESS_SECRETS: [&str; 6] = [
    "HARNESS_API_TOKEN",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "HARNESS_WORKER_TOKEN",
    // The forge token can push and merge on the team's repositories.
    "HARNESS_FORGE_TOKEN",
    "HARNESS_FORGE_WEBHOOK_SECRET",
];

/// The first of `names` that is one of the harness's own secrets, if any.
pub fn harness_secret(names: &[String]) -> Option<&str> {
    names
        .iter()
        .map(String::as_str)
        .find(|n| HARNESS_SECRETS.contains(n))
}

/// Which variables pass, beyond [`BASE`].
#[derive(Debug, Clone, Default)]
pub struct EnvPolicy {
    /// Names listed in `HARNESS_AGENT_ENV` (toolchain variables such as `GOPATH`).
    pub pass: Vec<String>,
}

impl EnvPolicy {
    /// The complete environment: allow-listed variables from the server, the toolchain
    /// homes, the private HOME and TMPDIR, the marker, then `extra` (the caller's own,
    /// like `CI=1` or a CLI agent's key) over everything.
    pub fn build(
        &self,
        tmp: &Path,
        home: &Path,
        extra: &[(String, String)],
    ) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> = Vec::new();
        let mut set = |name: &str, value: OsString| {
            env.retain(|(k, _)| k != name);
            env.push((name.into(), value));
        };
        for name in BASE
            .iter()
            .copied()
            .chain(self.pass.iter().map(String::as_str))
        {
            if let Some(value) = std::env::var_os(name) {
                set(name, value);
            }
        }
        for (name, value) in toolchain_homes() {
            set(name, value.into_os_string());
        }
        set("HOME", home.into());
        // Claude Code (as a CLI, or under an ACP adapter) keeps its shell's files under
        // CLAUDE_CODE_TMPDIR, else under /tmp, which an agent may not write.
        for name in ["TMPDIR", "TMP", "TEMP", "CLAUDE_CODE_TMPDIR"] {
            set(name, tmp.into());
        }
        set(AGENT_MARKER, "1".into());
        for (name, value) in extra {
            set(name, value.into());
        }
        env
    }
}

/// `CARGO_HOME`/`RUSTUP_HOME` as set, or their default under the real HOME if it exists.
fn toolchain_homes() -> Vec<(&'static str, PathBuf)> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    TOOLCHAIN_HOMES
        .iter()
        .filter_map(|&(name, default)| {
            let path = std::env::var_os(name)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(default)))?;
            path.is_dir().then_some((name, path))
        })
        .collect()
}

/// Directories a toolchain needs to read by default: the toolchain homes' binaries and
/// sources, never the whole home (it holds credentials such as `~/.cargo/credentials`).
pub fn default_toolchain_paths() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for (name, home) in toolchain_homes() {
        match name {
            "CARGO_HOME" => {
                paths.extend(["bin", "registry", "git"].map(|d| home.join(d)));
            }
            _ => paths.push(home),
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(env: &[(OsString, OsString)]) -> Vec<String> {
        env.iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn only_allow_listed_names_pass_and_home_and_tmpdir_are_private() {
        let env = EnvPolicy::default().build(
            Path::new("/p/tmp"),
            Path::new("/p/home"),
            &[("CI".into(), "1".into())],
        );
        let names = names(&env);
        for name in &names {
            let allowed = BASE.contains(&name.as_str())
                || TOOLCHAIN_HOMES.iter().any(|(n, _)| n == name)
                || [
                    "HOME",
                    "TMPDIR",
                    "TMP",
                    "TEMP",
                    "CLAUDE_CODE_TMPDIR",
                    AGENT_MARKER,
                    "CI",
                ]
                .contains(&name.as_str());
            assert!(allowed, "{name} passed");
        }
        let get = |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(get("HOME"), Some("/p/home".into()));
        assert_eq!(get("TMPDIR"), Some("/p/tmp".into()));
        assert_eq!(get("CLAUDE_CODE_TMPDIR"), Some("/p/tmp".into()));
        assert_eq!(get(AGENT_MARKER), Some("1".into()));
    }

    #[test]
    fn the_harness_secrets_are_found_among_the_listed_names() {
        let names = |l: &[&str]| l.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            harness_secret(&names(&["GOPATH", "ANTHROPIC_API_KEY"])),
            None
        );
        assert_eq!(
            harness_secret(&names(&["GOPATH", "HARNESS_FORGE_TOKEN"])),
            Some("HARNESS_FORGE_TOKEN")
        );
        assert_eq!(
            harness_secret(&names(&["GOPATH", "TELEGRAM_BOT_TOKEN"])),
            Some("TELEGRAM_BOT_TOKEN")
        );
        assert_eq!(
            harness_secret(&names(&["HARNESS_API_TOKEN"])),
            Some("HARNESS_API_TOKEN")
        );
    }

    #[test]
    fn a_name_listed_in_the_policy_passes_and_extra_wins() {
        let policy = EnvPolicy {
            pass: vec!["PATH".into()],
        };
        let env = policy.build(
            Path::new("/t"),
            Path::new("/h"),
            &[("HOME".into(), "/custom".into())],
        );
        let homes: Vec<_> = env.iter().filter(|(k, _)| k == "HOME").collect();
        assert_eq!(homes.len(), 1);
        assert_eq!(homes[0].1, "/custom");
    }
}
