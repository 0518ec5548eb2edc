"""Prints bench/vs_locust.sh's tables from its results.tsv.

Usage: python3 bench/vs_locust_summary.py RESULTS.tsv [DELAY] [GOOSE_NOTE]

Medians over runs; every figure comes from one column of the TSV (see
bench/README.md, "vs_locust.sh"), so a saved results dir can be summarised
again.
"""

import csv
import math
import statistics
import sys

path = sys.argv[1]
delay = sys.argv[2] if len(sys.argv) > 2 else ""
goose_note = sys.argv[3] if len(sys.argv) > 3 else ""
rows = list(csv.DictReader(open(path), delimiter="\t"))

TOOL_NAMES = {
    "stampede": "stampede",
    "locust-fast": "Locust FastHttpUser",
    "locust-http": "Locust HttpUser",
    "goose": "Goose",
}


def num(v):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def rps(r):
    w = num(r["win_s"])
    return num(r["win_requests"]) / w if w else None


def gen_pct(r):
    w = num(r["win_s"])
    return num(r["win_cpu_s"]) / w * 100 if w else None


def steady_rpc(r):
    c = num(r["win_cpu_s"])
    return num(r["win_requests"]) / c if num(r["win_s"]) and c and c > 0 else None


def whole_rpc(r):
    c = num(r["cpu_s"])
    return num(r["requests"]) / c if c else None


def srv_pct(r):
    w = num(r["win_s"])
    return num(r["win_srv_cpu_s"]) / w * 100 if w else None


def count_diff(rs):
    """The run whose tool count is furthest from the target's: (diff, percent)."""
    worst = (0, 0.0)
    for r in rs:
        n, own = num(r["requests"]), num(r["self_requests"])
        if n and own is not None and abs(n - own) >= abs(worst[0]):
            worst = (int(n - own), (n - own) / n * 100)
    return worst


def table(head, body):
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    for row in [head] + body:
        print("  ".join(str(x).rjust(w) if i else str(x).ljust(w) for i, (x, w) in enumerate(zip(row, widths))))


def runs_of(section, flow=None, tool=None, users=None, procs=None):
    return [
        r for r in rows
        if r["section"] == section
        and (flow is None or r["flow"] == flow)
        and (tool is None or r["tool"] == tool)
        and (users is None or r["users"] == str(users))
        and (procs is None or r["procs"] == str(procs))
    ]


def clean(rs):
    """The runs during which neither core stalled, and how many were left
    out; all runs (and the mark "all") when every one of them stalled."""
    ok = [r for r in rs if r.get("stalled") == "0"]
    if ok:
        return ok, str(len(rs) - len(ok))
    return rs, "all"


def tools_in(rs):
    seen = []
    for r in rs:
        if r["tool"] not in seen:
            seen.append(r["tool"])
    return seen


# --- Throughput ------------------------------------------------------------------

