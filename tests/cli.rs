//! The `stratavec` binary end to end: `bench` on a small real dataset writes every output, with
//! the JSON key names other tools read.

mod common;

use std::process::Command;

#[test]
fn bench_writes_json_csv_and_markdown_with_the_documented_names() {
    let Some(_) = common::dataset("digits-64-l2") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| dir.path().join(name);
    let status = Command::new(env!("CARGO_BIN_EXE_stratavec"))
        .arg("bench")
        .arg("--dataset")
        .arg(stratavec::data::datasets_dir().join("digits-64-l2"))
        .args([
            "--quant",
            "none,sq4",
            "--ef",
            "16,64",
            "--oversample",
            "1,3",
        ])
        .arg("--json")
        .arg(out("r.json"))
        .arg("--csv")
        .arg(out("r.csv"))
        .arg("--markdown")
        .arg(out("r.md"))
        .status()
        .unwrap();
    assert!(status.success());

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out("r.json")).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    // f32: one result per ef; sq4: one per ef and oversample.
    assert_eq!(results.len(), 2 + 4);
    for r in results {
        for key in ["m", "ef_construction", "ef", "k", "quant"] {
            assert!(!r["config"][key].is_null(), "config.{key} missing");
        }
        for key in ["p50", "p90", "p99", "p999"] {
            assert!(
                r["latency_us"][key].as_f64().unwrap() > 0.0,
                "latency_us.{key}"
            );
        }
        let recall = r["recall_at_k"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&recall));
        assert!(r["qps_single_thread"].as_f64().unwrap() > 0.0);
        assert!(r["build_seconds"].as_f64().unwrap() > 0.0);
        assert!(r["index_bytes"].as_u64().unwrap() > 0);
        for key in ["codes_bytes", "originals_bytes", "graph_bytes"] {
            assert!(!r["memory"][key].is_null(), "memory.{key}");
        }
    }
    assert_eq!(results[0]["config"]["quant"], "none");
    assert_eq!(results[2]["config"]["quant"], "sq4");
    assert_eq!(results[2]["config"]["layout"], "compact");
    // Recall is computed: the wide beam finds more than the narrow one on f32.
    assert!(results[1]["recall_at_k"].as_f64() >= results[0]["recall_at_k"].as_f64());

    let csv = std::fs::read_to_string(out("r.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 6);
    assert!(csv.starts_with("dataset,metric,quant,oversample,"));
    let md = std::fs::read_to_string(out("r.md")).unwrap();
    assert!(md.starts_with("| quant |") && md.lines().count() == 2 + 6);
}

#[test]
fn bench_reports_a_bad_dataset_folder_as_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_stratavec"))
        .args(["bench", "--dataset"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error:") && stderr.contains("base.fvecs"),
        "{stderr}"
    );
}
