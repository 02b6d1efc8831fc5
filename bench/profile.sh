#!/usr/bin/env bash
# Profiles our gnatsd with perf on the paths where its CPU per message is closest to
# nats-server's: publish-only 1 KB and 16 KB (raw protocol), 1->1 1 KB and fan-in 1 KB and
# 16 KB (nats.go clients), each with the split of the server's time by binary. Both sides of the compare run run gnatsd (--self-check with gnatsd as the
# reference), so the system-wide profile holds only our server and the load; the report keeps
# the server's threads. Prints Markdown: the top symbols of each profile.
# Usage: bench/profile.sh   (after bench/run.sh has built target/release/{gnatsd,compare} and
# target/natsload; needs perf: apt-get install -y linux-perf)
set -euo pipefail
cd "$(dirname "$0")/.."
ours="$PWD/target/release/gnatsd"
profile() {
  local name="$1"; shift
  local data="target/perf-$(echo "$name" | tr -c 'a-zA-Z0-9' '-').data"
  perf record -q -F 1999 -a -g -o "$data" -- target/release/compare --self-check \
    --reference "$ours" --scenarios-only --rounds 1 "$@" > /dev/null 2>&1
  echo "### $name"
  echo
  echo '```'
  # The server's threads: the main thread (gnatsd) and tokio's workers (tokio-rt-worker); self time per symbol.
  perf report -i "$data" --comm gnatsd,tokio-rt-worker --no-children --percentage relative --sort dso,sym \
    --stdio -g none --percent-limit 1.5 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25
  echo '```'
  echo
  # Where the time is, by binary: the kernel (sockets, TCP on loopback), libc (copies), ours.
  echo "By binary: $(perf report -i "$data" --comm gnatsd,tokio-rt-worker --no-children --percentage relative \
    --sort dso,sym --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' \
    | awk '{gsub("%", "", $1); s[$2] += $1} END {for (k in s) if (s[k] >= 0.5) printf "%s %.1f%%\n", k, s[k]}' \
    | sort -k2 -nr | paste -sd ';' | sed 's/;/; /g')."
  echo
}
profile "raw publish-only 1 KB" --only "=pub only 1 KB"
profile "raw publish-only 16 KB" --only "=pub only 16 KB"
profile "nats.go 1->1 1 KB" --clients go --only "=1->1 1 KB"
profile "nats.go fan-in 1 KB" --clients go --only "=4->1 fan-in 1 KB"
profile "nats.go fan-in 16 KB" --clients go --only "=4->1 fan-in 16 KB"
