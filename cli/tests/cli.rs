//! The `stratavec` binary end to end: `bench` on a small real dataset writes every output, with
//! the JSON key names other tools read.

#[path = "../../tests/common/mod.rs"]
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
        .arg(common::datasets_dir().join("digits-64-l2"))
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
        .arg("--svg")
        .arg(out("r.svg"))
        .status()
        .unwrap();
    assert!(status.success());

    let svg = std::fs::read_to_string(out("r.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("Recall@10") && svg.contains("sq4 ×3"));
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
    // Recall is computed against the shipped ground truth: a real index clears floors that a
    // broken one (wrong ids, a graph that does not connect, codes misread) cannot. Measured on
    // digits: f32 0.997 at ef 16 and 1.0 at ef 64; sq4 0.95 without and 0.999 with reranking ×3.
    let recall = |quant: &str, oversample: Option<u64>, ef: u64| {
        results
            .iter()
            .find(|r| {
                let c = &r["config"];
                c["quant"] == quant && c["oversample"].as_u64() == oversample && c["ef"] == ef
            })
            .unwrap_or_else(|| panic!("no {quant} ×{oversample:?} result at ef {ef}"))
            ["recall_at_k"]
            .as_f64()
            .unwrap()
    };
    let floors = [
        ("none", None, 16, 0.95),
        ("none", None, 64, 0.99),
        ("sq4", Some(1), 16, 0.85),
        ("sq4", Some(1), 64, 0.85),
        ("sq4", Some(3), 16, 0.95),
        ("sq4", Some(3), 64, 0.98),
    ];
    for (quant, oversample, ef, floor) in floors {
        let r = recall(quant, oversample, ef);
        assert!(
            r >= floor,
            "{quant} ×{oversample:?} at ef {ef}: recall {r} < {floor}"
        );
    }
    // And it behaves like recall: a wider beam and more reranking never find fewer neighbours
    // here (with a margin for ties in the ground truth).
    assert!(recall("none", None, 64) >= recall("none", None, 16) - 1e-3);
    for ef in [16, 64] {
        assert!(recall("sq4", Some(3), ef) >= recall("sq4", Some(1), ef) - 1e-3);
    }

    let csv = std::fs::read_to_string(out("r.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 6);
    assert!(csv.starts_with("dataset,metric,quant,oversample,"));
    // Columns added later come last, so readers of the old columns keep working.
    let header = csv.lines().next().unwrap();
    assert!(
        header.ends_with(
            ",graph_bytes,filter,layout,fast_scan_bytes,bytes_per_query,distances_per_query,\
             cpu_us_per_query,resident_bytes_after_queries,target_recall,mean_beam,qps_best_ef,\
             calibration_seconds,filter_name"
        ),
        "{header}"
    );
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

#[test]
fn build_info_verify_and_bench_index_on_a_segment_file() {
    let Some(_) = common::dataset("digits-64-l2") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("digits.svs");
    let dataset = common::datasets_dir().join("digits-64-l2");
    let run = |args: &[&std::ffi::OsStr]| {
        Command::new(env!("CARGO_BIN_EXE_stratavec"))
            .args(args)
            .output()
            .unwrap()
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    let built = run(&[
        &os("build"),
        &os("--dataset"),
        dataset.as_os_str(),
        &os("--quant"),
        &os("sq8"),
        &os("--out"),
        file.as_os_str(),
    ]);
    assert!(built.status.success(), "{built:?}");

    let info = run(&[&os("info"), &os("--json"), file.as_os_str()]);
    assert!(info.status.success());
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["segment"]["live"], 1597);
    assert_eq!(info["options"]["quantization"], "sq8");

    let ok = run(&[&os("verify"), file.as_os_str()]);
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("ok: "));

    let json = dir.path().join("r.json");
    let bench = run(&[
        &os("bench"),
        &os("--index"),
        file.as_os_str(),
        &os("--dataset"),
        dataset.as_os_str(),
        &os("--ef"),
        &os("32"),
        &os("--json"),
        json.as_os_str(),
    ]);
    assert!(bench.status.success(), "{bench:?}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let r = &report["results"][0];
    assert!(r["open_ms"].as_f64().unwrap() >= 0.0);
    assert!(r["resident_bytes_after_open"].as_u64().unwrap() > 0);
    assert!(r["resident_bytes_after_queries"].as_u64().unwrap() > 0);
    assert!(r["recall_at_k"].as_f64().unwrap() > 0.9);

    // A damaged file: verify fails with one line and a non-zero exit, never a panic.
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();
    let bad = run(&[&os("verify"), file.as_os_str()]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.starts_with("error: corrupt file"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// `--dataset FILE.hdf5` (ann-benchmarks format) with the `hdf5` feature: digits written as an
/// ann-benchmarks file give the same recall as the TEXMEX folder.
#[cfg(feature = "hdf5")]
#[test]
fn bench_reads_an_ann_benchmarks_hdf5_file() {
    let Some(data) = common::dataset("digits-64-l2") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("digits-64-euclidean.hdf5");
    {
        let f = hdf5::File::create(&path).unwrap();
        let put = |name: &str, m: &stratavec::data::Matrix<f32>| {
            f.new_dataset::<f32>()
                .shape((m.len(), m.dim()))
                .create(name)
                .unwrap()
                .write_raw(m.as_slice())
                .unwrap();
        };
        put("train", &data.base);
        put("test", &data.queries);
        let gt = data.ground_truth.as_ref().unwrap();
        let ids: Vec<i32> = gt.as_slice().iter().map(|&i| i as i32).collect();
        f.new_dataset::<i32>()
            .shape((gt.len(), gt.dim()))
            .create("neighbors")
            .unwrap()
            .write_raw(&ids)
            .unwrap();
        f.new_attr::<hdf5::types::VarLenUnicode>()
            .create("distance")
            .unwrap()
            .write_scalar(&"euclidean".parse::<hdf5::types::VarLenUnicode>().unwrap())
            .unwrap();
    }
    let json = dir.path().join("r.json");
    let status = Command::new(env!("CARGO_BIN_EXE_stratavec"))
        .args(["bench", "--ef", "64", "--dataset"])
        .arg(&path)
        .arg("--json")
        .arg(&json)
        .status()
        .unwrap();
    assert!(status.success());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["dataset"]["name"], "digits-64-euclidean");
    assert_eq!(report["dataset"]["metric"], "l2");
    assert!(report["results"][0]["recall_at_k"].as_f64().unwrap() > 0.95);
}

/// `groundtruth` recomputes a TEXMEX folder's exact neighbours: on digits, the same top 10 as the
/// shipped file (up to ties, which may be ordered differently by another tool).
#[test]
fn groundtruth_matches_the_shipped_ground_truth() {
    let Some(data) = common::dataset("digits-64-l2") else {
        return;
    };
    let src = common::datasets_dir().join("digits-64-l2");
    let dir = tempfile::tempdir().unwrap();
    for file in ["base.fvecs", "query.fvecs", "METRIC"] {
        std::fs::copy(src.join(file), dir.path().join(file)).unwrap();
    }
    let status = Command::new(env!("CARGO_BIN_EXE_stratavec"))
        .arg("groundtruth")
        .arg("--dataset")
        .arg(dir.path())
        .args(["--k", "20"])
        .status()
        .unwrap();
    assert!(status.success());
    let ours = stratavec::data::read_ivecs(dir.path().join("groundtruth.ivecs")).unwrap();
    let shipped = data.ground_truth.expect("digits ships a ground truth");
    assert_eq!((ours.len(), ours.dim()), (shipped.len(), 20));
    let same: usize = (0..ours.len())
        .map(|q| {
            let a: std::collections::HashSet<i32> = ours.row(q)[..10].iter().copied().collect();
            shipped.row(q)[..10]
                .iter()
                .filter(|&&id| a.contains(&(id as i32)))
                .count()
        })
        .sum();
    let agreement = same as f64 / (10 * ours.len()) as f64;
    assert!(agreement > 0.99, "top-10 agreement {agreement}");
}

/// `plot` puts a bench report and a peers.py file on one SVG; `@` keeps only some engines.
#[test]
fn plot_draws_every_input_on_one_svg() {
    let Some(_) = common::dataset("digits-64-l2") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| dir.path().join(name);
    let status = Command::new(env!("CARGO_BIN_EXE_stratavec"))
        .arg("bench")
        .arg("--dataset")
        .arg(common::datasets_dir().join("digits-64-l2"))
        .args(["--quant", "none,sq8", "--ef", "16,64", "--json"])
        .arg(out("ours.json"))
        .status()
        .unwrap();
    assert!(status.success());
    // The shape benches/peers/peers.py writes (only the fields the plot reads).
    let peers = r#"[
      {"lib": "hnswlib", "lib_version": "0.8.0", "dataset": "digits-64-l2", "n_base": 1597,
       "dim": 64, "metric": "l2", "k": 10, "results": [
        {"ef": 16, "recall_at_k": 0.99, "qps_single_query_loop": 50000.0, "qps_batch_1thread": 60000.0},
        {"ef": 64, "recall_at_k": 0.999, "qps_single_query_loop": 20000.0, "qps_batch_1thread": 25000.0}]},
      {"lib": "faiss", "lib_version": "1.15.1", "dataset": "digits-64-l2", "n_base": 1597,
       "dim": 64, "metric": "l2", "k": 10, "results": [
        {"ef": 16, "recall_at_k": 0.98, "qps_single_query_loop": 40000.0, "qps_batch_1thread": 45000.0}]}
    ]"#;
    std::fs::write(out("peers.json"), peers).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_stratavec"))
        .arg("plot")
        .arg(out("ours.json"))
        .arg(format!("{}@hnswlib", out("peers.json").display()))
        .arg("--out")
        .arg(out("all.svg"))
        .status()
        .unwrap();
    assert!(status.success());
    let svg = std::fs::read_to_string(out("all.svg")).unwrap();
    for label in [
        "stratavec f32",
        "stratavec sq8 ×2",
        "hnswlib 0.8.0",
        "digits-64-l2",
    ] {
        assert!(svg.contains(label), "{label} missing");
    }
    assert!(!svg.contains("faiss"), "faiss was not selected");

    let output = Command::new(env!("CARGO_BIN_EXE_stratavec"))
        .arg("plot")
        .arg(out("missing.json"))
        .arg("--out")
        .arg(out("x.svg"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing.json"));
}
