#!/usr/bin/env bash
# Runs every fuzz target for a bounded time: fuzz/run.sh [seconds-per-target] (default 60).
#
# Each target starts from a scratch copy of its committed seed corpus (fuzz/corpus/<target>),
# so the inputs libFuzzer discovers do not pollute the repository. Exits non-zero if any target
# crashes (a panic, an ASan report, a timeout or an out-of-memory); the input that did it is
# kept under fuzz/artifacts/<target>/ and its path printed.
#
# Environment:
#   CARGO_TARGET_DIR  honoured if set (passed to cargo fuzz as --target-dir).
#   FUZZ_TARGETS      space-separated subset of targets to run (default: all of them).
#   FUZZ_KEEP_CORPUS  if set, the scratch corpus directory is kept and its path printed.
#
# cargo-fuzz needs nightly-only flags (-Z sanitizer, sancov passes); the stable toolchain
# accepts them with RUSTC_BOOTSTRAP=1, which this script sets.
set -euo pipefail

secs="${1:-60}"
case "$secs" in
    '' | *[!0-9]*) echo "usage: fuzz/run.sh [seconds-per-target]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

all_targets=(client_decoder route_decoder info_connect_json conf_parser ws_decoder)
read -r -a targets <<<"${FUZZ_TARGETS:-${all_targets[*]}}"

fuzz_opts=()
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    fuzz_opts+=(--target-dir "$CARGO_TARGET_DIR")
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/gnatsd-fuzz.XXXXXX")"
cleanup() {
    if [ -n "${FUZZ_KEEP_CORPUS:-}" ]; then
        echo "scratch corpora kept in $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# One build of all targets first, so the time limits below bound fuzzing, not compiling.
echo "== building fuzz targets"
build_start=$SECONDS
timeout 3600 cargo fuzz build "${fuzz_opts[@]}" >"$work/build.log" 2>&1 ||
    { tail -n 40 "$work/build.log"; echo "fuzz build failed" >&2; exit 1; }
echo "built in $((SECONDS - build_start)) s"

failed=()
summary=()
for t in "${targets[@]}"; do
    if [ ! -d "fuzz/corpus/$t" ]; then
        echo "no seed corpus fuzz/corpus/$t" >&2
        exit 2
    fi
    corpus="$work/corpus/$t"
    mkdir -p "$corpus"
    cp -R "fuzz/corpus/$t/." "$corpus/"
    mkdir -p "fuzz/artifacts/$t"
    log="$work/$t.log"
    echo "== fuzzing $t for ${secs} s"
    start=$SECONDS
    status=0
    # The outer timeout is a backstop only: libFuzzer stops itself after max_total_time, and
    # -timeout turns a hanging input into a reported crash rather than a stuck run.
    timeout $((secs + 300)) cargo fuzz run "${fuzz_opts[@]}" "$t" "$corpus" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    took=$((SECONDS - start))
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)"
    units="$(ls "$corpus" | wc -l)"
    if [ "$status" -eq 0 ]; then
        summary+=("$(printf '%-18s ok     %4ss  %10s execs  %7s exec/s  cov %-6s corpus %s' \
            "$t" "$took" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$units")")
        tail -n 3 "$log" | sed 's/^/  /'
    else
        failed+=("$t")
        summary+=("$(printf '%-18s FAILED %4ss  %10s execs  %7s exec/s  (exit %s)' \
            "$t" "$took" "${execs:-?}" "${rate:-?}" "$status")")
        echo "!! $t failed (exit $status); the end of its log:"
        # The panic message or sanitizer report, then libFuzzer's crash summary.
        grep -A 2 -m 1 "panicked at" "$log" || true
        grep -m 3 -E "ERROR: (AddressSanitizer|libFuzzer)|^SUMMARY" "$log" || true
        tail -n 40 "$log"
        artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
        if [ -n "$artifact" ]; then
            case "$artifact" in /*) ;; *) artifact="$root/$artifact" ;; esac
            echo "!! crashing input: $artifact"
            echo "!! reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run $t $artifact"
        fi
        cp "$log" "fuzz/artifacts/$t/last-run.log"
        echo "!! full log: $root/fuzz/artifacts/$t/last-run.log"
    fi
done

echo "== summary (${secs} s per target)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzzing found crashes in: ${failed[*]}" >&2
    exit 1
fi
echo "no crashes"
