import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  COST_KEYS,
  ProfileError,
  costVector,
  cpuPlacement,
  listProfiles,
  loadProfile,
  parseProfile,
  type Topology,
} from '../../src/profile.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SHIPPED = ['amd-epyc-rome', 'default', 'intel-clx-2s', 'intel-hsw-2s', 'intel-icx-2s', 'intel-skx-2s', 'kvm-epyc-2vcpu', 'kvm-hsw-16vcpu'];

function raw(name: string): Record<string, any> {
  return JSON.parse(readFileSync(join(ROOT, 'profiles', `${name}.json`), 'utf8'));
}

/** Expect fn to throw a ProfileError whose message matches every pattern. */
function expectProfileError(fn: () => unknown, ...patterns: (string | RegExp)[]): ProfileError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ProfileError);
  const err = caught as ProfileError;
  expect(err.name).toBe('ProfileError');
  expect(err.message).not.toMatch(/\n/);
  for (const p of patterns) {
    if (typeof p === 'string') expect(err.message).toContain(p);
    else expect(err.message).toMatch(p);
  }
  return err;
}

const tmp = mkdtempSync(join(tmpdir(), 'faultline-profile-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('COST_KEYS', () => {
  it('is the key list of spec/costs.json, in order', () => {
    const spec = JSON.parse(readFileSync(join(ROOT, 'spec', 'costs.json'), 'utf8'));
    expect(COST_KEYS).toEqual(spec.costs.map((e: [string, string]) => e[0]));
    expect(new Set(COST_KEYS).size).toBe(COST_KEYS.length);
    expect(Object.isFrozen(COST_KEYS)).toBe(true);
  });
});

describe('shipped profiles', () => {
  it('are listed with name and description', () => {
    const list = listProfiles();
    expect(list.map((p) => p.name)).toEqual(SHIPPED);
    for (const p of list) expect(p.description.length).toBeGreaterThan(10);
  });

  for (const name of SHIPPED) {
    // the machines of published results and this host are as large as they are
    const small = ['intel-hsw-2s', 'kvm-epyc-2vcpu', 'kvm-hsw-16vcpu'].includes(name);
    it(`${name} loads, validates and fits ${small ? 'its own hardware threads' : '64 CPUs'}`, () => {
      const p = loadProfile(name);
      expect(p.name).toBe(name);
      expect(Object.keys(p.cycles).sort()).toEqual([...COST_KEYS].sort());
      expect(Object.keys(p.sources).sort()).toEqual([...COST_KEYS].sort());
      for (const k of COST_KEYS) {
        expect(Number.isInteger(p.cycles[k])).toBe(true);
        expect(p.sources[k]!.length).toBeGreaterThan(10);
      }
      const t = p.topology;
      expect(t.sockets * t.coresPerSocket * t.threadsPerCore).toBeGreaterThanOrEqual(small ? 2 : 64);
      expect(() => cpuPlacement(t, Math.min(63, t.sockets * t.coresPerSocket * t.threadsPerCore - 1))).not.toThrow();
      // Same result through a path instead of a bare name.
      expect(loadProfile(join(ROOT, 'profiles', `${name}.json`))).toEqual(p);
    });

    it(`${name} figures are mutually plausible`, () => {
      const c = loadProfile(name).cycles;
      expect(c['l1_hit']!).toBeLessThan(c['l2_hit']!);
      expect(c['l2_hit']!).toBeLessThan(c['llc_hit']!);
      expect(c['llc_hit']!).toBeLessThan(c['dram']!);
      expect(c['xfer_smt']!).toBeLessThan(c['xfer_near']!);
      expect(c['xfer_near']!).toBeLessThan(c['xfer_far']!);
      expect(c['invlpg']!).toBeLessThan(c['ipi_deliver']! + c['ipi_handler']!);
      expect(c['syscall']!).toBeLessThan(c['fault_entry']!);
      expect(c['page_zero']!).toBeLessThanOrEqual(c['page_copy']!);
      expect(c['huge_page_zero']!).toBeGreaterThanOrEqual(256 * c['page_zero']!);
    });
  }

  it('the 2-socket machines: intel-icx-2s has 128 hardware threads, amd-epyc-rome 256 (MAX_CPUS)', () => {
    const icx = loadProfile('intel-icx-2s');
    expect(icx.topology).toEqual({ sockets: 2, coresPerSocket: 32, threadsPerCore: 2 });
    expect(icx.ghz).toBe(2.3);
    // CPU 127: the SMT sibling of CPU 63 (socket 1, core 31, thread 1)
    expect(cpuPlacement(icx.topology, 127)).toEqual({ socket: 1, core: 31, thread: 1 });
    expect(() => cpuPlacement(icx.topology, 128)).toThrow();
    const rome = loadProfile('amd-epyc-rome').topology;
    expect(rome.sockets * rome.coresPerSocket * rome.threadsPerCore).toBe(256);
    expect(cpuPlacement(rome, 255)).toEqual({ socket: 1, core: 63, thread: 1 });
    // every figure the brief could not source says so
    for (const k of ['l2_hit', 'llc_hit', 'dram']) expect(icx.sources[k]).toMatch(/^estimate/);
  });

  it('the returned profile is immutable', () => {
    const p = loadProfile('default');
    expect(Object.isFrozen(p)).toBe(true);
    expect(Object.isFrozen(p.cycles)).toBe(true);
    expect(Object.isFrozen(p.topology)).toBe(true);
  });
});

