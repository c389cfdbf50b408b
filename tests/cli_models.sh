# The models shipped in the rule language (models/*.yaml) through the real `agora` binary, each against a known
# result: SEIR (vaccination lowers the attack rate, the exposed stage delays the peak), Schelling (segregation rises,
# groups are conserved), Boltzmann exchange (Gini 1/2, wealth conserved), forest fire (the site-percolation jump),
# Nowak-May (cooperators near 0.318), Deffuant (consensus above epsilon 0.5, clusters at 0.2), frustration (repairs
# help; a persona repairs offline), and the rule SIR against the built-in sir and bond percolation. Seeds are fixed;
# each tolerance says why it is what it is.
source "$AGORA_SOURCE_DIR/tests/clilib.sh"
S=$SRC/scenarios
run() { expect_exit 0 $AGORA run "$@" -q; }

# ---- a scenario named like its model finds the model, not itself (define.c's find_model_file) ----
mkdir -p self/scenarios self/models
cp "$SRC/models/boltzmann.yaml" self/models/
printf 'name: boltzmann\nmodel: boltzmann\nspace: {kind: mixed, n: 10}\nsteps: 2\nseed: 1\noutput: {path: x.h5}\n' \
  > self/scenarios/boltzmann.yaml
expect_exit 0 $AGORA validate self/scenarios/boltzmann.yaml
contains out.txt "valid (model boltzmann)"
pass "a scenario named like its model"

# ---- define.c and runtime.c fixes found while writing the models ----
# a variable named like a snapshot scale (x, y, time, agent) is refused where it is defined, not by the HDF5 writer
# at run time ("field 0: invalid or reserved name")
cat > pf.yaml <<'YAML'
name: pf
model:
  define:
    name: pairfault
    vars: {v: {type: real, init: "if(id == 57, -1.0, 1.0)"}}
    rules: {v: v}
    pairs: {v: log(v) + partner.v}
    metrics: {m: pop_mean(v)}
space: {kind: grid, width: 10, height: 10, neighborhood: von_neumann, torus: true}
steps: 50
seed: 1
output: {path: pf.h5}
YAML
sed 's/vars: {v:/vars: {x:/' pf.yaml > px.yaml
expect_exit 2 $AGORA validate px.yaml
contains err.txt 'px.yaml:5:12: model.define.vars.x: variable "x": the name is taken by the snapshots'
# a fault in a pair rule names the agent (57), not its index among the matched agents; the run failed (exit 1, not
# the scenario's 2) and its file keeps the steps before the fault, closed "failed" with the fault as its error
expect_exit 1 $AGORA run pf.yaml -q
contains err.txt "rule 1 (v): log gave nan for agent 57 at step"
$AGORA inspect pf.h5 > pf.txt
contains pf.txt "failed"
contains pf.txt "log gave nan for agent 57"
pass "reserved variable names; pair faults name the agent"

# a variable needs a rule or a pair rule (pairs-only models need no identity rule); one with neither is named
cat > nr.yaml <<'YAML'
name: nr
vars: {w: {type: real, init: 1.0}, k: {type: int, init: 0}}
pairs: {w: 0.5 * (w + partner.w)}
metrics: {m: pop_mean(w)}
YAML
expect_exit 2 $AGORA models nr.yaml
contains err.txt 'nr.yaml:2:36: vars.k: k has no rule: add rules.k or pairs.k (write `k: k` in rules to keep it as it is)'
sed 's/pairs: {w:/pairs: {k: k + 1, w:/' nr.yaml > nr2.yaml
expect_exit 0 $AGORA models nr2.yaml
# a population aggregate in a pair rule is over everyone: partner.x and first, values of one pair, are refused in it
sed 's/w: 0.5 \* (w + partner.w)}/w: 0.5 * (w + partner.w) - pop_mean(partner.w)}/' nr2.yaml > nr3.yaml
expect_exit 2 $AGORA models nr3.yaml
contains err.txt 'nr3.yaml:3:55: pairs.w: partner.w: a value of the pair, and pop_mean is over the whole population: use it outside pop_mean'
pass "pair rules stand in for rules; no pair values inside pop_*"

# ---- SEIR ----
g="--set space.width=100 --set space.height=100 --set params.initial_infected=20"
run "$S/seir_vaccination.yaml" $g -o seir_vax.h5
run "$S/seir_vaccination.yaml" $g --set 'interventions=[]' -o seir_none.h5
run "$S/seir_vaccination.yaml" $g --set 'interventions=[]' --set model=sir_rules \
  --set 'params={beta: 0.08, gamma: 0.05, initial_infected: 20}' -o sir_same.h5
