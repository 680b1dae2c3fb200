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
//!
//! Who owns what, which the `SAFETY` comments below rely on:
//! - The [`Shim`] is leaked when it is registered and never unregistered, so it lives for
//!   the rest of the process.
//! - A [`WalFile`] lives in memory SQLite allocates before `xOpen` and frees after
//!   `xClose`; [`WalFile::from_raw`] lends it out for one method call at a time. What it
//!   owns (the gathered bytes) `close` frees, as SQLite frees the memory without dropping.
//! - The inner VFS's file sits in the same allocation, right after the [`WalFile`], and is
//!   only ever reached through a raw pointer.

use std::{
    ffi::{CStr, c_char, c_int, c_void},
    mem::{align_of, size_of},
    ptr, slice,
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
    let registered = REGISTERED.get_or_init(|| {
        // Leaked: SQLite keeps the pointer for as long as the VFS is registered, which is
        // the rest of the process.
        let shim = Box::into_raw(Box::new(Shim::new()?));
        // SAFETY: `get_or_init` runs this closure at most once per process, so `NAME` is
        // registered once (SQLite leaves two VFSes of one name undefined). `shim` is a
        // whole, initialised Shim that is never freed; its first field (`repr(C)`) is the
        // `sqlite3_vfs`, so the cast pointer is the VFS object and keeps the provenance of
        // the whole Shim, which `open` casts back to. Nothing of ours writes the object
        // after this; SQLite writes only its `pNext`, under SQLite's own mutex.
        match unsafe { ffi::sqlite3_vfs_register(shim.cast::<ffi::sqlite3_vfs>(), 0) } {
            ffi::SQLITE_OK => Ok(()),
            rc => Err(rc),
        }
    });
    match registered {
        Ok(()) => Ok(NAME),
        Err(rc) => Err(StoreError::Io(format!(
            "cannot register the database writer's VFS (SQLite error {rc})"
        ))),
    }
}

/// Our VFS: a copy of the default one (so every method but `xOpen` is SQLite's own,
/// reading only the copied `pAppData` and `mxPathname`), and the default it wraps.
///
/// The one registered lives for the rest of the process (see [`register`]). After
/// registration only SQLite writes it, and only `vfs.pNext`, under SQLite's mutex: so it
/// is read field by field through its pointer, never through a `&Shim`.
#[repr(C)]
struct Shim {
    vfs: ffi::sqlite3_vfs,
    /// The default VFS, as registered with SQLite (a static object in SQLite).
    inner: *mut ffi::sqlite3_vfs,
}

impl Shim {
    /// A copy of the default VFS whose `xOpen` is ours and whose files have room for a
    /// [`WalFile`] in front of the default VFS's own.
    fn new() -> Result<Self, c_int> {
        // SAFETY: `sqlite3_initialize` has no preconditions; any thread may call it, any
        // number of times.
        let rc = unsafe { ffi::sqlite3_initialize() };
        if rc != ffi::SQLITE_OK {
            return Err(rc);
        }
        // SAFETY: SQLite is initialised, and it searches its VFS list under its own
        // mutex; a null name asks for the default VFS.
        let inner = unsafe { ffi::sqlite3_vfs_find(ptr::null()) };
        if inner.is_null() {
            return Err(ffi::SQLITE_ERROR);
        }
        // SAFETY: `inner` points to a registered VFS, which stays valid and unchanged
        // while registered (SQLite's default VFS is a static object, and nothing in this
        // process unregisters it). The one field SQLite may rewrite meanwhile, under a
        // mutex we do not hold, is `pNext`: it is named here, so the `..*inner` update
        // copies every other field by place and never reads it.
        let mut vfs = unsafe {
            ffi::sqlite3_vfs {
                pNext: ptr::null_mut(),
                zName: NAME.as_ptr(),
                xOpen: Some(open),
                ..*inner
            }
        };
        vfs.szOsFile = c_int::try_from(size_of::<WalFile>())
            .ok()
            .and_then(|own| own.checked_add(vfs.szOsFile))
            .ok_or(ffi::SQLITE_ERROR)?;
        Ok(Self { vfs, inner })
    }
}

