//! Logging in nats-server's line format, on top of `tracing`.
//!
//! `[pid] yyyy/mm/dd hh:mm:ss.uuuuuu [LVL] message` (local time; without the timestamp when
//! `logtime` is off). Levels map as ERROR→`ERR`, WARN→`WRN`, INFO→`INF`, DEBUG→`DBG` (only with
//! `-D`), TRACE→`TRC` (only with `-V`, independently of `-D`, as in nats-server); events with
//! target `fatal` print as `FTL`. Debug, trace and the output file can change at run time
//! (configuration reload, `SIGUSR1` reopen), so they live in process-wide switches.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;

static DEBUG: AtomicBool = AtomicBool::new(false);
static TRACE: AtomicBool = AtomicBool::new(false);
static LOGTIME: AtomicBool = AtomicBool::new(true);
static SINK: Mutex<Sink> = Mutex::new(Sink::Stderr);

enum Sink {
    Stderr,
    File(PathBuf, File),
}

/// Whether `-V` tracing is on; checked before building trace text on hot paths.
#[inline]
pub fn trace_enabled() -> bool {
    TRACE.load(Ordering::Relaxed)
}

/// Whether `-D` debug lines are on.
#[inline]
pub fn debug_enabled() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

/// Sets the run-time switches (start-up and configuration reload).
pub fn configure(debug: bool, trace: bool, logtime: bool) {
    DEBUG.store(debug, Ordering::Relaxed);
    TRACE.store(trace, Ordering::Relaxed);
    LOGTIME.store(logtime, Ordering::Relaxed);
}

/// Sends log lines to `path` (appending), or back to stderr with `None`.
pub fn set_file(path: Option<&Path>) -> io::Result<()> {
    let sink = match path {
        Some(path) => Sink::File(path.to_path_buf(), open_append(path)?),
        None => Sink::Stderr,
    };
    *SINK.lock().unwrap_or_else(|e| e.into_inner()) = sink;
    Ok(())
}

/// Reopens the log file (after rotation, on `SIGUSR1`). Returns false when logging to stderr.
pub fn reopen() -> io::Result<bool> {
    let mut sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
    match &*sink {
        Sink::Stderr => Ok(false),
        Sink::File(path, _) => {
            let path = path.clone();
            *sink = Sink::File(path.clone(), open_append(&path)?);
            Ok(true)
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Installs the global subscriber. Safe to call more than once (later calls are ignored).
pub fn init() {
    let layer = tracing_subscriber::fmt::layer()
        .event_format(NatsFormat {
            pid: std::process::id(),
        })
        .with_writer(SinkWriter)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            match *meta.level() {
                Level::TRACE => trace_enabled(),
                Level::DEBUG => debug_enabled(),
                _ => true,
            }
        }));
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
}

use tracing_subscriber::Layer as _;

struct NatsFormat {
    pid: u32,
}

impl<S, N> FormatEvent<S, N> for NatsFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "[{}] ", self.pid)?;
        if LOGTIME.load(Ordering::Relaxed) {
            write!(
                writer,
                "{} ",
                chrono::Local::now().format("%Y/%m/%d %H:%M:%S%.6f")
            )?;
        }
        let meta = event.metadata();
        let label = match *meta.level() {
            Level::ERROR if meta.target() == "fatal" => "FTL",
            Level::ERROR => "ERR",
            Level::WARN => "WRN",
            Level::INFO => "INF",
            Level::DEBUG => "DBG",
            Level::TRACE => "TRC",
        };
        write!(writer, "[{label}] ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Writes each formatted line to the current sink in one call, so lines never interleave.
struct SinkWriter;

struct LineWriter;

impl<'a> MakeWriter<'a> for SinkWriter {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> LineWriter {
        LineWriter
    }
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *sink {
            Sink::Stderr => io::stderr().write_all(buf)?,
            Sink::File(_, file) => file.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
