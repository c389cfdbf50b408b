# Mixed mode end to end through the `agora` binary: the shipped persona scenarios offline (rules, said plainly),
# then with a loopback LLM server (tests/llm_server.py) over both protocols: decisions applied and recorded in
# /llm/calls and /events, invalid replies repaired, a dead server falling back to the rules, --llm offline, and the
# API key never written to the file or the logs.
source "$AGORA_SOURCE_DIR/tests/clilib.sh"

small="--set space.width=120 --set space.height=120 --steps 30"

# Offline: the personas follow their rules and the run says so.
expect_exit 0 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" -o off.h5 $small --no-progress
contains err.txt "follow their offline_policy rules: no LLM is used"
contains err.txt "health (rules)"
h5ls -r off.h5 > ls.txt
contains ls.txt "/personas/health"
contains ls.txt "/personas/economy"
contains ls.txt "/llm/calls"
expect_exit 0 $AGORA inspect off.h5
contains out.txt "mode mixed"
contains out.txt "offline (rules)"
expect_exit 0 $AGORA run "$SRC/scenarios/opinion_media.yaml" -o media.h5 --set space.n=3000 --steps 25 -q
expect_exit 0 $AGORA inspect media.h5 --events
contains out.txt "persona:left"
expect_exit 0 $AGORA run "$SRC/scenarios/market_central_bank.yaml" -o bank.h5 --steps 45 -q
expect_exit 0 $AGORA inspect bank.h5 --events
contains out.txt "persona:regulator"
pass "offline persona scenarios"

# A loopback server that answers the health minister with a lockdown and the economy minister first with junk.
cat > script.json <<'JSON'
{"rules": [
  {"tag": "health/*", "responses": [{"content": "{\"reasoning\": \"act early\", \"actions\": [{\"action\": \"lockdown\", \"strength\": 0.5, \"steps\": 14}]}", "prompt_tokens": 900, "completion_tokens": 40}]},
  {"tag": "economy/step-3", "responses": [{"content": "Sure! I would lift the lockdown."}]},
  {"tag": "economy/*", "responses": [{"content": "{\"reasoning\": \"keep open\", \"actions\": []}"}]}
]}
JSON
start_server script.json requests

for provider in ollama openai; do
  export AGORA_SECRET_TEST_KEY=sk-agora-test-5e3r3t
  expect_exit 0 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" -o llm_$provider.h5 $small --no-progress -v \
    --llm $provider:test-model --llm-url "$url" --set llm.api_key_env=AGORA_SECRET_TEST_KEY
  contains err.txt "health (llm)"
  contains err.txt "act early"
  $PY - llm_$provider.h5 <<'PYEOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
calls = f["llm/calls"][:]
rows = [r for r in calls if r["part"] == 0]
assert len(rows) > 0, "no calls recorded"
personas = {r["persona"].decode() for r in rows}
assert personas == {"health", "economy"}, personas
status = [(r["persona"].decode(), int(r["step"]), int(r["attempt"]), r["status"].decode()) for r in rows]
assert ("economy", 3, 1, "invalid") in status, status   # junk at step 3 ...
assert ("economy", 3, 2, "ok") in status, status        # ... repaired
assert all(s == "ok" for p, _, _, s in status if p == "health"), status
ev = [r for r in f["events"][:] if r["part"] == 0]
assert any(r["source"].decode() == "persona:health" and r["status"].decode() == "applied" for r in ev)
assert f.attrs["mode"] in (b"mixed", "mixed")
for pid in ("health", "economy"):   # per-persona totals written as attributes at close
    g = f["personas/" + pid]
    mine = [r for r in rows if r["persona"].decode() == pid]
    assert g.attrs["calls"] == len(mine), (pid, g.attrs["calls"], len(mine))
    assert g.attrs["ok"] == sum(r["status"].decode() == "ok" for r in mine)
    assert g.attrs["invalid"] == sum(r["status"].decode() == "invalid" for r in mine)
    assert g.attrs["prompt_tokens"] == sum(int(r["prompt_tokens"]) for r in mine if r["prompt_tokens"] > 0)
print("ok:", len(rows), "calls")
PYEOF
  # the key went to the server as a header, never into the file or the logs
  if grep -qa "sk-agora-test" llm_$provider.h5 err.txt out.txt; then fail "the API key leaked"; fi
done
contains requests.jsonl '"path": "/api/chat"'
contains requests.jsonl '"path": "/v1/chat/completions"'
if grep -q "sk-agora-test" requests.jsonl; then fail "the server log holds the key"; fi
pass "personas over both protocols"

