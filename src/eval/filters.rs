//! The payloads and payload filters of the filtered benchmarks (`stratavec bench --filter
//! payload`, the peers' filtered runs, the tests on real data): every base row gets the same
//! fields from hashes of its row number and from where it lies, so any engine can be given the
//! same data and the same filters, each with its own exact ground truth.
//!
//! The fields of row `i`:
//!
//! - `tenant` (keyword): `t0` for 50% of the rows, `t1` for 10%, `t2` for 1%, `t3` for 0.1%,
//!   and one of 389 others (`t4` …) for the rest (0.1% each), from a hash of `i`;
//! - `price` (float): uniform in `[0, 100)`, from another hash of `i`;
//! - `date` (timestamp): uniform over 2025, from a third hash of `i`;
//! - `zone` (keyword): `far` for the 10% of rows farthest from the mean of the queries (by the
//!   dataset's metric), `near` for the others — a filter whose matches are far from every query,
//!   the case that starves a naive filtered walk.
//!
//! The filters: `tenant = "t3"` (0.1%), `"t2"` (1%), `"t1"` (10%), `"t0"` (50%),
//! `price < 10.0` (a numeric range, 10%) and `zone = "far"` (10%, negatively correlated).

use crate::data::Matrix;
use crate::distance::Metric;
use crate::{Filter, Payload, Value};

/// One filter of the benchmark.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterCase {
    /// Its short name (`kw-0.1%`, `kw-1%`, `kw-10%`, `kw-50%`, `range-10%`, `far-10%`).
    pub name: String,
    /// The filter.
    pub filter: Filter,
}

/// The fraction of rows `tenant = "t3"`, `"t2"`, `"t1"`, `"t0"` keep.
const TENANTS: [(&str, f64); 4] = [("t0", 0.5), ("t1", 0.1), ("t2", 0.01), ("t3", 0.001)];
/// Microseconds of 2025-01-01T00:00:00Z.
const YEAR_2025: i64 = 1_735_689_600_000_000;
/// Microseconds in 365 days.
const YEAR: i64 = 365 * 86_400_000_000;

/// A hash of `(i, salt)` uniform in `[0, 1)`.
fn unit(i: u64, salt: u64) -> f64 {
    let mut x = i
        .wrapping_add(salt.wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// The tenant of row `i`.
fn tenant(i: u64) -> String {
    let h = unit(i, 1);
    let mut below = 0.0;
    for (name, share) in TENANTS {
        below += share;
        if h < below {
            return name.to_owned();
        }
    }
    format!("t{}", 4 + ((h - below) / 0.001) as u64)
}

/// The three small fields of row `i` (`tenant`, `price`, `date`): what the write-throughput
/// comparison stores.
pub fn small_fields(i: u64) -> Payload {
    Payload::new()
        .with("tenant", tenant(i))
        .with("price", (unit(i, 2) * 100.0 * 100.0).floor() / 100.0)
        .with(
            "date",
            Value::Timestamp(YEAR_2025 + (unit(i, 3) * YEAR as f64) as i64),
        )
}

/// The payloads of every base row: [`small_fields`] and `zone`.
pub fn bench_payloads(base: &Matrix<f32>, queries: &Matrix<f32>, metric: Metric) -> Vec<Payload> {
    let far = farthest(base, queries, metric, 0.1);
    (0..base.len())
        .map(|i| small_fields(i as u64).with("zone", if far[i] { "far" } else { "near" }))
        .collect()
}

/// Whether each base row is among the `fraction` farthest from the mean query (ties by row).
fn farthest(base: &Matrix<f32>, queries: &Matrix<f32>, metric: Metric, fraction: f64) -> Vec<bool> {
    // In f64, so that another implementation (benches/peers/filtered.py) ranks the rows the
    // same whatever its order of summation.
    let dim = base.dim();
    let mut mean = vec![0f64; dim];
    for q in queries.rows() {
        mean.iter_mut()
            .zip(q)
            .for_each(|(m, &x)| *m += f64::from(x));
    }
    let nq = queries.len().max(1) as f64;
    mean.iter_mut().for_each(|m| *m /= nq);
    let mut order: Vec<(f64, usize)> = base
        .rows()
        .enumerate()
        .map(|(i, row)| {
            let pairs = row.iter().map(|&a| f64::from(a)).zip(&mean);
            let d = match metric {
                Metric::L2 => pairs.map(|(a, b)| (a - b) * (a - b)).sum(),
                // Farthest in inner product: the lowest dot with the mean query.
                Metric::InnerProduct | Metric::Cosine => -pairs.map(|(a, b)| a * b).sum::<f64>(),
            };
            (d, i)
        })
        .collect();
    order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let keep = (base.len() as f64 * fraction).round() as usize;
    let mut far = vec![false; base.len()];
    order.iter().take(keep).for_each(|&(_, i)| far[i] = true);
    far
}

/// The six filters of the benchmark, in order of selectivity.
pub fn bench_filters() -> Vec<FilterCase> {
    let case = |name: &str, filter| FilterCase {
        name: name.to_owned(),
        filter,
    };
    vec![
        case("kw-0.1%", Filter::eq("tenant", "t3")),
        case("kw-1%", Filter::eq("tenant", "t2")),
        case("kw-10%", Filter::eq("tenant", "t1")),
        case("kw-50%", Filter::eq("tenant", "t0")),
        case("range-10%", Filter::lt("price", 10.0)),
        case("far-10%", Filter::eq("zone", "far")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectivities_are_as_named() {
        let n = 200_000u64;
        let share =
            |f: &Filter| (0..n).filter(|&i| f.matches(&small_fields(i))).count() as f64 / n as f64;
        for (case, want) in bench_filters().iter().zip([0.001, 0.01, 0.1, 0.5, 0.1]) {
            let got = share(&case.filter);
            assert!(
                (got - want).abs() < 0.1 * want + 2e-4,
                "{}: {got}",
                case.name
            );
        }
        let other: std::collections::HashSet<String> = (0..n).map(tenant).collect();
        assert!(other.len() > 380, "{}", other.len());
    }
}
