//! Confinement of model-supplied paths to one worktree.
//!
//! Every file tool resolves its path through [`WorktreeRoot::resolve`]. The result is a
//! [`ConfinedPath`]: absolute, inside the root, and reached without `..` escapes or
//! symlinks that lead out. Errors are written for the model to read and correct itself.
//!
//! This does not stop `run_command`, which runs a shell; it stops the file tools from
//! being a way out. A symlink swapped in between the check and the use (by the model's
//! own shell command) is a race we accept for the same reason.

use std::{
    fmt, io,
    path::{Component, Path, PathBuf},
};

/// The canonical root of a worktree.
#[derive(Debug, Clone)]
pub struct WorktreeRoot {
    root: PathBuf,
}

/// A path proven to be inside a [`WorktreeRoot`] when it was resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfinedPath {
    absolute: PathBuf,
    relative: PathBuf,
}

/// Why a path was refused. `Display` is the message the model sees.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error(
        "path '{0}' leaves the worktree; use a path relative to the worktree root, like 'src/main.rs'"
    )]
    Escapes(String),
    #[error(
        "path '{0}' is absolute and outside the worktree; use a path relative to the worktree root"
    )]
    AbsoluteOutside(String),
    #[error("path '{path}' goes through symlink '{link}', which points outside the worktree")]
    SymlinkOutside { path: String, link: String },
    #[error("path '{path}' goes through symlink '{link}', whose target does not exist")]
    DanglingSymlink { path: String, link: String },
    #[error("path '{0}' contains a NUL byte")]
    Nul(String),
    #[error("cannot check path '{path}': {source}")]
    Io { path: String, source: io::Error },
    #[error("worktree root {0} is not a directory")]
    NotADirectory(PathBuf),
}

impl WorktreeRoot {
    /// Canonicalizes `path`, which must be an existing directory.
    pub fn new(path: impl AsRef<Path>) -> Result<Self, ConfineError> {
        let path = path.as_ref();
        let root = path.canonicalize().map_err(|source| ConfineError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if !root.is_dir() {
            return Err(ConfineError::NotADirectory(root));
        }
        Ok(Self { root })
    }

    /// The canonical root directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Resolves `requested` (relative to the root, or absolute inside it) to a confined path.
    /// The path need not exist yet, so `write_file` can create it.
    pub fn resolve(&self, requested: &str) -> Result<ConfinedPath, ConfineError> {
        if requested.contains('\0') {
            return Err(ConfineError::Nul(requested.to_owned()));
        }
        let relative = self.lexical_relative(requested)?;
        self.check_symlinks(requested, &relative)?;
        Ok(ConfinedPath {
            absolute: self.root.join(&relative),
            relative,
        })
    }

    /// Turns `requested` into a normalized path relative to the root, without touching the
    /// file system: `.` is dropped, `..` pops, and popping past the root is an escape.
    fn lexical_relative(&self, requested: &str) -> Result<PathBuf, ConfineError> {
        let path = Path::new(requested);
        let stripped = if path.is_absolute() {
            strip_root(path, &self.root)
                .ok_or_else(|| ConfineError::AbsoluteOutside(requested.to_owned()))?
        } else {
            path.to_path_buf()
        };
        let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
        for component in stripped.components() {
            match component {
                Component::Normal(part) => parts.push(part),
                Component::CurDir => {}
                Component::ParentDir => {
                    if parts.pop().is_none() {
                        return Err(ConfineError::Escapes(requested.to_owned()));
                    }
                }
                // After stripping the root there is no prefix or root left; treat one as
                // an escape rather than trusting it.
                Component::RootDir | Component::Prefix(_) => {
                    return Err(ConfineError::Escapes(requested.to_owned()));
                }
            }
        }
        Ok(parts.iter().collect())
    }

    /// Walks the existing part of the path and refuses any symlink that resolves outside
    /// the root (or nowhere: writing through a dangling link would create its target).
    fn check_symlinks(&self, requested: &str, relative: &Path) -> Result<(), ConfineError> {
        let mut current = self.root.clone();
        let mut walked = PathBuf::new();
        for part in relative.components() {
            current.push(part);
            walked.push(part);
            let meta = match std::fs::symlink_metadata(&current) {
                Ok(meta) => meta,
                // Nothing below a missing entry exists, so nothing below can be a symlink.
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(source) => {
                    return Err(ConfineError::Io {
                        path: requested.to_owned(),
                        source,
                    });
                }
            };
            if !meta.file_type().is_symlink() {
                continue;
            }
            let link = walked.display().to_string();
            let target = current
                .canonicalize()
                .map_err(|_| ConfineError::DanglingSymlink {
                    path: requested.to_owned(),
                    link: link.clone(),
                })?;
            if !target.starts_with(&self.root) {
                return Err(ConfineError::SymlinkOutside {
                    path: requested.to_owned(),
                    link,
                });
            }
            // Continue from the link's real location, so links inside links are checked too.
            current = target;
        }
        Ok(())
    }
}

/// `path` relative to `root` when it lies under it, comparing both the given form and
/// the canonical form of the existing ancestors (so `/tmp/x` works when `/tmp` is a link).
fn strip_root(path: &Path, root: &Path) -> Option<PathBuf> {
    if let Ok(rest) = path.strip_prefix(root) {
        return Some(rest.to_path_buf());
    }
    let mut existing = path.to_path_buf();
    let mut tail = Vec::new();
    while !existing.exists() {
        tail.push(existing.file_name()?.to_owned());
        existing.pop();
    }
    let canonical = existing.canonicalize().ok()?;
    let rest = canonical.strip_prefix(root).ok()?;
    let mut out = rest.to_path_buf();
    out.extend(tail.iter().rev());
    Some(out)
}

impl ConfinedPath {
    /// The absolute path to open.
    pub fn as_path(&self) -> &Path {
        &self.absolute
    }

