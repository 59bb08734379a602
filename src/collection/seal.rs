//! Sealing and compaction: the in-memory segment written as a segment file, changed deletion
//! bitmaps, the manifest commit, the log reset, and the rewrite of all segments into one.

use super::*;

impl Collection {
    /// Seals the in-memory segment into a segment file, writes the deletion bitmaps that changed,
    /// commits a new manifest and empties the log. Then compacts if the deleted fraction passed
    /// [`CollectionOptions::compact_deleted_fraction`].
    ///
    /// After an I/O error made the log refuse writes (a full disk, say), a successful flush makes
    /// the collection writable again: it seals what the log held and starts a fresh log.
    ///
    /// # Errors
    /// [`Error::ReadOnly`], [`Error::Io`]. On an error the collection stays as it was: the log
    /// still holds every write.
    pub fn flush(&self) -> Result<()> {
        let writer = self.writer()?;
        let mut w = writer.lock();
        self.seal_or_compact(&mut w)
    }

    /// Compacts if the deleted fraction passed [`CollectionOptions::compact_deleted_fraction`]
    /// (the compaction seals the in-memory rows too), else seals.
    pub(super) fn seal_or_compact(&self, w: &mut Writer) -> Result<()> {
        if let Some(limit) = self.options.compact_deleted_fraction {
            // Not `self.stats()`: it takes the writer lock, which this thread holds.
            let stats = state_stats(&self.snapshot());
            let stored = stats.live + stats.deleted;
            if stored > 0 && stats.deleted as f64 > limit * stored as f64 {
                return self.compact_locked(w);
            }
        }
        self.seal(w)
    }

    /// Seals the in-memory segment and the changed deletion bitmaps, then commits. The protocol
    /// (`docs/file-format.md` argues each step):
    ///
    /// 1. each new file (bitmaps, the segment) is written under a temporary name, synced and
    ///    renamed; then one directory sync makes all their names durable;
    /// 2. the new manifest is written the same way and the directory synced: the commit;
    /// 3. the log is reset (a new, synced file renamed over it); its name is synced by the next
    ///    directory sync, at the latest before a record appended to it is promised (`Wal::sync`, or
    ///    an append under [`Durability::Sync`]);
    /// 4. files no manifest names any more are removed.
    pub(super) fn seal(&self, w: &mut Writer) -> Result<()> {
        let state = self.snapshot();
        let dirty: Vec<&Arc<Sealed>> = state
            .sealed
            .iter()
            .filter(|s| s.dirty.load(Ordering::Relaxed))
            .collect();
        let unsealed_rows = state.unsealed.segment_rows();
        if unsealed_rows == 0 && dirty.is_empty() && w.wal.is_empty() && !w.unconfirmed {
            // Nothing to seal. A log that refused writes after an I/O error (a full disk) holds
            // no acknowledged record (`is_empty`), so a reset makes it writable again.
            if w.wal.is_poisoned() {
                let next_lsn = w.wal.next_lsn();
                w.wal.reset(next_lsn)?;
            }
            return Ok(());
        }
        let vfs = &*self.vfs;
        let mut next = w.manifest.clone();
        next.generation += 1;
        next.flushed_lsn = w.wal.last_lsn().max(next.flushed_lsn);
        next.schema = self.schema.read().clone();
        let mut created = Vec::new();
        let mut replaced = Vec::new();
        // 1. The new files, each synced, and their names, with one directory sync.
        let written = (|| {
            for s in &dirty {
                let name = tombstones_file_name(s.entry.id, next.generation);
                created.push(name.clone());
                let words = s.words();
                write_tombstones(
                    vfs,
                    &self.dir.join(&name),
                    &words,
                    s.entry.rows,
                    DirSync::Caller,
                )?;
                let e = next
                    .segments
                    .iter_mut()
                    .find(|e| e.id == s.entry.id)
                    .expect("a sealed segment is in the manifest");
                replaced.extend(e.tombstones.replace(name));
                e.deleted = s.dead_count.load(Ordering::Relaxed) as u64;
            }
            let mut new_segment = None;
            if !state.unsealed.is_empty() {
                created.push(segment_file_name(next.next_segment_id));
                let entry = self.write_new_segment(&state.unsealed, &mut next)?;
                next.segments.push(entry.clone());
                new_segment = Some(Arc::new(Sealed::open(vfs, &self.dir, entry)?));
            }
            if !created.is_empty() {
                sync_dir(vfs, &self.dir)?;
                w.wal.names_synced();
            }
            Ok::<_, Error>(new_segment)
        })();
        let new_segment = match written {
            Ok(s) => s,
            Err(e) => {
                remove_files(vfs, &self.dir, &created);
                return Err(e);
            }
        };
        // 2.–4. The commit, the log reset, the removals.
        let mut sealed = state.sealed.clone();
        sealed.extend(new_segment);
        let next_state = State {
            unsealed: Arc::new(new_unsealed(&self.options.index, &next.schema)?),
            sealed,
            generation: next.generation,
        };
        let adopted = || {
            for s in &dirty {
                s.dirty.store(false, Ordering::Relaxed);
            }
        };
        self.commit(w, next, next_state, &created, replaced, adopted)
    }

