// Observability (issue 23): lock_stat, the timeline and the flame graph a run
// records when asked (assembly/obs.ts, src/obs.ts). Recording must not move a
// single deterministic number, so every case also compares the run with the
// same run that recorded nothing.
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPoint, type PointSpec, type PointResult } from '../../src/experiment.js';
import { chromium, type Browser } from 'playwright-core';
import { writeTrace } from '../../src/node/files.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const tmp = mkdtempSync(join(tmpdir(), 'faultline-obs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: tmp, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

const BASE: PointSpec = { workload: 'pft-private', strategy: 'spf', cpus: 4, profile: 'default', mode: 'deterministic', seed: 3, quantum: 10_000, vcycles: 1_500_000 };

/** the deterministic part of a result, without what the observation added */
function virtual(r: PointResult): unknown {
  const { host: _h, lockStat: _l, trace: _t, flame: _f, ...rest } = r;
  return rest;
}

describe('lock_stat (run --lock-stat)', () => {
  it('per lock class: figures consistent with the lock-class counters, and the run unchanged by recording them', async () => {
    const plain = await runPoint(BASE);
    const r = await runPoint({ ...BASE, observe: { lockStat: true } });
    expect(r.ok, r.error ?? '').toBe(true);
    expect(virtual(r)).toEqual(virtual(plain));
    expect(plain.lockStat).toBeUndefined();
    const rows = r.lockStat!;
    const by = Object.fromEntries(rows.map((x) => [x.class, x]));
    // SPF v11 takes mm_rb_lock for read around every get_vma(); faults take the PTL; pft refills from the zone
    for (const c of ['mm_rb_read', 'ptl', 'zone']) expect(by[c], c).toBeDefined();
    expect(by.mm_rb_read.name).toBe('&mm->mm_rb_lock-R');
    for (const x of rows) {
      expect(x.acquisitions).toBe(r.stats[`${x.class}_acquire`]);
      expect(x.contentions).toBe(r.stats[`${x.class}_contended`]);
      expect(x.waittimeTotal).toBe(r.stats[`${x.class}_wait_cycles`]);
      expect(x.acqBounces).toBeLessThanOrEqual(x.acquisitions);
      expect(x.conBounces).toBeLessThanOrEqual(x.contentions);
      expect(x.waittimeMin).toBeLessThanOrEqual(x.waittimeMax);
      if (x.contentions > 0) expect(x.waittimeAvg).toBeLessThanOrEqual(x.waittimeMax);
      // every lock taken in the run was released by its end: one hold per acquisition
      expect(x.holds, x.class).toBe(x.acquisitions);
      expect(x.holdtimeMin).toBeLessThanOrEqual(x.holdtimeAvg);
      expect(x.holdtimeAvg).toBeLessThanOrEqual(x.holdtimeMax);
    }
    // 4 CPUs share mm_rb_lock's line: most read acquisitions find it on another CPU
    expect(by.mm_rb_read.acqBounces).toBeGreaterThan(by.mm_rb_read.acquisitions / 2);
    // a PTL is held across the PTE update: never 0 cycles, and each CPU faults its own tables (few bounces)
    expect(by.ptl.holdtimeMin).toBeGreaterThan(0);
    expect(by.ptl.acqBounces).toBeLessThan(by.ptl.acquisitions / 10);
    // sorted as /proc/lock_stat: most contended first
    for (let i = 1; i < rows.length; i++) expect(rows[i - 1].contentions).toBeGreaterThanOrEqual(rows[i].contentions);
  }, 120_000);

  it('the CLI prints the table in /proc/lock_stat\'s format', () => {
    const r = cli('run', '--workload', 'spinlock', '--cpus', '2', '--mode', 'deterministic', '--vcycles', '200000', '--lock-stat');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const at = lines.findIndex((l) => l.startsWith('lock_stat version 0.4'));
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 2].trim().split(/\s+/)).toEqual(['class', 'name', 'con-bounces', 'contentions', 'waittime-min', 'waittime-max', 'waittime-total',
      'waittime-avg', 'acq-bounces', 'acquisitions', 'holdtime-min', 'holdtime-max', 'holdtime-total', 'holdtime-avg']);
    // the spinlock micro-workload hammers one lock from both CPUs: contended, bounced, held
    const row = lines.slice(at + 4).find((l) => l.includes('page_table_lock') || l.includes('generic'));
    expect(row, r.stdout).toBeDefined();
    const v = row!.split(':').pop()!.trim().split(/\s+/).map(Number);
    expect(v).toHaveLength(12);
    const [conB, cont, wmin, wmax, , , acqB, acq, hmin, hmax] = v;
    expect(cont).toBeGreaterThan(0);
    expect(conB).toBeGreaterThan(0);
    expect(acqB).toBeGreaterThan(0);
    expect(acq).toBeGreaterThan(cont);
    expect(wmax).toBeGreaterThanOrEqual(wmin);
    expect(hmax).toBeGreaterThanOrEqual(hmin);
  }, 120_000);
});

