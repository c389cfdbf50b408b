# `mpirun -n 2 agora sweep` (agora built with -DAGORA_MPI=ON): the runs split across two ranks give the same
# sweep table and run files as one process; a restart skips what the ranks completed; another sweep into the same
# file is refused by every rank before any run (none is left waiting at the barrier), and --overwrite replaces it.
source "$AGORA_SOURCE_DIR/tests/clilib.sh"
MPIRUN="mpirun --allow-run-as-root --oversubscribe -n 2"
args="--vary params.beta=0.05:0.25:7 --vary space.torus=true,false --seeds 2 --set space.width=60 --set space.height=60 --steps 60 -q"

expect_exit 0 $AGORA sweep "$SRC/scenarios/sir_grid.yaml" $args -o one.h5
expect_exit 0 $MPIRUN $AGORA sweep "$SRC/scenarios/sir_grid.yaml" $args -o two.h5
h5diff one.h5 two.h5 /sweep/table /sweep/table > diff.txt || { cat diff.txt; fail "mpirun -n 2 differs from one process"; }
for r in r00000 r00013 r00027; do
  h5diff one.h5.runs/$r.h5 two.h5.runs/$r.h5 /metrics /metrics > diff.txt || fail "run $r differs"
done
$PY - two.h5 <<'PYEOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
t = f["sweep/table"][()]
assert len(t) == 28 and all(s == b"complete" for s in t["status"]), t["status"]
assert f["runs/r00027/metrics/I"].shape[0] == 61
PYEOF
pass "mpirun -n 2 equals one process"

rm two.h5.runs/r00003.h5 two.h5.runs/r00010.h5
expect_exit 0 $MPIRUN $AGORA sweep "$SRC/scenarios/sir_grid.yaml" $args -o two.h5 -v
h5diff one.h5 two.h5 /sweep/table /sweep/table > diff.txt || { cat diff.txt; fail "a resumed MPI sweep differs"; }
pass "resume under MPI"

args2="--vary params.gamma=0.1,0.3 --vary space.torus=true,false --seeds 2 --set space.width=60 --set space.height=60 --steps 60 -q"
expect_exit 2 $MPIRUN $AGORA sweep "$SRC/scenarios/sir_grid.yaml" $args2 -o two.h5
contains err.txt "two.h5 holds a sweep of params.beta=0.05:0.25:7 x space.torus=true,false x 2 seeds"
expect_exit 0 $MPIRUN $AGORA sweep "$SRC/scenarios/sir_grid.yaml" $args2 -o two.h5 --overwrite
expect_exit 0 $AGORA sweep "$SRC/scenarios/sir_grid.yaml" $args2 -o one_g.h5
h5diff one_g.h5 two.h5 /sweep/table /sweep/table > diff.txt || { cat diff.txt; fail "an overwritten MPI sweep differs"; }
[ "$(ls two.h5.runs | wc -l)" = 8 ] || fail "the old sweep's run files were left"
pass "a changed sweep under MPI: refused, then replaced with --overwrite"

# A plug-in model (tests/plugin/voter.c, built in tree): every rank loads --plugin before the sweep, so the split
# sweep equals one process's.
vargs="--plugin $AGORA_PLUGIN_VOTER --vary params.noise=0,0.05,0.1 --seeds 2 --steps 30 -q"
expect_exit 0 $AGORA sweep "$SRC/tests/plugin/voter.yaml" $vargs -o v1.h5
expect_exit 0 $MPIRUN $AGORA sweep "$SRC/tests/plugin/voter.yaml" $vargs -o v2.h5
h5diff v1.h5 v2.h5 /sweep/table /sweep/table > diff.txt || { cat diff.txt; fail "a plug-in sweep under MPI differs"; }
$PY - v2.h5 <<'PYEOF'
import sys, h5py
t = h5py.File(sys.argv[1], "r")["sweep/table"][()]
assert len(t) == 6 and all(s == b"complete" for s in t["status"]), t["status"]
PYEOF
pass "mpirun -n 2 with --plugin: every rank runs the plug-in model"
