//! An index's calibration: the recall its searches reach at each beam, measured once (issue 17),
//! and the choice of a beam for a recall target from it.
//!
//! A plain value shared by the layers above: [`crate::index`] measures it (`index/calibrate.rs`)
//! and chooses beams with it (`index/target.rs`), [`crate::segment`] stores it in its
//! `calibration` section in the byte layout of [`Calibration::write`] (`docs/file-format.md`).

use serde::Serialize;

use super::bytes::{ByteReader, ByteWriter};

/// Most beams, k values, oversampling factors and selectivities a calibration holds (a file
/// announcing more is refused before anything is allocated for it).
const MAX_BEAMS: usize = 256;
const MAX_KS: usize = 16;
const MAX_OVERSAMPLES: usize = 16;
const MAX_SELECTIVITIES: usize = 8;

/// The recall an index's searches reached on held-out samples of its own vectors, at a ladder of
/// beams, for a few `k`, oversampling factors and filter selectivities: what
/// [`SearchParams::target_recall`](crate::SearchParams::target_recall) chooses a beam from.
///
/// Measured by [`Index::calibrate`](crate::Index::calibrate) (and when an index is saved or a
/// collection seals a segment), stored in the segment file; `docs/recall-target.md` says how.
/// `recall(s, k, o, b)` is the mean Recall@k of the sample queries under filter selectivity
/// `selectivities()[s]`, with `k × oversample` candidates reranked, at beam `beams()[b]`; it is
/// `None` where that beam is below `k × oversample` (the search would widen it).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    #[serde(flatten)]
    shape: Shape,
    /// Sample queries behind each (selectivity, k) curve.
    samples: Vec<u32>,
    /// `[selectivity][k][oversample][beam]`, NaN where not measured.
    recall: Vec<f32>,
    /// The standard error of each mean (`sd / √samples`), NaN where not measured.
    stderr: Vec<f32>,
    nodes: u64,
    live: u64,
    seed: u64,
}

/// One point of a calibration curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CurvePoint {
    /// The beam width.
    pub beam: usize,
    /// The mean Recall@k the samples reached with it.
    pub recall: f32,
    /// The standard error of that mean (the samples' standard deviation over √samples).
    pub stderr: f32,
}

/// The beam a calibration gives for a target (see [`Calibration::choose`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Choice {
    pub beam: usize,
    pub oversample: usize,
    /// The recall the calibration predicts at that beam (the target, or more at the smallest
    /// beam when even it exceeds the target).
    pub predicted: f64,
}

/// Why no beam reaches a target: the best recall the calibration saw, and where.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Unreachable {
    pub best: f64,
    pub beam: usize,
    pub oversample: usize,
}

/// How a calibration's table is shaped: its beams, k values, oversampling factors and
/// selectivities.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Shape {
    pub beams: Vec<u32>,
    pub ks: Vec<u32>,
    pub oversamples: Vec<u32>,
    pub selectivities: Vec<f32>,
}

impl Shape {
    pub fn cells(&self) -> usize {
        self.selectivities.len() * self.ks.len() * self.oversamples.len() * self.beams.len()
    }

    pub fn at(&self, sel: usize, k: usize, o: usize, b: usize) -> usize {
        ((sel * self.ks.len() + k) * self.oversamples.len() + o) * self.beams.len() + b
    }
}

impl Calibration {
    /// A calibration from measured means and their standard errors (`recall`, `stderr` in
    /// [`Shape::at`] order, NaN where not measured), made monotone: each recall is lowered to the
    /// least recall at any larger beam, so that a dip of the samples at a wider beam is never
    /// hidden by a luckier narrower one.
    pub(crate) fn new(
        shape: Shape,
        samples: Vec<u32>,
        mut recall: Vec<f32>,
        stderr: Vec<f32>,
        nodes: u64,
        live: u64,
        seed: u64,
    ) -> Calibration {
        assert_eq!(recall.len(), shape.cells());
        assert_eq!(stderr.len(), shape.cells());
        assert_eq!(samples.len(), shape.selectivities.len() * shape.ks.len());
        for curve in recall.chunks_mut(shape.beams.len()) {
            let mut least = f32::INFINITY;
            for r in curve.iter_mut().rev() {
                if r.is_nan() {
                    continue;
                }
                least = least.min(*r);
                *r = least;
            }
        }
        Calibration {
            shape,
            samples,
            recall,
            stderr,
            nodes,
            live,
            seed,
        }
    }

