import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;
const built = new Map<string, string | null>();

/**
 * The CLI as an install runs it (compiled JavaScript and its bundle, as `npm run build` makes them:
 * process start-up included), built once per process into node_modules/.cache/sluice-bench-NAME (so
 * that dependencies resolve): the bundle's main.bundle.js, else (no bundle) tsc's main.js; null when
 * the build emits no main.js. Type errors elsewhere in the tree do not stop tsc from emitting.
 */
export function compiledCli(name: string): string | null {
  const cached = built.get(name);
  if (cached !== undefined) return cached;
  const out = join(ROOT, `node_modules/.cache/sluice-bench-${name}`);
  rmSync(out, { recursive: true, force: true });
  const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
  const args = [tsc, "-p", ROOT, "--outDir", out, "--declaration", "false", "--sourceMap", "false"];
  spawnSync(process.execPath, args, { stdio: "ignore" });
  const main = join(out, "src/cli/main.js");
  if (existsSync(main))
    spawnSync(process.execPath, [join(ROOT, "scripts/bundle.mjs"), out], { stdio: "ignore", cwd: ROOT });
  const bundle = join(out, "src/cli/main.bundle.js");
  const result = existsSync(bundle) ? bundle : existsSync(main) ? main : null;
  if (result) copyFileSync(join(ROOT, "package.json"), join(out, "package.json"));
  built.set(name, result);
  return result;
}
