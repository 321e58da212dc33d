// `faultline serve`: loopback by default, COOP/COEP on every response, only
// files under its static root (dist/web), and a taken port is one line, exit 2.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
let server: ChildProcess;
let url: URL;

/** one raw HTTP/1.1 request, the target sent exactly as given (no client-side normalisation) */
function raw(target: string, method = 'GET'): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((ok, fail) => {
    const s = connect(Number(url.port), url.hostname);
    let data = '';
    s.on('data', (d) => { data += d; });
    s.on('error', fail);
    s.on('end', () => {
      const [head, ...body] = data.split('\r\n\r\n');
      const [line, ...hs] = head.split('\r\n');
      ok({ status: Number(line.split(' ')[1]), headers: Object.fromEntries(hs.map((h) => [h.slice(0, h.indexOf(':')).toLowerCase(), h.slice(h.indexOf(':') + 1).trim()])), body: body.join('\r\n\r\n') });
    });
    s.write(`${method} ${target} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`);
  });
}

beforeAll(async () => {
  server = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  url = new URL(await new Promise<string>((ok, fail) => {
    let out = '';
    server.stdout!.on('data', (d) => { out += d; const m = /at (http:\/\/\S+)/.exec(out); if (m) ok(m[1]); });
    server.on('exit', (c) => fail(new Error(`serve exited ${c}`)));
  }));
});
afterAll(() => { server?.kill(); });

describe('faultline serve', () => {
  it('binds 127.0.0.1 by default', () => {
    expect(url.hostname).toBe('127.0.0.1');
  });

  it('serves the page and the cores cross-origin isolated', async () => {
    const r = await raw('/');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/html/);
    expect(r.headers['cross-origin-opener-policy']).toBe('same-origin');
    expect(r.headers['cross-origin-embedder-policy']).toBe('require-corp');
    expect(r.body).toMatch(/<script type="module" src="app.js">/);
    const w = await raw('/faultline-mn.wasm');
    expect(w.status).toBe(200);
    expect(w.headers['content-type']).toBe('application/wasm');
    expect((await raw('/runner.js?x=1')).status).toBe(200);
    expect((await raw('/', 'HEAD')).status).toBe(200);
    expect((await raw('/', 'POST')).status).toBe(405);
  });

  it('serves nothing outside its static root', async () => {
    for (const [target, status] of [
      ['/../package.json', 400], ['/%2e%2e/package.json', 400], ['/%2E%2E/%2E%2E/package.json', 400], ['/%2e%2e%2fpackage.json', 400],
      ['/..%2f..%2fpackage.json', 400], ['/..\\package.json', 400], ['/%5c..%5cpackage.json', 400], ['/a/../../package.json', 400],
      ['/%00', 400], ['/%zz', 400],
      ['http://127.0.0.1/../package.json', 400], [`${url.origin}/package.json`, 400], // absolute-form targets
      ['/etc/passwd', 404], ['//etc/passwd', 404], ['/%2fetc%2fpasswd', 404], [`/${ROOT}package.json`, 404], ['/package.json', 404],
      ['/nope.html', 404],
    ] as [string, number][]) {
      const r = await raw(target);
      expect([target, r.status]).toEqual([target, status]);
      expect(r.body).not.toMatch(/"name": "faultline"|root:/);
    }
  });

  it('a taken port: one line, exit 2', async () => {
    const busy: Server = createServer();
    await new Promise<void>((ok) => busy.listen(0, '127.0.0.1', () => ok()));
    const port = (busy.address() as { port: number }).port;
    const r = spawnSync(process.execPath, [CLI, 'serve', '--port', String(port)], { encoding: 'utf8', timeout: 30_000 });
    busy.close();
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`faultline: port ${port} on 127.0.0.1 is in use (pick another with --port)\n`);
  });

  it('a bad port: one line, exit 2', () => {
    for (const p of ['70000', 'x']) {
      const r = spawnSync(process.execPath, [CLI, 'serve', '--port', p], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^faultline: --port/);
    }
  });
});
