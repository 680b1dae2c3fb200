//! Agents using what the sandbox grants beyond their work: Unix sockets of the host's
//! daemons (docker.sock, ssh-agent, D-Bus), the capabilities of a root server (raw
//! sockets, the hostname, reading any file), device nodes (other processes' /dev/shm
//! files, the kernel log), and the kernel's process and mount interfaces.
//!
//! The tests run as root on CI: there each refused attempt would succeed without the
//! mechanism that stops it.

use std::{io::ErrorKind, os::unix::net::UnixListener};

use crate::{attempt, run_commands};

/// `perl -e` with `script`: perl-base is in every Debian image.
fn perl(script: &str) -> String {
    format!("perl -MSocket -MPOSIX -e '{script}'")
}

/// Asserts each of `whats` was tried and refused, in `results` (one per command).
fn all_blocked(results: &[String], whats: &[&str]) {
    let all = results.join("\n");
    for what in whats {
        assert!(all.contains(&format!("BLOCKED {what}")), "{what}: {all}");
    }
    assert!(!all.contains("ESCAPED"), "{all}");
}

#[tokio::test]
async fn a_path_named_unix_socket_outside_the_sandbox_is_unreachable() {
    // A daemon's socket outside the worktree, open to everyone, as docker.sock is to
    // its group and a D-Bus socket to the user.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("daemon.sock");
    let listener = UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    let p = path.display();
    let commands = [
        attempt(
            "stream connect",
            &perl(&format!(
                "socket(my $s, AF_UNIX, SOCK_STREAM, 0) or die; connect($s, pack_sockaddr_un(\"{p}\")) or die"
            )),
        ),
        attempt(
            "datagram to the socket",
            &perl(&format!(
                "socket(my $s, AF_UNIX, SOCK_DGRAM, 0) or die; send($s, \"x\", 0, pack_sockaddr_un(\"{p}\")) or die"
            )),
        ),
        // A pair of connected sockets reaches nothing outside: it stays allowed.
        perl("socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, 0) or die; print \"PAIR OK\\n\""),
    ];
    let (_app, _task, results, _repo) = run_commands(&commands, |_| {}).await;
    all_blocked(&results, &["stream connect", "datagram to the socket"]);
    assert!(results[2].contains("PAIR OK"), "{results:?}");
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == ErrorKind::WouldBlock),
        "the agent reached the socket: {accepted:?}"
    );
}

#[tokio::test]
async fn a_root_servers_agent_has_no_raw_sockets_hostname_or_file_override() {
    let commands = [
        attempt(
            "raw ICMP socket",
            &perl("socket(my $s, AF_INET, SOCK_RAW, 1) or die"),
        ),
        attempt(
            "raw IPv6 socket",
            &perl("socket(my $s, AF_INET6, SOCK_RAW, 58) or die"),
        ),
        attempt(
            "packet socket",
            &perl("socket(my $s, 17, SOCK_RAW, 0) or die"),
        ),
        // The same name again, so a run that escapes changes nothing on the machine.
        attempt(
            "sethostname",
            &perl(&format!(
                "my $h = (POSIX::uname())[1]; syscall({}, $h, length $h) == 0 or die",
                libc::SYS_sethostname
            )),
        ),
        // Root reads a file of mode 000 only with CAP_DAC_OVERRIDE.
        attempt(
            "read a mode-000 file",
            // Removed whatever happens: a server that is not root could not commit it.
            "(echo secret > locked && chmod 000 locked && cat locked; r=$?; rm -f locked; exit $r)",
        ),
    ];
    let (_app, _task, results, _repo) = run_commands(&commands, |_| {}).await;
    all_blocked(
        &results,
        &[
            "raw ICMP socket",
            "raw IPv6 socket",
            "packet socket",
            "sethostname",
            "read a mode-000 file",
        ],
    );
}

