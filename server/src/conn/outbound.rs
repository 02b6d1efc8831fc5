//! A connection's outbound side: the queue producers append to, and the one writer task that
//! drains it into the socket.
//!
//! Producers (any connection's reader delivering a message, or the owner answering `PING`)
//! lock the queue briefly, append, and remember whether they were first since the last drain;
//! only the first one schedules a wake-up, so a burst of deliveries costs one wake-up per
//! touched connection and read batch. Appends are gathered into chunks of at most [`CHUNK`]
//! bytes. The writer takes the queued chunks under the lock and writes them outside it,
//! vectored, under the write deadline, giving back each chunk as soon as the socket took it.
//! The tail is reused while the connection is busy (its written part comes back once the
//! socket took it) and let go of at a ping tick when idle, so neither a stream of messages nor
//! an idle connection costs allocations or memory beyond what is pending.
//! `pending` counts every byte appended and not yet written, the writer's share included, so
//! memory follows the bytes actually pending and `max_pending` bounds all of it: an append that
//! would go past it makes the connection a slow consumer (nothing more is queued and the
//! producer moves on at full speed).

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

/// What happened to an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// Appended; the writer already has a wake-up pending.
    Yes,
    /// Appended, and the caller must wake the writer (once, after its batch).
    Wake,
    /// Appended (wake-up pending), but the pending bytes are past the stall mark: the producer
    /// should stall briefly so a merely slow reader is not cut off (nats-server does the same).
    Stall,
    /// Not appended: the connection is closed or closing.
    Closed,
    /// Not appended: the pending bytes would exceed `max_pending`.
    SlowConsumer,
}

struct State {
    /// Chunks waiting for the writer, oldest first.
    queue: VecDeque<Bytes>,
    /// The chunk appends are gathered in; queued when full or when the writer comes.
    tail: BytesMut,
    /// Chunks the writer finished with, for the tail to reuse instead of allocating (at most
    /// [`SPARES`]: a writer a chunk or two behind the producers still allocates nothing).
    spare: Vec<BytesMut>,
    /// Capacity of the next chunk the tail allocates: it doubles up to [`CHUNK`] each time,
    /// so a busy connection soon allocates whole chunks (and then reuses them) while a quiet
    /// one stays small.
    next_chunk: usize,
    /// Bytes appended and not yet written: queued, in the tail, and taken by the writer but
    /// not yet through the socket.
    pending: usize,
    /// Bytes written so far, to tell a peer that reads slowly from one that does not read.
    written: u64,
    /// A stall found the writer moving nothing: producers stop waiting for this connection
    /// until it writes again (a stuck peer is cut off at `max_pending` without holding
    /// everyone back on the way).
    stuck: bool,
    /// A wake-up is scheduled or the writer is draining.
    scheduled: bool,
    /// No more appends (closing).
    closed: bool,
    /// Skip flushing on close (slow consumer: the peer is not reading anyway).
    abort: bool,
    /// Messages and bytes delivered through this buffer (for statistics).
    msgs: u64,
    bytes: u64,
}

impl State {
    /// Makes room for `len` more bytes in the tail: in place when the chunk the tail is part
    /// of has it or can be reclaimed (the writer is done with the rest of it), else in the
    /// spare chunk, else in a new chunk (the tail so far queued first).
    fn make_room(&mut self, len: usize) {
        if self.tail.capacity() - self.tail.len() >= len || self.tail.try_reclaim(len) {
            return;
        }
        self.queue_tail();
        while let Some(mut spare) = self.spare.pop() {
            if spare.capacity() >= len || spare.try_reclaim(len) {
                self.tail = spare;
                return;
            }
        }
        self.tail = BytesMut::with_capacity(self.next_chunk.max(len));
        self.next_chunk = (self.next_chunk * 2).min(CHUNK);
    }

    /// Queues the tail, if it holds anything, behind the chunks before it.
    fn queue_tail(&mut self) {
        if !self.tail.is_empty() {
            let full = self.tail.split().freeze();
            self.queue.push_back(full);
        }
    }
}

