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
import { PROFILES } from './generated/assets.js';
import { platform } from './platform.js';
import { costKeys, profileFileSchema, parseOrThrow, show, PROFILE_STYLE, MAX_CYCLES } from './schema.js';

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

/** The cost vocabulary, in the order of spec/costs.json (= shared-memory order). */
export const COST_KEYS: readonly string[] = Object.freeze(costKeys());

/** the most CPUs a profile's machine has */
export function hardwareThreads(p: CostProfile): number {
  const t = p.topology;
  return t.sockets * t.coresPerSocket * t.threadsPerCore;
}

// ---------------------------------------------------------------------------
// Validation (src/schema.ts profileSchema: the one door)

const checked = new WeakSet<CostProfile>();

/**
 * Validate a parsed profile and turn it into a CostProfile.
 * Throws a ProfileError naming `origin` and the FIRST problem found.
 */
export function parseProfile(json: unknown, origin: string): CostProfile {
  const j = parseOrThrow(profileFileSchema(), json, (msg) => new ProfileError(`profile ${origin}: ${msg}`), PROFILE_STYLE);
  const cycles: Record<string, number> = {};
  const sources: Record<string, string> = {};
  for (const key of COST_KEYS) {
    const e = (j.costs as Record<string, { cycles: number; source: string }>)[key];
    cycles[key] = e.cycles;
    sources[key] = e.source;
  }
  const p: CostProfile = Object.freeze({
    name: j.name,
    description: j.description,
    ghz: j.ghz,
    topology: Object.freeze({ ...j.topology }),
    cycles: Object.freeze(cycles),
    sources: Object.freeze(sources),
  });
  checked.add(p);
  return p;
}

/**
 * A profile given as an object: a CostProfile this module made (as is), or
 * any other object, checked as a profile file (`costs`) or as a CostProfile
 * (`cycles` and `sources`).
 */
export function profileFromObject(o: object): CostProfile {
  if (checked.has(o as CostProfile)) return o as CostProfile;
  const p = o as Partial<CostProfile> & { costs?: unknown };
  if (p.costs === undefined && typeof p.cycles === 'object' && p.cycles !== null) {
    const { cycles, sources, ...rest } = p;
    const costs = Object.fromEntries(Object.keys(cycles).map((k) => [k, { cycles: cycles[k], source: sources?.[k] }]));
    return parseProfile({ ...rest, costs }, String(p.name ?? 'object'));
  }
  return parseProfile(o, String((o as { name?: unknown }).name ?? 'object'));
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
const shipped = new Map<string, CostProfile>();
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
    const cached = shipped.get(nameOrPath);
    if (cached) return cached;
    const origin = `${nameOrPath}.json`;
    const p = parseProfile(PROFILES[nameOrPath], origin);
    if (p.name !== nameOrPath) {
      throw new ProfileError(`profile ${origin}: name must match the file name "${nameOrPath}" (got ${show(p.name)})`);
    }
    shipped.set(nameOrPath, p);
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
  for (const k of ['sockets', 'coresPerSocket', 'threadsPerCore'] as const) {
    if (!Number.isSafeInteger(topo[k]) || topo[k] < 1) {
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

/** The profile's cycles in COST_KEYS order: what the host copies into shared memory (a checked profile: parseProfile). */
export function costVector(p: CostProfile): Uint32Array {
  return Uint32Array.from(COST_KEYS, (key) => p.cycles[key]);
}
