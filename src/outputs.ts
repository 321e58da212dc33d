// The files of a finished set of points: the one writer behind `sweep`,
// `run --json` and `merge`, so a merged cluster sweep and a local sweep
// produce the same results.json, results.csv and plots.

import { join } from 'node:path';
import type { PointResult } from './experiment.js';
import type { ResultsFile } from './report.js';
import { writeJson, writeCsv, writePlots } from './node/files.js';

/**
 * Write `jsonFile` (the results document) and/or, into `outDir`,
 * results.json, results.csv and the SVG plots; returns the paths written.
 * Callers have checked both destinations (prepareOutDir / checkOutFile).
 */
export async function writeOutputs(doc: ResultsFile, points: PointResult[], to: { outDir?: string; jsonFile?: string }): Promise<string[]> {
  const written: string[] = [];
  if (to.jsonFile) { writeJson(to.jsonFile, doc); written.push(to.jsonFile); }
  if (to.outDir) {
    writeJson(join(to.outDir, 'results.json'), doc);
    writeCsv(join(to.outDir, 'results.csv'), points);
    const svgs = await writePlots(to.outDir, points);
    written.push(...['results.json', 'results.csv', ...svgs].map((f) => join(to.outDir!, f)));
  }
  return written;
}

/** The failed points, as `sweep` and `merge` report them on stderr. */
export function formatFailures(points: PointResult[], failed: PointResult[]): string {
  const kept = points.length - failed.length;
  const lines = [`faultline: ${failed.length} of ${points.length} point(s) failed (the ${kept} that finished are kept):`];
  for (const p of failed) {
    const [first, ...rest] = (p.error ?? 'run failed').split('\n');
    lines.push(`  ${p.workload} ${p.strategy} ${p.cpus} CPU(s): ${first}`);
    for (const l of rest) lines.push(`    ${l.trim()}`);
  }
  return lines.join('\n') + '\n';
}
