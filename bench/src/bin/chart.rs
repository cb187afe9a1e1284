//! Writes `bench/chart.svg` from `bench/RESULTS.md`: the picture in the
//! README. `cargo run -p corio-bench --bin chart`.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let results = std::fs::read_to_string(dir.join("RESULTS.md"))?;
    let ratios = corio_bench::chart::ratios(&results);
    let out = dir.join("chart.svg");
    std::fs::write(&out, corio_bench::chart::svg(&ratios))?;
    println!("{} bars written to {}", ratios.len(), out.display());
    Ok(())
}
