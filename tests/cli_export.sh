# `agora export RUN.h5 --csv DIR` end to end: a mechanics run, a mixed run offline, a mixed run against the loopback
# LLM server (long prompts with line breaks, split into continuation rows) and a sweep file, exported and read back
# with Python's csv module against h5py: metrics exactly equal, one CSV row per logical row, every text field
# (commas, quotes, line breaks, UTF-8) equal to the joined parts; --tables, -q; and the error cases.
source "$AGORA_SOURCE_DIR/tests/clilib.sh"

# The files in a directory, sorted, on one line.
listing() { (cd "$1" && ls | sort | tr '\n' ' '); }

expect_exit 0 $AGORA export --help
contains out.txt "usage: agora export FILE --csv DIR"
expect_exit 0 $AGORA --help
contains out.txt "export FILE"
pass "help"

# A mechanics run: metrics and an empty /events; DIR and its parents are created.
expect_exit 0 $AGORA run "$SRC/scenarios/sir_grid.yaml" --set space.width=20 --set space.height=20 --steps 10 \
  -o grid.h5 -q
expect_exit 0 $AGORA export grid.h5 --csv out/grid/csv
[ "$(listing out/grid/csv)" = "events.csv metrics.csv " ] || fail "grid export wrote: $(listing out/grid/csv)"
contains out.txt "wrote out/grid/csv/metrics.csv (11 rows)"
contains out.txt "wrote out/grid/csv/events.csv (0 rows)"
# RFC 4180 line ends
[ "$(head -n 1 out/grid/csv/metrics.csv | tail -c 2 | od -An -c | tr -d ' ')" = '\r\n' ] ||
  fail "metrics.csv lines do not end in CRLF"
pass "mechanics run"

# A mixed run offline (persona events with JSON actions), and one against the loopback LLM server, whose prompts
# are long multi-line texts stored in several parts; the economy minister first answers two lines of junk.
expect_exit 0 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" --set space.width=40 --set space.height=40 --steps 30 \
  --llm offline -o mixed.h5 -q
cat > script.json <<'JSON'
{"rules": [
  {"tag": "health/*", "responses": [{"content": "{\"reasoning\": \"act now, \\\"early\\\" — café\", \"actions\": [{\"action\": \"lockdown\", \"strength\": 0.5, \"steps\": 14}]}"}]},
  {"tag": "economy/step-3", "responses": [{"content": "no JSON here\nsorry"}]}
]}
JSON
start_server script.json requests
expect_exit 0 $AGORA run "$SRC/scenarios/sir_lockdown.yaml" --set space.width=30 --set space.height=30 --steps 8 \
  --llm ollama:test-model --llm-url "$url" -o llm.h5 -q
stop_server

# A market run: metrics undefined at some steps (NaN in the file: no trade yet, no price ceiling).
expect_exit 0 $AGORA run "$SRC/scenarios/market_central_bank.yaml" --steps 5 -o market.h5 -q
expect_exit 0 $AGORA export market.h5 --csv market --tables metrics

expect_exit 0 $AGORA export mixed.h5 --csv mixed
[ "$(listing mixed)" = "events.csv llm_calls.csv metrics.csv " ] || fail "mixed export wrote: $(listing mixed)"
cp out.txt mixed.out
expect_exit 0 $AGORA export llm.h5 --csv llm/
[ "$(listing llm)" = "events.csv llm_calls.csv metrics.csv " ] || fail "llm export wrote: $(listing llm)"
cp out.txt llm.out

# Everything checked against h5py, which reads the file on its own (parts joined here, not by agora).
$PY - <<'PYEOF'
import csv, math, re, h5py, numpy as np

def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh, strict=True))
    return rows[0], rows[1:]

def creation_order(group):
    names = []
    group.id.links.iterate(lambda n: names.append(n.decode()), idx_type=h5py.h5.INDEX_CRT_ORDER)
    return names

def check_metrics(h5, csvpath):
    f = h5py.File(h5, "r")
    g = f["metrics"]
    names = [n for n in creation_order(g) if n != "time"]
    assert len(names) > 3, names
    header, rows = read_csv(csvpath)
    assert header == ["time"] + names, (header, names)
    t = f["time"][:]
    assert len(rows) == len(t) and len(t) > 1, (len(rows), len(t))
    assert [int(r[0]) for r in rows] == [int(x) for x in t], "time column differs"
    for j, name in enumerate(names, 1):
        col = g[name][:]
        for r, x in zip(rows, col):
            if math.isnan(x):
                assert r[j] == "", (name, r[j])
            else:
                assert float(r[j]) == float(x), (name, r[j], repr(x))   # exact: %.17g round-trips a double
    return len(t)

