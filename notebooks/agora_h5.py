"""Load agora run and sweep files into pandas and xarray.

    import agora_h5 as ah
    run = ah.open_run("runs/sir_grid.h5")     # an xarray.Dataset: every metric over `time`, provenance in attrs
    ah.events("runs/sir_lockdown.h5")           # a DataFrame of applied and rejected actions
    ah.llm_calls("runs/sir_lockdown.h5")        # a DataFrame of every persona call (prompt and reply joined)
    ah.sweep_table("runs/beta.h5")              # a DataFrame, one row per run of a sweep
    ah.sweep_metric("runs/beta.h5", "I")        # a DataArray [run, time] of one metric over every run
    ah.snapshots("runs/sir_grid.h5", "state")   # a DataArray [time, y, x] (grid) or [time, agent] (graph)

Text columns of agora's tables are fixed-width and long values continue over rows with the same `id` (`part` 1, 2,
...); the functions here join them. Files written by a run still in progress are read with SWMR.
"""
import json

import h5py
import numpy as np
import pandas as pd
import xarray as xr


def _open(path):
    try:
        return h5py.File(path, "r")
    except OSError:
        return h5py.File(path, "r", swmr=True)


def _text(v):
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v


def read_table(f, name):
    """A table written by agora (/events, /llm/calls, /sweep/table) as a DataFrame, continuation rows joined."""
    data = f[name][()]
    df = pd.DataFrame({k: [_text(x) for x in data[k]] if data.dtype[k].kind == "S" else data[k]
                       for k in data.dtype.names})
    if "part" not in df:
        return df
    text_cols = [k for k in data.dtype.names if data.dtype[k].kind == "S"]
    first = df[df["part"] == 0].set_index("id")
    for col in text_cols:
        first[col] = df.sort_values(["id", "part"]).groupby("id")[col].apply("".join)
    return first.reset_index().drop(columns=["part"])


def attrs(path):
    """The root attributes of a run file (provenance, status), decoded; `config` and `summary` parsed from JSON."""
    with _open(path) as f:
        out = {k: _text(v) if not isinstance(v, np.ndarray) else v for k, v in f.attrs.items()}
    for k in ("config", "summary"):
        if isinstance(out.get(k), str) and out[k]:
            out[k] = json.loads(out[k])
    return out


def open_run(path):
    """Every /metrics dataset of a run file as an xarray.Dataset over `time`, the root attributes in .attrs."""
    with _open(path) as f:
        time = f["time"][:]
        data = {name: ("time", f["metrics"][name][:]) for name in f["metrics"] if name != "time"}
    ds = xr.Dataset(data, coords={"time": time})
    ds.attrs.update({k: v for k, v in attrs(path).items() if isinstance(v, (str, int, float, np.integer, np.floating))})
    return ds


def metrics(path):
    """The metrics as a DataFrame indexed by time."""
    return open_run(path).to_dataframe()


def events(path):
    """The /events table: step, source, status, action (JSON text), message."""
    with _open(path) as f:
        return read_table(f, "events")


def llm_calls(path):
    """The /llm/calls table of a mixed run (empty when there is none)."""
    with _open(path) as f:
        if "llm/calls" not in f:
            return pd.DataFrame()
        return read_table(f, "llm/calls")


def personas(path):
    """One row per persona: its attributes (name, role, provider, model, totals of calls, tokens, latency)."""
    with _open(path) as f:
        if "personas" not in f:
            return pd.DataFrame()
        rows = []
        for pid, g in f["personas"].items():
            row = {"id": pid}
            row.update({k: _text(v) for k, v in g.attrs.items()})
            rows.append(row)
        return pd.DataFrame(rows).set_index("id")


def snapshots(path, field):
    """A snapshot field as a DataArray [time, y, x] on a grid or [time, agent] otherwise."""
    with _open(path) as f:
        d = f["snapshots"][field]
        t = f["snapshots/time"][:]
        dims = ("time", "y", "x") if d.ndim == 3 else ("time", "agent")
        return xr.DataArray(d[:], dims=dims, coords={"time": t}, name=field)


def sweep_table(path):
    """/sweep/table of a sweep file: one row per run (id, seed, status, varied keys, final metrics)."""
    with _open(path) as f:
        t = read_table(f, "sweep/table")
    return t.drop(columns=["id"]).rename(columns={"run": "id"}).set_index("id")


def sweep_metric(path, name):
    """One metric of every run of a sweep as a DataArray [run, time] (runs of different lengths padded with NaN)."""
    table = sweep_table(path)
    series = []
    with _open(path) as f:
        for rid in table.index:
            g = f["runs"][rid]
            series.append(pd.Series(g["metrics"][name][:], index=g["time"][:]))
    frame = pd.concat(series, axis=1, keys=list(table.index)).T
    da = xr.DataArray(frame.values, dims=("run", "time"), coords={"run": list(table.index), "time": frame.columns},
                      name=name)
    for col in table.columns:  # the run's parameters as coordinates along `run`
        da = da.assign_coords({col: ("run", table[col].values)})
    return da
