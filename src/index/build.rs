//! Adding vectors: validation, normalisation, encoding into the storage, and the parallel insert
//! on the CPU level and metric chosen once per batch.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::Index;
use crate::base::hash::splitmix64;
use crate::base::options::{QuantScheme, Quantization, MAX_LEVEL};
use crate::base::view::{GraphView, RowView};
use crate::distance::{self, VectorDistance, WithDistance};
use crate::error::{Error, Result};
use crate::hnsw::{Builder, Storage};
use crate::payload::Payload;
use crate::quant::{with_kernels, Codec, FloatScorer, Kernels, SqCodec, WithKernels};
use crate::segment::code_row_width;
use crate::simd::Level;

/// Smallest batch whose build searches for candidates on temporary 8-bit codes ([`BuildCodes`];
/// measured in `docs/benchmarks.md`).
pub(super) const BUILD_ON_CODES_MIN_BATCH: usize = 20_000;

impl Index {
    /// Adds one vector.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`], [`Error::InvalidVector`] (NaN, infinity, or a zero vector under
    /// cosine), [`Error::DuplicateId`], [`Error::CapacityExceeded`], [`Error::ReadOnly`].
    pub fn add(&self, id: u64, vector: &[f32]) -> Result<()> {
        self.add_batch(&[id], vector)
    }

    /// Adds `ids.len()` vectors (`vectors` holds them row after row), linking them in parallel on
    /// the rayon thread pool. All-or-nothing for validation: if any id is a duplicate or any vector
    /// invalid, nothing is added.
    ///
    /// # Errors
    /// As [`Index::add`], plus [`Error::InvalidParameter`] when `vectors.len()` is not
    /// `ids.len() × dim`.
    pub fn add_batch(&self, ids: &[u64], vectors: &[f32]) -> Result<()> {
        self.add_batch_with_progress(ids, vectors, &|_, _| {})
    }

