#!/usr/bin/env python3
"""Checks the module graph of every crate under crates/: no import cycles
between sibling modules, no upward imports, no reach-ins.

    python3 scripts/modgraph.py                   # every crate
    python3 scripts/modgraph.py --crate consuela-client
    python3 scripts/modgraph.py --allow consuela  # every crate but consuela

For each crate target (src/lib.rs, src/main.rs, src/bin/*.rs) the module tree
is read from its `mod` declarations, and every `use` declaration and every
path starting with `crate::`, `super::` or `self::` (in code, attributes and
`#[serde(with = "...")]` strings) is resolved to the module it names,
following `use` imports and re-exports to where the item is defined.
Anything under `#[cfg(test)]`, and any file named tests.rs, is left out:
tests may reach anywhere.

Three kinds of problem, one line each:

cycle     Between the children of one module, a -> b when code in a's subtree
          uses an item of b's subtree (checked at every level). A strongly
          connected set of two or more children is a cycle: none of them can
          be understood, tested or moved without the others.
upward    A module uses an item defined in the file of one of its ancestors
          (`use super::Inner` in registry/registration.rs), unless that item
          is part of the ancestor's interface: declared with some `pub`
          visibility AND either used by at least two of the ancestor's
          children (their shared vocabulary, such as the HTTP layer's request
          and response helpers or the state's `Inner`: an item two children
          need has to live at or above both) or used from outside the
          ancestor (then the child uses it like any other client). What is
          left is a child coupled to its parent's insides: a private item, or
          one only that child and the parent use. Move it down into the
          child, or into a small module of its own that both use.
          An inline `mod` using the file it is written in does not count.
reach-in  A module names a file module below a module it is not inside
          (`crate::registry::consul::X` from crate::directory) although that
          module is not declared `pub mod` (`pub(crate) mod` is not enough):
          it depends on another module's layout instead of what the module
          re-exports. Inline modules (a `serde(with)` module) are items of
          their file and may be named.

Exit status 1 if any problem is found, else 0 with a one-line summary.
Standard library only.
"""

import argparse
import os
import re
import sys

# Children of an ancestor that must use one of its items for the item to be
# their shared vocabulary rather than one child's coupling to the parent.
VOCABULARY_MIN_USERS = 2
# Stands for "a module outside the ancestor" among an item's users.
OUTSIDE = "<outside>"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------- lexer

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NUMBER = re.compile(r"[0-9][0-9A-Za-z_]*(\.[0-9][0-9A-Za-z_]*)?")


class Tok:
    __slots__ = ("kind", "val", "line")

    def __init__(self, kind, val, line):
        self.kind, self.val, self.line = kind, val, line

    def __repr__(self):
        return f"{self.kind}:{self.val}@{self.line}"


def _skip_block_comment(text, i, line):
    depth = 0
    n = len(text)
    while i < n:
        if text.startswith("/*", i):
            depth += 1
            i += 2
        elif text.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i, line
        else:
            if text[i] == "\n":
                line += 1
            i += 1
    return i, line


def _string(text, i, line):
    """A "..." literal starting at the quote; returns (content, end, line)."""
    n = len(text)
    j = i + 1
    out = []
    while j < n and text[j] != '"':
        if text[j] == "\\":
            out.append(text[j : j + 2])
            if j + 1 < n and text[j + 1] == "\n":
                line += 1
            j += 2
            continue
        if text[j] == "\n":
            line += 1
        out.append(text[j])
        j += 1
    return "".join(out), j + 1, line


def _raw_string(text, i, line):
    """r#"..."# starting at the first '#' or quote after the prefix."""
    hashes = 0
    while text[i] == "#":
        hashes += 1
        i += 1
    assert text[i] == '"'
    close = '"' + "#" * hashes
    end = text.find(close, i + 1)
    if end < 0:
        end = len(text)
    content = text[i + 1 : end]
    return content, end + len(close), line + content.count("\n")


