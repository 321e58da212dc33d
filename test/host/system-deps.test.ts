import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decide, NEEDS } from '../../scripts/ensure-system-deps.mjs';

// npm test's own set-up (package.json pretest: scripts/ensure-system-deps.mjs)
// installs the Debian packages the suite needs. Tested on fake directories of
// commands (never by removing packages from this machine): the decision, the
// apt-get lines it would run (--dry-run), and the message when it cannot install.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = join(ROOT, 'scripts', 'ensure-system-deps.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'faultline-deps-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** a directory holding executables named `cmds` (and `notExec`, not executable) */
function fakeBin(name: string, cmds: string[], notExec: string[] = []): string {
  const d = join(tmp, name);
  mkdirSync(d, { recursive: true });
  for (const c of [...cmds, ...notExec]) {
    writeFileSync(join(d, c), '#!/bin/sh\nexit 0\n');
    chmodSync(join(d, c), notExec.includes(c) ? 0o644 : 0o755);
  }
  return d;
}
const ALL = NEEDS.flatMap((n) => n.commands);
const run = (...args: string[]) => spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8', timeout: 30_000 });

describe('scripts/ensure-system-deps.mjs (npm test\'s pretest)', () => {
  it('everything present: nothing to do, whoever runs it', () => {
    const dirs = [fakeBin('all', ALL)];
    expect(decide({ dirs, uid: 0 }).action).toBe('none');
    expect(decide({ dirs, uid: 1000 }).action).toBe('none');
    const r = run('--dry-run', '--path', dirs[0]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('nothing to do');
  });

  it('root with apt-get: installs exactly the missing packages (chromium and the C compiler here)', () => {
    const dirs = [fakeBin('some', [...ALL.filter((c) => c !== 'chromium' && c !== 'cc'), 'apt-get'])];
    const d = decide({ dirs, uid: 0 });
    expect(d.action).toBe('install');
    expect(d.missing).toEqual(['chromium', 'gcc', 'libc6-dev']);
    const r = run('--dry-run', '--path', dirs[0]);
    // the real uid decides: as root it would install; otherwise it tells (both exercised above and below)
    if (process.getuid?.() === 0) {
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('would run: apt-get -o DPkg::Lock::Timeout=600 update -qq');
      expect(r.stdout).toContain('would run: apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium gcc libc6-dev');
    } else {
      expect(r.status).toBe(1);
    }
  });

  it('one command of a package missing (slurmd) is enough to install it; a file without the x bit does not count', () => {
    const dirs = [fakeBin('partial', [...ALL.filter((c) => c !== 'slurmd' && c !== 'munged'), 'apt-get'], ['munged'])];
    expect(decide({ dirs, uid: 0 }).missing).toEqual(['slurm-wlm', 'munge']);
  });

  it('not root: exits 1 at once with the one command to run, naming what is missing and why', () => {
    const dirs = [fakeBin('user', ['apt-get', 'cc'])];
    const d = decide({ dirs, uid: 1000 });
    expect(d.action).toBe('tell');
    expect(d.message).toContain("sudo sh -c 'apt-get update && apt-get install -y chromium slurm-wlm munge'");
    expect(d.message).toMatch(/chromium: .*headless chromium \(missing: chromium\)/);
    expect(d.message).toMatch(/slurm-wlm: .*\(missing: slurmctld, slurmd, sbatch, squeue\)/);
    expect(d.message).not.toContain('gcc');
  });

  // as root, become nobody to run it for real; a non-root user's own npm test is that case already
  it.skipIf(process.getuid?.() !== 0)('run by a real non-root user (setpriv to nobody; not a dry run): exits 1 at once, installs nothing, prints the command', () => {
    const dir = fakeBin('nobody', ['apt-get', ...ALL.filter((c) => c !== 'chromium')]);
    chmodSync(tmp, 0o755);
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, SCRIPT, '--path', dir], { encoding: 'utf8', timeout: 30_000 });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("sudo sh -c 'apt-get update && apt-get install -y chromium'");
  });

  it('no apt-get (not Debian): exits 1 naming what to install', () => {
    const r = run('--dry-run', '--path', fakeBin('nodeb', ['cc']));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no apt-get here');
    expect(r.stderr).toContain('chromium');
  });

  it('package.json runs it before the build, and .ci/run is exactly the README\'s test command', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts.pretest).toMatch(/^node scripts\/ensure-system-deps\.mjs && /);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const testLine = /^(npm ci && npm test)\s+#/m.exec(readme)?.[1];
    expect(testLine).toBe('npm ci && npm test');
    const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    // set-up lines aside (shell options, the directory, the Node version), the one command
    expect(ci.filter((l) => !/^(set -euo pipefail|cd "\$\(dirname "\$0"\)\/\.\."|node --version)$/.test(l))).toEqual([testLine]);
  });
});
