//! `INFO [section ...]`: the sections and fields a Redis client or test
//! reads, each with a true figure of this server (none invented: a field
//! this server has no figure for is left out, as Redis leaves out what a
//! build does not have).

use super::Shared;
use crate::commands::DATABASES;
use crate::resp::{self, Command};

/// The sections in Redis's order: (name as asked, title), and whether
/// `INFO` with no argument (`default`) shows it.
const SECTIONS: [(&str, &str); 7] = [
    ("server", "Server"),
    ("clients", "Clients"),
    ("memory", "Memory"),
    ("persistence", "Persistence"),
    ("stats", "Stats"),
    ("replication", "Replication"),
    ("keyspace", "Keyspace"),
];

/// Appends the bulk reply of `INFO` with `cmd`'s section names (none,
/// `default`, `all` or `everything`: every section).
pub fn info(shared: &Shared, cmd: &Command<'_>, out: &mut Vec<u8>) {
    let asked: Vec<Vec<u8>> = cmd.args().skip(1).map(|a| a.to_ascii_lowercase()).collect();
    let every = asked.is_empty()
        || asked
            .iter()
            .any(|a| matches!(a.as_slice(), b"default" | b"all" | b"everything"));
    let mut text = String::new();
    for (name, title) in SECTIONS {
        if !every && !asked.iter().any(|a| a == name.as_bytes()) {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        text.push_str(&format!("# {title}\r\n"));
        for (field, value) in fields(shared, name) {
            text.push_str(&format!("{field}:{value}\r\n"));
        }
    }
    resp::bulk(out, text.as_bytes());
}

/// The fields of one section.
fn fields(shared: &Shared, section: &str) -> Vec<(String, String)> {
    let pair = |k: &str, v: String| (k.to_string(), v);
    match section {
        "server" => vec![
            pair("redis_version", "7.0.15".into()),
            pair("redis_mode", "standalone".into()),
            pair("multiplexing_api", "epoll".into()),
            pair("arch_bits", (usize::BITS).to_string()),
            pair("process_id", std::process::id().to_string()),
            pair("tcp_port", shared.port.get().to_string()),
            pair(
                "uptime_in_seconds",
                shared.started.elapsed().as_secs().to_string(),
            ),
            pair("hz", "10".into()),
            pair("executable", executable()),
        ],
        "clients" => vec![
            pair("connected_clients", shared.clients.get().to_string()),
            pair("maxclients", shared.config.maxclients.to_string()),
        ],
        "memory" => vec![
            pair("used_memory_rss", rss().to_string()),
            pair("mem_allocator", "libc".into()),
        ],
        "persistence" => vec![
            pair("loading", "0".into()),
            pair("async_loading", "0".into()),
            pair("rdb_bgsave_in_progress", "0".into()),
            pair("aof_enabled", "0".into()),
            pair("aof_rewrite_in_progress", "0".into()),
        ],
        "stats" => {
            let expired: u64 = shared.dbs.iter().map(|db| db.borrow().expired).sum();
            vec![
                pair(
                    "total_connections_received",
                    shared.connections.get().to_string(),
                ),
                pair("expired_keys", expired.to_string()),
                pair(
                    "pubsub_channels",
                    shared.pubsub.borrow().channels.len().to_string(),
                ),
                pair(
                    "pubsub_patterns",
                    shared.pubsub.borrow().patterns.len().to_string(),
                ),
            ]
        }
        "replication" => vec![
            pair("role", "master".into()),
            pair("connected_slaves", "0".into()),
        ],
        "keyspace" => (0..DATABASES)
            .filter_map(|i| {
                let db = shared.dbs[i].borrow();
                (!db.is_empty()).then(|| {
                    let value =
                        format!("keys={},expires={},avg_ttl=0", db.len(), db.volatile_len());
                    (format!("db{i}"), value)
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// This program's path.
fn executable() -> String {
    std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// Resident memory in bytes (`/proc/self/statm`'s second field, in pages
/// of 4 KiB).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}
