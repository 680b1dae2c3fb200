//! The network side of the sandbox: an agent never reaches the harness's own ports.
//!
//! With `HARNESS_AGENT_NETWORK=open` (the default) an agent may open any TCP connection,
//! and the harness's API listens on loopback, where no token is required by default: an
//! agent with `curl` would own the API (create tasks, pause, raise its own cost cap) and
//! its bad logins would land in the person's login bucket. So every agent process also
//! enters a second Landlock domain that handles only `AccessNet::ConnectTcp` and allows
//! every port but the harness's own. Domains stack: the file-system ruleset of each
//! process and this one both apply.
//!
//! That ruleset holds about 65 000 rules (Landlock has no port ranges), so it is built
//! once, when the server knows the port it bound ([`PortGuard::new`]): about 70 ms.
//! Entering it is not cheap either: `landlock_restrict_self` copies every rule into the
//! new domain, 35 to 40 ms per call measured, far too much per spawn. So it is entered
//! once, by one thread of the server kept for the purpose, and every confined agent is
//! forked from that thread ([`PortGuard::spawn`]): a child inherits the domain of the
//! thread that forked it, at no cost, and stacks its own file-system domain on top. No
//! other thread of the server is restricted. It needs no namespace, no root and no
//! `unshare`, so it works where a container's seccomp profile forbids those (the
//! orchestrator image as uid 10001). Landlock matches the destination port whatever the address, so the harness's
//! port is closed on every host an agent could name; that is the price of a rule that
//! needs no address.

use std::{
    os::fd::{AsRawFd, OwnedFd},
    path::Path,
    sync::mpsc::{SyncSender, sync_channel},
    time::{Duration, Instant},
};

use landlock::{AccessNet, NetPort, Ruleset, RulesetAttr, RulesetCreatedAttr};

use super::{Network, SandboxError};

/// The first Landlock ABI with TCP connect rules (Linux 6.7).
const NET_ABI: i32 = 4;

/// Spawns waiting for the guard's thread at most; past it a spawn waits its turn (a
/// fork takes about a millisecond).
const QUEUE: usize = 16;

/// A spawn for the guard's thread to run.
type Job = Box<dyn FnOnce() + Send>;

/// The harness's own ports, and the thread whose children cannot connect to them.
#[derive(Debug)]
pub struct PortGuard {
    ports: Vec<u16>,
    /// The thread inside the "any TCP port but `ports`" domain; `None` where the kernel
    /// has no TCP rules. It ends when the guard is dropped (its queue closes).
    spawner: Option<SyncSender<Job>>,
    /// Why there is no ruleset, for the startup log.
    missing: Option<String>,
    built_in: Duration,
}

impl PortGuard {
    /// Builds the ruleset for a kernel with Landlock ABI `abi` (`None`: no Landlock).
    /// A kernel without TCP rules gets a guard that only remembers the ports (they are
    /// still taken out of a `HARNESS_AGENT_NETWORK` port list); [`PortGuard::missing`]
    /// says why.
    pub fn new(ports: &[u16], abi: Option<i32>) -> Result<Self, SandboxError> {
        let mut ports: Vec<u16> = ports.iter().copied().filter(|&p| p > 0).collect();
        ports.sort_unstable();
        ports.dedup();
        let started = Instant::now();
        let (spawner, missing) = match abi {
            Some(abi) if abi >= NET_ABI => (Some(start_spawner(all_ports_but(&ports)?)?), None),
            Some(abi) => (
                None,
                Some(format!(
                    "Landlock ABI {abi} has no TCP rules (ABI {NET_ABI}, Linux 6.7, is needed)"
                )),
            ),
            None => (None, Some("this kernel offers no Landlock".to_owned())),
        };
        Ok(Self {
            ports,
            spawner,
            missing,
            built_in: started.elapsed(),
        })
    }

    /// The ports agents may not connect to.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Why agents can still reach these ports on this kernel, if they can.
    pub fn missing(&self) -> Option<&str> {
        self.missing.as_deref()
    }

    /// How long building the ruleset took.
    pub fn built_in(&self) -> Duration {
        self.built_in
    }

