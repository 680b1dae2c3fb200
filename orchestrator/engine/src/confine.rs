//! Confinement of model-supplied paths to one worktree.
//!
//! The file tools run in the server, outside the agent's Landlock sandbox, while the
//! agent's own commands can change the worktree at any moment: swap a directory for a
//! symlink to `/` with `renameat2(RENAME_EXCHANGE)` in a loop, between any check and any
//! use. So nothing here checks a path string and then opens it. [`WorktreeRoot`] opens
//! the worktree once, and every file is opened from that handle with `openat2` and
//! `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`: the kernel resolves the path in one step
//! and refuses any symlink, `..` or `/proc` magic link that leaves the worktree, whatever
//! was swapped in before or during the call. Writes follow no symlink at all
//! (`RESOLVE_NO_SYMLINKS`), and open one directory at a time from the handle of the one
//! above, creating a missing one with `mkdirat` on that handle: no path string is ever
//! reopened from the root.
//!
//! [`WorktreeRoot::resolve`] only normalizes the requested text (no file system access).
//! Errors are written for the model to read and correct itself.

use std::{
    ffi::OsStr,
    fmt,
    fs::File,
    io,
    os::fd::OwnedFd,
    path::{Component, Path, PathBuf},
    sync::Arc,
};

use rustix::{
    fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags},
    io::Errno,
};

/// How reads resolve: symlinks are followed only while they stay beneath the worktree.
const READ: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);
/// How writes resolve: no symlink at all, so what is written is what the path names.
const WRITE: ResolveFlags = READ.union(ResolveFlags::NO_SYMLINKS);
/// `openat2` answers EAGAIN when a rename raced its `..` check; it may be retried.
const RACE_RETRIES: usize = 16;

/// An open worktree: its canonical path (for messages and absolute paths the model
/// gives) and a directory handle every file is opened from.
#[derive(Debug, Clone)]
pub struct WorktreeRoot {
    root: PathBuf,
    dir: Arc<OwnedFd>,
}

/// A requested path, normalized and relative to a [`WorktreeRoot`]. Nothing about the
/// file system is proven by it: opening through the root is what confines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfinedPath {
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
    #[error("path '{0}' goes through a symlink that points outside the worktree (or is absolute)")]
    SymlinkEscape(String),
    #[error(
        "path '{path}' goes through symlink '{link}'; the file tools write only through real directories, so use the path the link points to"
    )]
    SymlinkWrite { path: String, link: String },
    #[error("path '{0}' goes through too many symlinks, or a /proc link")]
    Loop(String),
    #[error("path '{0}' contains a NUL byte")]
    Nul(String),
    #[error("cannot check path '{path}': {source}")]
    Io { path: String, source: io::Error },
    #[error("worktree root {0} is not a directory")]
    NotADirectory(PathBuf),
    #[error(
        "this kernel has no openat2 (Linux 5.6 or later is needed); the file tools cannot run safely here"
    )]
    NoOpenat2,
}

/// Why a file could not be opened: the path was refused, or the file system said no.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Confine(#[from] ConfineError),
    #[error(transparent)]
    Io(io::Error),
}

impl WorktreeRoot {
    /// Canonicalizes `path`, which must be an existing directory, and opens it.
    pub fn new(path: impl AsRef<Path>) -> Result<Self, ConfineError> {
        let path = path.as_ref();
        let io_error = |source| ConfineError::Io {
            path: path.display().to_string(),
            source,
        };
        let root = path.canonicalize().map_err(io_error)?;
        if !root.is_dir() {
            return Err(ConfineError::NotADirectory(root));
        }
        // The one open by path string: the harness made this directory, the agent works
        // below it and cannot replace it.
        let dir = rustix::fs::open(
            &root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_error(e.into()))?;
        Ok(Self {
            root,
            dir: Arc::new(dir),
        })
    }

    /// The canonical root directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Normalizes `requested` (relative to the root, or absolute inside it). The path
    /// need not exist yet, so `write_file` can create it.
    pub fn resolve(&self, requested: &str) -> Result<ConfinedPath, ConfineError> {
        if requested.contains('\0') {
            return Err(ConfineError::Nul(requested.to_owned()));
        }
        let path = Path::new(requested);
        let stripped = if path.is_absolute() {
            strip_root(path, &self.root)
                .ok_or_else(|| ConfineError::AbsoluteOutside(requested.to_owned()))?
        } else {
            path.to_path_buf()
        };
        normalize(&stripped).ok_or_else(|| ConfineError::Escapes(requested.to_owned()))
    }

