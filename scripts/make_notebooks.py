#!/usr/bin/python3
"""Writes notebooks/*.ipynb from the cells below (run after editing them: /usr/bin/python3 scripts/make_notebooks.py).
The notebooks are committed without outputs; tests/cli_notebooks.sh executes them headless on small runs."""
import os
import nbformat as nbf

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "notebooks")

SETUP = '''import os, json
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import agora_h5 as ah   # notebooks/agora_h5.py'''


def notebook(name, cells):
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, text in cells:
        nb.cells.append(nbf.v4.new_markdown_cell(text) if kind == "md" else nbf.v4.new_code_cell(text))
    nbf.write(nb, os.path.join(HERE, name))


notebook("sir_sweep.ipynb", [
    ("md", "# SIR sweep: epidemic curves and final size against theory\n\n"
           "Made from a sweep of `scenarios/sir_er_theory.yaml` (an Erdős–Rényi graph) over beta and seeds:\n\n"
           "```sh\nbuild/agora sweep scenarios/sir_er_theory.yaml --vary params.beta=0.005:0.03:6 --seeds 5 "
           "-o runs/sir_er_sweep.h5\n```\n\nSet `AGORA_SWEEP` to another sweep file to analyse it."),
    ("code", SETUP + '''
path = os.environ.get("AGORA_SWEEP", "../runs/sir_er_sweep.h5")
table = ah.sweep_table(path)
table.head()'''),
    ("md", "## Epidemic curves: mean over seeds and the 10–90 % band, one curve per beta"),
    ("code", '''I = ah.sweep_metric(path, "I_frac")
fig, ax = plt.subplots(figsize=(8, 4))
for beta, runs in I.groupby("params.beta"):
    lo, mid, hi = runs.quantile(0.1, dim="run"), runs.mean(dim="run"), runs.quantile(0.9, dim="run")
    ax.plot(mid.time, mid, label=f"beta {beta:.3g}")
    ax.fill_between(mid.time, lo, hi, alpha=0.25)
ax.set_xlabel("step"); ax.set_ylabel("infected fraction"); ax.legend(); plt.show()'''),
    ("md", "## Final size against beta, with bond percolation\n\n"
           "On an Erdős–Rényi graph with mean degree ⟨k⟩ the final size r solves r = 1 − (1 − r₀) exp(−⟨k⟩ T r) "
           "with transmissibility T = β / (β + γ − βγ)."),
    ("code", '''config = ah.attrs(path + ".runs/" + table.index[0] + ".h5")["config"]
k = config["space"].get("mean_degree") or config["space"]["p"] * (config["space"]["n"] - 1)
gamma = config["params"]["gamma"]
init = config["params"]["initial_infected"]
r0 = init if init < 1 else init / config["space"]["n"]

def theory(beta):
    T = beta / (beta + gamma - beta * gamma)
    r = 1.0
    for _ in range(2000):
        r = 1 - (1 - r0) * np.exp(-k * T * r)
    return r

final = table.groupby("params.beta")["attack_rate"].agg(["mean", "std"])
betas = np.linspace(final.index.min(), final.index.max(), 200)
fig, ax = plt.subplots(figsize=(6, 4))
ax.errorbar(final.index, final["mean"], yerr=final["std"], fmt="o", label="agora (mean ± sd over seeds)")
ax.plot(betas, [theory(b) for b in betas], label="bond percolation")
ax.set_xlabel("beta"); ax.set_ylabel("final size"); ax.legend(); plt.show()
final.assign(theory=[theory(b) for b in final.index])'''),
])

