# `agora validate` checks everything `agora run` checks before its first step, and both say so the same way (issue
# 13, defect 7): a missing edge-list file and a count larger than the population are scenario errors (exit 2, with
# file:line:col) for both; every error of a file is reported at once; -o never overwrites a file that is not an
# agora file, nor the scenario itself, without --force; threads above the cores are capped with a warning; an
# intervention after a shortened --steps is skipped with a warning and recorded.
source "$(dirname "$0")/clilib.sh"

write() { cat > "$1"; }
nproc=$(nproc)

# A missing edge-list file.
write graph.yaml <<'Y'
model: sir
space: {kind: graph, generator: file, path: missing.edgelist}
steps: 5
Y
expect_exit 2 $AGORA validate graph.yaml
contains err.txt 'graph.yaml:2:45: space.path: edge-list file not found'
expect_exit 2 $AGORA run graph.yaml -o graph.h5 -q
contains err.txt 'graph.yaml:2:45: space.path: edge-list file not found'
[ ! -e graph.h5 ] || fail "a run that could not start left a file"
pass "a missing edge-list file: exit 2 with file:line:col, in validate and run"

# A count larger than the population.
write count.yaml <<'Y'
model: sir
space: {kind: grid, width: 10, height: 10}
params: {initial_infected: 500}
steps: 5
Y
expect_exit 2 $AGORA validate count.yaml
contains err.txt 'count.yaml:3:28: params.initial_infected: expected a fraction in [0, 1) or a count of at most the population (100 agents), got 500'
expect_exit 2 $AGORA run count.yaml -o count.h5 -q
contains err.txt 'params.initial_infected'
expect_exit 0 $AGORA validate count.yaml --set space.width=60
pass "a count larger than the population is an error"

# Every error of a file, each with its line.
write many.yaml <<'Y'
model: sir
space: {kind: grid, width: 10, height: 10}
params: {beta: high, gama: 0.1}
stpes: 10
steps: 20
output: {flush_every: 0}
interventions:
  - {at: 5, action: {action: vaccinate, fraction: 2}}
  - {at: 6, action: {action: nuke}}
personas:
  - {id: a, role: r, persona: p, every: 0, offline_policy: []}
Y
for cmd in validate run; do
  expect_exit 2 $AGORA $cmd many.yaml
  contains err.txt 'many.yaml:4:1: stpes: unknown key (did you mean "steps"?)'
  contains err.txt 'many.yaml:3:22: params.gama: unknown parameter'
  contains err.txt 'many.yaml:3:16: params.beta: expected a number in [0, 1], got "high"'
  contains err.txt 'many.yaml:6:23: output.flush_every: expected an integer >= 1, got 0'
  contains err.txt 'many.yaml:8:51: interventions[0].action.fraction: expected a number <= 1, got 2'
  contains err.txt 'many.yaml:9:30: interventions[1].action.action: expected one of'
  contains err.txt 'many.yaml:11:41: personas[0].every: expected a number in [1, 1e+09]'
  contains err.txt "agora $cmd: 7 errors"
  [ "$(head -1 err.txt)" = "agora $cmd: many.yaml:4:1: stpes: unknown key (did you mean \"steps\"?)" ] ||
    fail "the first error is not the one a single-error load reports"
done
sed -i 's/beta: high/beta: 0.1/; /stpes/d' many.yaml
expect_exit 2 $AGORA validate many.yaml
[ "$(grep -c many.yaml err.txt)" = 5 ] || fail "fixed errors are still reported"
pass "every error of a file is reported, with its line"

# A missing edge-list file is one of them, not found only once the others are fixed.
write both.yaml <<'Y'
model: sir
space: {kind: graph, generator: file, path: missing.edgelist}
params: {beta: 2}
Y
expect_exit 2 $AGORA validate both.yaml
contains err.txt 'both.yaml:3:16: params.beta: expected a number in [0, 1], got 2'
contains err.txt 'both.yaml:2:45: space.path: edge-list file not found'
contains err.txt 'agora validate: 2 errors'
pass "a missing edge-list file is reported with the other errors"

