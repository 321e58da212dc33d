import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { checkReadme, renderMap, headerComment, firstSentence, README, BEGIN, END } from '../../scripts/codemap.mjs';

// The README's code map is generated from the files' own header comments
// (scripts/codemap.mjs, `npm run codemap`), so it cannot drift from the tree:
// a file added, removed or re-described without re-running it fails here.

describe('the README code map', () => {
  it('is what `npm run codemap` generates from the files\' header comments', () => {
    const diff = checkReadme();
    expect(diff, diff).toBe('');
  });

  it('names every source file of assembly/ and src/, each with its own description', () => {
    const map = renderMap();
    const readme = readFileSync(README, 'utf8');
    expect(readme.indexOf(BEGIN)).toBeGreaterThan(0);
    expect(readme.indexOf(END)).toBeGreaterThan(readme.indexOf(BEGIN));
    for (const f of ['userfaultfd.ts', 'shmem.ts', 'mte.ts', 'stress.ts', 'workloads.ts', 'cluster/slurm.ts', 'engine/cpu-calls.ts', 'waitgraph.ts']) {
      expect(map).toMatch(new RegExp(`^  ${f.replace('.', '\\.')} +\\S`, 'm'));
    }
  });

  it('reads the first sentence of a //, /* */, # or <!-- --> header, after a shebang or doctype', () => {
    expect(firstSentence(headerComment('// One thing. And more\n// on two lines.\nimport x;'))).toBe('One thing.');
    expect(firstSentence(headerComment('#!/bin/sh\n# A script, e.g. this one. Rest\nset -e'))).toBe('A script, e.g. this one.');
    expect(firstSentence(headerComment('/**\n * A block\n * comment. Second\n */\ncode'))).toBe('A block comment.');
    expect(firstSentence(headerComment('<!doctype html>\n<!-- The page. -->\n<html>'))).toBe('The page.');
    expect(headerComment('import x from "y";\n// late comment')).toBe('');
    expect(firstSentence('word '.repeat(40), 30)).toBe('word word word word word word ...');
  });
});
