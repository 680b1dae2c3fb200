//! The system-call filter of every agent process (seccomp-bpf), the last step of
//! [`super::Entry::enter`].
//!
//! Landlock confines paths and TCP ports; it does not see a terminal's ioctls, a socket
//! bound to a path (ABI 7 scopes abstract sockets only: `/var/run/docker.sock`,
//! ssh-agent, D-Bus stay reachable), raw and packet sockets, or the kernel's own
//! interfaces (mount, kexec, bpf, keyrings, namespaces). This filter refuses those with
//! `EPERM`, never a kill, so a tool that tries one degrades the way it would on a
//! stricter host instead of dying with SIGSYS.
//!
//! The programs are compiled once per server ([`programs`]); the child only points the
//! kernel at them (`seccomp(SECCOMP_SET_MODE_FILTER)`), which neither allocates nor locks.
//! `seccompiler::apply_filter` would not allocate either, but it also sets
//! no-new-privileges, which `enter` does itself at its own step.

use std::{collections::BTreeMap, sync::OnceLock};

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use super::SandboxError;

/// Push a byte into a terminal's input, and the Linux console's multiplexer (which can
/// also paste into it). The same numbers on x86_64 and aarch64 (asm-generic).
const TIOCSTI: u64 = 0x5412;
const TIOCLINUX: u64 = 0x541C;
/// `socket()`'s type argument carries SOCK_NONBLOCK and SOCK_CLOEXEC above this mask.
const SOCK_TYPE_MASK: u64 = 0xf;
/// The obsolete `socket(AF_INET, SOCK_PACKET)`, which the kernel turns into AF_PACKET.
const SOCK_PACKET: u64 = 10;
/// Every flag of `clone` that makes a new namespace (CLONE_NEWTIME is clone3-only).
const CLONE_NEW: [u64; 7] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];
/// Socket families an agent may create: IP, and netlink (glibc's resolver asks the
/// routing table through it). Not AF_UNIX: `socketpair` still works, it reaches nothing
/// outside the process tree, but a path-named socket would reach any daemon.
const SOCKET_FAMILIES: [u64; 3] = [
    libc::AF_INET as u64,
    libc::AF_INET6 as u64,
    libc::AF_NETLINK as u64,
];
/// x86_64's x32 ABI numbers its system calls from here, under the same audit arch, so
/// a rule for `ptrace` would not see x32's `ptrace`.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// System calls refused whatever their arguments: other processes' memory, the
/// machine's mounts, kernel, keyrings, clock and names, new namespaces, and io_uring
/// (its operations open sockets and files without passing through this filter).
const REFUSED: &[i64] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_getfd,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_open_by_handle_at,
    libc::SYS_userfaultfd,
    libc::SYS_syslog,
    libc::SYS_acct,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_quotactl,
    libc::SYS_quotactl_fd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
];

/// The compiled filters, in the order the child installs them, each as the kernel
/// reads it. Built once; the child only takes their addresses.
#[derive(Debug)]
pub(super) struct Programs {
    programs: Vec<Vec<libc::sock_filter>>,
}

/// Whether a process may create Unix sockets (`socket(AF_UNIX)`; `socketpair` always).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UnixSockets {
    Refused,
    /// For Chromium only: its ProcessSingleton binds a socket in its profile directory
    /// and it aborts without one. Its pages cannot open Unix sockets.
    Allowed,
}

/// The filters for this machine's architecture, compiled on first use.
pub(super) fn programs(unix: UnixSockets) -> Result<&'static Programs, SandboxError> {
    static STRICT: OnceLock<Result<Programs, String>> = OnceLock::new();
    static WITH_UNIX: OnceLock<Result<Programs, String>> = OnceLock::new();
    let cell = match unix {
        UnixSockets::Refused => &STRICT,
        UnixSockets::Allowed => &WITH_UNIX,
    };
    cell.get_or_init(|| compile(unix))
        .as_ref()
        .map_err(|e| SandboxError::Seccomp(e.clone()))
}

/// The architecture this server runs on, which every filter is built for.
fn native_arch() -> Result<TargetArch, String> {
    TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| format!("no seccomp filter for {}: {e}", std::env::consts::ARCH))
}

/// A program for this architecture that answers `errno` to every call `rules` match and
/// allows the rest, as the kernel takes it.
pub(super) fn program(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    errno: i32,
) -> Result<Vec<libc::sock_filter>, String> {
    Ok(to_kernel(build(rules, errno, native_arch()?)?))
}

