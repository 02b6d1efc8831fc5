//! Fan-out of one message: local subscribers get `MSG`/`HMSG` lines in their outbound buffers,
//! one member per queue group, and every route with interest gets at most one `RMSG` carrying
//! the queue groups picked on its side.
//!
//! A [`Fanout`] belongs to one reader task (a client's or a route's) and keeps what that task
//! reuses from message to message: the match cache, the per-route queue lists, and staging
//! buffers. Output for a connection is staged locally during a read batch and appended to its
//! outbound buffer once at the end (one lock per destination per batch, not per message), which
//! also keeps each destination's output in order. Nothing here allocates per message once warm.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use nats_proto::client::write_msg_line;
use nats_proto::route::RoutedLine;
use nats_proto::{subject, Size};
use rand::Rng;
use tracing::{debug, info, trace};

use crate::account::Account;
use crate::conn::outbound::Queued;
use crate::conn::{ClientShared, CloseReason, Kind, Subscription};
use crate::import::Rename;
use crate::service::{self, ResponseRoute, ResponseType, Responses};
use crate::stats::Stats;
use crate::sublist::{SubResult, Sublist};

/// What delivery needs of the server: the counters, and the removal of a subscription that
/// reached its auto-unsubscribe limit (which may have to tell the routes). The server
/// implements it; delivery itself never reaches the server's other parts.
pub trait Hub {
    /// The server-wide counters.
    fn stats(&self) -> &Stats;
    /// Removes a subscription from the index and its connection, telling the routes.
    fn unsubscribe(&self, sub: &Arc<Subscription>);
    /// This server's name and its cluster's (empty when not clustered), for the requester
    /// details a sharing service import passes on.
    fn names(&self) -> (&str, String);
}

/// Match results cached per reader, valid while the sublist generation is unchanged.
const L1_MAX: usize = 256;
/// Destinations staged per batch; beyond this, deliveries go straight to outbound buffers
/// (a big fan-out gains nothing from staging and a linear search would cost).
const MAX_STAGED: usize = 16;
/// A staged buffer is handed over early once it holds this much (one outbound chunk: `len` is
/// an upper bound, so a staged buffer never holds more).
const STAGE_FLUSH: usize = crate::conn::outbound::CHUNK;
/// A message this big or bigger skips staging and is written straight into the outbound
/// buffer (after what is staged for the same connection, to keep the order): one copy
/// instead of two is worth a lock per message there (raw 1->1 1 KB: 1.33x the rate at 0.73x
/// the CPU), while small messages keep sharing one lock per batch.
const STAGE_DIRECT: usize = 512;

type Matches = Arc<SubResult<Subscription>>;

/// One message to deliver, as parsed from a `PUB`/`HPUB` or an `RMSG`/`HMSG`.
#[derive(Clone, Copy)]
pub struct Msg<'a> {
    /// Subject published to.
    pub subject: &'a [u8],
    /// Reply subject.
    pub reply: Option<&'a [u8]>,
    /// Header block size, for messages with headers.
    pub header_size: Option<Size>,
    /// Total size token, as received.
    pub total_size: Size,
    /// Headers and body.
    pub payload: &'a [u8],
}

impl Msg<'_> {
    fn body(&self) -> &[u8] {
        &self.payload[self.header_size.map_or(0, Size::get)..]
    }

    /// The sizes and payload to send to a receiver with or without header support.
    fn for_receiver(&self, headers: bool) -> (Option<Size>, Size, &[u8]) {
        match self.header_size {
            Some(_) if !headers => {
                let body = self.body();
                (None, Size::new(body.len() as u32), body)
            }
            h => (h, self.total_size, self.payload),
        }
    }
}

/// Where a message came from; decides the one-hop rule and echo.
#[derive(Clone, Copy)]
pub enum Origin<'a> {
    /// A local client (`echo: false` skips its own subscriptions).
    Client {
        /// The publishing connection.
        publisher: &'a ClientShared,
        /// Whether it wants its own messages.
        echo: bool,
    },
    /// A route: deliver locally only, queue groups only those named (blank-separated).
    Route {
        /// The queue groups the sending server picked a member of on our side.
        queues: &'a [u8],
    },
    /// A response to a service request that arrived from a route: deliver locally only
    /// (the requester is here), one member of each queue group.
    Response,
}

