// The web page (served by `faultline serve`): pick a sweep, run it in a
// dedicated Worker (web/runner.ts) through the public API, watch every CPU of
// the running point live, then see the CLI's scaling and breakdown plots
// (the same Vega-Lite specs, src/plot.ts) with the last point's flame graph
// beside them and its timeline in the shipped viewer (trace.html), and download
// the same results.json and results.csv the CLI writes. Every problem is one
// message in the page.
import { listedWorkloads, workloadByName } from '../src/workloads.js';
import { strategies, strategyByName } from '../src/strategies.js';
import { listProfiles, loadProfile } from '../src/profile.js';
import { sweepCommand } from '../src/api.js';
import { plotSpecs, renderSvg, flameSvg } from '../src/plot.js';
import type { FromRunner, ToRunner, LastPointObs } from './runner.js';
import type { SweepAxes, CpuSnapshot, PointResult, Mode, WorkloadName, StrategyName } from '../src/api.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const errorBox = $('error');
const status = $('status');

function showError(msg: string): void {
  errorBox.textContent = msg;
  errorBox.classList.add('shown');
  status.textContent = 'stopped';
  status.dataset.state = 'error';
  ($('run') as HTMLButtonElement).disabled = false;
  ($('stop') as HTMLButtonElement).disabled = true;
}
function clearError(): void { errorBox.textContent = ''; errorBox.classList.remove('shown'); }
window.addEventListener('error', (e) => showError(`internal error: ${e.message}`));
window.addEventListener('unhandledrejection', (e) => showError(`internal error: ${e.reason instanceof Error ? e.reason.message : String(e.reason)}`));

// ---- the form, from what exists ----
const wSel = $<HTMLSelectElement>('workload');
for (const w of listedWorkloads()) wSel.add(new Option(`${w.name} (${w.opsUnit})`, w.name));
const sBox = $('strategies');
for (const s of strategies) {
  const l = document.createElement('label');
  l.className = 'inline';
  l.title = s.description;
  l.innerHTML = `<input type="checkbox" name="strategy" value="${s.name}" checked> ${s.name}`;
  sBox.append(l);
}
const pSel = $<HTMLSelectElement>('profile');
for (const p of listProfiles()) pSel.add(new Option(p.name, p.name));
pSel.value = 'default';
$('isolation').textContent = crossOriginIsolated ? '' : 'This page is not cross-origin isolated: serve it with `faultline serve` (COOP/COEP).';

/** the URL's parameters into the form; a bad one is an error in the page */
function fromUrl(q: URLSearchParams): void {
  const w = q.get('workload');
  if (w !== null) { workloadByName(w); wSel.value = w; }
  const ss = q.get('strategies') ?? q.get('strategy');
  if (ss !== null) {
    const want = ss.split(',').filter(Boolean);
    want.forEach((s) => strategyByName(s));
    for (const box of sBox.querySelectorAll<HTMLInputElement>('input')) box.checked = want.includes(box.value);
  }
  const c = q.get('cpus'); if (c !== null) $<HTMLInputElement>('cpus').value = c;
  const p = q.get('profile');
  if (p !== null) {
    // a name of a shipped profile: the page has no file system to read a path from
    const names = listProfiles().map((x) => x.name);
    if (!names.includes(p)) throw new Error(`unknown profile "${p}"; available profiles: ${names.join(', ')}`);
    pSel.value = p;
  }
  const m = q.get('mode');
  if (m !== null) {
    if (m !== 'parallel' && m !== 'deterministic') throw new Error(`unknown mode "${m}" (parallel or deterministic)`);
    $<HTMLSelectElement>('mode').value = m;
  }
  const seed = q.get('seed'); if (seed !== null) $<HTMLInputElement>('seed').value = seed;
  const v = q.get('vcycles'); if (v !== null) $<HTMLInputElement>('vcycles').value = v;
}

/** a whole number of the form within [min, max] (the API checks again, with the same words) */
function int(what: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const t = text.trim();
  const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
  if (!/^\d+$/.test(t) || !Number.isSafeInteger(Number(t)) || Number(t) < min || Number(t) > max) throw new Error(`${what} must be an integer ${range} (got "${text.trim()}")`);
  return Number(t);
}
/** the core's limits (assembly/layout.ts): CPUs of a machine, the virtual clock */
const MAX_CPUS = 256;
const MAX_VCYCLES = 2 ** 39 - 1;

