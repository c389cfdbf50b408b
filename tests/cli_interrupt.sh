# Nothing is lost: Ctrl-C stops a run cleanly (status "interrupted", exit 130); a killed run (SIGKILL) leaves a file
# that keeps every flushed step and that `agora inspect` and h5py (SWMR) read; a reader can follow a live run.
source "$(dirname "$0")/clilib.sh"

cat > long.yaml <<'Y'
name: long
model: sir
space: {kind: grid, width: 400, height: 400}
params: {beta: 0.05, gamma: 0.01, initial_infected: 100}
steps: 100000000
output: {flush_every: 5, snapshot_every: 1000}
Y

# Wait until the file holds at least N flushed rows, read as a SWMR reader would.
wait_rows() {
  local file=$1 want=$2
  for i in $(seq 1 300); do
    if [ -e "$file" ]; then
      n=$($PY - "$file" <<'PY' 2>/dev/null || echo 0
import sys, h5py
f = h5py.File(sys.argv[1], "r", swmr=True, libver="latest")
print(f["time"].shape[0])
PY
)
      [ "${n:-0}" -ge "$want" ] && return 0
    fi
    sleep 0.1
  done
  fail "$file never reached $want rows"
}

# stopped_cleanly PID CODE FILE WHAT: the process exits CODE, and FILE says "interrupted" and opens without repair.
stopped_cleanly() {
  local pid=$1 code=$2 file=$3 what=$4 rc
  set +e; wait "$pid"; rc=$?; set -e
  [ "$rc" = "$code" ] || fail "$what should exit $code, got $rc"
  expect_exit 0 $AGORA inspect "$file"
  contains out.txt "interrupted"
  h5dump -H "$file" > /dev/null || fail "a file stopped by $what must open without repair"
}

# SIGINT: clean stop.
$AGORA run long.yaml -o int.h5 -q & pid=$!
wait_rows int.h5 50
kill -INT $pid
stopped_cleanly $pid 130 int.h5 "Ctrl-C"
pass "SIGINT"

# SIGKILL: the flushed steps survive and are readable; the file says it is incomplete.
$AGORA run long.yaml -o kill.h5 -q & pid=$!
wait_rows kill.h5 100
kill -KILL $pid
set +e; wait $pid; set -e
expect_exit 0 $AGORA inspect kill.h5
contains out.txt "incomplete"
$PY - <<'PY'
import h5py, numpy as np
f = h5py.File("kill.h5", "r", swmr=True, libver="latest")
t = f["time"][:]
S, I, R = (f["metrics"][k][:] for k in ("S", "I", "R"))
# A kill can land between two datasets' flushes, so datasets may differ by one flush; the common rows are whole.
n = min(len(t), len(S), len(I), len(R))
assert n >= 100 and max(len(t), len(S), len(I), len(R)) - n <= 5, (len(t), len(S))
assert (t[:n] == np.arange(n)).all()
assert ((S[:n] + I[:n] + R[:n]) == 160000).all()
assert f.attrs["status"] == "running"
PY
h5clear -s kill.h5 && h5dump -H kill.h5 > /dev/null || fail "h5clear -s should make a killed file open in h5dump"
pass "SIGKILL keeps the flushed steps"

