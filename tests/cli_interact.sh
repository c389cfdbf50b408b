# `agora interact` and `agora replay` end to end, with the loopback LLM server (tests/llm_server.py): the live
# transcript of a scripted run, the same rounds printed again from the file, the CSV export of the /interactions
# tables, --replay with no server (every dataset identical; a changed scenario refused, --replay-lenient goes on),
# --runs N worlds at once (faster than one after another, a comparison table), --pause-each-round with operator
# messages from stdin, --question turning a question into a scenario file that validates and runs, and scenario
# errors with file:line.
source "$AGORA_SOURCE_DIR/tests/clilib.sh"

# seconds since the epoch, with nanoseconds
now() { date +%s.%N; }

expect_exit 0 $AGORA interact --help
contains out.txt "usage: agora interact SCENARIO"
contains out.txt "--pause-each-round"
expect_exit 0 $AGORA replay --help
contains out.txt "usage: agora replay RUN.h5"
expect_exit 0 $AGORA --help
contains out.txt "interact SCENARIO"
pass "help"

cat > flood.yaml <<'YAML'
name: flood_test
mode: interactions
seed: 3
rounds: 3
round_unit: hour
llm: {provider: openai, model: test-model, base_url: "http://127.0.0.1:1", max_retries: 0}
world: {description: "A river town floods.", rules: ["Boats carry 10 people"], state: {water_level_m: 2.0, evacuated: 0, levee_intact: true}, dynamics: [{key: water_level_m, add: 0.5, max: 6}]}
actors:
  - {id: mayor, name: Ana, role: mayor, rooms: [ops]}
  - {id: pilot, name: Ben, role: boat pilot, rooms: [ops]}
  - {id: medic, name: Cy, role: medic}
topology: {direct: [[mayor, pilot], [mayor, medic]], broadcast: [mayor]}
output: {path: flood.h5}
YAML

# The mayor talks and starts a two-hour action, the pilot ferries the medic (and cannot write to her), the world
# resolves both, the evaluator scores the run.
cat > flood.json <<'JSON'
{"rules": [
  {"tag": "mayor/round-1", "responses": [{"content": {"reasoning": "Evacuate the low streets", "messages": [
     {"to": "pilot", "text": "Bring the boats"}, {"to": "all", "text": "Everyone to high ground"}],
     "actions": [{"name": "sandbag", "target": "levee", "duration": 2, "intent": "hold the levee"}]}}]},
  {"tag": "pilot/round-1", "responses": [{"content": {"reasoning": "Boats first", "messages": [
     {"to": "medic", "text": "hi"}, {"to": "room:ops", "text": "on my way"}],
     "actions": [{"name": "ferry", "target": "medic", "duration": 1, "intent": "carry the sick"}]}}]},
  {"tag": "world/round-1", "responses": [{"content": {"narrative": "The water rises fast.", "outcomes": [
     {"action_id": 1, "result": "success", "outcome": "ten people ferried"}],
     "state_changes": [{"key": "evacuated", "value": 10}]}}]},
  {"tag": "world/round-2", "responses": [{"content": {"narrative": "The levee holds, barely.", "outcomes": [
     {"action_id": 0, "result": "partial", "outcome": "the levee leaks"}], "state_changes": []}}]},
  {"tag": "world/*", "responses": [{"content": {"narrative": "Rain.", "outcomes": [], "state_changes": []}}]},
  {"tag": "evaluator/*", "responses": [{"content": {"scores": [
     {"criterion": "cooperation", "score": 8, "rationale": "they worked together"},
     {"criterion": "ethics", "score": 7, "rationale": "the sick went first"}],
     "narrative": "The town held.", "synthesis": "The mayor led."}}]}],
 "default": {"content": {"reasoning": "", "messages": [], "actions": []}}}
JSON
start_server flood.json flood