def tokenize(text):
    toks = []
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            i, line = _skip_block_comment(text, i, line)
        elif c == '"':
            start = line
            s, i, line = _string(text, i, line)
            toks.append(Tok("str", s, start))
        elif c == "'":
            # A char literal ('x', '\n', '\u{1F600}') or a lifetime/label.
            if i + 1 < n and text[i + 1] == "\\":
                j = text.find("'", i + 2)
                if text[i + 2 : i + 3] == "'":  # '\''
                    j = i + 3
                i = j + 1
                toks.append(Tok("char", "", line))
            elif i + 2 < n and text[i + 2] == "'":
                i += 3
                toks.append(Tok("char", "", line))
            else:
                m = IDENT.match(text, i + 1)
                i = m.end() if m else i + 1
                toks.append(Tok("lifetime", "", line))
        elif c.isdigit():
            m = NUMBER.match(text, i)
            i = m.end()
            toks.append(Tok("num", m.group(), line))
        elif c.isalpha() or c == "_":
            m = IDENT.match(text, i)
            word, j = m.group(), m.end()
            if word in ("r", "br", "cr") and j < n and text[j] in '#"':
                k = j
                while k < n and text[k] == "#":
                    k += 1
                if k < n and text[k] == '"':
                    start = line
                    s, i, line = _raw_string(text, j, line)
                    toks.append(Tok("str", s, start))
                    continue
                if word == "r" and text[j] == "#":  # r#ident
                    m = IDENT.match(text, j + 1)
                    toks.append(Tok("ident", "r#" + m.group(), line))
                    i = m.end()
                    continue
            if word in ("b", "c") and j < n and text[j] == '"':
                start = line
                s, i, line = _string(text, j, line)
                toks.append(Tok("str", s, start))
                continue
            if word == "b" and j < n and text[j] == "'":
                # b'x', b'\n', b'\''
                k = text.find("'", j + 3) if text[j + 1] == "\\" else j + 2
                i = k + 1
                toks.append(Tok("char", "", line))
                continue
            toks.append(Tok("ident", word, line))
            i = j
        elif text.startswith("::", i):
            toks.append(Tok("p", "::", line))
            i += 2
        else:
            toks.append(Tok("p", c, line))
            i += 1
    return toks


# ---------------------------------------------------------------- parser

OPEN = {"(": ")", "[": "]", "{": "}"}
CLOSE = {")", "]", "}"}
ITEM_KEYWORDS = {"fn", "struct", "enum", "union", "trait", "type", "const", "static"}
PATH_STARTS = {"crate", "super", "self"}
CFG_TEST = re.compile(r"^cfg\((test|all\(test\b.*)\)$")


class FileFacts:
    """What one file declares and references, by module path."""

    def __init__(self):
        self.mods = []  # (parent modpath, name, vis, inline, line)
        self.uses = []  # (modpath, at_module_scope, vis, [(segs, alias)], line)
        self.paths = []  # (modpath, segs, line)
        self.defs = []  # (modpath, name, vis)
        self.balanced = True  # whether the braces matched up (lexer sanity)


def _balanced(toks, i):
    """Index just past the group opening at toks[i]."""
    depth = 0
    while i < len(toks):
        t = toks[i]
        if t.kind == "p" and t.val in OPEN:
            depth += 1
        elif t.kind == "p" and t.val in CLOSE:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _skip_item(toks, i):
    """Index past the item starting at toks[i]: its `;` or its closing `}`
    at depth 0. Never past a closer of an enclosing group (so a skipped
    field or statement cannot unbalance the scopes)."""
    depth = 0
    while i < len(toks):
        t = toks[i]
        if t.kind == "p":
            if t.val in OPEN:
                depth += 1
            elif t.val in CLOSE:
                if depth == 0:
                    return i
                depth -= 1
                if depth == 0 and t.val == "}":
                    return i + 1
            elif t.val == ";" and depth == 0:
                return i + 1
        i += 1
    return i