/// The outbound queue of one connection.
pub struct Outbound {
    state: Mutex<State>,
    wake: Notify,
    /// Signalled after every write, for stalled producers.
    drained: Notify,
    /// Cancelled when the connection is closed without flushing (a slow consumer, a write
    /// error), so a writer blocked on a peer that does not read gives up at once.
    aborted: tokio_util::sync::CancellationToken,
    /// Mirrors `State::closed` so deliveries can skip a closing connection without the lock.
    closed_hint: std::sync::atomic::AtomicBool,
    max_pending: usize,
    /// Past this many pending bytes producers stall: half of `max_pending`, as nats-server,
    /// but never more than [`STALL_MAX`].
    stall_at: usize,
    /// Unix nanoseconds of the last write that carried messages (0: none yet), for the
    /// connection's last activity in `/connz`; stored once per write, not per message.
    last_delivery: AtomicI64,
}

/// Largest chunk small appends are gathered into: a full one is queued and the next append
/// starts another, so no single buffer grows with a burst and a written chunk is freed whole.
pub const CHUNK: usize = 64 * 1024;
/// Written chunks a connection keeps for reuse while busy.
const SPARES: usize = 2;
/// The first chunk a connection allocates (its INFO, a PONG: most connections need no more).
const FIRST_CHUNK: usize = 512;
/// Written chunks smaller than this are not worth keeping for reuse.
const KEEP: usize = 4 * 1024;
/// Producers stall once this much is pending even when `max_pending` is much larger: a
/// subscriber that keeps up needs far less, and the memory of one that does not is bounded
/// by how fast it reads, not by `max_pending / 2` per subscriber. 2 MiB keeps nats.go
/// subscribers at their throughput with 8 MiB (the comparison's fan-out rows) at a third of
/// the peak RSS.
const STALL_MAX: usize = 2 * 1024 * 1024;
/// Longest a producer is held back for one slow connection per read batch.
pub const STALL: Duration = Duration::from_millis(100);
/// A stalled producer that sees the writer move nothing for this long stops waiting: the
/// peer is not reading, and waiting for it would only slow everyone else down. It is as long
/// as nats-server's shortest stall, because a peer that reads steadily still moves the writer
/// only in bursts: the kernel wakes a blocked writer once about half its send buffer is free,
/// tens of milliseconds apart for a reader of some tens of MB/s (20 ms cut such readers off).
pub const STUCK_AFTER: Duration = Duration::from_millis(100);
/// Most chunks handed to one vectored write.
const MAX_SLICES: usize = 64;

