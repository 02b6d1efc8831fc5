// Command natsload drives a NATS server with real clients: publishers and subscribers made
// with nats.go (Debian's package, 1.22), one connection each, so a comparison of servers
// also covers what a client library does to them (its buffered writer, its PINGs, its
// reader and per-subscription delivery goroutines). It runs one scenario and prints one
// JSON line on stdout; `bench/src/natsload.rs` starts it and reads that line.
//
// Built offline against Debian's Go tree, in GOPATH mode (nuid ships without a go.mod, so a
// module with `replace` lines to /usr/share/gocode cannot be formed):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o target/natsload ./bench/go/natsload
//
// Scenarios:
//
//	-scenario pubsub: -pubs publishers share -msgs messages of -size bytes on one subject;
//	    -subs subscribers (0: publish only) get every message, or, with -queue NAME, the
//	    group shares them. Publishers connect to -pub-url, subscribers to -url: two routed
//	    servers when those differ.
//	-scenario reqrep: one responder on -url echoes; one requester on -pub-url sends -msgs
//	    requests one after another and reports round-trip percentiles.
//
// Every wait is bounded: -timeout for the whole run, -stall for subscribers that stop
// receiving. A run that ends short says so (received < expected) rather than failing.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

const (
	subject      = "natsload.subject"
	service      = "natsload.service"
	probePrefix  = "natsload.probe."
	probeTimeout = 200 * time.Millisecond
)

type config struct {
	url, pubURL, scenario, queue string
	size, msgs, pubs, subs       int
	timeout, stall               time.Duration
}

