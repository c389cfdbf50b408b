# Checkpoint and resume: a run killed with SIGKILL at any moment goes on from its last checkpoint
# (`agora run --checkpoint-every N`, then `agora run --resume FILE`) and ends with exactly the datasets of a run that
# was never stopped (compared dataset by dataset, bytes and shapes). Also after Ctrl-C, at another thread count, on
# every model (SIR with interventions, opinion with a rewired graph, the market), several kills in a row; and a
# resume with another configuration, or of a file without a checkpoint, is refused.
source "$(dirname "$0")/clilib.sh"

# same_datasets A B : every dataset of A is in B with the same shape, type and bytes, and B has no others.
same_datasets() {
  $PY - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj.dtype, obj[()])
        f.visititems(visit)
    return out
a, b = datasets(sys.argv[1]), datasets(sys.argv[2])
assert a.keys() == b.keys(), (sorted(a.keys() ^ b.keys()))
for k in a:
    (ta, va), (tb, vb) = a[k], b[k]
    assert ta == tb, (k, ta, tb)
    assert np.shape(va) == np.shape(vb), (k, np.shape(va), np.shape(vb))
    assert np.asarray(va).tobytes() == np.asarray(vb).tobytes(), k
print(f"{len(a)} datasets identical")
PY
}

# kill_at FILE K CMD... : runs CMD and SIGKILLs it after its K-th file flush (every flush_every steps and at each
# checkpoint), KILL_DELAY_US microseconds later if that is set (then the kill lands in the middle of a step). The
# kill comes from the fault injector inside the process, at a point set by what the run has done, so the test is
# the same on a fast machine and a slow one.
kill_at() {
  local file=$1 k=$2; shift 2
  set +e
  LD_PRELOAD=$AGORA_FAULT_KILLER AGORA_FAULT_KILL_AFTER_FLUSHES=$k AGORA_FAULT_KILL_DELAY_US=${KILL_DELAY_US:-0} \
    AGORA_FAULT_KILL_SIGNAL=${KILL_SIGNAL:-9} "$@"
  local rc=$?
  set -e
  [ "$rc" = $((128 + ${KILL_SIGNAL:-9})) ] || fail "$* should have been stopped by signal ${KILL_SIGNAL:-9} after $k flushes, exit $rc"
  rows=$($PY - "$file" <<'PY'
import sys, h5py
print(h5py.File(sys.argv[1], "r", swmr=True, libver="latest")["time"].shape[0])
PY
)
  echo "killed after $k flushes: $file holds $rows rows"
}

cat > sir.yaml <<'Y'
name: sir
model: sir
space: {kind: grid, width: 1000, height: 1000}
params: {beta: 0.06, gamma: 0.03, initial_infected: 40}
steps: 400
seed: 11
output: {snapshot_every: 25, flush_every: 7}
interventions:
  - {at: 60, action: {action: lockdown, strength: 0.5, steps: 100}}
  - {at: 150, action: {action: vaccinate, fraction: 0.2}}
  - {at: 300, action: {action: seed_infection, count: 30}}
Y

# 1. The reference: never stopped.
expect_exit 0 $AGORA run sir.yaml -o ref.h5 -q
# 2. Killed three times, at different points, each time resumed from the last checkpoint (every 30 steps).
KILL_DELAY_US=3000 kill_at k.h5 8 $AGORA run sir.yaml -o k.h5 -q --checkpoint-every 30
[ -e k.h5.ckpt ] || fail "no checkpoint after 45 steps with --checkpoint-every 30"
expect_exit 0 $AGORA inspect k.h5
contains out.txt "incomplete"
kill_at k.h5 18 $AGORA run --resume k.h5 -q --checkpoint-every 30
KILL_DELAY_US=2000 kill_at k.h5 22 $AGORA run --resume k.h5 -q --checkpoint-every 30 --threads 1
expect_exit 0 $AGORA run --resume k.h5 -q --checkpoint-every 30
[ ! -e k.h5.ckpt ] || fail "the checkpoint should go once the run completes"
expect_exit 0 $AGORA inspect k.h5
contains out.txt "complete"
same_datasets ref.h5 k.h5 || fail "a run resumed after SIGKILL differs from the uninterrupted run"
h5diff ref.h5 k.h5 /metrics /metrics && h5diff ref.h5 k.h5 /snapshots /snapshots && h5diff ref.h5 k.h5 /events /events ||
  fail "h5diff sees a difference"
pass "SIGKILL three times, resumed each time: identical datasets"

# 3. Ctrl-C writes a checkpoint at the step it stopped; --resume (the scenario given again) finishes the run.
KILL_SIGNAL=2 kill_at c.h5 20 $AGORA run sir.yaml -o c.h5 -q --checkpoint-every 1000
[ -e c.h5.ckpt ] || fail "an interrupted run should leave a checkpoint at its last step"
expect_exit 0 $AGORA run --resume c.h5 sir.yaml -q
same_datasets ref.h5 c.h5 || fail "a run resumed after Ctrl-C differs"
pass "Ctrl-C then --resume"

# 4. Refused: another configuration, another scenario's overrides, -o, a completed file.
kill_at r.h5 9 $AGORA run sir.yaml -o r.h5 -q --checkpoint-every 10
expect_exit 2 $AGORA run --resume r.h5 sir.yaml --set params.beta=0.07 -q
contains err.txt "another configuration"
expect_exit 2 $AGORA run --resume r.h5 --steps 500 -q
contains err.txt "another configuration"
expect_exit 2 $AGORA run --resume r.h5 -o elsewhere.h5 -q
contains err.txt "leave out -o"
expect_exit 2 $AGORA run --resume ref.h5 -q
contains err.txt "no checkpoint"
expect_exit 0 $AGORA run --resume r.h5 -q
same_datasets ref.h5 r.h5
pass "resume refuses what does not match"