impl Outbound {
    /// An empty outbound queue bounded by `max_pending` bytes.
    pub fn new(max_pending: usize) -> Outbound {
        Outbound {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                tail: BytesMut::new(),
                spare: Vec::new(),
                next_chunk: FIRST_CHUNK,
                pending: 0,
                written: 0,
                stuck: false,
                scheduled: false,
                closed: false,
                abort: false,
                msgs: 0,
                bytes: 0,
            }),
            wake: Notify::new(),
            drained: Notify::new(),
            aborted: tokio_util::sync::CancellationToken::new(),
            closed_hint: std::sync::atomic::AtomicBool::new(false),
            max_pending,
            stall_at: (max_pending / 2).min(STALL_MAX),
            last_delivery: AtomicI64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Refuses an append of `len` bytes that would pass `max_pending` (closing the queue:
    /// the connection is a slow consumer), or one to a closed queue.
    fn admit(&self, st: &mut State, len: usize) -> Result<(), Queued> {
        if st.closed {
            return Err(Queued::Closed);
        }
        if st.pending + len > self.max_pending {
            st.closed = true;
            self.closed_hint
                .store(true, std::sync::atomic::Ordering::Relaxed);
            st.abort = true;
            return Err(Queued::SlowConsumer);
        }
        Ok(())
    }

    /// Books an append of `added` bytes carrying `msgs` messages, and says what the producer
    /// must do next.
    fn appended(&self, st: &mut State, added: usize, msgs: u64, payload_bytes: u64) -> Queued {
        st.pending += added;
        st.msgs += msgs;
        st.bytes += payload_bytes;
        if !st.scheduled {
            st.scheduled = true;
            Queued::Wake
        } else if st.pending > self.stall_at && !st.stuck {
            Queued::Stall
        } else {
            Queued::Yes
        }
    }

    /// Appends what `write` writes (at most about `len` bytes, which is what the `max_pending`
    /// check uses), counting `msgs` messages carrying `payload_bytes` bytes of headers and
    /// payload (nats-server counts message bodies, not the `MSG` lines around them).
    #[inline]
    pub fn push(
        &self,
        len: usize,
        msgs: u64,
        payload_bytes: u64,
        write: impl FnOnce(&mut BytesMut),
    ) -> Queued {
        let mut st = self.lock();
        if let Err(refused) = self.admit(&mut st, len) {
            return refused;
        }
        if !st.tail.is_empty() && st.tail.len() + len > CHUNK {
            st.queue_tail();
        }
        st.make_room(len);
        let before = st.tail.len();
        write(&mut st.tail);
        let added = st.tail.len() - before;
        self.appended(&mut st, added, msgs, payload_bytes)
    }

    /// Waits until the pending bytes drop to the stall mark, the queue closes, or `timeout`
    /// passes. A writer that moves nothing for [`STUCK_AFTER`] marks the peer stuck and ends
    /// the wait: later appends do not ask for a stall until it writes again.
    pub async fn wait_drained(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut written = self.lock().written;
        let mut look_again = tokio::time::Instant::now() + STUCK_AFTER;
        loop {
            let drained = self.drained.notified();
            {
                let st = self.lock();
                if st.closed || st.stuck || st.pending <= self.stall_at {
                    return;
                }
                if st.written != written {
                    written = st.written;
                    look_again = tokio::time::Instant::now() + STUCK_AFTER;
                }
            }
            if tokio::time::timeout_at(deadline.min(look_again), drained)
                .await
                .is_err()
            {
                let mut st = self.lock();
                let now = tokio::time::Instant::now();
                if st.written == written && now >= look_again {
                    st.stuck = true;
                    return;
                }
                if now >= deadline {
                    return;
                }
            }
        }
    }

    /// Appends raw protocol bytes (INFO, PONG, +OK, -ERR) and wakes the writer.
    pub fn send(&self, bytes: &[u8]) -> Queued {
        let queued = self.push(bytes.len(), 0, 0, |b| b.put_slice(bytes));
        if queued == Queued::Wake {
            self.wake();
        }
        queued
    }

    /// Wakes the writer.
    #[inline]
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops accepting appends; the writer flushes what is queued (unless `abort`) and ends.
    pub fn close(&self, abort: bool) {
        {
            let mut st = self.lock();
            st.closed = true;
            self.closed_hint
                .store(true, std::sync::atomic::Ordering::Relaxed);
            st.abort |= abort;
        }
        if abort {
            self.aborted.cancel();
        }
        self.wake.notify_one();
        self.drained.notify_waiters();
    }

    /// Whether the buffer takes no more output (the connection is closing).
    pub fn is_closed(&self) -> bool {
        self.closed_hint.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The `max_pending` bound of this buffer.
    pub fn max_pending(&self) -> usize {
        self.max_pending
    }

    /// Unix nanoseconds of the last write that carried messages (0: none yet).
    pub fn last_delivery(&self) -> i64 {
        self.last_delivery.load(Ordering::Relaxed)
    }

    /// Messages and body bytes delivered so far.
    pub fn delivered(&self) -> (u64, u64) {
        let st = self.lock();
        (st.msgs, st.bytes)
    }

    /// Bytes appended and not yet written.
    pub fn pending(&self) -> usize {
        self.lock().pending
    }

    /// Moves every queued chunk into `out` (the writer's). Returns whether the queue is
    /// closed, whether queued bytes must be dropped instead of written, and the number of
    /// messages queued so far. With nothing to take, the writer goes idle and a big tail is
    /// let go of.
    fn take(&self, out: &mut VecDeque<Bytes>) -> (bool, bool, u64) {
        let mut st = self.lock();
        st.queue_tail();
        if out.is_empty() {
            std::mem::swap(&mut st.queue, out);
        } else {
            out.extend(st.queue.drain(..));
        }
        if out.is_empty() {
            st.scheduled = false;
        }
        (st.closed, st.abort, st.msgs)
    }

    /// Lets go of the tail and the spare chunks when nothing is pending (the connection's ping timer
    /// calls it: an idle connection holds no big buffer for long, while a busy one keeps
    /// reusing its tail instead of growing a new one for every burst).
    pub fn shrink_if_idle(&self) {
        let mut st = self.lock();
        if st.pending > 0 {
            return;
        }
        // Empty (nothing pending) but maybe the rest of a bigger chunk, which it keeps alive.
        st.tail = BytesMut::new();
        st.spare = Vec::new();
        st.next_chunk = FIRST_CHUNK;
        st.queue = VecDeque::new();
    }

    /// Takes back a chunk the writer is done with, for reuse (up to [`SPARES`]; in the steady
    /// state the tail cycles through them, so a stream of messages allocates nothing).
    fn recycle(&self, chunk: Bytes) {
        if let Ok(mut buf) = chunk.try_into_mut() {
            buf.clear();
            let mut st = self.lock();
            if st.spare.len() < SPARES && !st.closed && buf.capacity() >= KEEP {
                st.spare.push(buf);
            }
        }
    }

    /// Books `n` bytes the socket took, and lets stalled producers look again.
    fn wrote(&self, n: usize) {
        {
            let mut st = self.lock();
            st.pending = st.pending.saturating_sub(n);
            st.written += n as u64;
            st.stuck = false;
        }
        self.drained.notify_waiters();
    }
}

/// Why the writer stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterEnd {
    /// Closed on request after flushing.
    Closed,
    /// A write blocked longer than the deadline.
    Deadline,
    /// The socket failed.
    Error,
}

/// How a connection's write deadline is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// Each drained batch must be written within the duration (clients: a client that cannot
    /// take its batch in time is a slow consumer).
    Batch(Duration),
    /// Only a write that makes no progress at all within the duration fails (routes, as in
    /// nats-server: a busy but moving route is kept).
    Progress(Duration),
}

