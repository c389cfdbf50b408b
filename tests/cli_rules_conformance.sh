# Conformance of the rule-language models shipped in models/: every scenario of each one gives bit-identical
# /metrics and /snapshots at 1, 2 and 4 threads and with its rules compiled to C or interpreted
# (AGORA_RULES_NATIVE=0), and every metric is finite. The native code's cache is this test's own directory.
source "$AGORA_SOURCE_DIR/tests/clilib.sh"
S=$SRC/scenarios
export AGORA_CACHE_DIR=$PWD/cache
PY=/usr/bin/python3

same() { # file-a file-b what
  for d in /metrics /snapshots; do
    h5diff "$1" "$2" "$d" > diff.txt 2>&1 || { cat diff.txt; fail "$3: $d differs"; }
  done
}

for sc in seir_vaccination schelling_mesa boltzmann_mixed forest_fire_edge nowak_may_chaos deffuant_rules \
  frustration_grid; do
  # short runs: enough steps for every rule, pair and move to act
  expect_exit 0 $AGORA run "$S/$sc.yaml" --steps 12 --threads 1 -o "$sc.t1.h5" --force -q
  for t in 2 4; do
    expect_exit 0 $AGORA run "$S/$sc.yaml" --steps 12 --threads $t -o "$sc.t$t.h5" --force -q
    same "$sc.t1.h5" "$sc.t$t.h5" "$sc at $t threads"
  done
  AGORA_RULES_NATIVE=0 expect_exit 0 $AGORA run "$S/$sc.yaml" --steps 12 --threads 2 -o "$sc.interp.h5" --force -q
  same "$sc.t1.h5" "$sc.interp.h5" "$sc interpreted"
  $PY - "$sc.t1.h5" <<'PY' || fail "$sc: a metric is not finite"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1]) as f:
    for name, d in f["metrics"].items():
        assert np.all(np.isfinite(d[()])), name
PY
  pass "$sc: identical at 1, 2, 4 threads, native and interpreted; metrics finite"
done

# the rule SIR and Life, on a grid wider than the native code's row chunks
cat > big.yaml <<'YAML'
model: sir_rules
space: {kind: grid, width: 300, height: 40, neighborhood: moore, torus: true}
params: {beta: 0.2, gamma: 0.1, initial_infected: 30}
steps: 15
seed: 4
output: {path: big.h5, snapshot_every: 5}
YAML
sed 's/model: sir_rules/model: life/; s/params: .*/params: {density: 0.35}/' big.yaml > life.yaml
for m in big life; do
  expect_exit 0 env AGORA_MODEL_PATH="$SRC/models" $AGORA run "$m.yaml" --threads 1 -o "$m.1.h5" --force \
    --log-level info
  contains err.txt ": rules native (" # compiled here or found in the cache: the comparison is native against interpreted
  expect_exit 0 env AGORA_MODEL_PATH="$SRC/models" $AGORA run "$m.yaml" --threads 2 -o "$m.2.h5" --force -q
  expect_exit 0 env AGORA_MODEL_PATH="$SRC/models" AGORA_RULES_NATIVE=0 $AGORA run "$m.yaml" --threads 2 \
    -o "$m.i.h5" --force -q
  same "$m.1.h5" "$m.2.h5" "$m at 2 threads"
  same "$m.1.h5" "$m.i.h5" "$m interpreted"
  pass "$m (300 wide): identical at 1 and 2 threads, native and interpreted"
done