/// Installs `program` on the calling thread; no-new-privileges must be set. System calls
/// only: this runs between fork and exec.
pub(super) fn install(program: &[libc::sock_filter]) -> std::io::Result<()> {
    let fprog = libc::sock_fprog {
        // Programs are a few hundred instructions; the kernel's cap is 4096.
        len: program.len() as u16,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: the kernel copies the program (`fprog` and the instructions it points to,
    // which the caller holds for the whole call) and keeps no pointer to it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0u32,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn compile(unix: UnixSockets) -> Result<Programs, String> {
    let arch = native_arch()?;
    let mut programs = vec![
        to_kernel(build(refused_rules(unix)?, libc::EPERM, arch)?),
        // glibc and others fall back to `clone` on ENOSYS, where the flags are visible;
        // clone3 passes them in memory, which a filter cannot read.
        to_kernel(build(
            BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
            libc::ENOSYS,
            arch,
        )?),
    ];
    #[cfg(target_arch = "x86_64")]
    programs.push(no_x32());
    Ok(Programs { programs })
}

/// Every refused call, with its conditions (an empty list: refused always).
fn refused_rules(unix: UnixSockets) -> Result<BTreeMap<i64, Vec<SeccompRule>>, String> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        REFUSED.iter().map(|&nr| (nr, Vec::new())).collect();
    // The ioctl number is an `unsigned int` in the kernel: compare the low 32 bits only,
    // so high bits set by the caller change nothing.
    rules.insert(
        libc::SYS_ioctl,
        vec![
            rule([(1, Len::Dword, Op::Eq, TIOCSTI)])?,
            rule([(1, Len::Dword, Op::Eq, TIOCLINUX)])?,
        ],
    );
    let mut families = SOCKET_FAMILIES.to_vec();
    if unix == UnixSockets::Allowed {
        families.push(libc::AF_UNIX as u64);
    }
    let mut socket = vec![rule(families.iter().map(|&f| (0, Len::Dword, Op::Ne, f)))?];
    for family in [libc::AF_INET as u64, libc::AF_INET6 as u64] {
        for kind in [libc::SOCK_RAW as u64, SOCK_PACKET] {
            socket.push(rule([
                (0, Len::Dword, Op::Eq, family),
                (1, Len::Dword, Op::MaskedEq(SOCK_TYPE_MASK), kind),
            ])?);
        }
    }
    rules.insert(libc::SYS_socket, socket);
    // The kernel reads the low 32 bits of clone's flags.
    let clone = CLONE_NEW
        .iter()
        .map(|&flag| rule([(0, Len::Dword, Op::MaskedEq(flag), flag)]))
        .collect::<Result<_, _>>()?;
    rules.insert(libc::SYS_clone, clone);
    // The open-files hard limit marks an agent's processes for the orphan sweep; no
    // agent may change it. Reading it (a null new limit) stays allowed.
    let nofile = libc::RLIMIT_NOFILE as u64;
    rules.insert(
        libc::SYS_setrlimit,
        vec![rule([(0, Len::Dword, Op::Eq, nofile)])?],
    );
    rules.insert(
        libc::SYS_prlimit64,
        vec![rule([
            (1, Len::Dword, Op::Eq, nofile),
            (2, Len::Qword, Op::Ne, 0),
        ])?],
    );
    Ok(rules)
}

/// One rule: all of `conditions` hold.
pub(super) fn rule(
    conditions: impl IntoIterator<Item = (u8, Len, Op, u64)>,
) -> Result<SeccompRule, String> {
    let conditions = conditions
        .into_iter()
        .map(|(arg, len, op, value)| SeccompCondition::new(arg, len, op, value))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    SeccompRule::new(conditions).map_err(|e| e.to_string())
}

/// A program that answers `errno` to every call `rules` match and allows the rest. A
/// call of another architecture (32-bit code on x86_64) kills the process: its numbers
/// mean other calls, so no rule here would apply to it.
fn build(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    errno: i32,
    arch: TargetArch,
) -> Result<BpfProgram, String> {
    let errno = u32::try_from(errno).map_err(|e| e.to_string())?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno),
        arch,
    )
    .map_err(|e| e.to_string())?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| e.to_string())
}

fn to_kernel(program: BpfProgram) -> Vec<libc::sock_filter> {
    program
        .into_iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect()
}

