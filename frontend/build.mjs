// Bundles src/app.ts into dist/app.js and dist/app.css (xterm's css, then
// src/app.css, both imported from app.ts). Writes into dist/ without clearing
// it, so the committed dist/.gitkeep survives. `node build.mjs --watch` rebuilds on change.
import * as esbuild from 'esbuild';

const options = {
  entryPoints: { app: 'src/app.ts' },
  outdir: 'dist',
  bundle: true,
  format: 'esm',
  target: ['es2022', 'chrome100', 'firefox100', 'safari15'],
  minify: true,
  sourcemap: true,
  legalComments: 'eof',
  logLevel: 'info',
};

if (process.argv.includes('--watch')) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
