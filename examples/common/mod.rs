//! What the network examples share: the `--serve PORT` argument.

use std::io;

/// `Some(port)` when the example was started with `--serve PORT` (port 0:
/// any free port), `None` for the demo.
pub fn serve_port() -> io::Result<Option<u16>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, port] if flag == "--serve" => port.parse().map(Some).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("--serve {port}: {e}"))
        }),
        [] => Ok(None),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: [--serve PORT]",
        )),
    }
}