/// A route picked as a destination of the current message, with the queue names for it.
struct RouteTarget {
    route: Option<Arc<ClientShared>>,
    queues: BytesMut,
}

/// Output for one destination, collected during a read batch.
struct Staged {
    target: Arc<ClientShared>,
    buf: BytesMut,
    msgs: u64,
    payload_bytes: u64,
}

/// Service imports of service imports (and the responses back) are followed this deep at
/// most (cycles are refused when the configuration is read; this bounds a long chain).
const MAX_IMPORT_DEPTH: usize = 8;

/// A cached match result: which index (by address) and generation it was computed on.
type Cached = (usize, u64, Matches);

/// Match results by subject, valid while their index's generation is unchanged. One hash
/// look-up per message on a hit: the map gives a slot, the slot holds the result.
#[derive(Default)]
struct MatchCache {
    slots: rustc_hash::FxHashMap<Bytes, usize>,
    entries: Vec<Cached>,
}

impl MatchCache {
    /// The subscriptions of `sublist` matching `subject`, from the cache when fresh.
    #[inline]
    fn lookup(&mut self, sublist: &Arc<Sublist<Subscription>>, subject: &[u8]) -> &Matches {
        let index = Arc::as_ptr(sublist) as usize;
        let generation = sublist.generation();
        let slot = match self.slots.get(subject) {
            Some(&slot) => slot,
            None => {
                if self.entries.len() >= L1_MAX {
                    self.clear();
                }
                let slot = self.entries.len();
                self.entries
                    .push((index, generation, sublist.matches(subject)));
                self.slots.insert(Bytes::copy_from_slice(subject), slot);
                return &self.entries[slot].2;
            }
        };
        let entry = &mut self.entries[slot];
        if entry.0 != index || entry.1 != generation {
            *entry = (index, generation, sublist.matches(subject));
        }
        &entry.2
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.entries.clear();
    }
}

/// Per-reader delivery state.
#[derive(Default)]
pub struct Fanout {
    /// Match results for the reader's own messages.
    l1: MatchCache,
    /// Match results for the messages sent on through service imports, kept apart so a
    /// request that keeps its subject does not evict the importer's entry.
    l1_imported: MatchCache,
    /// The exporter's subject of a request through a service import (reused).
    service_subject: Vec<u8>,
    /// A request's payload with its `Nats-Request-Info` header (reused).
    service_payload: Vec<u8>,
    scratch: Scratch,
}

/// Everything but the match cache, so a cached result can be borrowed while delivering.
#[derive(Default)]
struct Scratch {
    /// An imported subject renamed for the importer (reused).
    renamed: Vec<u8>,
    /// Writers to wake at the end of the read batch.
    touched: Vec<Arc<ClientShared>>,
    targets: Vec<RouteTarget>,
    used_targets: usize,
    staged: Vec<Staged>,
    used_staged: usize,
    /// Messages delivered in this batch (for server statistics).
    out_msgs: u64,
    /// Payload bytes delivered in this batch.
    out_bytes: u64,
    /// Messages received by this reader in this batch.
    in_msgs: u64,
    /// Payload bytes received by this reader in this batch.
    in_bytes: u64,
    /// A subscriber over half its `max_pending`: the reader stalls on it after the batch.
    stall: Option<Arc<ClientShared>>,
}

impl Fanout {
    /// Forgets cached match results (the reader is going away).
    pub fn clear(&mut self) {
        self.l1.clear();
        self.l1_imported.clear();
        self.scratch.targets.clear();
        self.scratch.used_targets = 0;
    }