# --llm offline overrides the scenario's LLM: no request reaches the server.
before=$(wc -l < requests.jsonl)
expect_exit 0 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" -o forced.h5 $small --no-progress \
  --llm offline --set 'llm={provider: ollama, model: m, base_url: "'"$url"'"}'
[ "$(wc -l < requests.jsonl)" = "$before" ] || fail "--llm offline still asked the server"
contains err.txt "health (rules)"
pass "--llm offline"

stop_server

# Replay without the server: the recorded replies answer every call; every dataset is bit-identical.
for provider in ollama openai; do
  expect_exit 0 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" -o replay_$provider.h5 $small --no-progress \
    --llm $provider:test-model --llm-url http://127.0.0.1:9 --set llm.api_key_env=AGORA_SECRET_TEST_KEY \
    --replay llm_$provider.h5
  for d in /metrics /snapshots /events /llm/calls; do
    h5diff -c llm_$provider.h5 replay_$provider.h5 $d $d > diff.txt || { cat diff.txt; fail "replay differs in $d ($provider)"; }
  done
done
# The same through the scenario: llm: {provider: replay, path: RUN.h5}
expect_exit 0 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" -o replay_block.h5 $small --no-progress \
  --set "llm={provider: replay, path: \"$PWD/llm_ollama.h5\"}"
h5diff -c llm_ollama.h5 replay_block.h5 /metrics /metrics > diff.txt || { cat diff.txt; fail "provider replay differs"; }
pass "replay is bit-identical, with no network"

# A changed persona changes the prompt: an error naming the step and persona; lenient replays anyway.
expect_exit 1 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" -o changed.h5 $small --no-progress \
  --llm ollama:test-model --llm-url http://127.0.0.1:9 --replay llm_ollama.h5 --set 'personas[0].persona=Reckless.'
contains err.txt "step 0, persona health: the prompt differs from the recording"
expect_exit 0 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" -o lenient.h5 $small --no-progress \
  --llm ollama:test-model --llm-url http://127.0.0.1:9 --replay llm_ollama.h5 --set 'personas[0].persona=Reckless.' \
  --replay-lenient
expect_exit 2 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" -o x.h5 --replay-until 5 $small
contains err.txt "--replay-until needs --replay"

# A fork: the recording up to step 14, then the live LLM (here down: the rules stand in, and the run is degraded)
# — identical before the fork.
expect_exit 3 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" -o fork.h5 $small --no-progress \
  --llm ollama:test-model --llm-url http://127.0.0.1:9 --set llm.max_retries=0 --replay llm_ollama.h5 --replay-until 14
contains err.txt "step 14: health (llm)"
contains err.txt "step 17: economy (fallback)"
$PY - llm_ollama.h5 fork.h5 <<'PYEOF'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
for name in a["metrics"]:
    if name == "time":
        continue
    x, y = a["metrics"][name][:], b["metrics"][name][:]
    assert np.array_equal(x[:16], y[:16], equal_nan=True), name   # rows 0..15: before the first live call acts
PYEOF
pass "replay errors, lenient replay and --replay-until"

# A dead server: found by the endpoint check, no call is made, the rules stand in, the run is degraded and says so
# (tests/cli_llmguard.sh has the rest).
expect_exit 3 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" -o dead.h5 $small --no-progress \
  --llm ollama:m --llm-url http://127.0.0.1:9 --set llm.max_retries=0
contains err.txt "health (fallback)"
$PY - dead.h5 <<'PYEOF'
import sys, h5py
rows = [r for r in h5py.File(sys.argv[1], "r")["llm/calls"][:] if r["part"] == 0]
assert rows and all(r["status"].decode() == "unreachable" for r in rows), [r["status"] for r in rows]
PYEOF
pass "fallback when the server is down"

# Bad persona configuration: file:line and the key.
cat > bad.yaml <<'YAML'
model: sir
space: {kind: grid, width: 10, height: 10}
personas:
  - id: m
    offline_policy:
      - when: "I_frac >> 2"
        do: {action: vaccinate, fraction: 0.1}
YAML
expect_exit 2 $AGORA run bad.yaml -o bad.h5
contains err.txt "bad.yaml:6:"
contains err.txt "personas[0].offline_policy[0].when"
[ ! -e bad.h5 ] || fail "a bad scenario left a file"
expect_exit 2 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" --llm gpt:4 -o x.h5 $small
contains err.txt "--llm"
pass "persona errors"
