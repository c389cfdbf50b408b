# The notebooks run top to bottom, headless, on small files made here by the shipped scenarios (a failing cell
# fails the test): SIR sweep on Erdős–Rényi, opinion run and epsilon sweep, and a mixed run with LLM calls
# answered by the loopback server.
source "$AGORA_SOURCE_DIR/tests/clilib.sh"
JUPYTER=/usr/bin/jupyter
[ -x $JUPYTER ] || fail "jupyter is not installed (scripts/setup installs jupyter-nbconvert and python3-nbclient)"

expect_exit 0 $AGORA sweep "$SRC/scenarios/sir_er_theory.yaml" --vary params.beta=0.01:0.03:3 --seeds 2 \
  --set space.n=3000 --steps 80 -o er.h5 -q
expect_exit 0 $AGORA run "$SRC/scenarios/opinion_deffuant.yaml" --set space.n=2000 --steps 150 \
  --set output.snapshot_every=15 -o deff.h5 -q
expect_exit 0 $AGORA sweep "$SRC/scenarios/opinion_deffuant.yaml" --vary params.epsilon=0.15,0.3,0.6 --seeds 1 \
  --set space.n=1000 --steps 300 -o eps.h5 -q

cat > script.json <<'JSON'
{"rules": [{"tag": "health/*", "responses": [{"delay_ms": 20, "content": "{\"reasoning\": \"act\", \"actions\": [{\"action\": \"lockdown\", \"strength\": 0.5, \"steps\": 7}]}", "prompt_tokens": 800, "completion_tokens": 30}]}],
 "default": {"content": "{\"reasoning\": \"wait\", \"actions\": []}"}}
JSON
start_server script.json requests
expect_exit 0 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" --set space.width=100 --set space.height=100 --steps 40 \
  --llm ollama:test --llm-url "$url" -o mixed.h5 -q
stop_server

run_nb() {  # run_nb NOTEBOOK VAR=VALUE...
  local nb=$1; shift
  env "$@" MPLBACKEND=Agg PYTHONPATH="$SRC/notebooks" $JUPYTER nbconvert --to notebook --execute \
    "$SRC/notebooks/$nb" --output "$PWD/out_$nb" --ExecutePreprocessor.timeout=180 > nb.txt 2>&1 \
    || { cat nb.txt; fail "notebook $nb failed"; }
  pass "$nb"
}
run_nb sir_sweep.ipynb AGORA_SWEEP="$PWD/er.h5"
run_nb opinion.ipynb AGORA_OPINION_RUN="$PWD/deff.h5" AGORA_OPINION_SWEEP="$PWD/eps.h5"
run_nb mixed.ipynb AGORA_MIXED_RUN="$PWD/mixed.h5"

# The helper itself: xarray through the dimension scales, a sweep metric with the run parameters as coordinates.
$PY - <<'PYEOF'
import sys, xarray as xr
sys.path.insert(0, __import__("os").environ["AGORA_SOURCE_DIR"] + "/notebooks")
import agora_h5 as ah
ds = xr.open_dataset("mixed.h5", engine="h5netcdf", group="metrics")
assert ds["I"].dims == ("time",) and ds.sizes["time"] == 41
I = ah.sweep_metric("er.h5", "I_frac")
assert I.shape[0] == 6 and "params.beta" in I.coords
calls = ah.llm_calls("mixed.h5")
assert len(calls) > 0 and (calls["status"] == "ok").all()
assert ah.personas("mixed.h5").loc["health", "calls"] == (calls["persona"] == "health").sum()
print("agora_h5 ok")
PYEOF
