// The raw Wasm ABI of the released core, read from the built modules
// (build/faultline.wasm, build/faultline-mn.wasm): imports, exports with their
// signatures, and the value of every exported constant. `npm run abi` writes
// docs/abi.md from it; test/host/abi.test.ts checks that docs/abi.md is current and
// that the ABI did not change without an ABI_VERSION bump (assembly/layout.ts).
//
//   node scripts/abi.mjs          write docs/abi.md (refuses a change without a bump)
//   node scripts/abi.mjs --check  exit 1 when docs/abi.md is stale or the ABI changed without a bump
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DOC = join(root, 'docs', 'abi.md');

const VALTYPES = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x70: 'funcref', 0x6f: 'externref' };

/** function signatures, imports and exports of a module, from its binary */
export function parseModule(buf) {
  let p = 8;
  const u8 = () => buf[p++];
  const leb = () => { let r = 0, s = 0, b; do { b = buf[p++]; r += (b & 0x7f) * 2 ** s; s += 7; } while (b & 0x80); return r; };
  const name = () => { const n = leb(); const s = Buffer.from(buf.subarray(p, p + n)).toString('utf8'); p += n; return s; };
  const vt = () => { const t = u8(); const v = VALTYPES[t]; if (!v) throw new Error(`value type 0x${t.toString(16)}`); return v; };
  const limits = () => { const f = u8(); const min = leb(); const max = f & 1 ? leb() : undefined; return { min, max, shared: (f & 2) !== 0 }; };
  const types = [], funcTypes = [], imports = [], exports = [];
  while (p < buf.length) {
    const id = u8(); const size = leb(); const end = p + size;
    if (id === 1) {
      for (let n = leb(); n > 0; n--) {
        if (u8() !== 0x60) throw new Error('func type expected');
        const params = []; for (let k = leb(); k > 0; k--) params.push(vt());
        const results = []; for (let k = leb(); k > 0; k--) results.push(vt());
        types.push({ params, results });
      }
    } else if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        const module = name(), field = name(), kind = u8();
        if (kind === 0) { const t = types[leb()]; funcTypes.push(t); imports.push({ module, name: field, kind: 'function', type: t }); }
        else if (kind === 1) { vt(); imports.push({ module, name: field, kind: 'table', limits: limits() }); }
        else if (kind === 2) imports.push({ module, name: field, kind: 'memory', limits: limits() });
        else if (kind === 3) { const t = vt(); imports.push({ module, name: field, kind: 'global', type: t, mutable: u8() === 1 }); }
      }
    } else if (id === 3) {
      for (let n = leb(); n > 0; n--) funcTypes.push(types[leb()]);
    } else if (id === 7) {
      for (let n = leb(); n > 0; n--) {
        const field = name(), kind = u8(), index = leb();
        exports.push({ name: field, kind: ['function', 'table', 'memory', 'global'][kind], index });
      }
    }
    p = end;
  }
  for (const e of exports) if (e.kind === 'function') e.type = funcTypes[e.index];
  return { imports, exports };
}

const sig = (t) => `(${t.params.join(', ')}) -> ${t.results.length ? t.results.join(', ') : 'void'}`;

/** the host-call table of the released core (src/engine/calls.ts, generated from spec/calls.json; built into dist/) */
async function releasedCalls() {
  const { CALLS } = await import(join(root, 'dist', 'src', 'engine', 'calls.js'));
  return Object.entries(CALLS).filter(([, c]) => !c.test).map(([name, c]) => ({ id: c.id, name, params: c.params, result: c.result }));
}

