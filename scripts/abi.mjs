// The raw Wasm ABI of the released core, read from the built modules
// (build/faultline.wasm, build/faultline-mn.wasm): imports, exports with their
// signatures, and the value of every exported constant. `npm run abi` writes
// docs/abi.md from it; test/host/abi.test.ts checks that docs/abi.md is current and
// that the ABI did not change without an ABI_VERSION bump (assembly/layout.ts).
//
//   node scripts/abi.mjs          write docs/abi.md (refuses a change without a bump)
//   node scripts/abi.mjs --check  exit 1 when docs/abi.md is stale or the ABI changed without a bump
import { readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { HEADER, SETTINGS, REGIONS, PERCPU, ASYNC_STACK_BYTES } from './abi-spec.mjs';
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

/** a global's value: a number when exact, else (i64 beyond 2^53) its signed decimal string */
const constValue = (v) => (typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : String(v)) : v);

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
      constants: exports.filter((e) => e.kind === 'global').map((e) => ({ name: e.name, value: constValue(inst.exports[e.name].value) })).sort((a, b) => a.name.localeCompare(b.name)),
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
  ['CPU_', 'CPU states (u32 at PC_STATE)'], ['STOP_', 'stop reasons (u32 at H_STOP) and STOP_CPU_NONE (H_STOP_CPU)'], ['WAIT_', 'wait kinds (u32 at PC_WAIT_KIND)'],
  ['SCHED_', 'sched_run() results besides a CPU number'], ['STRATEGY_', 'fault-path strategies (H_STRATEGY)'],
  ['PROT_', 'protection bits (sys_mmap, sys_mprotect: the uapi values)'], ['MAP_', 'mmap flags (uapi values; MAP_X_*: faultline\'s own)'],
  ['MADV_', 'madvise advice'], ];

/** what the sources and profiles say beside the binary: host-call docs, shipped profiles */
export function describeSources(abi) {
  // each released call's parameter names and the comment above its `export function`
  const docs = new Map();
  for (const f of readdirSync(join(root, 'assembly')).filter((f) => f.endsWith('.ts'))) {
    const src = readFileSync(join(root, 'assembly', f), 'utf8');
    const lines = src.split('\n');
    lines.forEach((line, i) => {
      // the signature may span lines
      const m = /^export function (\w+)\(([^)]*)\)/.exec(lines.slice(i, i + 6).join(' '));
      if (!line.startsWith('export function ') || !m) return;
      // the comment block right above it (decorators may sit between)
      const above = [];
      for (let j = i - 1; j >= 0; j--) {
        const l = lines[j].trim();
        if (l.startsWith('@')) continue;
        if (!(l.startsWith('//') || l.startsWith('*') || l.startsWith('/*'))) break;
        above.unshift(l);
      }
      const comment = above.map((l) => l.replace(/^(\/\*\*?|\*\/|\*|\/\/)\s?/, '').replace(/\*\/$/, '').trim()).filter(Boolean).join(' ');
      const names = m[2].split(',').map((p) => p.trim()).filter(Boolean).map((p) => p.split(':')[0].trim());
      docs.set(m[1], { file: `assembly/${f}`, comment, names });
    });
  }
  const calls = abi.calls.map((c) => {
    const d = docs.get(c.name);
    return { ...c, file: d?.file ?? '', names: d?.names ?? c.params.map((_, i) => `a${i}`), comment: d?.comment ?? '' };
  });
  const byName = Object.fromEntries(abi.threads.constants.map((c) => [c.name, c.value]));
  const costIndex = Object.entries(byName).filter(([k]) => k.startsWith('COST_')).sort((a, b) => a[1] - b[1]).map(([k]) => k.slice(5).toLowerCase());
  const profiles = {};
  for (const f of readdirSync(join(root, 'profiles')).filter((f) => f.endsWith('.json')).sort()) {
    const p = JSON.parse(readFileSync(join(root, 'profiles', f), 'utf8'));
    profiles[p.name] = { ghz: p.ghz, topology: p.topology, costs: costIndex.map((k) => p.costs[k]?.cycles ?? 0) };
  }
  return { calls, profiles, costKeys: costIndex };
}