/// A WAL file opened through the shim. SQLite allocates `szOsFile` bytes for it: this
/// struct, then the inner VFS's own file.
///
/// SQLite owns the memory, from before `xOpen` to after `xClose`, and frees it without
/// dropping the struct: `close` drops what the struct owns.
#[repr(C)]
struct WalFile {
    /// What SQLite sees; `open` sets its `pMethods` to [`WAL_METHODS`].
    base: ffi::sqlite3_file,
    inner: InnerFile,
    /// `None` when writes go straight through (see `open`).
    gathered: Option<Box<Gathered>>,
}

// SQLite aligns a file's memory to 8 bytes, and the inner file starts right after the
// `WalFile`: both must hold for `open` to place them there.
const _: () = assert!(align_of::<WalFile>() <= 8 && size_of::<WalFile>().is_multiple_of(8));

/// The inner VFS's file behind a [`WalFile`].
///
/// Invariant: the inner VFS's `xOpen` opened it successfully and its `xClose` has not
/// been called. `open` makes one only right after that `xOpen` succeeds, and only `close`
/// calls `xClose`, as the last thing SQLite has the file do.
struct InnerFile(*mut ffi::sqlite3_file);

impl InnerFile {
    /// The inner file's methods, for as long as `self` is borrowed.
    fn methods(&self) -> &ffi::sqlite3_io_methods {
        // SAFETY: the file is open (the invariant), and an open file's `pMethods` points
        // to a methods object the inner VFS keeps valid at least until `xClose` (SQLite
        // itself calls through it after every successful `xOpen`; the unix VFS's are
        // static). The borrow cannot reach `xClose`: `self` is part of a WalFile, which is
        // borrowed for one method call at a time (`WalFile::from_raw`), and `close` asks
        // for the methods before it closes the file.
        unsafe { &*(*self.0).pMethods }
    }
}

/// A contiguous run of bytes not yet written, starting at `offset` in the file.
#[derive(Default)]
struct Gathered {
    offset: i64,
    bytes: Vec<u8>,
}

impl Gathered {
    /// Adds `data`, bound for `offset`, to the run if it continues it and fits; returns
    /// whether it did.
    fn gather(&mut self, data: &[u8], offset: i64) -> bool {
        let continues = self.bytes.is_empty()
            || i64::try_from(self.bytes.len()).is_ok_and(|n| self.offset + n == offset);
        if !continues || self.bytes.len() + data.len() > MAX_GATHERED {
            return false;
        }
        if self.bytes.is_empty() {
            self.offset = offset;
        }
        self.bytes.extend_from_slice(data);
        true
    }
}

impl WalFile {
    /// The WalFile behind the `sqlite3_file` SQLite passes to one of [`WAL_METHODS`].
    ///
    /// # Safety
    ///
    /// `file` must be the file argument of the call of one of [`WAL_METHODS`] that is
    /// running, and the reference must not outlive that call. Then:
    /// - A WalFile is there, not yet closed: those methods are reachable only through
    ///   `WAL_METHODS`, which `open` installs together with the WalFile it writes, and
    ///   SQLite calls no method of a file after its `xClose`.
    /// - The memory is valid for the call: SQLite owns it and frees it only after
    ///   `xClose` has returned.
    /// - The `&mut` is the only reference to it: SQLite calls the methods of one file
    ///   one at a time and leaves its memory alone meanwhile (the file belongs to one
    ///   connection, and a rusqlite `Connection` is used by one thread at a time, not
    ///   being `Sync`); the inner VFS's methods never call back into ours; and each of
    ///   our methods makes one such reference.
    unsafe fn from_raw<'a>(file: *mut ffi::sqlite3_file) -> &'a mut Self {
        // SAFETY: the caller's promise above; `file` points to `base`, at offset 0 of
        // the `repr(C)` WalFile, with the provenance of SQLite's whole allocation.
        unsafe { &mut *file.cast::<Self>() }
    }

    /// The inner file and its methods, for as long as `self` is borrowed.
    fn inner(&self) -> (*mut ffi::sqlite3_file, &ffi::sqlite3_io_methods) {
        (self.inner.0, self.inner.methods())
    }

