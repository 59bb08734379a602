//! RaBitQ in an index: the trained codec (a rotation and the data's mean), the compact rows, the
//! one-visit blocks, and the scorers a search walks them with. The codes themselves, their
//! estimator and kernels are [`super::rabitq`]'s.
//!
//! **Compact rows** ([`Layout::Compact`]): one row per vector, coded against the data's mean:
//! `[1-bit row: D/8 + 12][extended row: D·B/8 + 12, when B ≥ 2]`. The walk scores the 1-bit code
//! ([`RqRowScorer`]); when its lower bound says the vector could enter the beam and the index has
//! extended codes, it scores those too (the second stage), so a neighbour that cannot enter costs
//! one cache line.
//!
//! **One-visit blocks** ([`Layout::FastScan`], SymphonyQG's layout): per node, its level-0
//! neighbours' 1-bit codes **coded against the node itself** in fast-scan batches of 32, their
//! ids, and the node's own vector (f32 when `B` = 0, else its `B`-bit extended code against the
//! mean). Visiting a node is one sequential read: the node's own distance (exact for f32), then
//! every neighbour's estimate and lower bound from one kernel call per batch ([`RqBlocks`]).
//!
//! Block of node `u` (fixed stride, a multiple of 64 bytes; `S` = `2·m` rounded up to 32):
//!
//! | offset | bytes | what |
//! |---|---|---|
//! | 0 | 4 | `count`: neighbours in the block (`u32` LE, at most `S`) |
//! | 4 | 4 | `‖u‖²` (`f32` LE; the inner product's centroid terms need it) |
//! | 8 | 56 | zero |
//! | 64 | `4·stride` or `D·B/8 + 12`, padded to 64 | the node's vector (padded to 16 floats), or its extended row |
//! | `ids` | 4·S | neighbour ids (`u32` LE; slots past `count` are 0) |
//! | `ids` + 4·S | `S/32 · (4D + 384)` | the batches: codes of the residuals `P(v − u)`, then `add`, `rescale`, `error` × 32 |
//!
//! The parts come in the order a visit reads them (the node's own distance first: the
//! neighbours' estimates need it), so one visit is one forward stream the hardware prefetcher
//! follows.

use rayon::prelude::*;

use super::rabitq::{
    self, fastscan, CentroidTerms, PreparedQuery, RabitqCodec, RabitqKernels, Rotation, Space,
    BATCH, DEFAULT_EPSILON,
};
use super::scorer::{Scorer, VisitScorer};
use crate::base::bytes::{ByteReader, ByteWriter};
use crate::base::options::{IndexOptions, Layout, Quantization, MAX_LINKS};
use crate::base::prefetch::{prefetch_bytes, prefetch_lines, LINE_BYTES};
use crate::base::view::RowView;
use crate::distance::VectorDistance;

/// The `ε₀` of the bound that lets a compact row skip its extended code: wider than
/// `DEFAULT_EPSILON` (1.9: the lower bound fails for about 3 % of vectors) because a wrongly
/// skipped neighbour is lost to the walk; at 2.5 it fails for about 0.6 % (measured on
/// wordllama-sent-256-ip: +0.002 Recall@10 at ef 64 over 1.9, within noise of no pruning).
const ROW_PRUNE_EPSILON: f32 = 2.5;

/// Most rows the mean is trained on (evenly spaced).
const MAX_TRAINING_ROWS: usize = 100_000;

/// Bytes before the neighbour ids in a block.
const BLOCK_HEADER: usize = 64;

/// Rotated vectors are computed once for a whole pack when they take at most this many bytes;
/// past it, each block rotates its neighbours itself (slower, no extra memory).
const MAX_ROTATED_BYTES: usize = 2 << 30;

/// A trained RaBitQ codec: the rotation, the mean, the extended bits and the layout.
#[derive(Clone, Debug)]
pub(crate) struct RqCodec {
    codec: RabitqCodec,
    bits: u32,
    layout: Layout,
    mean: Vec<f32>,
    mean_rot: Vec<f32>,
}

