//! The write connection's VFS: SQLite's own, except that the writes to a WAL file are
//! gathered and handed to the kernel in one system call when SQLite syncs.
//!
//! A commit writes each changed page to the WAL as two `pwrite`s (the frame's 24-byte
//! header, then the page) and then syncs. Creating a task changes 14 pages, and on the
//! virtual disks we run on each small `pwrite` costs about 5 µs: the 28 of a create
//! took 0.14 ms, one `pwritev` of the same bytes 0.01 ms, and the sync after it got
//! faster too (`docs/ARCHITECTURE.md`, under "The writer", has the measurements).
//!
//! Nothing can tell the difference:
//! - Every other operation on the file (a read, its size, truncate, sync, close, file
//!   control, a write that does not continue the gathered run) writes the gathered bytes
//!   first, so this connection always sees its own writes.
//! - Other connections read only frames that the WAL index calls committed, and with
//!   `synchronous=FULL` SQLite syncs a commit's frames (so writes them here) before it
//!   updates the index. The store opens only its writer through this VFS, always with
//!   FULL (`configure_writer`). The one case where SQLite writes part of a frame after
//!   the sync, padding to a sector on a disk without power-safe overwrite, is not
//!   gathered at all.
//! - A crash loses what was gathered, as it would lose unsynced writes anyway.
//!
//! The gathered bytes are bounded by [`MAX_GATHERED`]; a bigger run is written as it
//! comes.

use std::{
    ffi::{CStr, c_char, c_int, c_void},
    mem::size_of,
    ptr,
    sync::OnceLock,
};

use libsqlite3_sys as ffi;

use super::StoreError;

/// The name the store opens its writer with.
pub(super) const NAME: &CStr = c"harness-wal";

/// Most bytes gathered before they are written anyway (a commit of 250 pages).
const MAX_GATHERED: usize = 1 << 20;

/// Most bytes per write to the inner VFS: SQLite's unix VFS writes at most 0x1ffff bytes
/// per call and reports a longer write as a full disk.
const MAX_WRITE: usize = 0x1_f000;

/// Registers the VFS with SQLite once per process; later calls return the first outcome.
pub(super) fn register() -> Result<&'static CStr, StoreError> {
    static REGISTERED: OnceLock<Result<(), c_int>> = OnceLock::new();
    match REGISTERED.get_or_init(|| unsafe { register_once() }) {
        Ok(()) => Ok(NAME),
        Err(rc) => Err(StoreError::Io(format!(
            "cannot register the database writer's VFS (SQLite error {rc})"
        ))),
    }
}

/// Our VFS: a copy of the default one (so every method but `xOpen` is SQLite's own,
/// reading only the copied `pAppData` and `mxPathname`), and the default it wraps.
#[repr(C)]
struct Shim {
    vfs: ffi::sqlite3_vfs,
    inner: *mut ffi::sqlite3_vfs,
}

/// A WAL file opened through the shim. SQLite allocates `szOsFile` bytes for it: this
/// struct, then the inner VFS's own file.
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    inner: *mut ffi::sqlite3_file,
    /// Null when writes go straight through (see `open`).
    gathered: *mut Gathered,
}

/// A contiguous run of bytes not yet written, starting at `offset` in the file.
#[derive(Default)]
struct Gathered {
    offset: i64,
    bytes: Vec<u8>,
}

unsafe fn register_once() -> Result<(), c_int> {
    unsafe {
        let rc = ffi::sqlite3_initialize();
        if rc != ffi::SQLITE_OK {
            return Err(rc);
        }
        let inner = ffi::sqlite3_vfs_find(ptr::null());
        if inner.is_null() {
            return Err(ffi::SQLITE_ERROR);
        }
        let mut vfs = *inner;
        vfs.zName = NAME.as_ptr();
        vfs.pNext = ptr::null_mut();
        vfs.szOsFile = c_int::try_from(size_of::<WalFile>())
            .ok()
            .and_then(|own| own.checked_add(vfs.szOsFile))
            .ok_or(ffi::SQLITE_ERROR)?;
        vfs.xOpen = Some(open);
        // Registered VFSes live as long as the process.
        let shim = Box::leak(Box::new(Shim { vfs, inner }));
        match ffi::sqlite3_vfs_register(&mut shim.vfs, 0) {
            ffi::SQLITE_OK => Ok(()),
            rc => Err(rc),
        }
    }
}

unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    unsafe {
        let inner_vfs = (*vfs.cast::<Shim>()).inner;
        let Some(inner_open) = (*inner_vfs).xOpen else {
            return ffi::SQLITE_ERROR;
        };
        if flags & ffi::SQLITE_OPEN_WAL == 0 {
            // Not a WAL: the inner file takes SQLite's memory itself, nothing in between.
            return inner_open(inner_vfs, name, file, flags, out_flags);
        }
        let inner = file
            .cast::<u8>()
            .add(size_of::<WalFile>())
            .cast::<ffi::sqlite3_file>();
        let rc = inner_open(inner_vfs, name, inner, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            (*file).pMethods = ptr::null();
            return rc;
        }
        // Without power-safe overwrite SQLite may write after the sync (see above).
        let characteristics = match (*(*inner).pMethods).xDeviceCharacteristics {
            Some(f) => f(inner),
            None => 0,
        };
        let gathered = if characteristics & ffi::SQLITE_IOCAP_POWERSAFE_OVERWRITE != 0 {
            Box::into_raw(Box::default())
        } else {
            ptr::null_mut()
        };
        file.cast::<WalFile>().write(WalFile {
            base: ffi::sqlite3_file {
                pMethods: &WAL_METHODS,
            },
            inner,
            gathered,
        });
        ffi::SQLITE_OK
    }
}

/// Version 1: a WAL file is never memory-mapped nor used for shared memory.
static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

/// The inner file and its methods.
unsafe fn inner(
    file: *mut ffi::sqlite3_file,
) -> (*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods) {
    unsafe {
        let inner = (*file.cast::<WalFile>()).inner;
        (inner, &*(*inner).pMethods)
    }
}

/// Writes what was gathered, if anything; the run is dropped either way (a failed
/// write fails the transaction, which SQLite then rolls back).
unsafe fn flush(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let gathered = (*file.cast::<WalFile>()).gathered;
        if gathered.is_null() || (*gathered).bytes.is_empty() {
            return ffi::SQLITE_OK;
        }
        let gathered = &mut *gathered;
        let (inner, methods) = inner(file);
        let Some(write) = methods.xWrite else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let mut rc = ffi::SQLITE_OK;
        let mut offset = gathered.offset;
        for chunk in gathered.bytes.chunks(MAX_WRITE) {
            #[cfg(test)]
            tests::count_write();
            // Both fit: a chunk is at most MAX_WRITE bytes.
            let len = chunk.len() as c_int;
            rc = write(inner, chunk.as_ptr().cast::<c_void>(), len, offset);
            if rc != ffi::SQLITE_OK {
                break;
            }
            offset += len as i64;
        }
        gathered.bytes.clear();
        rc
    }
}

/// Flushes, then runs `f` on the inner file unless the flush failed.
unsafe fn flushed(
    file: *mut ffi::sqlite3_file,
    f: impl FnOnce(*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods) -> Option<c_int>,
) -> c_int {
    unsafe {
        let rc = flush(file);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        let (inner, methods) = inner(file);
        f(inner, methods).unwrap_or(ffi::SQLITE_ERROR)
    }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    unsafe {
        let gathered = (*file.cast::<WalFile>()).gathered;
        let Ok(len) = usize::try_from(amount) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        if !gathered.is_null() {
            let run = &mut *gathered;
            let continues = run.bytes.is_empty()
                || i64::try_from(run.bytes.len()).is_ok_and(|n| run.offset + n == offset);
            if continues && run.bytes.len() + len <= MAX_GATHERED {
                if run.bytes.is_empty() {
                    run.offset = offset;
                }
                run.bytes
                    .extend_from_slice(std::slice::from_raw_parts(data.cast::<u8>(), len));
                return ffi::SQLITE_OK;
            }
        }
        flushed(file, |inner, m| {
            m.xWrite.map(|f| f(inner, data, amount, offset))
        })
    }
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let flushed_rc = flush(file);
        let (inner, methods) = inner(file);
        let rc = methods.xClose.map_or(ffi::SQLITE_OK, |f| f(inner));
        let wal = &mut *file.cast::<WalFile>();
        if !wal.gathered.is_null() {
            drop(Box::from_raw(wal.gathered));
            wal.gathered = ptr::null_mut();
        }
        if flushed_rc != ffi::SQLITE_OK {
            flushed_rc
        } else {
            rc
        }
    }
}

