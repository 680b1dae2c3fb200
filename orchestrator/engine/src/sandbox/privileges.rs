//! Capabilities: an agent of a root server is no stronger than an agent of a user's.
//!
//! A process started by root keeps every capability of the server: raw sockets that
//! pass around the network policy, `sethostname`, reading any file (CAP_DAC_OVERRIDE).
//! [`Privileges::drop_all`] clears them in the child, in the order the kernel requires:
//! ambient first, then the bounding set and the securebits (both need CAP_SETPCAP, so
//! before it goes), and last effective, permitted and inheritable. With the bounding
//! set empty and SECBIT_NOROOT locked, no later `exec` of a setuid or file-capability
//! program, or by uid 0, gives any back; no-new-privileges (the next step) says so too.

use std::sync::OnceLock;

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets, as two 32-bit halves.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const CAP_SETPCAP: u32 = 8;
/// The securebits that stop uid 0 from gaining capabilities at `exec` or keeping them
/// across a `setuid`, each locked so the agent cannot unset it.
const SECURE_BITS: libc::c_ulong = SECBIT_NOROOT
    | SECBIT_NOROOT_LOCKED
    | SECBIT_NO_SETUID_FIXUP
    | SECBIT_NO_SETUID_FIXUP_LOCKED
    | SECBIT_KEEP_CAPS_LOCKED
    | SECBIT_NO_CAP_AMBIENT_RAISE
    | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
const SECBIT_NOROOT: libc::c_ulong = 1 << 0;
const SECBIT_NOROOT_LOCKED: libc::c_ulong = 1 << 1;
const SECBIT_NO_SETUID_FIXUP: libc::c_ulong = 1 << 2;
const SECBIT_NO_SETUID_FIXUP_LOCKED: libc::c_ulong = 1 << 3;
const SECBIT_KEEP_CAPS_LOCKED: libc::c_ulong = 1 << 5;
const SECBIT_NO_CAP_AMBIENT_RAISE: libc::c_ulong = 1 << 6;
const SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED: libc::c_ulong = 1 << 7;
/// The highest capability number when `/proc/sys/kernel/cap_last_cap` cannot be read;
/// the loop then stops at the first number the kernel does not know.
const FALLBACK_LAST_CAP: u32 = 63;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// What the child needs to drop its capabilities, read before the fork.
#[derive(Debug, Clone, Copy)]
pub(super) struct Privileges {
    /// The highest capability this kernel knows.
    last_cap: u32,
}

impl Privileges {
    /// Reads the kernel's last capability, once per server.
    pub(super) fn prepare() -> Self {
        static LAST_CAP: OnceLock<u32> = OnceLock::new();
        let last_cap = *LAST_CAP.get_or_init(|| {
            std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(FALLBACK_LAST_CAP)
        });
        Self { last_cap }
    }

    /// Drops every capability of the calling process, for good. System calls only.
    pub(super) fn drop_all(self) -> std::io::Result<()> {
        // SAFETY: prctl with integer arguments changes only this process's credentials.
        unsafe {
            if libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        // The bounding set and securebits need CAP_SETPCAP: root, a container that kept
        // it, or a user namespace the child just made. Asked here, in the child, since
        // that last step changes the answer. Without it there is nothing there an agent
        // could use: no-new-privileges keeps `exec` from raising anything.
        let effective = current().map_or(0, |data| {
            u64::from(data[0].effective) | (u64::from(data[1].effective) << 32)
        });
        if effective & (1 << CAP_SETPCAP) != 0 {
            for cap in 0..=self.last_cap {
                // SAFETY: as above.
                if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0
                {
                    let err = std::io::Error::last_os_error();
                    if err.raw_os_error() == Some(libc::EINVAL) && cap > 0 {
                        break; // past the kernel's last capability (fallback count)
                    }
                    return Err(err);
                }
            }
            // SAFETY: as above.
            if unsafe { libc::prctl(libc::PR_SET_SECUREBITS, SECURE_BITS, 0, 0, 0) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        let mut header = CapHeader {
            version: CAPABILITY_VERSION_3,
            pid: 0,
        };
        let empty = [CapData::default(); 2];
        // SAFETY: capset reads the header and two data structs we own; lowering every
        // set to empty is always permitted.
        if unsafe { libc::syscall(libc::SYS_capset, &mut header, empty.as_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// This process's capability sets, or `None` if the kernel refuses to say. A system
/// call on the stack only: it runs between fork and exec.
fn current() -> Option<[CapData; 2]> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget writes into the header and the two data structs we pass.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    (rc == 0).then_some(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_last_capability_is_read() {
        let privileges = Privileges::prepare();
        // CAP_AUDIT_READ (37) exists since Linux 3.16.
        assert!((37..=63).contains(&privileges.last_cap), "{privileges:?}");
    }

    #[tokio::test]
    async fn an_agent_process_has_no_capability_left() {
        use crate::process::{self, CommandSpec};
        // capget from inside: every set empty, whoever runs the test (root on CI).
        let script = format!(
            "my $h = pack('LL', {CAPABILITY_VERSION_3}, 0); my $d = \"\\0\" x 24; \
             syscall({}, $h, $d) == 0 or die \"capget: $!\"; print join(' ', unpack('L6', $d)), \"\\n\";",
            libc::SYS_capget
        );
        let dir = tempfile::tempdir().unwrap();
        let spec = CommandSpec::new("perl", ["-e", &script], dir.path());
        let cancel = tokio_util::sync::CancellationToken::new();
        let done = process::run(&spec, &cancel, |_| {}).await.unwrap();
        assert!(done.termination.success(), "{}", done.tail);
        assert_eq!(done.tail, "0 0 0 0 0 0\n");
    }
}
