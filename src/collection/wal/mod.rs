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

mod frames;
#[cfg(test)]
mod tests;

pub(crate) use frames::fuzz_replay;
use frames::{check_dim, encode_header, payload_len, replay};

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