$PY - <<'PYEOF'
import h5py, numpy as np
m = lambda f: h5py.File(f, "r")["metrics"]
vax, none, sir = m("seir_vax.h5"), m("seir_none.h5"), m("sir_same.h5")
a_vax, a_none = vax["attack_rate"][-1], none["attack_rate"][-1]
print(f"SEIR attack rate: {a_none:.3f} without vaccination, {a_vax:.3f} with half the susceptibles vaccinated at step 5")
# Half the population immune puts the grid near or below its epidemic threshold: the attack rate must fall by far
# more than the run-to-run noise (a few points on 10^4 agents), so we ask for less than half.
assert a_vax < 0.5 * a_none, (a_vax, a_none)
assert abs(vax["vaccinated_frac"][-1] - 0.5) < 0.01          # half of the ~99.8 % susceptible at step 5
for f in (vax, none):                                          # compartments add up at every step
    tot = f["S"][:] + f["E"][:] + f["I"][:] + f["R"][:]
    assert (tot == 10000).all()
p_seir, p_sir = int(np.argmax(none["I"][:])), int(np.argmax(sir["I"][:]))
print(f"peak of I: step {p_seir} (SEIR, mean latency 5 steps) vs step {p_sir} (SIR, same beta, gamma)")
# A latent period of mean 1/sigma = 5 steps in every generation of the spread: the peak comes generations later,
# a delay much larger than the peak's jitter between seeds.
assert p_seir > p_sir + 10, (p_seir, p_sir)
PYEOF
pass "seir"

# ---- Schelling (Mesa's parameters, minority 0.5 so that the random start has a like-neighbour share of 1/2) ----
for seed in 1 2 3; do run "$S/schelling_mesa.yaml" --set params.minority_pc=0.5 --seed $seed -o schelling$seed.h5; done
$PY - <<'PYEOF'
import h5py, numpy as np
for seed in (1, 2, 3):
    f = h5py.File(f"schelling{seed}.h5", "r"); m = f["metrics"]
    start, end = m["like_share"][0], m["like_share"][-1]       # row t is the configuration at step t
    print(f"seed {seed}: like share {start:.3f} -> {end:.3f}, happy {m['happy_share'][-1]:.3f}")
    # random start: 1/2 up to the noise of ~320 agents (sd about 0.03); segregated: Mesa's run reaches ~0.8
    assert abs(start - 0.5) < 0.1 and end > 0.7, (start, end)
    assert m["happy_share"][-1] > 0.9
    # moves only swap agents with empty cells: each group's count is the same at every step and in every snapshot
    assert len(set(m["A"][:])) == 1 and len(set(m["B"][:])) == 1
    k = f["snapshots/kind"][:]
    for s in range(k.shape[0]):
        assert (k[s] == 1).sum() == m["A"][0] and (k[s] == 2).sum() == m["B"][0]
PYEOF
pass "schelling"

# ---- Boltzmann wealth exchange ----
run "$S/boltzmann_mixed.yaml" --set space.n=2000 --steps 200 --set output.snapshot_every=200 -o boltz.h5
$PY - <<'PYEOF'
import h5py, numpy as np
f = h5py.File("boltz.h5", "r"); m = f["metrics"]
tot = m["total"][:]
# conserved up to rounding: u T + (1 - u) T is T within a few ulps per exchange, a random walk over 200 steps
assert np.abs(tot - 2000).max() < 1e-9 * 2000, np.abs(tot - 2000).max()
g = m["gini"][100:].mean()
w = f["snapshots/wealth"][-1]
print(f"Gini {m['gini'][0]:.3f} at step 0, mean {g:.4f} over steps 100..200; share above the mean {np.mean(w > 1):.3f}")
# The exponential's Gini is 1/2 (1 - 1/N for a sample of N, negligible); one step's Gini of 2000 exponential values
# has a standard deviation of about 0.01, so 0.03 is 3 sd even without the averaging over steps.
assert abs(g - 0.5) < 0.03, g
assert m["gini"][0] == 0
# and the shape: P(w > mean) = e^-1 = 0.368 for an exponential, sd sqrt(0.23 / 2000) = 0.011: 4 sd
assert abs(np.mean(w > 1) - np.exp(-1)) < 0.045
# pop_gini agrees with the brute-force mean |wi - wj| / (2 mean) on the final snapshot
brute = np.abs(w[:, None] - w[None, :]).mean() / (2 * w.mean())
assert abs(brute - m["gini"][-1]) < 1e-9, (brute, m["gini"][-1])
PYEOF
pass "boltzmann"

