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
    sync::{
        Arc,
        mpsc::{SyncSender, sync_channel},
    },
    time::{Duration, Instant},
};

use landlock::{AccessNet, NetPort, Ruleset, RulesetAttr, RulesetCreatedAttr};

use super::{Network, SandboxError};
use crate::egress::{Egress, proxy::Policy};

pub mod netns;

/// `HARNESS_AGENT_NETNS`: whether each agent gets its own network namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetnsMode {
    /// Where user namespaces allow it (probed once at startup); else the ports ruleset.
    #[default]
    Auto,
    /// Never: the ports ruleset only (agents share the host's network, the harness's
    /// own ports closed): for agents that must reach services on the host's loopback.
    Off,
    /// Always: the server does not start where it cannot.
    Require,
}

impl NetnsMode {
    /// Parses `auto`, `off` or `require`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(Self::Auto),
            "off" => Some(Self::Off),
            "require" => Some(Self::Require),
            _ => None,
        }
    }
}

/// The namespace settings: the mode, and what the egress proxy lets through.
#[derive(Debug, Clone)]
pub struct NetnsSettings {
    pub mode: NetnsMode,
    pub egress: Egress,
}

/// The Messages API's host, which agents reach through the proxy by default.
pub const DEFAULT_MODEL_HOST: &str = "api.anthropic.com:443";

impl Default for NetnsSettings {
    /// The package registries and the default model API: what a worker's agents get
    /// (the server's come from its settings).
    fn default() -> Self {
        Self {
            mode: NetnsMode::default(),
            egress: Egress::default_with(Some(DEFAULT_MODEL_HOST)),
        }
    }
}

/// The first Landlock ABI with TCP connect rules (Linux 6.7).
const NET_ABI: i32 = 4;

/// Spawns waiting for the guard's thread at most; past it a spawn waits its turn (a
/// fork takes about a millisecond).
const QUEUE: usize = 16;

/// A spawn for the guard's thread to run.
pub(super) type Job = Box<dyn FnOnce() + Send>;

/// The harness's own ports, and the thread whose children cannot connect to them.
#[derive(Debug)]
pub struct PortGuard {
    /// Unique per guard of this process: spawner threads started in its domain say so.
    id: u64,
    ports: Vec<u16>,
    /// The thread inside the "any TCP port but `ports`" domain; `None` where the kernel
    /// has no TCP rules. It ends when the guard is dropped (its queue closes).
    spawner: Option<SyncSender<Job>>,
    /// Why there is no ruleset, for the startup log.
    missing: Option<String>,
    built_in: Duration,
    /// The proxy policy when agents get their own network namespace; `None` when not.
    netns: Option<Arc<Policy>>,
    /// Why agents have no namespace of their own (`off`, or the probe's failure).
    no_netns: Option<String>,
    /// Whether agents in a namespace also get a PID namespace and `/proc` of their own
    /// (`Err`: why not).
    private_proc: Result<(), String>,
}

impl PortGuard {
    /// Builds the ruleset for a kernel with Landlock ABI `abi` (`None`: no Landlock).
    /// A kernel without TCP rules gets a guard that only remembers the ports (they are
    /// still taken out of a `HARNESS_AGENT_NETWORK` port list); [`PortGuard::missing`]
    /// says why.
    pub fn new(
        ports: &[u16],
        abi: Option<i32>,
        settings: &NetnsSettings,
    ) -> Result<Self, SandboxError> {
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
        let built_in = started.elapsed();
        let probed = match settings.mode {
            NetnsMode::Off => Err("HARNESS_AGENT_NETNS=off".to_owned()),
            _ => netns::probe(),
        };
        let (netns, no_netns) = match probed {
            Ok(()) => (
                Some(Arc::new(Policy {
                    egress: settings.egress.clone(),
                    harness_ports: ports.clone(),
                })),
                None,
            ),
            Err(why) if settings.mode == NetnsMode::Require => {
                return Err(SandboxError::Refused(format!(
                    "HARNESS_AGENT_NETNS=require and agents cannot have their own network namespace: {why}"
                )));
            }
            Err(why) => (None, Some(why)),
        };
        let private_proc = match &netns {
            Some(_) => super::pidns::probe(),
            None => Err("agents have no namespace of their own".to_owned()),
        };
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(Self {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ports,
            spawner,
            missing,
            built_in,
            netns,
            no_netns,
            private_proc,
        })
    }

