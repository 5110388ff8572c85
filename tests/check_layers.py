#!/usr/bin/python3
"""Check the layer rule of rmscore's C sources (standard library only).

Layers, with one direction of dependency (CMakeLists.txt, rms_layer):

    base (src/base) <- io (io/) <- engine (src/engine), text (src/text) <- job (src/job) <- mpi (mpi/)
    <- cli (src/cli)

engine and text are siblings: neither may include the other.

  Check 1 (sources): every .c/.h under src/, io/, mpi/: each `#include "..."` names a path from the
          repository root (no `../`), that file exists, and its layer is the including file's layer or
          one below; `<mpi.h>` only in mpi/ and src/cli/. tests/*.c and benchmarks/*.c: root-relative
          includes of existing files (any layer).
  Check 2 (the checker can fail): the same checking function on synthetic trees in a temporary
          directory: every planted violation is reported, a clean tree reports none.
  Check 3 (the build enforces it, with --layer-trees): `cc -fsyntax-only -I <trees>/<layer>` on one-line
          files: an upward or sibling include must fail with "file not found" for that header, a
          permitted include must compile (or, for a layer whose every header needs hdf5.h/mpi.h from
          outside the default include path, `cc -MM -MG` must find every project header it reaches).
          Also: each tree holds exactly its own and the lower layers' folders.

Usage: /usr/bin/python3 tests/check_layers.py --root /work/main [--layer-trees BUILD/layers] [--cc cc]
Prints one PASS:/FAIL: line per rule, then "N passed, M failed"; exits 1 if anything failed.
"""

import argparse
import glob
import os
import re
import shlex
import subprocess
import sys
import tempfile

# ---------------------------------------------------------------- the layer table (keep in sync with CMakeLists.txt)
LAYER_ORDER = ["base", "io", "engine", "text", "job", "mpi", "cli"]
LAYER_DIR = {
    "base": "src/base",
    "io": "io",
    "engine": "src/engine",
    "text": "src/text",
    "job": "src/job",
    "mpi": "mpi",
    "cli": "src/cli",
}
LAYER_BELOW = {
    "base": [],
    "io": ["base"],
    "engine": ["base", "io"],
    "text": ["base", "io"],
    "job": ["base", "io", "engine", "text"],
    "mpi": ["base", "io", "engine", "text", "job"],
    "cli": ["base", "io", "engine", "text", "job", "mpi"],
}
ALLOWED = {layer: set(LAYER_BELOW[layer]) | {layer} for layer in LAYER_ORDER}
LAYER_TOPS = ["src", "io", "mpi"]          # folders whose .c/.h files must belong to a layer
FREE_DIRS = ["tests", "benchmarks"]        # may include any layer; root-relative includes only
MPI_LAYERS = {"mpi", "cli"}                # the only layers that may include <mpi.h>
SOURCE_EXTS = (".c", ".h")

# Rule names (the keys of check_sources' result), in print order.
R_UNASSIGNED = "every .c/.h under src/, io/, mpi/ belongs to a layer folder"
R_ROOTREL = "layer sources: includes name paths from the repository root (no ../)"
R_EXISTS = "layer sources: every included project file exists (path from the repository root)"
R_LAYER = "layer sources: includes only of the own layer or a layer below (engine/text siblings)"
R_MPI = "<mpi.h> is included only in mpi/ and src/cli/"
R_FREE_ROOTREL = "tests/*.c, benchmarks/*.c: includes name paths from the repository root (no ../)"
R_FREE_EXISTS = "tests/*.c, benchmarks/*.c: every included project file exists"
RULES = [R_UNASSIGNED, R_ROOTREL, R_EXISTS, R_LAYER, R_MPI, R_FREE_ROOTREL, R_FREE_EXISTS]


def layer_of(relpath):
    """Layer owning a repository-relative path, or None."""
    best = None
    for layer, d in LAYER_DIR.items():
        if relpath.startswith(d + "/") and (best is None or len(d) > len(LAYER_DIR[best])):
            best = layer
    return best


