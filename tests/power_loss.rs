//! Power loss, simulated: random workloads of real collection operations (upserts, deletes,
//! flushes, compactions, syncs, reopens, and power cuts followed by recovery) run on the
//! simulated disk (`stratavec::__sim`); then the power is cut after every operation of each run's
//! trace, leaving only what POSIX promises (synced data, synced names) plus nothing, everything,
//! each pending directory operation alone, each unsynced write lost alone, or random prefixes and
//! subsets of the unsynced writes torn at 512-byte or 4 KiB sectors. Every such disk must reopen
//! to the model (`simdisk::Run::allowed`): nothing acknowledged lost, nothing half-applied,
//! `verify` passing, searches giving the model's answers.
//!
//! Size: `STRATAVEC_POWER_WORKLOADS` workloads (default 8) of `STRATAVEC_POWER_OPS` operations
//! (default 30) from seed `STRATAVEC_POWER_SEED` (default 0), `STRATAVEC_POWER_RANDOM` random
//! images per position (default 3). `scripts/power-loss` runs the large counts.

mod simdisk;

use std::sync::Mutex;

use simdisk::{explore, random_workload, Explore, Run, Stats};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn a_power_cut_after_any_operation_loses_nothing_acknowledged() {
    let workloads = env("STRATAVEC_POWER_WORKLOADS", 8);
    let ops = env("STRATAVEC_POWER_OPS", 30) as usize;
    let first = env("STRATAVEC_POWER_SEED", 0);
    let random = env("STRATAVEC_POWER_RANDOM", 3) as usize;
    let started = std::time::Instant::now();
    let total = Mutex::new(Stats::default());
    let next = std::sync::atomic::AtomicU64::new(first);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if seed >= first + workloads {
                    break;
                }
                let workload = random_workload(seed, ops, true);
                let stats = match Run::new(&workload) {
                    Ok(run) => explore(
                        &run,
                        Explore {
                            random,
                            seed,
                            ..Explore::default()
                        },
                    ),
                    Err(e) => Stats {
                        violations: vec![format!("{}: {e}", workload.name)],
                        ..Stats::default()
                    },
                };
                total.lock().unwrap().merge(stats);
            });
        }
    });
    let total = total.into_inner().unwrap();
    // One line for scripts/power-loss to pick up.
    eprintln!(
        "power loss: {workloads} workloads of {ops} operations (seeds {first}..{}), {} positions, \
         {} power cuts, {} acknowledged writes checked, {} distinct crash states, {} violations, \
         {:.1} s",
        first + workloads,
        total.positions,
        total.cuts,
        total.acked_checked,
        total.states.len(),
        total.violations.len(),
        started.elapsed().as_secs_f64()
    );
    for v in total.violations.iter().take(20) {
        eprintln!("VIOLATION {v}");
    }
    assert!(
        total.violations.is_empty(),
        "{} violations",
        total.violations.len()
    );
    assert!(total.cuts > 100 * workloads, "only {} cuts", total.cuts);
}
