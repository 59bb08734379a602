//! The write-ahead log: every upsert batch and delete is appended here, as one checksummed frame,
//! before it becomes visible.
//!
//! # File layout (all integers little-endian; see `docs/file-format.md`)
//!
//! A 28-byte header, then frames one after the other:
//!
//! ```text
//! header:  magic "SVWAL\0\0\x01" [8] | version u32 | dim u32 | base_lsn u64 | crc32c u32 (of the 24 bytes before)
//! frame:   payload_len u32 | crc32c u32 (of the payload) | payload [payload_len]
//! payload: kind u8 (1 upsert, 2 delete, 3 upsert with payloads) | lsn u64 | count u32
//!          | ids u64 × count | (upserts) f32 × count × dim
//!          | (kind 3) (len u32 | payload [len]) × count
//! ```
//!
//! Version 2 adds kind 3 (each row's payload, in the encoding of `payload::codec`). A log is
//! written as version 1 until its collection stores a payload; version 2 is refused by older
//! builds, which would otherwise take a kind-3 frame for a torn tail and cut acknowledged
//! records.
//!
//! # Recovery
//!
//! [`Wal::open`] replays the frames in order and stops at the first one that is short, fails its
//! checksum, has a length that does not match its counts and the dimension, an unknown kind, or an
//! lsn not greater than the one before (the first must be at least `base_lsn`). It then truncates
//! the file at the end of the last good frame and fsyncs it, so a torn tail is cut once and never
//! half-applied, and later appends follow the last good frame.
//!
//! A frame that fails its checks in the middle of the log (bit rot, not a torn write) cuts the
//! log there too: the records after it are dropped. With [`Durability::Sync`] only the last frame
//! can be torn by a crash, so this can only happen through media corruption.
//!
//! # Checkpoints
//!
//! Once the collection has sealed every logged record into a segment and committed the manifest
//! (which records `flushed_lsn`), it calls [`Wal::reset`]: a new file holding only a header whose
//! `base_lsn` is the next lsn replaces the log with [`write_atomic`]. A crash before the rename
//! leaves the old log, whose records the collection skips on replay because their lsn is at most
//! the manifest's `flushed_lsn`; a crash after it leaves the new, empty log. Either file is valid
//! and lsns never go backwards.

use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::trailer::check_versions;
use crate::base::bytes::{checksum, ByteReader, ByteWriter};
use crate::error::{Error, Result};
use crate::fsutil::{write_atomic, DirSync, FileReader, Vfs, VfsFile};
use crate::payload::codec::{decode_payload, encode_payload, encoded_len};
use crate::payload::Payload;

/// The log's file name inside a collection directory.
pub(crate) const WAL_FILE: &str = "WAL";
/// The first 8 bytes of every write-ahead log (the same in every format version).
pub(crate) const WAL_MAGIC: [u8; 8] = *b"SVWAL\0\0\x01";
/// The newest format version this build reads and writes (2: upserts with payloads).
pub(crate) const WAL_VERSION: u32 = 2;
/// The oldest format version this build reads, and the one it writes for a collection without
/// payloads.
pub(crate) const WAL_MIN_VERSION: u32 = 1;
/// Bytes of the header: magic, version, dim, base_lsn, crc.
pub(crate) const WAL_HEADER_LEN: usize = 8 + 4 + 4 + 8 + 4;
/// Bytes before each payload: its length and its checksum.
pub(crate) const FRAME_HEADER_LEN: usize = 4 + 4;
/// Bytes of a payload before its ids: kind, lsn, count.
const PAYLOAD_FIXED_LEN: usize = 1 + 8 + 4;
/// The largest payload a frame can describe (its length is a `u32`).
pub(crate) const MAX_PAYLOAD_LEN: usize = u32::MAX as usize;
/// The lsn of the first record of a new log. Lsn 0 is never assigned (it means "nothing"), nor is
/// `u64::MAX` (so `lsn + 1` never overflows).
pub(crate) const FIRST_LSN: u64 = 1;

const KIND_UPSERT: u8 = 1;
const KIND_DELETE: u8 = 2;
const KIND_UPSERT_PAYLOADS: u8 = 3;

/// How hard a write waits for the disk before it is acknowledged.
///
/// Both levels survive a crash of the *process*: every write is handed to the operating system
/// before the call returns. They differ when the *machine* loses power or the operating system
/// crashes.
///
/// The default is [`Durability::Sync`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Durability {
    /// Each write is on stable storage (`fdatasync`) before the call returns: an acknowledged
    /// write survives a power loss. Costs one disk flush per write call (batch writes to amortise
    /// it).
    #[default]
    Sync,
    /// Writes are left in the operating system's cache, which writes them out on its own schedule
    /// (typically within seconds) or when the collection is flushed. A power loss or OS crash
    /// may lose the writes since the last flush, but never corrupts or reorders earlier ones:
    /// recovery keeps a prefix of the acknowledged writes.
    Buffered,
}

/// One logged write, as the collection applies it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum WalRecord {
    /// A whole `upsert_batch`: `ids.len()` vectors of the collection's dimension, row-major in
    /// `vectors`.
    Upsert {
        /// The user ids, one per row.
        ids: Vec<u64>,
        /// `ids.len() × dim` components.
        vectors: Vec<f32>,
        /// One payload per id (a version 2 log's kind 3 record), or none.
        payloads: Option<Vec<Payload>>,
    },
    /// A delete of these ids (ids that are absent are the collection's business, not the log's).
    Delete {
        /// The user ids.
        ids: Vec<u64>,
    },
}