    /// The path relative to the worktree root, for messages and results.
    pub fn relative(&self) -> &Path {
        &self.relative
    }

    /// True for the root itself.
    pub fn is_root(&self) -> bool {
        self.relative.as_os_str().is_empty()
    }
}

impl AsRef<Path> for ConfinedPath {
    fn as_ref(&self) -> &Path {
        &self.absolute
    }
}

impl fmt::Display for ConfinedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            f.write_str(".")
        } else {
            write!(f, "{}", self.relative.display())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, tempfile::TempDir, WorktreeRoot) {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("src")).unwrap();
        std::fs::write(root.path().join("src/lib.rs"), "x").unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let wt = WorktreeRoot::new(root.path()).unwrap();
        (root, outside, wt)
    }

    #[test]
    fn a_plain_relative_path_resolves_inside_the_root() {
        let (_r, _o, wt) = setup();
        let p = wt.resolve("src/lib.rs").unwrap();
        assert_eq!(p.as_path(), wt.path().join("src/lib.rs"));
        assert_eq!(p.relative(), Path::new("src/lib.rs"));
    }

    #[test]
    fn a_path_that_does_not_exist_yet_is_allowed() {
        let (_r, _o, wt) = setup();
        let p = wt.resolve("new/dir/file.txt").unwrap();
        assert_eq!(p.relative(), Path::new("new/dir/file.txt"));
    }

    #[test]
    fn dot_and_empty_mean_the_root() {
        let (_r, _o, wt) = setup();
        assert!(wt.resolve(".").unwrap().is_root());
        assert!(wt.resolve("").unwrap().is_root());
    }

    #[test]
    fn parent_components_that_stay_inside_are_normalized() {
        let (_r, _o, wt) = setup();
        let p = wt.resolve("src/../src/./lib.rs").unwrap();
        assert_eq!(p.relative(), Path::new("src/lib.rs"));
    }

    #[test]
    fn a_dot_dot_escape_is_refused_with_a_readable_message() {
        let (_r, _o, wt) = setup();
        let err = wt.resolve("../etc/passwd").unwrap_err();
        assert!(matches!(err, ConfineError::Escapes(_)));
        assert!(err.to_string().contains("leaves the worktree"));
        assert!(wt.resolve("src/../../x").is_err());
    }

    #[test]
    fn an_absolute_path_outside_the_root_is_refused() {
        let (_r, _o, wt) = setup();
        let err = wt.resolve("/etc/passwd").unwrap_err();
        assert!(matches!(err, ConfineError::AbsoluteOutside(_)));
    }

    #[test]
    fn an_absolute_path_inside_the_root_is_accepted() {
        let (_r, _o, wt) = setup();
        let abs = wt.path().join("src/lib.rs");
        let p = wt.resolve(abs.to_str().unwrap()).unwrap();
        assert_eq!(p.relative(), Path::new("src/lib.rs"));
    }

    #[test]
    fn a_symlinked_file_pointing_outside_is_refused() {
        let (r, o, wt) = setup();
        symlink(o.path().join("secret"), r.path().join("leak")).unwrap();
        let err = wt.resolve("leak").unwrap_err();
        assert!(matches!(err, ConfineError::SymlinkOutside { .. }), "{err}");
    }

    #[test]
    fn a_symlinked_parent_directory_pointing_outside_is_refused() {
        let (r, o, wt) = setup();
        symlink(o.path(), r.path().join("out")).unwrap();
        assert!(wt.resolve("out/secret").is_err());
        assert!(wt.resolve("out/not-yet-there.txt").is_err());
    }

    #[test]
    fn a_symlink_that_stays_inside_is_allowed() {
        let (r, _o, wt) = setup();
        symlink(r.path().join("src"), r.path().join("alias")).unwrap();
        let p = wt.resolve("alias/lib.rs").unwrap();
        assert!(p.as_path().exists());
    }

    #[test]
    fn a_dangling_symlink_is_refused_because_writing_would_create_its_target() {
        let (r, o, wt) = setup();
        symlink(o.path().join("nothing"), r.path().join("dangle")).unwrap();
        let err = wt.resolve("dangle").unwrap_err();
        assert!(matches!(err, ConfineError::DanglingSymlink { .. }));
    }

    #[test]
    fn a_nul_byte_is_refused() {
        let (_r, _o, wt) = setup();
        assert!(matches!(wt.resolve("a\0b"), Err(ConfineError::Nul(_))));
    }
}
