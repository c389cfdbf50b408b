# C plug-ins (issue 14), the way a third party builds one: agora is installed into a scratch prefix (cmake --install),
# the example plug-in tests/plugin/voter.c is built out of tree against that prefix twice — with
# find_package(agora CONFIG) and with one cc line from pkg-config — and the installed agora loads it with --plugin
# (and AGORA_PLUGINS) in models, validate, run, sweep and mcp; the run file holds the plug-in model's metrics and
# snapshots. Every public header compiles on its own from the install tree. Plug-ins that are wrong are refused
# with a message that says how: another model ABI, a built-in's name, a second copy of a loaded one, a failing
# init, no entry point, no file, not a shared object. Offline; about 20 s on 2 cores.
source "$(dirname "$0")/clilib.sh"
: "${AGORA_BUILD_DIR:?the build tree to install}"
P=$AGORA_TEST_TMP/prefix
cmake --install "$AGORA_BUILD_DIR" --prefix "$P" >install.log
BIN=$P/bin/agora
[ -x "$BIN" ] || fail "cmake --install gave no bin/agora"
cfg=$(find "$P" -path '*/cmake/agora/agoraConfig.cmake')
[ -n "$cfg" ] && [ -f "$(dirname "$cfg")/agoraConfigVersion.cmake" ] || fail "no agoraConfig.cmake + ConfigVersion"
pcdir=$(dirname "$(find "$P" -name agora.pc)")
export PKG_CONFIG_PATH=$pcdir
contains <(pkg-config --cflags agora) "-I$pcdir/../../include"
abi=$(sed -n 's/^#define AGORA_MODEL_ABI \([0-9]*\).*/\1/p' "$P/include/agora/model.h")
[ -n "$abi" ] || fail "model.h defines no AGORA_MODEL_ABI"
pass "cmake --install: CMake package, agora.pc (pkg-config --cflags works), model ABI $abi"