/// The writer task of one connection: drains the buffer into `sink` until the buffer is closed
/// and flushed, or a write fails or misses its deadline. With `idle_flush`, a wake-up with
/// nothing queued flushes `sink` (a websocket stream sends the control frames its read side
/// queued that way).
pub async fn run_writer<W: AsyncWrite + Unpin>(
    out: &Outbound,
    mut sink: W,
    deadline: Deadline,
    idle_flush: bool,
) -> WriterEnd {
    let limit = match deadline {
        Deadline::Batch(d) | Deadline::Progress(d) => d,
    };
    let mut chunks = VecDeque::new();
    let mut written_msgs = 0;
    loop {
        let (closed, abort, msgs) = out.take(&mut chunks);
        if abort {
            return WriterEnd::Closed;
        }
        if chunks.is_empty() {
            if closed {
                let _ = tokio::time::timeout(limit, sink.shutdown()).await;
                return WriterEnd::Closed;
            }
            if idle_flush {
                let flushed = tokio::select! {
                    biased;
                    flushed = tokio::time::timeout(limit, sink.flush()) => flushed,
                    _ = out.aborted.cancelled() => return WriterEnd::Closed,
                };
                match flushed {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return WriterEnd::Error,
                    Err(_) => {
                        out.close(true);
                        return WriterEnd::Deadline;
                    }
                }
            }
            out.wake.notified().await;
            continue;
        }
        let write = async {
            match deadline {
                Deadline::Batch(d) => {
                    let all = write_chunks(&mut sink, &mut chunks, out, None);
                    tokio::time::timeout(d, all).await.unwrap_or(Err(Stalled))
                }
                Deadline::Progress(d) => write_chunks(&mut sink, &mut chunks, out, Some(d)).await,
            }
        };
        // The write first: it usually completes on its first poll, and then the abort signal
        // is never polled (polling it would take a lock per batch).
        let written = tokio::select! {
            biased;
            written = write => written,
            _ = out.aborted.cancelled() => return WriterEnd::Closed,
        };
        match written {
            Ok(Ok(())) => {
                if msgs != written_msgs {
                    written_msgs = msgs;
                    out.last_delivery
                        .store(crate::stats::now_nanos(), Ordering::Relaxed);
                }
            }
            Ok(Err(_)) => return WriterEnd::Error,
            Err(Stalled) => {
                out.close(true);
                return WriterEnd::Deadline;
            }
        }
    }
}