/** the form as sweep axes (the API checks the values) */
function axesFromForm(): SweepAxes {
  const strats = [...sBox.querySelectorAll<HTMLInputElement>('input:checked')].map((b) => b.value);
  if (strats.length === 0) throw new Error('pick at least one strategy');
  const cpuText = $<HTMLInputElement>('cpus').value;
  if (cpuText.trim() === '') throw new Error('CPU counts: give a comma-separated list, e.g. 1,2,4,8');
  const cpus = cpuText.split(',').map((x) => int('every CPU count', x, 1, MAX_CPUS));
  const v = $<HTMLInputElement>('vcycles').value;
  return {
    // names from the form are checked by the API (checkPoints), as the CLI's
    workloads: [wSel.value as WorkloadName], strategies: strats as StrategyName[], cpus,
    profile: pSel.value, mode: $<HTMLSelectElement>('mode').value as Mode,
    seed: int('seed', $<HTMLInputElement>('seed').value, 0),
    ...(v.trim() !== '' ? { vcycles: int('vcycles', v, 1, MAX_VCYCLES) } : {}),
  };
}

// ---- the live view ----
const tbody = $('live').querySelector('tbody') as HTMLTableSectionElement;
let liveIndex = -1;
let ghz = 1;
/** per CPU of the running point: samples by state, the last wait seen */
let seen: { states: Map<string, number>; lastWait: string }[] = [];
function showCpus(index: number, label: string, cpus: CpuSnapshot[]): void {
  if (index !== liveIndex) {
    liveIndex = index;
    seen = cpus.map(() => ({ states: new Map(), lastWait: '' }));
    $('point').textContent = label;
    tbody.replaceChildren(...cpus.map((c) => {
      const tr = document.createElement('tr');
      tr.dataset.cpu = String(c.cpu);
      tr.dataset.states = '';
      tr.innerHTML = '<td class="num"></td><td class="state"></td><td class="num clock"></td><td class="waits"></td><td class="num faults"></td><td class="last"></td><td class="spread"></td>';
      return tr;
    }));
  }
  for (const c of cpus) {
    const tr = tbody.children[c.cpu] as HTMLTableRowElement | undefined;
    const s = seen[c.cpu];
    if (!tr || !s) continue;
    // the states seen, in order (data-states: the tests read it)
    const order = tr.dataset.states ? tr.dataset.states.split(',') : [];
    if (!order.includes(c.state)) order.push(c.state);
    tr.dataset.states = order.join(',');
    s.states.set(c.state, (s.states.get(c.state) ?? 0) + 1);
    if (c.waitsFor) s.lastWait = c.waitsFor;
    tr.className = c.state;
    const cells = tr.children;
    cells[0].textContent = String(c.cpu);
    cells[1].textContent = c.state;
    cells[2].textContent = `${BigInt(c.clock).toLocaleString('en-US')} (${(Number(c.clock) / (ghz * 1e3)).toFixed(1)} µs)`;
    cells[3].textContent = c.waitsFor ?? '';
    cells[4].textContent = String(c.faults);
    cells[5].textContent = s.lastWait;
    const total = [...s.states.values()].reduce((a, b) => a + b, 0);
    cells[6].textContent = [...s.states].sort((a, b) => b[1] - a[1]).map(([st, n]) => `${st} ${Math.round((100 * n) / total)}%`).join(', ');
  }
}

// ---- a run ----
let runner: Worker | undefined;
/** object URLs of the last results (released when the next ones replace them) */
let urls: string[] = [];
const objectUrl = (text: string, type: string): string => { const u = URL.createObjectURL(new Blob([text], { type })); urls.push(u); return u; };