    /// The same calibration, describing a graph of `nodes` rows and `live` vectors.
    pub(crate) fn with_counts(mut self, nodes: u64, live: u64) -> Calibration {
        self.nodes = nodes;
        self.live = live;
        self
    }

    /// The beams of the ladder, ascending.
    pub fn beams(&self) -> &[u32] {
        &self.shape.beams
    }

    /// The `k` values calibrated, ascending.
    pub fn ks(&self) -> &[u32] {
        &self.shape.ks
    }

    /// The oversampling factors calibrated, ascending (`[1]` for an index whose walk gives exact
    /// distances: f32, or RaBitQ blocks with their vectors).
    pub fn oversamples(&self) -> &[u32] {
        &self.shape.oversamples
    }

    /// The filter selectivities calibrated (the fraction of ids a filter keeps), descending from
    /// 1 (no filter).
    pub fn selectivities(&self) -> &[f32] {
        &self.shape.selectivities
    }

    /// How many sample queries stand behind the curves of selectivity index `sel` and k index `k`.
    pub fn samples(&self, sel: usize, k: usize) -> usize {
        self.samples[sel * self.shape.ks.len() + k] as usize
    }

    /// Nodes of the graph when it was calibrated (deleted ones included).
    pub fn nodes(&self) -> u64 {
        self.nodes
    }

    /// Live vectors when it was calibrated.
    pub fn live(&self) -> u64 {
        self.live
    }

    /// The seed the samples were drawn with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The curve of selectivity index `sel`, k index `k` and oversampling index `o`: the beams at
    /// which it was measured, with their recall.
    pub fn curve(&self, sel: usize, k: usize, o: usize) -> Vec<CurvePoint> {
        (0..self.shape.beams.len())
            .filter_map(|b| {
                let at = self.shape.at(sel, k, o, b);
                let r = self.recall[at];
                (!r.is_nan()).then_some(CurvePoint {
                    beam: self.shape.beams[b] as usize,
                    recall: r,
                    stderr: self.stderr[at],
                })
            })
            .collect()
    }

    /// The smallest beam of one curve that reaches `target`, interpolated in log(beam) between
    /// the rungs around it; `Err` with the curve's best when none does.
    ///
    /// A rung reaches the target when its recall less one standard error does (made monotone
    /// like the recall): the calibration's own sampling error then leans to a wider beam — by
    /// about 0.004 of recall at 0.9 with 1,000 samples, 0.001 at 0.99.
    fn beam_on(
        &self,
        sel: usize,
        k: usize,
        o: usize,
        target: f64,
    ) -> Result<(f64, f64), (f64, usize)> {
        let mut curve = self.curve(sel, k, o);
        let Some(&last) = curve.last() else {
            return Err((0.0, 0));
        };
        let mut least = f32::INFINITY;
        for p in curve.iter_mut().rev() {
            least = least.min(p.recall - p.stderr.max(0.0));
            p.recall = least;
        }
        let first = curve[0];
        // Recalls are stored as f32: compare in f32, so that a stored 0.9 reaches a target 0.9.
        let reaches = |r: f32| r >= target as f32;
        if reaches(first.recall) {
            return Ok((first.beam as f64, f64::from(first.recall)));
        }
        for w in curve.windows(2) {
            let (lo, hi) = (w[0], w[1]);
            if reaches(hi.recall) {
                let (r0, r1) = (f64::from(lo.recall), f64::from(hi.recall));
                let (b0, b1) = ((lo.beam as f64).ln(), (hi.beam as f64).ln());
                let t = f64::from(target as f32);
                let t = if r1 > r0 {
                    ((t - r0) / (r1 - r0)).clamp(0.0, 1.0)
                } else {
                    1.0
                };
                return Ok(((b0 + t * (b1 - b0)).exp(), target));
            }
        }
        Err((f64::from(last.recall), last.beam))
    }

