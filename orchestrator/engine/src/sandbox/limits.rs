//! Resource limits for agent processes (setrlimit), inherited by all they start.
//!
//! They bound each process, not the tree as a whole: memory per process (RLIMIT_DATA,
//! which counts what a process really allocates, unlike the address space that language
//! runtimes reserve), open files, CPU seconds, no core dumps, and the number of
//! processes of the user (RLIMIT_NPROC, which the kernel does not apply to root).

/// The resource argument of `setrlimit`, which differs between glibc and musl.
#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

/// Configured limits; `None` leaves the inherited value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: Option<u64>,
    pub open_files: Option<u64>,
    pub processes: Option<u64>,
    pub cpu_secs: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: Some(default_memory()),
            open_files: Some(4096),
            processes: Some(4096),
            cpu_secs: Some(3600),
        }
    }
}

/// Half the machine's memory: one runaway process cannot take it all.
fn default_memory() -> u64 {
    // SAFETY: sysconf only reads system constants.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    match (u64::try_from(pages), u64::try_from(size)) {
        (Ok(p), Ok(s)) if p > 0 && s > 0 => p.saturating_mul(s) / 2,
        _ => 4 << 30,
    }
}

/// The values as `setrlimit` takes them, computed before the fork.
#[derive(Debug, Clone, Copy)]
pub struct Raw {
    entries: [(Resource, libc::rlim_t); 5],
    len: usize,
}

impl Limits {
    /// Each limit clamped to the current hard limit (an unprivileged process cannot raise
    /// it); no core dumps ever, they could hold what the process read. Open files are
    /// always limited, to a value that marks the process as an agent's
    /// ([`super::tree::nofile_mark`]; the seccomp filter keeps it from being changed).
    pub(super) fn raw(&self) -> Raw {
        let mut raw = Raw {
            entries: [(0, 0); 5],
            len: 0,
        };
        let wanted = [
            (libc::RLIMIT_DATA, self.memory_bytes),
            (
                libc::RLIMIT_NOFILE,
                Some(self.open_files.unwrap_or(libc::RLIM_INFINITY)),
            ),
            (libc::RLIMIT_NPROC, self.processes),
            (libc::RLIMIT_CPU, self.cpu_secs),
            (libc::RLIMIT_CORE, Some(0)),
        ];
        for (resource, value) in wanted {
            if let Some(v) = value {
                let mut v = v.min(hard_limit(resource));
                if resource == libc::RLIMIT_NOFILE {
                    v = super::tree::nofile_mark(v);
                }
                raw.entries[raw.len] = (resource, v);
                raw.len += 1;
            }
        }
        raw
    }
}

fn hard_limit(resource: Resource) -> libc::rlim_t {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(resource, &mut current) } == 0 {
        current.rlim_max
    } else {
        libc::RLIM_INFINITY
    }
}

impl Raw {
    /// Sets soft and hard limits, so the agent cannot raise them back. System calls only.
    pub(super) fn apply(&self) -> std::io::Result<()> {
        for &(resource, value) in &self.entries[..self.len] {
            let limit = libc::rlimit {
                rlim_cur: value,
                rlim_max: value,
            };
            // SAFETY: setrlimit reads the struct we pass.
            if unsafe { libc::setrlimit(resource, &limit) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_limits_are_left_alone_and_core_dumps_are_always_off() {
        let none = Limits {
            memory_bytes: None,
            open_files: None,
            processes: None,
            cpu_secs: None,
        };
        let raw = none.raw();
        assert_eq!(raw.len, 2);
        assert_eq!(
            raw.entries[0].0,
            libc::RLIMIT_NOFILE,
            "always set: it is the marker"
        );
        assert_eq!(raw.entries[1], (libc::RLIMIT_CORE, 0));
        assert_eq!(Limits::default().raw().len, 5);
    }
}
