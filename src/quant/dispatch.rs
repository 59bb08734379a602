//! The one place a search's scorer is chosen: the CPU level once per process, the codec (or f32
//! rows) and the layout once per query. Everything after that is compiled for the chosen types.

use super::blocks::{Blocks, Sq4Blocks};
use super::fastscan::BatchKernels;
use super::kernels::CodeKernels;
use super::scorer::{BlockScorer, FloatScorer, NoBlocks, Scorer};
use super::sq::Codec;
use crate::base::view::RowView;
use crate::distance::{FloatKernels, Metric, OneMinusDot, L2};
use crate::simd::Level;

/// Every kernel family of one CPU level: what a search needs to be compiled for a level.
pub(crate) trait Kernels: FloatKernels + CodeKernels + BatchKernels {}

impl<T: FloatKernels + CodeKernels + BatchKernels> Kernels for T {}

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
/// nodes (every level of the graph, and level 0 unless there are blocks); `blocks`, when the
/// index has a block layout, scores a visited node's neighbours from its block.
pub(crate) trait WithScorer {
    /// What the job returns.
    type Output;
    /// Runs the job.
    fn run<S: Scorer, B: BlockScorer>(self, scorer: &S, blocks: Option<&B>) -> Self::Output;
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
    /// The f32 vectors (what an f32 index traverses).
    pub vectors: RowView<'a, f32>,
    /// The codec and code rows of a quantized index.
    pub codes: Option<(&'a Codec, RowView<'a, u8>)>,
    /// The fast-scan blocks, when the index has them (4-bit codes only).
    pub blocks: Option<Blocks<'a>>,
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
        let Some((codec, rows)) = t.codes else {
            return match t.metric {
                Metric::L2 => job.run(&FloatScorer::new(t.query, t.vectors, L2(k)), NONE),
                Metric::InnerProduct | Metric::Cosine => {
                    let scorer = FloatScorer::new(t.query, t.vectors, OneMinusDot(k));
                    job.run(&scorer, NONE)
                }
            };
        };
        let prepared = codec.prepare(&t.query[..t.dim]);
        if let Some(scorer) = prepared.sq4(rows, k) {
            let fast = t.blocks.zip(codec.fast_scan_query(&prepared));
            return match &fast {
                Some((blocks, query)) => {
                    let blocks = Sq4Blocks {
                        blocks: *blocks,
                        query,
                        kernels: k,
                    };
                    job.run(&scorer, Some(&blocks))
                }
                None => job.run(&scorer, NONE),
            };
        }
        let scorer = prepared
            .sq8(rows, k)
            .expect("a query is 8-bit when not 4-bit");
        job.run(&scorer, NONE)
    }
}

/// No blocks.
const NONE: Option<&NoBlocks> = None;