    /// A path found below the root by a directory walk (`search`), relative to the root.
    pub(crate) fn confine_found(&self, found: &Path) -> Option<ConfinedPath> {
        let relative = found.strip_prefix(&self.root).ok()?;
        normalize(relative).filter(|p| !p.is_root())
    }

    /// Opens a regular file for reading. Symlinks are followed while they stay inside.
    pub(crate) fn open_read(&self, path: &ConfinedPath) -> Result<File, OpenError> {
        let fd = self.open_beneath(path, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty(), READ)?;
        regular_file(fd, "it is a directory; use list_dir")
    }

    /// Opens a directory for listing. Symlinks are followed while they stay inside.
    pub(crate) fn open_dir(&self, path: &ConfinedPath) -> Result<OwnedFd, OpenError> {
        self.open_beneath(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
            READ,
        )
    }

    /// Opens an existing regular file for reading and rewriting in place.
    pub(crate) fn open_edit(&self, path: &ConfinedPath) -> Result<File, OpenError> {
        let (parent, name) = self.walk_parents(path, false)?;
        let fd = self.open_in(&parent, name, path, OFlags::RDWR, Mode::empty())?;
        writable_file(fd)
    }

    /// Creates or truncates a regular file, creating its missing directories one at a
    /// time. `EISDIR` comes back as an [`OpenError::Io`] when the path is a directory.
    pub fn create(&self, path: &ConfinedPath) -> Result<File, OpenError> {
        let (parent, name) = self.walk_parents(path, true)?;
        let fd = self.open_in(
            &parent,
            name,
            path,
            OFlags::WRONLY | OFlags::CREATE | OFlags::NONBLOCK,
            Mode::from_bits_truncate(0o666),
        )?;
        let file = writable_file(fd)?;
        // Truncated only now that it is known to be a regular file of ours.
        file.set_len(0).map_err(OpenError::Io)?;
        Ok(file)
    }

    /// Opens every directory above `path`'s last component, each from the handle of the
    /// one above without following a symlink, creating missing ones when `create`.
    /// Returns the parent's handle and the last component.
    fn walk_parents<'p>(
        &self,
        path: &'p ConfinedPath,
        create: bool,
    ) -> Result<(OwnedFd, &'p OsStr), OpenError> {
        let mut parts: Vec<&OsStr> = path.relative.iter().collect();
        let name = parts
            .pop()
            .ok_or_else(|| OpenError::Io(io::Error::from_raw_os_error(libc::EISDIR)))?;
        let dir_flags = OFlags::PATH | OFlags::DIRECTORY;
        let mut handle =
            self.open_beneath(&ConfinedPath::root(), dir_flags, Mode::empty(), WRITE)?;
        for part in parts {
            let step = match self.open_in(&handle, part, path, dir_flags, Mode::empty()) {
                Err(OpenError::Io(e)) if create && e.kind() == io::ErrorKind::NotFound => {
                    match rustix::fs::mkdirat(&handle, part, Mode::from_bits_truncate(0o777)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(OpenError::Io(e.into())),
                    }
                    self.open_in(&handle, part, path, dir_flags, Mode::empty())?
                }
                other => other?,
            };
            handle = step;
        }
        Ok((handle, name))
    }

    /// Opens one component `name` below the directory handle `dir`, following nothing.
    fn open_in(
        &self,
        dir: &OwnedFd,
        name: &OsStr,
        path: &ConfinedPath,
        flags: OFlags,
        mode: Mode,
    ) -> Result<OwnedFd, OpenError> {
        let flags = with_defaults(flags);
        retry_races(|| rustix::fs::openat2(dir, name, flags, mode, WRITE))
            .map_err(|e| self.explain(path, e, WRITE))
    }

    /// Opens `path` from the root handle in one `openat2` call.
    fn open_beneath(
        &self,
        path: &ConfinedPath,
        flags: OFlags,
        mode: Mode,
        resolve: ResolveFlags,
    ) -> Result<OwnedFd, OpenError> {
        let target: &Path = if path.is_root() {
            Path::new(".")
        } else {
            &path.relative
        };
        let flags = with_defaults(flags);
        retry_races(|| rustix::fs::openat2(&*self.dir, target, flags, mode, resolve))
            .map_err(|e| self.explain(path, e, resolve))
    }

    /// Turns a refusal of `openat2` into a message that says what to change.
    fn explain(&self, path: &ConfinedPath, error: Errno, resolve: ResolveFlags) -> OpenError {
        let shown = path.to_string();
        let link = || self.first_symlink(path);
        let refused = match error {
            Errno::XDEV => match link() {
                Some(link) => ConfineError::SymlinkOutside { path: shown, link },
                None => ConfineError::SymlinkEscape(shown),
            },
            Errno::LOOP if resolve.contains(ResolveFlags::NO_SYMLINKS) => match link() {
                Some(link) => ConfineError::SymlinkWrite { path: shown, link },
                None => ConfineError::Loop(shown),
            },
            Errno::LOOP => ConfineError::Loop(shown),
            Errno::NOSYS => ConfineError::NoOpenat2,
            other => return OpenError::Io(other.into()),
        };
        OpenError::Confine(refused)
    }

    /// The first symlink on `path`, for a message only: nothing is opened through it.
    fn first_symlink(&self, path: &ConfinedPath) -> Option<String> {
        let mut prefix = PathBuf::new();
        for part in path.relative.iter() {
            prefix.push(part);
            let stat = rustix::fs::statat(&*self.dir, &prefix, AtFlags::SYMLINK_NOFOLLOW).ok()?;
            if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink {
                return Some(prefix.display().to_string());
            }
        }
        None
    }
}