/// An open write-ahead log, positioned for appending after its last good frame.
///
/// Only the writer (the holder of the collection's [`super::lock::WriterLock`]) may open a log
/// with [`Wal::open`], which may truncate it; other readers use [`Wal::read_records`].
pub(crate) struct Wal {
    vfs: Arc<dyn Vfs>,
    file: Box<dyn VfsFile>,
    path: PathBuf,
    dim: usize,
    durability: Durability,
    /// The lsn the header names: the first record of this file has at least this lsn.
    base_lsn: u64,
    /// The header's format version.
    version: u32,
    /// The version a reset writes: 2 once the collection stores payloads.
    write_version: u32,
    /// The lsn the next append gets.
    next_lsn: u64,
    /// The end of the last complete frame, which is the file's length.
    len: u64,
    /// Bytes cut from the tail when the log was opened.
    #[cfg_attr(not(test), allow(dead_code))]
    cut: u64,
    /// Set after an I/O error that leaves the file's durable state unknown; every later write
    /// fails until a successful [`Wal::reset`] (or reopening the log).
    poisoned: bool,
    /// Whether frames may have been written since the file was last synced: appends of a
    /// [`Durability::Buffered`] log, and, after an open, the frames found (the previous writer
    /// may not have synced them). [`Wal::sync`] has nothing to do when this is clear.
    unsynced: bool,
    /// Whether the log's own name may not be durable yet: after it was opened, created or reset
    /// (renamed over the old file without a directory sync). The next append under
    /// [`Durability::Sync`] or [`Wal::sync`] syncs the directory first; any other directory sync
    /// clears it ([`Wal::names_synced`]).
    names_pending: bool,

    /// The frame being written, reused between appends.
    frame: Vec<u8>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("path", &self.path)
            .field("dim", &self.dim)
            .field("durability", &self.durability)
            .field("base_lsn", &self.base_lsn)
            .field("next_lsn", &self.next_lsn)
            .field("len", &self.len)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

/// What a replay found: the records, the lsns, and where the good frames end.
struct Replay {
    base_lsn: u64,
    version: u32,
    next_lsn: u64,
    records: Vec<(u64, WalRecord)>,
    /// The offset just past the last good frame.
    end: u64,
}

impl Wal {
    /// Opens the log at `path` (on `vfs`) for a collection of dimension `dim`, creating it
    /// (header written with [`write_atomic`], so durable, name included) when absent, and returns
    /// it with the records it holds, in lsn order.
    ///
    /// A torn or corrupt tail is cut: the file is truncated after the last good frame and the
    /// truncation synced before anything is appended (see the module docs); [`Wal::cut_bytes`]
    /// tells how much was cut. Cost: one read of the whole file; the records are held in memory.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when `dim` is 0 or does not fit a `u32`;
    /// [`Error::Corrupt`] when the header is short, has a bad magic or checksum, a base lsn of 0 or
    /// `u64::MAX`, or names a dimension other than `dim`; [`Error::UnsupportedVersion`] for
    /// another format version; [`Error::Io`] for I/O failures.
    pub(crate) fn open_on(
        vfs: Arc<dyn Vfs>,
        path: &Path,
        dim: usize,
        durability: Durability,
    ) -> Result<(Wal, Vec<(u64, WalRecord)>)> {
        check_dim(dim)?;
        let mut file = match vfs.open_rw(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // The name is synced with the first promise (see `names_pending`).
                let header = encode_header(dim, FIRST_LSN, WAL_MIN_VERSION);
                write_atomic(&*vfs, path, &header, DirSync::Caller)?;
                vfs.open_rw(path).map_err(|e| Error::io(path, e))?
            }
            Err(e) => return Err(Error::io(path, e)),
        };
        let replay = replay(&*file, path, dim)?;
        let file_len = file.len().map_err(|e| Error::io(path, e))?;
        let cut = file_len.saturating_sub(replay.end);
        if file_len != replay.end {
            // Synced now, whatever the durability: frames a `Buffered` log lost in the middle
            // may leave later, complete frames behind the cut; if the truncation could reach the
            // disk after new frames, such an old frame could follow them and be replayed.
            file.set_len(replay.end)
                .and_then(|()| file.sync_data())
                .map_err(|e| Error::io(path, e))?;
        }
        let wal = Wal {
            vfs,
            file,
            path: path.to_path_buf(),
            dim,
            durability,
            base_lsn: replay.base_lsn,
            version: replay.version,
            write_version: replay.version,
            next_lsn: replay.next_lsn,
            len: replay.end,
            cut,
            poisoned: false,
            unsynced: !replay.records.is_empty(),
            // Even a log that was there may have been renamed into place (a reset) by a writer
            // that did not sync the directory before it stopped: nothing here can tell.
            names_pending: true,
            frame: Vec::new(),
        };
        Ok((wal, replay.records))
    }

    /// [`Wal::open_on`] on the real file system.
    #[cfg(test)]
    pub(crate) fn open(
        path: &Path,
        dim: usize,
        durability: Durability,
    ) -> Result<(Wal, Vec<(u64, WalRecord)>)> {
        Wal::open_on(Arc::new(crate::fsutil::RealFs), path, dim, durability)
    }

