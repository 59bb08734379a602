//! A benchmark dataset: base vectors, queries, optional ground truth and metric.

use std::path::{Path, PathBuf};

use super::{malformed, read_fvecs, read_ivecs, Matrix};
use crate::error::{Error, Result};
use crate::Metric;

/// The environment variable that names the datasets folder; see [`datasets_dir`].
pub const DATASETS_ENV: &str = "STRATAVEC_DATASETS";

/// Where the project's datasets live: the folder named by the environment variable
/// `STRATAVEC_DATASETS` when it is set and not empty, otherwise `../shared/datasets` relative to
/// the current directory (the layout of the project's shared machine, seen from a checkout).
///
/// The folder is not checked for existence: tests and benchmarks look for the dataset they need in
/// it and skip when it is absent.
pub fn datasets_dir() -> PathBuf {
    match std::env::var_os(DATASETS_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from("..").join("shared").join("datasets"),
    }
}

/// Base vectors, queries and (optionally) their exact nearest neighbours and metric, as benchmarks
/// use them.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The vectors to index.
    pub base: Matrix<f32>,
    /// The query vectors, of the same dimension as `base`.
    pub queries: Matrix<f32>,
    /// For each query, the 0-based row numbers in `base` of its nearest neighbours, nearest first
    /// (one row per query; checked to lie inside `base` when loaded).
    pub ground_truth: Option<Matrix<u32>>,
    /// The metric the ground truth was computed with, when the dataset says.
    pub metric: Option<Metric>,
    /// A short name for reports (the folder's name for TEXMEX folders).
    pub name: String,
}

