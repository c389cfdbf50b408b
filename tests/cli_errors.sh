# Bad input gets a clear error: each broken scenario or override exits non-zero with file:line (or the override)
# and what was expected, and leaves no output file behind.
source "$(dirname "$0")/clilib.sh"

write() { cat > "$1"; }

write bad_type.yaml <<'Y'
name: bad
model: sir
space: {kind: grid, width: 10, height: 10}
params:
  gamma: 0.1
  beta: high
steps: 5
Y
expect_exit 2 $AGORA run bad_type.yaml -o out.h5
contains err.txt 'bad_type.yaml:6:9: params.beta: expected a number in [0, 1], got "high"'
[ ! -e out.h5 ] || fail "no file may be written for a bad scenario"

write bad_range.yaml <<'Y'
model: sir
space: {kind: grid, width: 10, height: 10}
params: {beta: 0.1, gamma: 1.5}
Y
expect_exit 2 $AGORA run bad_range.yaml -o out.h5
contains err.txt 'bad_range.yaml:3:28: params.gamma: expected a number in [0, 1], got 1.5'

write unknown_key.yaml <<'Y'
model: sir
space: {kind: grid, width: 10, height: 10}
stpes: 10
Y
expect_exit 2 $AGORA run unknown_key.yaml -o out.h5
contains err.txt 'unknown_key.yaml:3:1: stpes:'
contains err.txt 'steps'

write unknown_param.yaml <<'Y'
model: sir
space: {kind: grid, width: 10, height: 10}
params:
  beta: 0.1
  delta: 0.3
Y
expect_exit 2 $AGORA run unknown_param.yaml -o out.h5
contains err.txt 'unknown_param.yaml:5:3: params.delta: unknown parameter'

write bad_syntax.yaml <<'Y'
model: sir
space: {kind: grid, width: 10, height: 10
steps: 5
Y
expect_exit 2 $AGORA run bad_syntax.yaml -o out.h5
contains err.txt 'bad_syntax.yaml:'
contains err.txt 'syntax error'

write bad_space.yaml <<'Y'
model: sir
space:
  kind: graph
  generator: watts_strogatz
  n: 100
  k: 5
  p: 0.1
Y
expect_exit 2 $AGORA run bad_space.yaml -o out.h5
contains err.txt 'bad_space.yaml:6:6: space.k: expected an even mean degree'

write bad_model.yaml <<'Y'
model: sri
space: {kind: grid, width: 10, height: 10}
Y
expect_exit 2 $AGORA run bad_model.yaml -o out.h5
contains err.txt 'bad_model.yaml:1:8: model: unknown model "sri"'

write bad_action.yaml <<'Y'
model: sir
space: {kind: grid, width: 10, height: 10}
steps: 10
interventions:
  - at: 3
    action: {action: vaccinate, fraction: 2}
Y
expect_exit 2 $AGORA run bad_action.yaml -o out.h5
contains err.txt 'bad_action.yaml:6:43: interventions[0].action.fraction: expected a number <= 1, got 2'

expect_exit 2 $AGORA run does_not_exist.yaml -o out.h5
contains err.txt 'does_not_exist.yaml'
contains err.txt 'No such file'

# A graph file with a malformed line: the error names the graph file and its line.
printf '0 1\n1 2\n2 x\n' > broken.edgelist
write bad_graph.yaml <<'Y'
model: sir
space: {kind: graph, generator: file, path: broken.edgelist}
Y
expect_exit 2 $AGORA run bad_graph.yaml -o out.h5
contains err.txt 'broken.edgelist:3'

# Overrides are checked like the file and named in the error.
write good.yaml <<'Y'
model: sir
space: {kind: grid, width: 10, height: 10}
steps: 5
Y
expect_exit 2 $AGORA run good.yaml -o out.h5 --set params.beta=high
contains err.txt '--set params.beta=high'
contains err.txt 'params.beta: expected a number in [0, 1], got "high"'
expect_exit 2 $AGORA run good.yaml -o out.h5 --set params.bogus=1
contains err.txt 'params.bogus'
expect_exit 2 $AGORA run good.yaml -o out.h5 --set nonsense
expect_exit 2 $AGORA run good.yaml -o out.h5 --seed abc
contains err.txt '--seed expects a non-negative integer'
expect_exit 2 $AGORA run good.yaml -o out.h5 --steps -3
[ ! -e out.h5 ] || fail "no file may be written for bad overrides"

# An output path that cannot be created fails cleanly.
expect_exit 1 $AGORA run good.yaml -o /proc/forbidden/out.h5
contains err.txt 'out.h5'

# And the good one runs.
expect_exit 0 $AGORA run good.yaml -o out.h5 -q
[ -s out.h5 ] || fail "good scenario wrote no file"
pass "bad input gives clear errors"