    /// Reads the records of the log at `path` without creating, truncating or locking it: for a
    /// read-only open of a collection, possibly while its writer appends. A torn or corrupt tail
    /// ends the records as in [`Wal::open`] but stays in the file.
    ///
    /// # Errors
    ///
    /// As [`Wal::open`]; a missing file is [`Error::Io`] (`NotFound`).
    #[cfg(test)]
    pub(crate) fn read_records(path: &Path, dim: usize) -> Result<Vec<(u64, WalRecord)>> {
        check_dim(dim)?;
        let file = crate::fsutil::RealFs
            .open_rw(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(replay(&*file, path, dim)?.records)
    }

    /// Appends one record and returns the lsn it was given; with [`Durability::Sync`] the record
    /// is on stable storage when this returns. The frame goes to the file in a single `write_all`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when an upsert's `vectors` is not `ids.len() × dim` long or the
    /// record does not fit one frame (split the batch); nothing is written then.
    /// [`Error::Io`] when writing or syncing fails: the record may or may not be in the log, and
    /// the log refuses further writes until it is reset or reopened.
    #[cfg(test)]
    pub(crate) fn append(&mut self, record: &WalRecord) -> Result<u64> {
        match record {
            WalRecord::Upsert {
                ids,
                vectors,
                payloads: None,
            } => self.append_upsert(ids, vectors),
            WalRecord::Upsert {
                ids,
                vectors,
                payloads: Some(p),
            } => self.append_upsert_payloads(ids, vectors, p),
            WalRecord::Delete { ids } => self.append_delete(ids),
        }
    }

    /// Appends an upsert of `ids` with `vectors` (row-major, `ids.len() × dim`) straight from the
    /// caller's slices; as [`Wal::append`].
    ///
    /// # Errors
    ///
    /// As [`Wal::append`].
    pub(crate) fn append_upsert(&mut self, ids: &[u64], vectors: &[f32]) -> Result<u64> {
        self.check_shape(ids, vectors)?;
        self.append_frame(KIND_UPSERT, ids, vectors, &[])
    }

    /// Appends an upsert of `ids` with `vectors` and one payload each (checked by the caller:
    /// within the limits); as [`Wal::append`]. Only a version 2 log holds them: see
    /// [`Wal::version`] and [`Wal::write_payloads`].
    ///
    /// # Errors
    ///
    /// As [`Wal::append`]; [`Error::InvalidParameter`] for a version 1 log or a count of
    /// payloads other than of ids.
    pub(crate) fn append_upsert_payloads(
        &mut self,
        ids: &[u64],
        vectors: &[f32],
        payloads: &[Payload],
    ) -> Result<u64> {
        self.check_shape(ids, vectors)?;
        if self.version < 2 {
            return Err(Error::invalid_parameter(
                "payloads",
                "a version 1 write-ahead log cannot hold payloads (reset it first)",
            ));
        }
        if payloads.len() != ids.len() {
            return Err(Error::invalid_parameter(
                "payloads",
                format!("{} payloads for {} ids", payloads.len(), ids.len()),
            ));
        }
        let mut tail = Vec::new();
        for p in payloads {
            tail.extend_from_slice(&(encoded_len(p) as u32).to_le_bytes());
            encode_payload(&mut tail, p);
        }
        self.append_frame(KIND_UPSERT_PAYLOADS, ids, vectors, &tail)
    }

    /// The log's format version (its header's).
    pub(crate) fn version(&self) -> u32 {
        self.version
    }

    /// Makes later resets write version 2, which holds payloads (the collection stores some).
    pub(crate) fn write_payloads(&mut self) {
        self.write_version = WAL_VERSION;
    }

    fn check_shape(&self, ids: &[u64], vectors: &[f32]) -> Result<()> {
        let expected = ids.len().checked_mul(self.dim);
        if expected != Some(vectors.len()) {
            return Err(Error::invalid_parameter(
                "vectors",
                format!(
                    "{} ids of dimension {} need {} components, got {}",
                    ids.len(),
                    self.dim,
                    ids.len().saturating_mul(self.dim),
                    vectors.len()
                ),
            ));
        }
        Ok(())
    }

    /// Appends a delete of `ids`; as [`Wal::append`].
    ///
    /// # Errors
    ///
    /// As [`Wal::append`].
    pub(crate) fn append_delete(&mut self, ids: &[u64]) -> Result<u64> {
        self.append_frame(KIND_DELETE, ids, &[], &[])
    }

    /// Appends one frame: the fixed part, the ids, the vectors, then `tail` (a kind 3 record's
    /// payloads, already encoded).
    fn append_frame(&mut self, kind: u8, ids: &[u64], vectors: &[f32], tail: &[u8]) -> Result<u64> {
        self.check_writable()?;
        if self.next_lsn == u64::MAX {
            return Err(Error::invalid_parameter(
                "lsn",
                "the log has used up its sequence numbers",
            ));
        }
        let count = u32::try_from(ids.len()).ok();
        let payload_len = payload_len(kind, ids.len(), self.dim)
            .and_then(|fixed| fixed.checked_add(tail.len()))
            .map(|len| {
                len - if kind == KIND_UPSERT_PAYLOADS {
                    4 * ids.len()
                } else {
                    0
                }
            })
            .filter(|&len| len <= MAX_PAYLOAD_LEN);
        let (Some(count), Some(payload_len)) = (count, payload_len) else {
            return Err(Error::invalid_parameter(
                "ids",
                format!(
                    "a batch of {} ids does not fit one log record (at most {} bytes); split it",
                    ids.len(),
                    MAX_PAYLOAD_LEN
                ),
            ));
        };
        let lsn = self.next_lsn;

        let mut w = ByteWriter {
            buf: std::mem::take(&mut self.frame),
        };
        w.buf.clear();
        w.buf.reserve(FRAME_HEADER_LEN + payload_len);
        w.u32(payload_len as u32).u32(0); // checksum filled in below
        w.u8(kind).u64(lsn).u32(count);
        for &id in ids {
            w.u64(id);
        }
        for &x in vectors {
            w.f32(x);
        }
        w.buf.extend_from_slice(tail);
        let mut frame = w.buf;
        debug_assert_eq!(frame.len(), FRAME_HEADER_LEN + payload_len);
        let crc = checksum(&frame[FRAME_HEADER_LEN..]);
        frame[4..8].copy_from_slice(&crc.to_le_bytes());

        let sync = self.durability == Durability::Sync;
        // The log's name first (after a reset it may not be durable yet): a directory sync that
        // fails after the frame reached the disk would leave a record the caller was told
        // failed, which a crash could bring back.
        let written = (if sync { self.sync_names() } else { Ok(()) })
            .and_then(|()| self.file.write_at(self.len, &frame))
            .and_then(|()| if sync { self.file.sync_data() } else { Ok(()) });
        let frame_len = frame.len() as u64;
        self.frame = frame;
        match written {
            Ok(()) => {
                self.len += frame_len;
                self.next_lsn += 1;
                self.unsynced = !sync;
                Ok(lsn)
            }
            Err(e) => Err(self.poison(e)),
        }
    }

    /// Forces every appended record to stable storage (`fdatasync`); what [`Durability::Buffered`]
    /// leaves to the operating system. Does nothing when nothing can be unsynced (every append
    /// since the open was synced).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when syncing fails; the log then refuses further writes until it is reset or
    /// reopened (after a failed fsync the kernel may have dropped the unwritten pages).
    pub(crate) fn sync(&mut self) -> Result<()> {
        self.check_writable()?;
        if self.unsynced {
            self.file.sync_data().map_err(|e| self.poison(e))?;
            self.unsynced = false;
        }
        if !self.is_empty() {
            self.sync_names().map_err(|e| self.poison(e))?;
        }
        Ok(())
    }

    /// Syncs the directory when the log's name may not be durable: before a record in it is
    /// promised (an empty log promises nothing: a crash that finds the old one finds records
    /// the manifest already seals).
    fn sync_names(&mut self) -> io::Result<()> {
        if self.names_pending {
            self.vfs.sync_dir(crate::fsutil::parent_dir(&self.path))?;
            self.names_pending = false;
        }
        Ok(())
    }

    /// Tells the log that its directory was synced (by a seal or a compaction): every name in it
    /// is durable.
    pub(crate) fn names_synced(&mut self) {
        self.names_pending = false;
    }

    /// Empties the log after a checkpoint: replaces it with a file holding only a header whose
    /// base lsn is `next_lsn`, so the next append gets `next_lsn` (also after a reopen).
    ///
    /// Call it only when every record in the log is sealed into a segment named by a committed
    /// manifest: the records are gone afterwards. The replacement is a [`write_atomic`], so a
    /// crash leaves either the old log or the empty new one (see the module docs). A collection
    /// whose manifest says `flushed_lsn` must keep `next_lsn() > flushed_lsn`, e.g. by calling
    /// `reset(flushed_lsn + 1)` when a log was lost; records at or below `flushed_lsn` found on
    /// replay are already in segments and must be skipped.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when `next_lsn` is smaller than [`Wal::next_lsn`] (lsns never go
    /// backwards) or is `u64::MAX`; [`Error::Io`] on failure, after which the log refuses writes until a reset
    /// succeeds or it is reopened.
    pub(crate) fn reset(&mut self, next_lsn: u64) -> Result<()> {
        if next_lsn == u64::MAX {
            return Err(Error::invalid_parameter(
                "next_lsn",
                "u64::MAX is not an lsn a log assigns",
            ));
        }
        if next_lsn < self.next_lsn {
            return Err(Error::invalid_parameter(
                "next_lsn",
                format!(
                    "{next_lsn} is below the log's next lsn {}: lsns never go backwards",
                    self.next_lsn
                ),
            ));
        }
        self.poisoned = true;
        // The new name is synced with the next promise (see `names_pending`): until then a
        // crash may find the old log, whose records the manifest already seals.
        write_atomic(
            &*self.vfs,
            &self.path,
            &encode_header(self.dim, next_lsn, self.write_version),
            DirSync::Caller,
        )?;
        self.version = self.write_version;
        self.names_pending = true;
        self.file = self
            .vfs
            .open_rw(&self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        self.base_lsn = next_lsn;
        self.next_lsn = next_lsn;
        self.len = WAL_HEADER_LEN as u64;
        self.poisoned = false;
        self.unsynced = false;
        Ok(())
    }

    /// The lsn the next append will get.
    pub(crate) fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    /// The lsn of the last record appended or replayed, or `base_lsn - 1` for an empty log.
    pub(crate) fn last_lsn(&self) -> u64 {
        self.next_lsn - 1
    }

    /// The base lsn in the header: the lowest lsn this file can hold.
    #[cfg(test)]
    pub(crate) fn base_lsn(&self) -> u64 {
        self.base_lsn
    }

    /// The file's length in bytes (header and complete frames): what a collection compares with
    /// its checkpoint threshold.
    pub(crate) fn len_bytes(&self) -> u64 {
        self.len
    }

    /// Whether the log refuses writes after an I/O error (until a reset or a reopen).
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Whether the log holds no records.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == WAL_HEADER_LEN as u64
    }

    /// How many bytes of a torn or corrupt tail [`Wal::open`] cut off (0 after a clean shutdown).
    #[cfg(test)]
    pub(crate) fn cut_bytes(&self) -> u64 {
        self.cut
    }

    /// The log's dimension.
    #[cfg(test)]
    pub(crate) fn dim(&self) -> usize {
        self.dim
    }

    /// The log's file.
    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The durability of appends.
    #[cfg(test)]
    pub(crate) fn durability(&self) -> Durability {
        self.durability
    }

    /// Changes the durability of later appends; switching to [`Durability::Sync`] does not sync
    /// what is already written (call [`Wal::sync`]).
    #[cfg(test)]
    pub(crate) fn set_durability(&mut self, durability: Durability) {
        self.durability = durability;
    }

    fn check_writable(&self) -> Result<()> {
        if self.poisoned {
            return Err(Error::io(
                &self.path,
                io::Error::other(
                    "the write-ahead log refuses writes after an earlier I/O error; \
                     reopen the collection",
                ),
            ));
        }
        Ok(())
    }

    /// Marks the log unusable after `e` and tries to cut what a failed append may have left.
    fn poison(&mut self, e: io::Error) -> Error {
        self.poisoned = true;
        // Best effort: a partial frame left here would be cut by the next open anyway.
        let _ = self.file.set_len(self.len);
        Error::io(&self.path, e)
    }
}

fn check_dim(dim: usize) -> Result<()> {
    if dim == 0 || u32::try_from(dim).is_err() {
        return Err(Error::invalid_parameter(
            "dim",
            format!(
                "{dim} is not a dimension a log can hold (1 to {})",
                u32::MAX
            ),
        ));
    }
    Ok(())
}

/// The payload length of a record of `kind` with `count` ids, or `None` when it would not fit a
/// frame (or `kind` is unknown); for kind 3, the least length (every payload empty but its
/// length field).
fn payload_len(kind: u8, count: usize, dim: usize) -> Option<usize> {
    let per_row = match kind {
        KIND_UPSERT => dim.checked_mul(4)?.checked_add(8)?,
        KIND_UPSERT_PAYLOADS => dim.checked_mul(4)?.checked_add(12)?,
        KIND_DELETE => 8,
        _ => return None,
    };
    let len = count.checked_mul(per_row)?.checked_add(PAYLOAD_FIXED_LEN)?;
    (len <= MAX_PAYLOAD_LEN && count <= u32::MAX as usize).then_some(len)
}

/// The header of a log of format `version` and dimension `dim` whose first record gets
/// `base_lsn`.
fn encode_header(dim: usize, base_lsn: u64, version: u32) -> Vec<u8> {
    let mut w = ByteWriter::new();
    w.buf.extend_from_slice(&WAL_MAGIC);
    w.u32(version).u32(dim as u32).u64(base_lsn);
    let crc = checksum(&w.buf);
    w.u32(crc);
    debug_assert_eq!(w.buf.len(), WAL_HEADER_LEN);
    w.buf
}

/// Checks the header (magic, then checksum, then version, then base lsn and dimension) and returns
/// its base lsn and version.
fn decode_header(bytes: &[u8], path: &Path, dim: usize) -> Result<(u64, u32)> {
    if bytes.len() < WAL_HEADER_LEN {
        return Err(Error::corrupt(
            path,
            format!(
                "write-ahead log of {} bytes is shorter than its {WAL_HEADER_LEN}-byte header",
                bytes.len()
            ),
        ));
    }
    let mut r = ByteReader::new(bytes);
    let magic = r.take(8);
    let _version = r.u32();
    let file_dim = r.u32();
    let base_lsn = r.u64();
    let (Some(magic), Some(file_dim), Some(base_lsn)) = (magic, file_dim, base_lsn) else {
        return Err(Error::corrupt(path, "write-ahead log header is short"));
    };
    if magic != WAL_MAGIC {
        return Err(Error::corrupt(
            path,
            "not a stratavec write-ahead log (bad magic)",
        ));
    }
    let version = check_versions(
        &bytes[..WAL_HEADER_LEN],
        path,
        "write-ahead log header",
        WAL_MIN_VERSION..=WAL_VERSION,
    )?;
    if base_lsn < FIRST_LSN || base_lsn == u64::MAX {
        return Err(Error::corrupt(
            path,
            format!("write-ahead log header has base lsn {base_lsn}"),
        ));
    }
    if file_dim as usize != dim {
        return Err(Error::corrupt(
            path,
            format!(
                "write-ahead log holds vectors of dimension {file_dim}, the collection has dimension {dim}"
            ),
        ));
    }
    Ok((base_lsn, version))
}

/// Decodes a payload whose checksum matched; `None` when its counts, kind or length are
/// inconsistent.
fn decode_record(payload: &[u8], dim: usize, version: u32) -> Option<(u64, WalRecord)> {
    let mut r = ByteReader::new(payload);
    let kind = r.u8()?;
    let lsn = r.u64()?;
    let count = r.u32()? as usize;
    let least = payload_len(kind, count, dim)?;
    let exact = kind != KIND_UPSERT_PAYLOADS;
    if (exact && least != payload.len()) || least > payload.len() {
        return None;
    }
    if kind == KIND_UPSERT_PAYLOADS && version < 2 {
        return None;
    }
    let ids = (0..count).map(|_| r.u64()).collect::<Option<Vec<_>>>()?;
    let record = match kind {
        KIND_UPSERT | KIND_UPSERT_PAYLOADS => {
            let vectors = (0..count * dim)
                .map(|_| r.f32())
                .collect::<Option<Vec<_>>>()?;
            let payloads = if kind == KIND_UPSERT_PAYLOADS {
                let mut list = Vec::new();
                for _ in 0..count {
                    let len = r.u32()? as usize;
                    let bytes = r.take(len)?;
                    let mut one = ByteReader::new(bytes);
                    let p = decode_payload(&mut one)?;
                    if one.remaining() != 0 {
                        return None;
                    }
                    list.push(p);
                }
                Some(list)
            } else {
                None
            };
            if r.remaining() != 0 {
                return None;
            }
            WalRecord::Upsert {
                ids,
                vectors,
                payloads,
            }
        }
        KIND_DELETE => WalRecord::Delete { ids },
        _ => return None,
    };
    debug_assert_eq!(r.remaining(), 0);
    Some((lsn, record))
}

/// Reads the header and every good frame of `file`, stopping at the first bad one.
fn replay(file: &dyn VfsFile, path: &Path, dim: usize) -> Result<Replay> {
    let file_len = file.len().map_err(|e| Error::io(path, e))?;
    replay_from(
        BufReader::with_capacity(1 << 16, FileReader::new(file)),
        file_len,
        path,
        dim,
    )
}

/// [`replay`] over any reader of `file_len` bytes (`path` is for messages).
fn replay_from(mut reader: impl Read, file_len: u64, path: &Path, dim: usize) -> Result<Replay> {
    let mut header = Vec::with_capacity(WAL_HEADER_LEN);
    (&mut reader)
        .take(WAL_HEADER_LEN as u64)
        .read_to_end(&mut header)
        .map_err(|e| Error::io(path, e))?;
    let (base_lsn, version) = decode_header(&header, path, dim)?;

    let mut records = Vec::new();
    let mut end = WAL_HEADER_LEN as u64;
    let mut next_lsn = base_lsn;
    let mut payload = Vec::new();
    loop {
        let left = file_len.saturating_sub(end);
        if left < FRAME_HEADER_LEN as u64 {
            break;
        }
        let mut frame_header = [0u8; FRAME_HEADER_LEN];
        if !read_exact_or_eof(&mut reader, &mut frame_header, path)? {
            break;
        }
        let mut r = ByteReader::new(&frame_header);
        let (Some(len), Some(crc)) = (r.u32(), r.u32()) else {
            break;
        };
        let len = len as usize;
        if len < PAYLOAD_FIXED_LEN || len as u64 > left - FRAME_HEADER_LEN as u64 {
            break;
        }
        payload.resize(len, 0);
        if !read_exact_or_eof(&mut reader, &mut payload, path)? {
            break;
        }
        if checksum(&payload) != crc {
            break;
        }
        let Some((lsn, record)) = decode_record(&payload, dim, version) else {
            break;
        };
        if lsn < next_lsn || lsn == u64::MAX {
            break;
        }
        records.push((lsn, record));
        next_lsn = lsn + 1;
        end += (FRAME_HEADER_LEN + len) as u64;
    }
    Ok(Replay {
        base_lsn,
        version,
        next_lsn,
        records,
        end,
    })
}

/// `read_exact`, but `Ok(false)` when the file ends first (a log being appended to may be read).
fn read_exact_or_eof(reader: &mut impl Read, buf: &mut [u8], path: &Path) -> Result<bool> {
    match reader.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// What [`fuzz_replay`] found in a log's bytes.
pub(crate) struct FuzzReplay {
    /// The records, with their lsns.
    pub records: Vec<(u64, WalRecord)>,
    /// The offset just past the last good frame.
    pub end: u64,
    /// The header's base lsn.
    pub base_lsn: u64,
}

/// Replays a log held in memory (for the fuzzer): exactly what [`Wal::open`] reads from a file.
pub(crate) fn fuzz_replay(bytes: &[u8], dim: usize) -> Result<FuzzReplay> {
    check_dim(dim)?;
    let r = replay_from(bytes, bytes.len() as u64, Path::new("<bytes>"), dim)?;
    Ok(FuzzReplay {
        records: r.records,
        end: r.end,
        base_lsn: r.base_lsn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const DIM: usize = 3;

    fn upsert(ids: &[u64]) -> WalRecord {
        WalRecord::Upsert {
            ids: ids.to_vec(),
            vectors: ids
                .iter()
                .flat_map(|&id| (0..DIM).map(move |j| id as f32 + j as f32 * 0.25))
                .collect(),
            payloads: None,
        }
    }

    fn delete(ids: &[u64]) -> WalRecord {
        WalRecord::Delete { ids: ids.to_vec() }
    }

    fn five_records() -> Vec<WalRecord> {
        vec![
            upsert(&[1, 2]),
            delete(&[2]),
            upsert(&[3]),
            upsert(&[]),
            delete(&[1, 3, u64::MAX]),
        ]
    }

    /// Writes `records` to a new log at `path`; returns the file length after each append.
    fn write_log(path: &Path, records: &[WalRecord]) -> Vec<u64> {
        let (mut wal, replayed) = Wal::open(path, DIM, Durability::Buffered).unwrap();
        assert!(replayed.is_empty());
        let mut ends = Vec::new();
        for (i, r) in records.iter().enumerate() {
            assert_eq!(wal.append(r).unwrap(), FIRST_LSN + i as u64);
            ends.push(wal.len_bytes());
        }
        wal.sync().unwrap();
        assert_eq!(fs::metadata(path).unwrap().len(), wal.len_bytes());
        ends
    }

    fn numbered(records: &[WalRecord], first: u64) -> Vec<(u64, WalRecord)> {
        records
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, r)| (first + i as u64, r))
            .collect()
    }

    #[test]
    fn new_log_has_a_durable_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let (wal, records) = Wal::open(&path, DIM, Durability::Sync).unwrap();
        assert!(records.is_empty());
        assert!(wal.is_empty());
        assert_eq!(wal.next_lsn(), FIRST_LSN);
        assert_eq!(wal.base_lsn(), FIRST_LSN);
        assert_eq!(wal.last_lsn(), 0);
        assert_eq!(wal.dim(), DIM);
        assert_eq!(wal.path(), path);
        assert_eq!(wal.durability(), Durability::Sync);
        assert_eq!(fs::read(&path).unwrap(), encode_header(DIM, FIRST_LSN, 1));
        assert_eq!(Durability::default(), Durability::Sync);
    }

    #[test]
    fn mixed_records_round_trip_with_both_durabilities() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let records = five_records();
        {
            let (mut wal, _) = Wal::open(&path, DIM, Durability::Sync).unwrap();
            for r in &records[..2] {
                wal.append(r).unwrap();
            }
            wal.set_durability(Durability::Buffered);
            for r in &records[2..] {
                wal.append(r).unwrap();
            }
            wal.sync().unwrap();
        }
        let (wal, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
        assert_eq!(replayed, numbered(&records, FIRST_LSN));
        assert_eq!(wal.next_lsn(), FIRST_LSN + 5);
        assert_eq!(wal.cut_bytes(), 0);
        assert_eq!(Wal::read_records(&path, DIM).unwrap(), replayed);
    }

    #[test]
    fn special_floats_and_large_ids_survive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let vectors = vec![f32::NAN, -0.0, f32::INFINITY, f32::MIN_POSITIVE, -1e30, 7.5];
        {
            let (mut wal, _) = Wal::open(&path, DIM, Durability::Sync).unwrap();
            wal.append_upsert(&[u64::MAX, 0], &vectors).unwrap();
        }
        let (_, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
        let [(
            1,
            WalRecord::Upsert {
                ids, vectors: got, ..
            },
        )] = replayed.as_slice()
        else {
            panic!("{replayed:?}")
        };
        assert_eq!(ids, &[u64::MAX, 0]);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(got), bits(&vectors));
    }