/** the ABI of the released core: what a host depends on */
export async function describeAbi(files = { threads: join(root, 'build', 'faultline.wasm'), mn: join(root, 'build', 'faultline-mn.wasm') }) {
  const out = { calls: await releasedCalls() };
  for (const [build, file] of Object.entries(files)) {
    const bytes = readFileSync(file);
    const { imports, exports } = parseModule(bytes);
    // constant values: instantiate against a scratch shared memory
    const mem = new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true });
    const stub = () => { throw new Error('not called'); };
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
      env: { memory: mem, abort: stub },
      asyncify: { start_unwind: stub, stop_unwind: stub, start_rewind: stub, stop_rewind: stub },
    });
    out[build] = {
      imports: imports.map((i) => ({ module: i.module, name: i.name, kind: i.kind,
        ...(i.kind === 'function' ? { signature: sig(i.type) } : {}), ...(i.limits ? { shared: i.limits.shared, maximum: i.limits.max ?? null } : {}) })),
      functions: exports.filter((e) => e.kind === 'function').map((e) => ({ name: e.name, signature: sig(e.type) })).sort((a, b) => a.name.localeCompare(b.name)),
      constants: exports.filter((e) => e.kind === 'global').map((e) => ({ name: e.name, value: Number(inst.exports[e.name].value) })).sort((a, b) => a.name.localeCompare(b.name)),
      memories: exports.filter((e) => e.kind === 'memory').map((e) => e.name),
    };
  }
  return out;
}

/** sha256 of the ABI (both builds), hex */
export function fingerprint(abi) {
  return createHash('sha256').update(JSON.stringify(abi)).digest('hex');
}

export function abiVersion(abi) {
  const v = abi.threads.constants.find((c) => c.name === 'ABI_VERSION');
  if (!v) throw new Error('the core exports no ABI_VERSION (assembly/layout.ts)');
  return v.value;
}

/** "ABI version N, fingerprint sha256:X" as recorded in a docs/abi.md text */
export function recorded(text) {
  const m = /<!-- abi: version (\d+), sha256 ([0-9a-f]{64}) -->/.exec(text);
  return m ? { version: Number(m[1]), fingerprint: m[2] } : undefined;
}

const GROUPS = [
  ['H_', 'header fields (offsets from HDR_BASE)'], ['SET_', 'fault-path settings (offsets from HDR_BASE + H_SETTINGS)'],
  ['PC_', 'per-CPU block fields (offsets from the CPU\'s block: H_PERCPU_BASE + cpu * H_PERCPU_SIZE)'],
  ['WK_', 'host-worker block fields (H_WORKERS_BASE + worker * WK_SIZE)'], ['RQ_', 'run-queue entries (H_RUNQ_BASE + cpu * RQ_SIZE)'],
  ['STAT_', 'counter indices (u64 at the CPU block + PC_STATS + 8 * index)'], ['COST_', 'cost-vector indices (u32 at H_PROFILE_BASE + 4 * index)'],
  ['CPU_', 'CPU states (u32 at PC_STATE)'], ['STOP_', 'stop reasons (u32 at H_STOP)'], ['WAIT_', 'wait kinds (u32 at PC_WAIT_KIND)'],
  ['SCHED_', 'sched_run() results besides a CPU number'], ];

/** docs/abi.md for an ABI */
export function renderDoc(abi) {
  const version = abiVersion(abi);
  const fp = fingerprint(abi);
  const t = abi.threads;
  const mnOnly = abi.mn.functions.filter((f) => !t.functions.some((g) => g.name === f.name));
  const byGroup = new Map(GROUPS.map(([pre]) => [pre, []]));
  const other = [];
  for (const c of t.constants) {
    const g = GROUPS.find(([pre]) => c.name.startsWith(pre));
    (g ? byGroup.get(g[0]) : other).push(c);
  }
  const table = (rows, cols) => [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  const consts = (cs) => table(cs.map((c) => [`\`${c.name}\``, String(c.value)]), ['name', 'value']);
  return `# The raw Wasm ABI of the core

<!-- GENERATED by scripts/abi.mjs (npm run abi) from build/faultline.wasm and build/faultline-mn.wasm. Do not edit. -->
<!-- abi: version ${version}, sha256 ${fp} -->

**ABI version ${version}** (the exported constant \`ABI_VERSION\`; fingerprint
\`sha256:${fp.slice(0, 16)}…\` of everything listed below). This is the
contract of the *released* core, what a host other than faultline's own
(src/) needs to drive it without the TypeScript API (docs/api.md). Any change
of an import, an export, a signature or a constant's value is an ABI change:
bump \`ABI_VERSION\` in assembly/layout.ts and run \`npm run abi\`;
test/host/abi.test.ts fails until both are done. The shared-memory layout has its
own version too (\`LAYOUT_VERSION\` ${t.constants.find((c) => c.name === 'LAYOUT_VERSION')?.value}, written
to the header as \`H_VERSION\` beside \`H_MAGIC\` = \`LAYOUT_MAGIC\`).

## The two modules

- \`build/faultline.wasm\` (\`threads\`): one emulated CPU per host thread; also
  the host's own instance (set-up, reading state). Imports the four
  \`asyncify.*\` functions only to fail loudly: nothing in it unwinds.
- \`build/faultline-mn.wasm\` (\`mn\`): the same module after Binaryen's
  Asyncify pass: many CPUs per host thread as coroutines, switched inside
  Wasm (\`sched_run\`). It also exports ${mnOnly.map((f) => `\`${f.name}\``).join(', ')}.

