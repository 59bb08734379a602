//! Recall targets (issue 17): an index's calibration — stored in its segment, or measured when
//! first needed — and the beam a search with [`SearchParams::target_recall`] gets from it.

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::planner;
use super::search::{check_params, View};
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
}

impl CalibrationCell {
    /// A cell holding `stored` (a segment's calibration section).
    pub(super) fn new(stored: Option<Calibration>) -> Self {
        CalibrationCell {
            current: RwLock::new(stored.map(Arc::new)),
            measuring: Mutex::new(()),
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
    /// built in memory counts as changed, and is measured again, once its rows or its live
    /// vectors have changed by a fifth since; an opened segment keeps the calibration stored
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
        let measured = Arc::new(self.measure_calibration(None)?);
        *self.calibration.current.write() = Some(measured.clone());
        Some(measured)
    }

    /// Makes `c` the index's calibration.
    pub(super) fn store_calibration(&self, c: Arc<Calibration>) {
        *self.calibration.current.write() = Some(c);
    }

    /// Whether `c` no longer describes the graph: a fifth more or fewer rows or live vectors in
    /// an index built in memory (a segment never changes).
    fn is_stale(&self, c: &Calibration) -> bool {
        match &self.body {
            Body::Segment(_) => false,
            Body::Memory(mem) => {
                let changed = |then: u64, now: u64| then.abs_diff(now) * 5 > then.max(1);
                changed(c.nodes(), mem.snapshot().len() as u64)
                    || changed(c.live(), self.len() as u64)
            }
        }
    }

    /// The beam (and oversampling) of a search with a recall target; `None` without one.
    pub(super) fn choose_beam<G: GraphView>(
        &self,
        view: View<'_, G>,
        params: &SearchParams<'_>,
        quantized: bool,
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
        let selectivity = params
            .filter
            .map_or(1.0, |f| planner::selectivity(view.st, f));
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
        Ok(Some(choice))
    }
}
