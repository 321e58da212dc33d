// Suite-wide check that no counter is dead: every counter of spec/counters.json
// must move in at least one run of the whole test suite, or be listed below
// with the reason it cannot. A test asserting "counter X stays 0 here" means
// something only if X moves somewhere else. Each test file's process records
// the counters its machines moved (counters-record.ts); this teardown checks
// the union, but only when every test file ran (a filtered run checks nothing).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import '../../src/node/platform.js';
import { counterNames } from '../../src/stats.js';

/** counters no run can move, and why (each is also said in README "Not done") */
export const UNREACHABLE: Record<string, string> = {
  spf_abort_file: 'vm_ops is checked first: a file VMA always aborts as spf_abort_vm_ops (same order as the SPF v11 series)',
};

let dir = '';

export function setup(): void {
  dir = mkdtempSync(join(tmpdir(), 'fl-counters-'));
  process.env.FAULTLINE_COUNTER_DIR = dir;
}

export function teardown(): void {
  try {
    const root = join(__dirname, '..', '..');
    // test files by name (counters-record.ts records basenames), in test/ and its groups
    const testFiles = (readdirSync(join(root, 'test'), { recursive: true }) as string[])
      .filter((f) => f.endsWith('.test.ts')).map((f) => basename(f));
    const moved = new Set<string>();
    const seen = new Set<string>();
    for (const f of readdirSync(dir)) {
      const rec = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { file: string; moved: string[] };
      seen.add(rec.file);
      for (const n of rec.moved) moved.add(n);
    }
    if (!testFiles.every((f) => seen.has(f))) return; // a partial run: nothing to conclude
    const dead = counterNames().filter((n) => !moved.has(n) && !(n in UNREACHABLE));
    const stale = Object.keys(UNREACHABLE).filter((n) => moved.has(n));
    const msgs: string[] = [];
    if (dead.length) msgs.push(`counters no test ever moved (a test comparing them proves nothing): ${dead.join(', ')}`);
    if (stale.length) msgs.push(`counters listed as unreachable but moved: ${stale.join(', ')}`);
    if (msgs.length) {
      // vitest reports a teardown error but keeps its exit code: set it too
      process.exitCode = 1;
      process.stderr.write(`\nFAIL counters (test/support/counters-global.ts):\n  ${msgs.join('\n  ')}\n`);
      throw new Error(msgs.join('\n'));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