def logical_rows(ds):
    """Rows of an agora table with continuation parts joined (every text column of a row continues in its parts)."""
    data = ds[:]
    out = []
    for rec in data:
        if rec["part"] > 0:
            assert out and out[-1]["id"] == rec["id"], "continuation row without its first part"
            for n in data.dtype.names:
                if data.dtype[n].kind == "S":
                    out[-1][n] += rec[n]
            continue
        out.append({n: rec[n] for n in data.dtype.names})
    for row in out:
        for n in data.dtype.names:
            if data.dtype[n].kind == "S":
                row[n] = row[n].decode("utf-8")
    return data, out

def check_table(h5, dataset, csvpath):
    f = h5py.File(h5, "r")
    data, want = logical_rows(f[dataset])
    header, rows = read_csv(csvpath)
    assert header == [n for n in data.dtype.names if n != "part"], header
    assert len(rows) == len(want), (csvpath, len(rows), len(want))
    for got, exp in zip(rows, want):
        for j, n in enumerate(header):
            kind = data.dtype[n].kind
            if kind == "S":
                assert got[j] == exp[n], (n, got[j][:80], exp[n][:80])
            elif kind in "iu":
                assert int(got[j]) == int(exp[n]), (n, got[j], exp[n])
            elif math.isnan(exp[n]):
                assert got[j] == "", (n, got[j])
            else:
                assert float(got[j]) == float(exp[n]), (n, got[j], exp[n])
    return len(data), want

def wrote(outfile, path, n):
    line = "wrote %s (%d row%s)" % (path, n, "" if n == 1 else "s")
    assert line in open(outfile).read().splitlines(), (line, open(outfile).read())

T = check_metrics("grid.h5", "out/grid/csv/metrics.csv")
wrote("llm.out", "llm/metrics.csv", check_metrics("llm.h5", "llm/metrics.csv"))
wrote("mixed.out", "mixed/metrics.csv", check_metrics("mixed.h5", "mixed/metrics.csv"))
f = h5py.File("market.h5", "r")
assert any(np.isnan(f["metrics"][n][:]).any() for n in f["metrics"]), "the market run has no NaN metric to test"
check_metrics("market.h5", "market/metrics.csv")

# offline run: persona events, whose actions are JSON text with commas and quotes
stored, ev = check_table("mixed.h5", "events", "mixed/events.csv")
assert len(ev) >= 2, len(ev)
wrote("mixed.out", "mixed/events.csv", len(ev))
assert any("," in e["action"] and '"' in e["action"] for e in ev), [e["action"] for e in ev]
raw = open("mixed/events.csv", encoding="utf-8", newline="").read()
assert '""action""' in raw, "quotes inside a field are not doubled"

# LLM run: prompts with line breaks, longer than their column, so stored in several parts
n_stored, calls = check_table("llm.h5", "llm/calls", "llm/llm_calls.csv")
wrote("llm.out", "llm/llm_calls.csv", len(calls))
assert len(calls) >= 2 and n_stored > len(calls), (n_stored, len(calls))   # some rows continue in parts
prompts = [c["prompt"] for c in calls]
assert any("\n" in p and "," in p and '"' in p for p in prompts), "no prompt with a line break, comma and quote"
assert any("café" in c["reply"] for c in calls), [c["reply"] for c in calls]
assert "no JSON here\nsorry" in [c["reply"] for c in calls], [c["reply"] for c in calls]   # a line break alone
stored, ev = check_table("llm.h5", "events", "llm/events.csv")
wrote("llm.out", "llm/events.csv", len(ev))
print("ok:", T, "steps;", len(calls), "calls in", n_stored, "stored rows")
PYEOF
pass "metrics, events and LLM calls equal the HDF5 file"