    /// Writes what was gathered, if anything; the run is dropped either way (a failed
    /// write fails the transaction, which SQLite then rolls back).
    fn flush(&mut self) -> c_int {
        let Some(gathered) = self.gathered.as_deref_mut() else {
            return ffi::SQLITE_OK;
        };
        if gathered.bytes.is_empty() {
            return ffi::SQLITE_OK;
        }
        let Some(write) = self.inner.methods().xWrite else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let mut rc = ffi::SQLITE_OK;
        let mut offset = gathered.offset;
        for chunk in gathered.bytes.chunks(MAX_WRITE) {
            #[cfg(test)]
            tests::count_write();
            // Both fit: a chunk is at most MAX_WRITE bytes.
            let len = chunk.len() as c_int;
            // SAFETY: `self.inner` is the open inner file (`InnerFile`), and `chunk` is
            // `len` initialised bytes that outlive the call; `xWrite` only reads them,
            // during the call.
            rc = unsafe { write(self.inner.0, chunk.as_ptr().cast::<c_void>(), len, offset) };
            if rc != ffi::SQLITE_OK {
                break;
            }
            offset += len as i64;
        }
        gathered.bytes.clear();
        rc
    }

    /// Flushes, then runs `f` on the inner file unless the flush failed.
    fn flushed(
        &mut self,
        f: impl FnOnce(*mut ffi::sqlite3_file, &ffi::sqlite3_io_methods) -> Option<c_int>,
    ) -> c_int {
        let rc = self.flush();
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        let (inner, methods) = self.inner();
        f(inner, methods).unwrap_or(ffi::SQLITE_ERROR)
    }
}

/// `xOpen`: a WAL file gets a [`WalFile`] in front of the inner VFS's own file; any other
/// file is the inner VFS's alone.
///
/// # Safety
///
/// SQLite's `xOpen` contract: `vfs` is the object [`register`] registered; `file` points
/// to at least our `szOsFile` bytes, 8-byte aligned, that SQLite allocated and keeps until
/// after `xClose` (or, if the open fails, until we return); `name` is null or a path that
/// stays valid until `xClose`; `out_flags` is null or writable.
unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: `vfs` is the registered `Shim::vfs`, the first field of a `repr(C)` Shim
    // that lives for the rest of the process, and it carries the whole Shim's provenance
    // (see `register`). Only the `inner` field is read, through the pointer: SQLite may
    // be rewriting `vfs.pNext` meanwhile, but `inner` is never written after
    // registration. The default VFS it points to stays registered and unchanged (see
    // `Shim::new`), so its `xOpen` is read the same way.
    let (inner_vfs, inner_open) = unsafe {
        let inner_vfs = (*vfs.cast::<Shim>()).inner;
        (inner_vfs, (*inner_vfs).xOpen)
    };
    let Some(inner_open) = inner_open else {
        return ffi::SQLITE_ERROR;
    };
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        // Not a WAL: the inner file takes SQLite's memory itself, nothing in between.
        // SAFETY: SQLite's arguments go on unchanged to the VFS whose `xOpen` contract
        // they meet, and `file` has our `szOsFile` bytes, more than its own.
        return unsafe { inner_open(inner_vfs, name, file, flags, out_flags) };
    }
    // SAFETY: our `szOsFile` is `size_of::<WalFile>()` plus the inner VFS's, so the inner
    // file's bytes start that far into SQLite's allocation and end within it, 8-byte
    // aligned (the assertion after `WalFile`) and apart from the WalFile written below.
    // The inner `xOpen` gets them with SQLite's other arguments, unchanged, under the
    // contract we got them with.
    let (inner, rc) = unsafe {
        let inner = file
            .cast::<u8>()
            .add(size_of::<WalFile>())
            .cast::<ffi::sqlite3_file>();
        (inner, inner_open(inner_vfs, name, inner, flags, out_flags))
    };
    if rc != ffi::SQLITE_OK {
        // SAFETY: `file` points to SQLite's allocation, which starts with a
        // `sqlite3_file`. A null `pMethods` tells SQLite there is nothing to close, so it
        // will not call our `xClose` (`xOpen` must leave it valid or null, even failing).
        unsafe { (*file).pMethods = ptr::null() };
        return rc;
    }
    // The inner `xOpen` succeeded, and only our `close` will call its `xClose`.
    let inner = InnerFile(inner);
    // Without power-safe overwrite SQLite may write after the sync (see above).
    let characteristics = match inner.methods().xDeviceCharacteristics {
        // SAFETY: the inner file is open (`InnerFile`), and the method takes nothing else.
        Some(f) => unsafe { f(inner.0) },
        None => 0,
    };
    let gathered = (characteristics & ffi::SQLITE_IOCAP_POWERSAFE_OVERWRITE != 0)
        .then(Box::<Gathered>::default);
    // SAFETY: `file` points to SQLite's allocation, at least `size_of::<WalFile>()` bytes
    // and 8-byte aligned, enough for a WalFile (the assertion after it). Nothing of ours
    // is there yet, so it is written without reading or dropping the old bytes. From
    // here `pMethods` is `WAL_METHODS`, so every method SQLite calls on the file until
    // `xClose` finds this WalFile (`WalFile::from_raw`).
    unsafe {
        file.cast::<WalFile>().write(WalFile {
            base: ffi::sqlite3_file {
                pMethods: &WAL_METHODS,
            },
            inner,
            gathered,
        });
    }
    ffi::SQLITE_OK
}