// result is the one line printed. Durations are in nanoseconds.
type result struct {
	Scenario   string  `json:"scenario"`
	Size       int     `json:"size"`
	Sent       int64   `json:"sent"`
	Expected   int64   `json:"expected"`
	Received   int64   `json:"received"`
	ElapsedNs  int64   `json:"elapsed_ns"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	P50Ns      int64   `json:"p50_ns,omitempty"`
	P90Ns      int64   `json:"p90_ns,omitempty"`
	P99Ns      int64   `json:"p99_ns,omitempty"`
	// Errors reported by the client library (slow consumer, disconnects), at most a few.
	Errors []string `json:"errors,omitempty"`
}

// errorLog keeps the first few asynchronous errors of every connection.
type errorLog struct {
	mu   sync.Mutex
	list []string
}

func (l *errorLog) add(format string, args ...interface{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.list) < 8 {
		l.list = append(l.list, fmt.Sprintf(format, args...))
	}
}

func (l *errorLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.list...)
}

// connect opens one connection with nats.go's defaults (buffered writer, pings), except
// that it never reconnects: a server closing a slow consumer must show as a short run, not
// be papered over.
func connect(url, name string, errs *errorLog, timeout time.Duration) (*nats.Conn, error) {
	return nats.Connect(url,
		nats.Name(name),
		nats.NoReconnect(),
		nats.Timeout(10*time.Second),
		nats.FlusherTimeout(timeout),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			errs.add("%s: %v", name, err)
		}),
		// Without reconnects a lost connection is closed; nats.go passes no error to the
		// disconnect handler then, the cause is the connection's last error.
		nats.ClosedHandler(func(nc *nats.Conn) {
			if err := nc.LastError(); err != nil {
				errs.add("%s: closed: %v", name, err)
			}
		}),
	)
}

// waitForProbe asks `probe` from nc until someone answers: the subscriptions made before
// the probe's on the same connection are then visible to nc's server (across a route too,
// as interest travels in order per connection).
func waitForProbe(nc *nats.Conn, probe string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := nc.Request(probe, nil, probeTimeout); err == nil {
			return nil
		}
	}
	return fmt.Errorf("no answer on %s within %v", probe, timeout)
}

func pubsub(cfg config, res *result, errs *errorLog) error {
	payload := bytes.Repeat([]byte{'x'}, cfg.size)
	expected := int64(cfg.msgs) * int64(cfg.subs)
	if cfg.queue != "" && cfg.subs > 0 {
		expected = int64(cfg.msgs)
	}
	res.Expected = expected

	var received int64
	var lastNs int64  // when the last message arrived, in ns since `start`
	var startNs int64 // `start` as Unix nanoseconds, for the handlers
	var start time.Time
	done := make(chan struct{})
	var doneOnce sync.Once
	handler := func(*nats.Msg) {
		if atomic.AddInt64(&received, 1) == expected {
			atomic.StoreInt64(&lastNs, time.Now().UnixNano()-atomic.LoadInt64(&startNs))
			doneOnce.Do(func() { close(done) })
		}
	}

	var conns []*nats.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	for i := 0; i < cfg.subs; i++ {
		name := fmt.Sprintf("natsload-sub-%d", i)
		nc, err := connect(cfg.url, name, errs, cfg.timeout)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		conns = append(conns, nc)
		var sub *nats.Subscription
		if cfg.queue != "" {
			sub, err = nc.QueueSubscribe(subject, cfg.queue, handler)
		} else {
			sub, err = nc.Subscribe(subject, handler)
		}
		if err != nil {
			return fmt.Errorf("%s: subscribe: %w", name, err)
		}
		// Nothing may be dropped on the client's side: a loss is the server's.
		if err := sub.SetPendingLimits(-1, -1); err != nil {
			return fmt.Errorf("%s: pending limits: %w", name, err)
		}
		if _, err := nc.Subscribe(fmt.Sprintf("%s%d", probePrefix, i), func(m *nats.Msg) {
			_ = m.Respond(nil)
		}); err != nil {
			return fmt.Errorf("%s: probe: %w", name, err)
		}
		if err := nc.FlushTimeout(10 * time.Second); err != nil {
			return fmt.Errorf("%s: flush: %w", name, err)
		}
	}

	pubs := make([]*nats.Conn, 0, cfg.pubs)
	for i := 0; i < cfg.pubs; i++ {
		name := fmt.Sprintf("natsload-pub-%d", i)
		nc, err := connect(cfg.pubURL, name, errs, cfg.timeout)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		conns = append(conns, nc)
		pubs = append(pubs, nc)
	}
	for i := 0; i < cfg.subs; i++ {
		if err := waitForProbe(pubs[0], fmt.Sprintf("%s%d", probePrefix, i), 10*time.Second); err != nil {
			return err
		}
	}

	// Publishers start together; each publishes its share in a loop, then flushes (a
	// PING/PONG: the server has read everything).
	var sent int64
	var wg sync.WaitGroup
	pubErrs := make(chan error, len(pubs))
	gate := make(chan struct{})
	for i, nc := range pubs {
		count := cfg.msgs / cfg.pubs
		if i < cfg.msgs%cfg.pubs {
			count++
		}
		wg.Add(1)
		go func(nc *nats.Conn, count int) {
			defer wg.Done()
			<-gate
			for n := 0; n < count; n++ {
				if err := nc.Publish(subject, payload); err != nil {
					pubErrs <- fmt.Errorf("publish: %w", err)
					return
				}
				atomic.AddInt64(&sent, 1)
			}
			if err := nc.FlushTimeout(cfg.timeout); err != nil {
				pubErrs <- fmt.Errorf("flush: %w", err)
			}
		}(nc, count)
	}
	start = time.Now()
	atomic.StoreInt64(&startNs, start.UnixNano())
	close(gate)
	wg.Wait()
	published := time.Since(start)
	close(pubErrs)
	res.Sent = atomic.LoadInt64(&sent)
	if err := <-pubErrs; err != nil {
		errs.add("%v", err)
	}

	elapsed := published
	if expected > 0 {
		elapsed = waitReceived(&received, done, start, cfg)
		if atomic.LoadInt64(&received) >= expected {
			elapsed = time.Duration(atomic.LoadInt64(&lastNs))
		}
	}
	res.Received = atomic.LoadInt64(&received)
	res.ElapsedNs = int64(elapsed)
	res.MsgsPerSec = float64(res.Sent) / elapsed.Seconds()
	return nil
}

// waitReceived waits until every expected message arrived (`done` closes), the count
// stops moving for cfg.stall, or cfg.timeout from start passes; returns the time from
// start to the last progress seen.
func waitReceived(received *int64, done chan struct{}, start time.Time, cfg config) time.Duration {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	last, lastChange := atomic.LoadInt64(received), time.Now()
	for {
		select {
		case <-done:
			return time.Since(start)
		case now := <-tick.C:
			if n := atomic.LoadInt64(received); n != last {
				last, lastChange = n, now
			}
			if now.Sub(lastChange) > cfg.stall || now.Sub(start) > cfg.timeout {
				return lastChange.Sub(start)
			}
		}
	}
}

func reqrep(cfg config, res *result, errs *errorLog) error {
	payload := bytes.Repeat([]byte{'x'}, cfg.size)
	res.Expected = int64(cfg.msgs)
	responder, err := connect(cfg.url, "natsload-responder", errs, cfg.timeout)
	if err != nil {
		return fmt.Errorf("responder: %w", err)
	}
	defer responder.Close()
	if _, err := responder.Subscribe(service, func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		return fmt.Errorf("responder: subscribe: %w", err)
	}
	if _, err := responder.Subscribe(probePrefix+"0", func(m *nats.Msg) { _ = m.Respond(nil) }); err != nil {
		return fmt.Errorf("responder: probe: %w", err)
	}
	if err := responder.FlushTimeout(10 * time.Second); err != nil {
		return fmt.Errorf("responder: flush: %w", err)
	}
	requester, err := connect(cfg.pubURL, "natsload-requester", errs, cfg.timeout)
	if err != nil {
		return fmt.Errorf("requester: %w", err)
	}
	defer requester.Close()
	if err := waitForProbe(requester, probePrefix+"0", 10*time.Second); err != nil {
		return err
	}
	// A few untimed round trips first: the reply subscription and the server's caches.
	for i := 0; i < 100; i++ {
		if _, err := requester.Request(service, payload, 5*time.Second); err != nil {
			return fmt.Errorf("warm-up request: %w", err)
		}
	}
	rtts := make([]time.Duration, 0, cfg.msgs)
	start := time.Now()
	for i := 0; i < cfg.msgs && time.Since(start) < cfg.timeout; i++ {
		t := time.Now()
		res.Sent++
		m, err := requester.Request(service, payload, 5*time.Second)
		if err != nil {
			errs.add("request %d: %v", i, err)
			break
		}
		if len(m.Data) != cfg.size {
			return fmt.Errorf("reply of %d bytes, want %d", len(m.Data), cfg.size)
		}
		rtts = append(rtts, time.Since(t))
	}
	elapsed := time.Since(start)
	res.Received = int64(len(rtts))
	res.ElapsedNs = int64(elapsed)
	res.MsgsPerSec = float64(len(rtts)) / elapsed.Seconds()
	sort.Slice(rtts, func(a, b int) bool { return rtts[a] < rtts[b] })
	pct := func(p float64) int64 {
		if len(rtts) == 0 {
			return 0
		}
		i := int(p / 100 * float64(len(rtts)-1))
		return int64(rtts[i])
	}
	res.P50Ns, res.P90Ns, res.P99Ns = pct(50), pct(90), pct(99)
	return nil
}

func main() {
	var cfg config
	flag.StringVar(&cfg.url, "url", nats.DefaultURL, "server of the subscribers (and responder)")
	flag.StringVar(&cfg.pubURL, "pub-url", "", "server of the publishers (and requester); default: -url")
	flag.StringVar(&cfg.scenario, "scenario", "pubsub", "pubsub or reqrep")
	flag.StringVar(&cfg.queue, "queue", "", "queue group of the subscribers (empty: plain subscribers)")
	flag.IntVar(&cfg.size, "size", 128, "payload bytes")
	flag.IntVar(&cfg.msgs, "msgs", 100000, "messages published in total (reqrep: requests)")
	flag.IntVar(&cfg.pubs, "pubs", 1, "publishing connections (pubsub)")
	flag.IntVar(&cfg.subs, "subs", 1, "subscribing connections (pubsub; 0: publish only)")
	flag.DurationVar(&cfg.timeout, "timeout", 120*time.Second, "bound on the whole run")
	flag.DurationVar(&cfg.stall, "stall", 10*time.Second, "give up on subscribers idle this long")
	flag.Parse()
	if cfg.pubURL == "" {
		cfg.pubURL = cfg.url
	}
	if cfg.pubs < 1 || cfg.subs < 0 || cfg.size < 0 || cfg.msgs < 1 {
		fmt.Fprintln(os.Stderr, "natsload: -pubs >= 1, -subs >= 0, -size >= 0, -msgs >= 1")
		os.Exit(2)
	}

	res := result{Scenario: cfg.scenario, Size: cfg.size}
	errs := &errorLog{}
	var err error
	switch cfg.scenario {
	case "pubsub":
		err = pubsub(cfg, &res, errs)
	case "reqrep":
		err = reqrep(cfg, &res, errs)
	default:
		err = errors.New("unknown -scenario (pubsub or reqrep)")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "natsload: %v\n", err)
		os.Exit(1)
	}
	res.Errors = errs.get()
	line, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintf(os.Stderr, "natsload: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(string(line))
}
