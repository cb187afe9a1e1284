//! Shared helpers of corio's benchmark binaries (`src/bin/*`).
//!
//! Each binary prints a table; `bench/RESULTS.md` records them with the
//! command that produced them.

use std::time::Duration;

pub mod chart;
pub mod load;

/// Summary statistics of a sample of durations.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// The smallest value.
    pub min: Duration,
    /// The median.
    pub median: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The largest value.
    pub max: Duration,
}

impl Summary {
    /// Summarises `sample` (sorted in place). Panics on an empty sample.
    pub fn of(sample: &mut [Duration]) -> Summary {
        assert!(!sample.is_empty(), "empty sample");
        sample.sort_unstable();
        let at = |q: f64| sample[((sample.len() - 1) as f64 * q).round() as usize];
        Summary {
            min: sample[0],
            median: at(0.5),
            p99: at(0.99),
            max: sample[sample.len() - 1],
        }
    }
}

/// The median of a sample (the upper one for an even count).
pub fn median(mut sample: Vec<Duration>) -> Duration {
    sample.sort_unstable();
    sample[sample.len() / 2]
}

/// Runs each side `rounds` times, alternating which goes first (the second
/// inherits the first one's allocator state), prints the table row
/// `| name | corio | tokio | ratio |` from the medians, and returns the
/// ratio (for [`print_ratios`]).
pub fn side_by_side(
    rounds: usize,
    name: &str,
    corio: impl Fn() -> Duration,
    tokio: impl Fn() -> Duration,
) -> f64 {
    let (mut c, mut t) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        if round % 2 == 0 {
            c.push(corio());
            t.push(tokio());
        } else {
            t.push(tokio());
            c.push(corio());
        }
    }
    let (c, t) = (median(c), median(t));
    let ratio = c.as_secs_f64() / t.as_secs_f64();
    println!(
        "| {name} | {:.1} ms | {:.1} ms | {ratio:.2} |",
        c.as_secs_f64() * 1e3,
        t.as_secs_f64() * 1e3,
    );
    ratio
}

/// Prints `ratio KEY CORIO_OVER_TOKIO`, each alone on a line, after the
/// tables: the form a script reads (`grep '^ratio '`).
pub fn print_ratios(ratios: &[(&str, f64)]) {
    println!();
    for (key, ratio) in ratios {
        println!("ratio {key} {ratio:.3}");
    }
}

/// `corio::run(main)` with slow-callback reports silenced (a benchmark's
/// long steps are on purpose), panicking on a failed run.
pub fn corio_run<F: std::future::Future + 'static>(main: F) -> F::Output
where
    F::Output: 'static,
{
    corio::run(async move {
        corio::get_running_loop()
            .expect("inside run")
            .set_slow_callback_duration(Duration::from_secs(3600));
        main.await
    })
    .expect("run")
}

/// A duration in microseconds with one decimal, for tables.
pub fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

/// Runs this bench again as built with the `bench-lto` profile (fat LTO,
/// one codegen unit: what shipping services build with), with the same
/// arguments, and prints what it prints, its `ratio KEY X` lines as
/// `ratio lto KEY X`. Builds it first (`cargo build --profile bench-lto`;
/// the first build takes minutes). Does nothing inside that second run,
/// or when `CORIO_BENCH_NO_LTO` is set.
pub fn also_under_lto(bin: &str) {
    if std::env::var_os("CORIO_BENCH_LTO").is_some()
        || std::env::var_os("CORIO_BENCH_NO_LTO").is_some()
    {
        return;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    println!("\n## The same, built with the bench-lto profile (fat LTO, 1 codegen unit)\n");
    let built = std::process::Command::new(&cargo)
        .current_dir(root)
        .args([
            "build",
            "--profile",
            "bench-lto",
            "-p",
            "corio-bench",
            "--bin",
            bin,
        ])
        .args(["--message-format", "json"])
        .stderr(std::process::Stdio::inherit())
        .output();
    let exe = built.ok().and_then(|out| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|line| {
                let at = line.find("\"executable\":\"")? + "\"executable\":\"".len();
                let end = line[at..].find('"')?;
                Some(line[at..at + end].to_string())
            })
    });
    let Some(exe) = exe else {
        println!("(could not build the bench-lto profile: no LTO figures)");
        return;
    };
    let out = std::process::Command::new(&exe)
        .args(std::env::args().skip(1))
        .env("CORIO_BENCH_LTO", "1")
        .stderr(std::process::Stdio::inherit())
        .output();
    let Ok(out) = out else {
        println!("(could not run {exe})");
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        match line.strip_prefix("ratio ") {
            Some(rest) => println!("ratio lto {rest}"),
            None => println!("{line}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_picks_order_statistics() {
        let mut sample: Vec<_> = (1..=100).rev().map(Duration::from_micros).collect();
        let s = Summary::of(&mut sample);
        assert_eq!(s.min, Duration::from_micros(1));
        assert_eq!(s.median, Duration::from_micros(51));
        assert_eq!(s.p99, Duration::from_micros(99));
        assert_eq!(s.max, Duration::from_micros(100));
    }
}
