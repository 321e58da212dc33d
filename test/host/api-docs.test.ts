// docs/api.md matches the code: every ```js example that imports 'faultline'
// runs as written (through the package's own exports, as a user's script
// would), and every line it prints with a `// expected` comment beside its
// console.log is printed exactly.
import { describe, it, expect } from 'vitest';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const doc = readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8');
const blocks = [...doc.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]).filter((b) => /from 'faultline'/.test(b));

describe('docs/api.md examples', () => {
  it('there are examples to run', () => expect(blocks.length).toBeGreaterThanOrEqual(2));

  blocks.forEach((code, i) => {
    it(`example ${i + 1} runs and prints what its comments say`, () => {
      // inside the package, so 'faultline' resolves to the package itself (its exports), as for a user
      const dir = join(ROOT, 'test-output');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `api-doc-example-${i + 1}.mjs`);
      writeFileSync(file, code);
      const { FAULTLINE_CORE: _t, ...env } = process.env; // as a user runs it: the released core
      const r = spawnSync(process.execPath, [file], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const printed = r.stdout.split('\n');
      const expected = [...code.matchAll(/^console\.log\(.*\);\s*\/\/ (.+)$/gm)].map((m) => m[1].trim());
      expect(expected.length).toBeGreaterThan(0);
      for (const e of expected) expect(printed, e).toContain(e);
    }, 180_000);
  });
});