    #[test]
    fn inconsistent_upserts_are_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let (mut wal, _) = Wal::open(&path, DIM, Durability::Sync).unwrap();
        assert!(matches!(
            wal.append_upsert(&[1, 2], &[0.0; 5]),
            Err(Error::InvalidParameter {
                name: "vectors",
                ..
            })
        ));
        assert!(wal.is_empty());
        assert_eq!(wal.append(&delete(&[9])).unwrap(), FIRST_LSN);
        drop(wal);
        let (_, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
        assert_eq!(replayed, vec![(FIRST_LSN, delete(&[9]))]);
    }

    #[test]
    fn truncation_at_every_offset_keeps_exactly_the_complete_frames() {
        let dir = tempfile::tempdir().unwrap();
        let full_path = dir.path().join("full");
        let records = five_records();
        let ends = write_log(&full_path, &records);
        let full = fs::read(&full_path).unwrap();
        assert_eq!(*ends.last().unwrap(), full.len() as u64);

        let path = dir.path().join("wal");
        for cut in 0..=full.len() {
            fs::write(&path, &full[..cut]).unwrap();
            if cut < WAL_HEADER_LEN {
                assert!(
                    matches!(
                        Wal::open(&path, DIM, Durability::Buffered),
                        Err(Error::Corrupt { .. })
                    ),
                    "cut {cut}"
                );
                continue;
            }
            let complete = ends.iter().filter(|&&e| e <= cut as u64).count();
            let good_end = if complete == 0 {
                WAL_HEADER_LEN as u64
            } else {
                ends[complete - 1]
            };
            assert_eq!(
                Wal::read_records(&path, DIM).unwrap(),
                numbered(&records[..complete], FIRST_LSN),
                "read-only, cut {cut}"
            );
            let (mut wal, replayed) = Wal::open(&path, DIM, Durability::Buffered).unwrap();
            assert_eq!(
                replayed,
                numbered(&records[..complete], FIRST_LSN),
                "cut {cut}"
            );
            assert_eq!(wal.cut_bytes(), cut as u64 - good_end, "cut {cut}");
            assert_eq!(fs::metadata(&path).unwrap().len(), good_end, "cut {cut}");
            let extra = upsert(&[100 + cut as u64]);
            let lsn = wal.append(&extra).unwrap();
            assert_eq!(lsn, FIRST_LSN + complete as u64);
            drop(wal);
            let (_, replayed) = Wal::open(&path, DIM, Durability::Buffered).unwrap();
            let mut expected = numbered(&records[..complete], FIRST_LSN);
            expected.push((lsn, extra));
            assert_eq!(replayed, expected, "append after cut {cut}");
        }
    }