    /// [`Index::add_batch`] that calls `progress(done, total)` now and then (every few hundred
    /// inserts, from any thread) — for progress bars.
    ///
    /// # Errors
    /// As [`Index::add_batch`].
    pub fn add_batch_with_progress(
        &self,
        ids: &[u64],
        vectors: &[f32],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<()> {
        self.add_rows(ids, vectors, None, progress)
    }

    /// The add of every `add_*` method: `payloads`, when given, has one payload per id.
    pub(super) fn add_rows(
        &self,
        ids: &[u64],
        vectors: &[f32],
        payloads: Option<&[Payload]>,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<()> {
        let mem = self.writable("add vectors")?;
        self.check_batch(ids, vectors)?;
        if let Some(p) = payloads.filter(|p| p.len() != ids.len()) {
            return Err(Error::invalid_parameter(
                "payloads",
                format!("{} payloads for {} ids", p.len(), ids.len()),
            ));
        }
        if ids.is_empty() {
            return Ok(());
        }
        let prepared = self.prepare_vectors(vectors)?;
        let rows = prepared.as_deref().unwrap_or(vectors);
        let _writer = mem.writer.lock();
        // The graph is about to change: searches go back to the code rows until it is repacked.
        *mem.fast_scan.write() = None;
        *mem.groups.write() = None;
        {
            let map = mem.ids.read();
            let mut seen = HashSet::with_capacity(ids.len());
            if let Some(&id) = ids
                .iter()
                .find(|&&id| map.contains_key(&id) || !seen.insert(id))
            {
                return Err(Error::DuplicateId { id });
            }
        }
        // The payloads' checks (limits, types against the schema) come before any write.
        let schema = match payloads {
            Some(p) => mem.payloads.read().schema().extended(p)?,
            None => None,
        };
        let st = mem.reserve(ids.len())?;
        let start = st.len();
        if let Some(p) = payloads {
            // Before the rows are published: a search that sees a row sees its payload.
            let mut live = mem.payloads.write();
            if let Some(schema) = schema {
                live.set_schema(schema);
            }
            for (i, p) in p.iter().enumerate() {
                live.push((start + i) as u32, p);
            }
        }
        self.write_slots(mem, &st, start, ids, rows);
        {
            let mut map = mem.ids.write();
            map.reserve(ids.len());
            for (i, &id) in ids.iter().enumerate() {
                map.insert(id, (start + i) as u32);
            }
        }
        let total = ids.len();
        // A bulk build (a large batch, at least as large as what is already there) searches for
        // candidates on temporary 8-bit codes; small additions to a large index would pay more to
        // encode the index than they save.
        let codes = (total >= BUILD_ON_CODES_MIN_BATCH && 2 * total >= start + total)
            .then(|| BuildCodes::encode(&st, start + total, self.options.metric, rows))
            .flatten();
        // Recall-target hook (issue 17, calibrate.rs): a bulk batch holds back a sample of its
        // rows, links the others, calibrates on the held-back rows, then links them.
        let held = held_back(self, start, total, st.entry().is_none());
        let link = |slots: &[u32], done: usize| {
            with_kernels(
                Level::best(),
                Link {
                    index: self,
                    st: &st,
                    entry_lock: &mem.entry_lock,
                    slots,
                    done,
                    total,
                    codes: codes.as_ref(),
                    progress,
                },
            )
        };
        let first: Vec<u32> = (start as u32..(start + total) as u32)
            .filter(|s| held.binary_search(s).is_err())
            .collect();
        link(&first, 0);
        if !held.is_empty() {
            self.calibrate_held_back(mem, &st, &held);
            link(&held, first.len());
        }
        progress(total, total);
        Ok(())
    }

    /// Writes the rows of a batch into slots `start..` (training the codec on the first batch of a
    /// quantized index) and publishes them; linking follows.
    fn write_slots(
        &self,
        mem: &super::Memory,
        st: &Storage,
        start: usize,
        ids: &[u64],
        rows: &[f32],
    ) {
        let dim = self.options.dim;
        if mem.codec.get().is_none() {
            if let Some(codec) = Codec::train(&self.options, rows) {
                let _ = mem.codec.set(codec);
            }
        }
        // Codes kept per row (RaBitQ's blocks keep none: they are packed from the vectors).
        let code_bytes = code_row_width(&self.options);
        let codec = mem.codec.get().filter(|_| code_bytes > 0);
        rows.par_chunks(dim)
            .zip(ids.par_iter())
            .enumerate()
            .for_each_init(
                || vec![0u8; code_bytes],
                |code, (i, (v, &id))| {
                    let slot = start + i;
                    if let Some(codec) = codec {
                        codec.encode(v, code);
                    }
                    let code = codec.map(|_| code.as_slice());
                    st.write_slot(slot, v, code, id, self.draw_level(slot));
                },
            );
        st.publish_len(start + ids.len());
    }

    /// Checks a batch as [`Index::add_batch`] would (shape, finite components, non-zero under
    /// cosine) without adding it.
    pub(crate) fn check_batch(&self, ids: &[u64], vectors: &[f32]) -> Result<()> {
        let dim = self.options.dim;
        if vectors.len() != ids.len() * dim {
            return Err(if ids.len() == 1 {
                Error::DimensionMismatch {
                    expected: dim,
                    got: vectors.len(),
                }
            } else {
                Error::invalid_parameter(
                    "vectors",
                    format!(
                        "expected {} ids × {dim} = {} values, got {}",
                        ids.len(),
                        ids.len() * dim,
                        vectors.len()
                    ),
                )
            });
        }
        if let Some(pos) = vectors.iter().position(|x| !x.is_finite()) {
            return Err(Error::InvalidVector {
                reason: format!(
                    "row {} component {} is {}",
                    pos / dim,
                    pos % dim,
                    vectors[pos]
                ),
            });
        }
        if self.options.metric.normalizes() {
            if let Some(row) = vectors
                .chunks_exact(dim)
                .position(|v| v.iter().all(|&x| x == 0.0))
            {
                return Err(Error::InvalidVector {
                    reason: format!("row {row} has zero norm and cannot be normalised for cosine"),
                });
            }
        }
        Ok(())
    }

    /// Normalises under cosine (the batch is already checked). Returns a copy only when it changed
    /// something.
    fn prepare_vectors(&self, vectors: &[f32]) -> Result<Option<Vec<f32>>> {
        if !self.options.metric.normalizes() {
            return Ok(None);
        }
        let mut copy = vectors.to_vec();
        for (row, v) in copy.chunks_exact_mut(self.options.dim).enumerate() {
            if !distance::normalize(v) {
                return Err(Error::InvalidVector {
                    reason: format!("row {row} has zero norm and cannot be normalised for cosine"),
                });
            }
        }
        Ok(Some(copy))
    }

    /// The level of the node in `slot`: `⌊−ln(u)·mL⌋` with `u` uniform in (0, 1] drawn from a hash
    /// of the seed and the slot, so levels do not depend on thread scheduling.
    pub(super) fn draw_level(&self, slot: usize) -> usize {
        let h = splitmix64(self.options.seed ^ splitmix64(slot as u64));
        let u = ((h >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let level_mult = 1.0 / (self.options.m as f64).ln();
        ((-u.ln() * level_mult) as usize).min(MAX_LEVEL)
    }
}

/// Links the written slots of one batch into the graph, on one CPU level (the job of
/// [`with_kernels`]), then with the metric's distance.
struct Link<'a> {
    index: &'a Index,
    st: &'a Storage,
    entry_lock: &'a parking_lot::Mutex<()>,
    /// The slots to link, ascending.
    slots: &'a [u32],
    /// Slots of the batch linked before these, and all of the batch (for `progress`).
    done: usize,
    total: usize,
    codes: Option<&'a BuildCodes>,
    progress: &'a (dyn Fn(usize, usize) + Sync),
}

impl WithKernels for Link<'_> {
    type Output = ();

    fn run<K: Kernels>(self, k: K) {
        let metric = self.index.options.metric;
        metric.with_distance(k, LinkWith { link: self, k });
    }
}

/// [`Link`] once the distance is chosen.
struct LinkWith<'a, K> {
    link: Link<'a>,
    k: K,
}

impl<K: Kernels> WithDistance for LinkWith<'_, K> {
    type Output = ();

