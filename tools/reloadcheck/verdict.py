"""verdict: a profile's figures by phase, and what they say.

Phases: "steady" (its own run, no reload running), "reloading" (from a reload
command's start to the reload's completion) and "between" (the rest of the run
under reloads); "under reloads" is that whole run, reloading and between.

Verdicts, the first that holds:
  FAIL           a request failed (in any phase), a reload command failed, or
                 with --strict a request was retried
  NOT RELOADED   a reload did not complete within --done-timeout: the figures
                 under reloads are not given, since no reload took effect
  STALL          no request failed, but the reloads held requests: the max
                 latency under reloads exceeds the steady max by over --stall-ms,
                 or req/s while reloading fell below (1 - --stall-drop) x steady
                 (the defaults, 500 ms and 0.75, sit above what a reload's own
                 CPU costs a CPU-bound load on a small machine; the rule is
                 measured in docs/reload-check.md)
  NOT EXERCISED  the traffic did not have the profile's shape: a keep-alive
                 profile where, in the steady phase, under half the answers that
                 could come on a reused connection (all but each client's first)
                 did: the server closes after each answer
  PASS           none of these
FAIL, NOT RELOADED and STALL fail the run (exit 1); NOT EXERCISED does not.
"""

import statistics

from .load import CAUSES, FAILURE_KINDS, figures, versions_seen

ORDER = ("FAIL", "NOT RELOADED", "STALL", "NOT EXERCISED", "PASS")
FAILS_THE_RUN = ("FAIL", "NOT RELOADED", "STALL")
MIN_REUSED = 0.5           # a keep-alive profile needs this share of answers on reused connections
MIN_EXPECTED_REQUESTS = 50  # the req/s rule needs this many requests expected while reloading


def fmt(n):
    return "{:,}".format(n)


def plural(n, one, many=None):
    return "%s %s" % (fmt(n), one if n == 1 else many or one + "s")


def kinds_text(by_kind):
    return ", ".join("%d %s" % (v, k) for k, v in by_kind.items() if v)


def profile_result(profile, steady_report, reload_report, records, args, version_text, pending_completed=True):
    """The whole result of one profile: figures per phase, findings, verdict."""
    name, what, load_args, clients, keepalive_shape = profile
    steady = figures(steady_report, steady_report["seconds"])
    under = figures(reload_report, reload_report["seconds"])
    phases = reload_report.get("phases") or {}
    reloading = figures(phases.get("b") or {}, reload_report["reloading_s"])
    between = figures(phases.get("a") or {}, reload_report["between_s"])
    if version_text:
        steady["versions_seen"] = versions_seen(steady_report, version_text)
        under["versions_seen"] = versions_seen(reload_report, version_text)

    attempted = [r for r in records if r["command_ok"]]
    took_effect = bool(attempted) and all(r["completed"] for r in attempted)
    if not took_effect:  # no figures "during reloads" for reloads that did not happen
        for part in (under, reloading, between):
            part["rps"] = None
            part["latency_ms"] = {k: None for k in part["latency_ms"]}

    findings = []  # (verdict, text)
    failed = {k: steady["failed_by_kind"][k] + under["failed_by_kind"][k] for k in FAILURE_KINDS}
    total_failed = sum(failed.values())
    if total_failed:
        findings.append(("FAIL", "%s failed (%s): %d steady, %d while reloading, %d between reloads" % (
            plural(total_failed, "request"), kinds_text(failed), steady["failed"], reloading["failed"],
            between["failed"])))
    for r in records:
        if not r["command_ok"]:
            findings.append(("FAIL", r["problem"]))
    retries = steady["retries"] + under["retries"]
    if args.strict and retries:
        findings.append(("FAIL", "--strict: %s, each a failure for a client that does not retry"
                         % plural(retries, "retried request")))
    for r in attempted:
        if not r["completed"]:
            findings.append(("NOT RELOADED", r["problem"] + "; no figures under reloads are given" +
                             ("" if pending_completed else "; it did not complete with the load stopped either")))
        elif r.get("problem"):
            findings.append(("FAIL", r["problem"]))
    if took_effect:
        findings += stalls(steady, under, reloading, args)
    if keepalive_shape:
        findings += keepalive_shape_findings(name, steady, clients)

    verdict = min((v for v, _ in findings), key=ORDER.index, default="PASS")
    p99_s, p99_u = steady["latency_ms"]["p99"], under["latency_ms"]["p99"]
    return {
        "profile": name,
        "what": what,
        "loadgen": ["-c", str(clients)] + load_args,
        "requests": steady["requests"] + under["requests"],
        "failed": total_failed,
        "failed_by_kind": failed,
        "retries": retries,
        "retries_by_phase": {p: {"total": f["retries"], **f["retries_by_cause"]}
                             for p, f in (("steady", steady), ("reloading", reloading), ("between", between))},
        "p99_ms": {"steady": p99_s, "reloads": p99_u,
                   "ratio": round(p99_u / p99_s, 2) if p99_s and p99_u else None},
        "reloads_took_effect": took_effect,
        "reload_command_ms": spread([r["command_ms"] for r in records]),
        "new_version_after_ms": spread([r["new_version_ms"] for r in records if "new_version_ms" in r]),
        "done_after_ms": spread([r["done_ms"] for r in records if r["completed"]]),
        "reloads": records,
        "steady": steady,
        "under_reloads": under,
        "reloading": reloading,
        "between": between,
        "stall": stall_figures(steady, under, reloading) if took_effect else None,
        "findings": [{"verdict": v, "text": t} for v, t in findings],
        "problems": [t for v, t in findings if v in FAILS_THE_RUN],
        "notes": retry_notes(name, steady, reloading, between, args.strict),
        "verdict": verdict,
    }


