# The agora CLI end to end on the shipped scenarios: help and version everywhere, `models`, `run` with overrides,
# the HDF5 layout (checked with h5ls, h5dump and h5py), `inspect`, `validate`, and thread-count determinism (h5diff).
source "$(dirname "$0")/clilib.sh"

# --help and --version for the program and every command.
for c in "" run validate models inspect; do
  expect_exit 0 $AGORA $c --help;    contains out.txt "usage: agora"
  expect_exit 0 $AGORA $c --version; contains out.txt "agora 0."
done
expect_exit 2 $AGORA frobnicate; contains err.txt 'unknown command "frobnicate"'
expect_exit 2 $AGORA run --bogus x.yaml; contains err.txt "unknown option --bogus"
pass "help and version"

# models: every parameter with type, default, range and doc; metrics; fields; actions.
expect_exit 0 $AGORA models
for s in "sir:" "beta" "real" "default 0.05" "[0, 1]" "initial_infected" "attack_rate" "state" "vaccinate {fraction: number in [0, 1]}" "lockdown" "seed_infection"; do
  contains out.txt "$s"
done
expect_exit 0 $AGORA models sir --json
$PY - <<'PY'
import json
d = json.load(open("out.txt"))
m = d["models"][0]
assert m["name"] == "sir", m
p = {x["name"]: x for x in m["params"]}
assert p["beta"]["min"] == 0 and p["beta"]["max"] == 1 and p["beta"]["type"] == "real", p["beta"]
assert {"S", "I", "R", "new_infections"} <= {x["name"] for x in m["metrics"]}
assert m["fields"][0]["name"] == "state"
assert len(m["action_schema"]["anyOf"]) == 3
PY
expect_exit 2 $AGORA models nosuch; contains err.txt 'unknown model "nosuch"'
pass "models"

# The default scenario, scaled down through overrides, with a summary at the end.
expect_exit 0 $AGORA run "$SRC/scenarios/sir_grid.yaml" -o grid.h5 --steps 60 --set space.width=300 --set space.height=200 --threads 2
for s in "sir_grid: sir, 60000 agents, 60 steps, seed 42, 2 threads" "peak I" "at step" "final attack_rate" "wall time" "agent-updates/s" "grid.h5 (complete)"; do
  contains out.txt "$s"
done
h5ls -r grid.h5 > ls.txt
for s in "/time" "/metrics/I " "/metrics/new_infections" "/snapshots/state" "/snapshots/time" "/events"; do contains ls.txt "$s"; done
h5dump -A grid.h5 > attrs.txt
for s in 'ATTRIBUTE "agora_version"' 'ATTRIBUTE "scenario"' 'ATTRIBUTE "seed"' 'ATTRIBUTE "threads"' '"complete"'; do contains attrs.txt "$s"; done
$PY - <<'PY'
import h5py, numpy as np, json
f = h5py.File("grid.h5", "r")
t = f["time"][:]
assert (t == np.arange(61)).all(), t
S, I, R = (f["metrics"][k][:] for k in ("S", "I", "R"))
assert ((S + I + R) == 60000).all()
assert I[0] == 100, I[0]
snap = f["snapshots/state"]
# snapshot_every 10 from the file: steps 0, 10, ..., 60
assert snap.shape == (7, 200, 300), snap.shape
assert (f["snapshots/time"][:] == np.arange(0, 61, 10)).all()
# the snapshot agrees with the metrics at that step
for k, step in enumerate(f["snapshots/time"][:]):
    assert (snap[k] == 1).sum() == I[step]
assert f.attrs["status"] == "complete" and f.attrs["seed"] == 42
assert "beta: 0.08" in f.attrs["scenario"]
cfg = json.loads(f.attrs["config"])
assert cfg["steps"] == 60 and cfg["space"]["width"] == 300
PY
expect_exit 0 $AGORA inspect grid.h5
for s in "complete" "sir" "grid 300x200 torus moore" "60000 agents" "61 rows" "snapshots   7" "attack_rate"; do contains out.txt "$s"; done
expect_exit 0 $AGORA inspect grid.h5 --json
$PY -c "import json; d=json.load(open('out.txt')); assert d['complete'] is True and d['time']['rows'] == 61, d"
pass "run sir_grid and its file"

