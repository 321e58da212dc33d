// The Debian packages the test suite needs beyond npm, installed by the test
// command itself (package.json "pretest" runs this before the build), so that
// the README's `npm ci && npm test` passes on a fresh Debian with Node 20:
//   chromium            test/host/plot.test.ts, test/host/web.test.ts render in a real headless browser
//   slurm-wlm, munge    test/host/slurm.test.ts starts a one-node Slurm cluster (scripts/slurm-local.sh)
//   gcc, libc6-dev      test/host/validate.test.ts builds host/wis.c (faultline validate --host)
// Everything present: returns at once (a few existsSync calls). Something missing:
// as root with apt-get, installs it (apt-get update, apt-get install -y); otherwise
// exits 1 at once with the one command to run.
//
//   node scripts/ensure-system-deps.mjs                       check, install when root
//   node scripts/ensure-system-deps.mjs --dry-run [--path D]  say what it would do; D: the directories searched (':'-separated)
import { existsSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** what the suite runs, by Debian package: the commands whose presence says it is installed */
export const NEEDS = [
  { packages: ['chromium'], commands: ['chromium'], why: 'the plot and web-page tests render in headless chromium' },
  { packages: ['slurm-wlm'], commands: ['slurmctld', 'slurmd', 'sbatch', 'squeue'], why: 'the Slurm test starts a one-node cluster' },
  { packages: ['munge'], commands: ['munged', 'mungekey', 'munge', 'unmunge'], why: 'Slurm authenticates with munge' },
  { packages: ['gcc', 'libc6-dev'], commands: ['cc'], why: 'the host validation test compiles host/wis.c' },
];

/** directories searched by default: PATH, and the sbin directories a non-root PATH may lack (munged, slurmctld live there) */
export function defaultSearchPath(env = process.env) {
  return [...(env.PATH ?? '').split(':').filter(Boolean), '/usr/local/sbin', '/usr/sbin', '/sbin'];
}

/** is there an executable file `cmd` in one of `dirs` */
export function onPath(cmd, dirs) {
  return dirs.some((d) => {
    const f = join(d, cmd);
    try { return existsSync(f) && statSync(f).isFile() && (statSync(f).mode & 0o111) !== 0; } catch { return false; }
  });
}

/** the NEEDS entries with a command missing from `dirs` */
export function missing(dirs) {
  return NEEDS.filter((n) => n.commands.some((c) => !onPath(c, dirs)));
}

/** the apt-get command lines that install `pkgs` (non-interactive; waits for a dpkg lock another install holds) */
export function aptCommands(pkgs) {
  const lock = ['-o', 'DPkg::Lock::Timeout=600'];
  return [['apt-get', ...lock, 'update', '-qq'], ['apt-get', ...lock, 'install', '-y', '-qq', ...pkgs]];
}

/**
 * What to do: 'none' (everything present), 'install' (root with apt-get), or
 * 'tell' (exit 1 with the command to run: not root, or no apt-get).
 */
export function decide({ dirs, uid }) {
  const gone = missing(dirs);
  if (gone.length === 0) return { action: 'none', missing: [] };
  const pkgs = [...new Set(gone.flatMap((n) => n.packages))];
  const apt = onPath('apt-get', dirs);
  const line = `apt-get update && apt-get install -y ${pkgs.join(' ')}`;
  const why = gone.map((n) => `  ${n.packages.join(', ')}: ${n.why} (missing: ${n.commands.filter((c) => !onPath(c, dirs)).join(', ')})`).join('\n');
  if (apt && uid === 0) return { action: 'install', missing: pkgs, commands: aptCommands(pkgs), why };
  const message = apt
    ? `npm test needs Debian packages that are missing:\n${why}\nRun as root, then npm test again:\n  sudo sh -c '${line}'`
    : `npm test needs system packages that are missing (no apt-get here: install their equivalents):\n${why}`;
  return { action: 'tell', missing: pkgs, message };
}

function main(argv) {
  const dry = argv.includes('--dry-run');
  const pi = argv.indexOf('--path');
  const dirs = pi >= 0 ? (argv[pi + 1] ?? '').split(':').filter(Boolean) : defaultSearchPath();
  const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
  const d = decide({ dirs, uid });
  if (d.action === 'none') {
    if (dry) console.log('ensure-system-deps: everything the tests need is installed; nothing to do');
    return 0;
  }
  if (d.action === 'tell') {
    console.error(`ensure-system-deps: ${d.message}`);
    return 1;
  }
  console.error(`ensure-system-deps: installing Debian packages the tests need: ${d.missing.join(' ')}\n${d.why}`);
  if (dry) {
    for (const c of d.commands) console.log(`would run: ${c.join(' ')}`);
    return 0;
  }
  for (const c of d.commands) {
    const r = spawnSync(c[0], c.slice(1), { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) {
      console.error(`ensure-system-deps: "${c.join(' ')}" failed (${r.error?.message ?? `exit ${r.status}`})`);
      return 1;
    }
  }
  const still = missing(dirs);
  if (still.length) {
    console.error(`ensure-system-deps: still missing after the install: ${still.flatMap((n) => n.commands.filter((c) => !onPath(c, dirs))).join(', ')}`);
    return 1;
  }
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) process.exitCode = main(process.argv.slice(2));
