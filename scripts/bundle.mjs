#!/usr/bin/env node
// Bundles the compiled CLI's own code with esbuild (npm run build runs it after tsc), so that a
// command loads a few files instead of some sixty modules: dist/src/cli/main.bundle.js, which
// bin/sluice.js runs when it is there and not older than tsc's dist/src/cli/main.js, the chunks it
// loads on demand, and the worker thread of `binlog read --jobs` (binlog-file-worker.js). They sit
// next to tsc's CLI so that paths relative to a module (bin/sluice.js, package.json) resolve alike.
// npm packages stay outside (loaded from node_modules as usual), except the two that `binlog read`
// loads on every run (commander, fzstd): inside, they cost no package lookup and no CommonJS
// translation. `node scripts/bundle.mjs [OUT]` writes under OUT (default dist).
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { build } from "esbuild";

const INSIDE = new Set(["commander", "fzstd"]);
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const external = Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })
  .filter((d) => !INSIDE.has(d))
  .flatMap((d) => [d, `${d}/*`]);

const out = process.argv[2] ?? "dist";
const dir = `${out}/src/cli`;
// the chunks of an earlier bundle (their names change with their content)
for (const f of readdirSync(dir, { withFileTypes: true }))
  if (f.isFile() && f.name.startsWith("bundle-chunk-")) rmSync(`${dir}/${f.name}`);
await build({
  entryPoints: {
    "main.bundle": "src/cli/main.ts",
    "binlog-file-worker": "src/sources/binlog-file-worker.ts",
  },
  outdir: dir,
  bundle: true,
  splitting: true,
  chunkNames: "bundle-chunk-[hash]",
  format: "esm",
  platform: "node",
  target: "node20",
  external,
  // (the CommonJS packages inside require Node's modules: a require for each file that may run them)
  banner: {
    js: 'import { createRequire as bundleRequire } from "node:module"; const require = bundleRequire(import.meta.url);',
  },
  logLevel: "warning",
});