# ---------------------------------------------------------------- scanning
def strip_comments(text):
    """C text with comments blanked (newlines kept, so line numbers hold); string/char literals kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and i + 1 < n and text[i + 1] == "/":
            j = i + 2
            while j < n and text[j] != "\n":
                if text[j] == "\\" and j + 1 < n and text[j + 1] == "\n":
                    out.append("\n")   # a line comment continued by backslash-newline
                    j += 2
                    continue
                j += 1
            out.append(" ")
            i = j
        elif c == "/" and i + 1 < n and text[i + 1] == "*":
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(" " + "\n" * text.count("\n", i, j))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(text[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


INCLUDE_RE = re.compile(r'^\s*#\s*include(?:_next)?\b\s*(?:"([^"\n]*)"|<([^>\n]*)>|(.*))')


def scan_includes(path):
    """[(line, kind, name)]: kind '"' or '<', or '?' for a computed include (name = its text)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = strip_comments(f.read())
    result = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        start, logical = i + 1, lines[i]
        while logical.endswith("\\") and i + 1 < len(lines):   # backslash-newline splicing
            i += 1
            logical = logical[:-1] + lines[i]
        i += 1
        m = INCLUDE_RE.match(logical)
        if not m:
            continue
        if m.group(1) is not None:
            result.append((start, '"', m.group(1)))
        elif m.group(2) is not None:
            result.append((start, "<", m.group(2)))
        else:
            result.append((start, "?", m.group(3).strip()))
    return result


def not_root_relative(name):
    """Why a quoted include name is not a plain path from the repository root, or None."""
    if "\\" in name:
        return "backslash in path"
    if name.startswith("/"):
        return "absolute path"
    parts = name.split("/")
    if ".." in parts:
        return "../ in path"
    if "." in parts or "" in parts:
        return "./ or // in path"
    return None


def project_files(root, tops):
    files = []
    for top in tops:
        base = os.path.join(root, top)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for fn in sorted(filenames):
                if fn.endswith(SOURCE_EXTS):
                    files.append(os.path.relpath(os.path.join(dirpath, fn), root).replace(os.sep, "/"))
    return files


def check_sources(root):
    """{rule: [(file, line, header, detail)]} for the tree at root (the rules of Check 1)."""
    v = {rule: [] for rule in RULES}
    top_dirs = {d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))}

    def is_project_path(name):
        first = name.split("/", 1)[0]
        return "/" in name and first in top_dirs and not first.startswith(".")

    def check_mpi(rel, line, kind, name, layer):
        if os.path.basename(name) == "mpi.h" and not (kind == '"' and is_project_path(name)):
            if layer not in MPI_LAYERS:
                v[R_MPI].append((rel, line, "<mpi.h>" if kind == "<" else '"%s"' % name,
                                 "only mpi/ and src/cli/ may include it"))

    # The layer folders.
    for rel in project_files(root, LAYER_TOPS):
        layer = layer_of(rel)
        if layer is None:
            v[R_UNASSIGNED].append((rel, 0, "", "not under " + ", ".join(LAYER_DIR[l] + "/" for l in LAYER_ORDER)))
        for line, kind, name in scan_includes(os.path.join(root, rel)):
            if kind == "?":
                v[R_ROOTREL].append((rel, line, name, "computed include cannot be checked"))
                continue
            check_mpi(rel, line, kind, name, layer)
            if kind == "<" and not is_project_path(name):
                continue                     # a system or library header
            why = not_root_relative(name)
            if why:
                v[R_ROOTREL].append((rel, line, name, why))
                continue
            if not os.path.isfile(os.path.join(root, name)):
                v[R_EXISTS].append((rel, line, name, "no such file from the repository root"))
                continue
            target = layer_of(name)
            if layer is None:
                continue                     # already reported as unassigned
            if target is None:
                v[R_LAYER].append((rel, line, name, "%s includes a file outside every layer" % layer))
            elif target not in ALLOWED[layer]:
                kind_word = "upward" if layer in LAYER_BELOW[target] else "sibling"
                v[R_LAYER].append((rel, line, name, "%s include: %s -> %s" % (kind_word, layer, target)))

    # tests/*.c (and their headers) and benchmarks/*.c: any layer, but root-relative paths.
    free = []
    for d in FREE_DIRS:
        for ext in SOURCE_EXTS:
            free += sorted(glob.glob(os.path.join(root, d, "*" + ext)))
    for path in free:
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        for line, kind, name in scan_includes(path):
            if kind == "?":
                v[R_FREE_ROOTREL].append((rel, line, name, "computed include cannot be checked"))
                continue
            check_mpi(rel, line, kind, name, None)
            if kind == "<" and not is_project_path(name):
                continue
            why = not_root_relative(name)
            if why:
                v[R_FREE_ROOTREL].append((rel, line, name, why))
            elif not os.path.isfile(os.path.join(root, name)):
                v[R_FREE_EXISTS].append((rel, line, name, "no such file from the repository root"))
    return v