stampede_music_rps = None
stampede_music_rpc = None
for flow in ("music", "get"):
    rs_flow = runs_of("throughput", flow)
    if not rs_flow:
        continue
    target = "stampede-target (music API)" if flow == "music" else "nginx (GET /, 2-byte body)"
    users = rs_flow[0]["users"]
    print(f"\nflow {flow}: {target}, {users} users, tools in turns; medians of runs")
    print("RPS and gen CPU% over the steady window; req/CPU-s = target-counted requests / generator user+sys s")
    head = ["tool", "runs", "stalled", "RPS", "gen CPU%", "req/CPU-s", "min-max", "steady", "p50 ms", "p95 ms", "p99 ms",
            "RSS MB", "fails", "target-tool", "srv CPU%", "stampede x"]
    body, notes, medians = [], [], {}
    for tool in tools_in(rs_flow):
        rs, _ = clean(runs_of("throughput", flow, tool))
        medians[tool] = med(whole_rpc(r) for r in rs)
    for tool in tools_in(rs_flow):
        rs, stalled = clean(runs_of("throughput", flow, tool))
        rpc = [whole_rpc(r) for r in rs]
        m = medians[tool]
        diff, diff_pct = count_diff(rs)
        fails = sum(int(num(r["self_failures"]) or 0) for r in rs)
        srv_non2xx = sum(int(num(r["srv_non2xx"]) or 0) for r in rs)
        ratio = medians.get("stampede")
        body.append([
            TOOL_NAMES.get(tool, tool), len(rs), stalled, fmt(med(rps(r) for r in rs), ".0f"),
            fmt(med(gen_pct(r) for r in rs), ".0f"), fmt(m, ".0f"), f"{min(rpc):.0f}-{max(rpc):.0f}",
            fmt(med(steady_rpc(r) for r in rs), ".0f"),
            fmt(med(num(r["p50_ms"]) for r in rs), ".3g"), fmt(med(num(r["p95_ms"]) for r in rs), ".3g"),
            fmt(med(num(r["p99_ms"]) for r in rs), ".3g"),
            f"{max(int(r['max_rss_kb']) for r in rs) / 1024:.1f}", fails,
            f"{diff:+d} ({diff_pct:+.2f}%)", fmt(med(srv_pct(r) for r in rs), ".0f"),
            fmt(ratio / m if ratio and m else None, ".1f"),
        ])
        if tool == "stampede" and flow == "music":
            stampede_music_rps = med(rps(r) for r in rs)
            stampede_music_rpc = med(steady_rpc(r) for r in rs)
        if m and (max(rpc) - min(rpc)) / m > 0.15:
            notes.append(f"{tool}: req/CPU-s spread is {(max(rpc) - min(rpc)) / m * 100:.0f}% of the median: noisy, more REPEATS")
        g = med(gen_pct(r) for r in rs)
        if g is not None and g < 90:
            notes.append(f"{tool}: used {g:.0f}% of its core in the steady window: it waited for responses, "
                         "so its RPS is bounded by the round trip (the target, the wake-ups between cores), not its CPU")
        s = med(srv_pct(r) for r in rs)
        if s is not None and s >= 90:
            notes.append(f"{tool}: the target was at {s:.0f}% of its core: RPS is capped by it; compare req/CPU-s")
        if abs(diff_pct) > 1:
            notes.append(f"{tool}: its own count differs from the target's by {diff_pct:+.2f}% in one run")
        if fails or srv_non2xx:
            notes.append(f"{tool}: {fails} failures reported by the tool, {srv_non2xx} non-2xx answers counted by the target")
        if flow == "music":
            want = int(users)
            bad = [r for r in rs if num(r["logins_once"]) != want or num(r["logins_more"])]
            admin = sorted({r["admin_logins"] for r in rs})
            if bad:
                notes.append(f"{tool}: {len(bad)} runs where not every one of {want} accounts logged in exactly once "
                             f"(once: {[r['logins_once'] for r in bad]}, more: {[r['logins_more'] for r in bad]})")
            else:
                notes.append(f"{tool}: every run, {want} accounts logged in exactly once each; admin logins per run: {', '.join(admin)}")
    table(head, body)
    print("target-tool: the target's request count minus the tool's own (worst run); steady: req/CPU-s in the")
    print("steady window; stampede x: stampede's req/CPU-s over the tool's.")
    for note in notes:
        print(f"note: {note}")

# --- Locust processes ---------------------------------------------------------------

rs_proc = runs_of("processes")
if rs_proc:
    users = rs_proc[0]["users"]
    print(f"\nLocust FastHttpUser with --processes N, music flow, {users} users; all processes pinned to the one generator core")
    head = ["processes", "runs", "stalled", "RPS", "gen CPU%", "req/CPU-s", "steady", "p50 ms", "p95 ms", "p99 ms",
            "RSS MB (all)", "fails"]
    body, best = [], (None, 0.0)
    plain = runs_of("throughput", "music", "locust-fast")
    groups = [("none", plain)] + [
        (n, runs_of("processes", procs=n)) for n in sorted({int(r["procs"]) for r in rs_proc})
    ]
    groups = [(n, clean(rs)) for n, rs in groups if rs]
    for n, (rs, stalled) in groups:
        r_rps = med(rps(r) for r in rs)
        if r_rps and r_rps > best[1]:
            best = (n, r_rps)
        body.append([
            n, len(rs), stalled, fmt(r_rps, ".0f"), fmt(med(gen_pct(r) for r in rs), ".0f"),
            fmt(med(whole_rpc(r) for r in rs), ".0f"), fmt(med(steady_rpc(r) for r in rs), ".0f"),
            fmt(med(num(r["p50_ms"]) for r in rs), ".3g"), fmt(med(num(r["p95_ms"]) for r in rs), ".3g"),
            fmt(med(num(r["p99_ms"]) for r in rs), ".3g"),
            f"{max(int(num(r['win_rss_kb']) or 0) for r in rs) / 1024:.1f}",
            sum(int(num(r["self_failures"]) or 0) for r in rs),
        ])
    table(head, body)
    print("RSS MB (all): the resident memory of the master and every worker together, at the end of the window.")
    if stampede_music_rps:
        print(f"one stampede shard on the same flow: {stampede_music_rps:.0f} RPS "
              f"({stampede_music_rpc:.0f} requests per CPU-second in the steady window)")
        print(f"the most Locust reached: {best[1]:.0f} RPS (processes: {best[0]}), "
              f"{stampede_music_rps / best[1]:.1f}x less than one stampede shard. With one core for the generator,")
        print("more processes only share that core: Locust cannot use more than it either.")
        locust_rpc = max((med(steady_rpc(r) for r in rs) or 0) for _, (rs, _) in groups)
        if locust_rpc:
            print(f"estimate: at Locust's best {locust_rpc:.0f} requests per CPU-second, {stampede_music_rps:.0f} RPS "
                  f"would take {stampede_music_rps / locust_rpc:.1f} cores of Locust processes")
        if stampede_music_rpc and stampede_music_rpc > stampede_music_rps * 1.05:
            print(f"and a shard using its whole core ({stampede_music_rpc:.0f} requests per CPU-second; this one was "
                  f"not, it waited on the round trip) {stampede_music_rpc / locust_rpc:.1f} cores")

