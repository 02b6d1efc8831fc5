# Reads the body of bench/RESULTS.md (as bench/run.sh writes it) and prints the table of the
# performance targets: each one checked against the figures of this same run.
# Usage: awk -f bench/targets.awk body.md
function strip(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
function num(s) { gsub(/[^0-9.]/, "", s); return s + 0 }
function mark(ok) { return ok ? "met" : "**not met**" }
# Which table a row belongs to: the raw and real-client comparisons, not the noise ones.
/^## gnatsd against nats-server/ { table = "raw"; next }
/^## Real clients/ { table = "go"; next }
/^#/ { table = "" }
/^\| scenario \| server/ { table = "" }
table != "" && /^\| / && /\*\*[0-9.]+x\*\*/ {
  n = split($0, f, "|")
  name = table == "raw" ? strip(f[2]) : "nats.go " strip(f[2])
  ratio = num(f[5]); cpu = num(f[10]); ours_rss = num(f[11]); ref_rss = num(f[12])
  rows++
  if (ratio < 1.0) { slow = slow sep_s name " " sprintf("%.2f", ratio) "x"; sep_s = ", " }
  if (cpu > 0.8) { hot = hot sep_h name " " sprintf("%.2f", cpu) "x"; sep_h = ", " }
  if (ours_rss > ref_rss) { big = big sep_b name; sep_b = ", " }
  if (f[4] !~ /lost/ && f[3] !~ /lost/) { logsum += log(ratio); counted++ }
  if (lowest == "" || ratio < lowest) lowest = ratio
  next
}
/memory per idle connection/ && idle == "" { idle = $0 }
/a storm of 5000 connections/ && storm == "" { storm = $0 }
/while a subscriber that reads nothing is cut off/ && cutoff == "" { cutoff = $0 }
/^\| snapshot [0-9]+ \| / {
  split($0, f, "|"); key = strip(f[2]); who = strip(f[3])
  snap[key, who] = num(f[4])
  if (!(key in seen)) { seen[key] = 1; order[++keys] = key }
}
/^alloc\/.* per message/ {
  per = match($0, /= [0-9.]+ per message/) ? num(substr($0, RSTART, RLENGTH)) : 1
  alloc = alloc (alloc == "" ? "" : ", ") $1 " " per
  if (per > 0.01) alloc_over = 1
}
/^\| RS\+ flood/ { split($0, f, "|"); per_sub[strip(f[3])] = num(f[4]) }
END {
  print "| target | this run | |"
  print "|---|---|---|"
  print "| throughput ≥ 1.0x on every row of both modes | " (slow == "" ? "all " rows " rows; lowest " sprintf("%.2f", lowest) "x" : "below: " slow) " | " mark(slow == "") " |"
  geo = counted ? exp(logsum / counted) : 0
  printf "| geometric mean ≥ 1.6x over all rows | %.2fx over %d rows (rows with lost messages left out) | %s |\n", geo, counted, mark(geo >= 1.6)
  print "| server CPU per message ≤ 0.8x on every row | " (hot == "" ? "all " rows " rows" : "above: " hot) " | " mark(hot == "") " |"
  print "| peak RSS ≤ nats-server's on every row | " (big == "" ? "all " rows " rows" : "above: " big) " | " mark(big == "") " |"
  ok = 1; text = ""
  for (i = 1; i <= keys; i++) {
    k = order[i]; o = snap[k, "gnatsd"]; r = snap[k, "nats-server"]
    text = text (text == "" ? "" : "; ") k ": " o " s vs " r " s"
    if (o > r) ok = 0
  }
  print "| route snapshot of 100k and 500k no slower | " text " | " mark(ok && text != "") " |"
  o = per_sub["gnatsd"]; r = per_sub["nats-server"]
  print "| remote interest no larger per subscription | " o " vs " r " bytes | " mark(o > 0 && o <= r) " |"
  back = match(storm, /back within 2x idle after [0-9.]+ s/) ? substr(storm, RSTART + 26, RLENGTH - 26) : ""
  print "| RSS back within 2x of idle within 10 s of a 5,000-connection storm | " (back != "" ? "after " back : "not within 10 s") " | " mark(back != "" && num(back) <= 10) " |"
  pct = match(cutoff, /gnatsd [0-9]+% of its unloaded/) ? num(substr(cutoff, RSTART + 7, RLENGTH - 7)) : -1
  print "| publisher keeps ≥ 50% of its rate while a subscriber is cut off | " pct "% | " mark(pct >= 50) " |"
  b = match(idle, /gnatsd [0-9]+ B/) ? num(substr(idle, RSTART + 7, RLENGTH - 7)) : -1
  print "| idle memory per connection ≤ 8 KB | " b " B | " mark(b >= 0 && b <= 8192) " |"
  print "| allocations per message ≤ 0.01 (alloc bench) | " alloc " | " mark(alloc != "" && !alloc_over) " |"
}
