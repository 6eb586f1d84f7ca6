"""Secret scanning (README "Tests"): fails when a tracked file carries something that looks like a
credential and is not in the allow-list.

Reads NUL-separated paths (``git ls-files -z``) on stdin, scans them with Yelp's detect-secrets
(its default plugins and filters: AWS, GitHub, Slack, Stripe, private keys, JWTs, basic-auth URLs,
high-entropy strings, ``password = ...``-style keywords, ...), and compares each finding with the
allow-list: a TAB-separated file of ``path, type, hashed secret, reason`` lines (``#`` starts a
comment). Exit 0: nothing new; 1: new findings, each printed with the line to add to the allow-list if
it is a test fixture (with a reason); 2: usage or allow-list error.

Run through scripts/secrets.sh, which installs the pinned detect-secrets first.
"""

import os
import sys

from detect_secrets import SecretsCollection
from detect_secrets.settings import default_settings


def load_allowlist(path):
    entries = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != 4 or not fields[3].strip():
                sys.exit(f"{path}:{number}: expected 4 TAB-separated fields (path, type, hashed secret, reason)")
            entries[(fields[0], fields[1], fields[2])] = fields[3]
    return entries


def main():
    if len(sys.argv) != 2:
        print("usage: git ls-files -z | secrets_scan.py ALLOWLIST", file=sys.stderr)
        return 2
    allowlist = load_allowlist(sys.argv[1])
    paths = [p.decode("utf-8", "surrogateescape") for p in sys.stdin.buffer.read().split(b"\0") if p]
    # Tracked but deleted in the work tree, or a submodule: nothing to read.
    paths = [p for p in paths if os.path.isfile(p) and not os.path.islink(p)]
    found = SecretsCollection()
    with default_settings():
        found.scan_files(*paths, num_processors=min(4, os.cpu_count() or 1))
    new, seen = [], set()
    for filename, secret in found:
        key = (filename, secret.type, secret.secret_hash)
        seen.add(key)
        if key not in allowlist:
            new.append((filename, secret.line_number, secret.type, secret.secret_hash))
    for key in sorted(set(allowlist) - seen):
        print(f"note: allow-list entry no longer found (remove it): {' '.join(key)}", file=sys.stderr)
    print(f"secrets: scanned {len(paths)} tracked files; {len(seen)} findings, {len(seen) - len(set(k[:3] for k in new))} allow-listed")
    if not new:
        return 0
    print(f"secrets: {len(new)} finding(s) not in {sys.argv[1]}:", file=sys.stderr)
    for filename, line, kind, digest in sorted(new):
        print(f"  {filename}:{line}: {kind}", file=sys.stderr)
    print(
        "Remove the credential (and rotate it if it was ever committed or pushed). If it is a test fixture, add a line\n"
        f"to {sys.argv[1]} (path, type, hashed secret, reason; TAB-separated):",
        file=sys.stderr,
    )
    for filename, _line, kind, digest in sorted(new):
        print(f"{filename}\t{kind}\t{digest}\t<why this is not a credential>", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