/// The sizes of an index's blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RqBlockShape {
    /// The padded (rotated) dimension `D`.
    pub padded: usize,
    /// Neighbour slots per block: `2·m` rounded up to 32.
    pub slots: usize,
    /// Floats of the node's own vector (the vector rows' stride), when it is stored as f32.
    pub vector_floats: usize,
    /// Bits of the node's own extended code (0: it is stored as f32).
    pub own_bits: u32,
    /// Bytes of one block.
    pub stride: usize,
}

impl RqBlockShape {
    fn batches(&self) -> usize {
        self.slots / BATCH
    }

    fn own_at(&self) -> usize {
        BLOCK_HEADER
    }

    fn ids_at(&self) -> usize {
        (self.own_at() + self.own_bytes()).next_multiple_of(LINE_BYTES)
    }

    fn batches_at(&self) -> usize {
        self.ids_at() + 4 * self.slots
    }

    fn own_bytes(&self) -> usize {
        if self.own_bits == 0 {
            4 * self.vector_floats
        } else {
            rabitq::extended::row_bytes(self.padded, self.own_bits)
        }
    }

    /// Bytes of the blocks of `nodes` nodes.
    pub(crate) fn bytes(&self, nodes: usize) -> usize {
        self.stride * nodes
    }
}

impl RqCodec {
    /// Trains on `rows` (row after row; normalised under cosine): the mean of up to 100,000
    /// evenly spaced rows, and the rotation drawn from the index's seed. `None` unless the
    /// options ask for RaBitQ.
    pub(crate) fn train(options: &IndexOptions, rows: &[f32]) -> Option<RqCodec> {
        let Quantization::RaBitQ { bits } = options.quantization else {
            return None;
        };
        let dim = options.dim;
        let n = rows.len() / dim;
        let step = n.div_ceil(MAX_TRAINING_ROWS).max(1);
        let mut sum = vec![0f64; dim];
        let mut count = 0usize;
        for r in rows.chunks_exact(dim).step_by(step) {
            sum.iter_mut().zip(r).for_each(|(s, &x)| *s += f64::from(x));
            count += 1;
        }
        let mean = sum
            .iter()
            .map(|s| (s / count.max(1) as f64) as f32)
            .collect();
        let codec = RabitqCodec::new(dim, options.metric, options.seed).ok()?;
        Some(RqCodec::with_parts(
            codec,
            u32::from(bits),
            options.layout,
            mean,
        ))
    }

    fn with_parts(codec: RabitqCodec, bits: u32, layout: Layout, mean: Vec<f32>) -> RqCodec {
        let mean_rot = codec.rotation().rotate_vec(&mean);
        RqCodec {
            codec,
            bits,
            layout,
            mean,
            mean_rot,
        }
    }