    /// Steps 2 to 4 of the protocol of [`Collection::seal`] (and of a compaction): commits
    /// `next` (`created`: the files step 1 wrote, removed when the commit fails before its
    /// rename), then goes on with `state` (`adopted` runs first), resets the log and removes
    /// `replaced`, the files only the old manifest names.
    pub(super) fn commit(
        &self,
        w: &mut Writer,
        next: Manifest,
        state: State,
        created: &[String],
        replaced: Vec<String>,
        adopted: impl FnOnce(),
    ) -> Result<()> {
        let vfs = &*self.vfs;
        // The directory sync is needed whatever the caller promises: the log's reset below must
        // not reach the disk before it (an old manifest with a new log would lose the sealed
        // records while keeping later ones: not a prefix), nor the removals.
        let committed = next.write(vfs, &self.dir, DirSync::Now);
        if let Err(ReplaceError {
            error,
            uncertain: false,
        }) = committed
        {
            remove_files(vfs, &self.dir, created);
            return Err(error);
        }
        if committed.is_ok() {
            w.wal.names_synced();
        }
        // Committed, or perhaps committed: either way the new state is the one to go on with.
        adopted();
        *self.state.write() = Arc::new(state);
        w.manifest = next;
        w.garbage.extend(replaced);
        if let Err(e) = committed {
            // The rename or the directory sync failed: the old manifest or the new one may be
            // the durable one. Both stay usable: keep the log (the old manifest needs its
            // records) and every file; the next commit decides.
            w.unconfirmed = true;
            return Err(e.error);
        }
        w.unconfirmed = false;
        // 3. The log's records are all in segments now.
        let next_lsn = w.wal.next_lsn();
        w.wal.reset(next_lsn)?;
        // 4. Nothing names the replaced files any more. Mapped segments stay readable after
        // their files are removed (the mapping holds them): searches on an older state finish.
        remove_files(vfs, &self.dir, &std::mem::take(&mut w.garbage));
        Ok(())
    }

    /// Step 1's segment: `index` written as the next segment of `next` (its id taken from
    /// `next_segment_id`), synced; its name is synced by the caller with the other new files.
    pub(super) fn write_new_segment(
        &self,
        index: &Index,
        next: &mut Manifest,
    ) -> Result<SegmentEntry, ReplaceError> {
        let id = next.next_segment_id;
        next.next_segment_id += 1;
        let file = segment_file_name(id);
        let bytes = index.save_quantized(
            self.deferred(),
            &self.dir.join(&file),
            self.options.index.quantization,
            self.options.index.layout,
        )?;
        Ok(SegmentEntry {
            id,
            file,
            rows: index.segment_rows() as u64,
            bytes,
            tombstones: None,
            deleted: 0,
        })
    }