    /// Delivers `msg`, published in `account`, there, in every account importing it as a
    /// stream, and through the account's service imports (and, for a response to a service
    /// request, back in the requester's account); returns how many subscribers, routes and
    /// services it went to.
    pub fn deliver<H: Hub>(
        &mut self,
        server: &H,
        account: &Arc<Account>,
        msg: Msg<'_>,
        origin: Origin<'_>,
    ) -> usize {
        self.deliver_at(server, account, msg, origin, 0)
    }

    /// [`Fanout::deliver`], `depth` imports away from where the message was published.
    fn deliver_at<H: Hub>(
        &mut self,
        server: &H,
        account: &Arc<Account>,
        msg: Msg<'_>,
        origin: Origin<'_>,
        depth: usize,
    ) -> usize {
        let mut delivered = self.deliver_in(server, account, msg, origin, depth > 0);
        if let Some(responses) = account.responses() {
            if responses.covers(msg.subject) {
                delivered += self.deliver_response(server, responses, msg, origin, depth);
            }
        }
        if let Origin::Client { publisher, .. } = origin {
            if !account.service_imports().is_empty() {
                delivered += self.deliver_requests(server, account, msg, publisher, depth);
            }
        }
        delivered
    }

    /// Sends a request published in `account` to the services it imports on that subject:
    /// in the exporter, under the export's subject, with the requester's account in a
    /// `Nats-Request-Info` header and a reply subject of the exporter's that leads back.
    fn deliver_requests<H: Hub>(
        &mut self,
        server: &H,
        account: &Arc<Account>,
        msg: Msg<'_>,
        publisher: &ClientShared,
        depth: usize,
    ) -> usize {
        if depth >= MAX_IMPORT_DEPTH {
            return 0;
        }
        let mut delivered = 0;
        for import in account.service_imports() {
            if !subject::matches(&import.local, msg.subject) {
                continue;
            }
            let mut subject = std::mem::take(&mut self.service_subject);
            let mut payload = std::mem::take(&mut self.service_payload);
            import.map_subject(msg.subject, &mut subject);
            // The first import names the requester's account; along a chain it stays.
            let header_size = if depth == 0 {
                let meta;
                let (server_name, cluster);
                let rtt = u64::try_from(publisher.stats.rtt().as_nanos()).unwrap_or(u64::MAX);
                let mut info = service::RequestInfo {
                    acc: account.name_str(),
                    rtt,
                    ..service::RequestInfo::default()
                };
                if import.share {
                    meta = publisher.stats.meta();
                    (server_name, cluster) = server.names();
                    info = service::RequestInfo {
                        start: Some(crate::stats::rfc3339_nanos(crate::stats::unix_nanos(
                            publisher.start,
                        ))),
                        host: Some(publisher.peer.ip().to_string()),
                        id: Some(publisher.cid),
                        user: &meta.user,
                        name: &meta.name,
                        lang: &meta.lang,
                        ver: &meta.version,
                        server: server_name,
                        cluster: &cluster,
                        jwt: meta.jwt.as_ref().map_or("", |j| j.jwt.as_str()),
                        issuer_key: meta.jwt.as_ref().map_or("", |j| j.issuer_key.as_str()),
                        name_tag: meta.jwt.as_ref().map_or("", |j| j.name_tag.as_str()),
                        kind: "Client",
                        client_type: if publisher.websocket {
                            "websocket"
                        } else {
                            "nats"
                        },
                        ..info
                    };
                }
                service::with_request_info(
                    msg.header_size.map(Size::get),
                    msg.payload,
                    &info,
                    &mut payload,
                )
            } else {
                payload.clear();
                payload.extend_from_slice(msg.payload);
                msg.header_size.map_or(0, Size::get)
            };
            let exporter = &import.exporter;
            let reply = match (msg.reply, exporter.responses()) {
                (Some(reply), Some(responses)) => Some(responses.open(
                    ResponseRoute {
                        into: account.clone(),
                        reply: Bytes::copy_from_slice(reply),
                        response_type: import.response_type,
                    },
                    import.threshold,
                )),
                _ => None,
            };
            let request = Msg {
                subject: &subject,
                reply: reply.as_deref(),
                header_size: (header_size > 0).then(|| Size::new(header_size as u32)),
                total_size: Size::new(payload.len() as u32),
                payload: &payload,
            };
            let origin = Origin::Client {
                publisher,
                echo: true,
            };
            let reached = self.deliver_at(server, exporter, request, origin, depth + 1);
            if reached == 0 {
                // No one to answer: the mapping would only wait for its threshold.
                if let (Some(reply), Some(responses)) = (&reply, exporter.responses()) {
                    responses.close(reply);
                }
            }
            delivered += 1;
            self.service_subject = subject;
            self.service_payload = payload;
        }
        delivered
    }

