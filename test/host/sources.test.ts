import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..');

function files(dir: string, out: string[] = []): string[] {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) files(p, out);
    else if (/\.(ts|mjs|js|json|md)$/.test(f)) out.push(p);
  }
  return out;
}

// Comments and docs cite public sources (LKML subjects and Message-IDs, commit
// ids, kernel file names), never files a reader of the repository cannot open:
// the design notes and reference copies outside it.
describe('sources cited in code and docs', () => {
  it('nothing refers to files outside the repository', () => {
    const OUTSIDE = /\.\.\/shared\/|shared\/reference\/|reference\/[\w-]+\.txt|\bDESIGN\.md|ENGINE-NOTES|WASM-NOTES|prototypes\/asyncify/;
    const bad: string[] = [];
    for (const dir of ['assembly', 'src', 'scripts', 'bench', 'test', 'spec', 'profiles', 'docs']) {
      for (const f of files(join(ROOT, dir))) {
        if (f === __filename) continue;
        readFileSync(f, 'utf8').split('\n').forEach((l, i) => { if (OUTSIDE.test(l)) bad.push(`${relative(ROOT, f)}:${i + 1}: ${l.trim()}`); });
      }
    }
    for (const f of ['README.md', 'package.json']) {
      readFileSync(join(ROOT, f), 'utf8').split('\n').forEach((l, i) => { if (OUTSIDE.test(l)) bad.push(`${f}:${i + 1}: ${l.trim()}`); });
    }
    expect(bad).toEqual([]);
  });
});
