"""machine.py -- the machine's state beside a benchmark's figures, and whether a run is too
noisy to judge.

A figure measured on a shared machine says as much about the neighbours as about Herald, so
every benchmark prints, before and after its figures: the load averages, the CPU time stolen
by the hypervisor and the time the CPUs were busy (both from /proc/stat deltas over the run),
an fsync's latency in the benchmark's own folder (a few timed 4 KiB write + fsync), and the
spread of the baseline's runs (max / min). The verdict is "too noisy to judge" when any of
these crosses its threshold (THRESHOLDS, also in docs/performance.md):

  load_per_cpu     the 1-minute load before the run, per CPU: above 0.5 the neighbours held
                   at least half the machine while the benchmark started
  steal_pct        CPU time stolen over the run, in % of all CPU time: above 2 %
  baseline_spread  the baseline's slowest run against its fastest (max / min): above 1.15,
                   the same code varied by more than 15 %, so a ratio to it means little
  fsync_p50_ms     the median fsync in the benchmark's folder: above 10 ms the disk is
                   contended (it weighs on commits and on the latency figures)
  cpu_lost_pct     the share of a second that a process spinning on each CPU did not get
                   (gaps of 0.1 ms or more between two reads of the clock), on the worst CPU,
                   before or after the run: above 2 % something else held that CPU (other
                   programs, kernel threads, interrupts, or a hypervisor that does not report
                   its steal: on this machine's VM steal reads 0 while one CPU loses 0.75 % in
                   gaps of up to 4 ms, which is what sets the latency's p99.9)
"""
import json
import os
import statistics
import sys
import time

THRESHOLDS = {"load_per_cpu": 0.5, "steal_pct": 2.0, "baseline_spread": 1.15,
              "fsync_p50_ms": 10.0, "cpu_lost_pct": 2.0}


