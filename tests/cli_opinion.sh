# The opinion model through the agora CLI: every shipped opinion scenario runs (scaled down by overrides) and writes
# its metrics; `models` and `inspect` describe it; an intervention becomes an event; thread-count determinism (h5diff).
source "$(dirname "$0")/clilib.sh"

expect_exit 0 $AGORA models opinion
for s in "opinion:" "degroot|deffuant|hk|voter" "epsilon" "major_clusters" "polarization" "broadcast" "set_stubbornness" "rewire"; do
  contains out.txt "$s"
done
pass "models opinion"

metrics="mean variance near_mean clusters major_clusters polarization"
run_scenario() { # name, extra args...
  local name=$1; shift
  expect_exit 0 $AGORA validate "$SRC/scenarios/$name.yaml"
  expect_exit 0 $AGORA run "$SRC/scenarios/$name.yaml" -o "$name.h5" "$@"
  h5ls -r "$name.h5" > ls.txt
  for m in $metrics; do contains ls.txt "/metrics/$m "; done
  contains ls.txt "/snapshots/opinion"
  expect_exit 0 $AGORA inspect "$name.h5"
  contains out.txt "complete"
  contains out.txt "opinion"
}
run_scenario opinion_ws --set space.n=3000 --steps 40
run_scenario opinion_deffuant --set space.n=2000 --steps 100
run_scenario opinion_grid_voter --set space.width=40 --set space.height=30 --steps 50
$PY - <<'PY'
import h5py, numpy as np
f = h5py.File("opinion_ws.h5", "r")
v = f["metrics/variance"][:]
assert v[-1] < v[0] / 5, v            # DeGroot: disagreement shrinks
x = f["snapshots/opinion"]
assert x.shape[1] == 3000 and ((x[:] >= 0) & (x[:] <= 1)).all()
g = h5py.File("opinion_grid_voter.h5", "r")
s = g["snapshots/opinion"][:]
assert s.shape[1:] == (30, 40), s.shape
assert set(np.unique(s)) <= {0.0, 1.0}
PY
pass "scenarios run"

# A broadcast intervention is recorded as an event and moves the mean.
expect_exit 0 $AGORA run "$SRC/scenarios/opinion_deffuant.yaml" -o bc.h5 --set space.n=2000 --steps 20 \
  --set 'interventions=[{"at": 10, "action": {"action": "broadcast", "opinion": 1, "reach": 0.5, "strength": 0.5}}]'
expect_exit 0 $AGORA inspect bc.h5 --events
contains out.txt '"action":"broadcast"'
$PY - <<'PY'
import h5py
m = h5py.File("bc.h5", "r")["metrics/mean"][:]
assert m[10] > m[9] + 0.05, m[8:12]
PY
pass "broadcast intervention"

# Bit-identical metrics and snapshots at 1, 2 and 4 threads (graph, deffuant with a rewire).
for t in 1 2 4; do
  expect_exit 0 $AGORA run "$SRC/scenarios/opinion_ws.yaml" -o det$t.h5 --threads $t --steps 30 -q \
    --set space.n=5000 --set params.rule=deffuant --set output.snapshot_every=5 \
    --set 'interventions=[{"at": 10, "action": {"action": "rewire", "fraction": 0.3}}]'
done
for t in 2 4; do
  h5diff det1.h5 det$t.h5 /metrics /metrics || fail "/metrics differ at $t threads"
  h5diff det1.h5 det$t.h5 /snapshots /snapshots || fail "/snapshots differ at $t threads"
done
pass "determinism across thread counts"