async function showResults(json: string, csv: string, failed: number, stopped: boolean, last?: LastPointObs): Promise<void> {
  const doc = JSON.parse(json) as { points: PointResult[] };
  for (const u of urls) URL.revokeObjectURL(u);
  urls = [];
  const plots = $('plots');
  plots.replaceChildren();
  for (const { file, spec } of plotSpecs(doc.points)) {
    const d = document.createElement('div');
    d.dataset.plot = file;
    d.innerHTML = await renderSvg(spec);
    plots.append(d);
    // the last point's flame graph beside the scaling plot of its workload
    if (last && file === `${doc.points[doc.points.length - 1]?.workload}-throughput.svg`) {
      const f = document.createElement('div');
      f.dataset.plot = 'flame';
      f.id = 'flame';
      f.innerHTML = await flameSvg(last.folded, `last point: ${last.label}: virtual cycles by kernel function`, 420);
      plots.append(f);
    }
  }
  const dl = $('downloads');
  dl.replaceChildren();
  for (const [name, text, type] of [['results.json', json, 'application/json'], ['results.csv', csv, 'text/csv']]) {
    const a = document.createElement('a');
    a.href = objectUrl(text, type);
    a.download = name;
    a.id = `download-${name.split('.')[1]}`;
    a.textContent = `download ${name}`;
    dl.append(a);
  }
  // the last point's timeline in the viewer the package ships (trace.html reads ?trace=URL), and as a file
  // for ui.perfetto.dev or chrome://tracing
  const tl = $('timeline');
  tl.replaceChildren();
  tl.hidden = !last;
  if (last) {
    const url = objectUrl(last.trace, 'application/json');
    const open = document.createElement('a');
    open.id = 'open-trace';
    open.href = `trace.html?trace=${encodeURIComponent(url)}&start=${last.window.start}&end=${last.window.end}`;
    open.target = '_blank';
    open.textContent = `open the timeline of the last point (${last.label}) in the viewer`;
    const save = document.createElement('a');
    save.id = 'download-trace';
    save.href = url;
    save.download = 'trace.json';
    save.textContent = 'download trace.json';
    tl.append(open, ' ', save);
    if (last.droppedEvents > 0) tl.append(` (each CPU's first events; ${last.droppedEvents} later ones dropped: faultline run --trace --trace-window START:END shows any part)`);
  }
  if (doc.points.length === 0) plots.textContent = 'no point finished';
  const bad = doc.points.filter((p) => !p.ok);
  if (bad.length) showError(`${failed} of ${doc.points.length} point(s) failed (the others are kept):\n` + bad.map((p) => `${p.workload} ${p.strategy} ${p.cpus} CPU(s): ${(p.error ?? '').split('\n')[0]}`).join('\n'));
  status.textContent = stopped ? `stopped: ${doc.points.length} point(s) finished and kept, ${failed} failed` : `done: ${doc.points.length} point(s), ${failed} failed`;
  status.dataset.state = stopped ? 'stopped' : 'done';
}

function run(): void {
  clearError();
  let axes: SweepAxes;
  try { axes = axesFromForm(); } catch (e) { showError((e as Error).message); return; }
  ghz = loadProfile(axes.profile as string).ghz;
  ($('run') as HTMLButtonElement).disabled = true;
  ($('stop') as HTMLButtonElement).disabled = false;
  status.textContent = 'starting';
  status.dataset.state = 'running';
  $('plots').replaceChildren();
  $('downloads').replaceChildren();
  $('timeline').replaceChildren();
  $('timeline').hidden = true;
  liveIndex = -1;
  runner?.terminate();
  runner = new Worker(new URL('runner.js', location.href), { type: 'module' });
  runner.onerror = (e) => showError(`the sweep runner failed: ${e.message || 'runner.js did not load'}`);
  let total = 0;
  runner.onmessage = (e: MessageEvent<FromRunner>) => {
    const m = e.data;
    if (m.type === 'error') { showError(m.message); return; }
    if (m.type === 'done') {
      // a stopped sweep: the running point ends with its Worker (and its CPUs' Workers)
      if (m.stopped) { runner?.terminate(); runner = undefined; }
      ($('run') as HTMLButtonElement).disabled = false;
      ($('stop') as HTMLButtonElement).disabled = true;
      void showResults(m.json, m.csv, m.failed, m.stopped, m.last);
      return;
    }
    const ev = m.event;
    if (ev.type === 'point') {
      total = ev.total;
      if (ev.running) status.textContent = `running point ${ev.done + 1} of ${ev.total}: ${ev.running.workload} ${ev.running.strategy} on ${ev.running.cpus} CPU(s)`;
    } else {
      showCpus(ev.index, `(${ev.index + 1} of ${total}: ${ev.spec.workload} ${ev.spec.strategy}, ${ev.spec.cpus} CPU(s))`, ev.cpus);
    }
  };
  // the command line that reproduces this sweep (the one results.json records)
  $('command-line').textContent = sweepCommand(axes).map(shellWord).join(' ');
  $('command').hidden = false;
  $('copied').textContent = '';
  const msg: ToRunner = { type: 'run', axes };
  runner.postMessage(msg);
}

/** a word as a POSIX shell reads it back */
function shellWord(w: string): string { return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`; }

$('form').addEventListener('submit', (e) => { e.preventDefault(); run(); });
$('stop').addEventListener('click', () => {
  ($('stop') as HTMLButtonElement).disabled = true;
  status.textContent = 'stopping: ending the running point';
  const msg: ToRunner = { type: 'stop' };
  runner?.postMessage(msg);
});
$('copy').addEventListener('click', async () => {
  const text = $('command-line').textContent ?? '';
  try {
    await navigator.clipboard.writeText(text);
    $('copied').textContent = 'copied';
  } catch {
    // no clipboard permission (plain http on another host): select it for Ctrl-C
    getSelection()?.selectAllChildren($('command-line'));
    $('copied').textContent = 'selected: press Ctrl-C';
  }
});
try {
  const q = new URLSearchParams(location.search);
  fromUrl(q);
  if (q.get('run') === '1') run();
} catch (e) {
  showError((e as Error).message);
}
