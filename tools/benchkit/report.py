"""report: rows of figures, their targets and verdicts, and the table.

A row holds one figure per round for smooth and for nginx; the rounds ran
interleaved (smooth, nginx, smooth, nginx...), so round i of one server is
paired with round i of the other. A cell shows the median and the spread
(min-max) of the rounds; smooth/nginx is the median (min-max) of the per-round
ratios. A target is checked on every round (pair):

  PASS          every round meets it
  FAIL          no round meets it
  within noise  some do, some do not: the spread of the rounds overlaps it
"""

import statistics

PASS, FAIL, NOISE, INFO, NO_NGINX = "PASS", "FAIL", "within noise", "", "n/a (no nginx)"


# ---------------------------------------------------------------- targets

class Target:
    """text: what the table says; check(s, n): does round (s, n) meet it?
    needs_nginx: without nginx figures there is nothing to check against."""

    def __init__(self, text, check, needs_nginx):
        self.text, self.check, self.needs_nginx = text, check, needs_nginx


def at_most(limit, text):
    return Target(text, lambda s, n: s <= limit, False)


def ratio_at_least(x, text):
    return Target(text, lambda s, n: n > 0 and s / n >= x, True)


def ratio_at_most(x, text):
    return Target(text, lambda s, n: n > 0 and s / n <= x, True)


def both(a, b, text):
    return Target(text, lambda s, n: a.check(s, n) and b.check(s, n), a.needs_nginx or b.needs_nginx)


def verdict(target, smooth, nginx):
    """PASS / FAIL / within noise over the rounds; INFO without a target."""
    if target is None or not smooth:
        return INFO
    if target.needs_nginx and len(nginx or []) < len(smooth):
        return NO_NGINX
    results = [target.check(s, nginx[i] if nginx else None) for i, s in enumerate(smooth)]
    if all(results):
        return PASS
    if not any(results):
        return FAIL
    return NOISE


# ---------------------------------------------------------------- numbers

def fmt_int(x):
    return "{:,}".format(int(round(x)))


def fmt_ms(x):
    if x is None:
        return "?"
    if x < 1:
        return "%.3f" % x
    if x < 100:
        return "%.1f" % x
    return "%.0f" % x


def fmt_2(x):
    return "%.2f" % x


def fmt_1(x):
    return "%.1f" % x


def spread(values, fmt):
    """"median (min-max)" of the rounds, or one value."""
    if not values:
        return "-"
    med = fmt(statistics.median(values))
    lo, hi = fmt(min(values)), fmt(max(values))
    return med if lo == hi else "%s (%s-%s)" % (med, lo, hi)


def three(values, fmt=fmt_ms):
    """min / median / max, for the reload timings."""
    if not values:
        return "-"
    return "%s / %s / %s" % (fmt(min(values)), fmt(statistics.median(values)), fmt(max(values)))


# ---------------------------------------------------------------- rows

class Row:
    """One line of the table. smooth / nginx: a figure per round (or None);
    ratio: paired smooth_i / nginx_i unless paired=False. The cells can be
    given as text instead (the reload rows' aggregates), with their verdict."""

    def __init__(self, key, label, fmt, smooth=None, nginx=None, target=None, paired=True,
                 cells=None, fixed_verdict=None, note=""):
        self.key, self.label, self.fmt = key, label, fmt
        self.smooth, self.nginx, self.target = smooth or [], nginx or [], target
        self.paired = paired
        self.cells = cells  # (smooth text, nginx text, ratio text) or None
        self.fixed_verdict = fixed_verdict
        self.note = note  # the target column of a row without a target

    def ratios(self):
        if not self.paired or not self.smooth or not self.nginx:
            return []
        return [s / n for s, n in zip(self.smooth, self.nginx) if n]

    def verdict(self):
        if self.fixed_verdict is not None:
            return self.fixed_verdict
        return verdict(self.target, self.smooth, self.nginx)

    def texts(self):
        if self.cells:
            return self.cells
        return (spread(self.smooth, self.fmt), spread(self.nginx, self.fmt) if self.nginx else "-",
                spread(self.ratios(), fmt_2) if self.ratios() else "")

    def as_json(self):
        out = {"label": self.label, "smooth": self.smooth, "nginx": self.nginx or None,
               "target": self.target.text if self.target else None, "verdict": self.verdict()}
        if self.ratios():
            out["ratios"] = [round(r, 4) for r in self.ratios()]
        if self.cells:
            out["cells"] = list(self.cells)
        return out


def table(rows):
    header = ("", "smooth", "nginx", "smooth/nginx", "target", "verdict")
    lines = [header] + [(r.label,) + tuple(r.texts()) + ((r.target.text if r.target else r.note), r.verdict())
                        for r in rows]
    widths = [max(len(line[i]) for line in lines) + 2 for i in range(len(header))]
    return "\n".join("".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines)


def noise_lines(rows):
    noisy = [r.label.strip() for r in rows if r.verdict() == NOISE]
    if not noisy:
        return ["within noise: none (every row's rounds are all on one side of its target)"]
    return ["within noise (the rounds' spread overlaps the target): " + "; ".join(noisy)]