def _visibility(toks, i):
    """The visibility written before toks[i] (a keyword), as text."""
    j = i - 1
    while j >= 0 and toks[j].kind == "ident" and toks[j].val in ("unsafe", "async", "extern"):
        j -= 1
    if j >= 0 and toks[j].kind == "ident" and toks[j].val == "pub":
        return "pub"
    if j >= 0 and toks[j].kind == "p" and toks[j].val == ")":
        depth, k = 0, j
        while k >= 0:
            if toks[k].val == ")":
                depth += 1
            elif toks[k].val == "(":
                depth -= 1
                if depth == 0:
                    break
            k -= 1
        if k > 0 and toks[k - 1].val == "pub":
            inner = "".join(t.val if t.val != "in" else "in " for t in toks[k + 1 : j])
            return f"pub({inner})"
    return "private"


def _use_tree(toks, i, prefix, out):
    """Parses a use tree at toks[i]; appends (segs, alias) to out; returns
    the index after it."""
    segs = list(prefix)
    if toks[i].val == "::":
        i += 1
    while True:
        t = toks[i]
        if t.kind == "p" and t.val == "{":
            i += 1
            while not (toks[i].kind == "p" and toks[i].val == "}"):
                i = _use_tree(toks, i, segs, out)
                if toks[i].val == ",":
                    i += 1
            return i + 1
        if t.kind == "p" and t.val == "*":
            out.append((segs, "*"))
            return i + 1
        if t.kind != "ident":
            return i
        if t.val == "self" and segs and segs[-1] not in PATH_STARTS and len(segs) == len(prefix):
            # `{self, ...}`: the prefix module itself.
            alias = segs[-1]
            i += 1
        else:
            segs.append(t.val)
            i += 1
            if i < len(toks) and toks[i].val == "::":
                i += 1
                continue
            alias = segs[-1]
        if i < len(toks) and toks[i].val == "as":
            alias = toks[i + 1].val
            i += 2
        out.append((segs, alias))
        return i


def _path_at(toks, i):
    """The segments of a `crate::`, `super::` or `self::` path starting at
    toks[i], or None. `$crate::` and `pub(in crate::x)` are not references."""
    t = toks[i]
    if t.kind != "ident" or t.val not in PATH_STARTS:
        return None
    if i + 1 >= len(toks) or toks[i + 1].val != "::":
        return None
    prev = toks[i - 1].val if i else ""
    if prev in ("$", "::"):
        return None
    if prev == "in" and i >= 3 and toks[i - 2].val == "(" and toks[i - 3].val == "pub":
        return None
    segs = [t.val]
    j = i + 1
    while j + 1 < len(toks) and toks[j].val == "::" and toks[j + 1].kind == "ident":
        segs.append(toks[j + 1].val)
        j += 2
    return segs


def parse_file(text, modpath):
    """FileFacts of one file whose module is `modpath` (a tuple)."""
    facts = FileFacts()
    toks = tokenize(text)
    # Scope stack: module path for `mod` scopes, None for other blocks.
    stack = [modpath]
    pending_mod = None
    skip_next = False
    i = 0
    while i < len(toks):
        t = toks[i]
        here = next(m for m in reversed(stack) if m is not None)
        at_mod_scope = stack[-1] is not None
        if t.kind == "p" and t.val == "#":
            inner = i + 1 < len(toks) and toks[i + 1].val == "!"
            start = i + (2 if inner else 1)
            if start < len(toks) and toks[start].val == "[":
                end = _balanced(toks, start)
                body = toks[start + 1 : end - 1]
                text_of = "".join(x.val for x in body if x.kind != "str")
                if CFG_TEST.match(text_of):
                    if inner and i == 0:
                        return FileFacts()  # #![cfg(test)]: the whole file
                    skip_next = True
                for k, x in enumerate(body):
                    # #[serde(with = "crate::serde_util::base64_opt")]
                    if x.kind == "str" and re.fullmatch(r"(crate|super|self)(::\w+)+", x.val):
                        facts.paths.append((here, x.val.split("::"), x.line))
                    # #[command(after_help = crate::exit::exit_codes!())]
                    segs = _path_at(body, k)
                    if segs:
                        facts.paths.append((here, segs, x.line))
                i = end
                continue
        if skip_next:
            skip_next = False
            i = _skip_item(toks, i)
            continue
        if t.kind == "p":
            if t.val == "{":
                stack.append(pending_mod)
                pending_mod = None
            elif t.val == "}":
                if len(stack) > 1:
                    stack.pop()
            elif t.val == ";":
                pending_mod = None
            i += 1
            continue
        if t.kind != "ident":
            i += 1
            continue
        nxt = toks[i + 1] if i + 1 < len(toks) else Tok("eof", "", 0)
        if t.val == "mod" and nxt.kind == "ident" and at_mod_scope:
            after = toks[i + 2].val if i + 2 < len(toks) else ""
            vis = _visibility(toks, i)
            if after == ";":
                facts.mods.append((here, nxt.val, vis, False, t.line))
                i += 3
                continue
            if after == "{":
                facts.mods.append((here, nxt.val, vis, True, t.line))
                pending_mod = here + (nxt.val,)
                i += 2
                continue
        if t.val == "use" and nxt.val != "<":
            vis = _visibility(toks, i)
            trees = []
            j = _use_tree(toks, i + 1, [], trees)
            facts.uses.append((here, at_mod_scope, vis, trees, t.line))
            i = j
            continue
        if t.val == "macro_rules" and nxt.val == "!" and at_mod_scope:
            facts.defs.append((here, toks[i + 2].val, "private"))
            i += 3
            continue
        if t.val in ITEM_KEYWORDS and at_mod_scope and nxt.kind == "ident":
            if not (t.val == "const" and nxt.val in ("fn", "unsafe", "async", "extern")):
                facts.defs.append((here, nxt.val, _visibility(toks, i)))
        segs = _path_at(toks, i)
        if segs:
            facts.paths.append((here, segs, t.line))
            i += 2 * len(segs) - 1
            continue
        i += 1
    facts.balanced = len(stack) == 1
    return facts