notebook("opinion.ipynb", [
    ("md", "# Opinion dynamics: histograms over time, and clusters against the confidence bound\n\n"
           "```sh\nbuild/agora run scenarios/opinion_deffuant.yaml -o runs/opinion_deffuant.h5\n"
           "build/agora sweep scenarios/opinion_deffuant.yaml --vary params.epsilon=0.1:0.6:11 --seeds 3 "
           "-o runs/opinion_eps.h5\n```\n\nSet `AGORA_OPINION_RUN` and `AGORA_OPINION_SWEEP` to other files."),
    ("code", SETUP + '''
run_path = os.environ.get("AGORA_OPINION_RUN", "../runs/opinion_deffuant.h5")
sweep_path = os.environ.get("AGORA_OPINION_SWEEP", "../runs/opinion_eps.h5")
op = ah.snapshots(run_path, "opinion")
op'''),
    ("md", "## The distribution of opinions at each snapshot"),
    ("code", '''bins = np.linspace(0, 1, 51)
hist = np.stack([np.histogram(np.ravel(op.sel(time=t)), bins=bins)[0] for t in op.time.values])
fig, ax = plt.subplots(figsize=(8, 4))
ax.imshow(hist.T, origin="lower", aspect="auto", extent=[op.time.values[0], op.time.values[-1], 0, 1], cmap="viridis")
ax.set_xlabel("step"); ax.set_ylabel("opinion"); plt.show()
m = ah.metrics(run_path)
m[["variance", "near_mean", "polarization"]].plot(subplots=True, figsize=(8, 5)); plt.show()'''),
    ("md", "## Major clusters at the end against ε, with the 1/(2ε) rule of Deffuant et al. (2000)"),
    ("code", '''t = ah.sweep_table(sweep_path)
c = t.groupby("params.epsilon")["major_clusters"].agg(["mean", "min", "max"])
eps = np.linspace(c.index.min(), c.index.max(), 200)
fig, ax = plt.subplots(figsize=(6, 4))
ax.errorbar(c.index, c["mean"], yerr=[c["mean"] - c["min"], c["max"] - c["mean"]], fmt="o", label="agora")
ax.plot(eps, np.maximum(1, np.floor(1 / (2 * eps))), label="floor(1 / 2ε)")
ax.set_xlabel("ε"); ax.set_ylabel("major clusters"); ax.legend(); plt.show()
c'''),
])

notebook("mixed.ipynb", [
    ("md", "# A mixed run: persona decisions over the epidemic, and what the LLM calls cost\n\n"
           "```sh\nbuild/agora run scenarios/sir_lockdown.yaml --llm ollama:llama3.2 -o runs/sir_lockdown.h5\n```\n\n"
           "Set `AGORA_MIXED_RUN` to another mixed run file."),
    ("code", SETUP + '''
path = os.environ.get("AGORA_MIXED_RUN", "../runs/sir_lockdown.h5")
m = ah.metrics(path)
ev = ah.events(path)
decisions = ev[ev["source"].str.startswith("persona:")]
ah.personas(path)'''),
    ("md", "## The infected fraction, with every persona action marked"),
    ("code", '''metric = "I_frac" if "I_frac" in m else m.columns[0]
fig, ax = plt.subplots(figsize=(9, 4))
ax.plot(m.index, m[metric], color="black", label=metric)
colours = dict(zip(sorted(decisions["source"].unique()), plt.cm.tab10.colors))
for _, e in decisions.iterrows():
    a = json.loads(e["action"])
    ax.axvline(e["step"], color=colours[e["source"]], alpha=0.5, ls="-" if e["status"] == "applied" else ":")
    ax.text(e["step"], ax.get_ylim()[1] * 0.95, a.get("action", ""), rotation=90, fontsize=7, va="top")
for src, col in colours.items():
    ax.plot([], [], color=col, label=src)
ax.set_xlabel("step"); ax.legend(loc="upper right"); plt.show()
decisions[["step", "source", "status", "action"]]'''),
    ("md", "## LLM calls: latency and tokens per persona (none when the personas ran on their rules)"),
    ("code", '''calls = ah.llm_calls(path)
if len(calls) == 0:
    print("no LLM calls in this run: the personas followed their offline_policy rules")
else:
    per = calls.groupby("persona").agg(calls=("status", "size"), ok=("status", lambda s: (s == "ok").sum()),
                                       latency_ms=("latency_ms", "mean"), prompt_tokens=("prompt_tokens", "sum"),
                                       completion_tokens=("completion_tokens", "sum"))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for p, c in calls.groupby("persona"):
        axes[0].plot(c["step"], c["latency_ms"], "o-", label=p)
    axes[0].set_xlabel("step"); axes[0].set_ylabel("latency (ms)"); axes[0].legend()
    per[["prompt_tokens", "completion_tokens"]].plot.bar(ax=axes[1]); plt.show()
    display(per)'''),
])
print("notebooks written to", os.path.normpath(HERE))
