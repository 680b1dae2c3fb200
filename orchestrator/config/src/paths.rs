//! Where path settings point: every one is made absolute when it is loaded, relative to
//! the directory the setting came from (the working directory for flags and the
//! environment, the file's own directory for `harness.toml`). Later steps change
//! directory (git runs in the workspace, agents in their worktrees), so a relative
//! path kept as it was would name a different place in each of them.

use std::path::{Component, Path, PathBuf};

/// The directory the harness was started in: what flags and variables are relative to.
pub fn working_dir() -> Result<PathBuf, super::ConfigError> {
    std::env::current_dir().map_err(|e| {
        super::invalid(
            "HARNESS_CONFIG",
            &format!("cannot read the working directory: {e}"),
        )
    })
}

/// `path` joined onto `base` when relative, with `.` dropped and `..` applied to what
/// precedes it, so the log shows the place itself.
pub fn absolute(base: &Path, path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in base.join(path).components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Resolves an optional path in place against `base`; an empty path stays empty
/// (it means "unset" for the settings that allow that).
pub fn resolve(base: &Path, path: &mut Option<PathBuf>) {
    if let Some(p) = path
        && !p.as_os_str().is_empty()
    {
        *p = absolute(base, p);
    }
}

/// Resolves each path of a list in place against `base`.
pub(crate) fn resolve_all(base: &Path, paths: &mut Option<Vec<PathBuf>>) {
    for p in paths.iter_mut().flatten() {
        *p = absolute(base, p);
    }
}

/// The database when no setting names one: `harness.db` in the per-user data directory
/// of the XDG base directory specification (`$XDG_DATA_HOME/parent-harness`, else
/// `~/.local/share/parent-harness`), so a first run from any directory finds the same
/// board again; `./data` under `cwd` when there is no home to put it in.
pub(crate) fn default_database(cwd: &Path) -> PathBuf {
    let xdg = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let home = || {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute() && p != Path::new("/"))
            .map(|h| h.join(".local/share"))
    };
    match xdg.or_else(home) {
        Some(data) => data.join("parent-harness").join("harness.db"),
        None => cwd.join("data").join("harness.db"),
    }
}

/// True when `inner` is `outer` or lies beneath it, as the kernel resolves both
/// (symlinks and `..` included, for the part that exists).
pub fn within(inner: &Path, outer: &Path) -> bool {
    real_path(inner).starts_with(real_path(outer))
}

/// `path` as the kernel will resolve it: absolute, symlinks and `..` resolved for the
/// part that exists, the rest (not created yet) appended with `.` and `..` applied. So
/// `data/worktrees/..` or a symlink to the data directory cannot pass for another place.
pub(crate) fn real_path(path: &Path) -> PathBuf {
    let absolute = std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf());
    let parts: Vec<Component<'_>> = absolute.components().collect();
    for split in (1..=parts.len()).rev() {
        let head: PathBuf = parts[..split].iter().collect();
        let Ok(mut real) = head.canonicalize() else {
            continue;
        };
        for part in &parts[split..] {
            match part {
                Component::ParentDir => {
                    real.pop();
                }
                Component::Normal(name) => real.push(name),
                _ => {}
            }
        }
        return real;
    }
    absolute
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_path_is_joined_and_normalised() {
        let base = Path::new("/home/me/project");
        assert_eq!(
            absolute(base, Path::new("./data/harness.db")),
            Path::new("/home/me/project/data/harness.db")
        );
        assert_eq!(
            absolute(base, Path::new("../repo")),
            Path::new("/home/me/repo")
        );
        assert_eq!(absolute(base, Path::new("/srv/x")), Path::new("/srv/x"));
    }

    #[test]
    fn an_empty_path_stays_unset() {
        let mut empty = Some(PathBuf::new());
        resolve(Path::new("/x"), &mut empty);
        assert_eq!(empty, Some(PathBuf::new()));
    }

    #[test]
    fn a_path_beneath_another_is_found_through_dot_dot() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        assert!(within(&repo.join("data/worktrees"), &repo));
        assert!(within(&dir.path().join("x/../repo/wt"), &repo));
        assert!(!within(&dir.path().join("data"), &repo));
    }
}