def keepalive_shape_findings(name, steady, clients):
    """A keep-alive profile is exercised if, with no reload running, most
    answers that could come on a kept connection (all but each client's first)
    did."""
    could = steady["ok"] - clients
    if could <= 0:
        return [("NOT EXERCISED", "the steady phase had no second request on a connection (%d answers, %d clients): "
                 "make it longer (--steady)" % (steady["ok"], clients))]
    if steady["reused"] < MIN_REUSED * could:
        return [("NOT EXERCISED", "with no reload running, only %s of %s answers that could come on a kept "
                 "connection did: the server closes connections after an answer, so this was not %s traffic"
                 % (fmt(steady["reused"]), fmt(could), name))]
    return []


def stall_figures(steady, under, reloading):
    """How much the reloads held requests: the max latency under reloads beyond
    the steady max, and the share of the steady req/s lost while reloading (None
    when too few requests were expected while reloading to tell)."""
    max_s, max_u = steady["latency_ms"]["max"], under["latency_ms"]["max"]
    rps_s, rps_r = steady["rps"], reloading["rps"]
    judged = rps_s and rps_r is not None and rps_s * reloading["seconds"] >= MIN_EXPECTED_REQUESTS
    return {"max_over_steady_ms": round(max_u - max_s, 1) if max_s is not None and max_u is not None else None,
            "rps_drop": round(1 - rps_r / rps_s, 3) if judged else None}


def stalls(steady, under, reloading, args):
    out = []
    f = stall_figures(steady, under, reloading)
    if f["max_over_steady_ms"] is not None and f["max_over_steady_ms"] > args.stall_ms:
        out.append(("STALL", "max latency under reloads %.0f ms against %.0f ms steady: over %d ms more (--stall-ms)"
                    % (under["latency_ms"]["max"], steady["latency_ms"]["max"], args.stall_ms)))
    if f["rps_drop"] is not None and f["rps_drop"] > args.stall_drop:
        out.append(("STALL", "req/s while reloading %.0f against %.0f steady: down %.0f%%, more than %.0f%% "
                    "(--stall-drop)" % (reloading["rps"], steady["rps"], 100 * f["rps_drop"], 100 * args.stall_drop)))
    return out


def retry_notes(name, steady, reloading, between, strict):
    total = steady["retries"] + reloading["retries"] + between["retries"]
    if not total:
        return []
    causes = {c: steady["retries_by_cause"][c] + reloading["retries_by_cause"][c] + between["retries_by_cause"][c]
              for c in CAUSES}
    said = {"reset": "after a reset", "early_eof": "after an early EOF"}
    notes = ["%s: %s: %s steady, %s while reloading, %s between reloads (%s); each failed on a reused connection "
             "before any byte of the answer and succeeded on a new one; a client that does not retry sees %s fail%s"
             % (name, plural(total, "retried request"), fmt(steady["retries"]), fmt(reloading["retries"]),
                fmt(between["retries"]), ", ".join("%s %s" % (fmt(causes[c]), said[c]) for c in CAUSES if causes[c]),
                "it" if total == 1 else "them",
                "" if strict else " (--strict counts %s)" % ("it as a failure" if total == 1 else "them as failures"))]
    if steady["retries"]:
        def per_1000(part):
            return "%.1f" % (1000 * part["retries"] / part["requests"]) if part["requests"] else "-"
        notes.append("%s: %s in the steady phase, with no reload running: the server closes kept-alive connections "
                     "under clients without `Connection: close`; retries per 1,000 requests: %s steady, %s while "
                     "reloading, %s between reloads" % (name, plural(steady["retries"], "retry", "retries"),
                                                        per_1000(steady), per_1000(reloading), per_1000(between)))
    return notes


def spread(values):
    if not values:
        return None
    return {"min": round(min(values), 1), "median": round(statistics.median(values), 1),
            "max": round(max(values), 1)}
