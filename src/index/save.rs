//! Saving an index as a segment file, and the fast-scan blocks an in-memory index packs for its
//! searches.

use std::path::Path;
use std::sync::Arc;

use super::calibrate::{measure_view, Recoded, Samples};
use super::search::View;
use super::{Body, Index, Memory};
use crate::base::calibration::Calibration;
use crate::base::options::{IndexOptions, Layout, Quantization};
use crate::base::view::{block_neighbours, GraphView, RowView};
use crate::error::{Error, Result};
use crate::fsutil::{ReplaceError, Replacement};
use crate::hnsw::Storage;
use crate::payload::section;
use crate::quant::blocks::PackedBlocks;
use crate::quant::Codec;
use crate::segment::{self, SegmentSource};

/// Most rows a codec trained at save time sees (evenly spaced).
const MAX_TRAINING_ROWS: usize = 100_000;

impl Index {
    /// Writes the index to `path` as a segment file, atomically: a temporary file in the same
    /// directory, fsync, rename, fsync of the directory. Adds wait while it runs; searches don't.
    /// Returns the file's size in bytes.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<u64> {
        self.save_as(path, self.options.quantization, self.options.layout)
    }

    /// [`Index::save`] with the codes laid out as `layout`: a RaBitQ index built with one-visit
    /// blocks can be written as compact rows (and the other way round); the graph and codes are
    /// the same.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for [`Layout::FastScan`] without RaBitQ codes, or to change the
    /// layout of an opened segment; [`Error::Io`].
    pub fn save_with_layout(&self, path: impl AsRef<Path>, layout: Layout) -> Result<u64> {
        self.save_as(path, self.options.quantization, layout)
    }

    /// Writes an index built in memory with f32 vectors as a segment whose traversal uses
    /// `quantization` in `layout` ([`Layout::Auto`]: the quantization's default): a codec is
    /// trained on (a sample of up to 100,000 of) its vectors and every vector encoded, the graph
    /// kept as it is (it was built on the f32 vectors, as it would have been with codes). How a
    /// collection seals its in-memory segment; also a way to compare codecs on one graph. A
    /// quantized index (or an opened segment) can only be saved with its own codec and layout.
    /// Returns the file's size.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a layout the codes do not support, another codec than a
    /// quantized index's own, or a change to an opened segment; [`Error::Io`].
    pub fn save_as(
        &self,
        path: impl AsRef<Path>,
        quantization: Quantization,
        layout: Layout,
    ) -> Result<u64> {
        let to = Replacement::durable();
        Ok(self.save_quantized(to, path.as_ref(), quantization, layout)?)
    }

    /// [`Index::save_as`], written as `to` says (file system, who syncs the directory: a
    /// collection defers it to its commit); the error says whether the new file may be in place.
    pub(crate) fn save_quantized(
        &self,
        to: Replacement<'_>,
        path: &Path,
        quantization: Quantization,
        layout: Layout,
    ) -> Result<u64, ReplaceError> {
        let refuse = |error| ReplaceError {
            error,
            uncertain: false,
        };
        let layout = layout.resolve(quantization);
        super::check_layout(quantization, layout).map_err(refuse)?;
        self.write_segment(to, path, quantization, layout)
    }

    /// Writes a 4-bit index as a segment with the SQ4 fast-scan blocks of format version 2, which
    /// [`Index::save_as`] no longer writes: for the tests of the reader that still opens such
    /// files. Not a stable API.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless the index is an in-memory 4-bit one; [`Error::Io`].
    #[doc(hidden)]
    pub fn __save_legacy_sq4_fast_scan(&self, path: impl AsRef<Path>) -> Result<u64> {
        if self.options.quantization != Quantization::Sq4 || !matches!(self.body, Body::Memory(_)) {
            return Err(Error::invalid_parameter(
                "quantization",
                "only an in-memory sq4 index has SQ4 fast-scan blocks to write",
            ));
        }
        let to = Replacement::durable();
        Ok(self.write_segment(to, path.as_ref(), Quantization::Sq4, Layout::FastScan)?)
    }

    /// [`Index::save_quantized`] after its checks of the layout.
    fn write_segment(
        &self,
        to: Replacement<'_>,
        path: &Path,
        quantization: Quantization,
        layout: Layout,
    ) -> Result<u64, ReplaceError> {
        let refuse = |error| ReplaceError {
            error,
            uncertain: false,
        };
        let mem = match &self.body {
            Body::Memory(mem) => mem,
            Body::Segment(seg)
                if quantization == self.options.quantization && layout == self.options.layout =>
            {
                return segment::write_bytes(to, path, seg.bytes())
            }
            Body::Segment(_) => {
                return Err(refuse(Error::invalid_parameter(
                    "quantization",
                    "an opened segment can only be saved as it is",
                )))
            }
        };
        let _writer = mem.writer.lock();
        let st = mem.snapshot();
        let ids: Vec<(u64, u32)> = mem.ids.read().iter().map(|(&k, &v)| (k, v)).collect();
        let options = IndexOptions {
            quantization,
            layout,
            ..self.options.clone()
        };
        let trained;
        let codec = match mem.codec.get() {
            Some(codec) if quantization == self.options.quantization => Some(codec),
            Some(_) => {
                return Err(refuse(Error::invalid_parameter(
                    "quantization",
                    "a quantized index can only be saved with its own codec",
                )))
            }
            None => {
                // An f32 index (or a quantized one still empty): train on a sample of its vectors.
                trained = train_on_sample(&options, &st, &ids);
                trained.as_ref()
            }
        };
        // The payloads of the live rows (a deleted row's is never read again), when the index
        // knows payload fields.
        let payloads = {
            let live = mem.payloads.read();
            (!live.schema().is_empty()).then(|| {
                section::build(live.schema(), st.len(), |slot| {
                    (!st.is_deleted(slot)).then(|| live.payload(slot))
                })
            })
        };
        // The group graphs of the frequent keyword values (built now unless current).
        let groups = self.groups_locked(mem).map_err(refuse)?;
        let groups = (!groups.list.is_empty())
            .then(|| crate::base::groups::encode(&groups.list, st.len(), 2 * self.options.m));
        let sections = Extra {
            payloads: payloads.as_ref(),
            groups: groups.as_deref(),
        };
        // Recall-target hook (issue 17): the file stores the calibration of what it holds.
        if codec.is_some()
            && (mem.codec.get().is_none()
                || quantization != self.options.quantization
                || layout != self.options.layout)
        {
            // Another form than the index searches with (a codec trained now, or another
            // layout): the file's code rows and blocks are made here, calibrated, and the rows
            // written as they are.
            return self.save_recoded(to, path, &options, codec, &st, ids, sections);
        }
        let calibration = if layout != self.options.layout {
            // An f32 index saved with another layout (refused by the writer's checks).
            None
        } else {
            self.calibration_locked(mem, &st)
        };
        segment::write_segment(
            to,
            path,
            &SegmentSource {
                options: &options,
                codec,
                view: &*st,
                nodes: st.len(),
                ids,
                calibration: calibration.as_deref(),
                payloads: sections.payloads,
                groups: sections.groups,
            },
        )
    }

    /// [`Index::save_quantized`] of a graph in another form than its own (`options` give the
    /// file's quantization and layout, `codec` its codec): the code rows the file holds (the
    /// stored ones when they fit, else encoded now; none for a layout without them) and, for the
    /// fast-scan layout, its blocks, on which the calibration is measured before the file is
    /// written — whatever the codec (scalar or RaBitQ) and layout.
    #[allow(clippy::too_many_arguments)]
    fn save_recoded(
        &self,
        to: Replacement<'_>,
        path: &Path,
        options: &IndexOptions,
        codec: Option<&Codec>,
        st: &Storage,
        ids: Vec<(u64, u32)>,
        sections: Extra<'_>,
    ) -> Result<u64, ReplaceError> {
        let row_bytes = segment::code_row_width(options);
        let stored = st.codes().filter(|c| c.stride() == row_bytes);
        let encoded = match (codec, stored) {
            (Some(codec), None) if row_bytes > 0 => Some(segment::encode_rows(
                codec,
                st,
                st.len(),
                options.dim,
                row_bytes,
            )),
            _ => None,
        };
        let codes = match &encoded {
            Some(rows) => Some(RowView::from_slice(rows, row_bytes)),
            None if row_bytes > 0 => stored,
            None => None,
        };
        let view = Recoded { inner: st, codes };
        let blocks = (options.layout == Layout::FastScan).then(|| pack_blocks(st, options, codec));
        let calibration = measure_view(
            self,
            View {
                st: &view,
                codec,
                blocks: blocks.as_ref().map(PackedBlocks::bytes),
            },
            Samples::Hidden { dead: None },
            options.default_oversample(),
        );
        segment::write_segment(
            to,
            path,
            &SegmentSource {
                options,
                codec,
                view: &view,
                nodes: st.len(),
                ids,
                calibration: calibration.as_ref(),
                payloads: sections.payloads,
                groups: sections.groups,
            },
        )
    }

    /// The index's calibration for the graph `st`, measured now unless it is current (see
    /// [`Index::calibrate`]); the caller holds the writer lock (so blocks are packed here, not
    /// by the search).
    fn calibration_locked(&self, mem: &Memory, st: &Storage) -> Option<Arc<Calibration>> {
        if let Some(c) = self.calibration().filter(|c| !self.is_stale(c)) {
            return Some(c);
        }
        let started = std::time::Instant::now();
        let packed = (self.options.layout == Layout::FastScan).then(|| self.pack_locked(mem));
        let measured = Arc::new(measure_view(
            self,
            View {
                st,
                codec: mem.codec.get(),
                blocks: packed.as_deref().map(PackedBlocks::bytes),
            },
            Samples::Hidden { dead: None },
            self.options.default_oversample(),
        )?);
        self.store_calibration(measured.clone(), started);
        Some(measured)
    }

    /// The fast-scan blocks of an in-memory index, packed now if the graph changed since they were
    /// last packed and no add is running (a search never waits for one); `None` for the compact
    /// layout.
    pub(super) fn packed_blocks(&self, mem: &Memory) -> Option<Arc<PackedBlocks>> {
        if self.options.layout != Layout::FastScan {
            return None;
        }
        if let Some(p) = mem.fast_scan.read().clone() {
            return Some(p);
        }
        let _writer = mem.writer.try_lock()?;
        Some(self.pack_locked(mem))
    }

    /// The packed blocks of the current graph, packing them if needed. Called with the writer
    /// lock held, so no add changes the graph meanwhile.
    fn pack_locked(&self, mem: &Memory) -> Arc<PackedBlocks> {
        if let Some(p) = mem.fast_scan.read().clone() {
            return p;
        }
        let st = mem.snapshot();
        let packed = Arc::new(pack_blocks(&st, &self.options, mem.codec.get()));
        *mem.fast_scan.write() = Some(packed.clone());
        packed
    }

    /// Packs the fast-scan blocks now, so the first search does not ([`Layout::FastScan`]; does
    /// nothing for the compact layout or an opened segment, whose blocks are in the file). Waits
    /// for a running add.
    pub fn pack_fast_scan(&self) {
        if let Body::Memory(mem) = &self.body {
            if self.options.layout == Layout::FastScan {
                let _writer = mem.writer.lock();
                self.pack_locked(mem);
            }
        }
    }
}

