#!/usr/bin/env python3
"""Time split per build step from a Bazel --profile (JSON trace, .gz or not).

  tools/bench/profile-split.py PROFILE...

Prints every executed action (seconds, mnemonic, output) sorted by package,
then the total action seconds per package and per mnemonic. Cache hits are
not actions in the profile, so a warm build lists only what ran.
"""
import collections
import gzip
import json
import re
import sys


def events(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        data = json.load(f)
    return data["traceEvents"] if isinstance(data, dict) else data


def main(paths):
    for path in paths:
        actions = []
        for e in events(path):
            if e.get("cat") != "action processing" or "dur" not in e:
                continue
            mnemonic = e.get("args", {}).get("mnemonic", "?")
            if mnemonic in ("BazelWorkspaceStatusAction", "Symlink", "FileWrite", "TemplateExpand"):
                continue
            out = e.get("name", "").split()[-1]
            m = re.search(r"bazel-out/[^/]+/bin/(.*)/[^/]+$", out)
            pkg = m.group(1) if m else "?"
            actions.append((pkg, mnemonic, e["dur"] / 1e6, out.rsplit("/", 1)[-1]))
        print(f"== {path}: {len(actions)} actions")
        for pkg, mnemonic, sec, name in sorted(actions):
            print(f"{sec:8.1f} s  {mnemonic:12s} {pkg}/{name}")
        for title, key in (("package", 0), ("mnemonic", 1)):
            totals = collections.defaultdict(float)
            for a in actions:
                totals[a[key]] += a[2]
            print(f"-- action seconds per {title}")
            for k, v in sorted(totals.items(), key=lambda kv: -kv[1]):
                print(f"{v:8.1f} s  {k}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