    /// The beam for `target` Recall@k under a filter keeping `selectivity` of the ids (1 without
    /// one), with `oversample` when the search fixes it, else `default_oversample` or — when that
    /// cannot reach the target — the smallest calibrated factor that can. When the default
    /// reaches the target already at its narrowest beam (`k × default`), a smaller calibrated
    /// factor that reaches it with a narrower beam is taken instead (fewer candidates to walk
    /// and rerank).
    ///
    /// A `k` between two calibrated values gets a beam interpolated in log(k) between theirs; a
    /// `k` past the largest, the largest's beam scaled by `k / K`. A selectivity between two
    /// calibrated ones is interpolated in log(selectivity); below the smallest, the smallest's
    /// curve is used. An oversampling factor that was not calibrated uses the largest calibrated
    /// one below it (a larger factor only reranks more candidates, so its recall is at least
    /// that).
    pub(crate) fn choose(
        &self,
        target: f64,
        k: usize,
        oversample: Option<usize>,
        default_oversample: usize,
        selectivity: f64,
    ) -> Result<Choice, Unreachable> {
        let o_index = |o: usize| {
            self.shape
                .oversamples
                .iter()
                .rposition(|&c| c as usize <= o)
                .unwrap_or(0)
        };
        let candidates: Vec<usize> = match oversample {
            Some(o) => vec![o],
            None => std::iter::once(default_oversample)
                .chain(
                    self.shape
                        .oversamples
                        .iter()
                        .map(|&o| o as usize)
                        .filter(|&o| o > default_oversample),
                )
                .collect(),
        };
        let mut best = Unreachable {
            best: 0.0,
            beam: 0,
            oversample: candidates[0],
        };
        let at = |o: usize| {
            self.beam_for_k(target, k, o_index(o), selectivity)
                .map(|(beam, predicted)| Choice {
                    // (Rounded up, past the last bits of the exp/ln round trip.)
                    beam: ((beam * (1.0 - 1e-9)).ceil() as usize)
                        .max(k.saturating_mul(o))
                        .max(k),
                    oversample: o,
                    predicted,
                })
        };
        for &o in &candidates {
            match at(o) {
                Ok(choice) => {
                    if oversample.is_some() || choice.beam > k.saturating_mul(o) {
                        return Ok(choice);
                    }
                    let narrower = self
                        .shape
                        .oversamples
                        .iter()
                        .map(|&s| s as usize)
                        .filter(|&s| s < o)
                        .filter_map(|s| at(s).ok())
                        .filter(|c| c.beam < choice.beam)
                        .min_by_key(|c| (c.beam, usize::MAX - c.oversample));
                    return Ok(narrower.unwrap_or(choice));
                }
                Err((recall, beam)) if recall > best.best => {
                    best = Unreachable {
                        best: recall,
                        beam,
                        oversample: o,
                    }
                }
                Err(_) => {}
            }
        }
        Err(best)
    }