/// The one-visit blocks of every published node of `st`, from its level-0 links and the RaBitQ
/// codes of its neighbours' vectors; none before the codec is trained. (Only RaBitQ indexes have
/// blocks in memory: SQ4 fast-scan blocks are read from old files, never built.)
pub(super) fn pack_blocks(
    st: &Storage,
    options: &IndexOptions,
    codec: Option<&Codec>,
) -> PackedBlocks {
    let nodes = st.len();
    let Some(Codec::Rq(rq)) = codec else {
        return PackedBlocks::filled(0, nodes, |_| {});
    };
    let vectors = st.vectors();
    let shape = rq.block_shape(options.m, vectors.stride());
    let neighbours = block_neighbours(st, nodes as u32);
    PackedBlocks::filled(shape.bytes(nodes), nodes, |bytes| {
        let rotated = rq.rotate_all(nodes, vectors);
        rq.pack_blocks(&shape, 0, vectors, rotated.as_ref(), neighbours, bytes)
    })
}

/// The payload sections and group graphs a saved file holds beside the graph.
#[derive(Clone, Copy)]
struct Extra<'a> {
    payloads: Option<&'a section::Sections>,
    groups: Option<&'a [u8]>,
}

/// A codec for `options` trained on (up to [`MAX_TRAINING_ROWS`] evenly spaced of) the vectors of
/// the live `ids` of `st`; `None` for f32.
fn train_on_sample(options: &IndexOptions, st: &Storage, ids: &[(u64, u32)]) -> Option<Codec> {
    let vectors = st.vectors();
    let step = ids.len().div_ceil(MAX_TRAINING_ROWS).max(1);
    let sample: Vec<f32> = ids
        .iter()
        .step_by(step)
        .flat_map(|&(_, slot)| vectors.row(slot)[..options.dim].iter().copied())
        .collect();
    Codec::train(options, &sample)
}
