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
# The sweep and its workers are killed (SIGKILL to the process group) once one worker has flushed 60 times (each run
# flushes 16 times): a point set by the work done, the same on a fast machine and a slow one.
set +e
LD_PRELOAD=$AGORA_FAULT_KILLER AGORA_FAULT_KILL_AFTER_FLUSHES=60 AGORA_FAULT_KILL_GROUP=1 \
  setsid -w $AGORA sweep "$SRC/scenarios/sir_grid.yaml" $args -o part.h5
set -e
done_before=$(ls part.h5.runs | wc -l)
[ "$done_before" -lt 60 ] || fail "the sweep finished before it could be killed"
expect_exit 0 $AGORA sweep "$SRC/scenarios/sir_grid.yaml" $args -o part.h5 -v
contains err.txt "already complete: skipped"
h5diff full.h5 part.h5 /sweep/table /sweep/table > diff.txt || { cat diff.txt; fail "resumed sweep differs"; }
pass "resume after kill ($done_before run files existed)"

# A changed sweep into the same file is not mistaken for a restart (issue 13, defect 1): other axes, or other --steps,
# are refused before anything is written (exit 2, saying what the file holds and what this sweep is), and
# --overwrite reruns the runs whose configuration changed, so that the table holds the new runs' results.
k="$SRC/scenarios/sir_karate.yaml"
expect_exit 0 $AGORA sweep "$k" --vary params.beta=0.1,0.5 --seeds 2 -o k.h5 -q
cp k.h5.runs/r00000.h5 beta_r0.h5
expect_exit 2 $AGORA sweep "$k" --vary params.gamma=0.01,0.9 --seeds 2 -o k.h5
contains err.txt "k.h5 holds a sweep of params.beta=0.1,0.5 x 2 seeds; this one is params.gamma=0.01,0.9 x 2 seeds"
contains err.txt "--overwrite"
cmp -s k.h5.runs/r00000.h5 beta_r0.h5 || fail "a refused sweep touched a run file"
expect_exit 0 $AGORA sweep "$k" --vary params.gamma=0.01,0.9 --seeds 2 -o k.h5 --overwrite
contains out.txt "4 runs (0 already complete, 4 rerun: their configuration changed, 0 failed)"
expect_exit 0 $AGORA sweep "$k" --vary params.gamma=0.01,0.9 --seeds 2 -o fresh.h5 -q
h5diff k.h5 fresh.h5 /sweep/table /sweep/table > diff.txt || { cat diff.txt; fail "an overwritten sweep differs from a fresh one"; }
$PY - k.h5 <<'PYEOF'
import sys, json, h5py, pandas as pd
f = h5py.File(sys.argv[1], "r")
t = pd.DataFrame(f["sweep/table"][()])
assert "params.gamma" in t.columns and "params.beta" not in t.columns, list(t.columns)
for _, row in t.iterrows():
    run = f["runs/%s" % row["run"].decode()]
    cfg = json.loads(run.attrs["config"])
    assert cfg["params"]["gamma"] == row["params.gamma"] and cfg["params"]["beta"] == 0.2, cfg["params"]
    assert run["metrics/I"][-1] == row["I"]
d = json.loads(f.attrs["sweep"])
assert d["text"] == "params.gamma=0.01,0.9 x 2 seeds" and d["runs"] == 4, d
print("overwritten table ok")
PYEOF
# --steps: the same axes with other steps are another sweep too
expect_exit 2 $AGORA sweep "$k" --vary params.gamma=0.01,0.9 --seeds 2 -o k.h5 --steps 30
contains err.txt "this one is params.gamma=0.01,0.9 x 2 seeds with --set steps=30"
expect_exit 0 $AGORA sweep "$k" --vary params.gamma=0.01,0.9 --seeds 2 -o k.h5 --steps 30 --overwrite
contains out.txt "4 rerun"
$PY -c 'import h5py, sys; f = h5py.File(sys.argv[1]); assert all(f["runs/r%05d/time" % i].shape == (31,) for i in range(4))' k.h5
# the same command again: a restart, every run reused
expect_exit 0 $AGORA sweep "$k" --vary params.gamma=0.01,0.9 --seeds 2 -o k.h5 --steps 30
contains out.txt "4 runs (4 already complete, 0 failed)"
# Without the master file (deleted, or from an older agora) each run file is still checked by its config_hash: the
# 30-step runs are not reused for a 60-step sweep.
rm k.h5
expect_exit 0 $AGORA sweep "$k" --vary params.gamma=0.01,0.9 --seeds 2 -o k.h5
contains out.txt "4 rerun"
contains err.txt "were made by another configuration"
h5diff k.h5 fresh.h5 /sweep/table /sweep/table > diff.txt || { cat diff.txt; fail "stale run files were reused"; }
# Fewer runs after --overwrite: the old sweep's extra run files go.
expect_exit 0 $AGORA sweep "$k" --vary params.gamma=0.01 -o k.h5 --overwrite -q
[ "$(ls k.h5.runs)" = "r00000.h5" ] || { ls k.h5.runs; fail "run files of the old sweep were left"; }
# Not a sweep file: refused (a run file too)
echo "precious" > notes.txt
expect_exit 2 $AGORA sweep "$k" -o notes.txt
contains err.txt "notes.txt exists and is not an agora file"
[ "$(cat notes.txt)" = precious ] || fail "notes.txt was overwritten"
expect_exit 2 $AGORA sweep "$k" -o beta_r0.h5
contains err.txt "beta_r0.h5 is an agora run file, not a sweep file"
pass "a changed sweep is refused or rerun, never tabled under the new values"

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
