//! `stratavec compare-pgvector` against a real PostgreSQL with pgvector, started by
//! `scripts/pgvector-up` and stopped by `scripts/pgvector-down` whatever happens (a drop guard).
//!
//! Only with the `pgvector` feature:
//! `cargo test --release -p stratavec-cli --features pgvector --test pgvector`.
//! The first run installs the server (a PyPI wheel) into a venv under the temp folder.
#![cfg(feature = "pgvector")]

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Stops the server and removes its folder when dropped, also when the test panics.
struct Server {
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let status = Command::new(script("pgvector-down"))
            .arg(&self.dir)
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!(
                "warning: pgvector-down {} failed: {status:?}",
                self.dir.display()
            );
        }
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name)
}

/// Starts a server in a fresh folder named after the test (tests run in parallel in one
/// process); returns its guard and DSN.
fn start_server(test: &str) -> (Server, String) {
    let dir = std::env::temp_dir().join(format!(
        "stratavec-pgvector-test-{}-{test}",
        std::process::id()
    ));
    // The guard exists before the start, so a half-started server is stopped too.
    let server = Server { dir: dir.clone() };
    let output = Command::new(script("pgvector-up"))
        .arg("--dir")
        .arg(&dir)
        .stderr(Stdio::inherit())
        .output()
        .expect("running scripts/pgvector-up");
    assert!(output.status.success(), "scripts/pgvector-up failed");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let dsn = stdout.lines().last().unwrap_or_default().trim().to_string();
    assert!(dsn.starts_with("postgresql://"), "no DSN in {stdout:?}");
    (server, dsn)
}

#[test]
fn compare_pgvector_on_digits_reports_both_engines() {
    let Some(_) = common::dataset("digits-64-l2") else {
        return;
    };
    let (_server, dsn) = start_server("f32");
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("compare.json");
    let csv = out.path().join("compare.csv");
    let md = out.path().join("compare.md");
    let svg = out.path().join("compare.svg");
    let status = Command::new(env!("CARGO_BIN_EXE_stratavec"))
        .arg("compare-pgvector")
        .arg("--dataset")
        .arg(common::datasets_dir().join("digits-64-l2"))
        .args(["--dsn", &dsn, "--ef", "16,64", "--table", "stratavec_test"])
        .arg("--json")
        .arg(&json)
        .arg("--csv")
        .arg(&csv)
        .arg("--markdown")
        .arg(&md)
        .arg("--svg")
        .arg(&svg)
        .status()
        .unwrap();
    assert!(status.success());

    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(
        plot.contains("pgvector") && plot.contains("stratavec"),
        "both engines on the plot"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["dataset"]["name"], "digits-64-l2");
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "two engines × two ef");
    let recall = |engine: &str, ef: u64| {
        let r = results
            .iter()
            .find(|r| r["config"]["engine"] == engine && r["config"]["ef"] == ef)
            .unwrap_or_else(|| panic!("no {engine} result at ef {ef}"));
        assert!(r["qps_single_thread"].as_f64().unwrap() > 0.0);
        assert!(r["latency_us"]["p50"].as_f64().unwrap() > 0.0);
        assert!(r["build_seconds"].as_f64().unwrap() > 0.0);
        assert!(r["index_bytes"].as_u64().unwrap() > 0);
        let recall = r["recall_at_k"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&recall), "{engine} recall {recall}");
        recall
    };
    for ef in [16, 64] {
        recall("stratavec", ef);
        recall("pgvector", ef);
    }
    assert!(recall("stratavec", 64) >= 0.9);
    assert!(recall("pgvector", 64) > 0.5);

    let pg = &report["pgvector"];
    assert!(!pg["server_version"].as_str().unwrap().is_empty());
    assert!(!pg["extension_version"].as_str().unwrap().is_empty());
    assert_eq!(pg["opclass"], "vector_l2_ops");
    for key in ["load_seconds", "build_seconds", "round_trip_p50_us"] {
        assert!(pg[key].as_f64().unwrap() > 0.0, "pgvector.{key}");
    }
    assert!(pg["index_bytes"].as_u64().unwrap() > 0);
    assert!(report["stratavec"]["build_seconds"].as_f64().unwrap() > 0.0);
    let summary = &report["summary"];
    assert!(summary["build_ratio"].as_f64().unwrap() > 0.0);
    assert!(summary["qps_ratio_at_target"].as_f64().unwrap() > 0.0);

    let csv = std::fs::read_to_string(&csv).unwrap();
    assert!(csv.starts_with("engine,dataset,"));
    assert_eq!(csv.lines().count(), 1 + 4);
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.starts_with("| ef | stratavec R@10 |"), "{md}");
    assert!(md.contains("QPS at Recall@10 0.95"));
}

