/**
 * `npm run build`, second step: the checkpoint that bin/checkpoint and the image run is one file,
 * dist/checkpoint.js, bundled by esbuild from what tsc wrote to dist/src. Loading ~400 modules
 * one by one (resolving, reading and compiling each) was over a third of a start; one file halves
 * it (measured: 370-400 ms of CPU to /-/healthy unbundled, 230-240 bundled).
 *
 * Kept out of the bundle, loaded from node_modules when first needed: each prober's protocol
 * library (its probe function is imported on the prober's first probe, see src/cli/probers.ts)
 * and express (the pages people open). Everything else the runtime loads at start is inside.
 */
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');

esbuild
  .build({
    entryPoints: [path.join(root, 'dist', 'src', 'cli', 'main.js')],
    outfile: path.join(root, 'dist', 'checkpoint.js'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    external: ['playwright-core', 'dockerode', 'pg', 'ssh2', 'imapflow', 'undici', 'express'],
    // Whitespace and syntax only, names kept (stack traces stay readable): V8 keeps the source of
    // what it compiles lazily, and the smaller file is 1 MiB less of an idle checkpoint's memory.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
  })
  .catch(() => process.exit(1));
