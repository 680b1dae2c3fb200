//! The agents' own network namespace, one per worktree, where user namespaces allow it.
//!
//! [`Shared::for_scope`] makes it with a throwaway child (`/bin/sh -c :`, never agent
//! code) that runs [`Entry::enter`]: `unshare(CLONE_NEWUSER | CLONE_NEWNET)`, its own
//! uid and gid mapped to themselves (so files stay its own), `lo` up, and a TCP
//! listener on 127.0.0.1 for the egress proxy (and one per model API the harness
//! relays). It sends those listeners and its two namespace files back over a socket pair
//! made before the fork; the harness keeps the files open, which keeps the namespace
//! alive after the child is gone, and serves the listeners.
//!
//! Every agent process of the worktree (its commands, the services it starts in the
//! background, verification, its browser) then joins that namespace ([`Join`]:
//! `setns` on the two files, before it drops its capabilities), so a server one command
//! started is on the loopback the browser and the next command see, and on no other
//! worktree's. The namespace has nothing but its loopback: the host's loopback, the
//! harness's port and every other address are out of reach except through the proxy the
//! harness serves there ([`crate::egress::proxy`]). It goes a minute after the last
//! process of the worktree that held it has ended (what ran in it went with its run).
//!
//! Everything a child does is a system call on values made before the fork: the map
//! lines are formatted here, the control-message buffer is on the child's stack.