# -o: an existing file must be an agora file, and never the scenario itself, unless --force.
write ok.yaml <<'Y'
model: sir
space: {kind: grid, width: 10, height: 10}
steps: 5
Y
echo precious > notes.txt
$PY -c 'import h5py; h5py.File("foreign.h5", "w").create_dataset("x", data=[1, 2, 3])'
expect_exit 2 $AGORA validate ok.yaml -o notes.txt
contains err.txt 'notes.txt exists and is not an agora file (not HDF5): not overwritten'
for cmd in "run ok.yaml -q" "interact $SRC/scenarios/flood_rescue.yaml -q"; do
  expect_exit 2 $AGORA $cmd -o notes.txt
  contains err.txt 'notes.txt exists and is not an agora file'
  contains err.txt '--force'
  [ "$(cat notes.txt)" = precious ] || fail "$cmd overwrote notes.txt"
done
expect_exit 2 $AGORA run ok.yaml -q -o foreign.h5
contains err.txt 'foreign.h5 exists and is an HDF5 file agora did not write'
expect_exit 2 $AGORA run ok.yaml -q -o ok.yaml
contains err.txt 'ok.yaml is the scenario file itself'
contains ok.yaml 'steps: 5'
expect_exit 0 $AGORA run ok.yaml -q -o ok.h5
expect_exit 0 $AGORA run ok.yaml -q -o ok.h5          # an agora run file: overwritten as before
expect_exit 0 $AGORA run ok.yaml -q -o notes.txt --force
$AGORA inspect notes.txt > /dev/null || fail "--force did not write a run file"
rm -f fresh.h5
expect_exit 0 $AGORA validate ok.yaml -o fresh.h5
[ ! -e fresh.h5 ] || fail "validate wrote the output file"
pass "-o refuses what is not an agora file, and the scenario itself, without --force"

# threads above the machine's cores: capped, with a warning naming both numbers.
expect_exit 0 $AGORA run ok.yaml -o threads.h5 --threads 1000 --json
contains err.txt "threads: 1000 requested, but this machine has $nproc core"
$PY -c "import json,sys; r = json.load(open('out.txt')); assert r['threads'] == $nproc, r['threads']"
expect_exit 0 $AGORA validate ok.yaml --threads 1000
contains err.txt "using $nproc"
pass "threads are capped at the cores with a warning"

# An intervention after a shortened --steps: skipped with a warning, recorded in /events.
write later.yaml <<'Y'
model: sir
space: {kind: grid, width: 10, height: 10}
steps: 50
interventions:
  - {at: 3, action: {action: vaccinate, fraction: 0.1}}
  - {at: 40, action: {action: lockdown, strength: 0.5, steps: 5}}
Y
expect_exit 0 $AGORA validate later.yaml --steps 10
contains err.txt 'interventions[1]: skipped: {"action":"lockdown","strength":0.5,"steps":5} scheduled at step 40, after the last step (10)'
expect_exit 0 $AGORA run later.yaml --steps 10 -o later.h5 --no-progress
contains err.txt 'interventions[1]: skipped'
contains out.txt 'later.h5 (complete)'
$PY - later.h5 <<'PYEOF'
import sys, h5py
e = h5py.File(sys.argv[1], "r")["events"][()]
st = [s.decode() for s in e["status"]]
assert st.count("skipped") == 1 and st.count("applied") == 1, st
assert list(e["step"][[s == "skipped" for s in st]]) == [40]
PYEOF
write bad_at.yaml <<'Y'
model: sir
space: {kind: grid, width: 10, height: 10}
steps: 20
interventions:
  - {at: 40, action: {action: vaccinate, fraction: 0.1}}
Y
expect_exit 2 $AGORA validate bad_at.yaml                 # the file's own steps must still cover it
contains err.txt 'bad_at.yaml:5:10: interventions[0].at: expected a step in [0, 20] (0 to steps), got 40'
pass "an intervention after a shortened --steps is skipped with a warning"

expect_exit 0 $AGORA run --help
contains out.txt '--force'
expect_exit 0 $AGORA validate --help
contains out.txt 'everything agora run checks'
expect_exit 0 $AGORA sweep --help
contains out.txt '--overwrite'
pass "help texts"
