//! The one place a search's scorer is chosen: the CPU level once per process, the codec (or f32
//! rows) and the layout once per query. Everything after that is compiled for the chosen types.

use super::blocks::{BlockShape, Blocks, Sq4Blocks};
use super::codec::Codec;
use super::fastscan::BatchKernels;
use super::kernels::CodeKernels;
use super::rabitq::RabitqKernels;
use super::rq::RqCodec;
use super::scorer::{BlockScorer, FloatScorer, Level0, NoBlocks, Scorer, VisitScorer};
use super::sq::SqCodec;
use crate::base::options::Layout;
use crate::base::view::RowView;
use crate::distance::{FloatKernels, Metric, OneMinusDot, VectorDistance, WithDistance, L2};
use crate::simd::Level;

/// Every kernel family of one CPU level: what a search needs to be compiled for a level.
pub(crate) trait Kernels: FloatKernels + CodeKernels + BatchKernels + RabitqKernels {}

impl<T: FloatKernels + CodeKernels + BatchKernels + RabitqKernels> Kernels for T {}

/// Code that runs on the kernels of one CPU level, compiled for each level.
pub(crate) trait WithKernels {
    /// What the job returns.
    type Output;
    /// Runs the job on level `k`.
    fn run<K: Kernels>(self, k: K) -> Self::Output;
}

/// Runs `job` on `level` (a level of this CPU: [`Level::best`] or one of [`Level::supported`]).
pub(crate) fn with_kernels<J: WithKernels>(level: Level, job: J) -> J::Output {
    match level {
        Level::Avx512Vnni(k) => job.run(k),
        Level::Avx512(k) => job.run(k),
        Level::Avx2(k) => job.run(k),
        Level::Scalar(k) => job.run(k),
    }
}

/// Code that runs with the scorer of one query, compiled for each scorer type: `scorer` scores
/// nodes (every level of the graph, and exact scans), `level0` says how the walk's level 0 is
/// scored — through `scorer` row by row, or from blocks.
pub(crate) trait WithScorer {
    /// What the job returns.
    type Output;
    /// Runs the job.
    fn run<S: Scorer, B: BlockScorer, V: VisitScorer>(
        self,
        scorer: &S,
        level0: Level0<'_, B, V>,
    ) -> Self::Output;
}

/// What a search walks on: the query and everything its scorer reads.
#[derive(Clone, Copy)]
pub(crate) struct Traversal<'a> {
    /// The index's metric.
    pub metric: Metric,
    /// The query, checked, normalised under cosine and padded to the vector rows' stride.
    pub query: &'a [f32],
    /// The vector dimension (`query[..dim]` is the query itself).
    pub dim: usize,
    /// Links per upper-level node (the blocks' shapes follow from it).
    pub m: usize,
    /// The f32 vectors (what an f32 index traverses, and the exact scorer reads).
    pub vectors: RowView<'a, f32>,
    /// The codec of a quantized index.
    pub codec: Option<&'a Codec>,
    /// Its code rows, when it keeps them.
    pub codes: Option<RowView<'a, u8>>,
    /// Its blocks, when its layout has them (4-bit fast-scan blocks, RaBitQ's one-visit blocks).
    pub blocks: Option<&'a [u8]>,
}

impl Traversal<'_> {
    /// Runs `job` with this traversal's scorer on the best CPU level.
    pub(crate) fn run<J: WithScorer>(self, job: J) -> J::Output {
        self.run_on(Level::best(), job)
    }

    /// Runs `job` with this traversal's scorer on `level` (tests compare the levels).
    pub(crate) fn run_on<J: WithScorer>(self, level: Level, job: J) -> J::Output {
        with_kernels(level, Pick { t: self, job })
    }
}

/// [`Traversal::run`] once the level is known: the codec and layout `match`.
struct Pick<'a, J> {
    t: Traversal<'a>,
    job: J,
}