// ---------------------------------------------------------------------------
// The timeline

/**
 * Check a file against the Trace Event Format (the JSON object form): what every
 * event of each phase must carry, and that every flow arrow (v1 flow events s/f,
 * bound to the slices that enclose them) has both ends inside an X slice of its
 * thread. Returns the problems found (none: the file is valid).
 */
function traceProblems(doc: unknown): string[] {
  const bad: string[] = [];
  if (!doc || typeof doc !== 'object' || !Array.isArray((doc as { traceEvents?: unknown }).traceEvents)) return ['no traceEvents array'];
  const evs = (doc as { traceEvents: Record<string, unknown>[] }).traceEvents;
  const unit = (doc as { displayTimeUnit?: unknown }).displayTimeUnit;
  if (unit !== undefined && unit !== 'ms' && unit !== 'ns') bad.push(`displayTimeUnit ${String(unit)}`);
  const slices = new Map<string, { ts: number; end: number }[]>();
  const flows = new Map<unknown, Record<string, unknown>[]>();
  evs.forEach((e, i) => {
    const at = `event #${i} (${String(e.name)}, ${String(e.ph)})`;
    if (typeof e.name !== 'string') bad.push(`${at}: no name`);
    if (!Number.isInteger(e.pid)) bad.push(`${at}: pid`);
    switch (e.ph) {
      case 'M':
        if (!['process_name', 'thread_name', 'thread_sort_index', 'process_sort_index'].includes(e.name as string)) bad.push(`${at}: unknown metadata`);
        if (typeof e.args !== 'object') bad.push(`${at}: metadata without args`);
        return;
      case 'X':
        if (typeof e.dur !== 'number' || !(e.dur >= 0)) bad.push(`${at}: dur`);
        break;
      case 'C':
        if (typeof e.args !== 'object' || Object.values(e.args as object).some((v) => typeof v !== 'number')) bad.push(`${at}: counter args must be numbers`);
        break;
      case 'i': if (!['t', 'p', 'g'].includes(e.s as string)) bad.push(`${at}: instant scope`); break;
      case 's': case 'f':
        if (e.id === undefined) bad.push(`${at}: flow without id`);
        if (e.ph === 'f' && e.bp !== 'e') bad.push(`${at}: flow end must bind to its enclosing slice (bp "e")`);
        flows.set(e.id, [...(flows.get(e.id) ?? []), e]);
        break;
      default: bad.push(`${at}: unknown phase`);
    }
    if (typeof e.ts !== 'number' || !(e.ts >= 0)) bad.push(`${at}: ts`);
    if (e.ph !== 'C' && !Number.isInteger(e.tid)) bad.push(`${at}: tid`);
    if (e.ph === 'X') {
      const k = `${e.pid}/${e.tid}`;
      slices.set(k, [...(slices.get(k) ?? []), { ts: e.ts as number, end: (e.ts as number) + (e.dur as number) }]);
    }
  });
  const eps = 1e-6;
  const enclosed = (e: Record<string, unknown>) => (slices.get(`${e.pid}/${e.tid}`) ?? []).some((s) => s.ts - eps <= (e.ts as number) && (e.ts as number) <= s.end + eps);
  for (const [id, fs] of flows) {
    const s = fs.filter((e) => e.ph === 's'), f = fs.filter((e) => e.ph === 'f');
    if (s.length !== 1 || f.length !== 1) { bad.push(`flow ${String(id)}: ${s.length} start(s), ${f.length} end(s)`); continue; }
    if ((s[0].ts as number) > (f[0].ts as number) + eps) bad.push(`flow ${String(id)} ends before it starts`);
    if (!enclosed(s[0])) bad.push(`flow ${String(id)}: its start has no enclosing slice on thread ${String(s[0].tid)}`);
    if (!enclosed(f[0])) bad.push(`flow ${String(id)}: its end has no enclosing slice on thread ${String(f[0].tid)}`);
  }
  return bad;
}

