//! Opening a collection: the writer's open (lock, manifest, segments, log replay), the
//! read-only open, and a reader's refresh onto the newest manifest.

use super::*;

impl Collection {
    /// Opens the collection in `dir` for writing, creating the directory and the collection when
    /// absent. Replays the write-ahead log: every acknowledged write is back, a torn last record
    /// is cut.
    ///
    /// # Errors
    /// [`Error::Locked`] when another writer holds it; [`Error::InvalidParameter`] when `dim` or
    /// `metric` differ from the stored collection's, or for bad options; [`Error::Corrupt`],
    /// [`Error::UnsupportedVersion`], [`Error::Io`] for damaged or unreadable files.
    pub fn open(dir: impl AsRef<Path>, options: CollectionOptions) -> Result<Collection> {
        Collection::open_on(Arc::new(RealFs), dir.as_ref(), options)
    }

    /// [`Collection::open`] on `vfs` (the real file system, or a simulated disk in tests).
    pub(crate) fn open_on(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        options: CollectionOptions,
    ) -> Result<Collection> {
        let dir = dir.to_path_buf();
        if options.seal_rows == 0 {
            return Err(Error::invalid_parameter("seal_rows", "must be at least 1"));
        }
        Index::new(options.index.clone())?;
        vfs.create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let lock = WriterLock::acquire(&*vfs, &dir)?;
        remove_temp_files(&*vfs, &dir)?;
        let manifest = match Manifest::read(&*vfs, &dir)? {
            Some(m) => {
                if m.options.dim != options.index.dim || m.options.metric != options.index.metric {
                    return Err(Error::invalid_parameter(
                        "options",
                        format!(
                            "the collection in {} has dim {} and metric {}, not {} and {}",
                            dir.display(),
                            m.options.dim,
                            m.options.metric,
                            options.index.dim,
                            options.index.metric
                        ),
                    ));
                }
                m
            }
            None => {
                // A new collection. The manifest's name is made durable by the directory sync
                // that creates the log below; a crash before it leaves no manifest (or no log),
                // which is a collection not created yet: nothing was acknowledged.
                let m = Manifest::new(options.index.clone());
                m.write(&*vfs, &dir, DirSync::Caller)?;
                m
            }
        };
        let options = CollectionOptions {
            index: manifest.options.clone(),
            ..options
        };
        let declared = options.schema.clone();
        remove_unnamed_files(&*vfs, &dir, &manifest)?;
        let sealed = open_segments(&*vfs, &dir, &manifest)?;
        let (mut wal, records) = Wal::open_on(
            vfs.clone(),
            &dir.join(WAL_FILE),
            manifest.options.dim,
            options.durability,
        )?;
        if wal.next_lsn() <= manifest.flushed_lsn {
            wal.reset(manifest.flushed_lsn + 1)?;
        }
        if !manifest.schema.is_empty() || !declared.is_empty() {
            wal.write_payloads();
        }
        // The stored fields, then those of the records to replay (acknowledged writes), then the
        // declared ones, which must agree.
        let mut schema = manifest.schema.clone();
        for (lsn, record) in &records {
            if let (
                WalRecord::Upsert {
                    payloads: Some(p), ..
                },
                true,
            ) = (record, *lsn > manifest.flushed_lsn)
            {
                if let Some(next) = schema.extended(p)? {
                    schema = next;
                }
            }
        }
        schema
            .merge(&declared)
            .map_err(|e| Error::invalid_parameter("schema", e.to_string()))?;
        let collection = Collection {
            state: RwLock::new(Arc::new(State {
                unsealed: Arc::new(new_unsealed(&options.index, &schema)?),
                sealed,
                generation: manifest.generation,
            })),
            schema: RwLock::new(schema),
            writer: Some(Mutex::new(Writer {
                _lock: lock,
                wal,
                manifest,
                unconfirmed: false,
                garbage: Vec::new(),
            })),
            vfs,
            dir,
            options,
            quality: Default::default(),
        };
        let flushed = collection.writer()?.lock().manifest.flushed_lsn;
        for (lsn, record) in records {
            if lsn > flushed {
                collection.apply(&record)?;
            }
        }
        Ok(collection)
    }