use std::{
    collections::HashMap,
    net::{Ipv4Addr, SocketAddr},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use tokio_util::sync::CancellationToken;

use crate::egress::proxy::{self, Policy};

/// Where the proxy listens inside the namespace (HTTP_PROXY, ALL_PROXY).
pub(crate) const PROXY_PORT: u16 = 3128;
/// Listeners one child makes at most: the proxy and the model APIs relayed.
const MAX_LISTENERS: usize = 4;
/// The namespace files the child sends after its listeners: user, then network.
const NS_FILES: usize = 2;
/// Control-message room for the listeners and the namespace files (CMSG_SPACE of 24
/// bytes is 40).
const CMSG_ROOM: usize = 64;

/// One `uid_map`/`gid_map` line, formatted before the fork.
#[derive(Debug, Clone, Copy)]
struct MapLine {
    buf: [u8; 40],
    len: usize,
}

impl MapLine {
    /// "id id 1": the agent's own id, mapped to itself.
    fn own(id: u32) -> Self {
        use std::io::Write;
        let mut buf = [0u8; 40];
        let len = {
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            // Two u32s and three separators fit in 40 bytes.
            let _ = writeln!(cursor, "{id} {id} 1");
            cursor.position() as usize
        };
        Self { buf, len }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// What the throwaway child needs to make the namespace; `Copy`, for `pre_exec`.
#[derive(Debug, Clone, Copy)]
struct Entry {
    sock: i32,
    uid: MapLine,
    gid: MapLine,
    ports: [u16; MAX_LISTENERS],
    count: usize,
}

/// A namespace being made, from before the throwaway child's fork until its listeners
/// and files arrived: the socket pair, and the proxy and relays the harness then serves.
/// Dropping it stops them.
#[derive(Debug)]
struct Namespace {
    parent: OwnedFd,
    /// The child's end (close-on-exec in the child; closed here when this is dropped).
    child: OwnedFd,
    ports: [u16; MAX_LISTENERS],
    count: usize,
    policy: Arc<Policy>,
    /// The host address each listener after the proxy relays to.
    relays: Vec<SocketAddr>,
    stop: CancellationToken,
}

impl Namespace {
    /// Prepares a namespace whose proxy applies `policy`, relaying each of `relays` (model
    /// APIs on this machine's loopback) on the same address inside.
    fn prepare(policy: Arc<Policy>, relays: &[SocketAddr]) -> std::io::Result<Self> {
        let (parent, child) = seqpacket_pair()?;
        let mut ports = [0u16; MAX_LISTENERS];
        ports[0] = PROXY_PORT;
        let mut count = 1;
        let mut kept = Vec::new();
        for addr in relays {
            if count == MAX_LISTENERS || ports[..count].contains(&addr.port()) {
                tracing::warn!(%addr, "not relayed into the agent's network namespace: too many, or its port is taken");
                continue;
            }
            ports[count] = addr.port();
            count += 1;
            kept.push(*addr);
        }
        Ok(Self {
            parent,
            child,
            ports,
            count,
            policy,
            relays: kept,
            stop: CancellationToken::new(),
        })
    }

    /// The values the child needs.
    fn entry(&self) -> Entry {
        // SAFETY: geteuid and getegid take no arguments and cannot fail.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        Entry {
            sock: self.child.as_raw_fd(),
            uid: MapLine::own(uid),
            gid: MapLine::own(gid),
            ports: self.ports,
            count: self.count,
        }
    }

    /// Serves the listeners the child sent (the proxy, then the relays) until this is
    /// dropped. Needs a Tokio runtime.
    fn serve(&self, listeners: Vec<std::net::TcpListener>) -> std::io::Result<()> {
        let mut listeners = listeners.into_iter();
        let proxy_listener = listeners
            .next()
            .ok_or_else(|| std::io::Error::other("the agent sent no proxy listener"))?;
        proxy::serve(proxy_listener, self.policy.clone(), self.stop.clone())?;
        for (listener, target) in listeners.zip(self.relays.iter()) {
            proxy::relay(listener, *target, self.stop.clone())?;
        }
        Ok(())
    }

    /// The listeners and the namespace files the child sent (it sent them before its
    /// exec, which the spawn waited for, so they are there now).
    fn receive(&self) -> std::io::Result<Received> {
        let mut fds = receive_fds(self.parent.as_raw_fd(), libc::MSG_DONTWAIT).map_err(|e| {
            std::io::Error::other(format!(
                "the agent did not send its namespace's listeners: {e}"
            ))
        })?;
        if fds.len() != self.count + NS_FILES {
            return Err(std::io::Error::other(format!(
                "the namespace's child sent {} descriptors, not {}",
                fds.len(),
                self.count + NS_FILES
            )));
        }
        let net = fds.pop().expect("counted above");
        let user = fds.pop().expect("counted above");
        let listeners = fds.into_iter().map(std::net::TcpListener::from).collect();
        Ok(Received {
            listeners,
            user,
            net,
        })
    }
}

/// What the namespace's child sent: its listeners, and its user and network namespace
/// files, which keep the namespace alive while open.
struct Received {
    listeners: Vec<std::net::TcpListener>,
    user: OwnedFd,
    net: OwnedFd,
}

impl Drop for Namespace {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A connected pair of close-on-exec `SOCK_SEQPACKET` Unix sockets: the harness's end
/// and a child's.
fn seqpacket_pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: socketpair writes two descriptors into `fds`, which has room for them.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } != 0
    {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and belong to nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A control-message buffer aligned for `cmsghdr`.
#[repr(C)]
union Cmsg {
    buf: [u8; CMSG_ROOM],
    _align: libc::cmsghdr,
}

impl Entry {
    /// In the child: its own user and network namespace, `lo` up, the listeners made and
    /// sent to the parent with the namespace files. Only system calls on values prepared
    /// before the fork.
    fn enter(&self) -> std::io::Result<()> {
        let fail = || Err(std::io::Error::last_os_error());
        // SAFETY: every call below takes plain integers or pointers to this function's
        // own stack values and `self`, alive for the call; `send_fds` gets at most
        // MAX_LISTENERS + NS_FILES descriptors (`count` is at most MAX_LISTENERS, as
        // `prepare` made it), as its `# Safety` asks.
        unsafe {
            if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) != 0 {
                return fail();
            }
            // Must precede gid_map for a process without CAP_SETGID outside; absent
            // before Linux 3.19, where it is not needed.
            if let Err(e) = write_proc(c"/proc/self/setgroups", b"deny")
                && e.raw_os_error() != Some(libc::ENOENT)
            {
                return Err(e);
            }
            write_proc(c"/proc/self/uid_map", self.uid.bytes())?;
            write_proc(c"/proc/self/gid_map", self.gid.bytes())?;
            loopback_up()?;
            let mut fds = [-1i32; MAX_LISTENERS + NS_FILES];
            for (fd, port) in fds.iter_mut().zip(&self.ports[..self.count]) {
                *fd = listen_on(*port)?;
            }
            for (i, file) in [c"/proc/self/ns/user", c"/proc/self/ns/net"]
                .iter()
                .enumerate()
            {
                let fd = libc::open(file.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return fail();
                }
                fds[self.count + i] = fd;
            }
            let all = self.count + NS_FILES;
            let sent = send_fds(self.sock, &fds[..all]);
            for fd in &fds[..all] {
                libc::close(*fd);
            }
            sent
        }
    }
}

/// Writes `data` to a /proc file in one write.
///
/// # Safety
///
/// Nothing beyond the signature: it makes only system calls, on `path` and `data`
/// (borrowed for the call) and on a descriptor it opens and closes itself. It is `unsafe`
/// as part of the code the namespace's child runs between fork and exec, where only
/// async-signal-safe calls are allowed: it allocates nothing and takes no lock.
unsafe fn write_proc(path: &std::ffi::CStr, data: &[u8]) -> std::io::Result<()> {
    // SAFETY: `path` is NUL-terminated; `data` is live for the write.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if n != data.len() as isize {
            return Err(err);
        }
    }
    Ok(())
}

