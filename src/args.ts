// Parsing of command-line values: strict, with one-line messages that name
// the option and the offending text (UsageError -> exit code 2).

import { existsSync, mkdirSync, statSync, writeFileSync, unlinkSync, openSync, closeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from './types.js';

/** "42" -> 42; "4x", "", "-1", "1.5", "1e3" -> UsageError naming `option` */
export function parseCount(option: string, text: string): number {
  const t = text.trim();
  if (!/^\d+$/.test(t) || !Number.isSafeInteger(Number(t))) {
    throw new UsageError(`${option}: "${text}" is not a whole number`);
  }
  return Number(t);
}

/** "a,b,,c" -> ["a","b","c"] (trimmed, duplicates dropped, order kept); empty -> UsageError */
export function parseNames(option: string, text: string): string[] {
  const items = [...new Set(text.split(',').map((s) => s.trim()).filter((s) => s !== ''))];
  if (items.length === 0) throw new UsageError(`${option}: expected a comma-separated list (got "${text}")`);
  return items;
}

/** "1,2,4" -> [1,2,4] (sorted, duplicates dropped) */
export function parseCounts(option: string, text: string): number[] {
  const counts = parseNames(option, text).map((s) => parseCount(option, s));
  return [...new Set(counts)].sort((a, b) => a - b);
}

/** one line for a file-system error: "ENOTDIR (a parent is not a directory)" */
export function describeFsError(e: NodeJS.ErrnoException): string {
  const what: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOTDIR: 'a parent is not a directory',
    EISDIR: 'is a directory',
    EEXIST: 'exists and is not a directory',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on device',
  };
  return e.code && what[e.code] ? `${what[e.code]} (${e.code})` : e.message;
}

export function isFsError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && (e as NodeJS.ErrnoException).syscall !== undefined;
}

/**
 * mkdir -p, one level at a time. Node's own `mkdirSync(dir, { recursive: true })`
 * never returns for some paths (under /proc it retries ENOENT forever, Node 20),
 * so a bad --out would hang the CLI before it said anything.
 */
function mkdirParents(abs: string): void {
  const missing: string[] = [];
  let d = abs;
  while (!existsSync(d)) {
    missing.push(d);
    const p = dirname(d);
    if (p === d) break;
    d = p;
  }
  for (const m of missing.reverse()) mkdirSync(m);
}

/** Write and remove a probe file: access(W_OK) says yes to root on a read-only or pseudo file system. */
function probeWrite(dir: string): void {
  const probe = join(dir, `.faultline-probe-${process.pid}`);
  writeFileSync(probe, '');
  unlinkSync(probe);
}

/** Create `dir` if needed and check, by writing in it, that it is a writable directory, before any run starts. */
export function prepareOutDir(dir: string): string {
  const abs = resolve(dir);
  try {
    mkdirParents(abs);
    if (!statSync(abs).isDirectory()) throw new UsageError(`cannot write output directory "${dir}": it exists and is not a directory`);
    probeWrite(abs);
  } catch (e) {
    if (!isFsError(e)) throw e;
    throw new UsageError(`cannot write output directory "${dir}": ${describeFsError(e)}`);
  }
  return abs;
}

/** Check that `file` can be written (its directory exists and is writable; it is not a directory). */
export function checkOutFile(option: string, file: string): string {
  const abs = resolve(file);
  const dir = dirname(abs);
  const fail = (why: string): never => { throw new UsageError(`${option}: cannot write "${file}": ${why}`); };
  if (existsSync(abs) && statSync(abs).isDirectory()) fail('is a directory');
  if (!existsSync(dir)) fail(`directory ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) fail(`${dir} is not a directory`);
  try {
    // open for append: creates the file if missing and never truncates one that exists
    const existed = existsSync(abs);
    closeSync(openSync(abs, 'a'));
    if (!existed) unlinkSync(abs);
  } catch (e) {
    if (!isFsError(e)) throw e;
    fail(describeFsError(e));
  }
  return abs;
}
