import { defineConfig, type UserConfig } from 'tsdown';

/** The dts plugin's modules, beside the code's in each build. */
const DECLARATION = /\.d\.[cm]?ts$/;

/**
 * The entry points: the package (`.`) and koa-session's store (`./koa`). In each build, what both
 * load (the repository and everything under it) is one shared file, dist/repository.js or .cjs
 * with its declarations, so that an application using both loads one copy of the repository.
 * (The CommonJS build also puts rolldown's module helpers in dist/rolldown-runtime.cjs.)
 */
const ENTRIES = { index: 'lib/index.ts', koa: 'lib/koa.ts' };

/** What both builds share: a file per entry point and the shared one, for the Node versions `engines` names. */
const common = {
  platform: 'node',
  target: 'node20.19',
  outDir: 'dist',
  // `npm run build` empties dist/ once, before both builds; each must not delete the other's.
  clean: false,
  hash: false,
  sourcemap: false,
  dts: true,
  fixedExtension: false,
  // The dts plugin's share of build time is expected; reporting it each build is noise.
  checks: { pluginTimings: false },
  // The shared file is named here, not after whichever module rolldown would pick, so that the
  // list of files spec/tarball-types.spec.ts expects stays put.
  outputOptions: {
    codeSplitting: {
      groups: [
        { name: 'repository', test: (id: string) => !DECLARATION.test(id), minShareCount: 2 },
        { name: 'repository.d', test: DECLARATION, minShareCount: 2 },
      ],
    },
  },
} satisfies UserConfig;

export default defineConfig([
  {
    ...common,
    // The ES module build keeps `p-queue` a real import, so that applications share one copy.
    entry: ENTRIES,
    format: 'esm',
    // Fails the build should anything from node_modules end up inside it.
    deps: { onlyBundle: [] },
  },
  {
    ...common,
    // The CommonJS build: `module.exports` of dist/index.cjs is version 5's factory with the named
    // exports attached; dist/koa.cjs has named exports. `p-queue` and `p-timeout` are ES modules
    // only, so they are bundled in (into dist/repository.cjs): a CommonJS runtime
    // that cannot `require` an ES module (Jest's, Node before 20.19 or with
    // --no-experimental-require-module) then loads it. `eventemitter3` is bundled along, as it is
    // `p-queue`'s dependency and not this package's, so a strict installation (pnpm) would not let
    // this file `require` it.
    entry: { ...ENTRIES, index: 'lib/commonjs.ts' },
    format: 'cjs',
    // spec/tarball-types.spec.ts checks what each file of dist/ still requires.
    deps: { alwaysBundle: ['p-queue', 'p-timeout', 'eventemitter3'], onlyBundle: false },
    // It exists for the runtimes the advice to publish ES modules only leaves out.
    checks: { pluginTimings: false, legacyCjs: false },
  },
]);