    /// The layout the codec was trained for.
    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }

    /// Whether a search's results carry exact distances (blocks with f32 vectors), so no
    /// reranking is needed.
    pub(crate) fn exact_results(&self) -> bool {
        self.layout == Layout::FastScan && self.bits == 0
    }

    /// Bytes of one compact row for these options (0 for the block layout, which has none).
    pub(crate) fn row_bytes(options: &IndexOptions) -> usize {
        let Quantization::RaBitQ { bits } = options.quantization else {
            return 0;
        };
        if options.layout != Layout::Compact {
            return 0;
        }
        let padded = rabitq::rotation::padded_dim(options.dim);
        let ex = match bits {
            0 => 0,
            b => rabitq::extended::row_bytes(padded, u32::from(b)),
        };
        rabitq::binary::row_bytes(padded) + ex
    }

    /// Encodes `v` (`dim` values) into a compact row (`row_bytes` long, or longer).
    pub(crate) fn encode(&self, v: &[f32], row: &mut [u8]) {
        let rotated = self.codec.rotation().rotate_vec(v);
        self.encode_rotated(&rotated, row);
    }

    fn encode_rotated(&self, rotated: &[f32], row: &mut [u8]) {
        let b = self.codec.binary_row_bytes();
        let space = self.codec.space();
        rabitq::binary::encode_row(space, rotated, &self.mean_rot, &mut row[..b]);
        if self.bits >= 2 {
            let e = self.codec.ex_row_bytes(self.bits);
            rabitq::extended::encode_row(
                space,
                self.bits,
                rotated,
                &self.mean_rot,
                &mut row[b..b + e],
            );
        }
    }

    /// Writes the parameters: layout u8 (0 compact, 1 blocks), the rotation (a byte string),
    /// the mean (an f32 array). The bits and the metric come from the options beside them.
    pub(crate) fn write_params(&self, w: &mut ByteWriter) {
        w.u8(u8::from(self.layout == Layout::FastScan))
            .bytes(&self.codec.rotation().to_bytes())
            .f32s(&self.mean);
    }

    /// Reads parameters written by [`RqCodec::write_params`] for an index with these options;
    /// `None` when they do not fit (dimension, non-finite values, a bad rotation).
    pub(crate) fn read_params(r: &mut ByteReader<'_>, options: &IndexOptions) -> Option<RqCodec> {
        let Quantization::RaBitQ { bits } = options.quantization else {
            return None;
        };
        let layout = match r.u8()? {
            0 => Layout::Compact,
            1 => Layout::FastScan,
            _ => return None,
        };
        let rotation = Rotation::from_bytes(r.bytes()?).ok()?;
        let mean = r.f32s()?;
        if rotation.dim() != options.dim
            || rotation.padded_dim() != rabitq::rotation::padded_dim(options.dim)
            || mean.len() != options.dim
            || !mean.iter().all(|x| x.is_finite())
        {
            return None;
        }
        let codec = RabitqCodec::with_rotation(rotation, options.metric);
        Some(RqCodec::with_parts(codec, u32::from(bits), layout, mean))
    }

    /// The block shape for `m` links per upper-level node and vector rows of `vector_floats`.
    pub(crate) fn block_shape(&self, m: usize, vector_floats: usize) -> RqBlockShape {
        let padded = self.codec.padded_dim();
        let mut shape = RqBlockShape {
            padded,
            slots: (2 * m).next_multiple_of(BATCH),
            vector_floats,
            own_bits: self.bits,
            stride: 0,
        };
        shape.stride = (shape.batches_at() + shape.batches() * fastscan::batch_bytes(padded))
            .next_multiple_of(LINE_BYTES);
        shape
    }

    /// The rotated vectors of nodes `0..nodes` (in parallel), when they fit in
    /// `MAX_ROTATED_BYTES`; else `None`, and packing rotates each block's vectors itself.
    pub(crate) fn rotate_all(&self, nodes: usize, vectors: RowView<'_, f32>) -> Option<Rotated> {
        let d = self.codec.padded_dim();
        if nodes.saturating_mul(d).saturating_mul(4) > MAX_ROTATED_BYTES {
            return None;
        }
        let dim = self.codec.dim();
        let rotation = self.codec.rotation();
        let mut all = vec![0f32; nodes * d];
        all.par_chunks_exact_mut(d)
            .enumerate()
            .for_each(|(i, r)| rotation.rotate(&vectors.row(i as u32)[..dim], r));
        Some(Rotated { all, padded: d })
    }

    /// Packs the blocks of nodes `first..first + out.len() / shape.stride` into `out`, in
    /// parallel: `vectors` are the nodes' stored vectors (normalised under cosine), `rotated`
    /// their rotations if computed ([`RqCodec::rotate_all`]), `neighbours(node, buf)` writes a
    /// node's neighbour ids (each a node of `vectors`) and returns how many.
    pub(crate) fn pack_blocks(
        &self,
        shape: &RqBlockShape,
        first: usize,
        vectors: RowView<'_, f32>,
        rotated: Option<&Rotated>,
        neighbours: impl Fn(u32, &mut [u32; MAX_LINKS]) -> usize + Sync,
        out: &mut [u8],
    ) {
        let dim = self.codec.dim();
        let d = shape.padded;
        let rotation = self.codec.rotation();
        out.par_chunks_exact_mut(shape.stride)
            .enumerate()
            .for_each_init(
                || vec![0f32; d * (1 + MAX_LINKS)],
                |scratch, (i, block)| {
                    let node = (first + i) as u32;
                    let mut ids = [0u32; MAX_LINKS];
                    let count = neighbours(node, &mut ids).min(shape.slots);
                    let mut put = |id: u32, slot: usize| {
                        let to = &mut scratch[slot * d..(slot + 1) * d];
                        match rotated {
                            Some(r) => to.copy_from_slice(r.row(id)),
                            None => rotation.rotate(&vectors.row(id)[..dim], to),
                        }
                    };
                    put(node, 0);
                    for (j, &id) in ids[..count].iter().enumerate() {
                        put(id, 1 + j);
                    }
                    self.pack_block(shape, &ids[..count], scratch, vectors.row(node), block);
                },
            );
    }

    /// Writes one block: `rotated` holds the node's rotated vector, then its neighbours'.
    fn pack_block(
        &self,
        shape: &RqBlockShape,
        ids: &[u32],
        rotated: &[f32],
        vector: &[f32],
        block: &mut [u8],
    ) {
        block.fill(0);
        let d = shape.padded;
        let centre = &rotated[..d];
        let norm_sq: f32 = vector.iter().map(|x| x * x).sum();
        block[0..4].copy_from_slice(&(ids.len() as u32).to_le_bytes());
        block[4..8].copy_from_slice(&norm_sq.to_le_bytes());
        for (j, id) in ids.iter().enumerate() {
            let at = shape.ids_at() + 4 * j;
            block[at..at + 4].copy_from_slice(&id.to_le_bytes());
        }
        let bb = fastscan::batch_bytes(d);
        for b in 0..shape.batches() {
            let members: Vec<&[f32]> = (b * BATCH..ids.len().min((b + 1) * BATCH))
                .map(|j| &rotated[(1 + j) * d..(2 + j) * d])
                .collect();
            let at = shape.batches_at() + b * bb;
            self.codec
                .pack_batch(&members, centre, &mut block[at..at + bb])
                .expect("a batch of at most 32 rotated vectors of the codec's dimension");
        }
        let own = &mut block[shape.own_at()..shape.own_at() + shape.own_bytes()];
        if shape.own_bits == 0 {
            for (o, x) in own.chunks_exact_mut(4).zip(vector) {
                o.copy_from_slice(&x.to_le_bytes());
            }
        } else {
            rabitq::extended::encode_row(
                self.codec.space(),
                shape.own_bits,
                centre,
                &self.mean_rot,
                own,
            );
        }
    }

    /// Prepares a query (`dim` values, normalised under cosine) once per search.
    pub(crate) fn prepare(&self, q: &[f32]) -> RqQuery {
        let prepared = self
            .codec
            .prepare_rotated(self.codec.rotation().rotate_vec(q));
        let q_norm_sq: f32 = q.iter().map(|x| x * x).sum();
        let mean_terms = CentroidTerms::exact(self.codec.space(), q, &self.mean);
        RqQuery {
            prepared,
            q_norm_sq,
            mean_terms,
        }
    }

    /// The scorer of compact rows for `query`, on kernels `k`.
    pub(crate) fn row_scorer<'a, K: RabitqKernels>(
        &'a self,
        query: &'a RqQuery,
        rows: RowView<'a, u8>,
        k: K,
    ) -> RqRowScorer<'a, K> {
        RqRowScorer {
            codec: self,
            query,
            rows,
            kernels: k,
            binary: self.codec.binary_row_bytes(),
            epsilon: ROW_PRUNE_EPSILON,
        }
    }

    /// The scorer of one-visit blocks for `query` (`q`: the padded query the f32 rows are scored
    /// with), on kernels `k` and the metric's `distance`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn block_scorer<'a, K: RabitqKernels, D: VectorDistance>(
        &'a self,
        query: &'a RqQuery,
        q: &'a [f32],
        bytes: &'a [u8],
        shape: RqBlockShape,
        k: K,
        distance: D,
    ) -> RqBlocks<'a, K, D> {
        RqBlocks {
            codec: self,
            query,
            q,
            bytes,
            shape,
            kernels: k,
            distance,
            epsilon: DEFAULT_EPSILON,
        }
    }

    /// The space the estimates are in.
    fn space(&self) -> Space {
        self.codec.space()
    }
}

