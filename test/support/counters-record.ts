// Records, per test file, which counters the file's machines moved (see
// counters-global.ts). Wraps Machine.run in the test process only.
import { afterAll, expect } from 'vitest';
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Machine } from '../../src/machine.js';

const moved = new Set<string>();
const proto = Machine.prototype as unknown as { run: (...a: unknown[]) => Promise<unknown>; stats(): Record<string, bigint> };
const run = proto.run;
proto.run = async function (this: typeof proto, ...a: unknown[]) {
  try {
    return await run.apply(this, a);
  } finally {
    try { for (const [k, v] of Object.entries(this.stats())) if (v !== 0n) moved.add(k); } catch { /* machine unusable after a crash */ }
  }
};

afterAll(() => {
  const dir = process.env.FAULTLINE_COUNTER_DIR;
  const file = expect.getState().testPath;
  if (!dir || !file) return;
  writeFileSync(join(dir, `${basename(file)}-${process.pid}.json`), JSON.stringify({ file: basename(file), moved: [...moved] }));
});