# SIGTERM (Slurm's time limit, `timeout`, systemd) and SIGHUP (a closed terminal) stop a run as Ctrl-C does:
# status "interrupted", exit 128 + the signal, a file that opens without repair.
for sig in TERM:143 HUP:129; do
  name=${sig%%:*} code=${sig##*:}
  $AGORA run long.yaml -o "$name.h5" -q & pid=$!
  wait_rows "$name.h5" 20
  kill -"$name" $pid
  stopped_cleanly $pid "$code" "$name.h5" "SIG$name"
  pass "SIG$name"
done
# The same signal twice at once (`timeout` and batch systems signal the process and then its group): one request to
# stop, not a kill that leaves the file unclosed.
$AGORA run long.yaml -o twice.h5 -q & pid=$!
wait_rows twice.h5 20
kill -TERM $pid; kill -TERM $pid
stopped_cleanly $pid 143 twice.h5 "SIGTERM twice"
pass "SIGTERM twice"
# `timeout` sends SIGTERM: the same, and timeout passes the exit status on.
set +e; timeout -s TERM 2 $AGORA run long.yaml -o timeout.h5 -q; rc=$?; set -e
[ "$rc" = 143 ] || [ "$rc" = 124 ] || fail "timeout should end the run with 143 (or timeout's 124), got $rc"
expect_exit 0 $AGORA inspect timeout.h5
contains out.txt "interrupted"
pass "timeout -s TERM"

# A reader that goes away (`agora run ... | head`): the run stops cleanly instead of dying mid-write. The event
# lines go to stderr, so the pipe is closed on stderr here; the exit code is 141 (128 + SIGPIPE).
cat > chatty.yaml <<'Y'
name: chatty
model: sir
space: {kind: grid, width: 200, height: 200}
params: {beta: 0.05, gamma: 0.01, initial_infected: 100}
steps: 100000000
output: {flush_every: 5}
Y
# an event line at every step for a while, so that the run writes again after head has gone
{ echo "interventions:"; for i in $(seq 1 3000); do echo "  - {at: $i, action: {action: vaccinate, fraction: 0.0001}}"; done; } >> chatty.yaml
set +e; $AGORA run chatty.yaml -o pipe.h5 --no-progress 2>&1 >/dev/null | head -1 > head.txt; rc=${PIPESTATUS[0]}; set -e
[ "$rc" = 141 ] || fail "a closed pipe should stop the run with 141, got $rc"
[ -s head.txt ] || fail "head saw no line"
expect_exit 0 $AGORA inspect pipe.h5
contains out.txt "interrupted"
h5dump -H pipe.h5 > /dev/null || fail "a file stopped by a closed pipe must open without repair"
# stdout closed before the summary is printed: the file is complete all the same.
cat > short.yaml <<'Y'
name: short
model: sir
space: {kind: grid, width: 50, height: 50}
steps: 20
Y
set +e; $AGORA run short.yaml -o short.h5 | head -c 0; set -e
expect_exit 0 $AGORA inspect short.h5
contains out.txt "complete"
pass "closed pipe"

# A sweep under SIGTERM: the workers stop, every run file is closed, and the same command finishes the rest.
cat > sweep.yaml <<'Y'
name: sw
model: sir
space: {kind: grid, width: 300, height: 300}
params: {beta: 0.05, gamma: 0.01, initial_infected: 100}
steps: 10000000
output: {flush_every: 5}
Y
$AGORA sweep sweep.yaml --vary params.beta=0.02:0.08:4 -o sw.h5 -q & pid=$!
for _ in $(seq 300); do ls sw.h5.runs/*.h5 >/dev/null 2>&1 && break; sleep 0.1; done
sleep 1
kill -TERM $pid
set +e; wait $pid; rc=$?; set -e
[ "$rc" = 143 ] || fail "a sweep stopped by SIGTERM should exit 143, got $rc"
for f in sw.h5.runs/*.h5; do
  h5dump -H "$f" > /dev/null || fail "$f was left open by a SIGTERM"
  $AGORA inspect "$f" | grep -qE "status +(interrupted|complete)" || fail "$f is neither interrupted nor complete"
done
pass "sweep SIGTERM"

# `agora interact` under SIGTERM: the round in flight ends, the file is closed "interrupted", exit 143. The loopback
# LLM answers every call after 300 ms, so the run is still going when the signal comes.
cat > slow.json <<'JSON'
{"default": {"auto": true, "delay_ms": 300}}
JSON
start_server slow.json slow
cat > town.yaml <<'Y'
name: town
mode: interactions
rounds: 50
llm: {provider: openai, model: m, max_retries: 0}
world: {description: "A town."}
actors: [{id: mayor, role: mayor}, {id: pilot, role: pilot}]
Y
$AGORA interact town.yaml --llm-url "$url" -o town.h5 -q & pid=$!
for _ in $(seq 100); do [ -e town.h5 ] && break; sleep 0.1; done
sleep 1
kill -TERM $pid
stopped_cleanly $pid 143 town.h5 "agora interact stopped by SIGTERM"
pass "interact SIGTERM"
