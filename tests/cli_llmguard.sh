# A dead LLM and the cost governor, end to end through the `agora` binary (issue 13, defects 5 and 6):
# - no server at the configured URL: one endpoint check says exactly what is wrong, nothing waits out retries, the
#   rules stand in, and the run is recorded as degraded (status "degraded", exit 3) in the file, the summary,
#   --json, `agora inspect`, for `agora run`, `agora interact` and `agora sweep`;
# - a server that stops answering midway: the circuit breaker stops asking it after 3 failed calls in a row;
# - llm.max_calls / max_tokens / max_cost per run, and --max-calls per sweep (shared by parallel workers): once
#   reached the personas follow their rules, actors pass, recorded and shown; the run stays "complete".
source "$AGORA_SOURCE_DIR/tests/clilib.sh"

now() { date +%s.%N; }
small="--set space.width=120 --set space.height=120 --steps 30"
# Five retries with exponential backoff from 0.5 s wait at least 0.5 x 15.5 s per call (the jitter is in
# [0.5, 1.5)): a run that retried even one call could not finish in the bounds below.
retries="--set llm.max_retries=5"
closed=http://127.0.0.1:9

# ---- a dead LLM: agora run --------------------------------------------------------------------------------------
t0=$(now)
expect_exit 3 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" -o dead.h5 $small --no-progress \
  --llm ollama:m --llm-url $closed $retries
t1=$(now)
took=$(echo "$t1 - $t0" | bc -l)
echo "agora run against a closed port: ${took}s"
[ "$(echo "$took < 5" | bc -l)" = 1 ] || fail "a run against a closed port took ${took}s: it waited for retries"
contains err.txt "no LLM server at $closed: connection refused; start it, or run with --llm offline"
[ "$(grep -c "^agora: warn: no LLM server at" err.txt)" = 1 ] || { cat err.txt; fail "the endpoint warning should come once"; }
contains err.txt "health (fallback)"
contains out.txt "dead.h5 (degraded)"
contains out.txt "  degraded               "
contains out.txt "no LLM server at $closed"
contains err.txt "exit status 3"
$PY - dead.h5 <<'PYEOF'
import sys, json, h5py
f = h5py.File(sys.argv[1], "r")
status = f.attrs["status"]
assert (status.decode() if isinstance(status, bytes) else status) == "degraded", status
s = json.loads(f.attrs["summary"])
llm = s["llm"]
assert llm["degraded"] is True and "no LLM server at http://127.0.0.1:9" in llm["degraded_reason"], llm
assert llm["endpoint_check"].startswith("no LLM server at"), llm
assert llm["calls"] == 0 and llm["skipped"] > 0 and llm["fallbacks"] == llm["skipped"], llm
assert llm["budget"] is None, llm
rows = [r for r in f["llm/calls"][:] if r["part"] == 0]
st = [r["status"].decode() for r in rows]
assert rows and set(st) == {"unreachable"}, st          # nothing was sent: every call says why
assert all(int(r["http_attempts"]) == 0 for r in rows)
assert "connection refused" in rows[0]["error"].decode(), rows[0]["error"]
g = f["personas/health"]   # per-persona totals: calls not made are counted apart from the calls made
assert g.attrs["calls"] == 0 and g.attrs["skipped"] == sum(r["persona"].decode() == "health" for r in rows), dict(g.attrs)
print("ok: file says degraded,", len(rows), "calls not made")
PYEOF
expect_exit 0 $AGORA inspect dead.h5
contains out.txt "status      degraded"
contains out.txt "degraded    "
contains out.txt "no LLM server at $closed"
expect_exit 0 $AGORA inspect dead.h5 --json
$PY -c "import json; d=json.load(open('out.txt')); assert d['status']=='degraded' and d['llm']['degraded'] is True, d['llm']"
expect_exit 3 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" -o dead2.h5 $small --llm ollama:m --llm-url $closed --json
$PY -c "import json; d=json.load(open('out.txt')); assert d['status']=='degraded' and d['summary']['llm']['fallbacks'] > 0, d"
# the same with the OpenAI protocol
expect_exit 3 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" -o dead3.h5 $small -q --llm openai:m --llm-url $closed
# --llm offline is not degraded: nothing was meant to come from an LLM
expect_exit 0 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" -o off.h5 $small -q --llm offline
pass "agora run against a closed port: degraded, exit 3, in ${took}s"

