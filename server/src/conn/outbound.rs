//! A connection's outbound side: the buffer producers append to, and the one writer task that
//! drains it into the socket.
//!
//! Producers (any connection's reader delivering a message, or the owner answering `PING`)
//! lock the buffer briefly, append, and remember whether they were first since the last drain;
//! only the first one schedules a wake-up, so a burst of deliveries costs one wake-up per
//! touched connection and read batch. The writer swaps the filled buffer for an empty one under
//! the lock and writes it outside the lock, under the write deadline. A buffer that would grow
//! past `max_pending` makes the connection a slow consumer: nothing more is queued and the
//! producer moves on at full speed.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

/// What happened to an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// Appended; the writer already has a wake-up pending.
    Yes,
    /// Appended, and the caller must wake the writer (once, after its batch).
    Wake,
    /// Appended (wake-up pending), but the buffer is over half of `max_pending`: the producer
    /// should stall briefly so a merely slow reader is not cut off (nats-server does the same).
    Stall,
    /// Not appended: the connection is closed or closing.
    Closed,
    /// Not appended: the pending bytes would exceed `max_pending`.
    SlowConsumer,
}

struct State {
    buf: BytesMut,
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

/// The outbound buffer of one connection.
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
    /// Unix nanoseconds of the last write that carried messages (0: none yet), for the
    /// connection's last activity in `/connz`; stored once per write, not per message.
    last_delivery: AtomicI64,
}

/// Initial capacity of an outbound buffer; it grows with bursts up to `max_pending`.
const INITIAL: usize = 4 * 1024;
/// Above this, a drained buffer is not kept for reuse (shrink when idle).
const KEEP_MAX: usize = 1024 * 1024;

impl Outbound {
    /// An empty outbound buffer bounded by `max_pending` bytes.
    pub fn new(max_pending: usize) -> Outbound {
        Outbound {
            state: Mutex::new(State {
                buf: BytesMut::with_capacity(INITIAL),
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
            last_delivery: AtomicI64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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
        if st.closed {
            return Queued::Closed;
        }
        if st.buf.len() + len > self.max_pending {
            st.closed = true;
            self.closed_hint
                .store(true, std::sync::atomic::Ordering::Relaxed);
            st.abort = true;
            return Queued::SlowConsumer;
        }
        st.buf.reserve(len);
        write(&mut st.buf);
        st.msgs += msgs;
        st.bytes += payload_bytes;
        if !st.scheduled {
            st.scheduled = true;
            Queued::Wake
        } else if st.buf.len() > self.max_pending / 2 {
            Queued::Stall
        } else {
            Queued::Yes
        }
    }

    /// Waits until the queued bytes drop to half of `max_pending`, the buffer closes, or
    /// `timeout` passes.
    pub async fn wait_drained(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let drained = self.drained.notified();
            {
                let st = self.lock();
                if st.closed || st.buf.len() <= self.max_pending / 2 {
                    return;
                }
            }
            if tokio::time::timeout_at(deadline, drained).await.is_err() {
                return;
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

    /// Bytes queued and not yet written.
    pub fn pending(&self) -> usize {
        self.lock().buf.len()
    }

    /// Swaps the queued bytes into `out` (which must be empty). Returns whether the buffer is
    /// closed, whether queued bytes must be dropped instead of written, and the number of
    /// messages queued so far.
    fn take(&self, out: &mut BytesMut) -> (bool, bool, u64) {
        let mut st = self.lock();
        std::mem::swap(&mut st.buf, out);
        if out.is_empty() {
            st.scheduled = false;
        }
        (st.closed, st.abort, st.msgs)
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
    let mut batch = BytesMut::with_capacity(INITIAL);
    let mut written_msgs = 0;
    loop {
        let (closed, abort, msgs) = out.take(&mut batch);
        if abort {
            return WriterEnd::Closed;
        }
        if batch.is_empty() {
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
        // The flush is a no-op on TCP; a TLS stream may keep encrypted records it could not
        // write yet, and only a flush pushes them out before the writer goes back to sleep.
        let write = async {
            match deadline {
                Deadline::Batch(d) => {
                    let write = async {
                        sink.write_all(&batch).await?;
                        sink.flush().await
                    };
                    tokio::time::timeout(d, write).await
                }
                Deadline::Progress(d) => write_with_progress(&mut sink, &batch, d).await,
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
                out.drained.notify_waiters();
                if msgs != written_msgs {
                    written_msgs = msgs;
                    out.last_delivery
                        .store(crate::stats::now_nanos(), Ordering::Relaxed);
                }
            }
            Ok(Err(_)) => return WriterEnd::Error,
            Err(_) => {
                out.close(true);
                return WriterEnd::Deadline;
            }
        }
        batch.clear();
        if batch.capacity() > KEEP_MAX {
            batch = BytesMut::with_capacity(INITIAL);
        }
    }
}

/// Writes and flushes `bytes`; times out only when one write call moves nothing for `limit`.
async fn write_with_progress<W: AsyncWrite + Unpin>(
    sink: &mut W,
    bytes: &[u8],
    limit: Duration,
) -> Result<std::io::Result<()>, tokio::time::error::Elapsed> {
    let mut at = 0;
    while at < bytes.len() {
        match tokio::time::timeout(limit, sink.write(&bytes[at..])).await? {
            Ok(0) => return Ok(Err(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => at += n,
            Err(e) => return Ok(Err(e)),
        }
    }
    tokio::time::timeout(limit, sink.flush()).await
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
