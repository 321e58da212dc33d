// The timeline viewer the package ships (dist/web/trace.html): draws a
// Chrome Trace Event file of `faultline run --trace` (or the API's
// PointResult.trace) as one track per emulated CPU in virtual time, spans
// nested by time, and the flow arrows (lock handovers, TLB-flush IPIs) as
// arrows between tracks. Open a file with the picker, drop one on the page, or
// give ?trace=URL (faultline serve; &start=&end= in µs: the window shown first). Perfetto (ui.perfetto.dev) and
// chrome://tracing open the same file with more tools; this page works offline.

interface Ev { name: string; ph: string; ts?: number; dur?: number; pid: number; tid?: number; cat?: string; id?: number; args?: Record<string, unknown> }
interface TraceDoc { traceEvents: Ev[]; otherData?: Record<string, unknown> }
interface Span { e: Ev; depth: number; el?: HTMLElement }

const ROW = 16; // px per nesting level
const LABEL = 70; // px of the track labels
const COLORS: Record<string, string> = {
  fault: '#e8a33d', lock: '#d9534f', shootdown: '#5b8def', ipi: '#8fb3f5', userfault: '#9b6ad6', barrier: '#999999', syscall: '#5cb85c', faultline: '#333333',
};

/** the whole viewer state of one page */
export class TraceView {
  private doc: TraceDoc = { traceEvents: [] };
  private start = 0;
  private end = 1;

  constructor(private root: HTMLElement) {}

  /** show `doc` over [start, end) microseconds (default: all of it) */
  load(doc: unknown, window?: { start?: number; end?: number }): void {
    if (!doc || typeof doc !== 'object' || !Array.isArray((doc as TraceDoc).traceEvents)) throw new Error('not a Trace Event file: no traceEvents array');
    this.doc = doc as TraceDoc;
    const xs = this.doc.traceEvents.filter((e) => typeof e.ts === 'number');
    const lo = Math.min(...xs.map((e) => e.ts!)), hi = Math.max(...xs.map((e) => e.ts! + (e.dur ?? 0)));
    this.start = window?.start ?? (Number.isFinite(lo) ? lo : 0);
    this.end = window?.end ?? (Number.isFinite(hi) && hi > this.start ? hi : this.start + 1);
    this.draw();
  }

  /** zoom to [start, end) microseconds */
  zoom(start: number, end: number): void {
    if (!(end > start)) return;
    this.start = start; this.end = end;
    this.draw();
  }