/// Version 1: a WAL file is never memory-mapped nor used for shared memory.
///
/// Each method's `# Safety` is SQLite's contract for it: `file` is the file `open` set
/// up, valid for the call (what [`WalFile::from_raw`] needs), and the other pointers
/// are what the method's documentation says they are, valid for the call.
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

/// `xWrite`: adds the bytes to the gathered run if they continue it, else flushes and
/// writes them.
///
/// # Safety
///
/// SQLite's `xWrite` contract (see [`WAL_METHODS`]): `data` points to `amount` bytes,
/// readable and unchanged for the call.
unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let Ok(len) = usize::try_from(amount) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    // SAFETY: this is SQLite's call with its own `file`, as `from_raw` needs, and `wal`
    // is dropped when it returns. `data` points to `len` bytes SQLite neither frees nor
    // changes during the call, which `bytes` does not outlive.
    let (wal, bytes) = unsafe {
        (
            WalFile::from_raw(file),
            slice::from_raw_parts(data.cast::<u8>(), len),
        )
    };
    if wal
        .gathered
        .as_deref_mut()
        .is_some_and(|run| run.gather(bytes, offset))
    {
        return ffi::SQLITE_OK;
    }
    wal.flushed(|inner, m| {
        m.xWrite.map(|f| {
            // SAFETY: `inner` is the open inner file (`InnerFile`), and SQLite's own
            // arguments go on unchanged, meeting the same `xWrite` contract.
            unsafe { f(inner, data, amount, offset) }
        })
    })
}

/// `xClose`: flushes, closes the inner file and frees the gathered run.
///
/// # Safety
///
/// SQLite's `xClose` contract (see [`WAL_METHODS`]); SQLite calls no method of the file
/// after this one, and frees its memory after it returns.
unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: this is SQLite's call with its own `file`, as `from_raw` needs, and `wal`
    // is dropped when it returns, before SQLite frees the memory.
    let wal = unsafe { WalFile::from_raw(file) };
    let flushed_rc = wal.flush();
    let (inner, methods) = wal.inner();
    let rc = match methods.xClose {
        // SAFETY: `inner` is the open inner file (`InnerFile`), and this is its last use:
        // below only `gathered` is touched, and SQLite calls none of our methods after
        // this.
        Some(f) => unsafe { f(inner) },
        None => ffi::SQLITE_OK,
    };
    // SQLite frees the memory without dropping the WalFile.
    wal.gathered = None;
    if flushed_rc != ffi::SQLITE_OK {
        flushed_rc
    } else {
        rc
    }
}

/// `xRead`: flushes, then reads from the inner file.
///
/// # Safety
///
/// SQLite's `xRead` contract (see [`WAL_METHODS`]): `buf` has room for `amount` bytes.
unsafe extern "C" fn read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite's call with its own `file`, as `from_raw` needs (the reference is a
    // temporary of this call); `inner` is the open inner file (`InnerFile`), and
    // SQLite's other arguments go on unchanged, meeting the same `xRead` contract.
    unsafe {
        WalFile::from_raw(file).flushed(|inner, m| m.xRead.map(|f| f(inner, buf, amount, offset)))
    }
}

/// `xTruncate`: flushes, then truncates the inner file.
///
/// # Safety
///
/// SQLite's `xTruncate` contract (see [`WAL_METHODS`]).
unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    // SAFETY: SQLite's call with its own `file`, as `from_raw` needs (the reference is a
    // temporary of this call); `inner` is the open inner file (`InnerFile`), and the
    // size is a plain value.
    unsafe { WalFile::from_raw(file).flushed(|inner, m| m.xTruncate.map(|f| f(inner, size))) }
}