    /// Starts `command` forked from the guard's thread, so the child is inside its domain;
    /// without a thread (no TCP rules in this kernel), as usual. Blocks while the fork
    /// runs, as `Command::spawn` does. Needs a Tokio runtime, as `Command::spawn` does.
    pub(super) fn spawn(
        &self,
        mut command: tokio::process::Command,
    ) -> std::io::Result<tokio::process::Child> {
        let Some(jobs) = &self.spawner else {
            return command.spawn();
        };
        let runtime = tokio::runtime::Handle::try_current().map_err(std::io::Error::other)?;
        let (done, result) = sync_channel(1);
        let job: Job = Box::new(move || {
            // The child's pipes and its reaping belong to the caller's runtime.
            let _inside = runtime.enter();
            // The caller waits on `result` until this is sent; if it is gone, so is the
            // child (kill_on_drop).
            let _ = done.send(command.spawn());
        });
        let gone = || std::io::Error::other("the agent spawner thread has ended");
        jobs.send(job).map_err(|_| gone())?;
        result.recv().map_err(|_| gone())?
    }

    /// `network` without the harness's ports: a port list never opens them, and a list
    /// that held only them allows nothing.
    pub(super) fn narrow(&self, network: &Network) -> Network {
        match network {
            Network::Ports(list) => Network::Ports(
                list.iter()
                    .copied()
                    .filter(|p| !self.ports.contains(p))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Says at startup what agents can reach.
    pub fn announce(&self) {
        match &self.missing {
            None => tracing::info!(
                ports = ?self.ports,
                built_ms = self.built_in.as_secs_f64() * 1000.0,
                "agents cannot connect to the harness's own ports (Landlock TCP rules)"
            ),
            Some(why) => tracing::warn!(
                ports = ?self.ports,
                reason = %why,
                "agents CAN connect to the harness's own ports: set HARNESS_API_TOKEN, or HARNESS_AGENT_NETWORK to a port list"
            ),
        }
    }
}

/// A ruleset handling only TCP connect, with a rule for every port but `denied`.
fn all_ports_but(denied: &[u16]) -> Result<OwnedFd, SandboxError> {
    let err = |e: &dyn std::fmt::Display| SandboxError::Rules {
        path: Path::new("network").to_path_buf(),
        message: e.to_string(),
    };
    let mut created = Ruleset::default()
        .handle_access(AccessNet::ConnectTcp)
        .map_err(|e| err(&e))?
        .create()
        .map_err(|e| err(&e))?;
    // Port 0 is no destination; 1..=65535 bounds the loop.
    for port in (1..=u16::MAX).filter(|p| !denied.contains(p)) {
        created = created
            .add_rule(NetPort::new(port, AccessNet::ConnectTcp))
            .map_err(|e| err(&e))?;
    }
    let fd: Option<OwnedFd> = created.into();
    fd.ok_or_else(|| err(&"the kernel returned no ruleset"))
}

/// Starts the thread that enters the `ruleset` domain and then forks every confined
/// agent; returns once it is inside, or why it could not enter.
fn start_spawner(ruleset: OwnedFd) -> Result<SyncSender<Job>, SandboxError> {
    let err = |message: String| SandboxError::Rules {
        path: Path::new("network").to_path_buf(),
        message,
    };
    let (jobs, queue) = sync_channel::<Job>(QUEUE);
    let (ready, entered) = sync_channel::<std::io::Result<()>>(1);
    std::thread::Builder::new()
        .name("agent-spawner".into())
        .spawn(move || {
            let result = restrict_this_thread(&ruleset);
            drop(ruleset);
            let inside = result.is_ok();
            // The starter waits for this; it is never gone before it reads it.
            let _ = ready.send(result);
            if inside {
                // Ends when the guard, the only sender, is dropped.
                while let Ok(job) = queue.recv() {
                    job();
                }
            }
        })
        .map_err(|e| err(format!("cannot start the agent spawner thread: {e}")))?;
    match entered.recv() {
        Ok(Ok(())) => Ok(jobs),
        Ok(Err(e)) => Err(err(format!("cannot enter the ports ruleset: {e}"))),
        Err(_) => Err(err("the agent spawner thread ended at once".into())),
    }
}

/// Enters the `ruleset` domain on the calling thread only (Landlock restricts the
/// thread that asks; the rest of the server stays outside).
fn restrict_this_thread(ruleset: &OwnedFd) -> std::io::Result<()> {
    // SAFETY: prctl and landlock_restrict_self take plain integers and change only the
    // calling thread's flags and credentials; `ruleset` is open for the whole call.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::syscall(libc::SYS_landlock_restrict_self, ruleset.as_raw_fd(), 0u32) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The Landlock ABI of `support`, for [`PortGuard::new`].
pub(super) fn abi_of(support: super::Support) -> Option<i32> {
    match support {
        super::Support::Landlock(abi) => Some(abi),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_list_never_names_the_harness_port() {
        let guard = PortGuard::new(&[8080, 0, 8080], Some(1)).unwrap();
        assert_eq!(guard.ports(), &[8080]);
        assert!(guard.missing().unwrap().contains("ABI 4"));
        assert_eq!(
            guard.narrow(&Network::Ports(vec![443, 8080])),
            Network::Ports(vec![443])
        );
        assert_eq!(guard.narrow(&Network::Open), Network::Open);
        assert_eq!(guard.narrow(&Network::None), Network::None);
    }

    /// Landlock ABI 4 or later, or `None` (and a loud failure under `CI=true`, where the
    /// kernel is known to have it).
    fn net_abi() -> Option<i32> {
        match super::super::Support::probe() {
            super::super::Support::Landlock(abi) if abi >= NET_ABI => Some(abi),
            other => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI must have Landlock TCP rules: {}",
                    other.describe()
                );
                eprintln!("skipped: {}", other.describe());
                None
            }
        }
    }

    /// Runs `script` with bash under `config`, returning its output.
    async fn run(config: &super::super::SandboxConfig, script: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = crate::process::CommandSpec::new("bash", ["-c", script], dir.path());
        spec.sandbox = config.clone();
        let cancel = tokio_util::sync::CancellationToken::new();
        let done = crate::process::run(&spec, &cancel, |_| {}).await.unwrap();
        done.tail
    }

    fn probe(port: u16) -> String {
        format!(
            "if exec 3<>/dev/tcp/127.0.0.1/{port}; then echo OPEN {port}; else echo SHUT {port}; fi"
        )
    }

    #[tokio::test]
    async fn an_agent_reaches_other_ports_but_not_the_harness_port() {
        let Some(_) = net_abi() else { return };
        let harness = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (h, o) = (
            harness.local_addr().unwrap().port(),
            other.local_addr().unwrap().port(),
        );
        let mut config = super::super::SandboxConfig::default();
        let script = format!("{}; {}", probe(h), probe(o));
        // Without the guard, today's default: both open.
        let before = run(&config, &script).await;
        assert!(before.contains(&format!("OPEN {h}")), "{before}");
        config.guard_ports(&[h]).unwrap();
        let after = run(&config, &script).await;
        assert!(after.contains(&format!("SHUT {h}")), "{after}");
        assert!(after.contains(&format!("OPEN {o}")), "{after}");
    }

    #[tokio::test]
    async fn a_port_list_naming_the_harness_port_still_refuses_it() {
        let Some(_) = net_abi() else { return };
        let harness = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (h, o) = (
            harness.local_addr().unwrap().port(),
            other.local_addr().unwrap().port(),
        );
        let mut config = super::super::SandboxConfig {
            network: Network::Ports(vec![h, o]),
            ..super::super::SandboxConfig::default()
        };
        config.guard_ports(&[h]).unwrap();
        let out = run(&config, &format!("{}; {}", probe(h), probe(o))).await;
        assert!(out.contains(&format!("SHUT {h}")), "{out}");
        assert!(out.contains(&format!("OPEN {o}")), "{out}");
    }

    #[test]
    fn the_ruleset_is_built_once_in_well_under_a_second() {
        let Some(abi) = net_abi() else { return };
        let guard = PortGuard::new(&[8080], Some(abi)).unwrap();
        assert!(guard.missing().is_none());
        assert!(guard.spawner.is_some());
        eprintln!("ports ruleset built in {:?}", guard.built_in());
        assert!(
            guard.built_in() < Duration::from_secs(2),
            "{:?}",
            guard.built_in()
        );
    }
}