describe('parseProfile validation', () => {
  const good = () => raw('intel-skx-2s');
  const origin = 'intel-skx-2s.json';

  it('accepts the good profile and ignores $-prefixed keys', () => {
    const j = good();
    j['$comment'] = 'hello';
    j['costs']['$note'] = 'x';
    expect(parseProfile(j, origin).name).toBe('intel-skx-2s');
  });

  const cases: [string, (j: Record<string, any>) => unknown, (string | RegExp)[]][] = [
    ['not an object', () => [1, 2], ['must be a JSON object']],
    ['null', () => null, ['must be a JSON object']],
    ['unknown top-level key', (j) => ((j['ghZ'] = 3), j), ['unknown top-level key "ghZ"']],
    ['missing name', (j) => (delete j['name'], j), ['name must be a non-empty string', 'got nothing']],
    ['empty name', (j) => ((j['name'] = '  '), j), ['name must be a non-empty string']],
    ['numeric name', (j) => ((j['name'] = 7), j), ['name must be a non-empty string (got 7)']],
    ['missing description', (j) => (delete j['description'], j), ['description must be a non-empty string']],
    ['multi-line description', (j) => ((j['description'] = 'a\nb'), j), ['description must be one line']],
    ['ghz string', (j) => ((j['ghz'] = '2.5'), j), ['ghz must be a finite number', '(got "2.5")']],
    ['ghz zero', (j) => ((j['ghz'] = 0), j), ['ghz must be a finite number > 0 and < 20 (got 0)']],
    ['ghz negative', (j) => ((j['ghz'] = -1), j), ['ghz', '(got -1)']],
    ['ghz too high', (j) => ((j['ghz'] = 20), j), ['ghz', '< 20 (got 20)']],
    ['ghz not finite', (j) => ((j['ghz'] = Infinity), j), ['ghz', '(got Infinity)']],
    ['topology missing', (j) => (delete j['topology'], j), ['topology must be an object']],
    ['topology zero sockets', (j) => ((j['topology']['sockets'] = 0), j), ['topology.sockets must be a positive integer (got 0)']],
    ['topology fractional cores', (j) => ((j['topology']['coresPerSocket'] = 2.5), j), ['topology.coresPerSocket must be a positive integer (got 2.5)']],
    ['topology missing threads', (j) => (delete j['topology']['threadsPerCore'], j), ['topology.threadsPerCore must be a positive integer']],
    ['topology unknown key', (j) => ((j['topology']['numaNodes'] = 2), j), ['unknown key topology.numaNodes']],
    ['costs missing', (j) => (delete j['costs'], j), ['costs must be an object']],
    ['costs is an array', (j) => ((j['costs'] = []), j), ['costs must be an object']],
    ['cost key missing', (j) => (delete j['costs']['walk_step'], j), ['costs.walk_step must be an object { cycles, source } (every key of spec/costs.json is required) (got nothing)']],
    ['unknown cost key', (j) => ((j['costs']['l4_hit'] = { cycles: 1, source: 'x' }), j), ['unknown cost key costs.l4_hit']],
    ['cost entry not an object', (j) => ((j['costs']['l1_hit'] = 4), j), ['costs.l1_hit must be an object']],
    ['cost entry unknown key', (j) => ((j['costs']['l1_hit']['cylces'] = 4), j), ['unknown key costs.l1_hit.cylces']],
    ['cycles as a word', (j) => ((j['costs']['l1_hit']['cycles'] = 'four'), j), ['profile intel-skx-2s.json: costs.l1_hit.cycles must be an integer >= 0 (got "four")']],
    ['cycles negative', (j) => ((j['costs']['dram']['cycles'] = -1), j), ['costs.dram.cycles must be an integer >= 0 (got -1)']],
    ['cycles fractional', (j) => ((j['costs']['dram']['cycles'] = 1.5), j), ['costs.dram.cycles must be an integer >= 0 (got 1.5)']],
    ['cycles missing', (j) => (delete j['costs']['dram']['cycles'], j), ['costs.dram.cycles must be an integer >= 0 (got nothing)']],
    ['cycles too large', (j) => ((j['costs']['huge_page_zero']['cycles'] = 10_000_000), j), ['costs.huge_page_zero.cycles must be < 10000000 (got 10000000)']],
    ['source empty', (j) => ((j['costs']['invlpg']['source'] = ''), j), ['costs.invlpg.source must be a non-empty string']],
    ['source missing', (j) => (delete j['costs']['invlpg']['source'], j), ['costs.invlpg.source must be a non-empty string (got nothing)']],
  ];

  for (const [label, mutate, patterns] of cases) {
    it(`rejects: ${label}`, () => {
      const j = mutate(good());
      expectProfileError(() => parseProfile(j, origin), `profile ${origin}: `, ...patterns);
    });
  }

  it('reports the first problem only', () => {
    const j = good();
    j['ghz'] = -1;
    j['costs']['l1_hit']['cycles'] = 'four';
    const err = expectProfileError(() => parseProfile(j, origin), 'ghz');
    expect(err.message).not.toContain('l1_hit');
  });
});

