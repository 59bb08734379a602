//! Replaying a trace: the disk a power cut at any point of it can leave.

use std::sync::Arc;

use super::*;

/// One sync of a trace (see [`Replay::syncs`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncPoint {
    /// Its position in the trace: the replay has applied it once [`Replay::position`] is past it.
    pub position: usize,
    /// Which sync of the trace it is (0 for the first).
    pub number: usize,
    /// What it syncs: `file <kinds>` or `directory <kinds of the names it makes durable>`.
    pub what: String,
}

/// Re-applies the trace of a [`SimDisk`] one operation at a time, and builds the disk a power cut
/// at the current position leaves (see the module docs).
#[derive(Clone, Debug)]
pub struct Replay {
    pub(super) trace: Arc<Vec<TraceOp>>,
    pub(super) fs: Fs,
    pub(super) pos: usize,
    pub(super) skipped_sync: Option<usize>,
    pub(super) syncs_seen: usize,
}

impl Replay {
    /// The number of operations in the trace.
    pub fn len(&self) -> usize {
        self.trace.len()
    }

    /// Whether the trace is empty.
    pub fn is_empty(&self) -> bool {
        self.trace.is_empty()
    }

    /// How many operations have been applied.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Treats sync number `number` (of [`Replay::syncs`]) as if it had done nothing. Call before
    /// the replay reaches it.
    pub fn skip_sync(&mut self, number: usize) {
        self.skipped_sync = Some(number);
    }

    /// Every sync of the trace, successful or not, in order.
    pub fn syncs(&self) -> Vec<SyncPoint> {
        self.trace
            .iter()
            .enumerate()
            .filter_map(|(i, op)| match op {
                TraceOp::SyncFile { what, .. } => Some((i, format!("file {what}"))),
                TraceOp::SyncDir { what, .. } => Some((i, format!("directory: {what}"))),
                _ => None,
            })
            .enumerate()
            .map(|(number, (position, what))| SyncPoint {
                position,
                number,
                what,
            })
            .collect()
    }

    /// Applies the next operation; `false` at the end of the trace.
    pub fn step(&mut self) -> bool {
        let Some(op) = self.trace.get(self.pos) else {
            return false;
        };
        let is_sync = matches!(op, TraceOp::SyncFile { .. } | TraceOp::SyncDir { .. });
        let skip = is_sync && self.skipped_sync == Some(self.syncs_seen);
        self.syncs_seen += is_sync as usize;
        self.fs.apply(op, skip);
        self.pos += 1;
        true
    }

    /// Directory operations not yet synced at the current position.
    pub fn pending_dir_ops(&self) -> usize {
        self.fs.pending.len()
    }

    /// File operations (writes, truncations) not yet synced at the current position, over all
    /// files.
    pub fn pending_file_ops(&self) -> usize {
        self.fs.inodes.iter().map(|i| i.pending.len()).sum()
    }

    /// Whether the operation just applied was a power cut.
    pub fn at_power_cut(&self) -> bool {
        self.pos > 0 && matches!(self.trace[self.pos - 1], TraceOp::PowerCut(_))
    }

    /// Whether anything at all is unsynced at the current position (a file write or a directory
    /// operation): when not, every [`Crash`] leaves the same disk.
    pub fn has_unsynced(&self) -> bool {
        !self.fs.pending.is_empty() || self.fs.inodes.iter().any(|i| !i.pending.is_empty())
    }

    /// The disk a power cut at the current position leaves.
    pub fn crash(&self, how: Crash) -> SimDisk {
        SimDisk::from_fs(self.fs.crash(how))
    }
}
