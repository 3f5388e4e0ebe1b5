#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""docs-examples.py: the shell examples of the documentation, run as tests.

The convention, for README.md and every docs/*.md:

  ```sh            a shell example: tests/integration/07-docs-examples.sh
                   runs it against a private stack. The blocks of one
                   document run in order in one bash session (set -e -o
                   pipefail), so a variable set in one is seen by the next.
  #> text          in a ```sh block: the output expected of the commands
                   above it (back to the previous #> lines), one #> line per
                   output line, all of them, in order; "..." in a line
                   stands for any text.
  ```sh no-run     a shell example for a real server (root, systemd, apt)
                   or a command that is itself a test: shown, not run.
  ```json, ```text, ```ini ...   anything else: never run.

Every code block is fenced and names its language, so that no shell example
can hide in an indented or bare block; bash, shell and console are spelt sh.

  docs-examples.py check FILE...        the rule above; prints each breach
  docs-examples.py extract FILE DIR URL the runnable segments of FILE into
                                         DIR (run.sh runs them all), with
                                         http://127.0.0.1:8080 (make run's
                                         address) replaced by URL; prints
                                         the number of segments, of ```sh
                                         blocks and of ```sh no-run blocks
  docs-examples.py compare DIR          after run.sh: one line per segment,
                                         "ok<TAB>where" or
                                         "not ok<TAB>where<TAB>why"
"""
import json
import os
import re
import sys

# A fence opens a block; a backtick fence's info string has no backtick
# (CommonMark), which tells it from inline code at the start of a line.
FENCE = re.compile(r'^(\s{0,3})(```+(?!.*`)|~~~+)\s*(.*)$')
SHELL_ALIASES = {'bash', 'shell', 'console', 'shell-session', 'zsh'}


def blocks(path):
    """Yield (line number, info string, lines) of each fenced block, and
    (line number, None, lines) of each indented code block."""
    with open(path, encoding='utf-8') as f:
        text = f.read().split('\n')
    i = 0
    prev_blank = True
    in_list = False
    while i < len(text):
        line = text[i]
        m = FENCE.match(line)
        if m:
            fence, info = m.group(2), m.group(3).strip()
            start = i + 1
            body = []
            i += 1
            while i < len(text) and not re.match(r'^\s{0,3}%s%s*\s*$' % (re.escape(fence), re.escape(fence[0])), text[i]):
                body.append(text[i])
                i += 1
            yield start, info, body
            i += 1
            prev_blank = False
            continue
        stripped = line.strip()
        if stripped and not line.startswith('    '):
            in_list = bool(re.match(r'^\s*([-*+]|\d+\.)\s', line)) or (in_list and line.startswith(' '))
        if line.startswith('    ') and stripped and prev_blank and not in_list:
            start = i + 1
            body = []
            while i < len(text) and (text[i].startswith('    ') or not text[i].strip()):
                body.append(text[i])
                i += 1
            yield start, None, body
            prev_blank = False
            continue
        if not stripped:
            prev_blank = True
        else:
            prev_blank = False
            if not line.startswith(' ') and not re.match(r'^([-*+]|\d+\.)\s', line):
                in_list = False
        i += 1


def check(paths):
    bad = 0
    for path in paths:
        for line, info, body in blocks(path):
            word = (info or '').split()[0] if info else ''
            if info is None:
                why = 'an indented code block: fence it and name its language (```sh, ```text ...)'
            elif not info:
                why = 'a fenced block without a language: name it (```sh, ```text ...)'
            elif word in SHELL_ALIASES:
                why = '```%s: spell it ```sh (or ```sh no-run)' % word
            elif word == 'sh' and info not in ('sh', 'sh no-run'):
                why = '```%s: a shell block is ```sh or ```sh no-run' % info
            else:
                continue
            print('%s:%d: %s' % (path, line, why))
            bad += 1
    return 1 if bad else 0


def extract(path, out, url):
    """Split each ```sh block at its #> groups into segments."""
    os.makedirs(out, exist_ok=True)
    segs = []
    run_blocks = norun_blocks = 0
    for line, info, body in blocks(path):
        if info == 'sh no-run':
            norun_blocks += 1
        if info != 'sh':
            continue
        run_blocks += 1
        cmd, cmd_line, expect = [], line + 1, []
        for n, text in enumerate(body, start=line + 1):
            if text.startswith('#>'):
                expect.append(text[3:] if text.startswith('#> ') else text[2:])
                continue
            if expect:
                segs.append((cmd_line, cmd, expect))
                cmd, cmd_line, expect = [], n, []
            cmd.append(text)
        if cmd and any(c.strip() and not c.lstrip().startswith('#') for c in cmd) or expect:
            segs.append((cmd_line, cmd, expect if expect else None))
    meta = []
    with open(os.path.join(out, 'run.sh'), 'w') as run:
        run.write('set -eo pipefail\n')
        for k, (where, cmd, expect) in enumerate(segs):
            name = os.path.join(out, 'seg%03d' % k)
            with open(name + '.sh', 'w') as f:
                f.write('\n'.join(c.replace('http://127.0.0.1:8080', url) for c in cmd) + '\n')
            run.write('echo %d >%s/progress\n' % (k, out))
            run.write('. %s.sh >%s.out 2>&1\n' % (name, name))
            meta.append({'where': '%s:%d' % (path, where), 'expect': expect,
                         'first': next((c.strip() for c in cmd if c.strip()), '')})
        run.write('echo %d >%s/progress\n' % (len(segs), out))
    with open(os.path.join(out, 'meta.json'), 'w') as f:
        json.dump(meta, f)
    print(len(segs), run_blocks, norun_blocks)
    return 0


def line_re(pattern):
    return re.compile('^' + '.*'.join(re.escape(p) for p in pattern.rstrip().split('...')) + '$')


def compare(out):
    with open(os.path.join(out, 'meta.json')) as f:
        meta = json.load(f)
    try:
        with open(os.path.join(out, 'progress')) as f:
            reached = int(f.read().strip() or 0)
    except OSError:
        reached = 0
    for k, m in enumerate(meta):
        desc = '%s: %s' % (m['where'], m['first'][:60])
        name = os.path.join(out, 'seg%03d.out' % k)
        got = []
        if os.path.exists(name):
            with open(name, encoding='utf-8', errors='replace') as f:
                got = [g.rstrip() for g in f.read().split('\n')]
            while got and not got[-1]:
                got.pop()
        if k > reached:
            print('not ok\t%s\tnot run: an earlier example failed' % desc)
            continue
        if k == reached:
            print('not ok\t%s\tfailed (exit status not 0); it printed: %s' % (desc, ' | '.join(got[-8:])))
            continue
        want = m['expect']
        if want is None:
            print('ok\t%s' % desc)
            continue
        fit = len(got) == len(want) and all(line_re(w).match(g) for w, g in zip(want, got))
        if fit:
            print('ok\t%s' % desc)
        else:
            print('not ok\t%s\tprinted: %s | expected: %s' % (desc, ' | '.join(got[:12]), ' | '.join(want)))
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == 'check':
        return check(argv[2:])
    if len(argv) == 5 and argv[1] == 'extract':
        return extract(argv[2], argv[3], argv[4])
    if len(argv) == 3 and argv[1] == 'compare':
        return compare(argv[2])
    sys.stderr.write(__doc__)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