# ---- a dead LLM: agora interact -----------------------------------------------------------------------------------
t0=$(now)
expect_exit 3 $AGORA interact "$SRC/scenarios/flood_rescue.yaml" --llm-url $closed -o ix.h5 $retries
t1=$(now)
took_ix=$(echo "$t1 - $t0" | bc -l)
echo "agora interact against a closed port: ${took_ix}s"
[ "$(echo "$took_ix < 5" | bc -l)" = 1 ] || fail "agora interact against a closed port took ${took_ix}s"
contains err.txt "no LLM server at $closed: connection refused"
contains err.txt "agora interact: degraded, 8 rounds"
$PY - ix.h5 <<'PYEOF'
import sys, json, h5py
f = h5py.File(sys.argv[1], "r")
status = f.attrs["status"]
assert (status.decode() if isinstance(status, bytes) else status) == "degraded", status
llm = json.loads(f.attrs["summary"])["llm"]
assert llm["degraded"] and "no LLM server" in llm["degraded_reason"], llm
st = {r["status"].decode() for r in f["llm/calls"][:] if r["part"] == 0}
assert st == {"unreachable"}, st
PYEOF
expect_exit 0 $AGORA inspect ix.h5
contains out.txt "status      degraded"
pass "agora interact against a closed port: degraded, exit 3, in ${took_ix}s"

# ---- a server that dies midway: the circuit breaker ---------------------------------------------------------------
# The health minister's first two decisions are answered, then every connection is dropped: 3 failed calls in a row
# open the breaker and no further request is sent.
cat > dying.json <<'JSON'
{"rules": [{"tag": "health/step-0", "responses": [{"content": "{\"reasoning\": \"watch\", \"actions\": []}"}]},
           {"tag": "economy/step-3", "responses": [{"content": "{\"reasoning\": \"open\", \"actions\": []}"}]}],
 "default": {"drop": true}}
JSON
start_server dying.json dying
expect_exit 3 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" -o dying.h5 --set space.width=60 --set space.height=60 \
  --steps 60 -q --llm ollama:m --llm-url "$url" --set llm.max_retries=0
stop_server
$PY - dying.h5 dying.jsonl <<'PYEOF'
import sys, json, h5py
f = h5py.File(sys.argv[1], "r")
rows = [r for r in f["llm/calls"][:] if r["part"] == 0]
st = [(int(r["step"]), r["status"].decode()) for r in rows]
assert [s for _, s in st[:5]] == ["ok", "ok", "connect", "connect", "connect"], st
assert all(s == "circuit_open" for _, s in st[5:]) and len(st) > 5, st
chats = [json.loads(l) for l in open(sys.argv[2]) if '"/api/chat"' in l]
assert len(chats) == 5, len(chats)                      # nothing sent once the breaker is open
llm = json.loads(f.attrs["summary"])["llm"]
assert llm["circuit_open_at_step"] == st[4][0], (llm, st)
assert "3 calls in a row" in llm["degraded_reason"], llm
print("ok: breaker open at step", st[4][0])
PYEOF
pass "the circuit breaker stops asking a dead server"