    /// Delivers a response on one of `responses`' reply subjects to the requester: in its
    /// account, on its own reply subject. A singleton mapping is used up; a stream ends with
    /// an empty message or when the response reached no one.
    fn deliver_response<H: Hub>(
        &mut self,
        server: &H,
        responses: &Responses,
        msg: Msg<'_>,
        origin: Origin<'_>,
        depth: usize,
    ) -> usize {
        if depth >= MAX_IMPORT_DEPTH {
            return 0;
        }
        let Some(route) = responses.claim(msg.subject) else {
            return 0;
        };
        let response = Msg {
            subject: &route.reply,
            reply: None,
            ..msg
        };
        // A response from a route is delivered here only: its sender's server routed it.
        let origin = match origin {
            Origin::Client { publisher, .. } => Origin::Client {
                publisher,
                echo: true,
            },
            _ => Origin::Response,
        };
        let delivered = self.deliver_at(server, &route.into, response, origin, depth + 1);
        if route.response_type != ResponseType::Singleton {
            if delivered == 0 || msg.total_size.get() == 0 {
                responses.close(msg.subject);
            } else {
                responses.extend(msg.subject);
            }
        }
        delivered
    }

    /// Delivers `msg` in `account` only.
    fn deliver_in<H: Hub>(
        &mut self,
        server: &H,
        account: &Account,
        msg: Msg<'_>,
        origin: Origin<'_>,
        imported: bool,
    ) -> usize {
        let l1 = if imported {
            &mut self.l1_imported
        } else {
            &mut self.l1
        };
        let result = l1.lookup(&account.sublist, msg.subject);
        self.scratch
            .deliver(server, &account.name, result, msg, origin)
    }

    /// Queues protocol bytes for `target`, in order with the messages staged for it.
    pub fn send(&mut self, target: &Arc<ClientShared>, bytes: &[u8]) {
        self.scratch
            .stage(target, bytes.len(), 0, 0, |b| b.put_slice(bytes), None);
    }

    /// A subscriber this batch filled past half its buffer, if any (see [`Queued::Stall`]).
    pub fn take_stall(&mut self) -> Option<Arc<ClientShared>> {
        self.scratch.stall.take()
    }

    /// Counts one message this reader received (added to the statistics once per batch).
    #[inline]
    pub fn count_in(&mut self, payload_bytes: usize) {
        self.scratch.in_msgs += 1;
        self.scratch.in_bytes += payload_bytes as u64;
    }

    /// End of a read batch of `reader`: hands every staged buffer to its connection, wakes
    /// every touched writer once, and adds the batch's counters to the server's and the
    /// reader's statistics (once per batch, never per message).
    pub fn end_batch(&mut self, stats: &Stats, reader: &ClientShared) {
        self.scratch.flush_staged(stats);
        for c in self.scratch.touched.drain(..) {
            c.out.wake();
        }
        let s = &mut self.scratch;
        if s.in_msgs > 0 || s.out_msgs > 0 {
            stats.count_traffic(s.in_msgs, s.in_bytes, s.out_msgs, s.out_bytes);
            reader.stats.add_in(s.in_msgs, s.in_bytes);
        }
        (s.in_msgs, s.in_bytes, s.out_msgs, s.out_bytes) = (0, 0, 0, 0);
    }
}

