#!/usr/bin/env node
// Runs the compiled CLI when it is built (the normal install), else the TypeScript sources through tsx.
// The compiled CLI is its bundle (npm run build: scripts/bundle.mjs, a few files to load instead of
// some sixty modules) unless tsc alone built the CLI again after it.
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const built = join(root, "dist/src/cli/main.js");
const bundle = join(root, "dist/src/cli/main.bundle.js");
const fresh = (p) => existsSync(p) && (!existsSync(built) || statSync(p).mtimeMs >= statSync(built).mtimeMs);
if (!process.env.SLUICE_FROM_SOURCE && fresh(bundle)) {
  await import(pathToFileURL(bundle).href);
} else if (existsSync(built) && !process.env.SLUICE_FROM_SOURCE) {
  await import(pathToFileURL(built).href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import(pathToFileURL(join(root, "src/cli/main.ts")).href);
}