/** the machine-readable block of docs/abi.md (examples/raw-abi reads everything it uses from it) */
export function abiJson(abi, src) {
  const t = abi.threads;
  return {
    abiVersion: abiVersion(abi),
    constants: Object.fromEntries(t.constants.map((c) => [c.name, c.value])),
    modules: Object.fromEntries(['threads', 'mn'].map((b) => [b, { file: b === 'mn' ? 'faultline-mn.wasm' : 'faultline.wasm', imports: abi[b].imports }])),
    calls: src.calls.map((c) => ({ id: c.id, name: c.name, params: c.params.map((type, i) => ({ name: c.names[i] ?? `a${i}`, type })), result: c.result })),
    header: Object.entries(HEADER).map(([name, h]) => ({ name, offset: t.constants.find((c) => c.name === name)?.value, width: h.w, by: h.by,
      unit: h.unit ?? null, default: h.def ?? null, range: h.range ?? null })).sort((a, b) => a.offset - b.offset),
    settings: Object.entries(SETTINGS).map(([name, s]) => ({ name, offset: t.constants.find((c) => c.name === name)?.value, unit: s.unit ?? null,
      default: s.def, ...(s.byStrategy ? { byStrategy: s.byStrategy } : {}), range: s.range })).sort((a, b) => a.offset - b.offset),
    firstRegion: 'HDR_BASE + HDR_SIZE',
    regions: REGIONS.map(({ name, base, bytes, align }) => ({ name, base, bytes, align })),
    percpu: PERCPU,
    asyncStackBytes: ASYNC_STACK_BYTES,
    profiles: src.profiles,
  };
}

/** every H_* and SET_* the core exports has its entry in scripts/abi-spec.mjs, and nothing else does */
export function specProblems(abi) {
  const names = abi.threads.constants.map((c) => c.name);
  const out = [];
  for (const n of names) {
    if (n.startsWith('H_') && !HEADER[n]) out.push(`${n}: no entry in scripts/abi-spec.mjs HEADER`);
    if (n.startsWith('SET_') && !SETTINGS[n]) out.push(`${n}: no entry in scripts/abi-spec.mjs SETTINGS`);
  }
  for (const n of [...Object.keys(HEADER), ...Object.keys(SETTINGS)]) if (!names.includes(n)) out.push(`${n}: in scripts/abi-spec.mjs, not exported by the core`);
  return out;
}

/** a formula of scripts/abi-spec.mjs (integers, constants, [H_X] header values, + - *, align(x, a)) */
export function evaluate(formula, K, hv) {
  const js = formula.replace(/\[(H_[A-Z0-9_]+)\]/g, (_, f) => { if (!(f in hv)) throw new Error(`${formula}: ${f} has no value`); return String(hv[f]); })
    .replace(/\b[A-Z][A-Z0-9_]*\b/g, (n) => { if (!(n in K)) throw new Error(`${formula}: unknown ${n}`); return String(K[n]); });
  if (!/^[\d\s+*()\-,align]*$/.test(js)) throw new Error(`${formula}: cannot read it`);
  return Function('align', `return ${js};`)((x, a) => Math.ceil(x / a) * a);
}

/** bytes of a machine laid out by the formulas (the last region's end, rounded up to 65536) */
export function machineBytes(K, counts) {
  const hv = { H_TLB_SETS: 16, H_TLB_WAYS: 4, H_NMM: 1, H_NWORKERS: 1, H_ASYNC_SIZE: 0, H_NFILES: 0, H_FILE_PAGES: 0, ...counts };
  hv.H_PERCPU_SIZE = evaluate(PERCPU.size, K, hv);
  let off = K.HDR_BASE + K.HDR_SIZE;
  for (const r of REGIONS) off = Math.ceil(off / r.align) * r.align + evaluate(r.bytes, K, hv);
  return Math.ceil(off / 65536) * 65536;
}