/// Sets IFF_UP on `lo` in the current network namespace.
///
/// # Safety
///
/// Nothing beyond the signature: it makes only system calls, on a socket it opens and
/// closes itself and an `ifreq` on its own stack. It is `unsafe` as part of the code the
/// namespace's child runs between fork and exec (after it entered its own network
/// namespace, whose `lo` this is): it allocates nothing and takes no lock.
unsafe fn loopback_up() -> std::io::Result<()> {
    // SAFETY: ifreq is plain data; the ioctls read and write it in place.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[0] = b'l' as libc::c_char;
        req.ifr_name[1] = b'o' as libc::c_char;
        let ok = libc::ioctl(s, libc::SIOCGIFFLAGS, &mut req) == 0 && {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(s, libc::SIOCSIFFLAGS, &req) == 0
        };
        let err = std::io::Error::last_os_error();
        libc::close(s);
        if !ok {
            return Err(err);
        }
    }
    Ok(())
}

/// A TCP listener on 127.0.0.1:`port`; returns its descriptor.
///
/// # Safety
///
/// Nothing beyond the signature: it makes only system calls, on a `sockaddr_in` on its
/// own stack. The descriptor returned is the caller's to close or hand on. It is `unsafe`
/// as part of the code the namespace's child runs between fork and exec: it allocates
/// nothing and takes no lock.
unsafe fn listen_on(port: u16) -> std::io::Result<i32> {
    // SAFETY: sockaddr_in is plain data, passed with its size.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let addr = loopback(port);
        let ok = libc::bind(
            s,
            (&raw const addr).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ) == 0
            && libc::listen(s, 128) == 0;
        if !ok {
            let err = std::io::Error::last_os_error();
            libc::close(s);
            return Err(err);
        }
        Ok(s)
    }
}

