# Behaviour unchanged (issue 15): every shipped scenario gives the digests tests/golden/*.json keep for each of its
# datasets (scripts/golden): the mechanics scenarios' /metrics, /snapshots and /events; the mixed and interactions
# scenarios' run against the loopback LLM server and replayed from that recording, /llm/calls, /personas and
# /interactions included. A shipped scenario missing from its file fails too. A change meant to alter results runs
# `scripts/golden record` and says so in its commit. The check must be able to fail: a changed digest is caught.
source "$AGORA_SOURCE_DIR/tests/clilib.sh"
expect_exit 0 $PY "$SRC/scripts/golden" check --agora "$AGORA" --work runs
contains out.txt "mechanics scenarios,"
contains out.txt "llm scenarios,"
contains out.txt "all bit-identical"
pass "$(tr '\n' ';' < out.txt)"

# a file whose digest for one dataset is off: check names the scenario and the dataset
$PY - "$SRC/tests/golden" bad.json badllm.json <<'PY'
import json, sys
g = json.load(open(sys.argv[1] + "/mechanics.json"))
g["scenarios"]["sir_grid.yaml"]["/metrics/I"] = "0" * 64
json.dump(g, open(sys.argv[2], "w"))
g = json.load(open(sys.argv[1] + "/llm.json"))
g["scenarios"]["sir_lockdown.yaml"]["/llm/calls"] = "0" * 64
json.dump(g, open(sys.argv[3], "w"))
PY
expect_exit 1 $PY "$SRC/scripts/golden" check --suite mechanics --agora "$AGORA" --file bad.json --work runs2
contains err.txt "sir_grid.yaml: /metrics/I differ"
expect_exit 1 $PY "$SRC/scripts/golden" check --suite llm --agora "$AGORA" --file badllm.json --work runs3
contains err.txt "sir_lockdown.yaml: /llm/calls differ"
pass "a changed digest is named, in either suite"