# Scheduled interventions become events; a rejected one is recorded and the run goes on.
expect_exit 0 $AGORA run "$SRC/scenarios/sir_interventions.yaml" -o lock.h5 --steps 160 --set space.width=200 --set space.height=200
contains err.txt "step 40: scenario applied"
expect_exit 0 $AGORA inspect lock.h5 --events
contains out.txt '"action":"lockdown"'
contains out.txt "applied"
$PY - <<'PY'
import h5py
f = h5py.File("lock.h5", "r")
b = f["metrics/beta_eff"][:]
assert b[39] == 0.08 and abs(b[40] - 0.08 * 0.4) < 1e-12 and abs(b[99] - 0.032) < 1e-12 and b[100] == 0.08, b[38:102]
ev = f["events"][:]
assert len(ev) == 3 and list(ev["step"]) == [40, 60, 150], ev
PY
pass "interventions"

# The network scenarios (smaller through overrides) and the karate club from its edge-list file.
expect_exit 0 $AGORA run "$SRC/scenarios/sir_network.yaml" -o ws.h5 --set space.n=5000 --steps 30
contains out.txt "5000 agents"
expect_exit 0 $AGORA run "$SRC/scenarios/sir_barabasi.yaml" -o ba.h5 --set space.n=5000 --steps 30
expect_exit 0 $AGORA run "$SRC/scenarios/sir_er_theory.yaml" -o er.h5 --set space.n=3000 --steps 30
expect_exit 0 $AGORA run "$SRC/scenarios/sir_karate.yaml" -o karate.h5
contains out.txt "34 agents"
$PY - <<'PY'
import h5py
f = h5py.File("karate.h5", "r")
assert f["snapshots/state"].shape == (61, 34), f["snapshots/state"].shape
assert "agent" in f["snapshots"]
PY
# Run from another working directory: the edge-list path resolves against the scenario's directory.
mkdir -p elsewhere && (cd elsewhere && expect_exit 0 $AGORA run "$SRC/scenarios/sir_karate.yaml" -o k2.h5 --steps 5)
pass "network scenarios"

# validate: checks without running; --print shows the effective configuration with defaults.
expect_exit 0 $AGORA validate "$SRC/scenarios/sir_grid.yaml"; contains out.txt "valid"
expect_exit 0 $AGORA validate "$SRC/scenarios/sir_grid.yaml" --set params.beta=0.2 --print
$PY -c "import json; c=json.load(open('out.txt')); assert c['params']['beta'] == 0.2 and c['output']['flush_every'] == 10, c"
[ ! -e runs/sir_grid.h5 ] || fail "validate must not run"
pass "validate"

# Same scenario and seed: bit-identical /metrics and /snapshots at 1, 2 and 4 threads; another seed differs.
for t in 1 2 4; do
  expect_exit 0 $AGORA run "$SRC/scenarios/sir_grid.yaml" -o det$t.h5 --threads $t --steps 40 --set space.width=257 --set space.height=131 --set output.snapshot_every=5 -q
done
for t in 2 4; do
  h5diff det1.h5 det$t.h5 /metrics /metrics || fail "/metrics differ at $t threads"
  h5diff det1.h5 det$t.h5 /snapshots /snapshots || fail "/snapshots differ at $t threads"
  h5diff det1.h5 det$t.h5 /time /time || fail "/time differs at $t threads"
done
expect_exit 0 $AGORA run "$SRC/scenarios/sir_grid.yaml" -o det_seed.h5 --seed 43 --steps 40 --set space.width=257 --set space.height=131 -q
set +e; h5diff -q det1.h5 det_seed.h5 /metrics/I /metrics/I; rc=$?; set -e
[ "$rc" = 1 ] || fail "a different seed should change /metrics/I (h5diff exit $rc)"
pass "determinism across thread counts"

# --json output for scripts.
expect_exit 0 $AGORA run "$SRC/scenarios/sir_karate.yaml" -o kj.h5 --json -q
$PY -c "import json; d=json.load(open('out.txt')); assert d['status']=='complete' and d['n_agents']==34 and 'attack_rate' in d['summary']['metrics'], d"
pass "json output"
