/**
 * Cost profiles: named tables of cycle costs, one per emulated machine.
 *
 * A profile is JSON data in <package root>/profiles/<name>.json:
 *
 *   {
 *     "name": "intel-skx-2s",
 *     "description": "one line",
 *     "ghz": 2.5,
 *     "topology": { "sockets": 2, "coresPerSocket": 28, "threadsPerCore": 2 },
 *     "costs": { "<key>": { "cycles": <int >= 0>, "source": "<where from>" }, ... }
 *   }
 *
 * `costs` must give exactly the keys of spec/costs.json (COST_KEYS), no more,
 * no fewer. Keys starting with "$" (e.g. "$comment") are ignored at every
 * level; any other unknown key is an error, so that typos ("ghZ", "cylces")
 * are caught rather than silently defaulted.
 *
 * Validation reports the FIRST problem found, as one human line:
 *   profile intel-skx-2s.json: costs.l1_hit.cycles must be an integer >= 0 (got "four")
 *
 * CPU placement rule (cpuPlacement, policy 'cores', the default): emulated CPU i is mapped onto
 * (socket, core, thread) by filling every physical core of every socket
 * before using any SMT sibling, and within one SMT "layer" by filling
 * socket 0 core by core, then socket 1, ...:
 *
 *   coresTotal = sockets * coresPerSocket
 *   thread     = floor(i / coresTotal)
 *   r          = i mod coresTotal
 *   socket     = floor(r / coresPerSocket)
 *   core       = r mod coresPerSocket
 *
 * So on 2 sockets x 28 cores x 2 threads, CPUs 0-27 are socket 0 thread 0,
 * 28-55 socket 1 thread 0, 56-83 socket 0 thread 1 (siblings of 0-27), and
 * 84-111 socket 1 thread 1. Two CPUs are SMT siblings iff they have the same
 * (socket, core); they are "near" iff same socket, different core; "far" iff
 * different sockets.
 */
import { COSTS_SPEC, PROFILES } from './generated/assets.js';
import { platform } from './platform.js';

export interface Topology {
  sockets: number;
  coresPerSocket: number;
  threadsPerCore: number;
}

export interface CostProfile {
  name: string;
  description: string;
  ghz: number;
  topology: Topology;
  /** cycles per cost key (every key of COST_KEYS) */
  cycles: Record<string, number>;
  /** where each figure comes from, per cost key */
  sources: Record<string, string>;
}

/** Thrown for every problem with a profile or a placement request. */
export class ProfileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProfileError';
  }
}

/** Upper bound (exclusive) on one cost, in cycles. */
const MAX_CYCLES = 10_000_000;
/** Upper bound (exclusive) on the clock, in GHz. */
const MAX_GHZ = 20;

/** spec/costs.json, bundled (src/generated/assets.ts) */
function readCostKeys(): readonly string[] {
  const spec: unknown = COSTS_SPEC;
  const list = isPlainObject(spec) ? spec['costs'] : undefined;
  if (!Array.isArray(list) || list.length === 0) {
    throw new Error('spec/costs.json: "costs" must be a non-empty array of [key, description]');
  }
  const keys: string[] = [];
  for (const [i, entry] of list.entries()) {
    const key: unknown = Array.isArray(entry) ? entry[0] : undefined;
    if (typeof key !== 'string' || key === '') {
      throw new Error(`spec/costs.json: costs[${i}] must be [key, description] with a non-empty key`);
    }
    if (keys.includes(key)) throw new Error(`spec/costs.json: duplicate cost key "${key}"`);
    keys.push(key);
  }
  return Object.freeze(keys);
}

/** The cost vocabulary, in the order of spec/costs.json (= shared-memory order). */
export const COST_KEYS: readonly string[] = readCostKeys();

