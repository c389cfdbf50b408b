# `agora sweep` end to end: expansion (ranges, lists, product, seeds) into run files and the master file's
# /sweep/table (read by pandas) and /runs/<id> links; the sweep: block; resume after killing a real sweep process
# equals an uninterrupted sweep; the same table at 1 and 2 threads; bad axes.
source "$AGORA_SOURCE_DIR/tests/clilib.sh"

small="--set space.width=60 --set space.height=60 --steps 40"

expect_exit 0 $AGORA sweep "$SRC/scenarios/sir_grid.yaml" --vary params.beta=0.05:0.2:4 --vary space.torus=true,false \
  --seeds 2 $small -o a.h5 -q
[ -s a.h5 ] || fail "no sweep file"
[ "$(ls a.h5.runs | wc -l)" = 16 ] || fail "expected 16 run files"
$PY - a.h5 <<'PYEOF'
import sys, h5py, pandas as pd, numpy as np
f = h5py.File(sys.argv[1], "r")
t = pd.DataFrame(f["sweep/table"][()])
assert len(t) == 16, len(t)
assert list(t["seed"][:4]) == [42, 43, 42, 43], list(t["seed"][:4])
assert sorted(set(np.round(t["params.beta"], 12))) == [0.05, 0.1, 0.15, 0.2]
assert set(t["space.torus"].str.decode("utf-8")) == {"true", "false"}
assert (t["status"].str.decode("utf-8") == "complete").all()
# each row's final metrics are the run file's last row, reached through the /runs/<id> link
for _, row in t.iterrows():
    rid = row["run"].decode()
    I = f["runs/%s/metrics/I" % rid][:]
    assert I[-1] == row["I"], (rid, I[-1], row["I"])
    assert abs(f["runs/%s" % rid].attrs["seed"] - row["seed"]) == 0
# more infection, larger attack rate (on average over the other axis and seeds)
m = t.groupby(np.round(t["params.beta"], 12))["attack_rate"].mean()
assert m.is_monotonic_increasing, m
print("table ok")
PYEOF
pass "expansion, table and links"

# The same sweep at 1 thread: an identical table and identical run datasets.
expect_exit 0 $AGORA sweep "$SRC/scenarios/sir_grid.yaml" --vary params.beta=0.05:0.2:4 --vary space.torus=true,false \
  --seeds 2 $small -o b.h5 -q --threads 1
h5diff b.h5 a.h5 /sweep/table /sweep/table > diff.txt || { cat diff.txt; fail "tables differ between 1 and 2 threads"; }
h5diff a.h5.runs/r00005.h5 b.h5.runs/r00005.h5 /metrics /metrics > diff.txt || fail "run r00005 differs"
pass "identical at 1 and 2 threads"

# Resume: kill a real sweep midway, run the same command again, compare with the uninterrupted one.
args="--vary params.beta=0.05:0.25:30 --seeds 2 --set space.width=150 --set space.height=150 --steps 150 -q"
expect_exit 0 $AGORA sweep "$SRC/scenarios/sir_grid.yaml" $args -o full.h5
$AGORA sweep "$SRC/scenarios/sir_grid.yaml" $args -o part.h5 &
pid=$!
for _ in $(seq 200); do [ "$(ls part.h5.runs 2>/dev/null | wc -l)" -ge 8 ] && break; sleep 0.05; done
kill -9 $pid; wait $pid 2>/dev/null || true
done_before=$(ls part.h5.runs | wc -l)
[ "$done_before" -lt 60 ] || fail "the sweep finished before it could be killed"
expect_exit 0 $AGORA sweep "$SRC/scenarios/sir_grid.yaml" $args -o part.h5 -v
contains err.txt "already complete: skipped"
h5diff full.h5 part.h5 /sweep/table /sweep/table > diff.txt || { cat diff.txt; fail "resumed sweep differs"; }
pass "resume after kill ($done_before run files existed)"

# The scenario's sweep: block, and --dry-run.
cat > sw.yaml <<'YAML'
model: sir
space: {kind: grid, width: 30, height: 30}
steps: 10
seed: 5
sweep:
  vary: {params.gamma: [0.1, 0.5], params.beta: "0.1:0.3:3"}
  seeds: 2
YAML
expect_exit 0 $AGORA sweep sw.yaml --dry-run
[ "$(wc -l < out.txt)" = 12 ] || { cat out.txt; fail "expected 12 runs from the sweep: block"; }
contains out.txt 'r00011 seed 6'
expect_exit 0 $AGORA sweep sw.yaml --vary params.beta=0.2 --dry-run   # --vary replaces the block's axis
[ "$(wc -l < out.txt)" = 4 ] || fail "--vary should replace the block's params.beta"
expect_exit 0 $AGORA run sw.yaml -o single.h5 -q                       # run ignores the block
pass "sweep: block"

# Bad input.
expect_exit 2 $AGORA sweep "$SRC/scenarios/sir_grid.yaml" --vary params.beta=0.1:0.2 -o x.h5
contains err.txt "START:STOP:COUNT"
expect_exit 2 $AGORA sweep "$SRC/scenarios/sir_grid.yaml" --vary params.beta=0.1,7 -o x.h5
contains err.txt "params.beta"
expect_exit 2 $AGORA sweep "$SRC/scenarios/sir_grid.yaml" --vary params.bta=0.1,0.2 -o x.h5
contains err.txt "unknown parameter"
[ ! -e x.h5 ] || fail "a bad sweep left a file"
cat > bad.yaml <<'YAML'
model: sir
space: {kind: grid, width: 30, height: 30}
sweep: {vary: {params.beta: "1:2"}}
YAML
expect_exit 2 $AGORA sweep bad.yaml
contains err.txt "bad.yaml:3:"
pass "bad axes"