#[tokio::test]
async fn of_dev_an_agent_has_only_the_harmless_nodes() {
    // Another program's shared memory, as a browser or a database leaves it.
    let shm =
        std::path::Path::new("/dev/shm").join(format!("harness-hostile-{}", std::process::id()));
    std::fs::write(&shm, "another program's data")
        .unwrap_or_else(|e| panic!("this test needs /dev/shm ({}): {e}", shm.display()));
    let s = shm.display();
    let commands = [
        attempt("read /dev/shm", &format!("cat {s}")),
        attempt("write /dev/shm in place", &format!("printf x >> {s}")),
        attempt("list /dev/shm", "ls /dev/shm"),
        attempt("create in /dev/shm", "echo x > /dev/shm/planted"),
        attempt("read the kernel log", "timeout 5 head -c 1 /dev/kmsg"),
        attempt("write the kernel log", "echo planted > /dev/kmsg"),
        attempt("open the terminal", "true > /dev/tty"),
        attempt("open a pty", "true > /dev/ptmx"),
        // What every tool uses still works.
        "echo x > /dev/null && head -c 4 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c && echo NODES OK".to_owned(),
    ];
    let (_app, _task, results, _repo) = run_commands(&commands, |_| {}).await;
    let content = std::fs::read_to_string(&shm).unwrap();
    let _ = std::fs::remove_file(&shm);
    // Where agents have their own namespaces, their /dev/shm is a private tmpfs: writing,
    // listing and creating there work and touch nothing of the host's (checked below).
    let private_shm = harness::engine::sandbox::net::netns::probe().is_ok()
        && harness::engine::sandbox::pidns::probe().is_ok();
    let in_own_shm = [
        "write /dev/shm in place",
        "list /dev/shm",
        "create in /dev/shm",
    ];
    let results: Vec<String> = if private_shm {
        results
            .iter()
            .map(|r| {
                r.lines()
                    .filter(|l| !in_own_shm.iter().any(|w| l.ends_with(w)))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect()
    } else {
        results
    };
    let mut refused = vec![
        "read /dev/shm",
        "read the kernel log",
        "write the kernel log",
        "open the terminal",
        "open a pty",
    ];
    if !private_shm {
        refused.extend(in_own_shm);
    }
    all_blocked(&results, &refused);
    assert_eq!(content, "another program's data");
    assert!(!std::path::Path::new("/dev/shm/planted").exists());
    assert!(results[8].contains("NODES OK"), "{results:?}");
}

#[tokio::test]
async fn ptrace_namespaces_and_mounts_are_refused() {
    let commands = [
        // Its own child: allowed by Yama's default scope, so only the filter stops it.
        attempt(
            "ptrace a child",
            &format!(
                "(sleep 30 & pid=$!; {} \"$pid\"; r=$?; kill $pid; exit $r)",
                perl(&format!(
                    "syscall({}, 16, $ARGV[0], 0, 0) == 0 or die",
                    libc::SYS_ptrace
                ))
            ),
        ),
        attempt(
            "new user namespace",
            &perl(&format!(
                "syscall({}, {}) == 0 or die",
                libc::SYS_unshare,
                libc::CLONE_NEWUSER
            )),
        ),
        attempt(
            "new mount namespace",
            &perl(&format!(
                "syscall({}, {}) == 0 or die",
                libc::SYS_unshare,
                libc::CLONE_NEWNS
            )),
        ),
        attempt(
            "mount a tmpfs",
            &format!(
                "mkdir -p m && {}",
                perl(&format!(
                    "my ($s, $t, $f) = (\"none\", \"m\", \"tmpfs\"); syscall({}, $s, $t, $f, 0, 0) == 0 or die",
                    libc::SYS_mount
                ))
            ),
        ),
        attempt(
            "a keyring",
            &perl(&format!(
                "my ($t, $d, $v) = (\"user\", \"k\", \"v\"); syscall({}, $t, $d, $v, 1, -2) >= 0 or die",
                libc::SYS_add_key
            )),
        ),
    ];
    let (_app, _task, results, _repo) = run_commands(&commands, |_| {}).await;
    all_blocked(
        &results,
        &[
            "ptrace a child",
            "new user namespace",
            "new mount namespace",
            "mount a tmpfs",
            "a keyring",
        ],
    );
}
