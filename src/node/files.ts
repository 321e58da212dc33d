// Writing results to disk (Node only): the JSON document, the CSV, the SVG plots and the timeline.

import { writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { jsonText, toCsv, type ResultsFile } from '../report.js';
import { plotSpecs, renderSvg } from '../plot.js';
import type { PointResult } from '../experiment.js';
import type { TraceFile } from '../obs.js';

export function writeJson(file: string, doc: ResultsFile): void {
  writeFileSync(file, jsonText(doc));
}

export function writeCsv(file: string, points: PointResult[]): void {
  writeFileSync(file, toCsv(points));
}

/** Write both charts of every workload that has a finished point; returns the file names written. */
export async function writePlots(dir: string, points: PointResult[]): Promise<string[]> {
  const written: string[] = [];
  for (const { file, spec } of plotSpecs(points)) {
    writeFileSync(join(dir, file), await renderSvg(spec));
    written.push(file);
  }
  return written;
}

/** events per write of writeTrace(): one chunk's JSON stays far below V8's string limit */
const TRACE_CHUNK = 20_000;

/**
 * Write a timeline (Chrome Trace Event JSON) a chunk of events at a time. The
 * same text as JSON.stringify(trace), which a long run's timeline outgrows: V8
 * strings stop at 2^29 - 24 characters (~512 MiB; `RangeError: Invalid string
 * length`), and a million events per CPU on 32 CPUs pass that.
 */
export function writeTrace(file: string, trace: TraceFile): void {
  const fd = openSync(file, 'w');
  try {
    const { traceEvents, ...rest } = trace;
    writeSync(fd, '{"traceEvents":[');
    for (let i = 0; i < traceEvents.length; i += TRACE_CHUNK) {
      const part = JSON.stringify(traceEvents.slice(i, i + TRACE_CHUNK));
      writeSync(fd, (i > 0 ? ',' : '') + part.slice(1, -1));
    }
    const tail = JSON.stringify(rest);
    writeSync(fd, ']' + (tail === '{}' ? '}' : ',' + tail.slice(1)));
  } finally {
    closeSync(fd);
  }
}