/** docs/abi.md for an ABI */
export function renderDoc(abi, src = describeSources(abi)) {
  const problems = specProblems(abi);
  if (problems.length) throw new Error(`scripts/abi-spec.mjs does not match the core:\n  ${problems.join('\n  ')}`);
  const version = abiVersion(abi);
  const fp = fingerprint(abi);
  const t = abi.threads;
  const K = Object.fromEntries(t.constants.map((c) => [c.name, c.value]));
  const mnOnly = abi.mn.functions.filter((f) => !t.functions.some((g) => g.name === f.name));
  const byGroup = new Map(GROUPS.map(([pre]) => [pre, []]));
  const other = [];
  for (const c of t.constants) {
    const g = GROUPS.find(([pre]) => c.name.startsWith(pre));
    (g ? byGroup.get(g[0]) : other).push(c);
  }
  const table = (rows, cols) => [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  // a negative i32 global is a u32 constant with its top bit set: show both
  const show = (v) => (typeof v === 'number' && v < 0 && v >= -(2 ** 31) ? `${v} (u32: ${v >>> 0})` : String(v));
  const consts = (cs) => table(cs.map((c) => [`\`${c.name}\``, show(c.value)]), ['name', 'value']);
  const imports = (b) => table(abi[b].imports.map((i) => [`\`${i.module}.${i.name}\``, i.kind, i.signature ?? (i.kind === 'memory' ? `shared: ${i.shared}, maximum ${i.maximum} pages` : '')]), ['import', 'kind', 'type']);
  const asyncifyIn = ['threads', 'mn'].filter((b) => abi[b].imports.some((i) => i.module === 'asyncify'));
  const json = abiJson(abi, src);
  const minBytes = machineBytes(K, { H_NCPUS: 1, H_TLB_SETS: 1, H_TLB_WAYS: 1, H_NFRAMES: 2, H_NPTPAGES: 2, H_NVMAS: 2, H_MAX_VMAS_PER_MM: 1 });
  const dflt = { H_NFRAMES: 65536, H_NPTPAGES: 4096, H_NVMAS: 4096, H_MAX_VMAS_PER_MM: 1024, H_NFILES: 8, H_FILE_PAGES: 1024 };
  const defBytes = machineBytes(K, { ...dflt, H_NCPUS: 1 });
  const perCpu = (machineBytes(K, { ...dflt, H_NCPUS: 65, H_NWORKERS: 2, H_ASYNC_SIZE: ASYNC_STACK_BYTES }) - machineBytes(K, { ...dflt, H_NCPUS: 1 })) / 64;
  const nReleased = abi.calls.length;
  const def = (d) => (d === null || d === undefined ? '' : typeof d === 'number' ? String(d) : d);
  const code = (x) => (x ? x.replace(/\b([A-Z][A-Z0-9_]*[A-Z0-9])\b/g, (w) => (w in K ? `\`${w}\`` : w)) : '');
  const headerRows = json.header.map((h) => [`\`${h.name}\``, String(h.offset), h.width.replace(/([A-Z_]+)/g, '`$1`'), h.by, h.unit ?? '', code(def(h.default)), code(h.range ?? ''), code(HEADER[h.name].what)]);
  const settingRows = json.settings.map((s) => [`\`${s.name}\``, String(s.offset), s.unit ?? '', code(String(s.default) + (s.byStrategy ? `; ${Object.entries(s.byStrategy).map(([k, v]) => `${v} under ${k}`).join(', ')}` : '')), code(s.range), code(SETTINGS[s.name].what)]);
  const regionRows = REGIONS.map((r) => [`\`${r.name}\``, `\`${r.base}\``, `\`${r.bytes}\``, `${r.align}${r.hostAlign ? ` (faultline: ${r.hostAlign})` : ''}`, code(r.what)]);
  const callRows = src.calls.map((c) => [String(c.id), `\`${c.name}\``, `\`(${c.params.map((p, i) => `${c.names[i] ?? ''}: ${p}`).join(', ')}) -> ${c.result}\``, c.comment.replace(/\|/g, '\\|') + (c.file ? ` (${c.file})` : '')]);
  const prof = Object.entries(src.profiles).map(([n, p]) => [`\`${n}\``, String(p.ghz), `${p.topology.sockets} x ${p.topology.coresPerSocket} x ${p.topology.threadsPerCore}`, p.costs.join(', ')]);
  return `# The raw Wasm ABI of the core

<!-- GENERATED by scripts/abi.mjs (npm run abi) from build/faultline.wasm, build/faultline-mn.wasm, scripts/abi-spec.mjs, the comments of assembly/ and profiles/. Do not edit. -->
<!-- abi: version ${version}, sha256 ${fp} -->

**ABI version ${version}** (the exported constant \`ABI_VERSION\`; fingerprint
\`sha256:${fp.slice(0, 16)}…\` of the imports, exports, signatures, constants
and call table). This is the contract of the *released* core, what a host
other than faultline's own (src/) needs to drive it without the TypeScript API
(docs/api.md): a harness can be written from this page alone, and one is:
\`examples/raw-abi/\` (it reads every number it uses from the JSON block at the
end of this page; a test runs it on the released core). Any change of an
import, an export, a signature or a constant's value is an ABI change: bump
\`ABI_VERSION\` in assembly/layout.ts and run \`npm run abi\`; test/host/abi.test.ts
fails until both are done. The shared-memory layout has its own version
(\`LAYOUT_VERSION\` ${K.LAYOUT_VERSION}, written to the header as \`H_VERSION\`
beside \`H_MAGIC\` = \`LAYOUT_MAGIC\`).

Widths: every header word, setting and per-CPU field is little-endian; \`u32\`
unless its table says otherwise; clocks, counters, \`PC_RNG\`, PTE values and
call arguments are \`u64\`. Virtual time is in **cycles** of the emulated CPU
(the profile's clock, \`H_GHZ_MILLI\` MHz). The 64-bit constants below are
exact (signed, as Wasm's i64 globals read): \`_PAGE_NX\` is ${K._PAGE_NX}.

## The two modules

- \`build/faultline.wasm\` (\`threads\`): one emulated CPU per host thread; also
  the host's own instance (set-up, reading state).
- \`build/faultline-mn.wasm\` (\`mn\`): the same module after Binaryen's
  Asyncify pass: many CPUs per host thread as coroutines, switched inside
  Wasm (\`sched_run\`). It also exports ${mnOnly.map((f) => `\`${f.name}\``).join(', ')}.

