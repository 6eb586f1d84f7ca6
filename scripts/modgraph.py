#!/usr/bin/env python3
"""The module graph of each crate in the workspace, read from the `crate::` and `super::` paths in
its src/ (test modules excluded), and every import circle in it: a set of modules that import each
other round (a strongly connected component of more than one module). Exits 1 if there is one.

Usage: scripts/modgraph.py [ROOT] [-v]     (-v also prints each module's edges)

scripts/test.sh runs it (phase "structure"): a module that imports one that imports it back cannot be
read, tested or moved on its own.
"""
import argparse
import glob
import os
import re
import sys

# `crate::a::{b, c::d}`, `crate::a::b`, `super::a::b`
PATH = re.compile(r"crate::((?:\w+::)*)\{([^}]*)\}|crate::((?:\w+::)*\w+)|super::((?:\w+::)*\w+)")


def crates(root):
    for manifest in sorted(glob.glob(f"{root}/**/Cargo.toml", recursive=True)):
        crate = os.path.dirname(manifest)
        if "/target" in crate or "node_modules" in crate:
            continue
        if os.path.isdir(os.path.join(crate, "src")):
            yield crate


def module_name(src, path):
    parts = os.path.relpath(path, src)[: -len(".rs")].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return "::".join(parts) or "crate"


def longest_module(segments, modules):
    """The longest prefix of `segments` that names a module, or None."""
    for k in range(len(segments), 0, -1):
        name = "::".join(segments[:k])
        if name in modules:
            return name
    return None


def edges_of(module, path, modules):
    text = open(path, encoding="utf-8").read()
    text = text.split("#[cfg(test)]")[0]  # a file's test module is not part of the graph
    parent = module.split("::")[:-1]
    targets = set()
    for m in PATH.finditer(text):
        if m.group(2) is not None:  # a brace group: each item, and the prefix itself
            prefix = m.group(1).split("::")[:-1]
            items = [x.strip() for x in m.group(2).split(",")]
            candidates = [prefix + x.split("::") for x in items if x and x != "self"] + [prefix]
        elif m.group(3):
            candidates = [m.group(3).split("::")]
        else:
            candidates = [parent + m.group(4).split("::")]
        for segments in candidates:
            target = longest_module(segments, modules)
            if target and target != module:
                targets.add(target)
    # `use crate::rules;` then `rules::rage::run(..)`: the submodule named through the alias.
    for target in list(targets):
        alias = target.split("::")[-1]
        for m in re.finditer(r"\b" + alias + r"::(\w+)", text):
            sub = f"{target}::{m.group(1)}"
            if sub in modules and sub != module:
                targets.add(sub)
    targets.discard("crate")
    return targets


def circles(edges):
    """Tarjan's strongly connected components with more than one member."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    sys.setrecursionlimit(10_000)

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("root", nargs="?", default=".")
    args.add_argument("-v", "--verbose", action="store_true", help="print each module's edges")
    opts = args.parse_args()
    total = 0
    for crate in crates(opts.root):
        src = os.path.join(crate, "src")
        files = glob.glob(f"{src}/**/*.rs", recursive=True)
        modules = {module_name(src, f): f for f in files}
        edges = {m: edges_of(m, f, modules) for m, f in modules.items()}
        name = os.path.relpath(crate, opts.root)
        if opts.verbose:
            print(f"== {name}")
            for m in sorted(edges):
                print(f"  {m} -> {', '.join(sorted(edges[m])) or '-'}")
        for component in circles(edges):
            total += 1
            print(f"CYCLE in {name}: {' <-> '.join(component)}")
    print(f"{total} import circle(s)")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