    /// Opens the collection in `dir` for reading only, beside a writer if there is one: it sees
    /// the state of the last flush (not the writer's unsealed rows); [`Collection::refresh`]
    /// catches up with later flushes.
    ///
    /// # Errors
    /// [`Error::Io`] when there is no collection in `dir`; as [`Collection::open`] for damaged
    /// files.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Collection> {
        Collection::open_read_only_on(Arc::new(RealFs), dir.as_ref())
    }

    /// [`Collection::open_read_only`] on `vfs`.
    pub(crate) fn open_read_only_on(vfs: Arc<dyn Vfs>, dir: &Path) -> Result<Collection> {
        let dir = dir.to_path_buf();
        let (manifest, sealed) = read_flushed_state(&*vfs, &dir)?;
        let mut options = CollectionOptions::new(manifest.options.dim, manifest.options.metric);
        options.index = manifest.options.clone();
        Ok(Collection {
            state: RwLock::new(Arc::new(State {
                unsealed: Arc::new(new_unsealed(&options.index, &manifest.schema)?),
                sealed,
                generation: manifest.generation,
            })),
            schema: RwLock::new(manifest.schema.clone()),
            writer: None,
            vfs,
            dir,
            options,
            quality: Default::default(),
        })
    }

    /// The index options stored in the collection in `dir` (its dimension, metric, quantization,
    /// `m`, …), or `None` when `dir` holds no collection. Reads and checks only the manifest: no
    /// lock is taken and no segment is opened, so it works beside a writer. This is how a caller
    /// that does not know a collection's dimension can open it again.
    ///
    /// ```
    /// use stratavec::{Collection, CollectionOptions, Metric};
    ///
    /// let dir = tempfile::tempdir()?;
    /// assert_eq!(Collection::stored_options(dir.path())?, None);
    /// drop(Collection::open(dir.path(), CollectionOptions::new(3, Metric::Cosine))?);
    /// let stored = Collection::stored_options(dir.path())?.expect("a collection");
    /// assert_eq!((stored.dim, stored.metric), (3, Metric::Cosine));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Corrupt`] or [`Error::UnsupportedVersion`] for a damaged or newer manifest;
    /// [`Error::Io`] when it cannot be read.
    pub fn stored_options(dir: impl AsRef<Path>) -> Result<Option<IndexOptions>> {
        Ok(Manifest::read(&RealFs, dir.as_ref())?.map(|m| m.options))
    }

    /// For a read-only collection: reloads the segments when a writer flushed since the open.
    /// (For a writer it does nothing.) A writer that replaces files while this reads is
    /// followed: the manifest is read again until the files it names are there.
    ///
    /// # Errors
    /// As [`Collection::open_read_only`].
    pub fn refresh(&self) -> Result<()> {
        if self.writer.is_some() {
            return Ok(());
        }
        let (manifest, sealed) = read_flushed_state(&*self.vfs, &self.dir)?;
        *self.schema.write() = manifest.schema.clone();
        let mut state = self.state.write();
        *state = Arc::new(State {
            unsealed: state.unsealed.clone(),
            sealed,
            generation: manifest.generation,
        });
        Ok(())
    }
}

pub(super) fn open_segments(
    vfs: &dyn Vfs,
    dir: &Path,
    manifest: &Manifest,
) -> Result<Vec<Arc<Sealed>>> {
    manifest
        .segments
        .iter()
        .map(|e| Sealed::open(vfs, dir, e.clone()).map(Arc::new))
        .collect()
}

/// The manifest and segments as last flushed. A writer may replace files between reading the
/// manifest and opening them; then the manifest is read again, for as long as it changes (each
/// change is a commit of the writer's: progress). The same manifest naming a missing file is an
/// error.
pub(super) fn read_flushed_state(
    vfs: &dyn Vfs,
    dir: &Path,
) -> Result<(Manifest, Vec<Arc<Sealed>>)> {
    let read = || {
        Manifest::read(vfs, dir)?.ok_or_else(|| {
            Error::io(
                dir.join(manifest::MANIFEST_FILE),
                std::io::Error::new(std::io::ErrorKind::NotFound, "no collection here"),
            )
        })
    };
    let mut manifest = read()?;
    loop {
        match open_segments(vfs, dir, &manifest) {
            Ok(sealed) => return Ok((manifest, sealed)),
            Err(Error::Io { path, source }) if source.kind() == std::io::ErrorKind::NotFound => {
                let again = read()?;
                if again == manifest {
                    return Err(Error::Io { path, source });
                }
                manifest = again;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Removes segment and bitmap files the manifest does not name (left by a flush or compaction
/// that crashed before its commit). Only the writer calls it. Not synced: an orphan that comes
/// back after a crash is removed again, and its name is only reused under a new manifest.
pub(super) fn remove_unnamed_files(vfs: &dyn Vfs, dir: &Path, manifest: &Manifest) -> Result<()> {
    let named: std::collections::HashSet<&str> = manifest.file_names().collect();
    for name in vfs.list(dir).map_err(|e| Error::io(dir, e))? {
        let Some(name) = name.to_str() else { continue };
        let ours = name.starts_with("seg-") && (name.ends_with(".svs") || name.ends_with(".del"));
        if ours && !named.contains(name) {
            let path = dir.join(name);
            vfs.remove(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}
