//! `stratavec compare-pgvector` against a real PostgreSQL with pgvector, started by
//! `scripts/pgvector-up` and stopped by `scripts/pgvector-down` whatever happens (a drop guard).
//!
//! Only with the `pgvector` feature: `cargo test --release --features pgvector --test pgvector`.
//! The first run installs the server (a PyPI wheel) into a venv under the temp folder.
#![cfg(feature = "pgvector")]

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
        .join("scripts")
        .join(name)
}

/// Starts a server in a fresh folder; returns its guard and DSN.
fn start_server() -> (Server, String) {
    let dir = std::env::temp_dir().join(format!("stratavec-pgvector-test-{}", std::process::id()));
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
    let (_server, dsn) = start_server();
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("compare.json");
    let csv = out.path().join("compare.csv");
    let md = out.path().join("compare.md");
    let svg = out.path().join("compare.svg");
    let status = Command::new(env!("CARGO_BIN_EXE_stratavec"))
        .arg("compare-pgvector")
        .arg("--dataset")
        .arg(stratavec::data::datasets_dir().join("digits-64-l2"))
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

#[test]
fn an_unreachable_server_is_one_clear_error() {
    let Some(_) = common::dataset("digits-64-l2") else {
        return;
    };
    let output = Command::new(env!("CARGO_BIN_EXE_stratavec"))
        .arg("compare-pgvector")
        .arg("--dataset")
        .arg(stratavec::data::datasets_dir().join("digits-64-l2"))
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