    /// [`Calibration::choose`] for one oversampling index: interpolated over k and selectivity.
    fn beam_for_k(
        &self,
        target: f64,
        k: usize,
        o: usize,
        selectivity: f64,
    ) -> Result<(f64, f64), (f64, usize)> {
        let ks: Vec<usize> = self.shape.ks.iter().map(|&k| k as usize).collect();
        let hi = ks.iter().position(|&c| c >= k);
        match hi {
            Some(h) if ks[h] == k || h == 0 => {
                let (beam, predicted) = self.beam_for_sel(target, h, o, selectivity)?;
                // Below the smallest calibrated k, its beam serves (recall@k of fewer is higher).
                Ok((beam, predicted))
            }
            Some(h) => {
                let (b_lo, _) = self.beam_for_sel(target, h - 1, o, selectivity)?;
                let (b_hi, predicted) = self.beam_for_sel(target, h, o, selectivity)?;
                let t = ((k as f64).ln() - (ks[h - 1] as f64).ln())
                    / ((ks[h] as f64).ln() - (ks[h - 1] as f64).ln());
                Ok(((b_lo.ln() + t * (b_hi.ln() - b_lo.ln())).exp(), predicted))
            }
            None => {
                let last = ks.len() - 1;
                let (beam, predicted) = self.beam_for_sel(target, last, o, selectivity)?;
                Ok((beam * k as f64 / ks[last] as f64, predicted))
            }
        }
    }

    /// One k and oversampling index, interpolated over selectivity.
    fn beam_for_sel(
        &self,
        target: f64,
        k: usize,
        o: usize,
        selectivity: f64,
    ) -> Result<(f64, f64), (f64, usize)> {
        let sels = &self.shape.selectivities;
        let s = selectivity.clamp(f64::MIN_POSITIVE, 1.0);
        // The first calibrated selectivity at or below s (they descend from 1).
        let lo = sels.iter().position(|&c| f64::from(c) <= s);
        match lo {
            Some(0) => self.beam_on(0, k, o, target),
            Some(i) => {
                let (b_hi_sel, _) = self.beam_on(i - 1, k, o, target)?;
                let (b_lo_sel, predicted) = self.beam_on(i, k, o, target)?;
                let (s0, s1) = (f64::from(sels[i - 1]).ln(), f64::from(sels[i]).ln());
                let t = (s.ln() - s0) / (s1 - s0);
                Ok((
                    (b_hi_sel.ln() + t * (b_lo_sel.ln() - b_hi_sel.ln())).exp(),
                    predicted,
                ))
            }
            None => self.beam_on(sels.len() - 1, k, o, target),
        }
    }

    /// Appends the section's bytes (layout in `docs/file-format.md`, section 13).
    pub(crate) fn write(&self, w: &mut ByteWriter) {
        let u32s = |w: &mut ByteWriter, v: &[u32]| {
            w.u32(v.len() as u32);
            v.iter().for_each(|&x| {
                w.u32(x);
            });
        };
        u32s(w, &self.shape.beams);
        u32s(w, &self.shape.ks);
        u32s(w, &self.shape.oversamples);
        w.f32s(&self.shape.selectivities);
        u32s(w, &self.samples);
        w.u64(self.nodes).u64(self.live).u64(self.seed);
        w.f32s(&self.recall);
        w.f32s(&self.stderr);
    }