/// The rotated vectors of an index's nodes, computed once for a pack.
pub(crate) struct Rotated {
    all: Vec<f32>,
    padded: usize,
}

impl Rotated {
    fn row(&self, node: u32) -> &[f32] {
        let at = node as usize * self.padded;
        &self.all[at..at + self.padded]
    }
}

/// A query prepared for one RaBitQ index.
pub(crate) struct RqQuery {
    prepared: PreparedQuery,
    q_norm_sq: f32,
    /// The terms of the mean (the centroid of compact rows and of blocks' own codes).
    mean_terms: CentroidTerms,
}

/// Estimates on compact rows: the extended code when the index has one, else the 1-bit code.
pub(crate) struct RqRowScorer<'a, K> {
    codec: &'a RqCodec,
    query: &'a RqQuery,
    rows: RowView<'a, u8>,
    kernels: K,
    binary: usize,
    epsilon: f32,
}

impl<K: RabitqKernels> RqRowScorer<'_, K> {
    /// The second stage: the extended code's estimate.
    #[inline(always)]
    fn extended(&self, row: &[u8]) -> f32 {
        let c = &self.codec.codec;
        let e = c.ex_row_bytes(self.codec.bits);
        c.estimate_ex_row(
            self.kernels,
            self.codec.bits,
            &row[self.binary..self.binary + e],
            &self.query.prepared,
            self.query.mean_terms,
            self.epsilon,
        )
        .distance
    }
}

