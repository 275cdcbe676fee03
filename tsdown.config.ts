import { defineConfig, type UserConfig } from 'tsdown';

/** What both builds share: one bundle each, for the Node versions `engines` names. */
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
} satisfies UserConfig;

export default defineConfig([
  {
    ...common,
    // The ES module build keeps `p-queue` a real import, so that applications share one copy.
    entry: { index: 'lib/index.ts' },
    format: 'esm',
    // Fails the build should anything from node_modules end up inside it.
    deps: { onlyBundle: [] },
  },
  {
    ...common,
    // The CommonJS build: `module.exports` is version 5's factory with the named exports attached.
    // `p-queue` and `p-timeout` are ES modules only, so they are bundled in: a CommonJS runtime
    // that cannot `require` an ES module (Jest's, Node before 20.19 or with
    // --no-experimental-require-module) then loads it. `eventemitter3` is bundled along, as it is
    // `p-queue`'s dependency and not this package's, so a strict installation (pnpm) would not let
    // this file `require` it.
    entry: { index: 'lib/commonjs.ts' },
    format: 'cjs',
    // spec/tarball.spec.ts checks what dist/index.cjs still requires.
    deps: { alwaysBundle: ['p-queue', 'p-timeout', 'eventemitter3'], onlyBundle: false },
    // It exists for the runtimes the advice to publish ES modules only leaves out.
    checks: { pluginTimings: false, legacyCjs: false },
  },
]);