# ---------------------------------------------------------------- modules


class Module:
    def __init__(self, path, file, parent, vis):
        self.path = path  # tuple of names below the crate root
        self.file = file
        self.parent = parent
        self.vis = vis  # as declared in the parent
        self.children = {}
        self.defs = {}  # name -> visibility
        self.imports = {}  # name -> (segs, vis)
        self.refs = []  # (segs, line, file)

    def name(self):
        return "::".join(("crate",) + self.path)

    def is_within(self, other):
        return self.path[: len(other.path)] == other.path


class Target:
    """One crate target (lib or binary): a tree of modules."""

    def __init__(self, label, root_file):
        self.label = label
        self.modules = {}
        self.root = self._load(root_file, (), None, "pub", True)

    def _load(self, file, path, parent, vis, mod_rs):
        with open(file, encoding="utf-8") as f:
            facts = parse_file(f.read(), path)
        if not facts.balanced:
            # The lexer lost track of braces: say so rather than guess.
            print(f"modgraph: warning: could not follow the braces of {rel(file)}", file=sys.stderr)
        mods = {path: Module(path, file, parent, vis)}
        # Inline modules first (their contents are in this file's facts).
        for parent_path, name, mvis, inline, _line in facts.mods:
            if inline:
                p = mods[parent_path]
                child = Module(parent_path + (name,), file, p, mvis)
                p.children[name] = child
                mods[child.path] = child
        self.modules.update(mods)
        for modpath, name, dvis in facts.defs:
            mods[modpath].defs.setdefault(name, dvis)
        for modpath, at_scope, uvis, trees, line in facts.uses:
            m = mods[modpath]
            for segs, alias in trees:
                m.refs.append((segs, line, file))
                if at_scope and alias not in ("*", "_"):
                    m.imports[alias] = (segs, uvis)
        for modpath, segs, line in facts.paths:
            mods[modpath].refs.append((segs, line, file))
        base = os.path.dirname(file) if mod_rs else os.path.splitext(file)[0]
        for parent_path, name, mvis, inline, _line in facts.mods:
            if inline or name == "tests":
                continue
            sub = os.path.join(base, *parent_path[len(path) :])
            for cand, is_mod_rs in (
                (os.path.join(sub, name + ".rs"), False),
                (os.path.join(sub, name, "mod.rs"), True),
            ):
                if os.path.exists(cand):
                    p = mods[parent_path]
                    p.children[name] = self._load(
                        cand, parent_path + (name,), p, mvis, is_mod_rs
                    )
                    break
        return mods[path]

    def resolve(self, module, segs, hops=0):
        """(module, item or None, [modules descended into, with the module
        they were entered from]) for a path written in `module`, or None
        when it names something outside the crate."""
        i = 0
        m = module
        if segs[0] == "crate":
            m, i = self.root, 1
        elif segs[0] in ("super", "self"):
            while i < len(segs) and segs[i] in ("super", "self"):
                if segs[i] == "super":
                    if m.parent is None:
                        return None
                    m = m.parent
                i += 1
        elif not (segs[0] in m.children or segs[0] in m.imports or segs[0] in m.defs):
            return None
        descents = []
        while i < len(segs):
            name = segs[i]
            if name in m.children:
                descents.append((m, m.children[name]))
                m = m.children[name]
                i += 1
                continue
            if name in m.defs:
                return m, name, descents
            if name in m.imports and hops < 16:
                target, _vis = m.imports[name]
                if target == [name] and name not in m.children:
                    return m, name, descents
                r = self.resolve(m, list(target) + list(segs[i + 1 :]), hops + 1)
                if r is None:
                    return None
                # Descents through the import are checked where it is written.
                return r[0], r[1], descents
            return m, name, descents
        return m, None, descents