/// The descriptors of one SCM_RIGHTS message read from `sock` (`flags` for recvmsg).
fn receive_fds(sock: i32, flags: i32) -> std::io::Result<Vec<OwnedFd>> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut room = Cmsg {
        buf: [0; CMSG_ROOM],
    };
    // SAFETY: msghdr is plain data; zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    // SAFETY: reading the union's bytes field, the only one ever written.
    msg.msg_control = unsafe { room.buf.as_mut_ptr() }.cast();
    msg.msg_controllen = CMSG_ROOM as _;
    // SAFETY: `msg` points at live buffers of the sizes it names.
    let n = unsafe { libc::recvmsg(sock, &mut msg, flags | libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if n == 0 {
        return Err(std::io::Error::other("the other end closed"));
    }
    let mut fds = Vec::new();
    // SAFETY: the CMSG_* helpers walk the control buffer recvmsg filled, within
    // `msg_controllen`; each descriptor received is new and ours.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<i32>();
                let bytes = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                for i in 0..bytes / size_of::<i32>() {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(fds)
}

/// Sends `fds` over `sock` in one SCM_RIGHTS message.
///
/// # Safety
///
/// `fds` holds at most MAX_LISTENERS + NS_FILES descriptors: the control message is
/// built in a CMSG_ROOM-byte buffer on the stack, and the descriptors are written into
/// it without a bounds check (CMSG_SPACE of their 24 bytes is 40, under CMSG_ROOM's
/// 64; more than 12 would overflow it). The callers send the namespace child's
/// listeners and files (`Entry::enter`) or one socket (`serve_sockets`). Otherwise only
/// system calls, on this frame's buffers: safe between fork and exec.
unsafe fn send_fds(sock: i32, fds: &[i32]) -> std::io::Result<()> {
    // SAFETY: every pointer is to this stack frame, with the sizes given; the CMSG_*
    // helpers stay within `room`, since the caller keeps `fds` to at most
    // MAX_LISTENERS + NS_FILES descriptors (CMSG_SPACE of 24 bytes is 40, under
    // CMSG_ROOM).
    unsafe {
        let mut byte = [1u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let mut room = Cmsg {
            buf: [0; CMSG_ROOM],
        };
        let bytes = size_of_val(fds) as libc::c_uint;
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = room.buf.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(bytes) as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(bytes) as _;
        let data = libc::CMSG_DATA(cmsg).cast::<i32>();
        for (i, fd) in fds.iter().enumerate() {
            data.add(i).write_unaligned(*fd);
        }
        if libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs the throwaway child that makes `ns` (`/bin/sh -c :`, with an empty
/// environment and no input or output) and takes what it sent.
fn make(ns: &Namespace) -> Result<Received, String> {
    use std::os::unix::process::CommandExt;
    let entry = ns.entry();
    let mut command = std::process::Command::new("/bin/sh");
    command
        .args(["-c", ":"])
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: `enter` makes only system calls on values made before the fork.
    unsafe {
        command.pre_exec(move || entry.enter());
    }
    let status = command.status().map_err(|e| {
        format!(
            "a child cannot enter its own user and network namespace: {}",
            plain(&e)
        )
    })?;
    if !status.success() {
        return Err(format!("the namespace's child ended with {status}"));
    }
    ns.receive().map_err(|e| plain(&e))
}

/// `e` as a person reads it in the startup log: "Operation not permitted", without
/// the "(os error 1)" that log scans (`grep -i error`) take for a failure. Where user
/// namespaces are refused is a setting of the host, not an error of the harness.
pub(in crate::sandbox) fn plain(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.split_once(" (os error ") {
        Some((reason, _)) => reason.to_owned(),
        None => text,
    }
}

/// Whether agents can have their own network namespace here: makes one the way a
/// worktree's is made, and drops it.
pub fn probe() -> Result<(), String> {
    probe_made(|_| Ok(()))
}

/// Makes a namespace the way a worktree's is made (its proxy not served), runs `check`
/// with what joins it, and drops it.
pub(in crate::sandbox) fn probe_made(
    check: impl FnOnce(Join) -> Result<(), String>,
) -> Result<(), String> {
    let policy = Arc::new(Policy {
        egress: crate::egress::Egress::default(),
        harness_ports: Vec::new(),
    });
    let ns = Namespace::prepare(policy, &[]).map_err(|e| plain(&e))?;
    let received = make(&ns)?;
    check(Join {
        user: received.user.as_raw_fd(),
        net: received.net.as_raw_fd(),
    })
}

/// The namespaces kept, by worktree and relays. One no process holds is kept for
/// [`KEEP`] after its last use, so the next command of the worktree joins it instead of
/// making one (a few milliseconds); past that, or past [`MAX_KEPT`], it goes (checked
/// at every lookup). What ran in it went with its run.
type Registry = HashMap<Key, Kept>;
/// A worktree, the model APIs relayed into its namespace, and its egress allow-list.
type Key = (PathBuf, Vec<SocketAddr>, crate::egress::Egress);
static LIVE: Mutex<Option<Registry>> = Mutex::new(None);
const KEEP: std::time::Duration = std::time::Duration::from_secs(60);
const MAX_KEPT: usize = 64;

#[derive(Debug)]
struct Kept {
    shared: Arc<Shared>,
    used: std::time::Instant,
}

impl Kept {
    /// Held by a running process, or used lately.
    fn in_use(&self, crowded: bool) -> bool {
        Arc::strong_count(&self.shared) > 1 || (!crowded && self.used.elapsed() < KEEP)
    }
}

/// One worktree's network namespace: the files that keep it alive, and the proxy and
/// relays served into it. Every agent process of the worktree holds it; the last one
/// to end takes it away.
#[derive(Debug)]
pub struct Shared {
    user: OwnedFd,
    net: OwnedFd,
    /// Makes sockets inside the namespace for the harness, once one is asked for.
    factory: Mutex<Option<Arc<Factory>>>,
    /// Stops the proxy and the relays when dropped.
    _served: Namespace,
}

impl Shared {
    /// The namespace of the worktree `scope` whose proxy applies `policy` and that
    /// relays `relays`: the live one, or a new one. A process that needs other relays
    /// (a CLI agent pointed at a model API on this machine's loopback) or another
    /// allow-list (another role's) gets a namespace of its own; its children share it.
    /// Needs a Tokio runtime (the proxy runs there).
    pub(crate) fn for_scope(
        scope: &Path,
        policy: &Arc<Policy>,
        relays: &[SocketAddr],
    ) -> std::io::Result<Arc<Self>> {
        let mut live = LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let live = live.get_or_insert_with(HashMap::new);
        let crowded = live.len() >= MAX_KEPT;
        live.retain(|_, kept| kept.in_use(crowded));
        let key = (scope.to_path_buf(), relays.to_vec(), policy.egress.clone());
        if let Some(kept) = live.get_mut(&key) {
            kept.used = std::time::Instant::now();
            return Ok(kept.shared.clone());
        }
        // Made under the lock: two commands starting at once in one worktree must not
        // make two namespaces. Making one takes about a millisecond.
        let ns = Namespace::prepare(policy.clone(), relays)?;
        let received = make(&ns).map_err(std::io::Error::other)?;
        ns.serve(received.listeners)?;
        let shared = Arc::new(Self {
            user: received.user,
            net: received.net,
            factory: Mutex::new(None),
            _served: ns,
        });
        live.insert(
            key,
            Kept {
                shared: shared.clone(),
                used: std::time::Instant::now(),
            },
        );
        Ok(shared)
    }

    /// The namespace of the worktree `scope` with the allow-list `egress` and no relays
    /// (the one its commands and its browser share), if there is one.
    pub fn live(scope: &Path, egress: &crate::egress::Egress) -> Option<Arc<Self>> {
        let live = LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = (scope.to_path_buf(), Vec::new(), egress.clone());
        live.as_ref()?.get(&key).map(|kept| kept.shared.clone())
    }

    /// A TCP connection from the harness to `port` on the namespace's loopback (the
    /// browser's DevTools port, which the harness drives Chromium through). The socket
    /// is made inside the namespace by a process of the harness's that joined it, so
    /// its connect goes to that loopback. Blocking, briefly: run it off async threads.
    pub(crate) fn connect_inside(&self, port: u16) -> std::io::Result<std::net::TcpStream> {
        let factory = {
            let mut slot = self.factory.lock().unwrap_or_else(|p| p.into_inner());
            match &*slot {
                Some(factory) => factory.clone(),
                None => {
                    let factory = Arc::new(Factory::start(self.join())?);
                    *slot = Some(factory.clone());
                    factory
                }
            }
        };
        let socket = factory.socket()?;
        let addr = loopback(port);
        // SAFETY: `addr` is a sockaddr_in passed with its size; `socket` is open.
        let rc = unsafe {
            libc::connect(
                socket.as_raw_fd(),
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(std::net::TcpStream::from(socket))
    }

    /// The values a child needs to join the namespace.
    pub fn join(&self) -> Join {
        Join {
            user: self.user.as_raw_fd(),
            net: self.net.as_raw_fd(),
        }
    }
}

/// `127.0.0.1:port` as the socket calls take it. Only stores into a local: safe in a
/// forked child.
fn loopback(port: u16) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_port = port.to_be();
    addr.sin_addr.s_addr = u32::from(Ipv4Addr::LOCALHOST).to_be();
    addr
}

/// A forked process of the harness's inside a namespace, which answers each byte it
/// reads on its socket with a new TCP socket made there. It runs nothing but that loop
/// (no exec, no agent code) and ends when its socket closes: when the namespace is
/// dropped, or the harness ends.
#[derive(Debug)]
struct Factory {
    sock: Mutex<OwnedFd>,
    pid: i32,
}

impl Factory {
    fn start(join: Join) -> std::io::Result<Self> {
        let (parent, child) = seqpacket_pair()?;
        // SAFETY: the child of this multi-threaded process makes only system calls
        // (close_range, setns, recv, socket, sendmsg, _exit) and never returns.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if pid == 0 {
            // SAFETY: this is the child just forked, and `serve_sockets` never returns
            // from it, as its `# Safety` asks; `child` and `join`'s descriptors were open
            // in this process when it forked.
            unsafe { serve_sockets(child.as_raw_fd(), join) }
        }
        drop(child);
        Ok(Self {
            sock: Mutex::new(parent),
            pid,
        })
    }

    /// A new TCP socket made inside the namespace.
    fn socket(&self) -> std::io::Result<OwnedFd> {
        let sock = self.sock.lock().unwrap_or_else(|p| p.into_inner());
        let byte = [1u8];
        // SAFETY: sends one byte from a live buffer on an open socket.
        if unsafe {
            libc::send(
                sock.as_raw_fd(),
                byte.as_ptr().cast(),
                1,
                libc::MSG_NOSIGNAL,
            )
        } != 1
        {
            return Err(std::io::Error::last_os_error());
        }
        let mut fds = receive_fds(sock.as_raw_fd(), 0)?;
        fds.pop()
            .ok_or_else(|| std::io::Error::other("the namespace's socket maker sent nothing"))
    }
}

impl Drop for Factory {
    fn drop(&mut self) {
        // Closing our end ends its loop; then it is reaped here.
        let sock = self.sock.get_mut().unwrap_or_else(|p| p.into_inner());
        // SAFETY: shutdown takes a descriptor we own and a flag.
        unsafe { libc::shutdown(sock.as_raw_fd(), libc::SHUT_RDWR) };
        let mut status = 0;
        // SAFETY: waitpid writes the status into our local; the pid is our child.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
    }
}

/// The socket maker's loop, in the forked child: nothing of the harness's stays open
/// but its socket, it joins the namespace, and answers each byte with a TCP socket.
///
/// # Safety
///
/// Only in the child [`Factory::start`] just forked, and never returning to its caller:
/// it closes every descriptor but `sock`, the ones the harness's `OwnedFd`s own too,
/// which is sound only in a process where no other thread and no later code uses them
/// (a fork copies only the calling thread, and this ends in `_exit`). The child of a
/// threaded process may make only async-signal-safe calls: this makes system calls
/// only, on integers and this frame's buffers. `sock` and `join`'s descriptors must be
/// open in the child (the fork copied them from the parent, which held them open).
unsafe fn serve_sockets(sock: i32, join: Join) -> ! {
    // SAFETY: the caller's promise above (a freshly forked child that never returns);
    // every call takes integers or this frame's buffers, and `send_fds` gets one
    // descriptor.
    unsafe {
        if libc::setns(join.user, libc::CLONE_NEWUSER) != 0
            || libc::setns(join.net, libc::CLONE_NEWNET) != 0
        {
            libc::_exit(1);
        }
        // Every other descriptor goes (the namespace files too, now joined), so no end
        // of another socket maker's socket stays open here.
        // With `sock` 0 (the harness's stdin was closed) nothing is below it, and
        // `sock - 1` would wrap to u32::MAX and close `sock` too.
        if sock > 0 {
            libc::syscall(libc::SYS_close_range, 0u32, (sock - 1) as u32, 0u32);
        }
        libc::syscall(libc::SYS_close_range, (sock + 1) as u32, u32::MAX, 0u32);
        loop {
            let mut byte = [0u8; 1];
            let n = libc::recv(sock, byte.as_mut_ptr().cast(), 1, 0);
            if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            if n <= 0 {
                libc::_exit(0);
            }
            let tcp = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            if tcp < 0 || send_fds(sock, &[tcp]).is_err() {
                libc::_exit(3);
            }
            libc::close(tcp);
        }
    }
}

/// What a child needs to join its worktree's namespace; `Copy`, for `pre_exec`.
#[derive(Debug, Clone, Copy)]
pub struct Join {
    user: i32,
    net: i32,
}

impl Join {
    /// In the child: into the namespace's user namespace (where its uid is its own and
    /// it may join the network namespace), then its network namespace. A system call
    /// each, on descriptors the parent holds open until the spawn returned.
    pub fn enter(&self) -> std::io::Result<()> {
        // SAFETY: setns takes a descriptor and a flag; both descriptors are open.
        unsafe {
            if libc::setns(self.user, libc::CLONE_NEWUSER) != 0
                || libc::setns(self.net, libc::CLONE_NEWNET) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}