# Every public header on its own, as C11 and as C++.
for h in "$P"/include/agora/*.h; do
  echo "#include <agora/$(basename "$h")>" > one.c
  cc -std=c11 -Wall -Wextra -Werror -fsyntax-only $(pkg-config --cflags agora) one.c 2>cc.txt ||
    { cat cc.txt; fail "$(basename "$h") does not compile alone"; }
  if command -v c++ >/dev/null; then
    c++ -Wall -Wextra -Werror -fsyntax-only -x c++ $(pkg-config --cflags agora) one.c 2>cc.txt ||
      { cat cc.txt; fail "$(basename "$h") does not compile alone as C++"; }
  fi
done
pass "each installed header compiles alone (C11, C++)"

# The plug-in, out of tree: find_package(agora CONFIG REQUIRED) finds the prefix, not the build tree.
cmake -S "$SRC/tests/plugin" -B fp -DCMAKE_PREFIX_PATH="$P" -DCMAKE_BUILD_TYPE=Release >fp.log ||
  { cat fp.log; fail "configuring the plug-in against the install failed"; }
contains fp.log "voter: agora 0.1.0, model ABI $abi"
grep -qx "agora_DIR:PATH=$(dirname "$cfg")" fp/CMakeCache.txt || fail "find_package found another agora"
cmake --build fp >fpb.log 2>&1 || { cat fpb.log; fail "building the plug-in with find_package failed"; }
[ -f fp/voter.so ] || fail "no fp/voter.so"
# ... and with pkg-config alone (the run path so that libagora.so is found when agora loads the plug-in).
mkdir -p pc
cc -std=c11 -Wall -Wextra -Werror -O2 -fPIC -shared -o pc/voter.so "$SRC/tests/plugin/voter.c" \
  $(pkg-config --cflags --libs agora) -Wl,-rpath,"$(pkg-config --variable=libdir agora)" ||
  fail "building the plug-in with pkg-config failed"
pass "plug-in built out of tree with find_package and with pkg-config"

cp "$SRC/tests/plugin/voter.yaml" .
expect_exit 0 $BIN models --plugin fp/voter.so
contains out.txt "voter: the noisy voter model (an example plug-in)"
contains out.txt "  plug-in: $PWD/fp/voter.so"
contains out.txt "sir: "
contains out.txt "broadcast {opinion: integer in [0, 1], fraction: number in [0, 1]}"
[ "$(grep -c '^voter:' out.txt)" = 1 ] || fail "voter listed other than once"
# the same file twice (by two names) is loaded once
expect_exit 0 $BIN models voter --json --plugin fp/voter.so --plugin "$PWD/fp/../fp/voter.so"
$PY - out.txt "$PWD/fp/voter.so" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert [m["name"] for m in d["models"]] == ["voter"], d
assert d["models"][0]["origin"] == sys.argv[2], d["models"][0]["origin"]
assert [p["name"] for p in d["models"][0]["params"]] == ["initial", "rate", "noise"]
PYEOF
expect_exit 0 $BIN models sir --json
contains out.txt '"origin": null'
pass "agora models --plugin: the plug-in's model after the built-ins, with its file"

expect_exit 2 $BIN validate voter.yaml
contains err.txt 'unknown model "voter"'
contains err.txt "agora validate: a model from a C plug-in needs --plugin FILE.so (or AGORA_PLUGINS)"
expect_exit 0 $BIN validate --plugin pc/voter.so voter.yaml
contains out.txt "voter.yaml: valid (model voter)"
AGORA_PLUGINS=/nonexistent/a.so:fp/voter.so expect_exit 2 $BIN validate voter.yaml
contains err.txt "AGORA_PLUGINS: /nonexistent/a.so: no such plug-in file"
AGORA_PLUGINS=fp/voter.so expect_exit 0 $BIN validate voter.yaml
expect_exit 2 $BIN validate --plugin fp/voter.so voter.yaml --set params.noise=2
contains err.txt "params.noise: expected a number in [0, 1], got 2"
pass "agora validate --plugin (and AGORA_PLUGINS); the plug-in's parameters are checked like a built-in's"

expect_exit 0 $BIN run --plugin fp/voter.so voter.yaml -o fp.h5 -q
expect_exit 0 $BIN run --plugin pc/voter.so voter.yaml -o pc.h5 -q --threads 1
expect_exit 0 $AGORA run --plugin fp/voter.so voter.yaml -o build_tree.h5 -q # the build tree's agora too
h5ls -r fp.h5 >ls.txt
contains ls.txt "/metrics/fraction        Dataset {61/Inf}"
contains ls.txt "/snapshots/opinion       Dataset {4/Inf, 40, 40}"
h5dump -a /model fp.h5 >attr.txt && contains attr.txt '"voter"'
for f in pc.h5 build_tree.h5; do
  h5diff fp.h5 $f /metrics /metrics >diff.txt || { cat diff.txt; fail "$f differs from fp.h5"; }
done
$PY - fp.h5 <<'PYEOF'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
ones, frac, flips = (f["metrics/" + k][()] for k in ("ones", "fraction", "flips"))
assert len(ones) == 61 and np.all(ones == np.round(frac * 1600)), (ones, frac)
assert 0.2 < frac[0] < 0.4, frac[0]  # 1600 draws at 0.3: sd 0.011
assert flips[0] == 0 and flips[1] > 0, flips[:3]
snap = f["snapshots/opinion"]
assert list(f["snapshots/time"][()]) == [0, 20, 40, 60]
for k, t in enumerate([0, 20, 40, 60]):
    assert snap[k].sum() == ones[t], (t, snap[k].sum(), ones[t])
ev = [e.decode() if isinstance(e, bytes) else e for e in f["events"]["status"]]
assert ev == ["applied"], ev
PYEOF
pass "agora run --plugin: metrics, snapshots and the broadcast in the run file; the same from both builds"

expect_exit 0 $BIN sweep --plugin fp/voter.so voter.yaml --vary params.noise=0,0.1 --seeds 2 -o sw.h5 -q -t 2
$PY - sw.h5 <<'PYEOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
t = f["sweep/table"][()]
assert len(t) == 4 and all(s == b"complete" for s in t["status"]), t["status"]
assert f["runs/r00003/metrics/fraction"].shape[0] == 61
PYEOF
pass "agora sweep --plugin: the forked workers run the plug-in model"

printf '%s\n' \
  '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"sh","version":"1"}}}' \
  '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
  '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' \
  '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"create_world","arguments":{"model":"voter","space":{"kind":"mixed","n":500},"params":{"initial":0.5},"seed":1}}}' \
  '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"advance_world","arguments":{"world":"w1","steps":5}}}' \
  >mcp.in
expect_exit 0 $BIN mcp --plugin fp/voter.so --output-dir mcp <mcp.in
$PY - out.txt <<'PYEOF'
import json, sys
r = {m["id"]: m for m in map(json.loads, open(sys.argv[1])) if "id" in m}
assert not any("plugin" in t["name"] for t in r[2]["result"]["tools"]), "a tool that loads plug-ins"
assert not r[3]["result"].get("isError"), r[3]
assert not r[4]["result"].get("isError") and "fraction" in json.dumps(r[4]["result"]), r[4]
PYEOF
expect_exit 0 $BIN mcp --output-dir mcp <mcp.in
$PY - out.txt <<'PYEOF'
import json, sys
r = {m["id"]: m for m in map(json.loads, open(sys.argv[1])) if "id" in m}
assert r[3]["result"]["isError"] and "voter" in json.dumps(r[3]["result"]), r[3]
PYEOF
pass "agora mcp --plugin serves the plug-in's model; without it a client cannot reach it"

# Plug-ins that are wrong.
bad() { cc -std=c11 -Wall -Wextra -Werror -fPIC -shared -o "$1.so" "$SRC/tests/plugin/bad.c" "-D$2" $(pkg-config --cflags agora); }
bad bad_abi BAD_ABI
expect_exit 2 $BIN models --plugin ./bad_abi.so
contains err.txt "agora models: ./bad_abi.so: built for agora model ABI $((abi + 1)), this agora has ABI $abi; rebuild the plug-in against this version"
bad bad_clash BAD_CLASH
expect_exit 2 $BIN run --plugin bad_clash.so voter.yaml
contains err.txt 'agora run: bad_clash.so: agora_plugin_init failed: model "sir": the name is taken by the built-in model sir'
cp fp/voter.so voter_copy.so
expect_exit 2 $BIN validate --plugin fp/voter.so --plugin voter_copy.so voter.yaml
contains err.txt "voter_copy.so: agora_plugin_init failed: model \"voter\": the name is taken by the model of plug-in $PWD/fp/voter.so"
bad bad_init BAD_INIT
expect_exit 2 $BIN sweep --plugin bad_init.so voter.yaml
contains err.txt "bad_init.so: agora_plugin_init failed: the licence file /nonexistent/licence is missing"
bad bad_noentry BAD_NOENTRY
expect_exit 2 $BIN models --plugin bad_noentry.so
contains err.txt "bad_noentry.so: not an agora plug-in: it exports no agora_plugin_init"
expect_exit 2 $BIN run --plugin missing.so voter.yaml
contains err.txt "agora run: missing.so: no such plug-in file"
echo 'not a shared object' >text.so
expect_exit 2 $BIN mcp --plugin text.so </dev/null
contains err.txt "agora mcp: text.so: not a shared object (no ELF header)"
[ ! -e runs ] || fail "a refused plug-in still let a command write"
pass "wrong plug-ins refused: ABI mismatch, built-in name, a second copy, failing init, no entry point, no file, not ELF"