def fmt_violation(file, line, header, detail):
    where = "%s:%d" % (file, line) if line else file
    return "%s -> %s (%s)" % (where, header, detail) if header else "%s (%s)" % (where, detail)


# ---------------------------------------------------------------- reporting
class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, name, detail=""):
        if ok:
            self.passed += 1
            print("PASS: " + name, flush=True)
        else:
            self.failed += 1
            print("FAIL: %s -- %s" % (name, detail), flush=True)
        return ok


def report_rules(rep, violations, prefix=""):
    for rule in RULES:
        items = violations[rule]
        rep.check(not items, prefix + rule,
                  "%d violation(s): %s" % (len(items), "; ".join(fmt_violation(*x) for x in items)))


def check_cmake_table(rep, root):
    """The layer table above agrees with set(RMS_DIR_x ...) / set(RMS_BELOW_x ...) in CMakeLists.txt."""
    name = "layer table agrees with CMakeLists.txt (RMS_DIR_*, RMS_BELOW_*)"
    try:
        with open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8") as f:
            text = re.sub(r"#[^\n]*", "", f.read())
    except OSError as e:
        rep.check(False, name, "cannot read CMakeLists.txt: %s" % e)
        return
    dirs = {m.group(1): m.group(2).split() for m in re.finditer(r"set\(\s*RMS_DIR_(\w+)\s*([^)]*)\)", text)}
    below = {m.group(1): m.group(2).replace('""', "").split()
             for m in re.finditer(r"set\(\s*RMS_BELOW_(\w+)\s*([^)]*)\)", text)}
    problems = []
    for layer in sorted(set(LAYER_ORDER) | set(dirs) | set(below)):
        if layer not in LAYER_DIR:
            problems.append("CMake has layer %r unknown to this script" % layer)
            continue
        if dirs.get(layer) != [LAYER_DIR[layer]]:
            problems.append("RMS_DIR_%s is %s, expected %s" % (layer, dirs.get(layer), LAYER_DIR[layer]))
        if sorted(below.get(layer, ["<missing>"])) != sorted(LAYER_BELOW[layer]):
            problems.append("RMS_BELOW_%s is %s, expected %s" % (layer, below.get(layer), LAYER_BELOW[layer]))
    rep.check(not problems, name, "; ".join(problems))