    fn run<D: VectorDistance>(self, distance: D) {
        let Link {
            index,
            st,
            entry_lock,
            slots,
            done,
            total,
            codes,
            progress,
        } = self.link;
        let builder = Builder::new(st, distance, entry_lock);
        let ef_c = index.options.ef_construction;
        let vectors = st.vectors();
        let dim = st.dim;
        let insert = |slot: u32| match codes {
            Some(codes) => {
                let query = codes.codec.prepare(&vectors.row(slot)[..dim]);
                let scorer = query.sq8(codes.rows(), self.k).expect("8-bit build codes");
                builder.insert(slot, &scorer, true, ef_c);
            }
            None => {
                let scorer = FloatScorer::new(vectors.row(slot), vectors, distance);
                builder.insert(slot, &scorer, false, ef_c);
            }
        };
        let done = AtomicUsize::new(done);
        let mut rest = slots;
        if st.entry().is_none() {
            if let Some((&first, others)) = slots.split_first() {
                insert(first);
                rest = others;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }
        rest.par_iter().for_each(|&slot| {
            insert(slot);
            let d = done.fetch_add(1, Ordering::Relaxed) + 1;
            if d.is_multiple_of(256) {
                progress(d, total);
            }
        });
    }
}

/// Temporary 8-bit codes of every node, for the beam searches of a bulk build: at 4× fewer bytes
/// than the f32 rows they stay in cache where the vectors do not. Only the search for candidates
/// reads them; the neighbour selection and the links use exact distances.
struct BuildCodes {
    codec: SqCodec,
    /// One row per node (`row_bytes` each), for every node a build can reach.
    rows: Vec<u8>,
    row_bytes: usize,
}

impl BuildCodes {
    /// Encodes nodes `0..nodes` of `st` (in parallel) with an 8-bit codec trained on `sample`.
    fn encode(st: &Storage, nodes: usize, metric: crate::Metric, sample: &[f32]) -> Option<Self> {
        let dim = st.dim;
        let codec = SqCodec::train(
            Quantization::Sq8,
            QuantScheme::PerVector,
            metric,
            dim,
            sample,
        )?;
        let row_bytes = SqCodec::row_bytes(8, dim);
        let vectors = st.vectors();
        let mut rows = vec![0u8; nodes * row_bytes];
        rows.par_chunks_mut(row_bytes)
            .enumerate()
            .for_each(|(i, row)| codec.encode(&vectors.row(i as u32)[..dim], row));
        Some(BuildCodes {
            codec,
            rows,
            row_bytes,
        })
    }

    fn rows(&self) -> RowView<'_, u8> {
        RowView::from_slice(&self.rows, self.row_bytes)
    }
}

/// The rows of a batch of `total` at slot `start` held back for the calibration (ascending): a
/// seeded draw of up to [`calibrate::SAMPLES`](super::calibrate::SAMPLES) (and at most an eighth)
/// of a batch of at least [`CALIBRATE_MIN_BATCH`] rows that leaves the index without a current
/// calibration (none yet, or one the batch makes stale: see [`Index::calibrate`]); none
/// otherwise. The first row of an empty index is never held (it becomes the entry point).
fn held_back(index: &Index, start: usize, total: usize, empty: bool) -> Vec<u32> {
    let current = index.calibration().is_some_and(|c| !index.is_stale(&c));
    if total < CALIBRATE_MIN_BATCH || current {
        return Vec::new();
    }
    let from = start as u32 + u32::from(empty);
    let slots = from..(start + total) as u32;
    let n = super::calibrate::SAMPLES.min(total / 8);
    let mut held = super::calibrate::draw(slots, index.options.seed ^ 0x5ca1_ab1e, n);
    held.sort_unstable();
    held
}

/// Smallest batch calibrated while it is built ([`held_back`]).
pub(super) const CALIBRATE_MIN_BATCH: usize = 1000;