impl<K: RabitqKernels> Scorer for RqRowScorer<'_, K> {
    #[inline(always)]
    fn score(&self, node: u32) -> f32 {
        let row = self.rows.row(node);
        if self.codec.bits >= 2 {
            // Straight to the extended code: measured faster than screening every row with the
            // 1-bit code and its lower bound first (1.1-1.3x QPS on wordllama-sent-256-ip,
            // rabitq4, ef 64, with recall 0.9598 against 0.9592), because the bound rules out
            // too few rows to pay for the 1-bit pass over all of them.
            return self.extended(row);
        }
        let q = self.query;
        self.codec
            .codec
            .estimate_binary_row(
                self.kernels,
                &row[..self.binary],
                &q.prepared,
                q.mean_terms,
                self.epsilon,
            )
            .distance
    }

    #[inline(always)]
    fn prefetch(&self, node: u32) {
        self.rows.prefetch(node);
    }
}

/// Visits nodes of one-visit blocks: the node's own distance, its neighbours' estimates and lower
/// bounds.
pub(crate) struct RqBlocks<'a, K, D> {
    codec: &'a RqCodec,
    query: &'a RqQuery,
    /// The padded query, for the f32 own vectors.
    q: &'a [f32],
    bytes: &'a [u8],
    shape: RqBlockShape,
    kernels: K,
    distance: D,
    epsilon: f32,
}

#[inline(always)]
fn f32_at(b: &[u8], at: usize) -> f32 {
    f32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<K: RabitqKernels, D: VectorDistance> RqBlocks<'_, K, D> {
    /// The block of `node`; empty past the end.
    #[inline(always)]
    fn block(&self, node: u32) -> &[u8] {
        let at = node as usize * self.shape.stride;
        self.bytes.get(at..at + self.shape.stride).unwrap_or(&[])
    }

    /// The node's own distance from its block: exact from the f32 vector, or the extended code's
    /// estimate against the mean.
    #[inline(always)]
    fn own_distance(&self, block: &[u8]) -> f32 {
        let s = &self.shape;
        let own = &block[s.own_at()..s.own_at() + s.own_bytes()];
        if s.own_bits == 0 {
            // The own vector starts 64-byte aligned in blocks that start so (packed blocks and
            // segment sections are); a copy serves any other buffer.
            match bytemuck_f32(own) {
                Some(v) => self.distance.distance(self.q, v),
                None => {
                    let v: Vec<f32> = own.chunks_exact(4).map(|c| f32_at(c, 0)).collect();
                    self.distance.distance(self.q, &v)
                }
            }
        } else {
            self.codec
                .codec
                .estimate_ex_row(
                    self.kernels,
                    s.own_bits,
                    own,
                    &self.query.prepared,
                    self.query.mean_terms,
                    self.epsilon,
                )
                .distance
        }
    }

    /// The terms of a visited node as the centroid of its neighbours' codes.
    #[inline(always)]
    fn centroid_terms(&self, own: f32, block: &[u8]) -> CentroidTerms {
        match self.codec.space() {
            Space::L2 => CentroidTerms::l2(own),
            Space::InnerProduct => {
                CentroidTerms::inner_product(1.0 - own, self.query.q_norm_sq, f32_at(block, 4))
            }
        }
    }
}

