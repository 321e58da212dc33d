// Generates schemas/*.schema.json (JSON Schema 2020-12) from the zod schemas
// of src/schema.ts, the one door every spec goes through: editors complete and
// check profiles/*.json, calibration/*.json and plan files with them (their
// "$schema" key names the file). Runs after tsc (it reads dist/src/).
// `--check` exits non-zero when a committed schema is stale.
import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (f) => import(pathToFileURL(join(root, 'dist', 'src', f)).href);
await dist('node/platform.js');
const S = await dist('schema.js');
const { layoutConsts } = await dist('wasm.js');
const C = layoutConsts();

/** "$"-keys ("$schema", "$comment") are allowed wherever unknown keys are not (the door drops them) */
function allowDollarKeys(node) {
  if (Array.isArray(node)) return node.map(allowDollarKeys);
  if (typeof node !== 'object' || node === null) return node;
  const out = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, allowDollarKeys(v)]));
  if (out.type === 'object' && out.additionalProperties === false) out.patternProperties = { '^\\$': {} };
  return out;
}

const docs = {
  'profile.schema.json': [S.profileSchema(), 'faultline cost profile', 'A machine for the emulator: clock, topology and the cycle cost of every key of spec/costs.json, each with its source (profiles/*.json; src/profile.ts).'],
  'calibration.schema.json': [S.calibrationSchema(C.MAX_CPUS, C.MAX_VCYCLES), 'faultline calibration set', 'Published scaling results the emulator is compared with (faultline validate --set FILE; src/calibration.ts).'],
  'plan.schema.json': [S.planSchema(C.MAX_CPUS, C.MAX_VCYCLES), 'faultline plan', 'The points of a sweep written down (faultline sweep ... --plan FILE; faultline point / slurm / merge read it).'],
  'point.schema.json': [S.pointSchema(C.MAX_CPUS, C.MAX_VCYCLES), 'faultline point', 'One point: a named workload under one strategy on N CPUs (a plan\'s points[].spec; runWorkload in the API).'],
};

const dir = join(root, 'schemas');
let stale = [];
for (const [file, [schema, title, description]] of Object.entries(docs)) {
  const js = allowDollarKeys(z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any' }));
  const text = JSON.stringify({ $schema: js.$schema, title, description, ...js, ...{ $schema: js.$schema } }, null, 2) + '\n';
  const path = join(dir, file);
  const cur = existsSync(path) ? readFileSync(path, 'utf8') : '';
  if (cur === text) continue;
  if (process.argv.includes('--check')) stale.push(file);
  else { mkdirSync(dir, { recursive: true }); writeFileSync(path, text); }
}
if (stale.length) { console.error(`schemas/${stale.join(', schemas/')} stale: run npm run build`); process.exit(1); }
