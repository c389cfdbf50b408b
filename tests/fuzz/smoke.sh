#!/usr/bin/env bash
# Runs one fuzz harness for a short while on its seed corpus: the CTest smoke of tests/fuzz (label fuzz).
#
#   smoke.sh HARNESS TARGET SECONDS      (AGORA_SOURCE_DIR: the source tree; AGORA_FUZZ_WORK: a scratch directory)
#
# New inputs go to $AGORA_FUZZ_WORK/corpus (first corpus directory: libFuzzer writes only there), the seeds of
# tests/fuzz/corpus/TARGET are read-only input. A finding (crash, leak, UB, timeout, out-of-memory, broken invariant)
# fails with libFuzzer's report and leaves the input as $AGORA_FUZZ_WORK/crash-* (or leak-*, timeout-*, oom-*);
# reproduce it with `HARNESS FILE`.
set -euo pipefail
harness=$1 target=$2 seconds=$3
src=${AGORA_SOURCE_DIR:?}/tests/fuzz
work=${AGORA_FUZZ_WORK:?}
rm -rf "$work"
mkdir -p "$work/corpus" "$work/tmp"
dict=()
[ -f "$src/$target.dict" ] && dict=(-dict="$src/$target.dict")
export TMPDIR="$work/tmp"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$src/../lsan.supp}
rc=0
"$harness" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
  -artifact_prefix="$work/" "${dict[@]}" "$work/corpus" "$src/corpus/$target" >"$work/log" 2>&1 || rc=$?
tail -n 80 "$work/log"
if ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* >/dev/null 2>&1; then
  echo "smoke.sh: $target: a finding, kept in $work" >&2
  rc=1
fi
exit "$rc"
