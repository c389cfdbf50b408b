# The market model through the agora CLI: both shipped market scenarios run (the large one scaled down through
# overrides), their HDF5 files hold the metrics and snapshots, `inspect` reads them, scheduled taxes become events
# and change the metrics, and the same seed gives bit-identical files at 1, 2 and 4 threads (h5diff).
source "$(dirname "$0")/clilib.sh"

expect_exit 0 $AGORA models market
for s in "market" "rounds_per_day" "learning_rate" "ce_price" "efficiency" "set_tax" "price_ceiling" "subsidy"; do
  contains out.txt "$s"
done
pass "models market"

expect_exit 0 $AGORA validate "$SRC/scenarios/market_double_auction.yaml"; contains out.txt "valid"
expect_exit 0 $AGORA validate "$SRC/scenarios/market_large.yaml"; contains out.txt "valid"
pass "validate"

expect_exit 0 $AGORA run "$SRC/scenarios/market_double_auction.yaml" -o da.h5
contains out.txt "150 agents, 400 steps"
contains err.txt "step 200: scenario applied"
h5ls -r da.h5 > ls.txt
for s in "/time" "/metrics/price_mean" "/metrics/volume" "/metrics/efficiency" "/metrics/ce_price" "/metrics/price_gap" \
         "/snapshots/quote" "/snapshots/traded" "/events"; do contains ls.txt "$s"; done
expect_exit 0 $AGORA inspect da.h5
for s in "complete" "market" "150 agents" "401 rows"; do contains out.txt "$s"; done
expect_exit 0 $AGORA inspect da.h5 --events
contains out.txt '"action":"set_tax"'
contains out.txt "applied"
$PY - <<'PY'
import h5py, numpy as np
f = h5py.File("da.h5", "r")
m = f["metrics"]
ev = f["events"][:]
assert list(ev["step"]) == [200, 300], ev
tax = m["tax_rate"][:]
assert tax[199] == 0 and abs(tax[200] - 0.2) < 1e-15 and tax[300] == 0, tax[195:305]
# The market reaches the CE before the tax (Gode & Sunder: within 5 %, efficiency > 0.9) ...
p, ce, eff, vol = m["price_mean"][:], m["ce_price"][:], m["efficiency"][:], m["volume"][:]
gap = np.nanmean(p[150:200]) / ce[199] - 1
assert abs(gap) < 0.05 and eff[150:200].mean() > 0.9, (gap, eff[150:200].mean())
# ... and the tax moves the CE down (sellers receive less; here every seller stays intramarginal, so the CE
# quantity stays 50) and the market's price follows it.
assert ce[250] < ce[199] and m["ce_quantity"][250] <= m["ce_quantity"][199]
assert np.nanmean(p[260:300]) < np.nanmean(p[150:200])
rev = m["tax_revenue"][:]
assert rev[200] == 0 and (rev[201:301] >= 0).all() and rev[250:301].min() > 0 and rev[301:].max() == 0, rev[195:305]
assert f["snapshots/quote"].shape[1] == 150
PY
pass "double auction run, file, events"

expect_exit 0 $AGORA run "$SRC/scenarios/market_large.yaml" -o large.h5 --set space.n=20000 --steps 30 \
  --set output.snapshot_every=10
contains out.txt "20000 agents, 30 steps"
h5ls -r large.h5 > ls.txt
for s in "/metrics/volume" "/snapshots/price"; do contains ls.txt "$s"; done
expect_exit 0 $AGORA inspect large.h5
pass "large scenario (scaled down)"

for t in 1 2 4; do
  expect_exit 0 $AGORA run "$SRC/scenarios/market_large.yaml" -o det$t.h5 --threads $t --steps 25 --set space.n=30011 \
    --set output.snapshot_every=5 -q
done
for t in 2 4; do
  h5diff det1.h5 det$t.h5 /metrics /metrics || fail "/metrics differ at $t threads"
  h5diff det1.h5 det$t.h5 /snapshots /snapshots || fail "/snapshots differ at $t threads"
done
pass "determinism across thread counts"
