#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""scripts/check-layers.py - keep podlaned layered and every pinned map with one writer.

podlaned's folders are layers (userspace/podlaned/README.md). A file may include headers of its
own folder, of a lower layer, and of userspace/lib; never of a layer above it or of another
folder of its own layer. Calls follow includes (the build fails on an undeclared function),
so a .c file must not declare a non-static function itself to get around this.

Every pinned map has exactly one writer module: the one folder whose code opens it for writing
(loader_map_open(..., PIN_RW)) or creates it (bpf_map_create). Everyone else opens it
PIN_RDONLY, so the kernel refuses their writes. A skeleton's map fd (bpf_map__fd on
maps.podlane_*) or a bare bpf_obj_get would bypass that, and is refused here outside
datapath/loader.c. podlane-cni, podlanectl and userspace/lib write no map at all.

Usage: scripts/check-layers.py [--root DIR] [-v]
Prints TAP, one line per rule; exits 1 when a rule is broken.
"""
import argparse
import os
import re
import sys

# Top to bottom. Folders of one layer are peers: they may not include each other.
LAYERS = [
    ["main.c"],
    ["api"],
    ["sched"],
    ["sync"],
    ["anomaly", "recommend"],
    ["acct"],
    ["endpoint", "nodes", "flows"],
    ["lb", "ipam", "policy"],
    ["datapath"],
    ["core"],
]

# The one writer module of each pinned map that userspace writes. A map not listed here is
# written by BPF programs only; a userspace writer for it, or a second one for a listed map,
# is a change to think about, so it fails until this table says so.
WRITERS = {
    "podlane_eps": "datapath",
    "podlane_ep_meta": "datapath",
    "podlane_ep_stat": "datapath",
    "podlane_nodes": "nodes",
    "podlane_svc": "lb",
    "podlane_backend": "lb",
    "podlane_maglev": "lb",
    "podlane_affin": "lb",
    "podlane_ct": "lb",
    "podlane_cgacct": "acct",
    "podlane_remote": "sync",
    "podlane_ipcache": "policy",
    "podlane_policy": "policy",
    "podlane_ep_policy": "policy",
    "podlane_pol_rev": "policy",
    "podlane_pol_ct": "policy",
    # A ring buffer's consumer writes its position: flows/ is podlane_events' one consumer.
    "podlane_events": "flows",
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
MAP_NAME = re.compile(r'"(podlane_\w+)"|\b(PODLANE_\w+_MAP)\b')
ARGS = r"\(((?:[^()]|\([^()]*\))*)\)"	# a call's arguments, one level of parentheses inside
OPEN_CALL = re.compile(r"\b(?:loader_map_open|pin_map_open)\s*" + ARGS)
CREATE_CALL = re.compile(r"\bbpf_map_create\s*" + ARGS)


def layer_of(folder):
    for i, names in enumerate(LAYERS):
        if folder in names:
            return i
    return None


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def statements(text):
    """(line, statement) pairs: the text split at ';', '{' and '}', whitespace folded."""
    out, line, start, cur = [], 1, 1, []
    for ch in text:
        if ch == "\n":
            line += 1
        if ch in ";{}":
            out.append((start, " ".join("".join(cur).split())))
            cur, start = [], line
        else:
            if not cur or not "".join(cur).strip():
                start = line
            cur.append(ch)
    return out


class Check:
    def __init__(self, root, verbose):
        self.root = root
        self.verbose = verbose
        self.n = 0
        self.failed = 0

    def result(self, problems, desc):
        self.n += 1
        if problems:
            self.failed += 1
            print(f"not ok {self.n} - {desc}")
            for p in problems[:40]:
                print(f"# {p}")
        else:
            print(f"ok {self.n} - {desc}")

    def files(self, sub, exts=(".c", ".h")):
        base = os.path.join(self.root, sub)
        for d, _, names in os.walk(base):
            for name in sorted(names):
                if name.endswith(exts):
                    path = os.path.join(d, name)
                    yield os.path.relpath(path, self.root), open(path).read()


def map_macros(root):
    """PODLANE_*_MAP -> "podlane_*" from the one ABI header."""
    text = open(os.path.join(root, "bpf/podlane.h")).read()
    return dict(re.findall(r'#define\s+(PODLANE_\w+_MAP)\s+"(podlane_\w+)"', text))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    ap.add_argument("-v", action="store_true", help="list every writer found")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    c = Check(root, args.v)
    agent = "userspace/podlaned"
    agent_files = list(c.files(agent))
    lib_headers = {n for n in os.listdir(os.path.join(root, "userspace/lib")) if n.endswith(".h")}
    agent_headers = {os.path.basename(p) for p, _ in agent_files if p.endswith(".h")}

    # 1. Every podlaned file sits in a known layer.
    problems = []
    for path, _ in agent_files:
        rel = os.path.relpath(path, agent)
        folder = rel.split("/")[0] if "/" in rel else rel
        if layer_of(folder) is None:
            problems.append(f"{path}: folder '{folder}' is in no layer (scripts/check-layers.py)")
    c.result(problems, f"every podlaned file is in a layer ({len(agent_files)} files)")

    # 2. Includes point down.
    problems = []
    for path, text in agent_files:
        rel = os.path.relpath(path, agent)
        own = rel.split("/")[0] if "/" in rel else rel
        for inc in INCLUDE.findall(text):
            if "/" not in inc:
                if inc in agent_headers and inc not in lib_headers:
                    problems.append(f"{path}: #include \"{inc}\" must name its layer folder")
                continue
            folder = inc.split("/")[0]
            lo, li = layer_of(own), layer_of(folder)
            if li is None:
                problems.append(f"{path}: #include \"{inc}\": '{folder}' is no layer")
            elif folder != own and li <= lo:
                what = "a layer above" if li < lo else "a sibling module"
                problems.append(f"{path}: #include \"{inc}\" reaches {what} ('{own}' -> "
                                f"'{folder}')")
    c.result(problems, "podlaned's includes point down, never up or sideways")

    # 3. No function declared in a .c file (a way around the includes).
    problems = []
    proto = re.compile(r"^(?!static\b|typedef\b|extern\s+bool\b)[A-Za-z_][\w \*]*?\b(\w+)\s*\([^;{)]*\)"
                       r"\s*(__attribute__\s*\(\(.*\)\))?\s*;", re.M)
    for path, text in agent_files:
        if not path.endswith(".c"):
            continue
        body = strip_comments(text)
        for m in proto.finditer(body):
            if m.group(0).lstrip().startswith(("return", "if", "while", "for", "else")):
                continue
            problems.append(f"{path}: declares {m.group(1)}() itself; include its header")
    c.result(problems, "no .c file declares a function of another file")

    # 4. Lower code never includes the agent.
    problems = []
    for sub in ("userspace/lib", "userspace/cni", "userspace/podlanectl"):
        for path, text in c.files(sub):
            for inc in INCLUDE.findall(text):
                if "/" in inc and layer_of(inc.split("/")[0]) is not None:
                    problems.append(f"{path}: #include \"{inc}\" is podlaned's own")
    c.result(problems, "userspace/lib, podlane-cni and podlanectl include nothing of podlaned")

    # 5. One writer per pinned map.
    macros = map_macros(root)
    writers = {}
    problems = []
    for path, text in c.files("userspace", exts=(".c",)):
        body = strip_comments(text)
        rel = os.path.relpath(path, agent)
        module = rel.split("/")[0] if path.startswith(agent + "/") and "/" in rel else path
        for line, st in statements(body):
            opened = [args for args in OPEN_CALL.findall(st) if re.search(r"\bPIN_RW\b", args)]
            # A map created here and pinned (inner maps of a map-in-map are not pinned).
            opened += [args for args in CREATE_CALL.findall(st)
                       if any(b in macros or a in WRITERS for a, b in MAP_NAME.findall(args))]
            for args in opened:
                for a, b in MAP_NAME.findall(args):
                    n = a or macros.get(b)
                    if n:
                        writers.setdefault(n, set()).add((module, f"{path}:{line}"))
            if re.search(r"\bbpf_map__fd\s*\([^)]*maps\.podlane_", st) and \
               not path.endswith("datapath/loader.c"):
                problems.append(f"{path}:{line}: a skeleton's map fd; open the pin "
                                f"(loader_map_open) instead")
            if re.search(r"\bbpf_obj_get(_opts)?\s*\(", st) and path.startswith(agent + "/") \
               and not path.endswith("datapath/loader.c"):
                problems.append(f"{path}:{line}: bpf_obj_get; use loader_map_open or link_info")
            if re.search(r"\bbpf_map_(update|delete)_(elem|batch)\b|\bbpf_map_lookup_and_delete",
                         st) and path.startswith(("userspace/cni/", "userspace/podlanectl/")):
                problems.append(f"{path}:{line}: writes a map; only podlaned writes maps")
    for name, found in sorted(writers.items()):
        modules = {m for m, _ in found}
        where = ", ".join(sorted(w for _, w in found))
        want = WRITERS.get(name)
        if want is None:
            problems.append(f"{name}: written by {where}, but no writer is declared for it "
                            f"(WRITERS in scripts/check-layers.py)")
        elif modules != {want}:
            problems.append(f"{name}: one writer module expected ({want}/), found "
                            f"{', '.join(sorted(modules))} ({where})")
        elif c.verbose:
            print(f"# {name}: {where}")
    for name, want in sorted(WRITERS.items()):
        if name not in writers:
            problems.append(f"{name}: {want}/ should open it for writing and does not")
    c.result(problems, f"every pinned map has one writer module ({len(WRITERS)} maps written "
                       f"from userspace)")

    print(f"1..{c.n}")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
