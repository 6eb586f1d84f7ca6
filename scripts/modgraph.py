#!/usr/bin/env python3
"""The module graph of each crate in the workspace, read from `crate::` and `super::` paths in its
src/ (test modules excluded). Prints every import circle between modules (a strongly connected
component of more than one module) and exits 1 if there is one; `-v` also prints each module's edges.

Usage: scripts/modgraph.py [ROOT] [-v]
"""
import os, re, sys, glob
root = sys.argv[1] if len(sys.argv) > 1 else '.'
crates = [os.path.dirname(p) for p in glob.glob(f'{root}/**/Cargo.toml', recursive=True) if '/target' not in p and os.path.isdir(os.path.join(os.path.dirname(p), 'src'))]
def modname(src, path):
    rel = os.path.relpath(path, src)[:-3]
    parts = rel.split(os.sep)
    if parts[-1] in ('mod', 'lib', 'main'): parts = parts[:-1]
    return '::'.join(parts) or 'crate'
total = 0
for c in sorted(crates):
    src = os.path.join(c, 'src')
    files = [f for f in glob.glob(f'{src}/**/*.rs', recursive=True)]
    mods = {modname(src, f): f for f in files}
    edges = {m: set() for m in mods}
    for m, f in mods.items():
        text = open(f).read()
        # drop test modules
        text = re.split(r'#\[cfg\(test\)\]', text)[0]
        for mm in re.finditer(r'crate::((?:\w+::)*)\{([^}]*)\}|crate::((?:\w+::)*\w+)|super::((?:\w+::)*\w+)', text):
            if mm.group(2) is not None or mm.group(3):
                if mm.group(2) is not None:
                    prefix = mm.group(1).split('::')[:-1]
                    cands = [prefix + x.strip().split('::') for x in mm.group(2).split(',') if x.strip() and x.strip() != 'self'] + [prefix]
                else:
                    cands = [mm.group(3).split('::')]
                for segs in cands:
                    # longest prefix that is a module
                    for k in range(len(segs), 0, -1):
                        t = '::'.join(segs[:k])
                        if t in mods:
                            if t != m: edges[m].add(t)
                            break
            else:
                parent = '::'.join(m.split('::')[:-1]) if not f.endswith('mod.rs') else '::'.join(m.split('::')[:-1])
                segs = mm.group(4).split('::')
                for k in range(len(segs), 0, -1):
                    t = '::'.join(([parent] if parent else []) + segs[:k])
                    if t in mods:
                        if t != m: edges[m].add(t)
                        break
        # `use crate::rules;` then `rules::rage::run(..)`: an edge to the submodule named through the alias.
        for t in list(edges[m]):
            alias = t.split('::')[-1]
            for mm in re.finditer(r'\b' + alias + r'::(\w+)', text):
                sub = f'{t}::{mm.group(1)}'
                if sub in mods and sub != m:
                    edges[m].add(sub)
    # tarjan
    idx = {}; low = {}; st = []; on = set(); sccs = []; i = [0]
    sys.setrecursionlimit(10000)
    def sc(v):
        idx[v] = low[v] = i[0]; i[0] += 1; st.append(v); on.add(v)
        for w in edges[v]:
            if w not in idx: sc(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], idx[w])
        if low[v] == idx[v]:
            comp = []
            while True:
                w = st.pop(); on.discard(w); comp.append(w)
                if w == v: break
            sccs.append(comp)
    for v in edges:
        if v not in idx: sc(v)
    cyc = [s for s in sccs if len(s) > 1]
    name = os.path.relpath(c, root)
    if '-v' in sys.argv:
        print(f'== {name}')
        for m in sorted(edges):
            if m not in ('crate',): print(f'  {m} -> {", ".join(sorted(edges[m] - {"crate"})) or "-"}')
    for s in cyc:
        total += 1
        print(f'CYCLE in {name}: {" <-> ".join(sorted(s))}')
print(f'{total} cycle(s)')
sys.exit(1 if total else 0)