Both are instantiated against ONE shared memory (every instantiation of
every host thread, both builds) and re-apply the same static data below
\`HDR_BASE\` (${K.HDR_BASE}). The package also ships the observe core,
\`build/faultline-observe.wasm\` and \`build/faultline-observe-mn.wasm\`: the
same sources, exports and layout with the observability hooks compiled in
(lock_stat, the timeline, the flame graph: \`H_OBS\`), which the released core
leaves out of its fault path; a host loads it only for a run that records.
The test build of the core (\`t_*\` loops, test flags) is not part of this
ABI and is not shipped.

### Imports of \`threads\` (faultline.wasm)

${imports('threads')}

### Imports of \`mn\` (faultline-mn.wasm)

${imports('mn')}

Only ${asyncifyIn.map((b) => `\`${b}\``).join(' and ')} import${asyncifyIn.length === 1 ? 's' : ''} \`asyncify.*\`${asyncifyIn.includes('threads') && !asyncifyIn.includes('mn') ? ': in the threads module nothing unwinds, so they are called only by a broken set-up (more than one CPU on a thread of it): throw from them' : ''}.

\`env.abort(msg, file, line, col)\`: the core refuses what it was given
(\`machine_init\` naming the bad field, \`sched_worker_bind\`,
\`sched_post_call\`) or an assertion failed. \`msg\` and \`file\` are pointers
to UTF-16LE strings whose length in bytes is the u32 at ptr - 4; \`file\` is 0
for the core's own checks. Throw from it: the call that aborted does not
return, and the CPU's run stops with that message.

## Laying out a machine

Memory: a shared \`WebAssembly.Memory\` (maximum 65536 pages) of at least
\`H_TOTAL_BYTES\` bytes: the static data below \`HDR_BASE\`, the header
(\`HDR_SIZE\` = ${K.HDR_SIZE} bytes at \`HDR_BASE\`), then the regions. The
smallest machine \`machine_init\` accepts (1 CPU, a 1 x 1 TLB, 2 frames, 2
page-table pages, 2 VMA slots, 1 VMA per mm, no files) needs
${minBytes} bytes (${minBytes / 65536} pages); faultline's default machine of
1 CPU (65536 frames, 4096 page-table pages and VMA slots, 1024 VMAs per mm, 8
shmem objects of 1024 pages) ${defBytes} bytes (${(defBytes / 2 ** 20).toFixed(1)} MiB), each further CPU
about ${Math.round(perCpu / 1024)} KiB more.

### Regions

In this order, the first at \`HDR_BASE + HDR_SIZE\`, each at the next multiple
of its alignment after the previous one ends; its base goes in its header
word. Sizes in bytes; \`[H_NCPUS]\` is the value of header word \`H_NCPUS\` (and so on). A region
of 0 bytes may have any base. \`machine_init\` refuses a region that starts
in the header, is misaligned, ends past \`H_TOTAL_BYTES\` or overlaps another.

${table(regionRows, ['region', 'base in', 'bytes', 'alignment', 'what'])}

\`H_TOTAL_BYTES\`: the end of the last region (faultline rounds it up to 65536).

### The per-CPU block

CPU \`c\`'s block is at \`H_PERCPU_BASE + c * H_PERCPU_SIZE\`: the fixed fields
(\`PC_*\`, below \`PC_STATS\`), the counters (\`NSTATS\` u64 at \`PC_STATS\`,
\`NSTATS_ALIGNED\` x 8 bytes), the IPI mailbox (one \`MB_SIZE\` slot per CPU of
the run, whole cache lines), the TLB (\`H_TLB_SETS\` x \`H_TLB_WAYS\` entries of
\`TLBE_SIZE\`, then \`TLB2M_BYTES\` of 2 MiB entries), then any scratch of the host's:

| offset | formula |
|---|---|
| mailbox | \`${PERCPU.mailboxOff}\` |
| mailbox bytes | \`${PERCPU.mailboxBytes}\` |
| TLB | \`${PERCPU.tlbOff}\` |
| TLB bytes | \`${PERCPU.tlbBytes}\` |
| \`H_PERCPU_SIZE\` (faultline's) | \`${PERCPU.size}\` |

\`machine_init\` requires \`H_PERCPU_SIZE\` >= mailbox + its bytes + TLB bytes and a multiple of 64.

### Header words

At \`HDR_BASE\` + offset. *by*: \`host\` writes it before \`machine_init\`;
\`region\`: a region's base (above); \`run\`: the host, before it starts the
threads of a run; \`core\`: \`machine_init\` and the CPUs write it (the host
only reads it). *default*: what faultline's host writes (src/machine.ts);
*range*: what \`machine_init\` accepts (it refuses anything else by name).
Width \`FL_SIZE\`, \`SL_SIZE\`: a free list or spinlock struct of that size.

${table(headerRows, ['word', 'offset', 'width', 'by', 'unit', 'default', 'range', 'what'])}

### Fault-path settings

u32 at \`HDR_BASE + H_SETTINGS\` + offset, written by the host before
\`machine_init\`. Leaving one at 0 is not "the default": 0 is invalid for
several and refused.

${table(settingRows, ['setting', 'offset', 'unit', 'default', 'range', 'what'])}

### The cost vector

\`NCOSTS\` u32 at \`H_PROFILE_BASE\`, in \`COST_*\` index order: cycles of each
modeled event, each below \`MAX_COST_CYCLES\` (not all 0). The shipped
profiles (profiles/*.json, each cost with its source) as vectors
(${src.costKeys.map((k) => k).join(', ')}):

${table(prof, ['profile', 'GHz', 'sockets x cores x threads', 'cost vector'])}

### Start-up, step by step

1. Create the memory; instantiate the \`threads\` module on it (the host's own instance).
2. Write every \`host\` and \`region\` header word (above) and the settings; leave the \`core\` words 0.
3. Write the cost vector at \`H_PROFILE_BASE\`.
4. Per worker \`w\` (\`H_WORKERS_BASE + w * WK_SIZE\`): \`WK_FIRST\`, \`WK_COUNT\`:
   contiguous CPU ranges, worker 0 from CPU 0, covering every CPU.
5. Per CPU: \`PC_ID\` = c, \`PC_WORKER\` = its worker, topology \`PC_SOCKET\`,
   \`PC_CORE\`, \`PC_THREAD\` (faultline: thread = c / (sockets x cores), then
   socket = (c mod (sockets x cores)) / cores, core = the rest mod cores, for a
   workload that binds cores in order; a scheduler-placed one alternates sockets),
   \`PC_SMT_EXTRA\` (0, or the profile's smt_slowdown x 1024 / 100 when another CPU
   of the run shares the core), a non-zero xorshift seed at \`PC_RNG\` (u64),
   \`PC_STATE\` = \`CPU_RUNNABLE\`.
6. Call \`machine_init()\` once, on the host instance. It checks all of the
   above first: a bad field is reported through \`env.abort\` by name, with its
   value, and nothing is built (\`H_INIT_DONE\` stays 0). On success it builds
   the free lists, page tables, locks, files, and sets \`H_STOP_CPU\` =
   \`STOP_CPU_NONE\`, \`H_INIT_DONE\` = \`LAYOUT_MAGIC\`.
7. After \`machine_init\`: each file's size. \`machine_init\` sizes every file
   to \`H_FILE_PAGES\`; write \`FILE_NPAGES\` (u32 at \`H_FILES_BASE + f * FILE_SIZE + FILE_NPAGES\`)
   of regular files to their size and of shmem objects (\`f\` >= \`H_SHMEM_FIRST\`) to 0.

## Running CPUs

1. Zero \`H_STARTED\`; set \`H_RENDEZVOUS\` to the number of threads of the run.
2. Start one host thread per worker. Each instantiates a module on the same
   memory: \`mn\` when its worker runs several CPUs, \`threads\` (or \`mn\`) when
   it runs one; calls \`sched_worker_bind(w)\`; bumps \`H_STARTED\` and waits
   (Atomics.wait, with a timeout to re-check \`H_STOP\`) until it reaches
   \`H_RENDEZVOUS\`, the last one notifying.
3. For each of its CPUs: write the call's arguments as u64 slots at
   \`sched_call_args(cpu)\` (32-bit and bool values in the low half), then
   \`sched_post_call(cpu, id)\` (ids: the call table below, 0 .. \`NCALLS\` - 1 =
   ${nReleased - 1} in the released core; another id, or a CPU of another worker, is refused).
4. Loop on \`sched_run()\`: a CPU number \`c\` >= 0: its call returned (read
   \`sched_call_result(c)\`, then post its next call or \`sched_cpu_finish(c)\`);
   \`SCHED_DONE\`: every CPU of the worker finished; \`SCHED_STOPPED\`: the
   machine stops. Waits inside the core park the CPU and run another; a
   worker with nothing runnable sleeps on \`WK_WAKE\` (Atomics.wait: host
   threads must be allowed to block, i.e. not a browser's main thread).

Rules:
- **Deterministic mode** (\`H_MODE\` = \`MODE_DETERMINISTIC\`) runs every CPU
  on ONE worker (\`H_NWORKERS\` = 1; the \`mn\` module when there are several
  CPUs): it is exact, and the same seed and layout give the same bits. On
  several workers it could not be: \`machine_init\` refuses it.
- Parallel mode runs any split of CPUs over workers, in real time on shared
  memory: results vary from run to run within the lax barrier's quantum.
- A worker runs only its own CPUs (\`WK_FIRST\` .. + \`WK_COUNT\`); \`mn\` needs
  \`H_ASYNC_SIZE\` >= \`ASYNC_STACK_MIN\` when it runs several.
- A module instance binds once; instantiate a new one for another run.

## Stopping

To stop a run early: compare-exchange \`H_STOP\` from 0 to a \`STOP_*\` reason
(\`STOP_HOST\`), then wake everyone: add 1 to every CPU's \`PC_WAKE\` and every
worker's \`WK_WAKE\` and Atomics.notify the latter (or call
\`request_stop(reason)\` on an instance bound to the machine). Every
\`sched_run()\` then returns \`SCHED_STOPPED\`, or, for a CPU that was inside a
call, throws a Wasm trap (\`RuntimeError: unreachable\`: a stop unwinds the
running call): when \`H_STOP\` != 0, treat that trap as the stop. The
instance is then spent.

What a stop leaves: \`H_STOP\` the first reason set (\`STOP_HOST\` from the host,
\`STOP_DEADLOCK\`: deterministic mode found no runnable CPU, \`STOP_CRASH\`: a
CPU trapped or was injected a fault, \`STOP_VCYCLES\`: a clock reached
\`MAX_VCYCLES\`); \`H_STOP_CPU\` the CPU that stopped it, or \`STOP_CPU_NONE\`
when the host or a worker's scheduler did (a deadlock is found by the
scheduler, not by a CPU); each CPU's \`PC_STATE\` and \`PC_CLOCK\` where it
stopped, its counters up to then.

## Reading counters and clocks

Its virtual clock is the u64 at \`PC_CLOCK\` (cycles), its state the u32 at
\`PC_STATE\` (\`CPU_*\`), what it waits for \`PC_WAIT_KIND\` (\`WAIT_*\`) /
\`PC_WAIT_OBJ\` (the address of the lock or word). Counter \`STAT_<name>\` is
the u64 at \`PC_STATS + 8 * STAT_<name>\` (\`NSTATS\` of them; names, units
and descriptions: spec/counters.json, lock classes expand to
\`<class>_acquire\`, \`_contended\`, \`_wait_cycles\`). Sum over CPUs for
machine totals. Read them while CPUs run (relaxed: a live view) or after.

## Host calls (\`sched_post_call\`)

A call's arguments are u64 slots (8 bytes each, in order; 32-bit and bool
values in the low half) at \`sched_call_args(cpu)\`; its result is the i64
\`sched_call_result(cpu)\` (32-bit results sign-extended). \`mm\` is the
address-space index (0). Units: addresses and lengths in bytes (page-aligned
where the syscall wants it), \`prot\` the \`PROT_*\` bits, \`flags\` the
\`MAP_*\` bits. **Fault workloads**: a \`wl_*\` loop whose last argument is
\`args\` reads its configuration from a \`struct wl_args\` the host wrote
(\`WLA_*\` offsets, \`WLA_SIZE\` bytes; the fields it does not use are 0; the
header's host scratch at \`HDR_SCRATCH\` will do); what differs per CPU stays
an argument. **Budgets**: \`budget\` of every \`wl_*\` loop (\`WLA_BUDGET\`) is an absolute
deadline on the CPU's virtual clock (\`PC_CLOCK\`, cycles), not a duration:
the loop runs while the clock is below it (a CPU starts at 0, so on a fresh
machine the two agree); \`max_iters\` (\`WLA_MAX_ITERS\`) bounds its iterations. A \`wl_*\`
result >= 0 is the iterations done; negative: \`-(VM_FAULT_* << 16)\` for a
failed mmap/munmap (errno in the low bits) or \`-VM_FAULT_*\` of the first
failed access. Syscalls return \`-errno\` on failure.

${table(callRows, ['id', 'call', '(arguments) -> result', 'what (the comment of the core function)'])}

## Exported functions (${t.functions.length}${mnOnly.length ? ` + ${mnOnly.length} in mn` : ''})

${table([...t.functions, ...mnOnly.map((f) => ({ ...f, name: `${f.name} (mn only)` }))].map((f) => [`\`${f.name}\``, `\`${f.signature}\``]), ['function', 'signature'])}

## Exported constants (${t.constants.length})

Exported as Wasm globals (i32, or i64 for 64-bit values). A u32 constant
with its top bit set reads as a negative i32: both are shown.

${GROUPS.map(([pre, what]) => byGroup.get(pre).length ? `### \`${pre}*\`: ${what}\n\n${consts(byGroup.get(pre))}\n` : '').filter(Boolean).join('\n')}
### Other constants (layout sizes and offsets of the shared structs, PTE bits, limits)

${consts(other)}

## Machine-readable

Everything above as JSON (constants: numbers, or decimal strings for 64-bit
values beyond 2^53; formulas as in "Regions"). examples/raw-abi/ reads this
block.

\`\`\`json abi
${JSON.stringify(json, null, 1)}
\`\`\`
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
