// `faultline serve`: a small static server for the web page (dist/web). It
// sets the headers that make the page cross-origin isolated (COOP/COEP: the
// shared Wasm memory needs SharedArrayBuffer), binds 127.0.0.1 unless told
// otherwise, and serves only files under its root: a path with a ".." segment
// (raw or %-encoded), a backslash, a NUL or a malformed escape is 400; a path
// that resolves outside the root (through a symlink) or to nothing is 404.

import { createServer, type Server } from 'node:http';
import { createReadStream, existsSync, realpathSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { packageRoot } from './platform.js';
import { UsageError } from '../types.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.map': 'application/json', '.txt': 'text/plain; charset=utf-8', '.csv': 'text/csv; charset=utf-8',
};

/** the headers every response carries: cross-origin isolation, no sniffing, no caching */
const HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
};

export function webRoot(): string { return join(packageRoot(), 'dist', 'web'); }

/** The file a request path names under `root`, or the status to answer with. */
export function resolveRequest(root: string, url: string): { file: string } | { status: 400 | 404 } {
  if (!url.startsWith('/')) return { status: 400 }; // absolute-form or garbage request targets
  const raw = url.split(/[?#]/, 1)[0];
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    return { status: 400 };
  }
  if (path.includes('\0') || path.includes('\\')) return { status: 400 };
  if (path.split('/').some((seg) => seg === '..')) return { status: 400 };
  let file = resolve(root, '.' + path);
  if (file !== root && !file.startsWith(root + sep)) return { status: 400 };
  if (!existsSync(file)) return { status: 404 };
  // a symlink pointing out of the root is not served
  const real = realpathSync(file);
  if (real !== root && !real.startsWith(root + sep)) return { status: 404 };
  if (statSync(real).isDirectory()) file = join(real, 'index.html');
  else file = real;
  if (!existsSync(file) || !statSync(file).isFile()) return { status: 404 };
  return { file };
}

export interface ServeOptions { host: string; port: number; root?: string }

/** Start the server; resolves once it listens (with its URL), rejects with a UsageError when it cannot. */
export function serve(o: ServeOptions): Promise<{ server: Server; url: string }> {
  const root = realpathSync.native(o.root ?? webRoot());
  const server = createServer((req, res) => {
    const send = (status: number, text: string) => {
      res.writeHead(status, { ...HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(req.method === 'HEAD' ? undefined : text + '\n');
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.setHeader('Allow', 'GET, HEAD'); return send(405, 'method not allowed'); }
    const r = resolveRequest(root, req.url ?? '');
    if ('status' in r) return send(r.status, r.status === 400 ? 'bad request' : 'not found');
    res.writeHead(200, { ...HEADERS, 'Content-Type': TYPES[extname(r.file)] ?? 'application/octet-stream', 'Content-Length': statSync(r.file).size });
    if (req.method === 'HEAD') return res.end();
    createReadStream(r.file).on('error', () => res.destroy()).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const where = `${o.host}:${o.port}`;
      if (e.code === 'EADDRINUSE') fail(new UsageError(`port ${o.port} on ${o.host} is in use (pick another with --port)`));
      else if (e.code === 'EACCES') fail(new UsageError(`no permission to listen on ${where} (pick a port above 1023 with --port)`));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') fail(new UsageError(`cannot listen on ${where}: no such local address (--host)`));
      else fail(new UsageError(`cannot listen on ${where}: ${e.code ?? e.message}`));
    });
    server.listen(o.port, o.host, () => {
      const a = server.address();
      const port = typeof a === 'object' && a ? a.port : o.port;
      const host = o.host.includes(':') ? `[${o.host}]` : o.host;
      ok({ server, url: `http://${host}:${port}/` });
    });
  });
}

/** check the page was built */
export function checkWebRoot(root = webRoot()): string {
  if (!existsSync(join(root, 'index.html'))) throw new UsageError(`${root} has no index.html: run "npm run build" first`);
  return root;
}