/// A write that moved nothing within its limit.
struct Stalled;

/// Writes and flushes every chunk, vectored, giving each back as soon as the socket took it
/// and booking the bytes written after every call. With `per_call`, a call (or the flush)
/// that moves nothing within it fails the write (routes); without, the caller bounds the
/// whole batch.
///
/// The flush is a no-op on TCP; a TLS stream may keep encrypted records it could not write
/// yet, and only a flush pushes them out before the writer goes back to sleep.
async fn write_chunks<W: AsyncWrite + Unpin>(
    sink: &mut W,
    chunks: &mut VecDeque<Bytes>,
    out: &Outbound,
    per_call: Option<Duration>,
) -> Result<std::io::Result<()>, Stalled> {
    while !chunks.is_empty() {
        let written = {
            // The slices are built on the stack at every poll rather than kept in the writer's
            // state, which every idle connection carries.
            let write = std::future::poll_fn(|cx| {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let mut used = 0;
                for (slot, chunk) in slices.iter_mut().zip(chunks.iter()) {
                    *slot = IoSlice::new(chunk);
                    used += 1;
                }
                std::pin::Pin::new(&mut *sink).poll_write_vectored(cx, &slices[..used])
            });
            match per_call {
                Some(limit) => tokio::time::timeout(limit, write)
                    .await
                    .map_err(|_| Stalled)?,
                None => write.await,
            }
        };
        let mut n = match written {
            Ok(0) => return Ok(Err(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        out.wrote(n);
        while n > 0 {
            let Some(front) = chunks.front_mut() else {
                break;
            };
            if n >= front.len() {
                n -= front.len();
                if let Some(done) = chunks.pop_front() {
                    out.recycle(done);
                }
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }
    match per_call {
        Some(limit) => tokio::time::timeout(limit, sink.flush())
            .await
            .map_err(|_| Stalled),
        None => Ok(sink.flush().await),
    }
}

#[cfg(test)]
mod tests {
    //! The write deadlines under tokio's paused clock: the peer is an in-memory pipe that
    //! takes bytes only as fast as the test lets it, and the instants asserted are exact.

    use tokio::io::{AsyncReadExt, DuplexStream};
    use tokio::time::Instant;

    use super::*;

    const LIMIT: Duration = Duration::from_secs(2);

    /// Queues 64 bytes on a buffer whose writer faces a pipe with room for 16, closes the
    /// buffer (flush, then end), and runs the writer while `peer` reads.
    async fn write_64_bytes<F>(deadline: Deadline, peer: F) -> (WriterEnd, Duration)
    where
        F: FnOnce(DuplexStream) -> tokio::task::JoinHandle<()>,
    {
        let out = Outbound::new(1 << 20);
        out.send(&[b'x'; 64]);
        out.close(false);
        let (ours, theirs) = tokio::io::duplex(16);
        let reading = peer(theirs);
        let start = Instant::now();
        let end = run_writer(&out, ours, deadline, false).await;
        let took = start.elapsed();
        reading.abort();
        (end, took)
    }

    /// A peer that reads 8 bytes a second: always moving, never fast.
    fn slow_reader(mut pipe: DuplexStream) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut chunk = [0u8; 8];
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if pipe.read_exact(&mut chunk).await.is_err() {
                    return;
                }
            }
        })
    }

    /// A peer that never reads.
    fn stuck_reader(pipe: DuplexStream) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(pipe);
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_not_written_within_the_deadline_ends_the_writer_at_the_deadline() {
        let (end, took) = write_64_bytes(Deadline::Batch(LIMIT), slow_reader).await;
        assert_eq!((end, took), (WriterEnd::Deadline, LIMIT));
        let (end, took) = write_64_bytes(Deadline::Batch(LIMIT), stuck_reader).await;
        assert_eq!((end, took), (WriterEnd::Deadline, LIMIT));
    }

    #[tokio::test(start_paused = true)]
    async fn a_progress_deadline_keeps_a_slow_but_moving_peer_and_drops_a_stuck_one() {
        // 16 bytes fit at once, the other 48 go at 8 a second: done after 6 s.
        let (end, took) = write_64_bytes(Deadline::Progress(LIMIT), slow_reader).await;
        assert_eq!((end, took), (WriterEnd::Closed, Duration::from_secs(6)));
        let (end, took) = write_64_bytes(Deadline::Progress(LIMIT), stuck_reader).await;
        assert_eq!((end, took), (WriterEnd::Deadline, LIMIT));
    }

    /// Reads `n` bytes from the peer's end of the pipe.
    async fn read_n(pipe: &mut DuplexStream, n: usize, into: &mut [u8]) {
        let mut left = n;
        while left > 0 {
            let step = left.min(into.len());
            pipe.read_exact(&mut into[..step]).await.expect("pipe");
            left -= step;
        }
    }

    /// Lets the writer run until it waits on the pipe again.
    async fn settle() {
        for _ in 0..64 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_busy_queue_allocates_nothing_while_its_writer_keeps_up() {
        // A reader that takes everything, so the writer never waits on the pipe.
        let (ours, mut theirs) = tokio::io::duplex(CHUNK);
        let reader = tokio::spawn(async move {
            let mut sink = vec![0u8; CHUNK];
            while theirs.read(&mut sink).await.is_ok_and(|n| n > 0) {}
        });
        let out = std::sync::Arc::new(Outbound::new(64 << 20));
        let writer = {
            let out = out.clone();
            tokio::spawn(async move { run_writer(&out, ours, Deadline::Batch(LIMIT), false).await })
        };
        // Bursts of 3 KiB, each taken by the writer before the next: every chunk goes out in
        // pieces, and the tail is reclaimed in place once the socket took them all.
        let msg = [b'x'; 1024];
        let burst = |n: usize| {
            for _ in 0..n {
                if out.push(msg.len(), 1, 1024, |b| b.put_slice(&msg)) == Queued::Wake {
                    out.wake();
                }
            }
        };
        for _ in 0..64 {
            burst(3);
            settle().await;
        }
        // 16 more chunks' worth: the queue cycles through the chunks it kept.
        let before = crate::heap::allocations();
        for _ in 0..(16 * CHUNK / (3 * 1024)) {
            burst(3);
            settle().await;
        }
        let allocations = crate::heap::allocations() - before;
        assert!(allocations <= 2, "{allocations} allocations for 16 chunks");
        out.close(false);
        assert_eq!(writer.await.expect("writer task"), WriterEnd::Closed);
        reader.await.expect("reader task");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn memory_follows_the_bytes_pending_and_the_writers_share_counts() {
        const PIPE: usize = 64 * 1024;
        // Not counted: the reading buffer and the pipe, allocated before the baseline.
        let mut sink = vec![0u8; PIPE];
        let (mut ours, mut theirs) = tokio::io::duplex(PIPE);
        // The pipe allocates its buffer on first use: fill and drain it once.
        tokio::io::AsyncWriteExt::write_all(&mut ours, &sink)
            .await
            .expect("pipe");
        read_n(&mut theirs, PIPE, &mut sink).await;
        let out = std::sync::Arc::new(Outbound::new(64 << 20));
        let base = crate::heap::live();
        let heap = || usize::try_from(crate::heap::live() - base).unwrap_or(0);
        // 4 MiB: 2 MiB of 1 KiB messages, 2 MiB of 16 KiB ones, gathered into chunks.
        let msg = [b'x'; 1024];
        for _ in 0..2048 {
            out.push(msg.len(), 1, 1024, |b| b.put_slice(&msg));
        }
        let big = vec![b'y'; 16 * 1024];
        for _ in 0..128 {
            out.push(big.len(), 1, 16 * 1024, |b| b.put_slice(&big));
        }
        let total = 4 << 20;
        assert_eq!(out.pending(), total);
        let writer = {
            let out = out.clone();
            tokio::spawn(async move { run_writer(&out, ours, Deadline::Batch(LIMIT), false).await })
        };
        settle().await;
        // The writer holds everything now: still pending until the socket took it.
        assert_eq!(out.pending(), total - PIPE, "the pipe took one chunk");
        // Beyond the pending bytes: the written part of a chunk the socket took half of,
        // written chunks kept for reuse, and the queue's own bookkeeping.
        let slack = (1 + SPARES) * CHUNK + 32 * 1024;
        let within_pending = || {
            let (heap, pending) = (heap(), out.pending());
            assert!(heap <= pending + slack, "heap {heap} for {pending} pending");
        };
        within_pending();
        // Written chunks are freed as they go, not when the whole batch is through.
        read_n(&mut theirs, total / 2, &mut sink).await;
        settle().await;
        assert_eq!(out.pending(), total / 2 - PIPE);
        within_pending();
        read_n(&mut theirs, total / 2, &mut sink).await;
        settle().await;
        assert_eq!(out.pending(), 0);
        // The pipe's buffer grows once while written and read at the same time; the writer
        // keeps its list of chunks (a few KiB) and the queue its tail, for reuse.
        assert!(
            heap() <= PIPE + (1 + SPARES) * CHUNK + 16 * 1024,
            "a drained queue holds {} bytes",
            heap()
        );
        out.close(false);
        assert_eq!(writer.await.expect("writer task"), WriterEnd::Closed);
        drop(theirs);
        out.shrink_if_idle();
        assert!(heap() <= 1024, "an idle queue holds {} bytes", heap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_on_a_peer_that_reads_nothing_marks_it_stuck_until_it_reads_again() {
        let out = std::sync::Arc::new(Outbound::new(1 << 20));
        let (ours, mut theirs) = tokio::io::duplex(16);
        let writer = {
            let out = out.clone();
            tokio::spawn(async move { run_writer(&out, ours, Deadline::Batch(LIMIT), false).await })
        };
        let chunk = [b'x'; 1024];
        let push = || out.push(chunk.len(), 1, 1024, |b| b.put_slice(&chunk));
        assert_eq!(push(), Queued::Wake);
        out.wake();
        settle().await;
        let mut last = Queued::Yes;
        for _ in 0..600 {
            last = push();
        }
        assert_eq!(last, Queued::Stall, "past half of max_pending");
        let start = Instant::now();
        out.wait_drained(STALL).await;
        assert_eq!(start.elapsed(), STUCK_AFTER, "nothing moved: stuck");
        assert_eq!(push(), Queued::Yes, "a stuck peer holds no one back");
        // It reads again: producers stall for it again, and for the whole stall while it
        // keeps moving, however slowly.
        let mut buf = [0u8; 16];
        theirs.read_exact(&mut buf).await.expect("pipe");
        settle().await;
        assert_eq!(push(), Queued::Stall);
        let reading = tokio::spawn(async move {
            for _ in 0..100 {
                tokio::time::sleep(STUCK_AFTER / 2).await;
                if theirs.read_exact(&mut buf).await.is_err() {
                    return;
                }
            }
        });
        let start = Instant::now();
        out.wait_drained(STALL).await;
        assert_eq!(start.elapsed(), STALL, "a slow reader is waited for");
        assert_eq!(push(), Queued::Stall, "and not taken for a stuck one");
        out.close(true);
        assert_eq!(writer.await.expect("writer task"), WriterEnd::Closed);
        reading.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_writer_with_nothing_queued_waits_without_a_deadline_and_ends_on_close() {
        let out = std::sync::Arc::new(Outbound::new(1024));
        let (ours, _theirs) = tokio::io::duplex(16);
        let writer = {
            let out = out.clone();
            tokio::spawn(async move { run_writer(&out, ours, Deadline::Batch(LIMIT), false).await })
        };
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(
            !writer.is_finished(),
            "an idle writer is not a slow consumer"
        );
        out.close(false);
        assert_eq!(writer.await.expect("writer task"), WriterEnd::Closed);
    }
}
