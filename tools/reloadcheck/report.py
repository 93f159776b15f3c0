"""report: the table, the method line under it, and what each profile found."""

HEADER = ["profile", "requests", "failed", "retries", "p99 ms", "ratio", "p99.9 ms", "max ms", "req/s",
          "new version ms", "done ms", "verdict"]


def fmt_int(n):
    return "{:,}".format(n)


def fmt_ms(x):
    if x is None:
        return "-"
    return "%.2f" % x if x < 1 else "%.1f" % x if x < 100 else "%.0f" % x


def fmt_rate(x):
    if x is None:
        return "-"
    return "%.1fk" % (x / 1000) if x >= 10000 else "%.0f" % x


def fmt_spread(s):
    return "-" if not s else "%s/%s/%s" % (fmt_ms(s["min"]), fmt_ms(s["median"]), fmt_ms(s["max"]))


def pair(steady, under, fmt):
    return "%s/%s" % (fmt(steady), fmt(under))


def row(r):
    s, u = r["steady"]["latency_ms"], r["under_reloads"]["latency_ms"]
    by_phase = r["retries_by_phase"]
    ratio = r["p99_ms"]["ratio"]
    return [r["profile"], fmt_int(r["requests"]), fmt_int(r["failed"]),
            "/".join(fmt_int(by_phase[p]["total"]) for p in ("steady", "reloading", "between")),
            pair(s["p99"], u["p99"], fmt_ms), "%.2fx" % ratio if ratio else "-",
            pair(s["p999"], u["p999"], fmt_ms), pair(s["max"], u["max"], fmt_ms),
            pair(r["steady"]["rps"], r["reloading"]["rps"], fmt_rate),
            fmt_spread(r["new_version_after_ms"]), fmt_spread(r["done_after_ms"]), r["verdict"]]


def method_line(results):
    m = results["method"]
    return ("method: per profile %g s steady, then %s under load (%sreload, complete when %s, within %g s; "
            "then %g s of load before the next); %d clients (sparse %d); stall: max over steady max + %d ms, or "
            "req/s while reloading down over %.0f%%;%s %s cores, load average %s at the start, loopback, %.0f s"
            % (m["steady_s"], "1 reload" if m["reloads_per_profile"] == 1 else "%d reloads" % m["reloads_per_profile"],
               "deploy, " if results["deploy_command"] else "", m["completion"], m["done_timeout_s"], m["gap_s"],
               m["clients"], m["clients"] * 4, m["stall_ms"], 100 * m["stall_drop"],
               " --strict (a retry is a failure);" if m["strict"] else "", m["cores"], m["load_average"],
               results["runtime_s"]))


def table(results):
    rows = [row(r) for r in results["profiles"]]
    widths = [max(len(x[i]) for x in [HEADER] + rows) for i in range(len(HEADER))]
    lines = []
    for cells in [HEADER] + rows:
        out = [cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:-1], widths[1:-1])] + [cells[-1]]
        lines.append("  ".join(out).rstrip())
    lines.append("columns: retries steady/reloading/between; p99, p99.9, max: steady/under reloads; req/s: "
                 "steady/while reloading; new version (the first fresh answer from it) and done (the completion "
                 "check) after the reload command's start, ms min/median/max")
    lines.append(method_line(results))
    for r in results["profiles"]:
        for f in r["findings"]:
            lines.append("%s: %s: %s" % (r["profile"], f["verdict"], f["text"]))
        lines.extend(r["notes"])
    lines.extend(results["problems"])
    return "\n".join(lines)