/// `flags` plus close-on-exec, and no controlling terminal where openat2 allows it (it
/// refuses O_NOCTTY beside O_PATH; a path handle opens no terminal anyway).
fn with_defaults(flags: OFlags) -> OFlags {
    if flags.contains(OFlags::PATH) {
        flags | OFlags::CLOEXEC
    } else {
        flags | OFlags::CLOEXEC | OFlags::NOCTTY
    }
}

/// Runs `open` again while a concurrent rename makes the kernel answer EAGAIN; bounded,
/// so an agent renaming without pause gets an error, not a server thread spinning.
fn retry_races(mut open: impl FnMut() -> rustix::io::Result<OwnedFd>) -> Result<OwnedFd, Errno> {
    for _ in 0..RACE_RETRIES {
        match open() {
            Err(Errno::AGAIN) => continue,
            other => return other,
        }
    }
    Err(Errno::AGAIN)
}

/// `fd` as a file when it is a regular file; `dir_message` when it is a directory.
fn regular_file(fd: OwnedFd, dir_message: &str) -> Result<File, OpenError> {
    let stat = rustix::fs::fstat(&fd).map_err(|e| OpenError::Io(e.into()))?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => Ok(File::from(fd)),
        FileType::Directory => Err(OpenError::Io(io::Error::other(dir_message.to_owned()))),
        _ => Err(OpenError::Io(io::Error::other(
            "it is not a regular file (a device, pipe or socket); the file tools only handle files",
        ))),
    }
}

/// [`regular_file`] for writing, also refusing a file with other hard links: writing it
/// would change a file somewhere else, maybe outside the worktree.
fn writable_file(fd: OwnedFd) -> Result<File, OpenError> {
    let file = regular_file(fd, "it is a directory")?;
    let links = file.metadata().map_err(OpenError::Io)?;
    if std::os::unix::fs::MetadataExt::nlink(&links) > 1 {
        return Err(OpenError::Io(io::Error::other(
            "it has other hard links; the file tools do not write through them",
        )));
    }
    Ok(file)
}

/// `path` with `.` dropped and `..` popped; `None` when it pops past the root or still
/// holds a root or prefix (after stripping the root there is none left; one is an escape).
fn normalize(path: &Path) -> Option<ConfinedPath> {
    let mut parts: Vec<&OsStr> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(ConfinedPath {
        relative: parts.iter().collect(),
    })
}