/// Scores a node from its own block: the f32 vector (exact) or the extended code it holds — what
/// the upper levels' greedy descent and exact scans read, so a one-visit index touches its
/// originals only to rerank (a block's own part is in the line after its header, a quarter of
/// an f32 row's bytes with 8-bit codes).
impl<K: RabitqKernels, D: VectorDistance> Scorer for RqBlocks<'_, K, D> {
    #[inline(always)]
    fn score(&self, node: u32) -> f32 {
        let block = self.block(node);
        if block.is_empty() {
            return f32::INFINITY;
        }
        self.own_distance(block)
    }

    #[inline(always)]
    fn prefetch(&self, node: u32) {
        let block = self.block(node);
        let bytes = (self.shape.own_at() + self.shape.own_bytes()).min(block.len());
        prefetch_bytes(block.as_ptr(), bytes);
    }
}

impl<K: RabitqKernels, D: VectorDistance> VisitScorer for RqBlocks<'_, K, D> {
    #[inline(always)]
    fn prefetch_block(&self, node: u32) {
        let block = self.block(node);
        // The header, the node's vector, the ids and the first batch's start: what the visit
        // reads first; the hardware prefetcher follows the stream from there.
        let lines = block.len() / LINE_BYTES;
        prefetch_lines(block.as_ptr(), lines);
    }

    #[inline(always)]
    fn visit(
        &self,
        node: u32,
        ids: &mut [u32; MAX_LINKS],
        est: &mut [f32; MAX_LINKS],
        lower: &mut [f32; MAX_LINKS],
    ) -> (f32, usize) {
        let block = self.block(node);
        if block.is_empty() {
            return (f32::INFINITY, 0);
        }
        let s = &self.shape;
        let count = (u32::from_le_bytes([block[0], block[1], block[2], block[3]]) as usize)
            .min(s.slots)
            .min(MAX_LINKS);
        let own = self.own_distance(block);
        let terms = self.centroid_terms(own, block);
        let batches = count.div_ceil(BATCH);
        let at = s.batches_at();
        self.codec.codec.estimate_block(
            self.kernels,
            &block[at..at + batches * fastscan::batch_bytes(s.padded)],
            batches,
            &self.query.prepared,
            terms,
            self.epsilon,
            &mut est[..batches * BATCH],
            &mut lower[..batches * BATCH],
        );
        let stored = &block[s.ids_at()..s.ids_at() + 4 * count];
        for (id, bytes) in ids[..count].iter_mut().zip(stored.chunks_exact(4)) {
            *id = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        (own, count)
    }
}

/// `bytes` as f32 when they are 4-byte aligned and a whole number of floats.
#[inline(always)]
fn bytemuck_f32(bytes: &[u8]) -> Option<&[f32]> {
    if !(bytes.as_ptr() as usize).is_multiple_of(4) || !bytes.len().is_multiple_of(4) {
        return None;
    }
    // SAFETY: the pointer is aligned for f32 (checked), the length a multiple of 4 (checked), the
    // bytes initialised and borrowed for the returned lifetime, and every bit pattern is an f32.
    Some(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<f32>(), bytes.len() / 4) })
}
