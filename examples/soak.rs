//! Load soak: searches at full speed on every core while writes trickle in (upserts of new
//! versions, deletes and re-inserts, `Durability::Sync`), with sealing and compaction left to the
//! collection's policy (`seal_rows`, `compact_deleted_fraction` 0.2). Every minute it prints QPS,
//! queries per CPU-second of this process (throughput with the share of the cores that other
//! processes took out: on a shared machine QPS follows their load), the CPU it used, latency
//! p50/p99 (wall clock, and p99 of each query's own thread CPU time, which leaves out the time
//! its thread waited for a core), resident memory and the collection's counts; at the end, the drift from the first
//! minute to the last.
//!
//! ```text
//! cargo run --release --example soak -- [--minutes 10] [--rows 20000] [--dim 64]
//!     [--writes-per-sec 100] [--threads N] [--interval-secs 60] [--dir PATH]
//! ```
//!
//! The live set stays at `rows` vectors: each write either replaces a live id's vector or moves
//! one id out (delete) and another in (upsert), so every write leaves one dead row behind and
//! compaction has to keep up.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use stratavec::data::ClusteredSpec;
use stratavec::{Collection, CollectionOptions, Metric, SearchParams};

struct Args {
    minutes: f64,
    rows: usize,
    dim: usize,
    writes_per_sec: f64,
    threads: usize,
    interval: u64,
    dir: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        minutes: 10.0,
        rows: 20_000,
        dim: 64,
        writes_per_sec: 100.0,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        interval: 60,
        dir: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let v = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--minutes" => a.minutes = v.parse().expect("--minutes"),
            "--rows" => a.rows = v.parse().expect("--rows"),
            "--dim" => a.dim = v.parse().expect("--dim"),
            "--writes-per-sec" => a.writes_per_sec = v.parse().expect("--writes-per-sec"),
            "--threads" => a.threads = v.parse().expect("--threads"),
            "--interval-secs" => a.interval = v.parse().expect("--interval-secs"),
            "--dir" => a.dir = Some(v),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU time of the calling thread in microseconds (`CLOCK_THREAD_CPUTIME_ID`): a query's CPU
/// time leaves out the time its thread waited for a core.
fn thread_cpu_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// CPU seconds this process used so far (user + system, all threads), from `/proc/self/stat`
/// (clock ticks of 1/100 s, the Linux default).
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) in parentheses.
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

struct Row {
    qps: f64,
    /// Queries per CPU-second of this process: throughput with other processes' share of the
    /// cores taken out (a shared machine's load changes QPS, not this).
    per_cpu: f64,
    p50: f64,
    p99: f64,
    /// p99 of the queries' own CPU time (preemption by other processes left out).
    cpu_p99: f64,
    rss: f64,
}