# ---- forest fire / site percolation on a 200x200 grid ----
for p in 0.5 0.7; do run "$S/forest_fire_edge.yaml" --set params.density=$p --steps 500 -o fire$p.h5; done
$PY - <<'PYEOF'
import h5py
for p in ("0.5", "0.7"):
    m = h5py.File(f"fire{p}.h5", "r")["metrics"]
    assert m["burning"][-1] == 0, "the fire is still burning"
    print(f"density {p}: burned share {m['burned_share'][-1]:.3f}")
b5, b7 = (h5py.File(f"fire{p}.h5", "r")["metrics"]["burned_share"][-1] for p in ("0.5", "0.7"))
# Below p_c = 0.5927 the fire reaches only the finite clusters touching the edge (a few percent of the trees on a
# 200-wide grid); above, the spanning cluster, which holds P(0.7) ~ 0.97 of the trees (Stauffer & Aharony).
assert b5 < 0.1 and b7 > 0.9, (b5, b7)
PYEOF
pass "forest fire"

# ---- Nowak-May: 100x100 torus, 200 generations ----
for b in 1.85 1.95; do run "$S/nowak_may_chaos.yaml" --set params.b=$b -o nm$b.h5; done
$PY - <<'PYEOF'
import h5py, numpy as np
c = h5py.File("nm1.85.h5", "r")["metrics"]["cooperators"][:]
gen = c[100::2]                              # even rows are whole generations; generations 50..200
print(f"b = 1.85: cooperator share {gen.mean():.4f} (sd {gen.std():.4f} over generations 50..200)")
# 0.318 is the large-lattice asymptote (12 log 2 - 8); one generation on 10^4 cells fluctuates with sd ~0.02, the
# mean of 150 correlated generations far less: 0.03 covers that and the finite-size bias of a 100x100 torus, while
# the neighbouring regimes (b < 1.8: 0.6 and up; b > 2: 0.1 or less) are far outside.
assert abs(gen.mean() - 0.318) < 0.03, gen.mean()
assert gen.std() > 0.001                     # it fluctuates (chaos), it is not frozen
# payoffs compare b k with integers j (k <= 8 neighbours, j <= 9): no j / k lies in (1.8, 2), so every b there gives
# the very same game, step for step
assert np.array_equal(c, h5py.File("nm1.95.h5", "r")["metrics"]["cooperators"][:])
PYEOF
pass "nowak-may"

# ---- Deffuant: 1000 agents ----
for e in 0.6 0.2; do run "$S/deffuant_rules.yaml" --set params.epsilon=$e --set output.snapshot_every=300 -o deff$e.h5; done
$PY - <<'PYEOF'
import h5py, numpy as np
f = h5py.File("deff0.6.h5", "r")
print(f"epsilon 0.6: spread {f['metrics/spread'][-1]:.2e}")
assert f["metrics/spread"][-1] < 0.05                               # consensus
x = np.sort(h5py.File("deff0.2.h5", "r")["snapshots/opinion"][-1])
cuts = np.nonzero(np.diff(x) > 0.05)[0]                             # clusters: runs of opinions without a gap
sizes = np.diff(np.concatenate(([0], cuts + 1, [len(x)])))
centres = [c.mean() for c in np.split(x, cuts + 1)]
major = [c for c, s in zip(centres, sizes) if s >= 50]
print(f"epsilon 0.2: {len(sizes)} clusters, {len(major)} with 5 % or more, at {np.round(major, 3)}")
# Deffuant et al.: about 1/(2 epsilon) = 2.5 major clusters; frozen clusters are further apart than epsilon
assert 2 <= len(major) <= 4, major
assert min(np.diff(major)) > 0.2
# mean opinion is conserved by the symmetric update (up to rounding)
m = h5py.File("deff0.2.h5", "r")["metrics/mean"][:]
assert np.abs(m - m[0]).max() < 1e-12
PYEOF
pass "deffuant"

# ---- frustration: repairs help; a persona repairs offline ----
run "$S/frustration_grid.yaml" -o frus_none.h5
run "$S/frustration_grid.yaml" -o frus_rep.h5 --set 'interventions=[{at: 20, action: {action: repair, share: 0.8}},
  {at: 30, action: {action: repair, share: 0.8}}, {at: 40, action: {action: maintenance, strength: 0.8, steps: 60}}]'
expect_exit 0 $AGORA run "$S/frustration_minister.yaml" -o frus_min.h5 --llm offline --no-progress
contains err.txt "minister (rules)"
$PY - <<'PYEOF'
import h5py, json
none = h5py.File("frus_none.h5", "r")["metrics/frustrated_frac"][:]
rep = h5py.File("frus_rep.h5", "r")["metrics/frustrated_frac"][:]
fm = h5py.File("frus_min.h5", "r"); mini = fm["metrics/frustrated_frac"][:]
print(f"frustrated over steps 50..100: {none[50:].mean():.3f} none, {rep[50:].mean():.3f} scheduled repairs, "
      f"{mini[50:].mean():.3f} with the minister")
