//! A PID namespace and a `/proc` of its own for every agent process, where its
//! worktree's user namespace allows it (net/netns.rs): in it the agent sees only the
//! processes of its own command, not the command lines of the machine's, and its own
//! `/proc/self` works whether the server runs as root or not.
//!
//! Between fork and exec, once the process joined its worktree's namespaces and before
//! it drops its capabilities ([`Entry::enter`]): `unshare(CLONE_NEWPID | CLONE_NEWNS)`,
//! then two forks, so three processes:
//! - the **waiter**, the process the harness started and waits for: it closes every
//!   descriptor but its standard ones and waits for the namespace's init, then exits
//!   with its code, which is the command's;
//! - the **init** (pid 1 inside): it reaps every process orphaned in the namespace and
//!   exits with the command's code once the command ended; the kernel then kills what is
//!   left in the namespace, so nothing the command started outlives it;
//! - the **command** (pid 2): it makes its mounts private, mounts a fresh `/proc` (only
//!   the namespace's processes) and a `/dev/shm` of its own (a 64 MB tmpfs, so Python's
//!   `multiprocessing` works and no other process's shared memory shows), grants them in
//!   its Landlock ruleset (a rule on the host's path does not cover a new mount) and
//!   goes on to confine itself and exec.
//!
//! The waiter and the init run only the loops below (system calls, no exec, no agent
//! code). A command killed by a signal ends with code 128 + the signal, as a shell
//! reports it. Where the kernel refuses a new `/proc` (a container that masks parts of
//! its own), [`probe`] says so once at startup and agents keep the host's `/proc`.

use super::net::netns;

/// `LANDLOCK_RULE_PATH_BENEATH`.
const RULE_PATH_BENEATH: libc::c_int = 1;

/// `struct landlock_path_beneath_attr` (packed, as the kernel declares it).
#[repr(C, packed)]
struct PathBeneath {
    allowed_access: u64,
    parent_fd: i32,
}

/// The size of an agent process's own `/dev/shm` (Python's `multiprocessing` keeps its
/// semaphores there); what it holds counts against the run's memory too.
const SHM_OPTIONS: &std::ffi::CStr = c"size=64m,mode=1777";

/// What the child needs; `Copy`, made before the fork.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    /// The process's own Landlock ruleset, which the new `/proc` and `/dev/shm` are
    /// added to; `None` when it runs without Landlock (the probe).
    ruleset: Option<i32>,
    /// The access granted on the new `/proc`: read files and directories.
    proc_access: u64,
    /// The access granted on the new `/dev/shm`: everything but execute (it is mounted
    /// `noexec` too) and device nodes.
    shm_access: u64,
}

impl Entry {
    /// `abi`: the Landlock ABI the ruleset was made for (its handled rights bound what
    /// a rule may grant).
    pub(super) fn new(ruleset: Option<i32>, abi: i32) -> Self {
        use landlock::{Access, AccessFs};
        let proc = AccessFs::ReadFile | AccessFs::ReadDir;
        let shm = AccessFs::from_all(landlock::ABI::from(abi))
            & !(AccessFs::Execute | AccessFs::MakeChar | AccessFs::MakeBlock);
        Self {
            ruleset,
            proc_access: proc.bits(),
            shm_access: shm.bits(),
        }
    }

    /// In the child: returns only in the command, with its `/proc` mounted and granted.
    /// Only system calls on values made before the fork.
    pub(super) fn enter(self) -> std::io::Result<()> {
        let fail = || Err(std::io::Error::last_os_error());
        // SAFETY: every call takes integers or pointers to this frame's values and
        // static C strings. `wait_and_exit` and `reap_until` run only in this child of
        // the spawn and in its fork (single-threaded, as a fork is), and never return
        // into the harness's code, as their `# Safety` asks.
        unsafe {
            if libc::unshare(libc::CLONE_NEWPID | libc::CLONE_NEWNS) != 0 {
                return fail();
            }
            let init = libc::fork();
            if init < 0 {
                return fail();
            }
            if init > 0 {
                wait_and_exit(init, 3);
            }
            let command = libc::fork();
            if command < 0 {
                libc::_exit(127);
            }
            if command > 0 {
                reap_until(command);
            }
            if libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
                || libc::mount(
                    c"proc".as_ptr(),
                    c"/proc".as_ptr(),
                    c"proc".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    std::ptr::null(),
                ) != 0
            {
                return fail();
            }
            // A /dev/shm of its own, where the host has one to mount over.
            let shm = libc::mount(
                c"tmpfs".as_ptr(),
                c"/dev/shm".as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                SHM_OPTIONS.as_ptr().cast(),
            ) == 0;
            if let Some(ruleset) = self.ruleset {
                grant(ruleset, c"/proc", self.proc_access)?;
                if shm {
                    grant(ruleset, c"/dev/shm", self.shm_access)?;
                }
            }
        }
        Ok(())
    }
}