impl Scratch {
    fn deliver<H: Hub>(
        &mut self,
        server: &H,
        account: &[u8],
        result: &SubResult<Subscription>,
        msg: Msg<'_>,
        origin: Origin<'_>,
    ) -> usize {
        let mut delivered = 0;
        self.used_targets = 0;
        for sub in &result.plain {
            if sub.client.kind == Kind::Router {
                if matches!(origin, Origin::Client { .. }) && !denied(sub, msg.subject) {
                    self.target(&sub.client, None);
                }
                continue;
            }
            if self.deliver_local(server, sub, msg, origin) {
                delivered += 1;
            }
        }
        for group in &result.queues {
            let n = group.members.len();
            if n == 0 {
                continue;
            }
            if let Origin::Route { queues } = origin {
                if !queues
                    .split(|b| *b == b' ' || *b == b'\t')
                    .any(|q| q == &group.name[..])
                {
                    continue;
                }
            }
            // One hop: a message from a route never goes back out to routes.
            let may_route = matches!(origin, Origin::Client { .. });
            let start = if may_route {
                rand::rng().random_range(0..n)
            } else {
                // Only local members may take it: start at one of them picked evenly (a
                // start on a route entry would hand its share to the member after it).
                let locals = group
                    .members
                    .iter()
                    .filter(|m| m.client.kind != Kind::Router)
                    .count();
                if locals == 0 {
                    continue;
                }
                let k = rand::rng().random_range(0..locals);
                group
                    .members
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| m.client.kind != Kind::Router)
                    .nth(k)
                    .map_or(0, |(i, _)| i)
            };
            for i in 0..n {
                let member = &group.members[(start + i) % n];
                if member.client.kind == Kind::Router {
                    if may_route && !denied(member, msg.subject) {
                        self.target(&member.client, Some(&group.name));
                        break;
                    }
                    continue;
                }
                if self.deliver_local(server, member, msg, origin) {
                    delivered += 1;
                    break;
                }
            }
        }
        for i in 0..self.used_targets {
            let Some(route) = self.targets[i].route.take() else {
                continue;
            };
            let queues = std::mem::take(&mut self.targets[i].queues);
            self.send_routed(server.stats(), &route, account, msg, &queues);
            delivered += 1;
            self.targets[i].queues = queues;
            self.targets[i].queues.clear();
        }
        delivered
    }

    /// Notes `route` as a destination of the current message (once), adding `queue`.
    fn target(&mut self, route: &Arc<ClientShared>, queue: Option<&[u8]>) {
        let slot = match self.targets[..self.used_targets]
            .iter()
            .position(|t| t.route.as_ref().is_some_and(|r| Arc::ptr_eq(r, route)))
        {
            Some(i) => i,
            None => {
                if self.used_targets == self.targets.len() {
                    self.targets.push(RouteTarget {
                        route: None,
                        queues: BytesMut::new(),
                    });
                }
                let i = self.used_targets;
                self.used_targets += 1;
                self.targets[i].route = Some(route.clone());
                self.targets[i].queues.clear();
                i
            }
        };
        if let Some(queue) = queue {
            let list = &mut self.targets[slot].queues;
            if !list.is_empty() {
                list.put_u8(b' ');
            }
            list.put_slice(queue);
        }
    }

    /// Stages one `RMSG`/`HMSG` for a route.
    fn send_routed(
        &mut self,
        stats: &Stats,
        route: &Arc<ClientShared>,
        account: &[u8],
        msg: Msg<'_>,
        queues: &[u8],
    ) {
        let (header_size, total_size, payload) =
            msg.for_receiver(route.headers.load(Ordering::Relaxed));
        let len = msg.subject.len()
            + msg.reply.map_or(0, <[u8]>::len)
            + queues.len()
            + account.len()
            + payload.len()
            + 48;
        let line = RoutedLine {
            origin: None,
            account,
            subject: msg.subject,
            reply: msg.reply,
            queues,
            header_size,
            total_size,
        };
        self.stage(
            route,
            len,
            1,
            payload.len() as u64,
            |b| {
                line.write(b);
                b.put_slice(payload);
                b.put_slice(b"\r\n");
            },
            Some(stats),
        );
        self.out_msgs += 1;
        self.out_bytes += payload.len() as u64;
        trace_out(route, |out| line.write(out));
    }

    /// Stages the message for one local subscriber; false if it was not for it.
    fn deliver_local<H: Hub>(
        &mut self,
        server: &H,
        sub: &Arc<Subscription>,
        msg: Msg<'_>,
        origin: Origin<'_>,
    ) -> bool {
        // A plain subscription, or a shadow whose import keeps the exporter's names.
        let rename = match sub.rename.as_deref() {
            None | Some(Rename::Keep) => return self.deliver_to(server, sub, msg, origin),
            Some(rename) => rename,
        };
        // A shadow of an importer's subscription: the importer's name for the subject.
        let mut renamed = std::mem::take(&mut self.renamed);
        rename.apply(msg.subject, &mut renamed);
        let imported = Msg {
            subject: &renamed,
            ..msg
        };
        let delivered = self.deliver_to(server, sub, imported, origin);
        self.renamed = renamed;
        delivered
    }

    /// Stages the message for the subscriber of `sub`.
    fn deliver_to<H: Hub>(
        &mut self,
        server: &H,
        sub: &Arc<Subscription>,
        msg: Msg<'_>,
        origin: Origin<'_>,
    ) -> bool {
        let target = &sub.client;
        if let Origin::Client {
            publisher,
            echo: false,
        } = origin
        {
            if target.cid == publisher.cid {
                return false;
            }
        }
        if denied(sub, msg.subject) {
            return false;
        }
        let max = sub.max();
        let count = sub.delivered.fetch_add(1, Ordering::Relaxed) + 1;
        if max > 0 && count > max {
            return false;
        }
        if target.out.is_closed() {
            return false;
        }
        let (header_size, total_size, payload) =
            msg.for_receiver(target.headers.load(Ordering::Relaxed));
        let len = msg.subject.len()
            + sub.sid.len()
            + msg.reply.map_or(0, <[u8]>::len)
            + payload.len()
            + 40;
        self.stage(
            target,
            len,
            1,
            payload.len() as u64,
            |b| {
                write_msg_line(b, msg.subject, &sub.sid, msg.reply, header_size, total_size);
                b.put_slice(payload);
                b.put_slice(b"\r\n");
            },
            Some(server.stats()),
        );
        self.out_msgs += 1;
        self.out_bytes += payload.len() as u64;
        trace_out(target, |line| {
            write_msg_line(
                line,
                msg.subject,
                &sub.sid,
                msg.reply,
                header_size,
                total_size,
            )
        });
        if let Some(reply) = msg.reply {
            target.note_response(reply);
        }
        if max > 0 && count == max {
            server.unsubscribe(sub);
            debug!(
                "{}Auto-unsubscribe limit of {} reached for sid '{}'",
                target.prefix,
                max,
                String::from_utf8_lossy(&sub.sid)
            );
        }
        true
    }

    /// Writes about `len` bytes for `target` into its staging buffer (or straight into its
    /// outbound buffer when the message is big or too many destinations are staged already).
    fn stage(
        &mut self,
        target: &Arc<ClientShared>,
        len: usize,
        msgs: u64,
        payload_bytes: u64,
        write: impl FnOnce(&mut BytesMut),
        stats: Option<&Stats>,
    ) {
        let slot = self.staged[..self.used_staged]
            .iter()
            .rposition(|s| Arc::ptr_eq(&s.target, target));
        if len >= STAGE_DIRECT {
            if let Some(slot) = slot {
                self.hand_over(slot, stats);
            }
            let queued = target.out.push(len, msgs, payload_bytes, write);
            self.queued(stats, target, queued);
            return;
        }
        let slot = match slot {
            Some(i) => i,
            None if self.used_staged < MAX_STAGED => {
                let i = self.used_staged;
                self.used_staged += 1;
                if i == self.staged.len() {
                    self.staged.push(Staged {
                        target: target.clone(),
                        buf: BytesMut::new(),
                        msgs: 0,
                        payload_bytes: 0,
                    });
                } else {
                    self.staged[i].target = target.clone();
                }
                i
            }
            None => {
                let queued = target.out.push(len, msgs, payload_bytes, write);
                self.queued(stats, target, queued);
                return;
            }
        };
        if self.staged[slot].buf.len() + len > STAGE_FLUSH {
            // Handed over before it could pass a chunk: a hand-over bigger than a chunk fits
            // none of the chunks the outbound buffer keeps for reuse, and would allocate.
            self.hand_over(slot, stats);
        }
        let staged = &mut self.staged[slot];
        staged.buf.reserve(len);
        write(&mut staged.buf);
        staged.msgs += msgs;
        staged.payload_bytes += payload_bytes;
        if staged.buf.len() >= STAGE_FLUSH {
            self.hand_over(slot, stats);
        }
    }

    /// Appends a staging buffer to its connection's outbound buffer and empties it.
    fn hand_over(&mut self, slot: usize, stats: Option<&Stats>) {
        let staged = &mut self.staged[slot];
        if staged.buf.is_empty() {
            return;
        }
        let target = staged.target.clone();
        // Copied, not queued by reference: handing the staging buffer over would cost an
        // allocation per batch (a new staging buffer, a shared header), which a copy into the
        // queue's reused tail does not.
        let buf = &staged.buf;
        let queued = target
            .out
            .push(buf.len(), staged.msgs, staged.payload_bytes, |b| {
                b.put_slice(buf)
            });
        staged.buf.clear();
        staged.msgs = 0;
        staged.payload_bytes = 0;
        self.queued(stats, &target, queued);
    }

    /// Hands every staged buffer over, at the end of a read batch.
    fn flush_staged(&mut self, stats: &Stats) {
        for slot in 0..self.used_staged {
            self.hand_over(slot, Some(stats));
        }
        // Keep the buffers for the next batch, but let go of big idle ones.
        for s in &mut self.staged[..self.used_staged] {
            if s.buf.capacity() > 4 * STAGE_FLUSH {
                s.buf = BytesMut::new();
            }
        }
        self.used_staged = 0;
    }

    /// Books the outcome of an append to an outbound buffer.
    fn queued(&mut self, stats: Option<&Stats>, target: &Arc<ClientShared>, queued: Queued) {
        match queued {
            Queued::Yes | Queued::Closed => {}
            Queued::Wake => self.touched.push(target.clone()),
            // A route over half its buffer holds the publisher back too: a busy route drains
            // instead of being cut off at `max_pending`.
            Queued::Stall => {
                if self.stall.is_none() {
                    self.stall = Some(target.clone());
                }
            }
            Queued::SlowConsumer => {
                if let Some(stats) = stats {
                    stats.count_slow_consumer();
                }
                info!(
                    "{}Slow Consumer Detected: MaxPending of {} Exceeded",
                    target.prefix,
                    target.out.max_pending()
                );
                target.close(CloseReason::SlowConsumerPendingBytes, true);
            }
        }
    }
}

/// Whether the subscriber's permissions (a client's subscribe deny list, a route's `export`
/// deny list) refuse a message on `subject` that its wildcard filter matched.
#[inline]
fn denied(sub: &Subscription, subject: &[u8]) -> bool {
    sub.deny_check
        .as_ref()
        .is_some_and(|perms| perms.deny_delivery(subject))
}

/// Logs `->> [<control line>]` for `target` with `-V` (built only when tracing is on).
fn trace_out(target: &ClientShared, write: impl FnOnce(&mut BytesMut)) {
    if crate::log::trace_enabled() {
        let mut line = BytesMut::new();
        write(&mut line);
        let text = line.strip_suffix(b"\r\n").unwrap_or(&line);
        trace!("{}->> [{}]", target.prefix, String::from_utf8_lossy(text));
    }
}