    /// The bytes of [`Calibration::write`]; `None` when they are malformed: counts out of range,
    /// values not ascending (beams, k, oversampling) or not descending from 1 (selectivities), a
    /// table of the wrong size, a recall that is neither NaN nor in [0, 1], bytes left over.
    pub(crate) fn read(bytes: &[u8]) -> Option<Calibration> {
        let mut r = ByteReader::new(bytes);
        let u32s = |r: &mut ByteReader<'_>, max: usize| -> Option<Vec<u32>> {
            let n = r.u32()? as usize;
            if n == 0 || n > max || r.remaining() < 4 * n {
                return None;
            }
            (0..n).map(|_| r.u32()).collect()
        };
        let ascending = |v: &[u32]| v[0] >= 1 && v.windows(2).all(|w| w[0] < w[1]);
        let beams = u32s(&mut r, MAX_BEAMS)?;
        let ks = u32s(&mut r, MAX_KS)?;
        let oversamples = u32s(&mut r, MAX_OVERSAMPLES)?;
        if !ascending(&beams) || !ascending(&ks) || !ascending(&oversamples) {
            return None;
        }
        let selectivities = r.f32s()?;
        if selectivities.is_empty()
            || selectivities.len() > MAX_SELECTIVITIES
            || selectivities[0] != 1.0
            || selectivities.iter().any(|&s| !(s > 0.0 && s <= 1.0))
            || selectivities.windows(2).any(|w| w[0] <= w[1])
        {
            return None;
        }
        let samples = u32s(&mut r, MAX_SELECTIVITIES * MAX_KS)?;
        if samples.len() != selectivities.len() * ks.len() {
            return None;
        }
        let (nodes, live, seed) = (r.u64()?, r.u64()?, r.u64()?);
        let shape = Shape {
            beams,
            ks,
            oversamples,
            selectivities,
        };
        let mut table = || -> Option<Vec<f32>> {
            let n = r.u32()? as usize;
            if n != shape.cells() || r.remaining() < 4 * n {
                return None;
            }
            (0..n).map(|_| r.f32()).collect()
        };
        let recall = table()?;
        let stderr = table()?;
        let valid = |x: f32| (0.0..=1.0).contains(&x);
        let bad_cell = |(&m, &e): (&f32, &f32)| {
            m.is_nan() != e.is_nan() || !(m.is_nan() || valid(m) && valid(e))
        };
        if r.remaining() != 0 || live > nodes || recall.iter().zip(&stderr).any(bad_cell) {
            return None;
        }
        Some(Calibration {
            shape,
            samples,
            recall,
            stderr,
            nodes,
            live,
            seed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Calibration {
        let shape = Shape {
            beams: vec![10, 20, 40, 80],
            ks: vec![1, 10],
            oversamples: vec![1, 2],
            selectivities: vec![1.0, 0.1],
        };
        let mut recall = vec![f32::NAN; shape.cells()];
        for sel in 0..2 {
            for k in 0..2 {
                for o in 0..2 {
                    for b in 0..4 {
                        let beam = shape.beams[b] as usize;
                        let kk = shape.ks[k] as usize;
                        if beam >= kk * shape.oversamples[o] as usize {
                            recall[shape.at(sel, k, o, b)] =
                                [0.8, 0.9, 0.95, 0.99][b] - 0.05 * sel as f32 + 0.01 * o as f32;
                        }
                    }
                }
            }
        }
        let stderr = recall
            .iter()
            .map(|r| if r.is_nan() { f32::NAN } else { 0.0 })
            .collect();
        Calibration::new(shape, vec![100, 100, 50, 50], recall, stderr, 1000, 990, 7)
    }

    #[test]
    fn bytes_round_trip_and_damage_is_refused() {
        let c = sample();
        let mut w = ByteWriter::new();
        c.write(&mut w);
        // (NaN cells make the values unequal to themselves: compare the bytes.)
        let mut again = ByteWriter::new();
        Calibration::read(&w.buf).unwrap().write(&mut again);
        assert_eq!(again.buf, w.buf);
        assert!(Calibration::read(&w.buf[..w.buf.len() - 1]).is_none());
        let mut longer = w.buf.clone();
        longer.push(0);
        assert!(Calibration::read(&longer).is_none());
        // A standard error above 1, and a NaN one of a measured cell.
        for v in [1.5f32, f32::NAN] {
            let mut bad = w.buf.clone();
            let at = bad.len() - 4;
            bad[at..].copy_from_slice(&v.to_le_bytes());
            assert!(Calibration::read(&bad).is_none());
        }
        // Beams not ascending.
        let mut bad = w.buf.clone();
        bad[4..8].copy_from_slice(&30u32.to_le_bytes());
        assert!(Calibration::read(&bad).is_none());
        // A huge count is refused before anything is allocated.
        let mut bad = w.buf.clone();
        bad[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Calibration::read(&bad).is_none());
    }

    #[test]
    fn the_curve_is_made_monotone_from_the_right() {
        let shape = Shape {
            beams: vec![10, 20, 40],
            ks: vec![10],
            oversamples: vec![1],
            selectivities: vec![1.0],
        };
        let c = Calibration::new(
            shape,
            vec![10],
            vec![0.9, 0.96, 0.95],
            vec![0.0; 3],
            10,
            10,
            0,
        );
        let r: Vec<f32> = c.curve(0, 0, 0).iter().map(|p| p.recall).collect();
        assert_eq!(r, [0.9, 0.95, 0.95]);
    }

    #[test]
    fn a_standard_error_leans_to_a_wider_beam() {
        let shape = Shape {
            beams: vec![10, 20, 40],
            ks: vec![10],
            oversamples: vec![1],
            selectivities: vec![1.0],
        };
        let recall = vec![0.85, 0.9, 0.95];
        let c = Calibration::new(shape, vec![100], recall, vec![0.01; 3], 10, 10, 0);
        // 0.9 at 20 less 0.01 is 0.89, 0.94 at 40: 0.9 is reached a fifth of the way.
        let got = c.choose(0.9, 10, Some(1), 1, 1.0).unwrap();
        let t = (0.9f64 - f64::from(0.9f32 - 0.01)) / f64::from((0.95f32 - 0.01) - (0.9f32 - 0.01));
        let want = (20f64.ln() + t * (40f64.ln() - 20f64.ln())).exp();
        assert_eq!(got.beam, (want * (1.0 - 1e-9)).ceil() as usize);
        // The best reported is the plain recall.
        let err = c.choose(0.97, 10, Some(1), 1, 1.0).unwrap_err();
        assert_eq!((err.best, err.beam), (f64::from(0.95f32), 40));
    }

    #[test]
    fn choose_interpolates_and_reports_the_unreachable() {
        let c = sample();
        // k = 10, oversample 1: 0.9 at 20, 0.95 at 40.
        let got = c.choose(0.9, 10, Some(1), 1, 1.0).unwrap();
        assert_eq!((got.beam, got.oversample), (20, 1));
        let mid = c.choose(0.925, 10, Some(1), 1, 1.0).unwrap();
        assert_eq!(
            mid.beam,
            (20f64.ln() * 0.5 + 40f64.ln() * 0.5).exp().ceil() as usize
        );
        // The smallest beam already does better: it is the answer.
        let low = c.choose(0.5, 10, Some(1), 1, 1.0).unwrap();
        assert_eq!(low.beam, 10);
        // Oversample 2 starts at beam 20 (= k × 2) and is 0.01 better.
        let two = c.choose(0.905, 10, Some(2), 2, 1.0).unwrap();
        assert_eq!((two.beam, two.oversample), (20, 2));
        // Oversample 2 reaches 0.8 at its narrowest beam (20): oversample 1 does at 10.
        let narrower = c.choose(0.8, 10, None, 2, 1.0).unwrap();
        assert_eq!((narrower.beam, narrower.oversample), (10, 1));
        // 0.995 needs oversample 2 (its best is 1.0): chosen when the search does not fix one.
        let auto = c.choose(0.995, 10, None, 1, 1.0).unwrap();
        assert_eq!(auto.oversample, 2);
        let fixed = c.choose(0.995, 10, Some(1), 1, 1.0).unwrap_err();
        assert_eq!((fixed.best, fixed.beam), (f64::from(0.99f32), 80));
        // A filter keeping 10 %: that curve is 0.05 lower, so a wider beam.
        let filtered = c.choose(0.9, 10, Some(1), 1, 0.1).unwrap();
        assert_eq!(filtered.beam, 40);
        // Half-way in log(selectivity) between 1 and 0.1: between the two beams.
        let between = c.choose(0.9, 10, Some(1), 1, 0.1f64.sqrt()).unwrap();
        assert!((20..=40).contains(&between.beam), "{}", between.beam);
        // k = 20 is past the largest calibrated k (10): the beam scales with k.
        let twenty = c.choose(0.9, 20, Some(1), 1, 1.0).unwrap();
        assert_eq!(twenty.beam, 40);
    }
}