# --tables by CSV name, file name or path; -q writes quietly.
expect_exit 0 $AGORA export llm.h5 --csv some --tables /llm/calls,metrics.csv
[ "$(listing some)" = "llm_calls.csv metrics.csv " ] || fail "--tables wrote: $(listing some)"
cmp some/llm_calls.csv llm/llm_calls.csv || fail "--tables wrote a different llm_calls.csv"
expect_exit 0 $AGORA export llm.h5 --csv quiet -q --tables events
[ "$(listing quiet)" = "events.csv " ] || fail "--tables events wrote: $(listing quiet)"
[ ! -s out.txt ] || fail "-q still printed: $(cat out.txt)"
expect_exit 2 $AGORA export llm.h5 --csv none --tables events,bogus
contains err.txt 'no table "bogus"'
contains err.txt "llm_calls"
[ ! -e none ] || fail "an unknown table still created the directory"
pass "--tables and -q"

# A sweep file: /sweep/table, and nothing from the run files behind its /runs/<id> links.
expect_exit 0 $AGORA sweep "$SRC/scenarios/sir_grid.yaml" --vary params.beta=0.05,0.2 --seeds 2 \
  --set space.width=20 --set space.height=20 --steps 5 -o sweep.h5 -q
expect_exit 0 $AGORA export sweep.h5 --csv sweep
[ "$(listing sweep)" = "sweep_table.csv " ] || fail "sweep export wrote: $(listing sweep)"
contains out.txt "wrote sweep/sweep_table.csv (4 rows)"
$PY - <<'PYEOF'
import csv, h5py
t = h5py.File("sweep.h5", "r")["sweep/table"][:]
rows = list(csv.DictReader(open("sweep/sweep_table.csv", newline="", encoding="utf-8")))
assert [r["run"] for r in rows] == [x.decode() for x in t["run"]], rows
assert [float(r["params.beta"]) for r in rows] == list(t["params.beta"]), rows
assert [float(r["attack_rate"]) for r in rows] == list(t["attack_rate"]), rows
PYEOF
pass "sweep file"

# Tables are found wherever they are, by their shape: a table of a run's own in a nested group (written here by
# h5py, with a continuation row) is exported; a compound dataset without id/part and a plain array are not.
$PY - <<'PYEOF'
import h5py, numpy as np
dt = np.dtype([("id", "<i8"), ("part", "<i4"), ("step", "<i8"), ("text", "S8"), ("score", "<f8")])
rows = [(0, 0, 3, b'a, b "c', 0.1), (0, 1, 3, b"\nd", 0.1), (1, 0, 4, b"plain", np.nan)]
with h5py.File("own.h5", "w") as f:
    f.create_dataset("interactions/messages", data=np.array(rows, dtype=dt), maxshape=(None,))
    f.create_dataset("interactions/pairs", data=np.zeros(2, dtype=[("a", "<i8"), ("b", "<f8")]))
    f.create_dataset("grid", data=np.zeros((2, 2)))
PYEOF
expect_exit 0 $AGORA export own.h5 --csv own
[ "$(listing own)" = "interactions_messages.csv " ] || fail "own tables export wrote: $(listing own)"
contains out.txt "wrote own/interactions_messages.csv (2 rows)"
printf 'id,step,text,score\r\n0,3,"a, b ""c\nd",0.10000000000000001\r\n1,4,plain,\r\n' > want.csv
cmp own/interactions_messages.csv want.csv || { cat -A own/interactions_messages.csv; fail "interactions_messages.csv differs"; }
pass "a run's own tables, found by shape"

# Errors: each names the path and exits 1 (2 for bad usage), without creating DIR.
expect_exit 1 $AGORA export missing.h5 --csv err1
contains err.txt "missing.h5"
contains err.txt "No such file"
[ ! -e err1 ] || fail "a missing run file still created the directory"
echo "not hdf5" > fake.h5
expect_exit 1 $AGORA export fake.h5 --csv err2
contains err.txt "fake.h5: not an HDF5 file"
expect_exit 1 $AGORA export grid.h5 --csv fake.h5
contains err.txt "fake.h5: cannot create the directory"
expect_exit 1 $AGORA export grid.h5 --csv fake.h5/sub
contains err.txt "fake.h5"
contains err.txt "Not a directory"
expect_exit 2 $AGORA export grid.h5
contains err.txt "--csv DIR"
expect_exit 2 $AGORA export --csv x
expect_exit 2 $AGORA export grid.h5 --csv
contains err.txt "needs a value"
pass "errors"