/// `xSync`: flushes, then syncs the inner file.
///
/// # Safety
///
/// SQLite's `xSync` contract (see [`WAL_METHODS`]).
unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    // SAFETY: SQLite's call with its own `file`, as `from_raw` needs (the reference is a
    // temporary of this call); `inner` is the open inner file (`InnerFile`), and the
    // flags are a plain value.
    unsafe { WalFile::from_raw(file).flushed(|inner, m| m.xSync.map(|f| f(inner, flags))) }
}

/// `xFileSize`: flushes, then asks the inner file its size.
///
/// # Safety
///
/// SQLite's `xFileSize` contract (see [`WAL_METHODS`]): `size` is writable.
unsafe extern "C" fn file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    // SAFETY: SQLite's call with its own `file`, as `from_raw` needs (the reference is a
    // temporary of this call); `inner` is the open inner file (`InnerFile`), and `size`
    // goes on unchanged, meeting the same `xFileSize` contract.
    unsafe { WalFile::from_raw(file).flushed(|inner, m| m.xFileSize.map(|f| f(inner, size))) }
}

/// `xLock`: flushes, then locks the inner file.
///
/// # Safety
///
/// SQLite's `xLock` contract (see [`WAL_METHODS`]).
unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    // SAFETY: SQLite's call with its own `file`, as `from_raw` needs (the reference is a
    // temporary of this call); `inner` is the open inner file (`InnerFile`), and the
    // level is a plain value.
    unsafe { WalFile::from_raw(file).flushed(|inner, m| m.xLock.map(|f| f(inner, level))) }
}

/// `xUnlock`: flushes, then unlocks the inner file.
///
/// # Safety
///
/// SQLite's `xUnlock` contract (see [`WAL_METHODS`]).
unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    // SAFETY: SQLite's call with its own `file`, as `from_raw` needs (the reference is a
    // temporary of this call); `inner` is the open inner file (`InnerFile`), and the
    // level is a plain value.
    unsafe { WalFile::from_raw(file).flushed(|inner, m| m.xUnlock.map(|f| f(inner, level))) }
}

/// `xCheckReservedLock`: flushes, then asks the inner file.
///
/// # Safety
///
/// SQLite's `xCheckReservedLock` contract (see [`WAL_METHODS`]): `out` is writable.
unsafe extern "C" fn check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    // SAFETY: SQLite's call with its own `file`, as `from_raw` needs (the reference is a
    // temporary of this call); `inner` is the open inner file (`InnerFile`), and `out`
    // goes on unchanged, meeting the same `xCheckReservedLock` contract.
    unsafe {
        WalFile::from_raw(file).flushed(|inner, m| m.xCheckReservedLock.map(|f| f(inner, out)))
    }
}

/// `xFileControl`: flushes, then hands the operation to the inner file.
///
/// # Safety
///
/// SQLite's `xFileControl` contract (see [`WAL_METHODS`]): `arg` is what `op` calls for.
unsafe extern "C" fn file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: SQLite's call with its own `file`, as `from_raw` needs (the reference is a
    // temporary of this call); `inner` is the open inner file (`InnerFile`), and `op`
    // and `arg` go on unchanged, meeting the same `xFileControl` contract.
    unsafe { WalFile::from_raw(file).flushed(|inner, m| m.xFileControl.map(|f| f(inner, op, arg))) }
}

/// `xSectorSize`: the inner file's, 4096 if it has none.
///
/// # Safety
///
/// SQLite's `xSectorSize` contract (see [`WAL_METHODS`]).
unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite's call with its own `file`, as `from_raw` needs (the reference is a
    // temporary of this call); `inner` is the open inner file (`InnerFile`), and the
    // method takes nothing else.
    unsafe {
        let (inner, methods) = WalFile::from_raw(file).inner();
        methods.xSectorSize.map_or(4096, |f| f(inner))
    }
}

/// `xDeviceCharacteristics`: the inner file's, none if it has none.
///
/// # Safety
///
/// SQLite's `xDeviceCharacteristics` contract (see [`WAL_METHODS`]).
unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite's call with its own `file`, as `from_raw` needs (the reference is a
    // temporary of this call); `inner` is the open inner file (`InnerFile`), and the
    // method takes nothing else.
    unsafe {
        let (inner, methods) = WalFile::from_raw(file).inner();
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