/// Adds `dir` with `access` to `ruleset`. System calls only.
///
/// # Safety
///
/// Nothing beyond the signature: it makes only system calls, on `dir` (borrowed for the
/// call), a descriptor it opens and closes itself and a rule on its own stack; a
/// `ruleset` that is not a Landlock ruleset only makes the kernel refuse. It is `unsafe`
/// as part of the code a child runs between fork and exec: it allocates nothing and
/// takes no lock.
unsafe fn grant(ruleset: i32, dir: &std::ffi::CStr, access: u64) -> std::io::Result<()> {
    // SAFETY: `dir` is NUL-terminated; the rule is this frame's, passed by pointer.
    unsafe {
        let fd = libc::open(
            dir.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let rule = PathBeneath {
            allowed_access: access,
            parent_fd: fd,
        };
        let added = libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset,
            RULE_PATH_BENEATH,
            &raw const rule,
            0u32,
        );
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if added != 0 {
            return Err(err);
        }
    }
    Ok(())
}

/// The waiter: closes every descriptor from `first_closed` up, waits for `init`, and
/// exits with its code.
///
/// # Safety
///
/// Only in a process forked for a command (the spawn's child, between fork and exec),
/// which this never returns to: it closes descriptors that `OwnedFd`s of the harness's
/// own, which is sound only where no other thread and no later code uses them (a fork
/// has only the thread that forked, and this ends in `_exit`). System calls only, as
/// such a child of a threaded process must make.
unsafe fn wait_and_exit(init: i32, first_closed: u32) -> ! {
    // SAFETY: the caller's promise above; system calls on integers and this frame's
    // status word.
    unsafe {
        libc::syscall(libc::SYS_close_range, first_closed, u32::MAX, 0u32);
        let mut status = 0;
        loop {
            let reaped = libc::waitpid(init, &mut status, 0);
            if reaped == init {
                break;
            }
            if reaped < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                libc::_exit(127);
            }
        }
        libc::_exit(code_of(status));
    }
}

/// The init: closes every descriptor, reaps whatever ends in the namespace, and exits
/// with `command`'s code once it ended.
///
/// # Safety
///
/// As for [`wait_and_exit`]: only in a process forked for a command, which this never
/// returns to, since it closes every descriptor, the harness's `OwnedFd`s' too.
unsafe fn reap_until(command: i32) -> ! {
    // SAFETY: the caller's promise above; system calls on integers and this frame's
    // status word.
    unsafe {
        libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
        loop {
            let mut status = 0;
            let reaped = libc::waitpid(-1, &mut status, 0);
            if reaped == command {
                libc::_exit(code_of(status));
            }
            if reaped < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                libc::_exit(127);
            }
        }
    }
}

/// The exit code of a wait status: its code, or 128 + the signal that killed it.
fn code_of(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        127
    }
}

/// Whether agents can have a PID namespace and `/proc` of their own here: a child
/// joins a namespace made as a worktree's is and runs a shell that must read its own
/// `/proc/self` and not see the harness.
pub fn probe() -> Result<(), String> {
    netns::probe_made(|join| {
        use std::os::unix::process::CommandExt;
        let entry = Entry::new(None, 1);
        // This process is outside: its pid (never one of the few inside) must not show.
        let check = format!(
            "test -r /proc/self/stat && ! test -e /proc/{}",
            std::process::id()
        );
        let mut command = std::process::Command::new("/bin/sh");
        command
            .args(["-c", &check])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // SAFETY: both steps make only system calls on values made before the fork.
        unsafe {
            command.pre_exec(move || {
                join.enter()?;
                entry.enter()
            });
        }
        let status = command.status().map_err(|e| {
            format!(
                "a child cannot have its own PID namespace and /proc: {}",
                netns::plain(&e)
            )
        })?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "a child in its own PID namespace still saw other processes ({status})"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_wait_status_becomes_the_code_a_shell_reports() {
        assert_eq!(super::code_of(3 << 8), 3);
        assert_eq!(super::code_of(libc::SIGKILL), 137);
    }
}