  private draw(): void {
    const root = this.root;
    root.textContent = '';
    const evs = this.doc.traceEvents;
    const title = evs.find((e) => e.ph === 'M' && e.name === 'process_name')?.args?.name;
    const head = document.createElement('div');
    head.className = 'head';
    const dropped = this.doc.otherData?.droppedEvents;
    head.textContent = `${String(title ?? 'trace')} — ${this.start.toFixed(3)} .. ${this.end.toFixed(3)} µs` + (dropped ? ` — ${String(dropped)} events dropped` : '');
    root.appendChild(head);
    const names = new Map<number, string>();
    for (const e of evs) if (e.ph === 'M' && e.name === 'thread_name' && e.tid !== undefined) names.set(e.tid, String(e.args?.name ?? e.tid));
    const tids = [...new Set([...names.keys(), ...evs.filter((e) => e.ph === 'X' && e.tid !== undefined).map((e) => e.tid!)])].sort((a, b) => a - b);
    const width = Math.max(200, (root.clientWidth || 1200) - LABEL - 10);
    const x = (t: number) => LABEL + ((t - this.start) / (this.end - this.start)) * width;
    const body = document.createElement('div');
    body.className = 'body';
    body.style.position = 'relative';
    root.appendChild(body);
    // spans per track, nested: a span inside an open one goes one row down
    const trackTop = new Map<number, number>();
    const spanAt = new Map<Ev, Span>();
    let top = 0;
    for (const tid of tids) {
      const xs = evs.filter((e) => e.ph === 'X' && e.tid === tid && e.ts! + (e.dur ?? 0) >= this.start && e.ts! <= this.end)
        .sort((a, b) => a.ts! - b.ts! || (b.dur ?? 0) - (a.dur ?? 0));
      const open: Ev[] = [];
      let depth = 0;
      const spans: Span[] = xs.map((e) => {
        while (open.length && open[open.length - 1].ts! + (open[open.length - 1].dur ?? 0) <= e.ts! && !(e.dur === 0 && open[open.length - 1].ts! + (open[open.length - 1].dur ?? 0) === e.ts!)) open.pop();
        const s = { e, depth: open.length };
        open.push(e);
        depth = Math.max(depth, open.length);
        return s;
      });
      const track = document.createElement('div');
      track.className = 'track';
      track.dataset.tid = String(tid);
      const h = Math.max(1, depth) * ROW + 6;
      track.style.cssText = `position:absolute;left:0;top:${top}px;height:${h}px;width:${LABEL + width}px;border-bottom:1px solid #ddd`;
      const label = document.createElement('div');
      label.className = 'label';
      label.textContent = names.get(tid) ?? `tid ${tid}`;
      label.style.cssText = `position:absolute;left:0;top:2px;width:${LABEL - 4}px;font:11px sans-serif`;
      track.appendChild(label);
      for (const s of spans) {
        const el = document.createElement('div');
        const l = Math.max(LABEL, x(s.e.ts!)), r = Math.min(LABEL + width, x(s.e.ts! + (s.e.dur ?? 0)));
        el.className = `span ${s.e.cat ?? ''}`;
        el.dataset.cat = s.e.cat ?? '';
        el.dataset.name = s.e.name;
        el.dataset.ts = String(s.e.ts);
        el.dataset.end = String(s.e.ts! + (s.e.dur ?? 0));
        el.title = `${s.e.name}\n${s.e.ts!.toFixed(4)} µs, ${(s.e.dur ?? 0).toFixed(4)} µs\n${JSON.stringify(s.e.args ?? {})}`;
        el.style.cssText = `position:absolute;left:${l}px;width:${Math.max(1, r - l)}px;top:${3 + s.depth * ROW}px;height:${ROW - 2}px;` +
          `background:${COLORS[s.e.cat ?? ''] ?? '#777'};overflow:hidden;white-space:nowrap;font:10px sans-serif;color:#000;opacity:0.9`;
        if (r - l > 40) el.textContent = s.e.name;
        track.appendChild(el);
        s.el = el;
        spanAt.set(s.e, s);
      }
      body.appendChild(track);
      trackTop.set(tid, top);
      top += h;
    }
    body.style.height = `${top}px`;
    // flow arrows: v1 flow events (s on the source's thread, f on the target's), drawn between the tracks
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('width', String(LABEL + width));
    svg.setAttribute('height', String(top));
    svg.style.cssText = 'position:absolute;left:0;top:0;pointer-events:none';
    svg.innerHTML = '<defs><marker id="arrow" markerWidth="6" markerHeight="6" refX="5" refY="3" orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="#222"/></marker></defs>';
    const starts = new Map<unknown, Ev>();
    for (const e of evs) if (e.ph === 's') starts.set(e.id, e);
    for (const f of evs) {
      if (f.ph !== 'f') continue;
      const s = starts.get(f.id);
      if (!s || s.tid === undefined || f.tid === undefined || !trackTop.has(s.tid) || !trackTop.has(f.tid)) continue;
      if (f.ts! < this.start || s.ts! > this.end) continue;
      const line = document.createElementNS('http://www.w3.org/2000/svg', 'line');
      const y = (tid: number) => trackTop.get(tid)! + ROW / 2 + 3;
      line.setAttribute('x1', String(x(s.ts!))); line.setAttribute('y1', String(y(s.tid)));
      line.setAttribute('x2', String(x(f.ts!))); line.setAttribute('y2', String(y(f.tid)));
      line.setAttribute('stroke', '#222'); line.setAttribute('stroke-width', '1'); line.setAttribute('marker-end', 'url(#arrow)');
      line.setAttribute('class', `flow ${s.cat ?? ''}`);
      line.dataset.from = String(s.tid); line.dataset.to = String(f.tid);
      line.dataset.ts = String(f.ts); line.dataset.cat = s.cat ?? '';
      svg.appendChild(line);
    }
    body.appendChild(svg);
    // zoom: drag across the tracks to zoom to that range; double-click to see everything
    let from: number | null = null;
    const toTime = (px: number) => this.start + ((px - LABEL) / width) * (this.end - this.start);
    body.onmousedown = (ev) => { from = ev.offsetX; };
    body.onmouseup = (ev) => {
      if (from !== null && Math.abs(ev.offsetX - from) > 4) this.zoom(toTime(Math.min(from, ev.offsetX)), toTime(Math.max(from, ev.offsetX)));
      from = null;
    };
    body.ondblclick = () => this.load(this.doc);
  }
}

// the page: a file picker, drag and drop, ?trace=URL; window.faultlineTrace for scripts and tests
if (typeof document !== 'undefined' && document.getElementById('trace')) {
  const view = new TraceView(document.getElementById('trace')!);
  (window as unknown as { faultlineTrace: TraceView }).faultlineTrace = view;
  const status = document.getElementById('status')!;
  const open = async (text: Promise<string>) => {
    try { view.load(JSON.parse(await text)); status.textContent = ''; } catch (e) { status.textContent = `cannot show this file: ${(e as Error).message}`; }
  };
  (document.getElementById('file') as HTMLInputElement).onchange = (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (f) void open(f.text());
  };
  document.body.ondragover = (ev) => ev.preventDefault();
  document.body.ondrop = (ev) => { ev.preventDefault(); const f = ev.dataTransfer?.files[0]; if (f) void open(f.text()); };
  const q = new URLSearchParams(location.search);
  const url = q.get('trace');
  // &start=&end= (microseconds): the window shown first (the whole file: double-click)
  const at = (k: string) => { const v = q.get(k); return v !== null && Number.isFinite(Number(v)) ? Number(v) : undefined; };
  const first = at('start') !== undefined && at('end') !== undefined && at('end')! > at('start')! ? { start: at('start'), end: at('end') } : undefined;
  const show = async (text: Promise<string>) => {
    try { view.load(JSON.parse(await text), first); status.textContent = ''; } catch (e) { status.textContent = `cannot show this file: ${(e as Error).message}`; }
  };
  if (url) void show(fetch(url).then((r) => { if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`); return r.text(); }));
}
