// Builds the web page into dist/web/: web/index.html, the page script
// (web/app.ts), the timeline viewer (web/trace.html, web/trace.ts), the sweep runner worker (web/runner.ts), the CPU worker
// (src/browser/cpu-worker.ts), bundled by rolldown for browsers, and the two
// released cores. `faultline serve` serves this directory.
import { build } from 'rolldown';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const [name, input] of [['app', 'web/app.ts'], ['runner', 'web/runner.ts'], ['cpu-worker', 'src/browser/cpu-worker.ts'], ['trace', 'web/trace.ts']]) {
  await build({
    input: join(root, input),
    platform: 'browser',
    // the sources import each other as ./x.js (TypeScript's nodenext style)
    resolve: { extensionAlias: { '.js': ['.ts', '.js'] } },
    logLevel: 'warn',
    // one file per entry: src/plot.ts loads vega on first use (a dynamic import), bundled in
    output: { file: join(out, `${name}.js`), format: 'esm', minify: true, codeSplitting: false },
  });
}
copyFileSync(join(root, 'web', 'index.html'), join(out, 'index.html'));
copyFileSync(join(root, 'web', 'trace.html'), join(out, 'trace.html'));
for (const f of ['faultline.wasm', 'faultline-mn.wasm', 'faultline-observe.wasm', 'faultline-observe-mn.wasm']) copyFileSync(join(root, 'build', f), join(out, f));
console.log(`build-web: ${out}`);