unsafe extern "C" fn read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    unsafe {
        flushed(file, |inner, m| {
            m.xRead.map(|f| f(inner, buf, amount, offset))
        })
    }
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    unsafe { flushed(file, |inner, m| m.xTruncate.map(|f| f(inner, size))) }
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    unsafe { flushed(file, |inner, m| m.xSync.map(|f| f(inner, flags))) }
}

unsafe extern "C" fn file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    unsafe { flushed(file, |inner, m| m.xFileSize.map(|f| f(inner, size))) }
}

unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    unsafe { flushed(file, |inner, m| m.xLock.map(|f| f(inner, level))) }
}

unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    unsafe { flushed(file, |inner, m| m.xUnlock.map(|f| f(inner, level))) }
}

unsafe extern "C" fn check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    unsafe { flushed(file, |inner, m| m.xCheckReservedLock.map(|f| f(inner, out))) }
}

unsafe extern "C" fn file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    unsafe { flushed(file, |inner, m| m.xFileControl.map(|f| f(inner, op, arg))) }
}

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let (inner, methods) = inner(file);
        methods.xSectorSize.map_or(4096, |f| f(inner))
    }
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let (inner, methods) = inner(file);
        methods.xDeviceCharacteristics.map_or(0, |f| f(inner))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::cell::Cell;

    use rusqlite::{Connection, OpenFlags};

    use super::*;

    thread_local! {
        /// Writes this thread's WAL files made to the inner VFS.
        static WRITES: Cell<u64> = const { Cell::new(0) };
    }

    pub(super) fn count_write() {
        WRITES.with(|n| n.set(n.get() + 1));
    }

    fn writes() -> u64 {
        WRITES.with(Cell::get)
    }

    fn open(path: &std::path::Path) -> Connection {
        let conn =
            Connection::open_with_flags_and_vfs(path, OpenFlags::default(), register().unwrap())
                .unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB NOT NULL);",
        )
        .unwrap();
        conn
    }

    /// Inserts `rows` rows of `size` bytes in one transaction.
    fn insert(conn: &Connection, rows: usize, size: usize) {
        conn.execute_batch("BEGIN").unwrap();
        for _ in 0..rows {
            conn.execute("INSERT INTO t (v) VALUES (zeroblob(?1))", [size])
                .unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
    }

    fn stored_bytes(path: &std::path::Path) -> (i64, String) {
        // SQLite's own VFS, as the store's readers use.
        let conn = Connection::open(path).unwrap();
        let bytes = conn
            .query_row("SELECT COALESCE(SUM(length(v)), 0) FROM t", [], |r| {
                r.get(0)
            })
            .unwrap();
        let check = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        (bytes, check)
    }

    #[test]
    fn a_commits_frames_reach_the_wal_in_one_write_and_other_connections_read_them() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("t.db");
        let conn = open(&path);
        // The first commit of a WAL also writes and syncs its header.
        insert(&conn, 1, 10);
        let before = writes();
        // About a dozen pages: two dozen writes without gathering.
        insert(&conn, 10, 3000);
        assert_eq!(writes() - before, 1);
        assert_eq!(stored_bytes(&path), (30_010, "ok".to_owned()));
    }

    #[test]
    fn a_commit_bigger_than_what_is_gathered_is_written_whole() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("t.db");
        let conn = open(&path);
        // 3 MB: past both the gathering bound and the inner VFS's largest write.
        insert(&conn, 50, 60_000);
        drop(conn);
        assert_eq!(stored_bytes(&path), (3_000_000, "ok".to_owned()));
        // And the file reopens through the VFS, WAL and all.
        let conn = open(&path);
        insert(&conn, 1, 1);
        drop(conn);
        assert_eq!(stored_bytes(&path).0, 3_000_001);
    }
}