Both are instantiated against ONE shared memory (every instantiation of
every host thread, both builds) and re-apply the same static data below
\`HDR_BASE\` (${t.constants.find((c) => c.name === 'HDR_BASE')?.value}). The test build of the
core (\`t_*\` loops, test flags) is not part of this ABI and is not shipped.

## Imports

${table(t.imports.map((i) => [`\`${i.module}.${i.name}\``, i.kind, i.signature ?? (i.kind === 'memory' ? `shared: ${i.shared}, maximum ${i.maximum} pages` : '')]), ['import', 'kind', 'type'])}

\`env.abort(msg, file, line, col)\`: an AssemblyScript assertion failed; \`msg\`
and \`file\` are pointers to UTF-16 strings (length in bytes at ptr - 4).
Throw from it: the CPU's run stops with that message.

## Laying out a machine (what src/machine.ts does)

1. Create a shared \`WebAssembly.Memory\` (maximum 65536 pages) large enough for
   the header and the regions; instantiate the \`threads\` module on it.
2. Write the header at \`HDR_BASE\`: \`H_MAGIC\`, \`H_VERSION\`, \`H_NCPUS\`,
   \`H_MODE\` (\`MODE_PARALLEL\` / \`MODE_DETERMINISTIC\`), \`H_STRATEGY\`,
   \`H_QUANTUM\`, the TLB shape, the object counts and the base address of
   every region, 64-byte aligned (4096 for the per-CPU blocks and the
   page-table pages), in this order: profile costs (\`NCOSTS\` u32 in
   \`COST_*\` order) | mm (\`MM_SIZE\`) | per-CPU blocks (\`H_PERCPU_SIZE\`
   each) | frames (\`FR_SIZE\` each) | page-table meta (\`PTM_SIZE\`) |
   page-table pages (4096) | VMA slots (\`VMA_SIZE\`) | VMA index | page-cache
   maps (\`PCM_SIZE\` per CPU) | worker blocks (\`WK_SIZE\`) | run queue
   (\`RQ_SIZE\` per CPU) | Asyncify stacks (\`H_ASYNC_SIZE\` per CPU, mn
   only) | files (\`FILE_SIZE\`) | file index. The fault-path settings go at
   \`HDR_BASE + H_SETTINGS + SET_*\`.
3. Per CPU: \`PC_ID\`, \`PC_WORKER\` (its host worker), topology
   (\`PC_SOCKET\`, \`PC_CORE\`, \`PC_THREAD\`), a non-zero xorshift seed at
   \`PC_RNG\`, \`PC_STATE\` = \`CPU_RUNNABLE\`; per worker: \`WK_FIRST\`,
   \`WK_COUNT\` (contiguous CPU ranges).
4. Call \`machine_init()\`, once, on the host instance.

## Running CPUs

Each host thread instantiates a module (\`mn\`, or \`threads\` for one CPU per
thread) on the same memory and calls \`sched_worker_bind(worker)\`. Set
\`H_RENDEZVOUS\` to the number of threads first: each bumps \`H_STARTED\` and
they start together. A CPU's program is a sequence of host calls: write
the arguments (u64 slots) at \`sched_call_args(cpu)\`, call
\`sched_post_call(cpu, id)\` (the call table below; the test core has
more, \`NCALLS\` in all), then loop on \`sched_run()\`: it returns the CPU whose
call returned (read \`sched_call_result(cpu)\`, post its next call or call
\`sched_cpu_finish(cpu)\`), \`SCHED_DONE\` when every CPU of the worker
finished, or \`SCHED_STOPPED\`. Waits inside the core park the CPU and run
another; a worker with nothing runnable sleeps on \`WK_WAKE\` (Atomics.wait:
host threads must be allowed to block, i.e. not a browser's main thread).

## Reading counters and clocks

CPU \`c\`'s block is at \`H_PERCPU_BASE + c * H_PERCPU_SIZE\` (header words).
Its virtual clock is the u64 at \`PC_CLOCK\`, its state the u32 at
\`PC_STATE\` (\`CPU_*\`), what it waits for \`PC_WAIT_KIND\` / \`PC_WAIT_OBJ\`.
Counter \`STAT_<name>\` is the u64 at \`PC_STATS + 8 * STAT_<name>\` (\`NSTATS\`
of them; names, units and descriptions: spec/counters.json, lock classes
expand to \`<class>_acquire\`, \`_contended\`, \`_wait_cycles\`). Sum over CPUs
for machine totals. Read them while CPUs run (relaxed: a live view) or after.

## Stopping

Set \`H_STOP\` (compare-exchange from 0) to a \`STOP_*\` reason and wake everyone:
bump every CPU's \`PC_WAKE\` and every worker's \`WK_WAKE\` (Atomics.notify), or
call \`request_stop(reason)\` from a thread bound to the machine. Every
\`sched_run()\` then returns \`SCHED_STOPPED\`; \`H_STOP_CPU\` names the CPU that
stopped the run when the core did (deadlock in deterministic mode, a crash).

## Host calls (\`sched_post_call\`)

A call's arguments are u64 slots (8 bytes each, in order; 32-bit and bool
values in the low half) at \`sched_call_args(cpu)\`; its result is the i64
\`sched_call_result(cpu)\` (32-bit results sign-extended). What each call
does: the function of the same name in assembly/ (\`access\`, \`touch\`:
access.ts; \`sys_*\`: mmap.ts; \`wl_*\`: workloads.ts; \`stress_*\`: stress.ts).

${table(abi.calls.map((c) => [String(c.id), `\`${c.name}\``, `\`(${c.params.join(', ')}) -> ${c.result}\``]), ['id', 'call', 'arguments -> result'])}

