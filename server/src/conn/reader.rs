//! The one reader loop clients and routes share: read into a buffer, let the connection
//! decode and handle what arrived, wait for a CONNECT's credentials to be checked before
//! handling anything after it, and keep the two timers every connection has (the PING
//! interval, and the deadline for a CONNECT when authentication is required).
//!
//! What a connection does with its bytes is its own ([`Connection`]); how long it waits, and
//! when it gives up, is decided here once, so clients and routes cannot drift apart.

use std::future::Future;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

use super::{ClientShared, CloseReason};

/// The protocol side of a connection, as the reader loop drives it.
pub trait Connection: Send {
    /// A CONNECT as the decoder hands it over.
    type Connect: Send;

    /// The connection's timers.
    fn timers(&mut self) -> &mut Timers;

    /// Decodes and handles every complete op in `buf`, stopping at a CONNECT, which it
    /// returns: nothing after a CONNECT is handled before the CONNECT itself.
    fn process(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Connect>, CloseReason>;

    /// Handles a CONNECT; checking its credentials may take a while (bcrypt runs off the
    /// workers), so it is awaited here rather than inside [`Connection::process`].
    fn connect(
        &mut self,
        connect: Self::Connect,
    ) -> impl Future<Output = Result<(), CloseReason>> + Send;

    /// The ping timer fired: send a PING, or give up on a stale peer.
    fn ping_tick(&mut self) -> Result<(), CloseReason>;

    /// No CONNECT came in time: says so to the peer, returns the reason to close.
    fn auth_timeout(&mut self) -> CloseReason;

    /// End of a batch of input: wake the writers touched, add up the counters.
    fn end_batch(&mut self);

    /// After a batch: a publisher may be held back here while a slow subscriber catches up.
    fn after_batch(&mut self) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }
}

/// The two timers of a connection.
#[derive(Debug)]
pub struct Timers {
    /// When to PING, and how many are unanswered.
    pub pinger: Pinger,
    /// When a missing CONNECT ends the connection (`None`: no deadline, or CONNECT came).
    pub auth_deadline: Option<Instant>,
}

/// How the read buffer is sized.
#[derive(Debug, Clone, Copy)]
pub enum ReadSize {
    /// Start small and follow the traffic: double after a read that filled the room, halve
    /// after a short one (clients: most are quiet, some publish fast).
    Adaptive {
        /// The smallest read.
        min: usize,
        /// The largest read.
        max: usize,
    },
    /// Reads of up to this much, the buffer topped up when under half of it is free (routes
    /// carry a whole server's traffic; topping up after every read would move the unread
    /// tail far more often).
    Fixed(usize),
}

/// An empty read buffer bigger than this many times the smallest read is let go of once the
/// reads are back to the smallest.
const SHRINK_PAST: usize = 4;

/// Runs `conn` over `rd` until it closes (`shared` is its shared half: the close signal and
/// reason); returns why.
pub async fn read_loop<C, R>(
    conn: &mut C,
    shared: &ClientShared,
    rd: &mut R,
    size: ReadSize,
) -> CloseReason
where
    C: Connection,
    R: AsyncRead + Unpin,
{
    let mut read_size = match size {
        ReadSize::Adaptive { min, .. } => min,
        ReadSize::Fixed(n) => n,
    };
    let mut buf = BytesMut::with_capacity(read_size);
    loop {
        let low_water = match size {
            ReadSize::Adaptive { .. } => read_size,
            ReadSize::Fixed(n) => n / 2,
        };
        if buf.capacity() - buf.len() < low_water {
            buf.reserve(read_size);
        }
        let room = buf.capacity() - buf.len();
        let timers = conn.timers();
        let (ping_at, auth_deadline) = (timers.pinger.due(), timers.auth_deadline);
        tokio::select! {
            biased;
            _ = shared.closing().cancelled() => {
                return shared.close_reason().unwrap_or(CloseReason::ServerShutdown);
            }
            read = rd.read_buf(&mut buf) => match read {
                Ok(0) => return CloseReason::ClientClosed,
                Ok(n) => {
                    if let ReadSize::Adaptive { min, max } = size {
                        read_size = adapt(read_size, n, room, min, max);
                    }
                    let result = handle_batch(conn, &mut buf).await;
                    conn.end_batch();
                    if let Err(reason) = result {
                        return reason;
                    }
                    if let ReadSize::Adaptive { min, .. } = size {
                        if read_size == min && buf.is_empty() && buf.capacity() > SHRINK_PAST * min
                        {
                            // Reads are back to the smallest after a burst: let go of the big
                            // buffer rather than keep it for the rest of the connection's
                            // life. Only then, so that a busy connection whose reads merely
                            // vary never gives up and reallocates its buffer.
                            buf = BytesMut::new();
                        }
                    }
                    conn.after_batch().await;
                }
                // A TLS peer that closes without close_notify: nats-server counts that as
                // the peer closing, like EOF on TCP.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return CloseReason::ClientClosed
                }
                Err(_) => return CloseReason::ReadError,
            },
            _ = tokio::time::sleep_until(ping_at) => {
                let result = conn.ping_tick();
                conn.end_batch();
                if let Err(reason) = result {
                    return reason;
                }
            }
            _ = sleep_until_some(auth_deadline) => {
                let reason = conn.auth_timeout();
                conn.end_batch();
                return reason;
            }
        }
    }
}

