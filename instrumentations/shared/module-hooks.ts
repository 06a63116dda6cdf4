import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, sep } from 'node:path';
import type * as ImportInTheMiddle from 'import-in-the-middle';
import { Hook as RequireHook } from 'require-in-the-middle';
import { satisfies } from './semver';
import type { AgentContext, ModulePatch } from './types';

interface Unhookable {
  unhook(): void;
}

/**
 * Applies `ModulePatch`es when the application loads the packages: through
 * require-in-the-middle for `require` (including a package's internal files)
 * and, when the ESM loader hook is registered (`--import baldur/register`),
 * through import-in-the-middle for `import`. Peer libraries are never loaded by
 * the agent itself. A patch that throws is logged once and the library runs
 * unpatched.
 */
export class ModuleHooks {
  private readonly patches: ModulePatch[] = [];
  private readonly hooks: Unhookable[] = [];
  private readonly versions = new Map<string, string | undefined>();
  private readonly patched = new WeakMap<object, Set<ModulePatch>>();

  constructor(private readonly context: AgentContext) {}

  add(patch: ModulePatch): void {
    this.patches.push(patch);
  }

  /** Start hooking. `esm` also hooks `import` (the loader must already be registered). */
  enable(esm: boolean): void {
    const modules = [...new Set(this.patches.map(p => p.module))];
    if (modules.length === 0) return;
    this.hooks.push(
      new RequireHook(modules, { internals: true }, (exports, name, basedir) =>
        this.onLoad(exports, name, basedir),
      ),
    );
    if (esm) {
      // Loaded only for ESM apps: import-in-the-middle is not needed (nor paid for) under --require.
      const require = createRequire(__filename);
      const { Hook: ImportHook } = require('import-in-the-middle') as typeof ImportInTheMiddle;
      this.hooks.push(
        new ImportHook(modules, { internals: true }, (exported, name, basedir) => {
          const namespace = exported as { default?: unknown };
          this.onLoad(namespace.default ?? exported, name, basedir ?? undefined);
        }),
      );
    }
  }

  disable(): void {
    for (const hook of this.hooks.splice(0)) hook.unhook();
  }

  private onLoad<T>(exports: T, name: string, basedir: string | undefined): T {
    const normalized = name.split(sep).join('/');
    for (const patch of this.patches) {
      const target = patch.file === undefined ? patch.module : `${patch.module}/${patch.file}`;
      if (normalized !== target || (typeof exports !== 'object' && typeof exports !== 'function'))
        continue;
      if (exports === null) continue;
      const done = this.patched.get(exports) ?? new Set<ModulePatch>();
      if (done.has(patch)) continue;
      done.add(patch);
      this.patched.set(exports, done);
      const version = basedir === undefined ? undefined : this.versionAt(basedir);
      if (version === undefined || !satisfies(version, patch.versions)) {
        this.context.logger.once(
          `unsupported:${patch.module}@${version}`,
          'warn',
          `${patch.module}@${version ?? 'unknown'} is outside the supported range ${patch.versions}; it is not protected`,
        );
        continue;
      }
      try {
        patch.patch(exports, this.context, version);
      } catch (error) {
        this.context.logger.once(
          `patch:${target}`,
          'error',
          `patching ${target}@${version} failed; it runs unprotected`,
          error,
        );
      }
    }
    return exports;
  }

  private versionAt(basedir: string): string | undefined {
    if (!this.versions.has(basedir)) {
      let version: string | undefined;
      try {
        version = (
          JSON.parse(readFileSync(join(basedir, 'package.json'), 'utf8')) as { version?: string }
        ).version;
      } catch {
        version = undefined;
      }
      this.versions.set(basedir, version);
    }
    return this.versions.get(basedir);
  }
}
