// Builds the two cores from the same sources (see README "Engines"):
//   build/faultline.wasm     asc output: one emulated CPU per host worker (--engine threads,
//                            the host's own instance); nothing in it ever unwinds
//   build/faultline-mn.wasm  the same module after Binaryen's Asyncify transform: many CPUs
//                            per host worker as coroutines, switched inside Wasm (--engine mn)
// Both instantiate against one shared memory, so their static data must be identical
// (every instantiation re-applies it): checked here.
//
// Each is built three times (assembly/build_flags.ts): the release core from assembly/index.ts
// (no observability hooks on its fault path); the observe core (faultline-observe.wasm,
// faultline-observe-mn.wasm), the same with --use FAULTLINE_OBS_BUILD=1: the hooks of
// lock_stat, the timeline and the flame graph (assembly/obs.ts), loaded only by a run that
// records one of them; and the test core (faultline-test.wasm, faultline-test-mn.wasm) from
// assembly/test/index.ts with --use FAULTLINE_TEST_BUILD=1: the t_* loops, the test controls
// on hot paths, and the observability hooks.
import { execFileSync } from 'node:child_process';
import { readFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (n) => join(root, 'node_modules', '.bin', n);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
mkdirSync(join(root, 'build'), { recursive: true });

/** active data segments (offset, bytes) of a module, to compare the two builds */
function dataSegments(file) {
  const mod = new WebAssembly.Module(readFileSync(file));
  void mod; // validates
  const buf = readFileSync(file);
  let p = 8;
  const leb = () => { let r = 0, s = 0, b; do { b = buf[p++]; r += (b & 0x7f) * 2 ** s; s += 7; } while (b & 0x80); return r; };
  const segs = [];
  while (p < buf.length) {
    const id = buf[p++]; const len = leb(); const end = p + len;
    if (id === 11) {
      const n = leb();
      for (let i = 0; i < n; i++) {
        const kind = leb();
        if (kind !== 0) throw new Error(`${file}: data segment kind ${kind} not expected from asc`);
        if (buf[p++] !== 0x41) throw new Error(`${file}: data segment offset is not i32.const`);
        let off = 0, s = 0, b; do { b = buf[p++]; off += (b & 0x7f) * 2 ** s; s += 7; } while (b & 0x80);
        if (buf[p++] !== 0x0b) throw new Error(`${file}: data segment offset expression`);
        const sz = leb();
        segs.push([off, buf.subarray(p, p + sz)]);
        p += sz;
      }
    }
    p = end;
  }
  // the bytes each build writes, address -> value (segment boundaries may differ)
  const bytes = new Map();
  for (const [off, b] of segs) b.forEach((v, i) => bytes.set(off + i, v));
  return bytes;
}
function sameStaticData(fa, fb) {
  const a = dataSegments(join(root, 'build', fa));
  const b = dataSegments(join(root, 'build', fb));
  for (const [addr, v] of a) {
    if ((b.get(addr) ?? 0) !== v) throw new Error(`build: static data of ${fa} and ${fb} differs at ${addr}: they cannot share one memory`);
  }
  for (const [addr, v] of b) if ((a.get(addr) ?? 0) !== v) throw new Error(`build: static data of ${fa} and ${fb} differs at ${addr}`);
}
// wasm-opt does not read asc's feature set from the binary: name them
const FEATURES = ['--mvp-features', '--enable-threads', '--enable-mutable-globals', '--enable-sign-ext',
  '--enable-nontrapping-float-to-int', '--enable-bulk-memory'];
const size = (f) => readFileSync(join(root, 'build', f)).length;

for (const v of [
  { name: 'release', entry: 'assembly/index.ts', plain: 'faultline.wasm', mn: 'faultline-mn.wasm', use: [] },
  { name: 'observe', entry: 'assembly/index.ts', plain: 'faultline-observe.wasm', mn: 'faultline-observe-mn.wasm',
    use: ['--use', 'FAULTLINE_OBS_BUILD=1'] },
  { name: 'test', entry: 'assembly/test/index.ts', plain: 'faultline-test.wasm', mn: 'faultline-test-mn.wasm',
    use: ['--use', 'FAULTLINE_TEST_BUILD=1'] },
]) {
  run(bin('asc'), [v.entry, '--config', 'asconfig.json', '--target', 'release', '--debug',
    '--outFile', `build/${v.plain}`, '--textFile', `build/${v.plain.replace(/\.wasm$/, '.wat')}`,
    '--transform', './scripts/noinline.mjs', ...v.use]);
  // asyncify-ignore-imports: no import unwinds (env.abort, the asyncify.* calls are Asyncify's own);
  // the only switch point is sched.ts sched_switch().
  // -g keeps the name section (asc's --debug wrote it) so a host profiler (node --cpu-prof) names the core's
  // functions; the code is the same with or without it (the build stripped of names is byte-identical).
  run(bin('wasm-opt'), [`build/${v.plain}`, ...FEATURES, '--asyncify', '--pass-arg=asyncify-ignore-imports',
    '-O3', '-g', '-o', `build/${v.mn}`]);
  sameStaticData(v.plain, v.mn);
  console.log(`build (${v.name}): ${v.plain} ${size(v.plain)} B, ${v.mn} ${size(v.mn)} B, same static data`);
}