# ---- the governor: llm.max_calls, max_tokens, max_cost --------------------------------------------------------------
# Every reply costs 900 prompt + 100 completion tokens. health decides at 0, 7, 14, ...; economy at 3, 10, 17, ...
cat > paid.json <<'JSON'
{"default": {"content": "{\"reasoning\": \"fine\", \"actions\": []}", "prompt_tokens": 900, "completion_tokens": 100}}
JSON
start_server paid.json paid
# Each limit lets exactly 3 calls through: 3 calls; 1000 tokens a call, checked before each (< 2500 before the
# third); 0.9 + 1.0 = 1.9 a call at 1 per 1k prompt and 10 per 1k completion tokens (< 5 before the third).
for limit in "llm.max_calls=3" "llm.max_tokens=2500" "llm.max_cost=5"; do
  name=${limit%%=*}; name=${name#llm.}
  before=$(grep -c '"/api/chat"' paid.jsonl || true)
  expect_exit 0 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" -o budget_$name.h5 $small --no-progress \
    --llm ollama:m --llm-url "$url" --set $limit --set llm.cost_per_1k_prompt=1 --set llm.cost_per_1k_completion=10
  after=$(grep -c '"/api/chat"' paid.jsonl)
  [ $((after - before)) = 3 ] || fail "$limit: $((after - before)) calls reached the server, expected 3"
  contains err.txt "economy (budget)"
  contains out.txt "llm budget"
  contains out.txt "$name"
  contains out.txt "reached at step 10"
  contains out.txt "budget_$name.h5 (complete)"
  $PY - budget_$name.h5 $name <<'PYEOF'
import sys, json, h5py
f = h5py.File(sys.argv[1], "r")
status = f.attrs["status"]
assert (status.decode() if isinstance(status, bytes) else status) == "complete", status
llm = json.loads(f.attrs["summary"])["llm"]
b = llm["budget"]
assert b["limit"] == sys.argv[2] and b["reached_at_step"] == 10 and b["skipped"] == len(
    [r for r in f["llm/calls"][:] if r["part"] == 0 and r["status"].decode() == "budget"]), llm
assert llm["calls"] == 3 and llm["degraded"] is False and llm["used"]["calls"] == 3, llm
assert llm["used"]["tokens"] == 3000 and abs(llm["used"]["cost"] - 5.7) < 1e-9, llm
PYEOF
  expect_exit 0 $AGORA inspect budget_$name.h5
  contains out.txt "status      complete"
  contains out.txt "llm budget  $name"
done
pass "llm.max_calls, max_tokens and max_cost stop the calls, the run stays complete"

# Limits are checked with their key; max_tokens is said to be the run's total, not one reply's length.
expect_exit 2 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" -o x.h5 $small --llm ollama:m --set llm.max_calls=-1
contains err.txt "llm.max_calls"
expect_exit 2 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" -o x.h5 $small --llm ollama:m --set llm.max_tokens=0.5
contains err.txt "llm.max_tokens"
contains err.txt "whole run"
pass "bad limits"

# ---- the governor in interactions: actors pass, the world engine and the evaluator are skipped --------------------
echo '{"default": {"auto": true}}' > auto.json
stop_server
start_server auto.json town
cat > town.yaml <<YAML
name: town
mode: interactions
seed: 3
rounds: 3
llm: {provider: openai, model: test-model, base_url: "$url", max_retries: 0, max_calls: 4}
world: {description: "A river town floods.", state: {water_level_m: 2.0}}
actors:
  - {id: mayor, name: Ana, role: mayor}
  - {id: pilot, name: Ben, role: boat pilot}
output: {path: town.h5}
YAML
expect_exit 0 $AGORA interact town.yaml -q
contains out.txt "agora interact: complete, 3 rounds"
[ "$(grep -c '"/v1/chat/completions"' town.jsonl)" = 4 ] || fail "max_calls 4: $(grep -c chat town.jsonl) requests"
$PY - town.h5 <<'PYEOF'
import sys, json, h5py
f = h5py.File(sys.argv[1], "r")
turns = [(int(r["round"]), r["actor"].decode(), r["source"].decode()) for r in f["interactions/turns"][:] if r["part"] == 0]
# round 1: both actors and the world engine (3 calls), round 2: the mayor (the 4th), then everyone passes
assert turns[:3] == [(1, "mayor", "llm"), (1, "pilot", "llm"), (2, "mayor", "llm")], turns
assert all(s == "budget" for _, _, s in turns[3:]), turns
world = [r["status"].decode() for r in f["interactions/world"][:] if r["part"] == 0]
assert world == ["llm", "budget", "budget"], world
llm = json.loads(f.attrs["summary"])["llm"]
assert llm["budget"]["limit"] == "max_calls" and llm["budget"]["reached_at_step"] == 2 and not llm["degraded"], llm
PYEOF
pass "interactions: actors pass once the budget is reached"
stop_server

# ---- per sweep: --max-calls shared by the worker processes; degraded runs in the table ----------------------------
start_server paid.json sweep
expect_exit 0 $AGORA sweep "$SRC/scenarios/sir_lockdown.yaml" --seeds 4 $small -t 2 -q -o sw.h5 \
  --set "llm={provider: ollama, model: m, base_url: \"$url\"}" --max-calls 5
n=$(grep -c '"/api/chat"' sweep.jsonl)
[ "$n" = 5 ] || fail "--max-calls 5 over 4 runs in 2 workers: $n calls reached the server"
$PY - sw.h5 <<'PYEOF'
import sys, h5py
t = h5py.File(sys.argv[1], "r")["sweep/table"][()]
status = [s.decode() for s in t["status"]]
budget = [s.decode() for s in t["llm_budget"]]
assert status == ["complete"] * 4, status
assert all(b.startswith("sweep.max_calls") for b in budget), budget   # each run needs 9 calls, 5 in all
print("ok:", budget)
PYEOF
# the same one run after another in this process (-t 1), with the budget from the scenario's sweep: block
cat > swblock.yaml <<YAML
name: swblock
mode: mixed
model: sir
space: {kind: grid, width: 40, height: 40}
steps: 20
llm: {provider: ollama, model: m, base_url: "$url", max_retries: 0}
personas: [{id: a, every: 2}]
sweep: {seeds: 3, max_calls: 7}
YAML
before=$(grep -c '"/api/chat"' sweep.jsonl)
expect_exit 0 $AGORA sweep swblock.yaml -t 1 -q -o swblock.h5
[ $(( $(grep -c '"/api/chat"' sweep.jsonl) - before )) = 7 ] || fail "sweep: {max_calls: 7} let other than 7 calls through"
$PY - swblock.h5 <<'PYEOF'
import sys, h5py
t = h5py.File(sys.argv[1], "r")["sweep/table"][()]
budget = [s.decode() for s in t["llm_budget"]]
# run 1 decides at steps 0, 2, ... 18: its 8th decision (step 14) finds the 7 calls spent; runs 2 and 3 get none
assert budget == ["sweep.max_calls reached at step 14"] + ["sweep.max_calls reached at step 0"] * 2, budget
PYEOF
expect_exit 2 $AGORA sweep swblock.yaml --max-calls 0 -o x.h5
expect_exit 0 $AGORA sweep --help
contains out.txt "--max-calls"
contains out.txt "3 a run degraded"
stop_server
expect_exit 3 $AGORA sweep "$SRC/scenarios/sir_lockdown.yaml" --seeds 2 $small -q -o swdead.h5 \
  --set "llm={provider: ollama, model: m, base_url: \"$closed\"}"
$PY - swdead.h5 <<'PYEOF'
import sys, h5py
t = h5py.File(sys.argv[1], "r")["sweep/table"][()]
assert [s.decode() for s in t["status"]] == ["degraded"] * 2, t["status"]
PYEOF
pass "per-sweep budget and degraded runs in a sweep"

# ---- the exit status is documented ----------------------------------------------------------------------------------
expect_exit 0 $AGORA run --help
contains out.txt "3 degraded"
expect_exit 0 $AGORA interact --help
contains out.txt "3 degraded"
grep -qF "3 degraded" "$SRC/README.md" || fail "README does not document exit status 3"
pass "exit status 3 documented"