    /// This guard's id, unique in this process.
    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// The ports agents may not connect to.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Why agents can still reach these ports on this kernel, if they can.
    pub fn missing(&self) -> Option<&str> {
        self.missing.as_deref()
    }

    /// Whether agents get their own network namespace (for the startup summary).
    pub(crate) fn netns_in_force(&self) -> bool {
        self.netns.is_some()
    }

    /// Whether agents in their namespace also get a PID namespace and `/proc` of their
    /// own (sandbox/pidns.rs).
    pub fn private_proc(&self) -> bool {
        self.private_proc.is_ok()
    }

    /// The network namespace of the worktree `scope` when agents get one, whose proxy
    /// lets through `egress` (the server's list, or a role's on top of it), with the
    /// proxy variables added to the process's environment `env`.
    pub(super) fn namespace(
        &self,
        scope: &Path,
        egress: &Egress,
        env: &mut Vec<(std::ffi::OsString, std::ffi::OsString)>,
    ) -> Result<Option<Arc<netns::Shared>>, SandboxError> {
        let Some(server) = &self.netns else {
            return Ok(None);
        };
        let policy = if &server.egress == egress {
            server.clone()
        } else {
            Arc::new(Policy {
                egress: egress.clone(),
                harness_ports: self.ports.clone(),
            })
        };
        let relays = model_relays(env, &self.ports);
        let ns =
            netns::Shared::for_scope(scope, &policy, &relays).map_err(|e| SandboxError::Rules {
                path: Path::new("network namespace").to_path_buf(),
                message: e.to_string(),
            })?;
        let proxy = format!("http://127.0.0.1:{}", netns::PROXY_PORT);
        for name in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
            for name in [name.to_owned(), name.to_ascii_lowercase()] {
                env.retain(|(k, _)| k.as_os_str() != name.as_str());
                env.push((name.into(), proxy.clone().into()));
            }
        }
        for name in ["NO_PROXY", "no_proxy"] {
            env.retain(|(k, _)| k.as_os_str() != name);
            env.push((name.into(), "localhost,127.0.0.1,::1".into()));
        }
        Ok(Some(ns))
    }

    /// How long building the ruleset took.
    #[cfg(test)]
    pub(crate) fn built_in(&self) -> Duration {
        self.built_in
    }

    /// Starts `command` forked from the guard's thread, so the child is inside its domain;
    /// without a thread (no TCP rules in this kernel), as usual. Blocks while the fork
    /// runs, as `Command::spawn` does. Needs a Tokio runtime, as `Command::spawn` does.
    pub(super) fn spawn(
        &self,
        mut command: tokio::process::Command,
    ) -> std::io::Result<tokio::process::Child> {
        match &self.spawner {
            Some(jobs) => super::spawner::spawn_on(jobs, command),
            None => command.spawn(),
        }
    }

    /// Starts a thread named `name` running `body`, from the guard's thread when there
    /// is one, so the new thread starts inside the guard's domain too (a spawner per
    /// worktree, spawner.rs). Returns once the thread is started.
    pub(super) fn start_thread(&self, name: String, body: Job) -> Result<(), String> {
        let start = move || {
            std::thread::Builder::new()
                .name(name)
                .spawn(body)
                .map(drop)
                .map_err(|e| e.to_string())
        };
        let Some(jobs) = &self.spawner else {
            return start();
        };
        let (done, result) = sync_channel(1);
        let job: Job = Box::new(move || {
            // The caller blocks on `result` until this arrives: it is gone only if that
            // thread unwound, and then nobody is left to tell.
            let _ = done.send(start());
        });
        let gone = || "the agent spawner thread has ended".to_owned();
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
        match (&self.netns, &self.no_netns) {
            (Some(policy), _) => tracing::info!(
                proxy_port = netns::PROXY_PORT,
                egress = ?policy.egress,
                "agents run in their own network namespace; egress only through the harness's proxy to the allow-listed hosts"
            ),
            (None, why) => tracing::info!(
                reason = why.as_deref().unwrap_or_default(),
                "agents share the host's network (no namespace of their own)"
            ),
        }
        match (&self.netns, &self.private_proc) {
            (Some(_), Ok(())) => tracing::info!(
                "agents see only their own processes (a PID namespace and /proc of their own)"
            ),
            (Some(_), Err(why)) => tracing::warn!(
                reason = %why,
                "agents see the host's /proc (the command lines of the machine's processes)"
            ),
            (None, _) => {}
        }
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
pub(super) fn restrict_this_thread(ruleset: &OwnedFd) -> std::io::Result<()> {
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

/// The model APIs on this machine's loopback that `env` points the agent at
/// (`ANTHROPIC_BASE_URL`): relayed into its namespace on the same address, never when
/// the port is the harness's own.
fn model_relays(
    env: &[(std::ffi::OsString, std::ffi::OsString)],
    harness: &[u16],
) -> Vec<std::net::SocketAddr> {
    env.iter()
        .filter(|(k, _)| k == "ANTHROPIC_BASE_URL")
        .filter_map(|(_, v)| url::Url::parse(v.to_str()?).ok())
        .filter_map(|url| {
            let port = url.port_or_known_default()?;
            let ip = match url.host()? {
                url::Host::Ipv4(ip) => std::net::IpAddr::V4(ip),
                url::Host::Ipv6(ip) => std::net::IpAddr::V6(ip),
                url::Host::Domain("localhost") => {
                    std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
                }
                url::Host::Domain(_) => return None,
            };
            (ip.is_loopback() && !harness.contains(&port))
                .then_some(std::net::SocketAddr::new(ip, port))
        })
        .collect()
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

    fn off() -> NetnsSettings {
        NetnsSettings {
            mode: NetnsMode::Off,
            ..NetnsSettings::default()
        }
    }

    #[test]
    fn without_settings_agents_reach_the_registries_and_the_model_api() {
        let egress = NetnsSettings::default().egress;
        assert_eq!(egress, Egress::default_with(Some(DEFAULT_MODEL_HOST)));
        assert_ne!(
            egress,
            Egress::default(),
            "an empty list refuses everything"
        );
    }

    #[test]
    fn a_refused_namespace_reads_as_a_setting_not_an_error() {
        let refused = std::io::Error::from_raw_os_error(libc::EPERM);
        assert_eq!(netns::plain(&refused), "Operation not permitted");
        let other = std::io::Error::other("the agent sent no proxy listener");
        assert_eq!(netns::plain(&other), "the agent sent no proxy listener");
    }

    #[test]
    fn a_port_list_never_names_the_harness_port() {
        let guard = PortGuard::new(&[8080, 0, 8080], Some(1), &off()).unwrap();
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
        run_with(config, script, Vec::new()).await
    }

    async fn run_with(
        config: &super::super::SandboxConfig,
        script: &str,
        env: Vec<(String, String)>,
    ) -> String {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = crate::process::CommandSpec::new("bash", ["-c", script], dir.path());
        spec.sandbox = config.clone();
        spec.env = env;
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
    async fn an_agent_reaches_other_ports_but_not_the_harness_port_or_a_closed_one() {
        let Some(_) = net_abi() else { return };
        let harness = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let gateway = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let [h, o, g] = [&harness, &other, &gateway].map(|l| l.local_addr().unwrap().port());
        let mut config = super::super::SandboxConfig {
            netns: off(),
            // HARNESS_AGENT_CLOSED_PORTS: a gateway to the API on another port.
            closed_ports: vec![g],
            ..super::super::SandboxConfig::default()
        };
        let script = format!("{}; {}; {}", probe(h), probe(o), probe(g));
        // Without the guard, today's default: all open.
        let before = run(&config, &script).await;
        assert!(before.contains(&format!("OPEN {h}")), "{before}");
        assert!(before.contains(&format!("OPEN {g}")), "{before}");
        config.guard_ports(&[h]).unwrap();
        let after = run(&config, &script).await;
        assert!(after.contains(&format!("SHUT {h}")), "{after}");
        assert!(after.contains(&format!("OPEN {o}")), "{after}");
        assert!(after.contains(&format!("SHUT {g}")), "{after}");
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
            netns: off(),
            ..super::super::SandboxConfig::default()
        };
        config.guard_ports(&[h]).unwrap();
        let out = run(&config, &format!("{}; {}", probe(h), probe(o))).await;
        assert!(out.contains(&format!("SHUT {h}")), "{out}");
        assert!(out.contains(&format!("OPEN {o}")), "{out}");
    }

    /// Whether agents can have their own network namespace here; a loud failure under
    /// `CI=true` outside a container (a container's seccomp profile refuses `unshare`).
    pub(crate) fn netns_available() -> bool {
        match netns::probe() {
            Ok(()) => true,
            Err(why) => {
                assert!(
                    std::env::var_os("CI").is_none() || Path::new("/.dockerenv").exists(),
                    "CI must allow user and network namespaces: {why}"
                );
                eprintln!("skipped: no network namespace for agents here: {why}");
                false
            }
        }
    }

    /// An HTTP server on 127.0.0.1 that answers `body` to anything.
    fn origin(body: &'static str) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            for mut s in listener.incoming().flatten().take(16) {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        port
    }

    #[tokio::test]
    async fn in_its_own_namespace_an_agent_goes_out_only_through_the_proxy() {
        if net_abi().is_none() || !netns_available() {
            return;
        }
        let (h, o) = (origin("the harness api"), origin("hello from origin"));
        let mut config = super::super::SandboxConfig {
            netns: NetnsSettings {
                mode: NetnsMode::Require,
                egress: Egress::parse(&format!("127.0.0.1:{o},127.0.0.1:{h}")).unwrap(),
            },
            ..super::super::SandboxConfig::default()
        };
        config.guard_ports(&[h]).unwrap();
        let via = |port: u16, what: &str| {
            format!(
                "curl -s -m 5 --noproxy '' -x \"$HTTP_PROXY\" -w ' {what} %{{http_code}}\\n' http://127.0.0.1:{port}/"
            )
        };
        let script = [
            probe(h),
            probe(o),
            via(o, "ORIGIN"),
            via(h, "HARNESS"),
            "curl -s -m 5 -o /dev/null -w 'ELSEWHERE %{http_code}\\n' https://example.com/".into(),
            "echo \"PROXY $HTTPS_PROXY $ALL_PROXY $no_proxy\"".into(),
        ]
        .join("; ");
        let out = run(&config, &script).await;
        // Its own namespace: the host's loopback is not there at all.
        assert!(out.contains(&format!("SHUT {h}")), "{out}");
        assert!(out.contains(&format!("SHUT {o}")), "{out}");
        assert!(out.contains("hello from origin ORIGIN 200"), "{out}");
        assert!(out.contains("HARNESS 403"), "{out}");
        assert!(out.contains("harness's own"), "{out}");
        assert!(!out.contains("the harness api"), "{out}");
        assert!(out.contains("ELSEWHERE 000"), "{out}");
        assert!(
            out.contains(
                "PROXY http://127.0.0.1:3128 http://127.0.0.1:3128 localhost,127.0.0.1,::1"
            ),
            "{out}"
        );
    }

    #[tokio::test]
    async fn a_model_api_on_the_hosts_loopback_is_relayed_into_the_namespace() {
        if net_abi().is_none() || !netns_available() {
            return;
        }
        let model = origin("the model api");
        let config = in_namespaces();
        let url = format!("http://127.0.0.1:{model}");
        let out = run_with(
            &config,
            "curl -s -m 5 \"$ANTHROPIC_BASE_URL/v1/messages\"",
            vec![("ANTHROPIC_BASE_URL".into(), url)],
        )
        .await;
        assert!(out.contains("the model api"), "{out}");
    }

    /// The sandbox with agents in their own namespaces (`require`), its guard set.
    fn in_namespaces() -> super::super::SandboxConfig {
        let mut config = super::super::SandboxConfig {
            netns: NetnsSettings {
                mode: NetnsMode::Require,
                egress: Egress::default(),
            },
            ..super::super::SandboxConfig::default()
        };
        config.guard_ports(&[]).unwrap();
        config
    }

    /// Runs `script` with bash in `dir` under `config` until `cancel` fires or it ends.
    async fn run_in(
        config: &super::super::SandboxConfig,
        dir: &Path,
        script: &str,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> String {
        let mut spec = crate::process::CommandSpec::new("bash", ["-c", script], dir);
        spec.sandbox = config.clone();
        let done = crate::process::run(&spec, cancel, |_| {}).await.unwrap();
        done.tail
    }

    /// A server one command of a worktree started is on the loopback its next command
    /// sees (the browser and the app it opens, the tests and their database), and not on
    /// another worktree's nor on the host's.
    #[tokio::test]
    async fn one_worktrees_processes_share_a_loopback_that_no_one_else_sees() {
        if net_abi().is_none() || !netns_available() {
            return;
        }
        let config = in_namespaces();
        assert!(config.agents_have_netns());
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // A port nothing on the host listens on (checked at the end too).
        let port = free_port();
        let stop = tokio_util::sync::CancellationToken::new();
        let server = tokio::spawn({
            let (config, dir, stop) = (config.clone(), a.path().to_path_buf(), stop.clone());
            // perl is in every Debian (perl-base); python may live where agents cannot read.
            let script = format!(
                "exec perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => \"127.0.0.1:{port}\", Listen => 5, ReuseAddr => 1) or die $!; while ($c = $s->accept) {{ close $c }}'"
            );
            async move { run_in(&config, &dir, &script, &stop).await }
        });
        let wait = format!(
            "for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.1; done; {}",
            probe(port)
        );
        let never = tokio_util::sync::CancellationToken::new();
        let same = run_in(&config, a.path(), &wait, &never).await;
        let other = run_in(&config, b.path(), &probe(port), &never).await;
        let host = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        stop.cancel();
        let served = server.await.unwrap();
        assert!(
            same.contains(&format!("OPEN {port}")),
            "{same}\nserver: {served}"
        );
        assert!(other.contains(&format!("SHUT {port}")), "{other}");
        assert!(!host, "the worktree's server is on the host's loopback");
        // The server went with its run (the namespace may stay a while for the next).
        let again = run_in(&config, a.path(), &probe(port), &never).await;
        assert!(again.contains(&format!("SHUT {port}")), "{again}");
    }

    /// A role's own egress hosts (`[roles.NAME] egress`, on top of the server's list)
    /// open what the server's list alone refuses, even in the same worktree: the two
    /// lists get a namespace each.
    #[tokio::test]
    async fn a_roles_egress_hosts_open_what_the_servers_list_refuses() {
        if net_abi().is_none() || !netns_available() {
            return;
        }
        let allowed = origin("hello from the role's host");
        let server = in_namespaces();
        let mut role = server.clone();
        role.netns.egress = role
            .netns
            .egress
            .with(&Egress::parse(&format!("127.0.0.1:{allowed}")).unwrap());
        let fetch = format!(
            "curl -s -m 5 --noproxy '' -x \"$HTTP_PROXY\" -w ' CODE %{{http_code}}\\n' http://127.0.0.1:{allowed}/"
        );
        let dir = tempfile::tempdir().unwrap();
        let never = tokio_util::sync::CancellationToken::new();
        let refused = run_in(&server, dir.path(), &fetch, &never).await;
        let opened = run_in(&role, dir.path(), &fetch, &never).await;
        assert!(refused.contains("CODE 403"), "{refused}");
        assert!(
            opened.contains("hello from the role's host CODE 200"),
            "{opened}"
        );
    }

    /// In its namespace an agent sees only its own command's processes: not the
    /// harness, not the machine's command lines; its own `/proc/self` works. And it has
    /// a `/dev/shm` of its own.
    #[tokio::test]
    async fn in_its_namespace_an_agent_sees_only_its_own_processes() {
        if net_abi().is_none() || !netns_available() {
            return;
        }
        let config = in_namespaces();
        if let Err(why) = super::super::pidns::probe() {
            assert!(
                std::env::var_os("CI").is_none() || Path::new("/.dockerenv").exists(),
                "CI must allow a PID namespace with its own /proc: {why}"
            );
            eprintln!("skipped: {why}");
            return;
        }
        assert!(config.guard.as_ref().unwrap().private_proc());
        let me = std::process::id();
        let script = format!(
            "sleep 30 & echo \"count $(ls -d /proc/[0-9]* | wc -l)\"; echo \"self $(cut -d' ' -f1 /proc/self/stat)\"; if [ -e /proc/{me} ] && grep -q . /proc/{me}/cmdline 2>/dev/null; then echo SEES_HARNESS; fi; head -c 100 /proc/1/cmdline | tr '\\0' ' '; echo; echo \"shm $(ls -A /dev/shm | wc -l)\"; /usr/bin/python3 -c 'import multiprocessing as m; m.Lock(); print(\"LOCK OK\")'"
        );
        let out = run(&config, &script).await;
        let count: usize = out
            .lines()
            .find_map(|l| l.strip_prefix("count "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{out}"));
        // The init, the shell, `sleep`, `ls` (and the subshell around it).
        assert!(count <= 6, "{count} processes visible: {out}");
        assert!(!out.contains("SEES_HARNESS"), "{out}");
        assert!(!out.contains("cargo"), "{out}");
        // A /dev/shm of its own: empty, and Python's multiprocessing works in it.
        assert!(out.contains("shm 0"), "{out}");
        assert!(out.contains("LOCK OK"), "{out}");
    }

    fn free_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    #[test]
    fn the_ruleset_is_built_once_in_well_under_a_second() {
        let Some(abi) = net_abi() else { return };
        let guard = PortGuard::new(&[8080], Some(abi), &off()).unwrap();
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
