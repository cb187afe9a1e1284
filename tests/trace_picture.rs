//! The pictures of a real trace in `docs/14-observability.md` regenerate
//! offline: each `docs/img/*.svg` drawn from a trace is what
//! `docs/trace-to-svg.py` draws today from the committed JSON, byte for
//! byte (`CORIO_BLESS=1 cargo test --test trace_picture` redraws them; then
//! `CORIO_BLESS=1 cargo test --test doc_pictures` renews their base64), and
//! the JSON is a trace as corio writes it.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// Each picture of a trace: the trace, the picture, how it was drawn.
const PICTURES: &[(&str, &str, &[&str])] = &[
    (
        "docs/img/crawler-trace.json",
        "docs/img/crawler-trace.svg",
        &[
            "--from",
            "0.300",
            "--to",
            "0.810",
            "--title",
            "The crawler starts: one fetch, then ten workers at once (loop 1, 0.30 to 0.81 ms)",
        ],
    ),
    (
        "docs/img/crawler-timer.json",
        "docs/img/crawler-timer.svg",
        &[
            "--from",
            "202.15",
            "--to",
            "202.82",
            "--title",
            "A stalled fetch times out and tries again (loop 1, 202.15 to 202.82 ms)",
        ],
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_trace_picture_is_what_the_renderer_draws_from_its_json() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!(
            "\n*** python3 is not installed: the trace pictures in docs/img were NOT \
             checked against docs/trace-to-svg.py (CI installs it) ***\n"
        );
        return;
    }
    let bless = std::env::var_os("CORIO_BLESS").is_some();
    for (json, svg, options) in PICTURES {
        let run = Command::new("python3")
            .arg(root().join("docs/trace-to-svg.py"))
            .arg(root().join(json))
            .args(*options)
            .output()
            .expect("python3 runs");
        assert!(
            run.status.success(),
            "docs/trace-to-svg.py {json} failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let committed = fs::read(root().join(svg)).unwrap_or_default();
        if run.stdout != committed {
            assert!(
                bless,
                "{svg} is not what docs/trace-to-svg.py draws from {json} \
                 (redraw with CORIO_BLESS=1 cargo test --test trace_picture)"
            );
            fs::write(root().join(svg), &run.stdout).expect("writable docs/img");
        }
    }
}

#[test]
fn every_trace_json_is_a_corio_trace() {
    for (json, _, _) in PICTURES {
        let text = fs::read_to_string(root().join(json)).expect("the trace is committed");
        let trace: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{json} does not parse: {e}"));
        let events = trace["traceEvents"]
            .as_array()
            .unwrap_or_else(|| panic!("{json}: no traceEvents array"));
        assert!(
            events.len() <= 400,
            "{json}: a slice, not a whole run ({} events)",
            events.len()
        );
        let named = |name: &str| events.iter().filter(|e| e["name"] == name).count();
        for needed in ["process_name", "iteration", "select", "run", "step", "wake"] {
            assert!(named(needed) > 0, "{json}: no {needed:?} event");
        }
        for event in events {
            assert!(
                event["pid"].is_u64() && event["tid"].is_u64() && event["ph"].is_string(),
                "{json}: not a trace event: {event}"
            );
            if event["ph"] == "X" {
                assert!(event["dur"].is_f64() || event["dur"].is_u64(), "{event}");
            }
        }
    }
}