type Ev = { name: string; ph: string; ts: number; dur?: number; tid?: number; id?: number; cat?: string; args?: Record<string, unknown> };

describe('timeline (run --trace)', () => {
  it('a 4-CPU run: valid Trace Event Format with fault spans, a lock wait with its flow arrow from the releaser, and a shootdown with its IPIs on the expected tracks', async () => {
    const plain = await runPoint(BASE);
    const r = await runPoint({ ...BASE, observe: { trace: {} } });
    expect(virtual({ ...r, trace: undefined } as PointResult)).toEqual(virtual(plain));
    const doc = JSON.parse(JSON.stringify(r.trace));
    expect(traceProblems(doc)).toEqual([]);
    // a deliberately broken copy is caught: a flow end moved off its slice
    const broken = JSON.parse(JSON.stringify(doc));
    broken.traceEvents.find((e: Ev) => e.ph === 'f').ts += 1e6;
    expect(traceProblems(broken).length).toBeGreaterThan(0);
    const evs: Ev[] = doc.traceEvents;
    expect(evs.filter((e) => e.name === 'thread_name').map((e) => e.args!.name)).toEqual(['CPU 0', 'CPU 1', 'CPU 2', 'CPU 3']);
    expect(doc.otherData.droppedEvents).toBe(0);
    // faults on every CPU's track, with kind, path and address; microseconds at 2.5 GHz
    const faults = evs.filter((e) => e.cat === 'fault');
    expect(faults.length).toBe(r.stats.fault);
    for (let cpu = 0; cpu < 4; cpu++) expect(faults.some((f) => f.tid === cpu)).toBe(true);
    const f0 = faults[0];
    expect(f0.args).toMatchObject({ kind: expect.stringMatching(/^fault_/), strategy: 'spf', address: expect.stringMatching(/^0x[0-9a-f]+$/) });
    expect(f0.dur! * 2500).toBeCloseTo(f0.args!.cycles as number, 3);
    // SPF aborts are named: pft's first fault of each VMA has no anon_vma yet
    expect(faults.some((f) => f.args!.abortReason === 'spf_abort_no_anon_vma' && f.args!.path === 'speculative aborted, then classic')).toBe(true);
    expect(faults.filter((f) => f.args!.path === 'speculative').length).toBe(r.stats.spf_success);
    // a lock wait whose flow arrow starts on the holder's track, at the release that ended the wait
    const waits = evs.filter((e) => e.cat === 'lock' && e.ph === 'X' && e.name.startsWith('wait '));
    expect(waits.length).toBeGreaterThan(0);
    const starts = new Map(evs.filter((e) => e.ph === 's' && e.cat === 'lock').map((e) => [e.id, e]));
    const ends = evs.filter((e) => e.ph === 'f' && e.cat === 'lock');
    const linked = waits.filter((w) => ends.some((f) => f.tid === w.tid && Math.abs(f.ts - (w.ts + w.dur!)) < 1e-6
      && starts.get(f.id)?.tid === Number(String(w.args!.holder).replace('CPU ', ''))));
    expect(linked.length).toBeGreaterThan(0);
    expect(linked.some((w) => w.name === 'wait &mm->mm_rb_lock-R')).toBe(true);
    // shootdowns: the sender's track waits for acks; each IPI handler on another track is linked to it
    const sd = evs.filter((e) => e.cat === 'shootdown');
    expect(sd.length).toBe(r.stats.shootdown_remote);
    const ipis = evs.filter((e) => e.cat === 'ipi' && e.ph === 'X');
    expect(ipis.length).toBe(r.stats.ipi_received);
    const s0 = sd[0];
    const mine = ipis.filter((i) => i.args!.sender === `CPU ${s0.tid}` && i.ts >= s0.ts - 1e-6 && i.ts <= s0.ts + s0.dur! + 1e-6);
    expect(mine.length).toBe(s0.args!.ipis);
    expect(new Set(mine.map((i) => i.tid)).has(s0.tid)).toBe(false);
    // counter tracks
    expect(evs.some((e) => e.ph === 'C' && e.name === 'free frames')).toBe(true);
  }, 120_000);

  it('a window keeps only the events that overlap it; a full ring counts the rest as dropped and the file says so', async () => {
    const w = await runPoint({ ...BASE, observe: { trace: { start: 400_000, end: 600_000 } } });
    const xs = (w.trace!.traceEvents as Ev[]).filter((e) => e.ph === 'X' && e.cat === 'fault');
    expect(xs.length).toBeGreaterThan(0);
    for (const e of xs) { expect(e.ts + e.dur!).toBeGreaterThanOrEqual(400_000 / 2500 - 1e-9); expect(e.ts).toBeLessThan(600_000 / 2500); }
    const d = await runPoint({ ...BASE, observe: { trace: { maxEventsPerCpu: 40 } } });
    expect(traceProblems(d.trace)).toEqual([]);
    expect(d.trace!.otherData.droppedEvents).toBeGreaterThan(0);
    expect(String(d.trace!.otherData.note)).toMatch(/events were dropped/);
    expect((d.trace!.traceEvents as Ev[]).filter((e) => e.ph === 'i' && /dropped/.test(e.name)).length).toBe(4);
  }, 120_000);

  it('the trace file is written a chunk of events at a time: the same text as JSON.stringify, however many chunks', async () => {
    const r = await runPoint({ ...BASE, observe: { trace: {} } });
    const t = r.trace!;
    // the real timeline (one chunk), one twenty times as long (several chunks, a partial last one), and none at all
    const many = { ...t, traceEvents: Array.from({ length: 20 }, () => t.traceEvents).flat() };
    expect(many.traceEvents.length).toBeGreaterThan(2 * 20_000);
    for (const doc of [t, many, { ...t, traceEvents: [] }]) {
      const f = join(tmp, 'chunked.json');
      writeTrace(f, doc);
      expect(readFileSync(f, 'utf8')).toBe(JSON.stringify(doc));
    }
  }, 120_000);

  it('bad trace options are one-line errors (exit 2)', () => {
    for (const [args, msg] of [
      [['--trace-window', '5:3', '--trace', 'x.json'], /END \(3\) must be above START \(5\)/],
      [['--trace-window', 'a:b', '--trace', 'x.json'], /is not START:END/],
      [['--trace-window', '1:2'], /need --trace FILE/],
      [['--trace-events', '0', '--trace', 'x.json'], /--trace-events must be from 1 to 16777216 events per CPU \(got 0\)/],
      [['--trace', join(tmp, 'no/such/dir/t.json')], /--trace: cannot write/],
    ] as [string[], RegExp][]) {
      const r = cli('run', '--workload', 'page_fault1', '--cpus', '2', '--vcycles', '100000', ...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  }, 120_000);
});

// ---------------------------------------------------------------------------
// The flame graph

const foldedSum = (text: string) => text.trim().split('\n').reduce((a, l) => {
  const v = Number(l.slice(l.lastIndexOf(' ') + 1));
  expect(Number.isInteger(v) && v > 0, l).toBe(true);
  return a + v;
}, 0);

describe('flame graph (run --flame)', () => {
  for (const workload of ['page_fault1', 'pft-private', 'ebizzy']) {
    it(`${workload} at 16 CPUs: the folded stacks sum to the CPUs' clocks, "other work" splits into kernel functions (<10% left unattributed)`, async () => {
      const spec: PointSpec = { ...BASE, workload, cpus: 16, vcycles: 1_000_000 };
      const plain = await runPoint(spec);
      const r = await runPoint({ ...spec, observe: { flame: {} } });
      expect(r.ok, r.error ?? '').toBe(true);
      expect(virtual({ ...r, flame: undefined } as PointResult)).toEqual(virtual(plain));
      const fl = r.flame!;
      const clocks = r.clocks.reduce((a, b) => a + b, 0);
      expect(foldedSum(fl.folded)).toBe(clocks);
      expect(fl.totalCycles).toBe(clocks);
      fl.foldedPerCpu.forEach((t, cpu) => expect(foldedSum(t), `CPU ${cpu}`).toBe(r.clocks[cpu]));
      expect(fl.lostFrames).toBe(0);
      // the split adds up to the breakdown's "other work" (no category overlaps in these workloads)
      expect(fl.overlapCycles).toBe(0);
      expect(Object.values(fl.otherWork).reduce((a, b) => a + b, 0)).toBe(r.cyclesByCategory['other work']);
      // what no kernel function or category explains: the workload's own user-mode code
      expect((fl.otherWork['[user]'] ?? 0) / clocks).toBeLessThan(0.1);
      // kernel names with the call chain the path took
      expect(fl.folded).toMatch(new RegExp(`^${workload};asm_exc_page_fault;do_user_addr_fault;handle_speculative_fault;handle_pte_fault;do_anonymous_page;alloc_pages;clear_page_erms \\d+$`, 'm'));
      expect(fl.folded).toMatch(/;get_vma;down_read;\[mm_rb_lock wait\] \d+$/m);
    }, 180_000);
  }

  it('the CLI writes folded stacks and an SVG flame graph, and prints "other work" by function', () => {
    const dir = join(tmp, 'flame');
    const r = cli('run', '--workload', 'pft-private', '--strategy', 'spf', '--cpus', '4', '--mode', 'deterministic', '--vcycles', '500000', '--flame', dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/"other work" \([\d.]+% of all CPUs' cycles\) by kernel function: .*clear_page_erms [\d.]+%/);
    const folded = readFileSync(join(dir, 'pft-private-spf-4cpu.folded'), 'utf8');
    expect(folded).toMatch(/^pft-private;asm_exc_page_fault;do_user_addr_fault;/m);
    const svg = readFileSync(join(dir, 'pft-private-spf-4cpu.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    for (const name of ['pft-private', 'asm_exc_page_fault', 'do_user_addr_fault', 'clear_page_erms']) expect(svg).toContain(`>${name}</text>`);
    for (let cpu = 0; cpu < 4; cpu++) expect(existsSync(join(dir, `pft-private-spf-4cpu-cpu${cpu}.folded`))).toBe(true);
  }, 120_000);

  it('sweep --flame: "other work" split by function in results.csv (summing to other work plus the overlap) and in the breakdown plot', () => {
    const out = join(tmp, 'sweep-flame'), fdir = join(tmp, 'sweep-flame-graphs');
    const r = cli('sweep', '--workload', 'pft-private', '--strategy', 'spf,pervma', '--cpus', '1,4', '--profile', 'default', '--mode', 'deterministic', '--vcycles', '500000',
      '--quiet', '--out', out, '--flame', fdir);
    expect(r.code, r.stderr).toBe(0);
    const [head, ...rows] = readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
    expect(rows).toHaveLength(4);
    const fnCols = head.map((h, i) => ({ h, i })).filter((c) => /^other_work_in_.*_cycles$/.test(c.h));
    expect(fnCols.map((c) => c.h)).toContain('other_work_in_clear_page_erms_cycles');
    expect(fnCols.map((c) => c.h)).toContain('other_work_in_user_code_cycles');
    const col = (name: string) => head.indexOf(name);
    const catCols = head.map((h, i) => ({ h, i })).filter((c) => /_cycles$/.test(c.h) && !/^other_work_in_|^other_work_overlap|^virtual_cycles$|^uffd_/.test(c.h));
    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    for (const [k, row] of rows.entries()) {
      const n = (i: number) => Number(row[i]);
      const split = fnCols.reduce((a, c) => a + n(c.i), 0);
      expect(split).toBe(n(col('other_work_cycles')) + n(col('other_work_overlap_cycles')));
      // the categories (with other work) are still every CPU's cycles
      const clocks = (json.points[k].clocks as number[]).reduce((a, b) => a + b, 0);
      expect(catCols.reduce((a, c) => a + n(c.i), 0)).toBe(clocks);
    }
    const svg = readFileSync(join(out, 'pft-private-breakdown.svg'), 'utf8');
    expect(svg).toContain('other work: clear_page_erms');
    expect(svg).toContain('split by kernel function');
    expect(existsSync(join(fdir, 'pft-private-pervma-4cpu.svg'))).toBe(true);
    // without --flame: no split columns
    const plain = join(tmp, 'sweep-plain');
    expect(cli('sweep', '--workload', 'pft-private', '--strategy', 'spf', '--cpus', '1', '--profile', 'default', '--mode', 'deterministic', '--vcycles', '200000', '--quiet', '--out', plain).code).toBe(0);
    expect(readFileSync(join(plain, 'results.csv'), 'utf8')).not.toMatch(/other_work_in_/);
    expect(cli('sweep', '--workload', 'pft-private', '--cpus', '1', '--flame', fdir, '--plan', join(tmp, 'p.json')).stderr).toMatch(/--flame records while the sweep runs/);
  }, 240_000);
});

// ---------------------------------------------------------------------------
// The viewer the package ships (dist/web/trace.html), in a real browser

describe('timeline viewer (dist/web/trace.html) in headless Chromium', () => {
  const CHROMIUM = '/usr/bin/chromium';
  const WEB = join(ROOT, 'dist', 'web');
  let browser: Browser | undefined;
  afterAll(async () => { await browser?.close(); });

  it('shows a 4-CPU trace: a fault span, a lock wait with its arrow from the holder\'s track, a shootdown with arrows to the IPI handlers', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (npm test does it as root: scripts/ensure-system-deps.mjs)`);
    const r = await runPoint({ ...BASE, observe: { trace: {} } });
    const doc = r.trace!;
    const evs = doc.traceEvents as Ev[];
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage'] });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // the page as `faultline serve` would serve it (module scripts do not load from file://)
    await page.route('http://viewer.test/**', (route) => route.fulfill({ path: join(WEB, new URL(route.request().url()).pathname.slice(1)) }));
    await page.goto('http://viewer.test/trace.html');
    await page.waitForFunction(() => 'faultlineTrace' in window);
    const show = (start: number, end: number) => page.evaluate(([d, s, e]) => (window as unknown as { faultlineTrace: { load(d: unknown, w: unknown): void } }).faultlineTrace.load(d, { start: s, end: e }), [doc, start, end] as const);

    // a shootdown: its sender's track, and one arrow per IPI to a handler span on the target's track
    const sd = evs.find((e) => e.cat === 'shootdown')!;
    await show(sd.ts - 1, sd.ts + sd.dur! + 1);
    const sender = sd.tid!;
    expect(await page.locator(`.track[data-tid="${sender}"] .span[data-cat="shootdown"]`).count()).toBeGreaterThan(0);
    const arrows = await page.locator(`line.flow[data-cat="ipi"][data-from="${sender}"]`).evaluateAll((ls) => ls.map((l) => (l as SVGElement).dataset.to));
    expect(arrows.length).toBe(sd.args!.ipis);
    for (const to of arrows) {
      expect(to).not.toBe(String(sender));
      expect(await page.locator(`.track[data-tid="${to}"] .span[data-cat="ipi"]`).count(), `IPI handler on CPU ${to}`).toBeGreaterThan(0);
    }

    // a lock wait with its arrow from the holder's track, ending where the wait ends; faults around it
    const w = evs.find((e) => e.cat === 'lock' && e.ph === 'X' && e.name.startsWith('wait ') && e.args!.holder !== null && e.args!.holder !== `CPU ${e.tid}`)!;
    const holder = String(w.args!.holder).replace('CPU ', '');
    await show(w.ts - 2, w.ts + w.dur! + 2);
    const waitEl = page.locator(`.track[data-tid="${w.tid}"] .span[data-cat="lock"][data-name="${w.name}"]`);
    expect(await waitEl.count()).toBeGreaterThan(0);
    const flows = await page.locator(`line.flow[data-cat="lock"][data-to="${w.tid}"][data-from="${holder}"]`).evaluateAll((ls) => ls.map((l) => Number((l as SVGElement).dataset.ts)));
    expect(flows.some((t) => Math.abs(t - (w.ts + w.dur!)) < 1e-6)).toBe(true);
    expect(await page.locator(`.track[data-tid="${w.tid}"] .span[data-cat="fault"]`).count()).toBeGreaterThan(0);
    expect(await page.locator('.track .label').allTextContents()).toEqual(['CPU 0', 'CPU 1', 'CPU 2', 'CPU 3']);
    expect(errors).toEqual([]);
  }, 180_000);
});