/// `path` relative to `root` when it lies under it, comparing both the given form and
/// the canonical form of the existing ancestors (so `/tmp/x` works when `/tmp` is a link).
/// What this concludes is only a name: the open from the root handle is what confines.
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
    fn root() -> Self {
        Self {
            relative: PathBuf::new(),
        }
    }

    /// The path relative to the worktree root, for messages and results.
    pub fn relative(&self) -> &Path {
        &self.relative
    }

    /// True for the root itself.
    pub(crate) fn is_root(&self) -> bool {
        self.relative.as_os_str().is_empty()
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
    use std::{io::Read, io::Write, os::unix::fs::symlink};

    fn setup() -> (tempfile::TempDir, tempfile::TempDir, WorktreeRoot) {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("src")).unwrap();
        std::fs::write(root.path().join("src/lib.rs"), "x").unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let wt = WorktreeRoot::new(root.path()).unwrap();
        (root, outside, wt)
    }

    fn read(wt: &WorktreeRoot, path: &str) -> Result<String, OpenError> {
        let mut text = String::new();
        wt.open_read(&wt.resolve(path)?)?
            .read_to_string(&mut text)
            .map_err(OpenError::Io)?;
        Ok(text)
    }

    fn write(wt: &WorktreeRoot, path: &str, text: &str) -> Result<(), OpenError> {
        wt.create(&wt.resolve(path)?)?
            .write_all(text.as_bytes())
            .map_err(OpenError::Io)
    }

    #[test]
    fn a_plain_relative_path_resolves_inside_the_root() {
        let (_r, _o, wt) = setup();
        let p = wt.resolve("src/lib.rs").unwrap();
        assert_eq!(p.relative(), Path::new("src/lib.rs"));
        assert_eq!(read(&wt, "src/lib.rs").unwrap(), "x");
    }

    #[test]
    fn a_path_that_does_not_exist_yet_is_created_with_its_directories() {
        let (r, _o, wt) = setup();
        let p = wt.resolve("new/dir/file.txt").unwrap();
        assert_eq!(p.relative(), Path::new("new/dir/file.txt"));
        write(&wt, "new/dir/file.txt", "made").unwrap();
        let made = std::fs::read_to_string(r.path().join("new/dir/file.txt")).unwrap();
        assert_eq!(made, "made");
    }

    #[test]
    fn dot_and_empty_mean_the_root() {
        let (_r, _o, wt) = setup();
        assert!(wt.resolve(".").unwrap().is_root());
        assert!(wt.resolve("").unwrap().is_root());
        assert!(wt.open_dir(&wt.resolve(".").unwrap()).is_ok());
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
        let err = read(&wt, "leak").unwrap_err();
        assert!(
            matches!(err, OpenError::Confine(ConfineError::SymlinkOutside { .. })),
            "{err}"
        );
        assert!(err.to_string().contains("'leak'"), "{err}");
    }

    #[test]
    fn a_relative_symlink_climbing_out_is_refused() {
        let (r, o, wt) = setup();
        let up = format!("../{}", o.path().file_name().unwrap().to_str().unwrap());
        symlink(up, r.path().join("up")).unwrap();
        assert!(read(&wt, "up/secret").is_err());
    }

    #[test]
    fn a_symlinked_parent_directory_pointing_outside_is_refused() {
        let (r, o, wt) = setup();
        symlink(o.path(), r.path().join("out")).unwrap();
        assert!(read(&wt, "out/secret").is_err());
        let err = write(&wt, "out/not-yet-there.txt", "no").unwrap_err();
        assert!(matches!(err, OpenError::Confine(_)), "{err}");
        assert!(!o.path().join("not-yet-there.txt").exists());
    }

    #[test]
    fn a_relative_symlink_that_stays_inside_can_be_read_but_not_written_through() {
        let (r, _o, wt) = setup();
        symlink("src", r.path().join("alias")).unwrap();
        assert_eq!(read(&wt, "alias/lib.rs").unwrap(), "x");
        let err = write(&wt, "alias/lib.rs", "y").unwrap_err();
        assert!(
            matches!(err, OpenError::Confine(ConfineError::SymlinkWrite { ref link, .. }) if link == "alias"),
            "{err}"
        );
    }

    #[test]
    fn a_dangling_symlink_is_not_written_through() {
        let (r, o, wt) = setup();
        symlink(o.path().join("nothing"), r.path().join("dangle")).unwrap();
        assert!(write(&wt, "dangle", "x").is_err());
        assert!(!o.path().join("nothing").exists());
    }

    #[test]
    fn a_file_with_another_hard_link_is_not_written() {
        let (r, _o, wt) = setup();
        std::fs::hard_link(r.path().join("src/lib.rs"), r.path().join("twin")).unwrap();
        assert!(write(&wt, "twin", "y").is_err());
        assert_eq!(
            std::fs::read_to_string(r.path().join("src/lib.rs")).unwrap(),
            "x"
        );
    }

    #[test]
    fn a_pipe_is_neither_read_nor_written() {
        let (r, _o, wt) = setup();
        let fifo = std::ffi::CString::new(r.path().join("pipe").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo reads the NUL-terminated path we pass.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert!(read(&wt, "pipe").is_err());
        assert!(write(&wt, "pipe", "x").is_err());
    }

    #[test]
    fn a_nul_byte_is_refused() {
        let (_r, _o, wt) = setup();
        assert!(matches!(wt.resolve("a\0b"), Err(ConfineError::Nul(_))));
    }
}
