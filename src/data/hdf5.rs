//! ann-benchmarks HDF5 files (feature `hdf5`, which needs the system's HDF5 library, e.g. Debian's
//! `libhdf5-dev`): datasets `train` (the base vectors), `test` (the queries), `neighbors` (the
//! exact top-k per query, 0-based rows of `train`), optionally `distances`, and the file attribute
//! `distance` (`euclidean`, `angular` or `dot`/`ip`).

use std::path::Path;

use super::{malformed, Dataset, Matrix};
use crate::distance::Metric;
use crate::error::Result;

const FORMAT: &str = "hdf5";

impl Dataset {
    /// Loads an ann-benchmarks HDF5 file. `angular` becomes [`Metric::Cosine`], `euclidean`
    /// [`Metric::L2`], `dot` or `ip` [`Metric::InnerProduct`]. The name is the file's stem.
    ///
    /// # Errors
    /// [`crate::Error::MalformedFile`] when the file cannot be opened as HDF5, a dataset is missing
    /// or not a 2-d array of numbers, the shapes disagree (dimensions, one neighbour row per query),
    /// a neighbour is not a row of `train`, or the `distance` attribute is unknown.
    pub fn load_hdf5(path: impl AsRef<Path>) -> Result<Dataset> {
        let path = path.as_ref();
        let bad = |reason: String| malformed(FORMAT, path, reason);
        let file = hdf5::File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
        let matrix_f32 = |name: &str| -> Result<Matrix<f32>> {
            let ds = file
                .dataset(name)
                .map_err(|e| bad(format!("no dataset `{name}`: {e}")))?;
            let shape = ds.shape();
            if shape.len() != 2 || shape[1] == 0 {
                return Err(bad(format!(
                    "`{name}` has shape {shape:?}, not (rows, dim)"
                )));
            }
            let values: Vec<f32> = ds
                .read_raw()
                .map_err(|e| bad(format!("reading `{name}` as float32: {e}")))?;
            Matrix::from_vec(shape[1], values)
        };
        let base = matrix_f32("train")?;
        let queries = matrix_f32("test")?;
        if base.dim() != queries.dim() {
            return Err(bad(format!(
                "`test` has dimension {}, `train` {}",
                queries.dim(),
                base.dim()
            )));
        }
        let ground_truth = match file.dataset("neighbors") {
            Err(_) => None,
            Ok(ds) => {
                let shape = ds.shape();
                if shape.len() != 2 || shape[0] != queries.len() || shape[1] == 0 {
                    return Err(bad(format!(
                        "`neighbors` has shape {shape:?}, expected ({}, k)",
                        queries.len()
                    )));
                }
                let ids: Vec<i64> = ds
                    .read_raw()
                    .map_err(|e| bad(format!("reading `neighbors` as integers: {e}")))?;
                if let Some(bad_id) = ids.iter().find(|&&i| i < 0 || i as usize >= base.len()) {
                    return Err(bad(format!(
                        "`neighbors` names row {bad_id}, outside the {} rows of `train`",
                        base.len()
                    )));
                }
                Some(Matrix::from_vec(
                    shape[1],
                    ids.into_iter().map(|i| i as u32).collect(),
                )?)
            }
        };
        let metric = match file.attr("distance") {
            Err(_) => None,
            Ok(attr) => {
                let name: hdf5::types::VarLenUnicode = attr
                    .read_scalar()
                    .map_err(|e| bad(format!("reading the `distance` attribute: {e}")))?;
                Some(match name.as_str() {
                    "euclidean" | "l2" => Metric::L2,
                    "angular" | "cosine" => Metric::Cosine,
                    "dot" | "ip" | "inner_product" => Metric::InnerProduct,
                    other => return Err(bad(format!("unknown distance `{other}`"))),
                })
            }
        };
        Ok(Dataset {
            base,
            queries,
            ground_truth,
            metric,
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    fn write(path: &Path, neighbors: &[i32], distance: &str) {
        let f = hdf5::File::create(path).unwrap();
        let train = f
            .new_dataset::<f32>()
            .shape((3, 2))
            .create("train")
            .unwrap();
        train.write_raw(&[0.0f32, 0.0, 1.0, 0.0, 0.0, 1.0]).unwrap();
        let test = f.new_dataset::<f32>().shape((2, 2)).create("test").unwrap();
        test.write_raw(&[0.9f32, 0.1, 0.1, 0.8]).unwrap();
        let nb = f
            .new_dataset::<i32>()
            .shape((2, neighbors.len() / 2))
            .create("neighbors")
            .unwrap();
        nb.write_raw(neighbors).unwrap();
        f.new_attr::<hdf5::types::VarLenUnicode>()
            .create("distance")
            .unwrap()
            .write_scalar(&distance.parse::<hdf5::types::VarLenUnicode>().unwrap())
            .unwrap();
    }

    #[test]
    fn reads_an_ann_benchmarks_file_and_refuses_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny-2-euclidean.hdf5");
        write(&path, &[1, 0, 2, 0], "euclidean");
        let d = Dataset::load_hdf5(&path).unwrap();
        assert_eq!((d.base.len(), d.queries.len(), d.dim()), (3, 2, 2));
        assert_eq!(d.metric, Some(Metric::L2));
        assert_eq!(d.ground_truth.unwrap().as_slice(), &[1, 0, 2, 0]);
        assert_eq!(d.name, "tiny-2-euclidean");

        write(&path, &[1, 0, 7, 0], "angular");
        let err = Dataset::load_hdf5(&path).unwrap_err();
        assert!(matches!(err, Error::MalformedFile { .. }), "{err}");
        assert!(err.to_string().contains("row 7"), "{err}");
        write(&path, &[1, 0, 2, 0], "hamming");
        assert!(Dataset::load_hdf5(&path).is_err());
        std::fs::write(&path, b"not hdf5").unwrap();
        let err = Dataset::load_hdf5(&path).unwrap_err();
        assert!(matches!(err, Error::MalformedFile { .. }), "{err}");
    }
}