def lca(a, b):
    n = 0
    while n < min(len(a.path), len(b.path)) and a.path[n] == b.path[n]:
        n += 1
    return a.path[:n]


def sccs(nodes, edges):
    """Tarjan's strongly connected components of a small graph."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def rel(file):
    return os.path.relpath(file, ROOT)


def item_vis(module, item):
    """How `item` is declared in `module` (a macro re-exported with `use`
    takes the visibility of that `use`)."""
    vis = module.defs.get(item, "private")
    imported = module.imports.get(item)
    if imported and imported[0] == [item] and imported[1] != "private":
        vis = imported[1]
    return vis


def check_target(target):
    """Problems of one target, as lines, and the number of references."""
    problems = []
    # edges[parent path][(a, b)] = first (where, path text) seen
    edges = {}
    # Upward references, and which children of the ancestor make them.
    upward = []
    users = {}  # (module path, item) -> {names of its children using it, or OUTSIDE}
    nrefs = 0
    for m in sorted(target.modules.values(), key=lambda x: x.path):
        for segs, line, file in m.refs:
            r = target.resolve(m, segs)
            if r is None:
                continue
            nrefs += 1
            t, item, descents = r
            if item is not None and m.file != t.file:
                # Who uses t's item: which of t's children, or someone outside t.
                who = m.path[len(t.path)] if m.is_within(t) else OUTSIDE
                users.setdefault((t.path, item), set()).add(who)
            where = f"{rel(file)}:{line}"
            written = "::".join(segs)
            # Reach-in: entering a file module below a module we are not in.
            for frm, child in descents:
                if not m.is_within(frm) and child.vis != "pub" and child.file != frm.file:
                    problems.append(
                        f"reach-in: {where}: {m.name()} uses {written}: "
                        f"{child.name()} is internal to {frm.name()} "
                        f"(`{child.vis} mod`, not `pub mod`); use what {frm.name()} exports"
                    )
                    break
            if t is m:
                continue
            common = lca(m, t)
            if common == t.path:
                # t is an ancestor of m. An inline module using the items of
                # the file it is written in is that file's own business.
                if m.file == t.file:
                    continue
                upward.append((m, t, item, where, written))
                continue
            if common == m.path:
                continue  # downward: a module uses its own descendant
            a = m.path[len(common)]
            b = t.path[len(common)]
            edges.setdefault(common, {}).setdefault((a, b), (where, written))
    for m, t, item, where, written in upward:
        if item is None:
            problems.append(
                f"upward: {where}: {m.name()} uses its ancestor module {t.name()} ({written})"
            )
            continue
        vis = item_vis(t, item)
        who = users[(t.path, item)]
        if vis != "private" and (OUTSIDE in who or len(who) >= VOCABULARY_MIN_USERS):
            continue  # t's interface: shared by its children, or used beyond t
        child = m.path[len(t.path)]
        why = (
            f"private to {t.name()}"
            if vis == "private"
            else f"`{vis}`, but only {child} uses it besides {t.name()} itself"
        )
        problems.append(
            f"upward: {where}: {m.name()} uses `{item}` of its ancestor "
            f"{t.name()} ({written}): {why}; move it down, or into a module of its own"
        )
    for parent, pairs in sorted(edges.items()):
        graph = {}
        for a, b in pairs:
            graph.setdefault(a, set()).add(b)
        nodes = set(graph) | {b for bs in graph.values() for b in bs}
        for comp in sccs(nodes, graph):
            if len(comp) < 2:
                continue
            inside = set(comp)
            links = [
                f"{a} -> {b} ({pairs[(a, b)][0]} {pairs[(a, b)][1]})"
                for (a, b) in sorted(pairs)
                if a in inside and b in inside
            ]
            pname = "::".join(("crate",) + parent)
            problems.append(
                f"cycle: between children of {pname}: {{{', '.join(comp)}}}: "
                + "; ".join(links)
            )
    return problems, nrefs


def crate_name(cargo_toml, default):
    with open(cargo_toml, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r'(?ms)^\[package\].*?^name\s*=\s*"([^"]+)"', text)
    return m.group(1) if m else default


def targets_of(crate_dir, name):
    src = os.path.join(crate_dir, "src")
    found = []
    if os.path.exists(os.path.join(src, "lib.rs")):
        found.append((name, os.path.join(src, "lib.rs")))
    if os.path.exists(os.path.join(src, "main.rs")):
        found.append((f"{name} (bin)", os.path.join(src, "main.rs")))
    bindir = os.path.join(src, "bin")
    if os.path.isdir(bindir):
        for entry in sorted(os.listdir(bindir)):
            path = os.path.join(bindir, entry)
            if entry.endswith(".rs"):
                found.append((f"{name} (bin {entry[:-3]})", path))
            elif os.path.exists(os.path.join(path, "main.rs")):
                found.append((f"{name} (bin {entry})", os.path.join(path, "main.rs")))
    return found


def main():
    parser = argparse.ArgumentParser(
        description="Check crates/*/src for import cycles between sibling "
        "modules, upward imports and reach-ins."
    )
    parser.add_argument("--crate", action="append", default=[], metavar="NAME",
                        help="check only this crate (repeatable)")
    parser.add_argument("--allow", action="append", default=[], metavar="NAME",
                        help="skip this crate (repeatable, or comma-separated): "
                        "known problems being fixed elsewhere")
    args = parser.parse_args()
    allow = {a for arg in args.allow for a in arg.split(",") if a}
    crates_dir = os.path.join(ROOT, "crates")
    crates = {}
    for entry in sorted(os.listdir(crates_dir)):
        d = os.path.join(crates_dir, entry)
        if os.path.exists(os.path.join(d, "Cargo.toml")) and os.path.isdir(os.path.join(d, "src")):
            crates[crate_name(os.path.join(d, "Cargo.toml"), entry)] = d
    wanted = args.crate or sorted(crates)
    unknown = [c for c in wanted + sorted(allow) if c not in crates]
    if unknown:
        print(f"modgraph: no such crate: {', '.join(unknown)}", file=sys.stderr)
        return 2
    total, nmods, nrefs, skipped, checked = 0, 0, 0, [], []
    for name in wanted:
        if name in allow:
            skipped.append(name)
            continue
        checked.append(name)
        for label, root_file in targets_of(crates[name], name):
            target = Target(label, root_file)
            problems, n = check_target(target)
            nmods += len(target.modules)
            nrefs += n
            for p in problems:
                print(f"{label}: {p}")
            total += len(problems)
    note = f" (skipped: {', '.join(skipped)})" if skipped else ""
    if total:
        print(f"modgraph: {total} problem(s) in {', '.join(checked)}{note}")
        return 1
    print(
        f"modgraph: {', '.join(checked) or 'no crates'}: {nmods} modules, "
        f"{nrefs} in-crate references, no cycles, upward imports or reach-ins{note}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
