//! Recall targets (issue 17): an index's calibration — stored in its segment, or measured when
//! first needed — and the beam a search with [`SearchParams::target_recall`] gets from it.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};

use super::planner;
use super::search::{check_params, OnView, View};
use super::{Body, Index};
use crate::base::calibration::{Calibration, Choice};
use crate::base::view::GraphView;
use crate::error::{Error, Result};
use crate::rerank::Rerank;
use crate::SearchParams;

/// Graphs of at most this many nodes are searched with a beam as wide as the graph (every node it
/// can reach is a candidate) instead of a calibrated one.
const SMALL_GRAPH: usize = 64;

/// An index's calibration, and the lock that keeps two searches from measuring it at once.
#[derive(Default)]
pub(super) struct CalibrationCell {
    current: RwLock<Option<Arc<Calibration>>>,
    measuring: Mutex<()>,
    /// Seconds the current calibration took to measure in this process (`None` for a stored one).
    seconds: Mutex<Option<f64>>,
}

impl CalibrationCell {
    /// A cell holding `stored` (a segment's calibration section).
    pub(super) fn new(stored: Option<Calibration>) -> Self {
        CalibrationCell {
            current: RwLock::new(stored.map(Arc::new)),
            ..CalibrationCell::default()
        }
    }
}

impl Index {
    /// The calibration recall targets use: the one stored in the segment file, or the last one
    /// measured ([`Index::calibrate`], or the first search with a target). `None` before either.
    pub fn calibration(&self) -> Option<Arc<Calibration>> {
        self.calibration.current.read().clone()
    }

    /// Calibrates the index now, unless its calibration is current: held-out samples of its own
    /// vectors are searched at a ladder of beams against exact ground truth (up to 1,000
    /// samples; `docs/recall-target.md` gives the cost — a few percent of the build). An index
    /// built in memory counts as changed, and is measured again, once its rows have grown by half
    /// or its live vectors changed by a fifth since; an opened segment keeps the calibration stored
    /// in it (or measures one, in memory, when the file has none). [`Index::save`] stores it in
    /// the file. Returns `None` for an index too small to draw samples from (fewer than two live
    /// vectors on the graph's lowest level); its target searches use a beam as wide as the graph.
    pub fn calibrate(&self) -> Option<Arc<Calibration>> {
        if let Some(c) = self.calibration().filter(|c| !self.is_stale(c)) {
            return Some(c);
        }
        let _measuring = self.calibration.measuring.lock();
        if let Some(c) = self.calibration().filter(|c| !self.is_stale(c)) {
            return Some(c);
        }
        let started = Instant::now();
        let measured = Arc::new(self.measure_calibration(None)?);
        self.store_calibration(measured.clone(), started);
        Some(measured)
    }

    /// How long the current calibration took to measure, in seconds, when this process measured
    /// it (`None` for one read from a segment file, or none at all). A bulk
    /// [`Index::add_batch`] counts it in its own time.
    pub fn calibration_seconds(&self) -> Option<f64> {
        *self.calibration.seconds.lock()
    }

    /// Makes `c`, measured since `started`, the index's calibration.
    pub(super) fn store_calibration(&self, c: Arc<Calibration>, started: Instant) {
        *self.calibration.seconds.lock() = Some(started.elapsed().as_secs_f64());
        *self.calibration.current.write() = Some(c);
    }

    /// Whether `c` no longer describes the graph of an index built in memory: its rows grew by
    /// half, or its live vectors changed by a fifth (a segment never changes).
    pub(super) fn is_stale(&self, c: &Calibration) -> bool {
        match &self.body {
            Body::Segment(_) => false,
            Body::Memory(mem) => {
                let nodes = mem.snapshot().len() as u64;
                let grew = nodes.saturating_sub(c.nodes()) * 2 > c.nodes().max(1);
                let changed = c.live().abs_diff(self.len() as u64) * 5 > c.live().max(1);
                grew || changed
            }
        }
    }

    /// The beam a search with `params` would use now (for a collection's quality report), with
    /// a target's beam multiplied by `beam_scale`.
    ///
    /// # Errors
    /// As [`Index::search_with`].
    pub(crate) fn planned_beam(&self, params: &SearchParams<'_>, beam_scale: f64) -> Result<usize> {
        struct PlanJob<'q, 'p> {
            params: &'q SearchParams<'p>,
            beam_scale: f64,
        }
        impl OnView for PlanJob<'_, '_> {
            type Output = Result<usize>;
            fn run<G: GraphView>(self, index: &Index, view: View<'_, G>) -> Result<usize> {
                let quantized = view.reranks();
                let chosen =
                    index.choose_beam(view, self.params, quantized, self.beam_scale, None)?;
                Ok(index.plan(self.params, quantized, chosen)?.ef)
            }
        }
        self.on_view(PlanJob { params, beam_scale })
    }

    /// The beam (and oversampling) of a search with a recall target, multiplied by
    /// `beam_scale`; `None` without a target.
    pub(super) fn choose_beam<G: GraphView>(
        &self,
        view: View<'_, G>,
        params: &SearchParams<'_>,
        quantized: bool,
        beam_scale: f64,
        matching: Option<usize>,
    ) -> Result<Option<Choice>> {
        let Some(target) = params.target_recall else {
            return Ok(None);
        };
        check_params(params)?;
        let k = params.k;
        let default_oversample = self.options.default_oversample();
        let nodes = view.st.len();
        let whole_graph = Choice {
            beam: nodes.max(k),
            oversample: nodes.div_ceil(k).max(1),
            predicted: 1.0,
        };
        if nodes <= SMALL_GRAPH {
            return Ok(Some(whole_graph));
        }
        let Some(calibration) = self.calibrate() else {
            return Ok(Some(whole_graph));
        };
        // The closure filter's estimated share, times the payload filter's exact one.
        let selectivity = params
            .filter
            .map_or(1.0, |f| planner::selectivity(view.st, f))
            * matching.map_or(1.0, |m| m as f64 / nodes.max(1) as f64);
        let oversample = match params.rerank {
            _ if !quantized => Some(1),
            // Without reranking, the k best of the walk are returned: the curve of oversample 1.
            Rerank::None => Some(1),
            _ => params.oversample,
        };
        let mut choice = calibration
            .choose(target, k, oversample, default_oversample, selectivity)
            .map_err(|u| Error::UnreachableRecall {
                target,
                best: u.best,
                beam: u.beam,
                oversample: u.oversample,
            })?;
        if !quantized {
            // Reranking exact distances changes no set: keep the oversampling asked for.
            choice.oversample = params.oversample.unwrap_or(default_oversample);
        }
        if beam_scale != 1.0 {
            let scaled = (choice.beam as f64 * beam_scale).ceil() as usize;
            let pool = if quantized {
                k.saturating_mul(choice.oversample)
            } else {
                k
            };
            choice.beam = scaled.max(pool);
        }
        Ok(Some(choice))
    }
}
