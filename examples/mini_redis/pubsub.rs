//! Pub/sub: who listens to what, `PUBLISH`, `PUBSUB`, and the
//! (un)subscribe commands of a session. A subscriber is its session's
//! transport, kept in the registry, so `PUBLISH` writes into it directly.

use std::collections::HashMap;

use corio::net::Transport;

use super::{Client, Shared};
use crate::commands::{self, Cmd};
use crate::resp::{self, Command};

/// Who listens to what.
#[derive(Default)]
pub(super) struct PubSub {
    /// Channel → subscribers (session id → transport).
    pub(super) channels: HashMap<Vec<u8>, HashMap<u64, Transport>>,
    /// (pattern, session id, transport), in subscription order.
    pub(super) patterns: Vec<(Vec<u8>, u64, Transport)>,
}

impl Shared {
    /// `PUBLISH`: sends `message` to every subscriber of `channel` and of a
    /// matching pattern; returns how many got it. A subscriber whose unsent
    /// bytes pass the limit is aborted (its session unsubscribes when its
    /// `connection_lost` runs).
    pub(super) fn publish(&self, channel: &[u8], message: &[u8]) -> usize {
        let pubsub = self.pubsub.borrow();
        let mut receivers = 0;
        let mut send = |transport: &Transport, frame: &[u8]| {
            if transport.write(frame).is_ok() {
                receivers += 1;
                if transport.get_write_buffer_size() > self.config.pubsub_limit {
                    self.dropped_subscribers
                        .set(self.dropped_subscribers.get() + 1);
                    transport.abort();
                }
            }
        };
        if let Some(subscribers) = pubsub.channels.get(channel) {
            let mut frame = Vec::with_capacity(32 + channel.len() + message.len());
            resp::array(&mut frame, 3);
            resp::bulk(&mut frame, b"message");
            resp::bulk(&mut frame, channel);
            resp::bulk(&mut frame, message);
            for transport in subscribers.values() {
                send(transport, &frame);
            }
        }
        for (pattern, _, transport) in &pubsub.patterns {
            if resp::glob_match(pattern, channel) {
                let mut frame = Vec::new();
                resp::array(&mut frame, 4);
                resp::bulk(&mut frame, b"pmessage");
                resp::bulk(&mut frame, pattern);
                resp::bulk(&mut frame, channel);
                resp::bulk(&mut frame, message);
                send(transport, &frame);
            }
        }
        receivers
    }

    /// `PUBSUB CHANNELS [pattern]`, `PUBSUB NUMSUB [channel ...]`,
    /// `PUBSUB NUMPAT`.
    pub(super) fn pubsub_command(&self, cmd: &Command<'_>, out: &mut Vec<u8>) {
        let pubsub = self.pubsub.borrow();
        let sub = cmd.arg(1).to_ascii_lowercase();
        match sub.as_slice() {
            b"channels" if cmd.len() <= 3 => {
                let pattern = (cmd.len() == 3).then(|| cmd.arg(2));
                let names: Vec<&Vec<u8>> = pubsub
                    .channels
                    .keys()
                    .filter(|c| pattern.is_none_or(|p| resp::glob_match(p, c)))
                    .collect();
                resp::array(out, names.len());
                for name in names {
                    resp::bulk(out, name);
                }
            }
            b"channels" => commands::subcommand_syntax_error("PUBSUB", cmd.arg(1), out),
            b"numsub" => {
                resp::array(out, (cmd.len() - 2) * 2);
                for channel in cmd.args().skip(2) {
                    resp::bulk(out, channel);
                    let n = pubsub.channels.get(channel).map_or(0, HashMap::len);
                    resp::integer(out, n as i64);
                }
            }
            b"numpat" if cmd.len() == 2 => {
                let mut unique: Vec<&[u8]> =
                    pubsub.patterns.iter().map(|(p, _, _)| &p[..]).collect();
                unique.sort_unstable();
                unique.dedup();
                resp::integer(out, unique.len() as i64);
            }
            b"numpat" => commands::wrong_arity("pubsub|numpat", out),
            _ => commands::unknown_subcommand("PUBSUB", cmd.arg(1), out),
        }
    }
}

/// `SUBSCRIBE`, `PSUBSCRIBE`, `UNSUBSCRIBE`, `PUNSUBSCRIBE` for the
/// session `subs`: one confirmation per channel or pattern. False when the
/// session has no transport any more (it is closing).
pub(super) fn subscriptions(
    shared: &Shared,
    subs: &mut Client<'_>,
    which: Cmd,
    name: &str,
    cmd: &Command<'_>,
    out: &mut Vec<u8>,
) -> bool {
    let (id, transport) = (subs.id, subs.transport);
    match which {
        Cmd::Subscribe | Cmd::PSubscribe => {
            let Some(transport) = transport else {
                return false;
            };
            let pattern = which == Cmd::PSubscribe;
            for target in cmd.args().skip(1) {
                let mine = if pattern {
                    &mut *subs.patterns
                } else {
                    &mut *subs.channels
                };
                if !mine.iter().any(|t| t == target) {
                    mine.push(target.to_vec());
                    let mut pubsub = shared.pubsub.borrow_mut();
                    if pattern {
                        pubsub
                            .patterns
                            .push((target.to_vec(), id, transport.clone()));
                    } else {
                        pubsub
                            .channels
                            .entry(target.to_vec())
                            .or_default()
                            .insert(id, transport.clone());
                    }
                }
                resp::array(out, 3);
                resp::bulk(out, name.as_bytes());
                resp::bulk(out, target);
                resp::integer(out, (subs.channels.len() + subs.patterns.len()) as i64);
            }
        }
        Cmd::Unsubscribe | Cmd::PUnsubscribe => {
            let pattern = which == Cmd::PUnsubscribe;
            let targets: Vec<Vec<u8>> = if cmd.len() > 1 {
                cmd.args().skip(1).map(<[u8]>::to_vec).collect()
            } else if pattern {
                subs.patterns.clone()
            } else {
                subs.channels.clone()
            };
            if targets.is_empty() {
                resp::array(out, 3);
                resp::bulk(out, name.as_bytes());
                resp::nil(out);
                resp::integer(out, (subs.channels.len() + subs.patterns.len()) as i64);
            }
            for target in targets {
                let mine = if pattern {
                    &mut *subs.patterns
                } else {
                    &mut *subs.channels
                };
                if let Some(at) = mine.iter().position(|t| *t == target) {
                    mine.remove(at);
                    unsubscribe(shared, id, pattern, &target);
                }
                resp::array(out, 3);
                resp::bulk(out, name.as_bytes());
                resp::bulk(out, &target);
                resp::integer(out, (subs.channels.len() + subs.patterns.len()) as i64);
            }
        }
        _ => unreachable!("{name} is not a subscription command"),
    }
    true
}

/// Removes session `id`'s subscription to `target` from the registry.
pub(super) fn unsubscribe(shared: &Shared, id: u64, pattern: bool, target: &[u8]) {
    let mut pubsub = shared.pubsub.borrow_mut();
    if pattern {
        pubsub
            .patterns
            .retain(|(p, owner, _)| !(*owner == id && p == target));
    } else if let Some(subscribers) = pubsub.channels.get_mut(target) {
        subscribers.remove(&id);
        if subscribers.is_empty() {
            pubsub.channels.remove(target);
        }
    }
}