    /// How the collection writes a new file: on its file system, the directory synced by the
    /// caller once for all the files of a seal or compaction.
    pub(super) fn deferred(&self) -> Replacement<'_> {
        Replacement {
            vfs: &*self.vfs,
            dir_sync: DirSync::Caller,
        }
    }

    /// Rewrites every segment into one: rebuilds the graph over the live rows only (those of the
    /// sealed segments and of the in-memory one), so deleted and superseded rows stop costing
    /// memory, disk and search time. The in-memory rows are sealed into the new segment on the
    /// way (one segment file is written, not two). Writes wait while it runs; searches don't.
    /// When no sealed segment has anything to drop, this is a [`Collection::flush`] without
    /// the compaction check.
    ///
    /// # Errors
    /// [`Error::ReadOnly`], [`Error::Io`]; on an error the collection stays as it was.
    pub fn compact(&self) -> Result<()> {
        let writer = self.writer()?;
        let mut w = writer.lock();
        self.compact_locked(&mut w)
    }

    /// The protocol of [`Collection::seal`], with one new segment replacing every file.
    pub(super) fn compact_locked(&self, w: &mut Writer) -> Result<()> {
        let state = self.snapshot();
        if state.sealed.len() <= 1
            && state
                .sealed
                .iter()
                .all(|s| s.dead_count.load(Ordering::Relaxed) == 0 && !s.index.has_deletes())
        {
            return self.seal(w);
        }
        let vfs = &*self.vfs;
        let dim = self.options.index.dim;
        let mut ids = Vec::new();
        let mut rows = Vec::new();
        let mut payloads = Vec::new();
        for s in &state.sealed {
            for id in s.index.ids() {
                if let Some(slot) = s.live_slot(id) {
                    ids.push(id);
                    rows.extend_from_slice(&s.index.get(id)?);
                    payloads.push(s.index.payload_of_slot(slot)?);
                }
            }
        }
        for id in state.unsealed.ids() {
            ids.push(id);
            rows.extend_from_slice(&state.unsealed.get(id)?);
            payloads.push(state.unsealed.payload(id)?);
        }
        debug_assert_eq!(rows.len(), ids.len() * dim);
        let schema = self.schema.read().clone();
        let rebuilt = new_unsealed(&self.options.index, &schema)?;
        rebuilt.add_batch_with_payloads(&ids, &rows, &payloads)?;
        drop(rows);
        drop(payloads);
        let mut next = w.manifest.clone();
        next.generation += 1;
        next.flushed_lsn = w.wal.last_lsn().max(next.flushed_lsn);
        next.schema = schema;
        let old: Vec<String> = next.file_names().map(str::to_owned).collect();
        let path = self.dir.join(segment_file_name(next.next_segment_id));
        // 1. The new segment, synced, and its name.
        let written = (|| {
            let entry = self.write_new_segment(&rebuilt, &mut next)?;
            let sealed = Sealed::open(vfs, &self.dir, entry.clone())?;
            sync_dir(vfs, &self.dir)?;
            w.wal.names_synced();
            Ok::<_, Error>((entry, sealed))
        })();
        let (entry, sealed) = match written {
            Ok(done) => done,
            Err(e) => {
                let _ = vfs.remove(&path);
                return Err(e);
            }
        };
        next.segments = vec![entry];
        let next_state = State {
            unsealed: Arc::new(new_unsealed(&self.options.index, &next.schema)?),
            sealed: vec![Arc::new(sealed)],
            generation: next.generation,
        };
        let created = [next.segments[0].file.clone()];
        self.commit(w, next, next_state, &created, old, || {})
    }
}

/// Removes files no manifest names any more (best effort: a leftover is removed at the next open).
pub(super) fn remove_files(vfs: &dyn Vfs, dir: &Path, names: &[String]) {
    for name in names {
        let _ = vfs.remove(&dir.join(name));
    }
}
