// The web page in real headless Chromium (Debian's chromium, started here with
// playwright-core; npm test's pretest installs it when missing: scripts/ensure-system-deps.mjs), served by `faultline
// serve`: cross-origin isolated, a small deterministic sweep on Web Workers
// with the live per-CPU view, the plots, and the downloads equal to what the
// CLI writes for the same run; bad input is one message in the page.
// Screenshots: test-output/web/ (or FAULTLINE_SCREENSHOTS).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SHOTS = process.env.FAULTLINE_SCREENSHOTS ?? join(ROOT, 'test-output', 'web');
// as a user runs it: the released core (vitest.config.ts sets FAULTLINE_CORE=test for the suite)
const { FAULTLINE_CORE: _t, ...ENV } = process.env;

let tmp: string;
let server: ChildProcess;
let base: string;
let ctx: BrowserContext;
let page: Page;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (npm test does it as root: scripts/ensure-system-deps.mjs; or apt-get install chromium)`);
  tmp = mkdtempSync(join(tmpdir(), 'faultline-web-'));
  mkdirSync(SHOTS, { recursive: true });
  server = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  base = await new Promise<string>((ok, fail) => {
    let out = '';
    server.stdout!.on('data', (d) => { out += d; const m = /at (http:\/\/\S+)/.exec(out); if (m) ok(m[1]); });
    server.stderr!.on('data', (d) => fail(new Error(`faultline serve: ${d}`)));
    server.on('exit', (c) => fail(new Error(`faultline serve exited ${c}`)));
  });
  // a fresh profile directory (--user-data-dir) per run
  ctx = await chromium.launchPersistentContext(join(tmp, 'profile'), { executablePath: CHROMIUM, headless: true, args: ARGS, acceptDownloads: true, viewport: { width: 1200, height: 900 } });
  page = await ctx.newPage();
}, 60_000);

afterAll(async () => {
  await ctx?.close();
  server?.kill();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const normalize = (doc: Record<string, unknown>) => {
  // what differs between two runs of the same deterministic sweep: when, where, and the host's own time
  const { createdAt: _c, host: _h, command: _m, ...rest } = doc;
  return { ...rest, points: (doc.points as Record<string, unknown>[]).map(({ host: _ph, ...p }) => p) };
};
const HOST_COLUMNS = ['host_wall_ms', 'ops_per_host_sec'];
const csvWithoutHost = (text: string) => {
  const rows = text.trim().split('\n').map((l) => l.split(','));
  const keep = rows[0].map((h, i) => (HOST_COLUMNS.includes(h) ? -1 : i)).filter((i) => i >= 0);
  return rows.map((r) => keep.map((i) => r[i]).join(','));
};

describe('the web page in headless Chromium', () => {
  it('runs a deterministic sweep on Web Workers: live per-CPU view, plots, downloads equal to the CLI\'s', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // every update of the live view, as the page leaves it: how many CPUs run, and what a CPU that does not wait shows
    await page.addInitScript(() => {
      const w = window as unknown as { liveCheck: { maxRunning: number; samples: number; staleWaits: string[] } };
      w.liveCheck = { maxRunning: 0, samples: 0, staleWaits: [] };
      new MutationObserver(() => {
        const rows = [...document.querySelectorAll('#live tbody tr')] as HTMLElement[];
        if (!rows.length) return;
        w.liveCheck.samples++;
        w.liveCheck.maxRunning = Math.max(w.liveCheck.maxRunning, rows.filter((r) => r.className === 'running').length);
        for (const r of rows) {
          const waits = r.children[3]?.textContent ?? '';
          if (r.className !== 'waiting' && r.className !== 'at-barrier' && waits !== '') w.liveCheck.staleWaits.push(`${r.className}: ${waits}`);
        }
      }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
    });
    await page.goto(`${base}?workload=page_fault1&strategies=mmap_lock,spf,pervma&cpus=1,2,4,8&mode=deterministic&seed=1&profile=default&vcycles=8000000&run=1`);
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    await page.waitForSelector('#live tbody tr');
    // the command line that reproduces the sweep, shown as soon as it starts
    expect(await page.textContent('#command-line')).toBe('faultline sweep --workload page_fault1 --strategy mmap_lock,spf,pervma --cpus 1,2,4,8 --profile default --mode deterministic --seed 1 --quantum 10000 --vcycles 8000000 --engine mn');
    expect(await page.isVisible('#copy')).toBe(true);
    await page.screenshot({ path: join(SHOTS, 'live.png'), fullPage: true });
    await page.waitForFunction(() => document.getElementById('status')?.dataset.state !== 'running', undefined, { timeout: 300_000 });
    expect(await page.textContent('#error')).toBe('');
    expect(await page.textContent('#status')).toBe('done: 12 point(s), 0 failed');
    await page.waitForSelector('#plots svg');
    await page.screenshot({ path: join(SHOTS, 'done.png'), fullPage: true });

    // the live view: the last point's 8 CPUs, each seen from before its start to its end
    const rows = await page.$$eval('#live tbody tr', (rs) => rs.map((r) => ({ states: (r as HTMLElement).dataset.states!.split(','), cells: [...r.children].map((c) => c.textContent) })));
    expect(rows).toHaveLength(8);
    for (const r of rows) {
      expect(r.states[0]).toBe('runnable');
      expect(r.states[r.states.length - 1]).toBe('finished');
      expect(Number(r.cells[4])).toBeGreaterThan(0); // faults
      expect(r.cells[2]).toMatch(/^[\d,]+ \([\d.]+ µs\)$/); // virtual clock
    }
    expect(await page.textContent('#point')).toMatch(/12 of 12: page_fault1 pervma, 8 CPU\(s\)/);
    // only what is true at each sample: one CPU runs at a time in deterministic mode, and a CPU that does not wait shows no wait
    const live = await page.evaluate(() => (window as unknown as { liveCheck: { maxRunning: number; samples: number; staleWaits: string[] } }).liveCheck);
    // (at most one: a deterministic run switches CPUs every ~0.7 µs of host time, so a sample mostly falls
    // in the scheduler between two CPUs and shows none running; and parallel CPUs mostly wait at the
    // quantum barrier. That a running CPU is shown at all is test/host/api.test.ts's, on one CPU)
    expect(live.samples).toBeGreaterThan(12);
    expect(live.maxRunning).toBeLessThanOrEqual(1);
    expect(live.staleWaits).toEqual([]);
    for (const r of rows) expect(r.cells[6]).toMatch(/^(\w[\w-]* \d+%)(, \w[\w-]* \d+%)*$/); // samples by state

    // the plots: the CLI's two charts of the workload, rendered by Vega from the same specs
    const plots = await page.$$eval('#plots > div', (ds) => ds.map((d) => [(d as HTMLElement).dataset.plot, d.querySelectorAll('svg path, svg line, svg rect').length]));
    // ... and the last point's flame graph beside the scaling plot
    expect(plots.map((p) => p[0])).toEqual(['page_fault1-throughput.svg', 'flame', 'page_fault1-breakdown.svg']);
    for (const [, marks] of plots) expect(marks as number).toBeGreaterThan(10);
    const legend = await page.textContent('#plots');
    for (const s of ['mmap_lock', 'spf', 'pervma']) expect(legend).toContain(s);
    const flame = await page.$$eval('#flame svg text', (ts) => ts.map((t) => t.textContent));
    expect(flame).toContain('last point: page_fault1 pervma, 8 CPU(s): virtual cycles by kernel function');
    for (const f of ['page_fault1', 'asm_exc_page_fault', 'do_user_addr_fault']) expect(flame).toContain(f);

    // the last point's timeline: a link that opens it in the viewer the package ships (trace.html)
    expect(await page.textContent('#open-trace')).toBe('open the timeline of the last point (page_fault1 pervma, 8 CPU(s)) in the viewer');
    const [viewer] = await Promise.all([ctx.waitForEvent('page'), page.click('#open-trace')]);
    const viewerErrors: string[] = [];
    viewer.on('pageerror', (e) => viewerErrors.push(e.message));
    await viewer.waitForSelector('.track .span[data-cat="fault"]', { timeout: 60_000 });
    expect(await viewer.textContent('#status')).toBe('');
    expect(await viewer.textContent('.head')).toMatch(/^faultline page_fault1 pervma 8 CPUs /);
    // one track per emulated CPU, each with fault spans
    const tracks = await viewer.$$eval('.track', (ts) => ts.map((t) => [(t as HTMLElement).dataset.tid, t.querySelectorAll('.span[data-cat="fault"]').length] as const));
    expect(tracks.map(([tid]) => Number(tid)).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const [, faults] of tracks) expect(faults).toBeGreaterThan(0);
    await viewer.screenshot({ path: join(SHOTS, 'timeline.png') });
    expect(viewerErrors).toEqual([]);
    await viewer.close();

    // the downloads
    const download = async (id: string) => {
      const [d] = await Promise.all([page.waitForEvent('download'), page.click(id)]);
      const file = join(tmp, d.suggestedFilename());
      await d.saveAs(file);
      return readFileSync(file, 'utf8');
    };
    const json = await download('#download-json');
    const csv = await download('#download-csv');
    const doc = JSON.parse(json);
    expect(doc.command.join(' ')).toBe(await page.textContent('#command-line'));
    expect(doc.command).toEqual(['faultline', 'sweep', '--workload', 'page_fault1', '--strategy', 'mmap_lock,spf,pervma', '--cpus', '1,2,4,8',
      '--profile', 'default', '--mode', 'deterministic', '--seed', '1', '--quantum', '10000', '--vcycles', '8000000', '--engine', 'mn']);
    expect(doc.host.platform).toBe('browser');

    // the CLI, the same command line
    const out = join(tmp, 'cli');
    const r = spawnSync(process.execPath, [CLI, ...doc.command.slice(1), '--out', out, '--quiet'], { encoding: 'utf8', env: ENV, timeout: 300_000 });
    // the only stderr allowed: the steady-state warnings (an 8M-cycle budget covers no whole page_fault1 loop)
    expect(r.stderr.split('\n').filter((l) => l !== '' && !/^warning: page_fault1 \S+ \d+ CPU\(s\): .* did not complete one whole loop/.test(l))).toEqual([]);
    expect(r.status).toBe(0);
    const cliJson = readFileSync(join(out, 'results.json'), 'utf8');
    expect(normalize(doc)).toEqual(normalize(JSON.parse(cliJson)));
    expect(Object.keys(doc)).toEqual(Object.keys(JSON.parse(cliJson)));
    expect(csvWithoutHost(csv)).toEqual(csvWithoutHost(readFileSync(join(out, 'results.csv'), 'utf8')));
    expect(csv.split('\n')[0]).toBe(readFileSync(join(out, 'results.csv'), 'utf8').split('\n')[0]);
    expect(errors).toEqual([]);
  });

  it('the untouched form runs: its default workload (the first listed) on the released core, no point failed', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(base);
    await page.waitForSelector('#workload option', { state: 'attached' });
    const workload = await page.inputValue('#workload');
    expect(workload).toBe('atomic-shared'); // issue 18: it once failed on the released core ("exists only in the test core")
    await page.click('#run');
    await page.waitForFunction(() => document.getElementById('status')?.dataset.state !== 'running', undefined, { timeout: 300_000 });
    expect(await page.textContent('#error')).toBe('');
    expect(await page.textContent('#status')).toMatch(/^done: ([1-9]\d*) point\(s\), 0 failed$/);
    await page.waitForSelector('#plots svg');
    await page.screenshot({ path: join(SHOTS, 'default-form.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  it('0 CPUs: one clear message in the page', async () => {
    await page.goto(`${base}?workload=page_fault1&cpus=0&mode=deterministic&run=1`);
    await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'error');
    expect(await page.textContent('#error')).toBe('every CPU count must be an integer from 1 to 256 (got "0")');
    expect(await page.isVisible('#error')).toBe(true);
    expect(await page.isVisible('#form')).toBe(true);
    await page.screenshot({ path: join(SHOTS, 'bad-cpus.png') });
  });

  it('an unknown workload in the URL: one clear message in the page', async () => {
    await page.goto(`${base}?workload=nope&run=1`);
    await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'error');
    expect(await page.textContent('#error')).toMatch(/^unknown workload "nope"; available workloads: .*page_fault1/);
    expect(await page.isVisible('#form')).toBe(true);
    await page.screenshot({ path: join(SHOTS, 'bad-workload.png') });
  });

  it('a malformed CPU list from the form: one clear message', async () => {
    await page.goto(base);
    await page.fill('#cpus', '1,two');
    await page.click('#run');
    expect(await page.textContent('#error')).toBe('every CPU count must be an integer from 1 to 256 (got "two")');
    await page.fill('#cpus', '0');
    await page.click('#run');
    expect(await page.textContent('#error')).toBe('every CPU count must be an integer from 1 to 256 (got "0")');
  });

  it('a vcycles beyond the virtual clock\'s limit: the limit in the message', async () => {
    await page.goto(base);
    await page.fill('#vcycles', String(2n ** 60n));
    await page.click('#run');
    expect(await page.textContent('#error')).toBe('vcycles must be an integer from 1 to 549755813887 (got "1152921504606846976")');
  });

  it('a profile path in the URL: "unknown profile", the page reads no files', async () => {
    await page.goto(`${base}?profile=/etc/passwd&run=1`);
    await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'error');
    expect(await page.textContent('#error')).toMatch(/^unknown profile "\/etc\/passwd"; available profiles: .*default/);
    await page.screenshot({ path: join(SHOTS, 'bad-profile.png') });
  });

  it('stop: the running point ends, the finished ones are kept (plots, downloads), the page can run again', async () => {
    // long points (the first takes seconds, the others longer): stop while the second runs
    await page.goto(`${base}?workload=page_fault1&strategies=mmap_lock&cpus=1,2,4&mode=parallel&seed=1&profile=default&vcycles=40000000&run=1`);
    await page.waitForFunction(() => /^running point 2 of 3/.test(document.getElementById('status')?.textContent ?? ''), undefined, { timeout: 120_000 });
    await page.waitForFunction(() => document.querySelectorAll('#live tbody tr').length === 2);
    // parallel mode: the live view says more than "at-barrier": the spread of states
    await page.waitForFunction(() => /%/.test(document.querySelector('#live tbody tr td.spread')?.textContent ?? ''));
    // (a click from the page itself: the live view redraws the page every 50 ms, so Playwright's "stable" wait can starve)
    await page.evaluate(() => (document.getElementById('stop') as HTMLButtonElement).click());
    const running = 2;
    await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'stopped', undefined, { timeout: 60_000 });
    const st = (await page.textContent('#status'))!;
    const kept = Number(/^stopped: (\d+) point\(s\) finished and kept, 0 failed$/.exec(st)?.[1]);
    expect(kept).toBeGreaterThanOrEqual(running - 1);
    expect(kept).toBeLessThan(3);
    await page.waitForSelector('#plots svg');
    await page.screenshot({ path: join(SHOTS, 'stopped.png'), fullPage: true });
    const [d] = await Promise.all([page.waitForEvent('download'), page.click('#download-json')]);
    const file = join(tmp, 'stopped.json');
    await d.saveAs(file);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    expect(doc.points).toHaveLength(kept);
    expect(doc.points.map((p: { cpus: number }) => p.cpus)).toEqual([1, 2].slice(0, kept));
    expect(await page.isEnabled('#run')).toBe(true);
    expect(await page.isEnabled('#stop')).toBe(false);
  }, 300_000);
});