# without help about 2/3 of the interfaces are down (0.1 / (0.1 + 0.05)) and 0.91 of the people frustrated;
# maintenance at strength 0.8 brings the failures to 0.02 / 0.07, but frustration also sustains itself by contagion
# (8 spread / calm = 4 > 1), so it falls less (measured: by 0.11 for the schedule, 0.2 with the minister). The mean
# over 50 steps of 10^4 agents varies by well under 0.01 between seeds: 0.05 is a margin of several sd either way.
assert rep[50:].mean() < none[50:].mean() - 0.05
assert mini[50:].mean() < none[50:].mean() - 0.05
ev = [r for r in fm["events"][:] if r["part"] == 0]
rep_ev = [r for r in ev if json.loads(r["action"])["action"] == "repair"]
assert rep_ev and all(r["source"] == b"persona:minister" and r["status"] == b"applied" for r in rep_ev), ev
print(f"the minister acted {len(ev)} times, {len(rep_ev)} repairs, first at step {rep_ev[0]['step']}")
PYEOF
pass "frustration"

# ---- the rule SIR against the built-in sir on an Erdős–Rényi graph (N = 20000, <k> = 20) ----
for seed in 1 2 3 4 5 6 7 8; do
  run "$S/sir_er_theory.yaml" --seed $seed --steps 250 -o er_b$seed.h5
  run "$S/sir_er_theory.yaml" --seed $seed --steps 250 --set model=sir_rules -o er_r$seed.h5
done
$PY - <<'PYEOF'
import h5py, numpy as np
from math import exp
beta, gamma, k, r0 = 0.015, 0.2, 20, 0.005
T = beta / (beta + gamma - beta * gamma)
lo, hi = r0, 1.0
for _ in range(200):                        # bond percolation: r = 1 - (1 - r0) exp(-<k> T r), non-trivial root
    mid = (lo + hi) / 2
    lo, hi = (mid, hi) if mid - 1 + (1 - r0) * exp(-k * T * mid) < 0 else (lo, mid)
theory = (lo + hi) / 2
SEEDS, NS = range(1, 9), 8
get = lambda p, s: h5py.File(f"er_{p}{s}.h5", "r")["metrics"]
fin = {p: np.array([get(p, s)["attack_rate"][-1] for s in SEEDS]) for p in "br"}
for p in "br":
    assert all(get(p, s)["I"][-1] == 0 for s in SEEDS), "an epidemic did not end"
print(f"final size: theory {theory:.4f}, built-in {fin['b'].mean():.4f}, rules {fin['r'].mean():.4f} ({NS} seeds)")
# the issue's bound, as in tests/test_sir.c: within 2 points of the theory (the seed-to-seed sd is ~0.01)
assert abs(fin["r"].mean() - theory) < 0.02 and abs(fin["b"].mean() - theory) < 0.02
# the mean epidemic curves agree within sampling error: at every step the difference of the means of I_frac is
# below 4 standard errors of that difference (4 sd: no false alarm over the ~250 correlated steps), plus 0.002 for
# the early steps where both curves start from 100 cases and the spread is nearly nil. The curves vary much from seed
# to seed (peak times 44..56), so that alone is weak; the peak's height and time are compared too, each by the
# difference of means over its standard error (|z| < 3). Measured: a rule SIR with beta 5 % too high gives z = 4.6
# on the peak height (and a final size 5 points off); the true one |z| < 0.5.
cur = {p: np.array([get(p, s)["I_frac"][:] for s in SEEDS]) for p in "br"}
d = cur["r"].mean(0) - cur["b"].mean(0)
se = np.sqrt(cur["r"].var(0, ddof=1) / NS + cur["b"].var(0, ddof=1) / NS)
worst = np.max(np.abs(d) - 4 * se)
print(f"mean curves: largest |difference| {np.abs(d).max():.4f} at peak I_frac {cur['b'].mean(0).max():.4f}")
assert worst < 0.002, worst
z = lambda a, b: (a.mean() - b.mean()) / np.sqrt(a.var(ddof=1) / NS + b.var(ddof=1) / NS)
zh = z(cur["r"].max(1), cur["b"].max(1))
zt = z(cur["r"].argmax(1).astype(float), cur["b"].argmax(1).astype(float))
print(f"peak height z = {zh:.2f}, peak time z = {zt:.2f}")
assert abs(zh) < 3 and abs(zt) < 3, (zh, zt)
PYEOF
pass "sir_rules matches the built-in sir"