# ---------------------------------------------------------------- Check 2: synthetic trees
def write_tree(base, files):
    for rel, text in files.items():
        path = os.path.join(base, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


CLEAN_TREE = {
    "CMakeLists.txt": "",
    "src/base/s.h": "#pragma once\n#include <stddef.h>\n",
    "src/base/s.c": '#include "src/base/s.h"\n',
    "io/i.h": '#pragma once\n#include "src/base/s.h"\n',
    "io/i.c": ('#include "io/i.h"\n'
               '/* a comment that mentions\n#include "src/job/y.h"\n is not an include */\n'
               '// #include "mpi/m.h"\n'
               'static const char *s = "#include \\"src/cli/c.h\\"";\n'),
    "src/engine/d.h": '#pragma once\n#include "io/i.h"\n#include "src/base/s.h"\n',
    "src/engine/d.c": '#include "src/engine/d.h"\n#include <cblas.h>\n',
    "src/text/b.h": '#pragma once\n#include "io/i.h"\n',
    "src/text/b.c": '#include "src/text/b.h"\n',
    "src/job/y.h": '#pragma once\n#include "src/engine/d.h"\n#include "src/text/b.h"\n',
    "src/job/y.c": '#include "src/job/y.h"\n#  include   "io/i.h"\n',
    "mpi/m.h": '#pragma once\n#include <mpi.h>\n#include "src/job/y.h"\n',
    "mpi/m.c": '#include "mpi/m.h"\n',
    "src/cli/c.h": '#pragma once\n#include "mpi/m.h"\n',
    "src/cli/main.c": '#include <mpi.h>\n#include "src/cli/c.h"\n#include "src/text/b.h"\n',
    "tests/t.c": '#include "tests/check.h"\n#include "src/cli/c.h"\n#include "mpi/m.h"\n',
    "tests/check.h": "#pragma once\n",
    "benchmarks/bench.c": '#include "src/engine/d.h"\n',
}

# (file, include text, rule, substring of the header the report must name, description)
PLANTED = [
    ("io/x.c", '#include "src/job/y.h"', R_LAYER, "src/job/y.h", "io includes job (upward)"),
    ("src/engine/a.c", '#include "src/text/b.h"', R_LAYER, "src/text/b.h", "engine includes text (sibling)"),
    ("src/text/a2.c", '#include "src/engine/d.h"', R_LAYER, "src/engine/d.h", "text includes engine (sibling)"),
    ("src/base/u.c", '#include "io/i.h"', R_LAYER, "io/i.h", "base includes io (upward)"),
    ("src/job/w.c", '#include "mpi/m.h"', R_LAYER, "mpi/m.h", "job includes mpi (upward)"),
    ("mpi/v.c", '#include "src/cli/c.h"', R_LAYER, "src/cli/c.h", "mpi includes cli (upward)"),
    ("src/engine/tc.c", '#include "tests/check.h"', R_LAYER, "tests/check.h", "engine includes a non-layer file"),
    ("src/base/ang.c", "#include <src/job/y.h>", R_LAYER, "src/job/y.h", "angle-bracket project include, upward"),
    ("src/engine/up.c", '#include "../job/y.h"', R_ROOTREL, "../job/y.h", "../ include"),
    ("src/base/bare.h", '#include "s.h"', R_EXISTS, "s.h", "include relative to the file's folder"),
    ("io/miss.c", '#include "io/missing.h"', R_EXISTS, "io/missing.h", "include of a missing file"),
    ("src/job/mp.c", "#include <mpi.h>", R_MPI, "mpi.h", "<mpi.h> from src/job"),
    ("io/mpq.c", '#include "mpi.h"', R_MPI, "mpi.h", '"mpi.h" from io'),
    ("src/util/z.c", '#include "src/base/s.h"', R_UNASSIGNED, "", "file outside every layer folder"),
    ("tests/t2.c", '#include "../src/base/s.h"', R_FREE_ROOTREL, "../src/base/s.h", "../ include in tests/"),
    ("benchmarks/b2.c", '#include "./src/base/s.h"', R_FREE_ROOTREL, "./src/base/s.h", "./ include in benchmarks/"),
    ("tests/t3.c", '#include "check.h"', R_FREE_EXISTS, "check.h", "tests/ include relative to its folder"),
]


def self_test(rep):
    with tempfile.TemporaryDirectory(prefix="check_layers.") as tmp:
        clean = os.path.join(tmp, "clean")
        write_tree(clean, CLEAN_TREE)
        found = check_sources(clean)
        extra = [fmt_violation(*x) for r in RULES for x in found[r]]
        rep.check(not extra, "self-test: a clean synthetic tree reports no violation",
                  "reported: " + "; ".join(extra))

        dirty = os.path.join(tmp, "dirty")
        files = dict(CLEAN_TREE)
        for rel, inc, _, _, _ in PLANTED:
            files[rel] = files.get(rel, "") + inc + "\n"
        write_tree(dirty, files)
        found = check_sources(dirty)
        # A quoted "mpi.h" also names no file from the repository root: reported under both rules.
        expected = {(R_EXISTS, "io/mpq.c")}
        for rel, inc, rule, header, what in PLANTED:
            expected.add((rule, rel))
            hits = [x for x in found[rule] if x[0] == rel and header in x[2]]
            others = ["%s: %s" % (r, fmt_violation(*x)) for r in RULES for x in found[r] if x[0] == rel]
            rep.check(bool(hits), "self-test: reports %s (%s: %s)" % (what, rel, inc),
                      "not reported under %r; reported for this file: %s" % (rule, others or "nothing"))
        stray = [fmt_violation(*x) for r in RULES for x in found[r] if (r, x[0]) not in expected]
        rep.check(not stray, "self-test: the planted tree reports nothing but the planted violations",
                  "also reported: " + "; ".join(stray))


# ---------------------------------------------------------------- Check 3: the include trees
def compile_probe(cc, include_dir, header, tmp, mode="-fsyntax-only"):
    src = os.path.join(tmp, "probe.c")
    with open(src, "w", encoding="utf-8") as f:
        f.write('#include "%s"\n' % header)
    cmd = cc + ["-std=gnu11"] + mode.split() + ["-I", include_dir, src]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "%s: %s" % (" ".join(cmd), e)
    return p.returncode, p.stdout.strip()


def not_found_error(output, header):
    """Whether the compiler's first error is 'header not found' for this very header (gcc and clang)."""
    for line in output.splitlines():
        if "error" in line:
            return header in line and ("No such file" in line or "not found" in line)
    return False


def missing_project_deps(make_rule, top_dirs):
    """From `cc -MM -MG` output: the project headers (root-relative names) the preprocessor did not find."""
    deps = make_rule.replace("\\\n", " ").split(":", 1)[-1].split()[1:]
    return [d for d in deps if not os.path.isabs(d) and "/" in d and d.split("/", 1)[0] in top_dirs]


def headers_of(root, layer):
    return sorted(os.path.relpath(p, root).replace(os.sep, "/")
                  for p in glob.glob(os.path.join(root, LAYER_DIR[layer], "*.h")))


def check_trees(rep, root, trees, cc):
    trees = os.path.abspath(trees)
    # Each tree holds its own folder and the folders below, and nothing above.
    problems = []
    for layer in LAYER_ORDER:
        tree = os.path.join(trees, layer)
        if not os.path.isdir(tree):
            problems.append("no tree %s" % tree)
            continue
        for other in LAYER_ORDER:
            present = os.path.isdir(os.path.join(tree, LAYER_DIR[other]))
            if present != (other in ALLOWED[layer]):
                problems.append("%s/%s %s" % (layer, LAYER_DIR[other], "present" if present else "missing"))
    rep.check(not problems, "include trees %s/<layer> hold exactly their own and the lower layers' folders" % trees,
              "; ".join(problems))

    with tempfile.TemporaryDirectory(prefix="check_layers_cc.") as tmp:
        # Probe header per layer: the first header (sorted) that compiles on its own against the whole
        # repository, so a failure in a layer tree can only come from the tree hiding a folder. When every
        # header of a layer needs an external header that is not on the compiler's default path (hdf5.h,
        # mpi.h: CMake adds those), the permitted case is checked with the preprocessor instead
        # (`cc -MM -MG`): every project header it reaches must be found in the tree.
        top_dirs = {d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))}
        probe, deps_only, why_none = {}, {}, {}
        for layer in LAYER_ORDER:
            cands = headers_of(root, layer)
            for h in cands:
                rc, out = compile_probe(cc, root, h, tmp)
                if rc is None:
                    rep.check(False, "compiler runs", out)
                    return
                if rc == 0:
                    probe[layer] = h
                    break
            else:
                for h in cands:
                    rc, out = compile_probe(cc, root, h, tmp, "-MM -MG")
                    if rc == 0 and not missing_project_deps(out, top_dirs):
                        probe[layer] = h
                        deps_only[layer] = out
                        break
                else:
                    why_none[layer] = ("no header in %s/" % LAYER_DIR[layer]) if not cands else \
                        "no header of %s/ preprocesses with -I <root> (%s)" % (LAYER_DIR[layer], ", ".join(cands))

        def run_pair(layer, target):
            """(ok, detail) for layer's tree including a header of target."""
            allowed = target in ALLOWED[layer]
            if target in probe:
                header = probe[target]
            elif not allowed and headers_of(root, target):
                header = headers_of(root, target)[0]   # must still fail as "not found" for this header
            else:
                return False, why_none.get(target, "no probe header"), "?"
            tree = os.path.join(trees, layer)
            if allowed and target in deps_only:
                rc, out = compile_probe(cc, tree, header, tmp, "-MM -MG")
                missing = missing_project_deps(out, top_dirs) if rc == 0 else ["(cc failed: %s)" % out[:300]]
                return not missing, "not found in the tree: " + ", ".join(missing), \
                    header + ", preprocessor only: it needs external headers"
            rc, out = compile_probe(cc, tree, header, tmp)
            if allowed:
                return rc == 0, "did not compile: " + out.replace("\n", " | ")[:600], header
            if rc == 0:
                return False, "compiled, but %s is above or beside %s" % (target, layer), header
            if not not_found_error(out, header):
                return False, "failed, but not because %s was not found: %s" % (
                    header, out.replace("\n", " | ")[:600]), header
            return True, "", header

        named = [("io", "job"), ("engine", "text"), ("text", "engine"), ("job", "mpi"), ("base", "io"),
                 ("mpi", "cli"), ("job", "engine"), ("job", "text"), ("io", "base"), ("mpi", "job"),
                 ("cli", "mpi")]
        for layer, target in named:
            ok, detail, header = run_pair(layer, target)
            verb = "compiles" if target in ALLOWED[layer] else "fails to compile (not found)"
            rep.check(ok, "build: layer %s including %s (%s) %s" % (layer, header, target, verb), detail)

        bad = []
        for layer in LAYER_ORDER:
            for target in LAYER_ORDER:
                if (layer, target) in named:
                    continue
                ok, detail, header = run_pair(layer, target)
                if not ok:
                    bad.append("%s -> %s (%s): %s" % (layer, target, header, detail))
        rep.check(not bad, "build: every other layer pair compiles exactly when permitted (%d pairs)"
                  % (len(LAYER_ORDER) ** 2 - len(named)), "; ".join(bad))


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True, help="repository root")
    ap.add_argument("--layer-trees", help="the build's include trees (BUILD/layers); enables Check 3")
    ap.add_argument("--cc", default="cc", help="C compiler for Check 3 (default: cc)")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    rep = Report()

    print("== Check 1: the sources of %s" % root)
    check_cmake_table(rep, root)
    report_rules(rep, check_sources(root))

    print("== Check 2: the checker reports planted violations")
    self_test(rep)

    if args.layer_trees:
        print("== Check 3: the include trees reject upward includes (%s)" % args.cc)
        check_trees(rep, root, args.layer_trees, shlex.split(args.cc))
    else:
        print("(Check 3 skipped: no --layer-trees)")

    print("%d passed, %d failed" % (rep.passed, rep.failed))
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
