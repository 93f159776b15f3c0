#!/usr/bin/python3
"""The tree shows the seed's process split; this keeps it honest.

src/cli      the command line                 may include anything below
src/master   the master process               master, worker, core, protocol, config
src/worker   a worker process                 worker, core, protocol, config
src/core     what both processes use          core, config
src/protocol parsers and response heads       protocol
src/config   the config reader                config

A file includes only from its own folder or from folders below it: no worker
file includes a master header, and the config reader depends on nothing.
Exits 1 and names every include that breaks the rule.
"""
import pathlib
import re
import sys

ALLOWED = {
    "cli": {"cli", "master", "worker", "core", "protocol", "config"},
    "master": {"master", "worker", "core", "protocol", "config"},
    "worker": {"worker", "core", "protocol", "config"},
    "core": {"core", "config"},
    "protocol": {"protocol"},
    "config": {"config"},
}

src = pathlib.Path(__file__).resolve().parents[1] / "src"
bad = []
folders = sorted(p.name for p in src.iterdir() if p.is_dir())
for folder in folders:
    if folder not in ALLOWED:
        bad.append(f"src/{folder}/: a folder the layering rule does not know; add it to tests/layers.py")
        continue
    for f in sorted((src / folder).iterdir()):
        for n, line in enumerate(f.read_text().splitlines(), 1):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if not m:
                continue
            target = m.group(1).split("/")
            if len(target) < 2:
                bad.append(f"{f.relative_to(src.parent)}:{n}: include \"{m.group(1)}\" names no folder")
            elif target[0] != "smooth" and target[0] not in ALLOWED[folder]:
                bad.append(f"{f.relative_to(src.parent)}:{n}: {folder}/ may not include {m.group(1)}")
for b in bad:
    print(b)
print(f"layers: {len(folders)} folders checked, {len(bad)} problems")
sys.exit(1 if bad else 0)
