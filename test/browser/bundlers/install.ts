/**
 * The package as a user gets it: `npm pack` of this repository (already built by `npm test`), installed with `npm ci
 * --offline` into a throwaway directory the apps share. The app's lockfile pins the tarball and, for its runtime
 * dependencies (ky, mqtt and what they need), the exact entries of this repository's lockfile, so the install reads
 * only npm's cache, which the repository's own `npm ci` filled: no registry, no network, a few seconds.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [key: string]: unknown;
}

/** Packs `repo` into `dir`; returns the tarball's file name. */
export function pack(repo: string, dir: string): string {
  const output = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
    cwd: repo,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return (JSON.parse(output) as { filename: string }[])[0]!.filename;
}

/**
 * Installs `tarball` (in `dir`) into `dir/node_modules` offline. `repo`'s lockfile supplies the entries of the
 * package's dependencies, found the way Node resolves them (nested first, then hoisted).
 */
export function installOffline(repo: string, dir: string, tarball: string): void {
  const repoLock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
    dependencies: Record<string, string>;
  };
  const packages: Record<string, LockEntry> = {};
  const visit = (name: string, from: string) => {
    for (let base = from; ; base = base.slice(0, base.lastIndexOf('/node_modules/'))) {
      const path = `${base === '' ? '' : `${base}/`}node_modules/${name}`;
      const entry = repoLock.packages[path];
      if (entry !== undefined) {
        if (path in packages) return;
        const { dev: _dev, devOptional: _devOptional, peer: _peer, ...kept } = entry;
        packages[path] = kept;
        for (const dependency of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies }))
          visit(dependency, path);
        return;
      }
      if (base === '') throw new Error(`${name} (needed by ${from || 'the package'}) is not in the lockfile`);
    }
  };
  for (const name of Object.keys(manifest.dependencies)) visit(name, '');
  const integrity = `sha512-${createHash('sha512')
    .update(readFileSync(join(dir, tarball)))
    .digest('base64')}`;
  const spec = `file:${tarball}`;
  packages[`node_modules/${manifest.name}`] = {
    version: manifest.version,
    resolved: spec,
    integrity,
    dependencies: manifest.dependencies,
  };
  const app = {
    name: 'bundler-apps',
    version: '1.0.0',
    private: true,
    dependencies: { [manifest.name]: spec },
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ ...app, type: 'module' }, null, 2)}\n`);
  writeFileSync(
    join(dir, 'package-lock.json'),
    `${JSON.stringify({ name: app.name, version: app.version, lockfileVersion: 3, requires: true, packages: { '': app, ...packages } }, null, 2)}\n`,
  );
  execFileSync('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