# --- Accuracy ---------------------------------------------------------------------------

rs_acc = [r for r in rows if r["section"].startswith("accuracy-")]
if rs_acc:
    print(f"\naccuracy: GET / on stampede-target --delay {delay}, no wait; each tool's percentiles beside the "
          "target's own (head parsed to response written); medians of runs")
    if delay.startswith("lognormal:"):
        _, median_ms, sigma = delay.split(":")
        median_ms = float(median_ms.removesuffix("ms"))
        sigma = float(sigma)
        want = [median_ms * math.exp(sigma * z) for z in (0.0, 1.644854, 2.326348)]
        print("the distribution drawn from: p50 {:.2f}, p95 {:.2f}, p99 {:.2f} ms".format(*want))
    drawn = [med(num(r[k]) for r in rs_acc) for k in ("drawn_p50_ms", "drawn_p95_ms", "drawn_p99_ms")]
    print("the delays drawn (target): p50 {}, p95 {}, p99 {} ms".format(*(fmt(v, ".2f") for v in drawn)))
    head = ["load", "tool", "users", "runs", "stalled", "RPS", "gen CPU%", "srv CPU%", "p50 tool/target", "p95 tool/target",
            "p99 tool/target", "p50 +ms", "p95 +ms", "p99 +ms", "fails"]
    body, notes = [], []
    for section in ("accuracy-low", "accuracy-high"):
        rs_s = [r for r in rs_acc if r["section"] == section]
        for tool in tools_in(rs_s):
            rs, stalled = clean([r for r in rs_s if r["tool"] == tool])
            cells, diffs = [], []
            for q in ("p50", "p95", "p99"):
                t = med(num(r[f"{q}_ms"]) for r in rs)
                s = med(num(r[f"srv_{q}_ms"]) for r in rs)
                cells.append(f"{fmt(t, '.2f')}/{fmt(s, '.2f')}")
                d = med((num(r[f"{q}_ms"]) - num(r[f"srv_{q}_ms"])) for r in rs
                        if num(r[f"{q}_ms"]) is not None and num(r[f"srv_{q}_ms"]) is not None)
                diffs.append(fmt(d, "+.2f"))
            g = med(gen_pct(r) for r in rs)
            body.append([section.removeprefix("accuracy-"), TOOL_NAMES.get(tool, tool), rs[0]["users"], len(rs), stalled,
                         fmt(med(rps(r) for r in rs), ".0f"), fmt(g, ".0f"), fmt(med(srv_pct(r) for r in rs), ".0f"),
                         *cells, *diffs, sum(int(num(r["self_failures"]) or 0) for r in rs)])
            diff, diff_pct = count_diff(rs)
            if abs(diff_pct) > 1:
                notes.append(f"{section} {tool}: its own count differs from the target's by {diff_pct:+.2f}% in one run")
    table(head, body)
    print("+ms: the tool's percentile minus the target's, median over runs (the client adds the loopback round")
    print("trip and its own parsing; a large or negative difference is the tool's error)")
    for note in notes:
        print(f"note: {note}")

print("\nstalled: runs left out of the medians because a core ran nothing of the bench's for over")
print("STALL_MAX_PCT of the run (the host's slow periods, see PERF-NOTES.md); \"all\": every run stalled, all kept.")

if goose_note:
    print(f"\nnote: {goose_note}")
