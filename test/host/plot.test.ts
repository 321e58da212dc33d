import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { runSweep, expandSweep, type PointResult } from '../../src/experiment.js';
import { writePlots } from '../../src/node/files.js';
import { categoryNames } from '../../src/breakdown.js';

// The SVG plots, opened in a real browser (Debian chromium): the expected
// series are there and the picture is not blank. Screenshots are kept in
// FAULTLINE_SCREENSHOTS if set (to look at them), else in the temp dir.

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const STRATEGIES = ['mmap_lock', 'spf', 'pervma'];

const tmp = mkdtempSync(join(tmpdir(), 'faultline-plot-'));
const shots = process.env.FAULTLINE_SCREENSHOTS ?? tmp;
let browser: Browser;
let page: Page;
let points: PointResult[];
let files: string[];

beforeAll(async () => {
  const specs = expandSweep(
    { workloads: ['mmap-mixed'], strategies: STRATEGIES, cpus: [1, 2, 4] },
    { profile: 'default', mode: 'deterministic', seed: 3, quantum: 10_000, vcycles: 4000 },
  );
  ({ points } = await runSweep(specs));
  files = await writePlots(tmp, points);
  // no silent skip: without the browser these tests fail and say why (npm test's pretest installs it)
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; npm test does it as root: scripts/ensure-system-deps.mjs) to render the plots`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  page = await browser.newPage({ viewport: { width: 900, height: 520 } });
});

afterAll(async () => {
  await browser?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** open an SVG file, screenshot it, and count the pixels that are not (near) white */
async function openAndShoot(file: string): Promise<number> {
  await page.goto(pathToFileURL(join(tmp, file)).href);
  const png = await page.screenshot({ path: join(shots, file.replace(/\.svg$/, '.png')) });
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    // an SVG document: no HTML <canvas> element, so an OffscreenCanvas
    const c = new OffscreenCanvas(img.width, img.height);
    const g = c.getContext('2d')!;
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200) n++;
    return n;
  }, png.toString('base64'));
}

const texts = (selector: string) => page.$$eval(selector, (els) => els.map((e) => e.textContent ?? ''));

describe('SVG plots', () => {
  it('are written per workload: throughput and breakdown', () => {
    expect(points.every((p) => p.ok)).toBe(true);
    expect(files).toEqual(['mmap-mixed-throughput.svg', 'mmap-mixed-breakdown.svg']);
    const svg = readFileSync(join(tmp, files[0]), 'utf8');
    expect(svg).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  });

  it('throughput vs CPUs renders in chromium: one line per strategy, legend, axis titles', async () => {
    const dark = await openAndShoot('mmap-mixed-throughput.svg');
    expect(await page.$$('g.mark-line path')).toHaveLength(STRATEGIES.length);
    expect(await texts('g.role-legend-label text')).toEqual(STRATEGIES);
    expect(await texts('g.role-axis-title text')).toEqual(expect.arrayContaining(['emulated CPUs', 'lock sections per virtual second']));
    expect(await texts('g.role-axis-label text')).toEqual(expect.arrayContaining(['1', '2', '4']));
    expect((await texts('g.role-title-text text'))[0]).toContain('mmap-mixed');
    const box = await page.$eval('svg', (s) => s.getBoundingClientRect().toJSON());
    expect(box.width).toBeGreaterThan(300);
    expect(dark).toBeGreaterThan(2000);
  });

  it('breakdown renders in chromium: one stacked segment per strategy and category', async () => {
    const dark = await openAndShoot('mmap-mixed-breakdown.svg');
    expect(await texts('g.role-legend-label text')).toEqual(categoryNames());
    expect(await page.$$('g.mark-rect path')).toHaveLength(STRATEGIES.length * categoryNames().length);
    expect(await texts('g.role-axis-label text')).toEqual(expect.arrayContaining(STRATEGIES));
    expect((await texts('g.role-title-text text'))[0]).toContain('at 4 CPUs');
    expect(dark).toBeGreaterThan(2000);
  });
});