## Exported functions (${t.functions.length}${mnOnly.length ? ` + ${mnOnly.length} in mn` : ''})

${table([...t.functions, ...mnOnly.map((f) => ({ ...f, name: `${f.name} (mn only)` }))].map((f) => [`\`${f.name}\``, `\`${f.signature}\``]), ['function', 'signature'])}

## Exported constants (${t.constants.length})

${GROUPS.map(([pre, what]) => byGroup.get(pre).length ? `### \`${pre}*\`: ${what}\n\n${consts(byGroup.get(pre))}\n` : '').filter(Boolean).join('\n')}
### Other constants (layout sizes and offsets of the shared structs, PTE bits, limits)

${consts(other)}
`;
}

/** null when docs/abi.md is current and versioned; else the problem, one line */
export function checkDoc(abi, text) {
  const rec = recorded(text ?? '');
  const version = abiVersion(abi);
  const fp = fingerprint(abi);
  if (!rec) return 'docs/abi.md has no ABI record: run npm run abi';
  if (rec.fingerprint !== fp && rec.version === version) {
    return `the ABI changed without a version bump (ABI_VERSION is still ${version}): bump ABI_VERSION in assembly/layout.ts, rebuild, then npm run abi`;
  }
  if (text !== renderDoc(abi)) return `docs/abi.md is stale (ABI version ${version}${rec.version !== version ? `, it records ${rec.version}` : ''}): run npm run abi`;
  return null;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const abi = await describeAbi();
  const text = existsSync(DOC) ? readFileSync(DOC, 'utf8') : '';
  const problem = checkDoc(abi, text);
  if (process.argv.includes('--check')) {
    if (problem) { console.error(`abi: ${problem}`); process.exit(1); }
  } else if (problem && problem.startsWith('the ABI changed')) {
    console.error(`abi: ${problem}`);
    process.exit(1);
  } else {
    writeFileSync(DOC, renderDoc(abi));
    console.log(`abi: docs/abi.md (ABI version ${abiVersion(abi)})`);
  }
}