    #[test]
    fn a_flipped_byte_in_a_frame_cuts_the_log_there() {
        let dir = tempfile::tempdir().unwrap();
        let full_path = dir.path().join("full");
        let records = five_records();
        let ends = write_log(&full_path, &records);
        let full = fs::read(&full_path).unwrap();

        let path = dir.path().join("wal");
        for at in WAL_HEADER_LEN..full.len() {
            let mut bytes = full.clone();
            bytes[at] ^= 0x20;
            fs::write(&path, &bytes).unwrap();
            // The frame holding byte `at` and everything after it are dropped.
            let frame = ends.iter().filter(|&&e| e <= at as u64).count();
            let good_end = if frame == 0 {
                WAL_HEADER_LEN as u64
            } else {
                ends[frame - 1]
            };
            let (mut wal, replayed) = Wal::open(&path, DIM, Durability::Buffered).unwrap();
            assert_eq!(
                replayed,
                numbered(&records[..frame], FIRST_LSN),
                "flip {at}"
            );
            assert_eq!(fs::metadata(&path).unwrap().len(), good_end, "flip {at}");
            assert_eq!(wal.append(&delete(&[7])).unwrap(), FIRST_LSN + frame as u64);
        }
    }

    #[test]
    fn a_flipped_header_byte_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        write_log(&path, &five_records());
        let full = fs::read(&path).unwrap();
        for at in 0..WAL_HEADER_LEN {
            let mut bytes = full.clone();
            bytes[at] ^= 0x01;
            fs::write(&path, &bytes).unwrap();
            // The version field too: the checksum comes first, so a flipped version is
            // corruption, not a file from another release.
            let result = Wal::open(&path, DIM, Durability::Buffered);
            assert!(matches!(result, Err(Error::Corrupt { .. })), "flip {at}");
            // A failed open leaves the file as it was.
            assert_eq!(fs::read(&path).unwrap(), bytes);
        }
    }

    #[test]
    fn bad_magic_future_version_and_wrong_dim_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        write_log(&path, &five_records());
        let good = fs::read(&path).unwrap();

        let mut bytes = good.clone();
        bytes[..8].copy_from_slice(b"SVMAN\0\0\x01");
        fs::write(&path, &bytes).unwrap();
        match Wal::open(&path, DIM, Durability::Sync) {
            Err(Error::Corrupt { path: p, reason }) => {
                assert_eq!(p, path);
                assert!(reason.contains("magic"), "{reason}");
            }
            other => panic!("{other:?}"),
        }

        let mut bytes = good.clone();
        bytes[8..12].copy_from_slice(&3u32.to_le_bytes());
        let crc = checksum(&bytes[..WAL_HEADER_LEN - 4]);
        bytes[WAL_HEADER_LEN - 4..WAL_HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            Wal::open(&path, DIM, Durability::Sync),
            Err(Error::UnsupportedVersion {
                found: 3,
                supported: WAL_VERSION,
                ..
            })
        ));

        fs::write(&path, &good).unwrap();
        match Wal::open(&path, DIM + 1, Durability::Sync) {
            Err(Error::Corrupt { reason, .. }) => {
                assert!(reason.contains("dimension 3"), "{reason}");
                assert!(reason.contains("dimension 4"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Wal::read_records(&path, DIM + 1),
            Err(Error::Corrupt { .. })
        ));
        assert!(matches!(
            Wal::open(&path, 0, Durability::Sync),
            Err(Error::InvalidParameter { name: "dim", .. })
        ));
        assert_eq!(
            fs::read(&path).unwrap(),
            good,
            "refusals leave the file alone"
        );
        assert!(matches!(
            Wal::read_records(&dir.path().join("absent"), DIM),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn a_frame_whose_counts_disagree_with_its_length_ends_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        write_log(&path, &[delete(&[1])]);
        let mut bytes = fs::read(&path).unwrap();
        // Well-checksummed frames that are still wrong: a delete claiming 2 ids but holding 1, an
        // unknown kind, an upsert short of its vector; then (below) a 4 GiB payload length.
        for payload in [
            {
                let mut w = ByteWriter::new();
                w.u8(KIND_DELETE).u64(2).u32(2).u64(5);
                w.buf
            },
            {
                let mut w = ByteWriter::new();
                w.u8(9).u64(2).u32(0);
                w.buf
            },
            {
                let mut w = ByteWriter::new();
                w.u8(KIND_UPSERT).u64(2).u32(1).u64(5).f32(1.0);
                w.buf
            },
        ] {
            let mut tail = ByteWriter::new();
            tail.u32(payload.len() as u32).u32(checksum(&payload));
            tail.buf.extend_from_slice(&payload);
            let mut b = bytes.clone();
            b.extend_from_slice(&tail.buf);
            fs::write(&path, &b).unwrap();
            let (wal, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
            assert_eq!(replayed, vec![(1, delete(&[1]))]);
            assert_eq!(wal.cut_bytes(), tail.buf.len() as u64);
        }
        let mut huge = ByteWriter::new();
        huge.u32(u32::MAX).u32(0);
        bytes.extend_from_slice(&huge.buf);
        bytes.extend_from_slice(&[0; 64]);
        fs::write(&path, &bytes).unwrap();
        let (_, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
        assert_eq!(replayed, vec![(1, delete(&[1]))]);
    }

    #[test]
    fn a_non_increasing_lsn_ends_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let ends = write_log(&path, &[delete(&[1]), delete(&[2])]);
        let mut bytes = fs::read(&path).unwrap();
        // Duplicate the first frame after the second: its lsn (1) is not above 2.
        let first = bytes[WAL_HEADER_LEN..ends[0] as usize].to_vec();
        bytes.extend_from_slice(&first);
        fs::write(&path, &bytes).unwrap();
        let (wal, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
        assert_eq!(replayed, vec![(1, delete(&[1])), (2, delete(&[2]))]);
        assert_eq!(wal.next_lsn(), 3);
        assert_eq!(wal.len_bytes(), ends[1]);
    }

    #[test]
    fn lsns_continue_across_reset_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let (mut wal, _) = Wal::open(&path, DIM, Durability::Sync).unwrap();
        for r in five_records() {
            wal.append(&r).unwrap();
        }
        assert_eq!(wal.next_lsn(), 6);
        assert!(matches!(
            wal.reset(5),
            Err(Error::InvalidParameter {
                name: "next_lsn",
                ..
            })
        ));
        wal.reset(wal.next_lsn()).unwrap();
        assert!(wal.is_empty());
        assert_eq!(wal.base_lsn(), 6);
        assert_eq!(wal.last_lsn(), 5);
        assert_eq!(fs::metadata(&path).unwrap().len(), WAL_HEADER_LEN as u64);
        assert_eq!(wal.append(&delete(&[1])).unwrap(), 6);
        drop(wal);

        let (mut wal, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
        assert_eq!(replayed, vec![(6, delete(&[1]))]);
        assert_eq!(wal.next_lsn(), 7);
        // Reset straight to a later lsn, then reopen the empty log: the base lsn survives.
        wal.reset(100).unwrap();
        drop(wal);
        let (mut wal, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
        assert!(replayed.is_empty());
        assert_eq!(wal.next_lsn(), 100);
        assert_eq!(wal.append(&upsert(&[4])).unwrap(), 100);
        drop(wal);
        let (_, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
        assert_eq!(replayed, vec![(100, upsert(&[4]))]);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_frame_below_the_base_lsn_is_not_replayed() {
        // A header saying base 10 followed by a frame with lsn 3 (cannot be written by `Wal`,
        // but a hostile or mixed-up file might hold it).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let mut bytes = encode_header(DIM, 10, 1);
        let mut w = ByteWriter::new();
        w.u8(KIND_DELETE).u64(3).u32(0);
        let mut frame = ByteWriter::new();
        frame.u32(w.buf.len() as u32).u32(checksum(&w.buf));
        bytes.extend_from_slice(&frame.buf);
        bytes.extend_from_slice(&w.buf);
        fs::write(&path, &bytes).unwrap();
        let (wal, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
        assert!(replayed.is_empty());
        assert_eq!(wal.next_lsn(), 10);
    }

    #[test]
    fn golden_v1_file_still_opens() {
        let golden: &[u8] = include_bytes!("../../tests/golden/wal-v1.bin");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        fs::write(&path, golden).unwrap();
        let (_, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
        assert_eq!(replayed, numbered(&five_records(), FIRST_LSN));
        // And this build writes the same bytes.
        let fresh = dir.path().join("fresh");
        write_log(&fresh, &five_records());
        assert_eq!(fs::read(&fresh).unwrap(), golden);
    }
}