/// Refuses every x32 system call (ENOSYS, as a kernel built without x32 answers).
#[cfg(target_arch = "x86_64")]
fn no_x32() -> Vec<libc::sock_filter> {
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    // struct seccomp_data: `nr` at offset 0.
    let stmt = |code, k| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    vec![
        stmt(LD_W_ABS, 0),
        libc::sock_filter {
            code: JGE_K,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        stmt(RET_K, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        stmt(RET_K, libc::SECCOMP_RET_ALLOW),
    ]
}

impl Programs {
    /// Installs every filter on the calling thread; no-new-privileges must be set.
    /// System calls only: this runs between fork and exec.
    pub(super) fn install(&self) -> std::io::Result<()> {
        self.programs
            .iter()
            .try_for_each(|program| install(program))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{self, CommandSpec};
    use tokio_util::sync::CancellationToken;

    /// Runs `perl -e script` confined, returning what it printed.
    async fn perl(script: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let spec = CommandSpec::new("perl", ["-e", script], dir.path());
        let done = process::run(&spec, &CancellationToken::new(), |_| {})
            .await
            .unwrap();
        assert!(done.termination.success(), "{}", done.tail);
        done.tail
    }

    /// `syscall(...)` in perl, printing its result and errno as `NAME rc errno`.
    fn call(name: &str, nr: i64, args: &str) -> String {
        format!("$! = 0; my $rc = syscall({nr}, {args}); printf(\"{name} %d %d\\n\", $rc, $! + 0);")
    }

    #[tokio::test]
    async fn refused_calls_fail_with_eperm_and_the_process_lives_on() {
        let tiocsti = TIOCSTI;
        let script = [
            "my $b = \"\\0\" x 64;".to_owned(),
            // On a pipe, an allowed ioctl fails with ENOTTY; the filter answers first.
            call("tiocsti", libc::SYS_ioctl, &format!("0, {tiocsti}, $b")),
            call(
                "tiocsti-high-bits",
                libc::SYS_ioctl,
                &format!("0, {}, $b", tiocsti | (1 << 32)),
            ),
            call("tcgets", libc::SYS_ioctl, "0, 0x5401, $b"),
            call("unix", libc::SYS_socket, "1, 1, 0"),
            call(
                "unix-cloexec",
                libc::SYS_socket,
                &format!("1, {}, 0", 1 | libc::SOCK_CLOEXEC),
            ),
            call("packet", libc::SYS_socket, "17, 3, 0"),
            call(
                "raw",
                libc::SYS_socket,
                &format!("2, {}, 1", 3 | libc::SOCK_NONBLOCK),
            ),
            call("tcp", libc::SYS_socket, "2, 1, 0"),
            call(
                "unshare",
                libc::SYS_unshare,
                &format!("{}", libc::CLONE_NEWUSER),
            ),
            call("ptrace", libc::SYS_ptrace, "16, getppid(), 0, 0"),
            call("clone3", libc::SYS_clone3, "0, 0"),
            // Were it allowed, the child would print a second line (rc 0) and exit.
            call(
                "clone-newuser",
                libc::SYS_clone,
                &format!("{}, 0, 0, 0, 0", libc::CLONE_NEWUSER | libc::SIGCHLD),
            ),
            "exit 0 if $rc == 0;".to_owned(),
            call(
                "setrlimit-nofile",
                libc::SYS_setrlimit,
                &format!("{}, $b", libc::RLIMIT_NOFILE),
            ),
            call(
                "prlimit-read",
                libc::SYS_prlimit64,
                &format!("0, {}, 0, $b", libc::RLIMIT_NOFILE),
            ),
        ]
        .join("");
        let out = perl(&script).await;
        let eperm = libc::EPERM;
        for name in [
            "tiocsti",
            "tiocsti-high-bits",
            "unix",
            "unix-cloexec",
            "packet",
            "raw",
            "unshare",
            "ptrace",
            "setrlimit-nofile",
            "clone-newuser",
        ] {
            assert!(
                out.contains(&format!("{name} -1 {eperm}\n")),
                "{name}: {out}"
            );
        }
        assert!(
            out.contains(&format!("tcgets -1 {}\n", libc::ENOTTY)),
            "{out}"
        );
        assert!(
            out.contains(&format!("clone3 -1 {}\n", libc::ENOSYS)),
            "{out}"
        );
        assert!(!out.contains("tcp -1"), "{out}");
        assert!(out.contains("prlimit-read 0 0\n"), "{out}");
    }

    #[tokio::test]
    async fn socketpairs_threads_and_child_processes_still_work() {
        let out = perl(
            "use Socket; socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, 0) or die \"pair: $!\"; \
             my $pid = fork() // die \"fork: $!\"; exit 0 if $pid == 0; waitpid($pid, 0); \
             print \"ok $?\\n\";",
        )
        .await;
        assert!(out.contains("ok 0"), "{out}");
    }

    #[test]
    fn the_filters_compile_for_this_machine_within_the_kernels_limit() {
        for unix in [UnixSockets::Refused, UnixSockets::Allowed] {
            let programs = programs(unix).unwrap();
            assert!(programs.programs.len() >= 2);
            for program in &programs.programs {
                let len = program.len();
                assert!(len > 0 && len < 4096, "{len}");
            }
        }
    }
}