// ---------------------------------------------------------------------------
// Validation helpers

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A short, readable rendering of an offending value for error messages. */
function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'number') return String(v); // keeps NaN / Infinity readable
  if (typeof v === 'bigint') return `${v}n`;
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function unknownKey(obj: Record<string, unknown>, allowed: readonly string[]): string | undefined {
  return Object.keys(obj).find((k) => !k.startsWith('$') && !allowed.includes(k));
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

function fail(origin: string, problem: string): never {
  throw new ProfileError(`profile ${origin}: ${problem}`);
}

const TOP_KEYS = ['name', 'description', 'ghz', 'topology', 'costs'] as const;
const TOPO_KEYS = ['sockets', 'coresPerSocket', 'threadsPerCore'] as const;
const ENTRY_KEYS = ['cycles', 'source'] as const;

/**
 * Validate a parsed profile and turn it into a CostProfile.
 * Throws a ProfileError naming `origin` and the FIRST problem found.
 */
export function parseProfile(json: unknown, origin: string): CostProfile {
  if (!isPlainObject(json)) fail(origin, `must be a JSON object (got ${show(json)})`);

  const extra = unknownKey(json, TOP_KEYS);
  if (extra !== undefined) {
    fail(origin, `unknown top-level key "${extra}" (expected ${TOP_KEYS.join(', ')})`);
  }

  const name = json['name'];
  if (typeof name !== 'string' || name.trim() === '') {
    fail(origin, `name must be a non-empty string (got ${show(name)})`);
  }

  const description = json['description'];
  if (typeof description !== 'string' || description.trim() === '') {
    fail(origin, `description must be a non-empty string (got ${show(description)})`);
  }
  if (/[\r\n]/.test(description)) fail(origin, 'description must be one line');

  const ghz = json['ghz'];
  if (typeof ghz !== 'number' || !Number.isFinite(ghz) || ghz <= 0 || ghz >= MAX_GHZ) {
    fail(origin, `ghz must be a finite number > 0 and < ${MAX_GHZ} (got ${show(ghz)})`);
  }

  const topo = json['topology'];
  if (!isPlainObject(topo)) fail(origin, `topology must be an object (got ${show(topo)})`);
  const topoExtra = unknownKey(topo, TOPO_KEYS);
  if (topoExtra !== undefined) {
    fail(origin, `unknown key topology.${topoExtra} (expected ${TOPO_KEYS.join(', ')})`);
  }
  for (const k of TOPO_KEYS) {
    if (!isPositiveInt(topo[k])) {
      fail(origin, `topology.${k} must be a positive integer (got ${show(topo[k])})`);
    }
  }
  const topology: Topology = Object.freeze({
    sockets: topo['sockets'] as number,
    coresPerSocket: topo['coresPerSocket'] as number,
    threadsPerCore: topo['threadsPerCore'] as number,
  });

  const costs = json['costs'];
  if (!isPlainObject(costs)) fail(origin, `costs must be an object (got ${show(costs)})`);
  const costExtra = unknownKey(costs, COST_KEYS);
  if (costExtra !== undefined) {
    fail(origin, `unknown cost key costs.${costExtra} (not in spec/costs.json)`);
  }

  const cycles: Record<string, number> = {};
  const sources: Record<string, string> = {};
  for (const key of COST_KEYS) {
    const entry = costs[key];
    if (entry === undefined) fail(origin, `costs.${key} is missing (every key of spec/costs.json is required)`);
    if (!isPlainObject(entry)) {
      fail(origin, `costs.${key} must be an object { cycles, source } (got ${show(entry)})`);
    }
    const entryExtra = unknownKey(entry, ENTRY_KEYS);
    if (entryExtra !== undefined) {
      fail(origin, `unknown key costs.${key}.${entryExtra} (expected cycles, source)`);
    }
    const c = entry['cycles'];
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 0) {
      fail(origin, `costs.${key}.cycles must be an integer >= 0 (got ${show(c)})`);
    }
    if (c >= MAX_CYCLES) {
      fail(origin, `costs.${key}.cycles must be < ${MAX_CYCLES} (got ${show(c)})`);
    }
    const s = entry['source'];
    if (typeof s !== 'string' || s.trim() === '') {
      fail(origin, `costs.${key}.source must be a non-empty string (got ${show(s)})`);
    }
    cycles[key] = c;
    sources[key] = s;
  }

  return Object.freeze({
    name,
    description,
    ghz,
    topology,
    cycles: Object.freeze(cycles),
    sources: Object.freeze(sources),
  });
}

// ---------------------------------------------------------------------------
// Loading

/** Names of the shipped profiles (profiles/*.json, bundled in src/generated/assets.ts), sorted. */
function shippedNames(): string[] {
  return Object.keys(PROFILES).sort();
}

/** a shipped profile name (not a path to a profile file) */
export function isBareName(s: string): boolean {
  return !s.includes('/') && !s.includes('\\') && !s.endsWith('.json');
}

