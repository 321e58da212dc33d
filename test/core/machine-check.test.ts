// machine_init() checks the layout and settings it is given (assembly/init_check.ts)
// and reports the first bad field by name through env.abort: one case per kind of
// bad header, on the released core (what another host embeds), and a machine whose
// layout was refused fails its run with that message instead of hanging.
import { describe, it, expect } from 'vitest';
import { Machine } from '../../src/machine.js';

type Poke = (m: Machine) => void;
const H = (m: Machine, f: string) => m.C.HDR_BASE + m.C[f];
const setH = (f: string, v: number | ((m: Machine) => number)): Poke => (m) => m.setU32(H(m, f), typeof v === 'function' ? v(m) : v);
const setS = (k: string, v: number): Poke => (m) => m.setU32(m.C.HDR_BASE + m.C.H_SETTINGS + m.C[k], v);
const hdr = (m: Machine, f: string) => m.u32(H(m, f));

// [what is wrong, the change, the message machine_init must give]
const CASES: [string, Poke, RegExp][] = [
  ['no magic', setH('H_MAGIC', 0), /^core abort: H_MAGIC must be LAYOUT_MAGIC/],
  ['another layout version', setH('H_VERSION', 3), /^core abort: H_VERSION must be LAYOUT_VERSION/],
  ['0 CPUs', setH('H_NCPUS', 0), /^core abort: H_NCPUS must be 1\.\.MAX_CPUS \(256\) \(got 0\)$/],
  ['300 CPUs', setH('H_NCPUS', 300), /^core abort: H_NCPUS must be 1\.\.MAX_CPUS \(256\) \(got 300\)$/],
  ['mode 2', setH('H_MODE', 2), /^core abort: H_MODE must be MODE_PARALLEL \(0\) or MODE_DETERMINISTIC \(1\) \(got 2\)$/],
  ['strategy 9', setH('H_STRATEGY', 9), /^core abort: H_STRATEGY must be one of STRATEGY_\* \(0\.\.3\) \(got 9\)$/],
  ['quantum left at 0', setH('H_QUANTUM', 0), /^core abort: H_QUANTUM must be at least MIN_QUANTUM \(100\) cycles \(got 0\)$/],
  ['0 TLB sets', setH('H_TLB_SETS', 0), /^core abort: H_TLB_SETS must be a power of 2 \(1, 2, 4, \.\.\.\) \(got 0\)$/],
  ['3 TLB sets', setH('H_TLB_SETS', 3), /^core abort: H_TLB_SETS must be a power of 2 .*\(got 3\)$/],
  ['65 TLB ways', setH('H_TLB_WAYS', 65), /^core abort: H_TLB_WAYS must be 1\.\.MAX_TLB_WAYS \(64\) \(got 65\)$/],
  ['0 TLB ways', setH('H_TLB_WAYS', 0), /^core abort: H_TLB_WAYS must be 1\.\.MAX_TLB_WAYS \(64\) \(got 0\)$/],
  ['1 frame', setH('H_NFRAMES', 1), /^core abort: H_NFRAMES must be at least 2 .*\(got 1\)$/],
  ['0 page-table pages', setH('H_NPTPAGES', 0), /^core abort: H_NPTPAGES must be at least 2 \(got 0\)$/],
  ['0 VMA slots', setH('H_NVMAS', 0), /^core abort: H_NVMAS must be at least 2 \(got 0\)$/],
  ['a 0-byte VMA index', setH('H_MAX_VMAS_PER_MM', 0), /^core abort: H_MAX_VMAS_PER_MM must be at least 1/],
  ['0 mms', setH('H_NMM', 0), /^core abort: H_NMM must be at least 1 \(got 0\)$/],
  ['test flags on the released core', setH('H_FLAGS', 1), /^core abort: H_FLAGS must be 0: test flags exist only in the test core \(got 1\)$/],
  ['recording on the released core', setH('H_OBS', 4), /^core abort: H_OBS must be 0: the observability hooks exist only in the observe core \(faultline-observe\.wasm\) \(got 4\)$/],
  ['0 sockets', setH('H_TOPO_SOCKETS', 0), /^core abort: H_TOPO_SOCKETS must be 1 or 2 \(got 0\)$/],
  ['a topology smaller than the CPU count', (m) => { setH('H_TOPO_CORES', 1)(m); setH('H_TOPO_THREADS', 1)(m); }, /^core abort: H_TOPO_SOCKETS x H_TOPO_CORES x H_TOPO_THREADS must be at least H_NCPUS$/],
  ['0 workers', setH('H_NWORKERS', 0), /^core abort: H_NWORKERS must be 1\.\.H_NCPUS \(got 0\)$/],
  ['deterministic mode on 2 workers', setH('H_MODE', 1), /^core abort: H_NWORKERS must be 1 in deterministic mode \(every CPU on one worker\) \(got 2\)$/],
  ['a per-CPU block of 1024 bytes', setH('H_PERCPU_SIZE', 1024), /^core abort: H_PERCPU_SIZE must be at least \d+ = PC_STATS .* \(got 1024\)$/],
  ['a per-CPU block of 2048 bytes', setH('H_PERCPU_SIZE', 2048), /^core abort: H_PERCPU_SIZE must be at least \d+ = .* \(got 2048\)$/],
  ['a per-CPU block not a whole number of lines', setH('H_PERCPU_SIZE', (m) => hdr(m, 'H_PERCPU_SIZE') - 8), /^core abort: H_PERCPU_SIZE must be a multiple of CACHE_LINE \(64\)/],
  ['a 512-byte Asyncify stack', setH('H_ASYNC_SIZE', 512), /^core abort: H_ASYNC_SIZE must be at least ASYNC_STACK_MIN \(4096\) when a worker runs more than one CPU \(got 512\)$/],
  ['shmem slots beyond the files', setH('H_SHMEM_MAX', 1000), /^core abort: H_SHMEM_FIRST \+ H_SHMEM_MAX must be at most H_NFILES$/],
  ['16 userfaultfd contexts', setH('H_UFFD_MAX', 16), /^core abort: H_UFFD_MAX must be 0\.\.MAX_UFFD \(15\) \(got 16\)$/],
  ['total bytes beyond the memory', setH('H_TOTAL_BYTES', (m) => m.memory.buffer.byteLength + 65536), /^core abort: H_TOTAL_BYTES must be set and at most the memory size, \d+ bytes/],
  ['a region inside the header', setH('H_MM_BASE', (m) => m.C.HDR_BASE + 64), /^core abort: H_MM_BASE: the region must start after the header/],
  ['a misaligned region', setH('H_VMAS_BASE', (m) => hdr(m, 'H_VMAS_BASE') + 8), /^core abort: H_VMAS_BASE: the region must be 64-byte aligned/],
  ['page-table pages not page-aligned', setH('H_PTPAGES_BASE', (m) => hdr(m, 'H_PTPAGES_BASE') + 64), /^core abort: H_PTPAGES_BASE: the region must be 4096-byte aligned/],
  ['a region beyond the end', setH('H_UFFD_BASE', (m) => hdr(m, 'H_TOTAL_BYTES') - 64), /^core abort: H_UFFD_BASE: the region \(\d+ bytes\) ends beyond H_TOTAL_BYTES/],
  ['two regions overlapping', setH('H_VMAS_BASE', (m) => hdr(m, 'H_FRAMES_BASE')), /^core abort: H_VMAS_BASE: the region overlaps H_FRAMES_BASE$/],
  ['a worker range with a gap', (m) => m.setU32(m.worker(1) + m.C.WK_FIRST, 3), /^core abort: WK_FIRST: each worker starts where the previous one ended/],
  ['a CPU left out of every worker', (m) => m.setU32(m.worker(1) + m.C.WK_COUNT, 1), /^core abort: WK_COUNT: the workers must run all H_NCPUS CPUs$/],
  ['a CPU id not written', (m) => m.setU32(m.percpu(2) + m.C.PC_ID, 0), /^core abort: CPU 2: PC_ID must be the CPU number$/],
  ['a CPU on the wrong worker', (m) => m.setU32(m.percpu(0) + m.C.PC_WORKER, 1), /^core abort: CPU 0: PC_WORKER must be the worker whose range holds the CPU$/],
  ['a zero random seed', (m) => m.setU64(m.percpu(1) + m.C.PC_RNG, 0n), /^core abort: CPU 1: PC_RNG must not be 0/],
  ['a CPU not made runnable', (m) => m.setU32(m.percpu(3) + m.C.PC_STATE, 0), /^core abort: CPU 3: PC_STATE must be CPU_RUNNABLE$/],
  ['a cost vector never written', (m) => new Uint32Array(m.memory.buffer, m.regions.profile, m.C.NCOSTS).fill(0), /^core abort: H_PROFILE_BASE: every COST_\* entry is 0/],
  ['a cost of 10^7 cycles', (m) => m.setU32(m.regions.profile + 4 * m.C.COST_DRAM, 10_000_000), /^core abort: H_PROFILE_BASE: a COST_\* entry is MAX_COST_CYCLES or more$/],
  ['SET_THP 3', setS('SET_THP', 3), /^core abort: SET_THP must be one of THP_\* \(0\.\.2\) \(got 3\)$/],
  ['SET_PCP_BATCH left at 0', setS('SET_PCP_BATCH', 0), /^core abort: SET_PCP_BATCH must be 1\.\.512 \(got 0\)$/],
  ['SET_PCP_HIGH below the batch', setS('SET_PCP_HIGH', 10), /^core abort: SET_PCP_HIGH must be SET_PCP_BATCH\.\.PCP_MAX - 1 \(1023\) \(got 10\)$/],
  ['SET_LRU_BATCH left at 0', setS('SET_LRU_BATCH', 0), /^core abort: SET_LRU_BATCH must be 1\.\.LRU_MAX \(64\) \(got 0\)$/],
  ['SET_RSS_THRESH left at 0', setS('SET_RSS_THRESH', 0), /^core abort: SET_RSS_THRESH must be 1\.\.1048576 \(got 0\)$/],
  ['NUMA scans of 0 pages', (m) => { setS('SET_NUMA_PERIOD', 1000)(m); setS('SET_NUMA_PAGES', 0)(m); }, /^core abort: SET_NUMA_PAGES must be at least 1 when SET_NUMA_PERIOD is not 0$/],
  ['a planted bug on the released core', setS('SET_BUG', 1), /^core abort: SET_BUG must be 0: planted bugs exist only in the test core$/],
  ['a boolean setting of 2', setS('SET_MUNMAP_DOWNGRADE', 2), /^core abort: SET_MUNMAP_DOWNGRADE must be 0 or 1$/],
  ['SPF lookup 2', setS('SET_SPF_LOOKUP', 2), /^core abort: SET_SPF_LOOKUP must be one of SPF_LOOKUP_\*$/],
  ['userfaultfd race rule 2', setS('SET_UFFD_SPF_RACE', 2), /^core abort: SET_UFFD_SPF_RACE must be one of UFFD_RACE_\*$/],
];

