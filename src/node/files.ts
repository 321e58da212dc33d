// Writing results to disk (Node only): the JSON document, the CSV and the SVG plots.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsonText, toCsv, type ResultsFile } from '../report.js';
import { plotSpecs, renderSvg } from '../plot.js';
import type { PointResult } from '../experiment.js';

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