/// `--quant none,sq4`: one pgvector build, two stratavec indexes, each with its own recall
/// (computed against the ground truth), QPS ratio and build ratio in every output.
#[test]
fn compare_pgvector_with_quantized_configurations() {
    let Some(_) = common::dataset("digits-64-l2") else {
        return;
    };
    let (_server, dsn) = start_server("quant");
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("compare.json");
    let md = out.path().join("compare.md");
    let svg = out.path().join("compare.svg");
    let status = Command::new(env!("CARGO_BIN_EXE_stratavec"))
        .arg("compare-pgvector")
        .arg("--dataset")
        .arg(common::datasets_dir().join("digits-64-l2"))
        .args([
            "--dsn",
            &dsn,
            "--ef",
            "16,64",
            "--table",
            "stratavec_test_quant",
        ])
        .args(["--quant", "none,sq4", "--oversample", "2,4"])
        .arg("--json")
        .arg(&json)
        .arg("--markdown")
        .arg(&md)
        .arg("--svg")
        .arg(&svg)
        .status()
        .unwrap();
    assert!(status.success());

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    // Per ef: pgvector, stratavec f32, stratavec sq4 ×2 and ×4.
    assert_eq!(results.len(), 2 * 4, "{results:#?}");
    let recall = |engine: &str, quant: &str, oversample: Option<u64>, ef: u64| {
        let r = results
            .iter()
            .find(|r| {
                let c = &r["config"];
                c["engine"] == engine
                    && c["quant"] == quant
                    && c["oversample"].as_u64() == oversample
                    && c["ef"] == ef
            })
            .unwrap_or_else(|| panic!("no {engine} {quant} {oversample:?} result at ef {ef}"));
        assert!(r["qps_single_thread"].as_f64().unwrap() > 0.0);
        assert!(r["build_seconds"].as_f64().unwrap() > 0.0);
        r["recall_at_k"].as_f64().unwrap()
    };
    for ef in [16, 64] {
        // pgvector's ids come back through SQL: a floor that a mix-up of ids would not reach.
        let pg = recall("pgvector", "none", None, ef);
        assert!(pg > 0.5 && pg <= 1.0, "pgvector at ef {ef}: {pg}");
        assert!(recall("stratavec", "none", None, ef) > 0.8);
        for o in [2, 4] {
            // Reranked 4-bit search: a real recall, not an assumed one.
            let r = recall("stratavec", "sq4", Some(o), ef);
            assert!(r > 0.8 && r <= 1.0, "sq4 ×{o} at ef {ef}: {r}");
        }
    }
    let builds = report["stratavec"]["builds"].as_array().unwrap();
    assert_eq!(builds.len(), 2);
    assert_eq!(builds[0]["quant"], "none");
    assert_eq!(builds[1]["quant"], "sq4");

    let summary = &report["summary"];
    let configs = summary["configs"].as_array().unwrap();
    let series: Vec<&str> = configs
        .iter()
        .map(|c| c["series"].as_str().unwrap())
        .collect();
    assert_eq!(
        series,
        ["stratavec f32", "stratavec sq4 ×2", "stratavec sq4 ×4"]
    );
    for c in configs {
        assert!(c["qps_ratio_at_target"].as_f64().unwrap() > 0.0, "{c}");
        assert!(c["build_ratio"].as_f64().unwrap() > 0.0, "{c}");
    }
    // The top-level figures are the first configuration's (f32), as before --quant.
    assert_eq!(
        summary["qps_ratio_at_target"],
        configs[0]["qps_ratio_at_target"]
    );
    assert_eq!(summary["build_ratio"], configs[0]["build_ratio"]);

    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.starts_with("| ef | stratavec f32 R@10 |"), "{md}");
    assert!(md.contains("ratio sq4 ×4"), "{md}");
    assert!(
        md.contains("QPS at Recall@10 0.95: stratavec sq4 ×2"),
        "{md}"
    );
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.contains("stratavec sq4 ×2") && plot.contains("pgvector"));
}

#[test]
fn an_unreachable_server_is_one_clear_error() {
    let Some(_) = common::dataset("digits-64-l2") else {
        return;
    };
    let output = Command::new(env!("CARGO_BIN_EXE_stratavec"))
        .arg("compare-pgvector")
        .arg("--dataset")
        .arg(common::datasets_dir().join("digits-64-l2"))
        .args(["--dsn", "postgresql://postgres@127.0.0.1:1/postgres"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: cannot connect to PostgreSQL at 127.0.0.1 port 1"),
        "{stderr}"
    );
}