/** a valid 4-CPU machine on 2 workers of the released core (Asyncify stacks, files, shmem, userfaultfd region) */
const machine = () => new Machine({ cpus: 4, workers: 2, core: 'release', files: 2, filePages: 16, profile: 'intel-skx-2s' });

describe('machine_init checks the layout it is given', () => {
  it('the host\'s own layout passes, and machine_init can check it again', () => {
    const m = machine();
    expect(hdr(m, 'H_INIT_DONE')).toBe(m.C.LAYOUT_MAGIC);
    expect(hdr(m, 'H_STOP_CPU')).toBe(m.C.STOP_CPU_NONE >>> 0);
    expect(() => m.host.core.machine_init()).not.toThrow();
  });

  for (const [what, poke, message] of CASES) {
    it(`${what}: the field is named`, () => {
      const m = machine();
      poke(m);
      let err: unknown;
      try { m.host.core.machine_init(); } catch (e) { err = e; }
      expect(err, 'machine_init accepted it').toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(message);
      expect(hdr(m, 'H_INIT_DONE'), 'a refused layout is not marked initialised').toBe(0);
    });
  }

  it('a machine whose layout was refused fails its run with a message, it does not hang', async () => {
    for (const poke of [setH('H_TLB_SETS', 0), setH('H_PERCPU_SIZE', 1024), setH('H_ASYNC_SIZE', 512), setH('H_MAX_VMAS_PER_MM', 0)]) {
      const m = machine();
      poke(m);
      expect(() => m.host.core.machine_init()).toThrow(/^core abort: H_/);
      const t0 = performance.now();
      const r = await m.run(() => ({ program: 'pageFault', args: { iterations: 10 } }));
      expect(r.ok).toBe(false);
      expect(r.error).toMatch(/machine_init\(\) has not accepted this machine/);
      expect(performance.now() - t0).toBeLessThan(m.cfg.watchdogMs); // refused at bind, not found by the watchdog
    }
  });
});