fn main() {
    let a = args();
    let tmp = tempfile::tempdir().unwrap();
    let dir = a
        .dir
        .clone()
        .map_or_else(|| tmp.path().join("soak"), Into::into);
    let mut o = CollectionOptions::new(a.dim, Metric::L2);
    o.seal_rows = 1000;
    o.compact_deleted_fraction = Some(0.2);
    let col = Collection::open(&dir, o).unwrap();

    // Base data: rows + 10 % spare ids for the moves; queries from the same mixture.
    let spare = a.rows / 10;
    let spec = ClusteredSpec::new(a.rows + spare, a.dim);
    let (data, queries) = spec.generate_with_queries(1000).unwrap();
    let started = Instant::now();
    for chunk in (0..a.rows as u64).collect::<Vec<_>>().chunks(5000) {
        let lo = chunk[0] as usize;
        col.upsert_batch(
            chunk,
            &data.as_slice()[lo * a.dim..(lo + chunk.len()) * a.dim],
        )
        .unwrap();
    }
    col.flush().unwrap();
    col.compact().unwrap();
    println!(
        "soak: {} rows of dim {} loaded in {:.1} s; {} search threads, {} writes/s, {} min, \
         reports every {} s; dir {}",
        a.rows,
        a.dim,
        started.elapsed().as_secs_f64(),
        a.threads,
        a.writes_per_sec,
        a.minutes,
        a.interval,
        dir.display()
    );
    println!(
        "| minute | QPS | queries per CPU-s | CPU use | p50 µs | p99 µs | CPU p99 µs | RSS MiB | live | dead rows | segments | generation | writes | load |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");

    let stop = AtomicBool::new(false);
    let hist = Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap());
    let cpu_hist = Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap());
    let writes = AtomicU64::new(0);
    let end = Instant::now() + Duration::from_secs_f64(a.minutes * 60.0);
    let mut rows: Vec<Row> = Vec::new();
    std::thread::scope(|s| {
        for t in 0..a.threads {
            let (col, stop, hist, cpu_hist, queries) = (&col, &stop, &hist, &cpu_hist, &queries);
            s.spawn(move || {
                let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
                let mut local_cpu = local.clone();
                let mut i = t;
                let params = SearchParams::new(10).ef(64);
                while !stop.load(Ordering::Relaxed) {
                    let q = queries.row(i % queries.len());
                    let t0 = Instant::now();
                    let c0 = thread_cpu_us();
                    let hits = col.search_with(q, &params).unwrap();
                    let cpu_us = thread_cpu_us() - c0;
                    let us = t0.elapsed().as_micros() as u64;
                    assert!(hits.len() <= 10);
                    local.saturating_record(us.max(1));
                    local_cpu.saturating_record(cpu_us.max(1));
                    i += a.threads;
                    if local.len() >= 256 {
                        hist.lock().unwrap().add(&local).unwrap();
                        cpu_hist.lock().unwrap().add(&local_cpu).unwrap();
                        local.reset();
                        local_cpu.reset();
                    }
                }
                hist.lock().unwrap().add(&local).unwrap();
                cpu_hist.lock().unwrap().add(&local_cpu).unwrap();
            });
        }
        // The writer: a trickle at a fixed rate.
        {
            let (col, stop, writes, data) = (&col, &stop, &writes, &data);
            s.spawn(move || {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(42);
                let mut live: Vec<u64> = (0..a.rows as u64).collect();
                let mut out: Vec<u64> = (a.rows as u64..(a.rows + spare) as u64).collect();
                let period = Duration::from_secs_f64(1.0 / a.writes_per_sec);
                let mut next = Instant::now();
                let row = |id: u64, version: u64, rng: &mut Xoshiro256PlusPlus| -> Vec<f32> {
                    let base = data.row(id as usize);
                    base.iter()
                        .map(|x| x + rng.random_range(-0.01..0.01) * (version % 7) as f32)
                        .collect()
                };
                let mut version = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    version += 1;
                    if rng.random_range(0..2) == 0 {
                        let id = live[rng.random_range(0..live.len())];
                        col.upsert(id, &row(id, version, &mut rng)).unwrap();
                    } else {
                        let i = rng.random_range(0..live.len());
                        let j = rng.random_range(0..out.len());
                        let (gone, back) = (live[i], out[j]);
                        assert!(col.delete(gone).unwrap());
                        col.upsert(back, &row(back, version, &mut rng)).unwrap();
                        live[i] = back;
                        out[j] = gone;
                    }
                    writes.fetch_add(1, Ordering::Relaxed);
                    next += period;
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    } else {
                        next = now; // fell behind (a compaction held the writer): no burst
                    }
                }
            });
        }
        // The reporter (this thread).
        let mut minute = 0;
        let mut last_writes = 0;
        while Instant::now() < end {
            let t0 = Instant::now();
            let cpu0 = cpu_secs();
            let until = (t0 + Duration::from_secs(a.interval)).min(end);
            while Instant::now() < until {
                std::thread::sleep(Duration::from_millis(200));
            }
            let secs = t0.elapsed().as_secs_f64();
            let cpu = cpu_secs() - cpu0;
            let h = std::mem::replace(
                &mut *hist.lock().unwrap(),
                Histogram::new_with_bounds(1, 60_000_000, 3).unwrap(),
            );
            let hc = std::mem::replace(
                &mut *cpu_hist.lock().unwrap(),
                Histogram::new_with_bounds(1, 60_000_000, 3).unwrap(),
            );
            minute += 1;
            let stats = col.stats();
            let w = writes.load(Ordering::Relaxed);
            let row = Row {
                qps: h.len() as f64 / secs,
                per_cpu: h.len() as f64 / cpu.max(1e-9),
                p50: h.value_at_quantile(0.5) as f64,
                p99: h.value_at_quantile(0.99) as f64,
                cpu_p99: hc.value_at_quantile(0.99) as f64,
                rss: rss_mib(),
            };
            println!(
                "| {minute} | {:.0} | {:.0} | {:.2} | {:.0} | {:.0} | {:.0} | {:.1} | {} | {} | {} | {} | {} | {} |",
                row.qps,
                row.per_cpu,
                cpu / secs,
                row.p50,
                row.p99,
                row.cpu_p99,
                row.rss,
                stats.live,
                stats.deleted,
                stats.segments,
                stats.generation,
                w - last_writes,
                load()
            );
            last_writes = w;
            rows.push(row);
        }
        stop.store(true, Ordering::Relaxed);
    });
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        let pct = |a: f64, b: f64| (b - a) / a * 100.0;
        let max_rss = rows.iter().skip(1).map(|r| r.rss).fold(0.0, f64::max);
        let min_rss = rows.iter().skip(1).map(|r| r.rss).fold(f64::MAX, f64::min);
        println!(
            "drift first → last interval: QPS {:+.1} %, queries per CPU-second {:+.1} %, p99 {:+.1} %, \
             CPU p99 {:+.1} %, RSS {:+.1} % ({:.1} → {:.1} MiB; after the first interval between {:.1} and {:.1} MiB)",
            pct(first.qps, last.qps),
            pct(first.per_cpu, last.per_cpu),
            pct(first.p99, last.p99),
            pct(first.cpu_p99, last.cpu_p99),
            pct(first.rss, last.rss),
            first.rss,
            last.rss,
            min_rss,
            max_rss
        );
    }
    let stats = col.stats();
    col.verify().unwrap();
    println!(
        "end: {} live, {} dead rows, {} segments, generation {}; verify passed",
        stats.live, stats.deleted, stats.segments, stats.generation
    );
}