expect_exit 0 $AGORA interact flood.yaml --llm-url "$url"
cp out.txt live.txt
contains out.txt "== Round 1/3 (hour 1) =="
contains out.txt "== Round 3/3 (hour 3) =="
contains out.txt "[mayor] thinks: Evacuate the low streets"
contains out.txt "[mayor] -> pilot: Bring the boats"
contains out.txt "[mayor] -> all: Everyone to high ground"
contains out.txt "[pilot] -> medic: hi  (blocked: pilot cannot reach medic directly)"
contains out.txt "[pilot] -> room:ops: on my way"
contains out.txt "[mayor] acts: sandbag -> levee for 2 rounds (#0) - hold the levee"
contains out.txt "[pilot] acts: ferry -> medic for 1 round (#1) - carry the sick"
contains out.txt "  #1 ferry (pilot) completed: ten people ferried"
contains out.txt "  #0 sandbag (mayor) completed: the levee leaks"
contains out.txt "World: The water rises fast."
contains out.txt '  state {"water_level_m":2.5,"evacuated":10,"levee_intact":true}'
contains out.txt "== Evaluation =="
contains out.txt '"cooperation":8.0'
contains out.txt "The town held."
contains err.txt "agora interact: complete, 3 rounds in"
contains err.txt "-> flood.h5"
# in order: round 1's mayor, round 1's world, round 2, the evaluation
order=$(grep -n -e "== Round 1/3" -e "World: The water rises fast." -e "== Round 2/3" -e "== Evaluation ==" live.txt |
  cut -d: -f1 | tr '\n' ' ')
[ "$(echo $order | tr ' ' '\n' | sort -n | tr '\n' ' ')" = "$order" ] && [ "$(echo $order | wc -w)" = 4 ] ||
  fail "the transcript is out of order: $order"
# -q: only the result line
expect_exit 0 $AGORA interact flood.yaml --llm-url "$url" -q -o quiet.h5
[ "$(wc -l < out.txt)" = 1 ] || fail "-q printed more than the result: $(cat out.txt)"
contains out.txt "complete, 3 rounds"
pass "live transcript"

# The same rounds printed again from the file: every actor, message, action and world line of the live run.
expect_exit 0 $AGORA replay flood.h5
cp out.txt replayed.txt
contains out.txt "== Round 1/3 (round 1) =="
contains out.txt "== Round 3/3 (round 3) =="
contains out.txt "[mayor] thinks: Evacuate the low streets"
contains out.txt "[pilot] -> medic: hi  (blocked: pilot cannot reach medic directly)"
contains out.txt "== Evaluation =="
contains out.txt "cooperation: 8 - they worked together"
contains out.txt "narrative: The town held."
$PY - live.txt replayed.txt <<'PYEOF'
import sys
def rounds(path):
    """round -> sorted body lines (the round headers differ: the live one names the hour)"""
    out, cur = {}, None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("== Round "):
            cur = int(line.split()[2].split("/")[0]); out[cur] = []
        elif line.startswith("== Evaluation"):
            cur = None
        elif cur is not None and line:
            out[cur].append(line)
    return {k: sorted(v) for k, v in out.items()}
live, again = rounds(sys.argv[1]), rounds(sys.argv[2])
assert sorted(live) == [1, 2, 3] and sorted(again) == [1, 2, 3], (live.keys(), again.keys())
for r in live:
    assert live[r] == again[r], (r, live[r], again[r])
print("ok: the replayed rounds equal the live ones")
PYEOF
expect_exit 1 $AGORA replay missing.h5
expect_exit 2 $AGORA replay
pass "agora replay"

# The tables as CSV, one row per logical row.
expect_exit 0 $AGORA export flood.h5 --csv csv
for t in interactions_actors interactions_turns interactions_messages interactions_actions interactions_world \
  interactions_evaluation interactions_analytics llm_calls metrics; do
  [ -s csv/$t.csv ] || fail "the export has no $t.csv: $(ls csv)"