impl<J: WithScorer> WithKernels for Pick<'_, J> {
    type Output = J::Output;

    fn run<K: Kernels>(self, k: K) -> J::Output {
        let Pick { t, job } = self;
        match (t.codec, t.codes) {
            (Some(Codec::Sq(sq)), Some(rows)) => scalar_codes(&t, sq, rows, k, job),
            (Some(Codec::Rq(rq)), codes) => match (rq.layout(), t.blocks, codes) {
                (Layout::FastScan, Some(blocks), _) => t.metric.with_distance(
                    k,
                    RqVisit {
                        t: &t,
                        rq,
                        blocks,
                        k,
                        job,
                    },
                ),
                (Layout::Compact, _, Some(rows)) => {
                    let query = rq.prepare(&t.query[..t.dim]);
                    job.run(&rq.row_scorer(&query, rows, k), ROWS)
                }
                // Blocks not packed yet (an index built in memory, searched while it grows):
                // the exact walk on the f32 rows.
                _ => exact_rows(&t, k, job),
            },
            _ => exact_rows(&t, k, job),
        }
    }
}

/// Level 0 through the scorer, row by row.
const ROWS: Level0<'static, NoBlocks, NoBlocks> = Level0::Rows;

/// The walk on the f32 rows with the metric's exact distance.
fn exact_rows<K: Kernels, J: WithScorer>(t: &Traversal<'_>, k: K, job: J) -> J::Output {
    match t.metric {
        Metric::L2 => job.run(&FloatScorer::new(t.query, t.vectors, L2(k)), ROWS),
        Metric::InnerProduct | Metric::Cosine => {
            job.run(&FloatScorer::new(t.query, t.vectors, OneMinusDot(k)), ROWS)
        }
    }
}

/// The walk on scalar codes: 8-bit rows, 4-bit rows, or 4-bit rows with fast-scan blocks.
fn scalar_codes<K: Kernels, J: WithScorer>(
    t: &Traversal<'_>,
    sq: &SqCodec,
    rows: RowView<'_, u8>,
    k: K,
    job: J,
) -> J::Output {
    let prepared = sq.prepare(&t.query[..t.dim]);
    if let Some(scorer) = prepared.sq4(rows, k) {
        let fast = t.blocks.zip(sq.fast_scan_query(&prepared));
        return match &fast {
            Some((bytes, query)) => {
                let blocks = Sq4Blocks {
                    blocks: Blocks {
                        bytes,
                        shape: BlockShape::new(t.dim, t.m),
                    },
                    query,
                    kernels: k,
                };
                job.run(&scorer, Level0::<_, NoBlocks>::Blocks(&blocks))
            }
            None => job.run(&scorer, ROWS),
        };
    }
    let scorer = prepared
        .sq8(rows, k)
        .expect("a query is 8-bit when not 4-bit");
    job.run(&scorer, ROWS)
}

/// The walk on RaBitQ's one-visit blocks, once the metric's distance is known: every level (and
/// exact scans) on the blocks, the upper ones by each node's own part.
struct RqVisit<'t, 'a, K, J> {
    t: &'t Traversal<'a>,
    rq: &'a RqCodec,
    blocks: &'a [u8],
    k: K,
    job: J,
}

impl<K: Kernels, J: WithScorer> WithDistance for RqVisit<'_, '_, K, J> {
    type Output = J::Output;

    fn run<D: VectorDistance>(self, distance: D) -> J::Output {
        let t = self.t;
        let query = self.rq.prepare(&t.query[..t.dim]);
        let shape = self.rq.block_shape(t.m, t.vectors.stride());
        let visits = self
            .rq
            .block_scorer(&query, t.query, self.blocks, shape, self.k, distance);
        let exact = FloatScorer::new(t.query, t.vectors, distance);
        self.job.run(&exact, Level0::<NoBlocks, _>::Visits(&visits))
    }
}