def _cpu_times():
    """The aggregate 'cpu' line of /proc/stat: user nice system idle iowait irq softirq steal."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return [int(x) for x in fields[1:9]]


def fsync_ms(folder, count=20):
    """Median and max ms of count write(4 KiB) + fsync of one file in folder (removed)."""
    path = os.path.join(folder, f".fsync-probe-{os.getpid()}")
    block = b"\0" * 4096
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(count):
            t = time.perf_counter()
            os.write(fd, block)
            os.fsync(fd)
            times.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    return {"p50_ms": round(statistics.median(times), 3), "max_ms": round(max(times), 3)}


def _spin(seconds, gap_ns):
    """Reads the clock for seconds; returns the gaps of gap_ns or more between two reads."""
    now = time.perf_counter_ns
    last = now()
    end = last + int(seconds * 1e9)
    gaps = []
    while last < end:
        t = now()
        if t - last >= gap_ns:
            gaps.append(t - last)
        last = t
    return gaps


def cpu_gaps(seconds=1.0):
    """Per CPU, what a process spinning on it for seconds (all CPUs at once) did not get:
    {cpu: {lost_pct, max_ms, over_1ms}}, or {cpu: None} where the probe could not run there
    (not "nothing lost"). A gap of 0.1 ms or more between two reads of the clock is time the
    CPU ran something else or was taken away by the hypervisor."""
    children = {}
    for cpu in sorted(os.sched_getaffinity(0)):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                os.sched_setaffinity(0, {cpu})
                gaps = _spin(seconds, 100_000)
                os.write(w, json.dumps(gaps).encode())
            finally:
                os._exit(0)
        os.close(w)
        children[cpu] = (pid, r)
    res = {}
    for cpu, (pid, r) in children.items():
        with os.fdopen(r, "rb") as f:
            data = f.read()
        os.waitpid(pid, 0)
        if not data:
            res[str(cpu)] = None
            continue
        gaps = json.loads(data)
        res[str(cpu)] = {"lost_pct": round(100 * sum(gaps) / (seconds * 1e9), 2),
                         "max_ms": round(max(gaps, default=0) / 1e6, 3),
                         "over_1ms": sum(1 for g in gaps if g >= 1_000_000)}
    return res


def snapshot(folder):
    """The machine now: load averages, CPU count, /proc/stat's CPU times, an fsync's latency,
    and what a spinning process does not get of each CPU over a second."""
    return {"at": time.time(), "load": [round(x, 2) for x in os.getloadavg()],
            "cpus": os.cpu_count(), "cpu_times": _cpu_times(), "fsync": fsync_ms(folder),
            "cpu_gaps": cpu_gaps()}


def spread(values):
    """{min, max, ratio: max / min} of a list of positive figures (ratio 1.0 for one)."""
    lo, hi = min(values), max(values)
    return {"min": lo, "max": hi, "ratio": round(hi / lo, 3) if lo > 0 else None}


def verdict(before, after, baseline_runs=None):
    """The state over the run from its two snapshots: steal and busy %, the baseline's spread,
    and the verdict with the thresholds it crossed (empty: fit to judge)."""
    delta = [b - a for a, b in zip(before["cpu_times"], after["cpu_times"])]
    total = sum(delta) or 1
    idle = delta[3] + delta[4]
    keys = ("load", "cpus", "fsync", "cpu_gaps")
    state = {"before": {k: before[k] for k in keys if k in before},
             "after": {k: after[k] for k in keys if k in after},
             "seconds": round(after["at"] - before["at"], 1),
             "steal_pct": round(100 * delta[7] / total, 2),
             "busy_pct": round(100 * (total - idle) / total, 1),
             "iowait_pct": round(100 * delta[4] / total, 2),
             "thresholds": THRESHOLDS}
    crossed = []
    per_cpu = before["load"][0] / (before["cpus"] or 1)
    if per_cpu > THRESHOLDS["load_per_cpu"]:
        crossed.append(f"load {before['load'][0]} on {before['cpus']} CPUs before the run "
                       f"({per_cpu:.2f} per CPU > {THRESHOLDS['load_per_cpu']})")
    if state["steal_pct"] > THRESHOLDS["steal_pct"]:
        crossed.append(f"steal {state['steal_pct']} % > {THRESHOLDS['steal_pct']} %")
    if baseline_runs:
        state["baseline_spread"] = spread(baseline_runs)
        ratio = state["baseline_spread"]["ratio"]
        if ratio is not None and ratio > THRESHOLDS["baseline_spread"]:
            crossed.append(f"baseline spread {ratio} (max/min) > "
                           f"{THRESHOLDS['baseline_spread']}")
    fs = max(before["fsync"]["p50_ms"], after["fsync"]["p50_ms"])
    if fs > THRESHOLDS["fsync_p50_ms"]:
        crossed.append(f"fsync p50 {fs} ms > {THRESHOLDS['fsync_p50_ms']} ms")
    lost = [(g["lost_pct"], cpu, when) for when, snap in (("before", before), ("after", after))
            for cpu, g in snap.get("cpu_gaps", {}).items() if g]
    if lost and max(lost)[0] > THRESHOLDS["cpu_lost_pct"]:
        pct, cpu, when = max(lost)
        crossed.append(f"CPU {cpu} lost {pct} % of a second {when} the run > "
                       f"{THRESHOLDS['cpu_lost_pct']} %")
    state["too_noisy"] = bool(crossed)
    state["verdict"] = "too noisy to judge" if crossed else "quiet enough to judge"
    state["crossed"] = crossed
    return state


def show(label, snap, out=sys.stderr):
    """One line of a snapshot."""
    gaps = "; ".join(f"CPU {cpu} lost {g['lost_pct']} %, longest gap {g['max_ms']} ms" if g
                     else f"CPU {cpu} not measured" for cpu, g in snap.get("cpu_gaps", {}).items())
    print(f"# machine {label}: load {' '.join(str(x) for x in snap['load'])} on "
          f"{snap['cpus']} CPUs; fsync (4 KiB) p50 {snap['fsync']['p50_ms']} ms, "
          f"max {snap['fsync']['max_ms']} ms; {gaps}", file=out)


def show_verdict(state, out=sys.stderr):
    """The lines of a verdict: steal, busy, the baseline's spread, the verdict and why."""
    print(f"# machine over the run ({state['seconds']} s): steal {state['steal_pct']} %, busy "
          f"{state['busy_pct']} %, iowait {state['iowait_pct']} %", file=out)
    if "baseline_spread" in state:
        s = state["baseline_spread"]
        print(f"# baseline spread: min {s['min']:,} max {s['max']:,} ratio {s['ratio']}",
              file=out)
    why = "; ".join(state["crossed"]) if state["crossed"] else "no threshold crossed"
    print(f"# verdict: {state['verdict']} ({why})", file=out)