/**
 * Load and validate a profile.
 *
 * A bare name (no slash, no ".json") is a shipped profile (profiles/<name>.json)
 * and its "name" field must equal <name>. Anything else is a file path,
 * resolved against the current directory: Node only (the platform reads it);
 * in a browser, pass a parsed profile object to the API instead.
 */
export function loadProfile(nameOrPath: string): CostProfile {
  if (typeof nameOrPath !== 'string' || nameOrPath.trim() === '') {
    throw new ProfileError(`profile name or path must be a non-empty string (got ${show(nameOrPath)})`);
  }
  if (isBareName(nameOrPath)) {
    const names = shippedNames();
    if (!names.includes(nameOrPath)) {
      const available = names.length > 0 ? names.join(', ') : '(none)';
      throw new ProfileError(`unknown profile "${nameOrPath}"; available profiles: ${available}`);
    }
    const origin = `${nameOrPath}.json`;
    const p = parseProfile(PROFILES[nameOrPath], origin);
    if (p.name !== nameOrPath) {
      fail(origin, `name must match the file name "${nameOrPath}" (got ${show(p.name)})`);
    }
    return p;
  }
  const read = platform().readProfileFile;
  if (!read) throw new ProfileError(`profile ${nameOrPath}: profile files can be read only in Node; pass a shipped name or a parsed profile`);
  return parseProfile(read(nameOrPath), nameOrPath);
}

/** The shipped profiles, validated, sorted by name. */
export function listProfiles(): { name: string; description: string }[] {
  return shippedNames().map((n) => {
    const p = loadProfile(n);
    return { name: p.name, description: p.description };
  });
}

// ---------------------------------------------------------------------------
// Topology and the shared-memory vector

/**
 * Where emulated CPU `cpu` sits in `topo` (see the mapping rule at the top of
 * this file: all cores of all sockets first, socket by socket, then SMT
 * siblings layer by layer).
 */
/**
 * How a benchmark's threads land on the machine (the workload says which; the
 * result records it):
 * - 'cores': will-it-scale's main.c binds task i to hwloc core object
 *   i % ncores (cores in topology order: socket 0's, then socket 1's), so the
 *   second task of a core comes only once every core has one (the rule above);
 * - 'spread': left to the Linux scheduler (pft, ebizzy): one thread per idle
 *   core before any SMT sibling (select_idle_core), and the sockets kept level
 *   (the NUMA imbalance a fork may leave is imb_numa_nr: with one LLC per node,
 *   the number of LLCs, 2 here; kernel/sched/topology.c build_sched_domains):
 *   CPU i of a layer goes to socket i mod sockets, core floor(i / sockets).
 */
export type Placement = 'cores' | 'spread';

export function cpuPlacement(
  topo: Topology,
  cpu: number,
  policy: Placement = 'cores',
): { socket: number; core: number; thread: number } {
  for (const k of TOPO_KEYS) {
    if (!isPositiveInt(topo[k])) {
      throw new ProfileError(`topology.${k} must be a positive integer (got ${show(topo[k])})`);
    }
  }
  const { sockets, coresPerSocket, threadsPerCore } = topo;
  const total = sockets * coresPerSocket * threadsPerCore;
  if (!Number.isSafeInteger(cpu) || cpu < 0) {
    throw new ProfileError(`cpu must be an integer >= 0 (got ${show(cpu)})`);
  }
  if (cpu >= total) {
    throw new ProfileError(
      `cpu ${cpu} does not fit the topology ${sockets} socket(s) x ${coresPerSocket} cores x ` +
        `${threadsPerCore} thread(s) (${total} CPUs: 0..${total - 1})`,
    );
  }
  const coresTotal = sockets * coresPerSocket;
  const thread = Math.floor(cpu / coresTotal);
  const r = cpu % coresTotal;
  if (policy === 'spread') return { socket: r % sockets, core: Math.floor(r / sockets), thread };
  return { socket: Math.floor(r / coresPerSocket), core: r % coresPerSocket, thread };
}

/** The profile's cycles in COST_KEYS order: what the host copies into shared memory. */
export function costVector(p: CostProfile): Uint32Array {
  const v = new Uint32Array(COST_KEYS.length);
  COST_KEYS.forEach((key, i) => {
    const c = p.cycles[key];
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c >= MAX_CYCLES) {
      throw new ProfileError(
        `profile ${p.name}: costs.${key}.cycles must be an integer >= 0 and < ${MAX_CYCLES} (got ${show(c)})`,
      );
    }
    v[i] = c;
  });
  return v;
}