done
$PY - csv <<'PYEOF'
import csv, os, sys
d = sys.argv[1]
def rows(name):
    with open(os.path.join(d, name + ".csv"), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
want = {"interactions_actors": 3, "interactions_turns": 9, "interactions_messages": 4,
        "interactions_actions": 6,  # two actions: scheduled, active, resolved
        "interactions_world": 3, "interactions_evaluation": 6,  # four criteria, the narrative, the synthesis
        "interactions_analytics": 5,  # three actors, the world, the evaluator
        "llm_calls": 3 * 4 + 1, "metrics": 4}
for name, n in want.items():
    got = len(rows(name))
    assert got == n, (name, got, n)
msgs = rows("interactions_messages")
blocked = [m for m in msgs if m["status"] == "blocked"]
assert len(blocked) == 1 and blocked[0]["from"] == "pilot" and blocked[0]["to"] == "medic", blocked
assert blocked[0]["reason"] == "pilot cannot reach medic directly", blocked
assert {m["kind"] for m in msgs} == {"direct", "broadcast", "room"}, msgs
acts = rows("interactions_actions")
assert [(a["action"], a["status"], a["result"]) for a in acts if a["status"] in ("completed", "failed")] == \
    [("1", "completed", "success"), ("0", "completed", "partial")], acts
met = rows("metrics")
assert [float(m["water_level_m"]) for m in met] == [2.0, 2.5, 3.0, 3.5], met
assert [float(m["evacuated"]) for m in met] == [0, 10, 10, 10], met
ev = {r["criterion"]: r for r in rows("interactions_evaluation")}
assert float(ev["cooperation"]["score"]) == 8 and ev["strategy"]["text"] == "not scored", ev
an = {r["actor"]: r for r in rows("interactions_analytics")}
assert an["mayor"]["messages_sent"] == "2" and an["pilot"]["messages_blocked"] == "1", an
assert [an[a]["messages_received"] for a in ("mayor", "pilot", "medic")] == ["1", "2", "1"], an
print("ok: csv row counts")
PYEOF
pass "agora export --csv"

# --replay with no server: every dataset identical.
stop_server
expect_exit 0 $AGORA interact flood.yaml --llm-url http://127.0.0.1:9 --replay flood.h5 -o flood2.h5 -q
for d in /interactions/actors /interactions/turns /interactions/messages /interactions/actions /interactions/world \
  /interactions/evaluation /interactions/analytics /metrics /llm/calls; do
  h5diff -c flood.h5 flood2.h5 $d $d > diff.txt || { cat diff.txt; fail "the replay differs in $d"; }
done
# a changed world changes the prompts: refused with the step and the caller; --replay-lenient goes on
expect_exit 2 $AGORA interact flood.yaml --llm-url http://127.0.0.1:9 --replay flood.h5 -o changed.h5 \
  --set 'world.description=A town on fire.'
contains err.txt "step 1, caller mayor: the prompt differs from the recording"
expect_exit 0 $AGORA interact flood.yaml --llm-url http://127.0.0.1:9 --replay flood.h5 -o lenient.h5 -q \
  --set 'world.description=A town on fire.' --replay-lenient
h5diff -c flood.h5 lenient.h5 /interactions/messages /interactions/messages > diff.txt ||
  { cat diff.txt; fail "a lenient replay has other messages"; }
expect_exit 2 $AGORA interact flood.yaml --replay missing.h5
pass "--replay"

# --runs 3: three worlds at once against a server that takes 300 ms per reply. One run asks 3 rounds x (the actors,
# concurrently, then the world) and the evaluator: 7 waits of 300 ms one after another; three runs one after another
# would take three times as long as one, three at once about as long as one.
echo '{"default": {"auto": true, "delay_ms": 300}}' > slow.json
start_server slow.json slow
t0=$(now)
expect_exit 0 $AGORA interact flood.yaml --llm-url "$url" -q -o single.h5
t1=$(now)
expect_exit 0 $AGORA interact flood.yaml --llm-url "$url" --runs 3 -o many.h5
t2=$(now)
cp out.txt runs.txt
single=$(echo "$t1 - $t0" | bc -l)
three=$(echo "$t2 - $t1" | bc -l)
echo "one run: ${single}s, three concurrent runs: ${three}s"
[ "$(echo "$single >= 2.1" | bc -l)" = 1 ] || fail "one run took ${single}s, less than its 7 waits of 300 ms"
[ "$(echo "$three < 2 * $single" | bc -l)" = 1 ] ||
  fail "--runs 3 took ${three}s, not well under 3 x ${single}s: the runs did not overlap"
for seed in 3 4 5; do
  [ -s many-$seed.h5 ] || fail "no many-$seed.h5"
  grep -qE "^$seed +complete .* many-$seed.h5\$" runs.txt || { cat runs.txt; fail "no row for seed $seed"; }
done
[ ! -e many.h5 ] || fail "--runs also wrote many.h5"
contains runs.txt "running 3 worlds (seeds 3-5) concurrently"
grep -qE "^seed +status +cooperation +ethics +strategy +coherence +file$" runs.txt || { cat runs.txt; fail "no header"; }
grep -qE "^mean " runs.txt || fail "no mean row"
[ "$(grep -cE '^[0-9]+ ' runs.txt)" = 3 ] || fail "not one row per seed"
$PY - slow.jsonl <<'PYEOF'
import json, sys, h5py
for seed in (3, 4, 5):
    f = h5py.File(f"many-{seed}.h5", "r")
    status = f.attrs["status"]
    assert (status.decode() if isinstance(status, bytes) else status) == "complete", (seed, status)
    assert int(f.attrs["seed"]) == seed, (seed, f.attrs["seed"])
    assert len(f["interactions/world"]) == 3, seed
# every run asked with its own seed (the chat requests: the endpoint check's GET has no body)
bodies = [json.loads(l)["body"] for l in open(sys.argv[1])]
seeds = {b.get("seed") for b in bodies if isinstance(b, dict)}
assert {3, 4, 5} <= seeds, seeds
print("ok: three runs, seeds", sorted(s for s in seeds if s is not None))
PYEOF
stop_server
pass "--runs 3"

# Ctrl-C: the calls under way finish, the run stops "interrupted" (exit 130) with its rounds so far in the file.
start_server slow.json sigint
$AGORA interact flood.yaml --llm-url "$url" --rounds 50 -o sigint.h5 > out.txt 2> err.txt &
pid=$!
for _ in $(seq 100); do grep -q '"world/round-1"' sigint.jsonl 2>/dev/null && break; sleep 0.1; done
kill -INT $pid
set +e; wait $pid; rc=$?; set -e
[ "$rc" = 130 ] || { cat err.txt; fail "Ctrl-C should exit 130, got $rc"; }
contains err.txt "interrupted"
$PY - <<'PYEOF'
import h5py
f = h5py.File("sigint.h5", "r")
status = f.attrs["status"]
assert (status.decode() if isinstance(status, bytes) else status) == "interrupted", status
n = len([r for r in f["interactions/world"][:] if r["part"] == 0])
assert 1 <= n < 50, n
assert len([r for r in f["interactions/evaluation"][:]]) == 0  # no evaluation of an unfinished run
print("ok: interrupted after", n, "rounds")
PYEOF
stop_server
pass "Ctrl-C"

# --pause-each-round: after round 1 a line for the pilot (and one for nobody, and one that is not "ID: text"), then
# empty lines to go on. The pilot reads it in round 2.
start_server flood.json pause
printf 'nobody: are you there\nhello?\npilot: hello from the operator\n\n\n' > stdin.txt
set +e
$AGORA interact flood.yaml --llm-url "$url" --pause-each-round -o paused.h5 < stdin.txt > out.txt 2> err.txt
rc=$?
set -e
[ $rc = 0 ] || { cat err.txt; fail "--pause-each-round exited $rc"; }
contains err.txt "after round 1"
contains err.txt "after round 2"
contains err.txt 'no actor "nobody"'
contains err.txt 'expected "ID: message" (actors: mayor pilot medic)'
contains out.txt "[operator] -> pilot: hello from the operator"
$PY - pause.jsonl <<'PYEOF'
import json, sys, h5py
msgs = [r for r in h5py.File("paused.h5", "r")["interactions/messages"][:] if r["part"] == 0]
ops = [r for r in msgs if r["kind"].decode() == "operator"]
assert len(ops) == 1, ops
r = ops[0]
assert (r["from"].decode(), r["to"].decode(), r["text"].decode(), int(r["round"])) == \
    ("operator", "pilot", "hello from the operator", 1), r
def user(tag):
    for l in open(sys.argv[1]):
        e = json.loads(l)
        if e["tag"] == tag:
            return [m["content"] for m in e["body"]["messages"] if m["role"] == "user"][0]
    raise AssertionError("no request " + tag)
line = "from the operator (outside the simulation), to you: hello from the operator"
assert line in user("pilot/round-2"), user("pilot/round-2")
assert line not in user("pilot/round-1") and line not in user("mayor/round-2") and line not in user("pilot/round-3")
print("ok: the operator message")
PYEOF
# "quit" stops the run after round 1: interrupted, exit 130
printf 'quit\n' > stdin.txt
set +e
$AGORA interact flood.yaml --llm-url "$url" --pause-each-round -o quit.h5 < stdin.txt > out.txt 2> err.txt
rc=$?
set -e
[ $rc = 130 ] || { cat err.txt; fail "quit exited $rc, expected 130"; }
contains err.txt "interrupted, 1 rounds"
stop_server
pass "--pause-each-round"

# --question: one call makes the scenario (8 actors), saved, valid, and run.
$PY - <<'PYEOF'
import json
actors = [{"id": i, "name": n, "role": r, "traits": ["careful"], "goals": ["keep the bank open"], "history": "long",
           "relationships": []}
          for i, n, r in [("Central Bank", "Clara", "central banker"), ("minister", "Max", "finance minister"),
                          ("ceo", "Cat", "bank CEO"), ("saver", "Sam", "saver"), ("press", "Pia", "journalist"),
                          ("union", "Uli", "union leader"), ("auditor", "Aud", "auditor"), ("rival", "Rob", "rival bank")]]
actors[0]["relationships"] = [{"with": "minister", "relation": "uneasy ally"}]
reply = {"name": "Bank Run", "description": "A rumour about a bank spreads.", "round_unit": "day", "rounds": 2,
         "criteria": ["stability", "fairness"],
         "world": {"description": "A small country with one big bank.", "rules": ["Deposits are insured to 100k"],
                   "state": [{"key": "Deposits (bn)", "value": 50}, {"key": "panic", "value": False}]},
         "actors": actors}
script = {"rules": [{"tag": "generator/round-0", "responses": [{"content": reply}]}], "default": {"auto": True}}
json.dump(script, open("question.json", "w"))
PYEOF
start_server question.json question
expect_exit 0 $AGORA interact --question "What happens if a rumour starts a bank run?" --llm openai:test \
  --llm-url "$url" --save bank.yaml -o bank.h5 -q
contains err.txt "saved the scenario as bank.yaml"
contains out.txt "complete, 2 rounds"
[ -s bank.yaml ] || fail "no bank.yaml"
contains bank.yaml 'question: "What happens if a rumour starts a bank run?"'
expect_exit 0 $AGORA validate bank.yaml
contains out.txt "bank.yaml: valid (interactions: 8 actors, 2 rounds)"
$PY - question.jsonl <<'PYEOF'
import json, sys, h5py
tags = [json.loads(l)["tag"] for l in open(sys.argv[1])]
assert tags[0] == "generator/round-0" and tags.count("generator/round-0") == 1, tags
assert "central_bank/round-1" in tags and "evaluator/round-3" in tags, tags
f = h5py.File("bank.h5", "r")
calls = [r for r in f["llm/calls"][:] if r["part"] == 0]
gen = [r for r in calls if r["persona"].decode() == "generator"]
assert len(gen) == 1 and int(gen[0]["step"]) == 0 and gen[0]["status"].decode() == "ok", gen
actors = [r["actor"].decode() for r in f["interactions/actors"][:] if r["part"] == 0]
assert actors == ["central_bank", "minister", "ceo", "saver", "press", "union", "auditor", "rival"], actors
assert sorted(set(f["metrics"]) - {"time"}) == ["deposits_bn"], list(f["metrics"])  # panic is not a number
print("ok: the generated scenario ran")
PYEOF
# the saved file runs again as it is
expect_exit 0 $AGORA interact bank.yaml --llm-url "$url" -o bank2.h5 -q
expect_exit 2 $AGORA interact --question "What if?" --llm-url "$url"
contains err.txt "--question needs --llm"
expect_exit 2 $AGORA interact flood.yaml --question "What if?" --llm openai:test --llm-url "$url"
stop_server
pass "--question"

# Scenario errors: file:line and the key, exit 2, no file written.
cat > bad.yaml <<'YAML'
name: bad
mode: interactions
actors:
  - {id: a, role: mayor}
colour: red
output: {path: bad.h5}
YAML
expect_exit 2 $AGORA interact bad.yaml
contains err.txt "bad.yaml:5:"
contains err.txt "colour"
[ ! -e bad.h5 ] || fail "a bad scenario left a file"
cat > bad2.yaml <<'YAML'
name: bad2
mode: interactions
actors:
  - {id: a, role: mayor}
  - {id: b, role: pilot}
topology: {direct: [[a, z]]}
YAML
expect_exit 2 $AGORA interact bad2.yaml
contains err.txt "bad2.yaml:6:"
contains err.txt "topology.direct[0]"
expect_exit 2 $AGORA interact flood.yaml --runs 0
expect_exit 2 $AGORA interact flood.yaml --rounds x
expect_exit 2 $AGORA run flood.yaml
contains err.txt "agora interact flood.yaml"
expect_exit 2 $AGORA interact "$SRC/scenarios/sir_grid.yaml" -o sir.h5
contains err.txt "agora interact runs scenarios with mode: interactions (this one is"
[ ! -e sir.h5 ] || fail "a scenario of another mode left a file"
pass "scenario errors"