describe('loadProfile', () => {
  it('an unknown bare name lists the available profiles', () => {
    expectProfileError(
      () => loadProfile('intel-skx-4s'),
      'unknown profile "intel-skx-4s"',
      `available profiles: ${SHIPPED.join(', ')}`,
    );
  });

  it('malformed JSON gives a ProfileError, not a SyntaxError', () => {
    const file = join(tmp, 'broken.json');
    writeFileSync(file, '{ "name": "broken", ');
    const err = expectProfileError(() => loadProfile(file), `profile ${file}: malformed JSON: `);
    expect(err).not.toBeInstanceOf(SyntaxError);
  });

  it('a missing file gives a ProfileError naming it', () => {
    const file = join(tmp, 'nope.json');
    expectProfileError(() => loadProfile(file), `profile ${file}: cannot read`, 'ENOENT');
  });

  it('a directory is rejected', () => {
    const dir = join(tmp, 'dir.json');
    mkdirSync(dir);
    expectProfileError(() => loadProfile(dir), 'is a directory');
  });

  it('an invalid profile file names the file and the field', () => {
    const j = raw('default');
    j['costs']['l1_hit']['cycles'] = 'four';
    const file = join(tmp, 'bad-default.json');
    writeFileSync(file, JSON.stringify(j));
    expectProfileError(() => loadProfile(file), `profile ${file}: costs.l1_hit.cycles must be an integer >= 0 (got "four")`);
  });

  it('a valid profile outside profiles/ loads by path', () => {
    const j = raw('amd-epyc-rome');
    j['name'] = 'my-rome';
    const file = join(tmp, 'my-rome.json');
    writeFileSync(file, JSON.stringify(j));
    expect(loadProfile(file).name).toBe('my-rome');
  });

  it('rejects an empty name', () => {
    expectProfileError(() => loadProfile(''), 'non-empty');
  });
});

