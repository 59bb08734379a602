//! The durable collection: many immutable segments, a write-ahead log in front of them, a
//! manifest naming what is live, and a lock that admits one writer.
//!
//! The building blocks, each in its own file:
//!
//! - [`crate::fsutil`]: atomic file replacement (`write_atomic`), directory fsync, plain file names.
//! - [`lock`]: the writer lock, `dir/LOCK`, one writer across threads and processes.
//! - [`wal`]: the write-ahead log, checksummed frames with increasing lsns, torn tails cut on open,
//!   reset after a checkpoint; [`wal::Durability`] chooses when appends are fsynced.
//! - [`manifest`]: `MANIFEST`, the atomically replaced list of segments and deletion bitmaps, the
//!   index options and the lsn sealed so far.
//! - [`tombstones`]: the immutable deletion bitmap of one sealed segment.
//!
//! The byte layouts of the files are in `docs/file-format.md`.

pub(crate) mod lock;
pub(crate) mod manifest;
pub(crate) mod tombstones;
pub(crate) mod wal;