# 5. A fresh run of the same file forgets an old checkpoint.
kill_at f.h5 9 $AGORA run sir.yaml -o f.h5 -q --checkpoint-every 10
expect_exit 0 $AGORA run sir.yaml -o f.h5 -q
[ ! -e f.h5.ckpt ] || fail "a fresh run must remove the checkpoint of an earlier run of its file"
expect_exit 2 $AGORA run --resume f.h5 -q
pass "a fresh run drops an old checkpoint"

# 6. The other models: opinion on a graph rewired by an action, and the market with its tax.
cat > op.yaml <<'Y'
name: op
model: opinion
space: {kind: graph, generator: watts_strogatz, n: 200000, k: 6, p: 0.1}
params: {rule: deffuant, epsilon: 0.3, mu: 0.3}
steps: 300
seed: 5
output: {snapshot_every: 50, flush_every: 5}
interventions:
  - {at: 40, action: {action: rewire, fraction: 0.2}}
  - {at: 90, action: {action: broadcast, opinion: 1, reach: 0.1, strength: 0.5}}
  - {at: 200, action: {action: set_stubbornness, agents: all, value: 0.2}}
Y
expect_exit 0 $AGORA run op.yaml -o opref.h5 -q
kill_at op.h5 24 $AGORA run op.yaml -o op.h5 -q --checkpoint-every 25
expect_exit 0 $AGORA run --resume op.h5 -q
same_datasets opref.h5 op.h5 || fail "opinion: a resumed run differs"
market=("$SRC/scenarios/market_double_auction.yaml" --set space.n=20000 --set params.buyers=13000 --steps 350 -q)
expect_exit 0 $AGORA run "${market[@]}" -o mref.h5
kill_at m.h5 23 $AGORA run "${market[@]}" -o m.h5 --checkpoint-every 20
expect_exit 0 $AGORA run --resume m.h5 "${market[@]}"
same_datasets mref.h5 m.h5 || fail "market: a resumed run differs"
pass "opinion (rewired graph) and market resume exactly"

# 7. A mixed run with LLM personas (the loopback server; one invalid reply repaired): the resumed run has the
# uninterrupted run's datasets (the calls' measured latencies aside: a live server answers in its own time), and no
# call the killed run had recorded is asked again — the transcript in the file answers it.
cat > script.json <<'JSON'
{"rules": [
  {"tag": "health/*", "responses": [{"auto": true, "delay_ms": 20}]},
  {"tag": "economy/step-14", "responses": [{"content": "not json"}, {"auto": true}]},
  {"tag": "economy/*", "responses": [{"auto": true, "delay_ms": 20}]}
]}
JSON
start_server script.json requests
mixed=("$SRC/scenarios/sir_lockdown.yaml" --set space.width=1000 --set space.height=1000 --steps 200
       --llm ollama:m --llm-url "$url" -q)
expect_exit 0 $AGORA run "${mixed[@]}" -o mxref.h5
cp requests.jsonl ref_requests.jsonl
: > requests.jsonl
kill_at mx.h5 9 $AGORA run "${mixed[@]}" -o mx.h5 --checkpoint-every 30
# what the killed run's file holds, before the resume cuts it back
$PY - mx.h5 > recorded_tags.txt <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r", swmr=True, libver="latest")
for r in f["llm/calls"][()]:
    if r["part"] == 0:
        print(f'{r["persona"].decode()}/step-{r["step"]}')
PY
[ -s recorded_tags.txt ] || fail "the killed mixed run recorded no call"
expect_exit 0 $AGORA run --resume mx.h5 "${mixed[@]}" --checkpoint-every 30
$PY - mxref.h5 mx.h5 <<'PY'
import sys, h5py, numpy as np
def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out
a, b = datasets(sys.argv[1]), datasets(sys.argv[2])
assert a.keys() == b.keys()
for k in a:
    if k == "llm/calls":
        assert a[k].shape == b[k].shape, (a[k].shape, b[k].shape)
        for col in a[k].dtype.names:
            if col != "latency_ms":
                assert (a[k][col] == b[k][col]).all(), col
    else:
        assert np.asarray(a[k]).tobytes() == np.asarray(b[k]).tobytes(), k
PY
[ $? = 0 ] || fail "a resumed mixed run differs from the uninterrupted one"
# requests.jsonl holds the requests of the killed run and of the resumed one
$PY - ref_requests.jsonl requests.jsonl recorded_tags.txt <<'PY'
import sys, json, collections
def chats(path):
    return collections.Counter(json.loads(l)["tag"] for l in open(path) if '"/api/chat"' in l)
ref = chats(sys.argv[1]); both = chats(sys.argv[2])
assert sum(both.values()) >= sum(ref.values())
for tag in set(open(sys.argv[3]).read().split()):
    assert both[tag] == ref[tag], (tag, both[tag], ref[tag])   # recorded before the kill: never asked again
PY
[ $? = 0 ] || fail "a call recorded before the kill was asked again"
pass "mixed run: resumed from its transcript, nothing asked twice"

# 8. The same replayed from the recording (no network): bit-identical in every dataset, latencies included.
kill_at rp.h5 14 $AGORA run "${mixed[@]}" --replay mxref.h5 -o rp.h5 --checkpoint-every 25
expect_exit 0 $AGORA run --resume rp.h5 "${mixed[@]}" --replay mxref.h5 --checkpoint-every 25
same_datasets mxref.h5 rp.h5 || fail "a resumed replay differs from the recording"
pass "mixed replay resumed: identical datasets"