impl Dataset {
    /// Loads a TEXMEX folder: `base.fvecs` and `query.fvecs` (required; `base.npy` and `query.npy`,
    /// float32 C-order 2-d arrays, are read instead when the `.fvecs` file is absent),
    /// `groundtruth.ivecs` and a `METRIC` file holding `l2`, `ip` or `cosine` (both optional). The
    /// name is the folder's name.
    ///
    /// Cost: reads every file once; memory is the size of the files.
    ///
    /// # Errors
    /// [`Error::Io`] when a required file is missing or a file cannot be read;
    /// [`Error::MalformedFile`] when a file is malformed (see [`read_fvecs`]), when the queries'
    /// dimension differs from the base's, when the ground truth does not have one row per query or
    /// names a row outside `base`, or when `METRIC` is not a known metric.
    pub fn load_texmex(dir: impl AsRef<Path>) -> Result<Dataset> {
        let dir = dir.as_ref();
        let base = read_vectors(dir, "base")?;
        let query_path = dir.join("query.fvecs");
        let queries = read_vectors(dir, "query")?;
        if queries.dim() != base.dim() {
            return Err(malformed(
                "fvecs",
                &query_path,
                format!(
                    "the queries have dimension {}, but base.fvecs has dimension {}",
                    queries.dim(),
                    base.dim()
                ),
            ));
        }

        let gt_path = dir.join("groundtruth.ivecs");
        let ground_truth = if gt_path.exists() {
            let gt = read_ivecs(&gt_path)?;
            check_ground_truth(&gt_path, &gt, queries.len(), base.len())?;
            let dim = gt.dim();
            let ids = gt.into_vec().into_iter().map(|id| id as u32).collect();
            Some(Matrix::from_vec(dim, ids)?)
        } else {
            None
        };

        let metric_path = dir.join("METRIC");
        let metric = match std::fs::read_to_string(&metric_path) {
            Ok(text) => Some(text.parse::<Metric>().map_err(|e| {
                let reason = match e {
                    Error::InvalidParameter { reason, .. } => reason,
                    other => other.to_string(),
                };
                malformed("METRIC", &metric_path, reason)
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(&metric_path, e)),
        };

        let name = dir
            .canonicalize()
            .ok()
            .as_deref()
            .unwrap_or(dir)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        Ok(Dataset {
            base,
            queries,
            ground_truth,
            metric,
            name,
        })
    }

    /// The vectors' dimension.
    pub fn dim(&self) -> usize {
        self.base.dim()
    }
}

/// `dir/<stem>.fvecs`, or `dir/<stem>.npy` when there is no `.fvecs` file.
fn read_vectors(dir: &Path, stem: &str) -> Result<Matrix<f32>> {
    let fvecs = dir.join(format!("{stem}.fvecs"));
    let npy = dir.join(format!("{stem}.npy"));
    if !fvecs.exists() && npy.exists() {
        return crate::data::read_npy_f32(npy);
    }
    read_fvecs(fvecs)
}

fn check_ground_truth(path: &Path, gt: &Matrix<i32>, queries: usize, base: usize) -> Result<()> {
    if gt.len() != queries {
        return Err(malformed(
            "ivecs",
            path,
            format!(
                "the ground truth has {} rows, but there are {queries} queries",
                gt.len()
            ),
        ));
    }
    for (q, row) in gt.rows().enumerate() {
        if let Some(&id) = row.iter().find(|&&id| id < 0 || id as usize >= base) {
            return Err(malformed(
                "ivecs",
                path,
                format!("row {q} names base row {id}, but the base has {base} rows"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{write_fvecs, write_ivecs};
    use std::fs;

    fn small_dataset(dir: &Path) -> (Matrix<f32>, Matrix<f32>, Matrix<i32>) {
        let base = Matrix::from_vec(2, vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0]).unwrap();
        let queries = Matrix::from_vec(2, vec![0.9, 0.1, 0.1, 0.8]).unwrap();
        let gt = Matrix::from_vec(2, vec![1, 0, 2, 0]).unwrap();
        write_fvecs(dir.join("base.fvecs"), &base).unwrap();
        write_fvecs(dir.join("query.fvecs"), &queries).unwrap();
        write_ivecs(dir.join("groundtruth.ivecs"), &gt).unwrap();
        fs::write(dir.join("METRIC"), "l2\n").unwrap();
        (base, queries, gt)
    }

    #[test]
    fn reads_npy_vectors_when_there_are_no_fvecs() {
        let tmp = tempfile::tempdir().unwrap();
        let (base, queries, gt) = small_dataset(tmp.path());
        fs::remove_file(tmp.path().join("base.fvecs")).unwrap();
        fs::remove_file(tmp.path().join("query.fvecs")).unwrap();
        crate::data::write_npy_f32(tmp.path().join("base.npy"), &base).unwrap();
        crate::data::write_npy_f32(tmp.path().join("query.npy"), &queries).unwrap();
        let d = Dataset::load_texmex(tmp.path()).unwrap();
        assert_eq!(d.base, base);
        assert_eq!(d.queries, queries);
        assert_eq!(
            d.ground_truth.unwrap().as_slice().len(),
            gt.as_slice().len()
        );
    }

    #[test]
    fn loads_a_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("tiny-2-l2");
        fs::create_dir(&dir).unwrap();
        let (base, queries, gt) = small_dataset(&dir);
        let ds = Dataset::load_texmex(&dir).unwrap();
        assert_eq!(ds.base, base);
        assert_eq!(ds.queries, queries);
        let gt_u32: Vec<u32> = gt.as_slice().iter().map(|&id| id as u32).collect();
        assert_eq!(
            ds.ground_truth,
            Some(Matrix::from_vec(gt.dim(), gt_u32).unwrap())
        );
        assert_eq!(ds.metric, Some(Metric::L2));
        assert_eq!(ds.name, "tiny-2-l2");
        assert_eq!(ds.dim(), 2);

        // Optional files may be absent.
        fs::remove_file(dir.join("groundtruth.ivecs")).unwrap();
        fs::remove_file(dir.join("METRIC")).unwrap();
        let ds = Dataset::load_texmex(&dir).unwrap();
        assert_eq!((ds.ground_truth, ds.metric), (None, None));
    }

    #[test]
    fn missing_base_is_an_io_error() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(
            Dataset::load_texmex(tmp.path()),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn inconsistent_folders_are_malformed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        small_dataset(dir);
        let reason = |r: Result<Dataset>| match r {
            Err(Error::MalformedFile { reason, .. }) => reason,
            other => panic!("expected MalformedFile, got {other:?}"),
        };

        fs::write(dir.join("METRIC"), "manhattan").unwrap();
        assert!(reason(Dataset::load_texmex(dir)).contains("manhattan"));
        fs::write(dir.join("METRIC"), "ip").unwrap();
        assert_eq!(
            Dataset::load_texmex(dir).unwrap().metric,
            Some(Metric::InnerProduct)
        );

        write_ivecs(
            dir.join("groundtruth.ivecs"),
            &Matrix::from_vec(1, vec![0, 3]).unwrap(),
        )
        .unwrap();
        assert!(reason(Dataset::load_texmex(dir)).contains("names base row 3"));
        write_ivecs(
            dir.join("groundtruth.ivecs"),
            &Matrix::from_vec(1, vec![0]).unwrap(),
        )
        .unwrap();
        assert!(reason(Dataset::load_texmex(dir)).contains("1 rows, but there are 2 queries"));

        write_fvecs(
            dir.join("query.fvecs"),
            &Matrix::from_vec(3, vec![0.0; 6]).unwrap(),
        )
        .unwrap();
        assert_eq!(
            reason(Dataset::load_texmex(dir)),
            "the queries have dimension 3, but base.fvecs has dimension 2"
        );
    }

    /// The real datasets, when the shared folder is there.
    #[test]
    fn real_datasets() {
        let root = datasets_dir();
        if !root.join("digits-64-l2").is_dir() {
            println!("skipping: datasets folder not found (set STRATAVEC_DATASETS)");
            return;
        }
        let digits = Dataset::load_texmex(root.join("digits-64-l2")).unwrap();
        assert_eq!(digits.name, "digits-64-l2");
        assert_eq!((digits.base.len(), digits.base.dim()), (1597, 64));
        assert_eq!((digits.queries.len(), digits.queries.dim()), (200, 64));
        let gt = digits.ground_truth.as_ref().unwrap();
        assert_eq!((gt.len(), gt.dim()), (200, 100));
        assert_eq!(digits.metric, Some(Metric::L2));
        assert!(digits
            .base
            .as_slice()
            .iter()
            .all(|&v| (0.0..=16.0).contains(&v)));
        // The first ground-truth neighbour is the nearest base row.
        for (q, query) in digits.queries.rows().enumerate().take(20) {
            let best = digits
                .base
                .rows()
                .map(|b| Metric::L2.distance(query, b))
                .fold(f32::INFINITY, f32::min);
            let first = gt.row(q)[0] as usize;
            assert_eq!(Metric::L2.distance(query, digits.base.row(first)), best);
        }

        let mnist_dir = root.join("mnist-784-l2");
        if !mnist_dir.is_dir() {
            println!("skipping mnist: {} not found", mnist_dir.display());
            return;
        }
        let mnist = Dataset::load_texmex(mnist_dir).unwrap();
        assert_eq!((mnist.base.len(), mnist.base.dim()), (9000, 784));
        assert_eq!((mnist.queries.len(), mnist.queries.dim()), (1000, 784));
        let gt = mnist.ground_truth.as_ref().unwrap();
        assert_eq!((gt.len(), gt.dim()), (1000, 100));
        assert_eq!(mnist.metric, Some(Metric::L2));
        assert!(mnist
            .base
            .as_slice()
            .iter()
            .all(|&v| (0.0..=255.0).contains(&v)));
    }
}
