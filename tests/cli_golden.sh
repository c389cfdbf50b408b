# Behaviour unchanged (issue 15): every shipped mechanics scenario, run for the steps tests/golden/mechanics.json
# keeps, gives the digests recorded there for each dataset of /metrics, /snapshots and /events (scripts/golden).
# A shipped mechanics scenario missing from the file fails too. A change meant to alter results runs
# `scripts/golden record` and says so in its commit. The check must be able to fail: a changed digest is caught.
source "$AGORA_SOURCE_DIR/tests/clilib.sh"
expect_exit 0 $PY "$SRC/scripts/golden" check --agora "$AGORA" --work runs
contains out.txt "all bit-identical"
pass "$(cat out.txt)"

# a file whose digest for one dataset is off: check names the scenario and the dataset
$PY - "$SRC/tests/golden/mechanics.json" bad.json <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
g["scenarios"]["sir_grid.yaml"]["/metrics/I"] = "0" * 64
json.dump(g, open(sys.argv[2], "w"))
PY
expect_exit 1 $PY "$SRC/scripts/golden" check --agora "$AGORA" --file bad.json --work runs2
contains err.txt "sir_grid.yaml: /metrics/I differ"
pass "a changed digest is named"