describe('cpuPlacement', () => {
  const skx: Topology = { sockets: 2, coresPerSocket: 28, threadsPerCore: 2 };
  const rome: Topology = { sockets: 2, coresPerSocket: 64, threadsPerCore: 2 };
  const flat: Topology = { sockets: 1, coresPerSocket: 64, threadsPerCore: 1 };

  it('matches the shipped topologies', () => {
    expect(loadProfile('intel-skx-2s').topology).toEqual(skx);
    expect(loadProfile('amd-epyc-rome').topology).toEqual(rome);
    expect(loadProfile('default').topology).toEqual(flat);
  });

  it("'spread' (left to the scheduler): sockets alternate, one thread per core before any sibling", () => {
    expect(cpuPlacement(skx, 0, 'spread')).toEqual({ socket: 0, core: 0, thread: 0 });
    expect(cpuPlacement(skx, 1, 'spread')).toEqual({ socket: 1, core: 0, thread: 0 });
    expect(cpuPlacement(skx, 2, 'spread')).toEqual({ socket: 0, core: 1, thread: 0 });
    expect(cpuPlacement(skx, 55, 'spread')).toEqual({ socket: 1, core: 27, thread: 0 });
    expect(cpuPlacement(skx, 56, 'spread')).toEqual({ socket: 0, core: 0, thread: 1 });
    // 'cores' (will-it-scale's hwloc binding) fills socket 0 first
    expect(cpuPlacement(skx, 1, 'cores')).toEqual({ socket: 0, core: 1, thread: 0 });
    expect(cpuPlacement(skx, 28)).toEqual({ socket: 1, core: 0, thread: 0 });
  });

  it('default: one socket, one thread, core = cpu', () => {
    expect(cpuPlacement(flat, 0)).toEqual({ socket: 0, core: 0, thread: 0 });
    expect(cpuPlacement(flat, 17)).toEqual({ socket: 0, core: 17, thread: 0 });
    expect(cpuPlacement(flat, 63)).toEqual({ socket: 0, core: 63, thread: 0 });
    expectProfileError(() => cpuPlacement(flat, 64), 'cpu 64 does not fit', '64 CPUs');
  });

  it('intel-skx-2s: socket 0 cores, socket 1 cores, then SMT siblings', () => {
    expect(cpuPlacement(skx, 0)).toEqual({ socket: 0, core: 0, thread: 0 });
    expect(cpuPlacement(skx, 27)).toEqual({ socket: 0, core: 27, thread: 0 });
    expect(cpuPlacement(skx, 28)).toEqual({ socket: 1, core: 0, thread: 0 });
    expect(cpuPlacement(skx, 55)).toEqual({ socket: 1, core: 27, thread: 0 });
    expect(cpuPlacement(skx, 56)).toEqual({ socket: 0, core: 0, thread: 1 });
    expect(cpuPlacement(skx, 63)).toEqual({ socket: 0, core: 7, thread: 1 });
    expect(cpuPlacement(skx, 84)).toEqual({ socket: 1, core: 0, thread: 1 });
    expect(cpuPlacement(skx, 111)).toEqual({ socket: 1, core: 27, thread: 1 });
    expectProfileError(() => cpuPlacement(skx, 112), 'cpu 112 does not fit', '112 CPUs');
  });

  it('amd-epyc-rome: 64 CPUs fill socket 0, SMT only after 128', () => {
    for (let i = 0; i < 64; i++) expect(cpuPlacement(rome, i)).toEqual({ socket: 0, core: i, thread: 0 });
    expect(cpuPlacement(rome, 64)).toEqual({ socket: 1, core: 0, thread: 0 });
    expect(cpuPlacement(rome, 127)).toEqual({ socket: 1, core: 63, thread: 0 });
    expect(cpuPlacement(rome, 128)).toEqual({ socket: 0, core: 0, thread: 1 });
    expect(cpuPlacement(rome, 255)).toEqual({ socket: 1, core: 63, thread: 1 });
    expectProfileError(() => cpuPlacement(rome, 256), 'cpu 256 does not fit');
  });

  it('is a bijection onto (socket, core, thread) and siblings come last', () => {
    for (const t of [skx, rome, flat, { sockets: 3, coresPerSocket: 5, threadsPerCore: 4 }]) {
      const n = t.sockets * t.coresPerSocket * t.threadsPerCore;
      const seen = new Set<string>();
      let lastThread = 0;
      for (let i = 0; i < n; i++) {
        const p = cpuPlacement(t, i);
        expect(p.socket).toBeLessThan(t.sockets);
        expect(p.core).toBeLessThan(t.coresPerSocket);
        expect(p.thread).toBeLessThan(t.threadsPerCore);
        expect(p.thread).toBeGreaterThanOrEqual(lastThread); // never goes back to a lower thread
        lastThread = p.thread;
        seen.add(`${p.socket}/${p.core}/${p.thread}`);
      }
      expect(seen.size).toBe(n);
    }
  });

  it('rejects bad cpu numbers and bad topologies', () => {
    expectProfileError(() => cpuPlacement(skx, -1), 'cpu must be an integer >= 0 (got -1)');
    expectProfileError(() => cpuPlacement(skx, 1.5), 'cpu must be an integer >= 0 (got 1.5)');
    expectProfileError(() => cpuPlacement(skx, Number.NaN), '(got NaN)');
    expectProfileError(
      () => cpuPlacement({ sockets: 0, coresPerSocket: 4, threadsPerCore: 1 }, 0),
      'topology.sockets must be a positive integer',
    );
  });
});

describe('costVector', () => {
  for (const name of SHIPPED) {
    it(`${name}: cycles in COST_KEYS order`, () => {
      const p = loadProfile(name);
      const v = costVector(p);
      expect(v).toBeInstanceOf(Uint32Array);
      expect(v.length).toBe(COST_KEYS.length);
      expect(Array.from(v)).toEqual(COST_KEYS.map((k) => p.cycles[k]));
      const j = raw(name);
      COST_KEYS.forEach((k, i) => expect(v[i]).toBe(j['costs'][k]['cycles']));
    });
  }

  it('order follows COST_KEYS, not the order of keys in the file', () => {
    const j = raw('default');
    const reversed: Record<string, unknown> = {};
    for (const k of [...COST_KEYS].reverse()) reversed[k] = j['costs'][k];
    j['costs'] = reversed;
    const v = costVector(parseProfile(j, 'reversed.json'));
    expect(Array.from(v)).toEqual(COST_KEYS.map((k) => j['costs'][k]['cycles']));
    expect(v[COST_KEYS.indexOf('l1_hit')]).toBe(4);
  });
});