/// Handles all of `buf`, CONNECTs included: each one is checked (and awaited) before the
/// ops after it.
async fn handle_batch<C: Connection>(conn: &mut C, buf: &mut BytesMut) -> Result<(), CloseReason> {
    while let Some(connect) = conn.process(buf)? {
        // What came before the CONNECT (a PING's PONG) goes out before a slow check.
        conn.end_batch();
        // Boxed: checking credentials is a big state machine that every idle connection
        // would otherwise carry inline for its whole life, though it runs once.
        Box::pin(conn.connect(connect)).await?;
    }
    Ok(())
}

/// The next read size: bigger after a read that filled the room (more is waiting), smaller
/// after one that used under a quarter of it.
fn adapt(size: usize, read: usize, room: usize, min: usize, max: usize) -> usize {
    if read == room && size < max {
        (size * 2).min(max)
    } else if read < size / 4 && size > min {
        (size / 2).max(min)
    } else {
        size
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A connection's PING timer: when the next PING is due, how many are unanswered, and when
/// the oldest unanswered one was sent (its PONG gives the RTT).
#[derive(Debug)]
pub struct Pinger {
    due: Instant,
    interval: Duration,
    max_out: u32,
    out: u32,
    sent: Option<Instant>,
    /// The next PING goes even if the peer was busy (the RTT probe after CONNECT).
    force: bool,
}

/// What the timer decided at a tick.
#[derive(Debug, PartialEq, Eq)]
pub enum Tick {
    /// Send a PING now.
    Ping,
    /// The peer was active since the last tick: no PING this time (clients only).
    Delayed,
    /// Too many PINGs unanswered: close the connection as stale.
    Stale,
}

impl Pinger {
    /// A timer whose first PING is due `first` from now, then every `interval`; a peer with
    /// more than `max_out` PINGs unanswered is stale.
    pub fn new(first: Duration, interval: Duration, max_out: u32) -> Self {
        Pinger {
            due: Instant::now() + first,
            interval,
            max_out,
            out: 0,
            sent: None,
            force: false,
        }
    }

    /// When the next tick is due.
    pub fn due(&self) -> Instant {
        self.due
    }

    /// Moves the next PING to `after` from now, sent even if the peer is busy: nats-server
    /// measures a client's RTT this way soon after its CONNECT.
    pub fn probe_in(&mut self, after: Duration) {
        self.due = Instant::now() + after;
        self.force = true;
    }

    /// The timer fired. `active` says the peer sent or received messages since the last
    /// tick, which (except for a probe) makes a PING needless this time.
    pub fn tick(&mut self, active: bool) -> Tick {
        self.due = Instant::now() + self.interval;
        if active && !std::mem::take(&mut self.force) {
            return Tick::Delayed;
        }
        self.force = false;
        if self.out + 1 > self.max_out {
            return Tick::Stale;
        }
        self.out += 1;
        self.sent.get_or_insert_with(Instant::now);
        Tick::Ping
    }

    /// A PONG came: nothing is outstanding any more. Returns the round trip of the oldest
    /// PING it answers, if one was waiting.
    pub fn pong(&mut self) -> Option<Duration> {
        self.out = 0;
        self.sent.take().map(|sent| sent.elapsed())
    }
}

#[cfg(test)]
mod tests {
    //! Under tokio's paused clock: time moves only when every task waits, so the instants
    //! asserted here are exact and the tests take no real time.

    use std::net::SocketAddr;

    use tokio::io::AsyncWriteExt;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::conn::Kind;

    /// A connection that records what the reader loop asks of it, with a line protocol:
    /// `PONG` answers a ping, `CONNECT` needs a (slow) check, anything else is an op.
    struct Probe {
        shared: std::sync::Arc<ClientShared>,
        timers: Timers,
        start: Instant,
        events: Vec<(Duration, String)>,
        connect_takes: Duration,
        active: bool,
        /// The read buffer's capacity at each batch.
        capacities: Vec<usize>,
    }

    impl Probe {
        fn new(pinger: Pinger, auth_timeout: Option<Duration>) -> Self {
            let peer: SocketAddr = ([127, 0, 0, 1], 1).into();
            Probe {
                shared: std::sync::Arc::new(ClientShared::new(
                    &CancellationToken::new(),
                    1,
                    Kind::Client,
                    peer,
                    1024,
                )),
                timers: Timers {
                    pinger,
                    auth_deadline: auth_timeout.map(|t| Instant::now() + t),
                },
                start: Instant::now(),
                events: Vec::new(),
                connect_takes: Duration::ZERO,
                active: false,
                capacities: Vec::new(),
            }
        }

        fn note(&mut self, what: &str) {
            self.events.push((self.start.elapsed(), what.to_string()));
        }
    }

    impl Connection for Probe {
        type Connect = ();

        fn timers(&mut self) -> &mut Timers {
            &mut self.timers
        }

        fn process(&mut self, buf: &mut BytesMut) -> Result<Option<()>, CloseReason> {
            self.capacities.push(buf.capacity());
            while let Some(end) = buf.iter().position(|&b| b == b'\n') {
                let line = buf.split_to(end + 1);
                let line = String::from_utf8_lossy(&line).trim().to_string();
                match line.as_str() {
                    "PONG" => {
                        self.timers.pinger.pong();
                    }
                    "CONNECT" => return Ok(Some(())),
                    op => {
                        self.active = true;
                        self.note(op);
                    }
                }
            }
            Ok(None)
        }

        async fn connect(&mut self, (): ()) -> Result<(), CloseReason> {
            tokio::time::sleep(self.connect_takes).await;
            self.timers.auth_deadline = None;
            self.note("connected");
            Ok(())
        }

        fn ping_tick(&mut self) -> Result<(), CloseReason> {
            let active = std::mem::take(&mut self.active);
            match self.timers.pinger.tick(active) {
                Tick::Ping => self.note("PING"),
                Tick::Delayed => self.note("delayed"),
                Tick::Stale => return Err(CloseReason::StaleConnection),
            }
            Ok(())
        }

        fn auth_timeout(&mut self) -> CloseReason {
            self.note("auth timeout");
            CloseReason::AuthenticationTimeout
        }

        fn end_batch(&mut self) {}
    }

    /// The reader loop over `probe`, with the probe's own shared half.
    async fn run(
        probe: &mut Probe,
        rd: &mut tokio::io::DuplexStream,
        size: ReadSize,
    ) -> CloseReason {
        let shared = probe.shared.clone();
        read_loop(probe, &shared, rd, size).await
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[tokio::test]
    async fn the_read_buffer_grows_for_a_burst_and_is_let_go_of_when_reads_are_small_again() {
        let mut probe = Probe::new(Pinger::new(secs(60), secs(60), 2), None);
        let (mut peer, mut ours) = tokio::io::duplex(1 << 20);
        let talk = async move {
            // A burst of 512 KiB (PONG lines: nothing recorded), then a trickle of small reads.
            peer.write_all(&b"PONG\n".repeat(100_000))
                .await
                .expect("write");
            for _ in 0..16 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                peer.write_all(b"PONG\n").await.expect("write");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            drop(peer);
        };
        let size = ReadSize::Adaptive {
            min: 512,
            max: 256 * 1024,
        };
        let (reason, ()) = tokio::join!(run(&mut probe, &mut ours, size), talk);
        assert_eq!(reason, CloseReason::ClientClosed);
        let biggest = probe.capacities.iter().copied().max().unwrap_or(0);
        assert!(biggest >= 256 * 1024, "grew to {biggest} for the burst");
        let last = probe.capacities.last().copied().unwrap_or(usize::MAX);
        assert!(last <= 16 * 1024, "still {last} after the trickle");
    }

    #[tokio::test(start_paused = true)]
    async fn pings_at_each_interval_and_a_silent_peer_goes_stale_after_ping_max() {
        let mut probe = Probe::new(Pinger::new(secs(2), secs(10), 2), None);
        let (_peer, mut ours) = tokio::io::duplex(64);
        let reason = run(&mut probe, &mut ours, ReadSize::Fixed(64)).await;
        assert_eq!(reason, CloseReason::StaleConnection);
        assert_eq!(
            probe.events,
            [
                (secs(2), "PING".to_string()),
                (secs(12), "PING".to_string())
            ]
        );
        // The third tick found two PINGs unanswered.
        assert_eq!(probe.start.elapsed(), secs(22));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pong_resets_the_count_and_activity_delays_the_ping() {
        let mut probe = Probe::new(Pinger::new(secs(1), secs(1), 1), None);
        let (mut peer, mut ours) = tokio::io::duplex(64);
        let talk = async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            peer.write_all(b"PONG\n").await.expect("write");
            tokio::time::sleep(secs(1)).await;
            peer.write_all(b"PUB\n").await.expect("write");
            // Silent from here on: stale at the first tick with a PING unanswered.
            tokio::time::sleep(secs(60)).await;
            drop(peer);
        };
        let start = probe.start;
        let run = async {
            let reason = run(&mut probe, &mut ours, ReadSize::Fixed(64)).await;
            (reason, start.elapsed())
        };
        let ((reason, ended), ()) = tokio::join!(run, talk);
        // Delayed by the PUB, the tick at 4 s still finds the PING of 2 s unanswered.
        assert_eq!((reason, ended), (CloseReason::StaleConnection, secs(4)));
        let at = |ms: u64, what: &str| (Duration::from_millis(ms), what.to_string());
        assert_eq!(
            probe.events,
            [
                at(1000, "PING"),
                at(2000, "PING"),
                at(2500, "PUB"),
                at(3000, "delayed"),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_pings_even_a_busy_peer() {
        let mut pinger = Pinger::new(secs(60), secs(60), 2);
        pinger.probe_in(secs(2));
        assert_eq!(pinger.tick(true), Tick::Ping);
        assert_eq!(pinger.due(), Instant::now() + secs(60));
        assert_eq!(pinger.tick(true), Tick::Delayed);
        tokio::time::advance(secs(3)).await;
        assert_eq!(pinger.pong(), Some(secs(3)));
        assert_eq!(pinger.pong(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn no_connect_within_the_auth_timeout_closes_the_connection() {
        let mut probe = Probe::new(Pinger::new(secs(60), secs(60), 2), Some(secs(2)));
        let (_peer, mut ours) = tokio::io::duplex(64);
        let reason = run(&mut probe, &mut ours, ReadSize::Fixed(64)).await;
        assert_eq!(reason, CloseReason::AuthenticationTimeout);
        assert_eq!(probe.events, [(secs(2), "auth timeout".to_string())]);
    }

    #[tokio::test(start_paused = true)]
    async fn ops_after_a_connect_wait_for_its_check_and_a_connect_stops_the_auth_timer() {
        let mut probe = Probe::new(Pinger::new(secs(60), secs(60), 2), Some(secs(2)));
        probe.connect_takes = secs(5);
        let (mut peer, mut ours) = tokio::io::duplex(64);
        peer.write_all(b"SUB\nCONNECT\nPUB\n").await.expect("write");
        drop(peer);
        let reason = run(&mut probe, &mut ours, ReadSize::Fixed(64)).await;
        assert_eq!(reason, CloseReason::ClientClosed);
        let at = |s: u64, what: &str| (secs(s), what.to_string());
        assert_eq!(
            probe.events,
            [at(0, "SUB"), at(5, "connected"), at(5, "PUB")]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_reader_stops_when_the_connection_is_closed() {
        let mut probe = Probe::new(Pinger::new(secs(60), secs(60), 2), None);
        probe
            .shared
            .close(CloseReason::SlowConsumerPendingBytes, false);
        let (_peer, mut ours) = tokio::io::duplex(64);
        let reason = run(&mut probe, &mut ours, ReadSize::Fixed(64)).await;
        assert_eq!(reason, CloseReason::SlowConsumerPendingBytes);
        assert_eq!(probe.start.elapsed(), Duration::ZERO);
    }

    #[test]
    fn read_sizes_follow_the_traffic_within_their_bounds() {
        assert_eq!(adapt(512, 512, 512, 512, 4096), 1024);
        assert_eq!(adapt(4096, 4096, 4096, 512, 4096), 4096);
        assert_eq!(adapt(1024, 100, 1024, 512, 4096), 512);
        assert_eq!(adapt(512, 10, 512, 512, 4096), 512);
        assert_eq!(adapt(1024, 600, 1024, 512, 4096), 1024);
    }
}
