import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { commands } from "../../../src/cli/commands/index.ts";
import { buildProgram, commandGroupOf } from "../../../src/cli/program.ts";

const names = (args: string[]) => buildProgram(args).then((p) => p.commands.map((c) => c.name()).sort());
/** Every command of every group (capture.ts also registers `digest`). */
const every = async () => {
  const all = await names(["--help"]);
  for (const g of Object.keys(commands)) assert.ok(all.includes(g), `${g} in ${all.join(", ")}`);
  return all;
};

test("the command group a line names, past root options and their values", () => {
  assert.equal(commandGroupOf(["binlog", "read", "f"]), "binlog");
  assert.equal(commandGroupOf(["--config", "x.yaml", "--log-level=debug", "cdc", "run"]), "cdc");
  assert.equal(commandGroupOf(["-c", "binlog", "replay"]), "replay");
  assert.equal(commandGroupOf(["digest", "x"]), undefined);
  assert.equal(commandGroupOf(["--", "binlog"]), undefined);
});

test("a root --version loads no command group; help and other lines load what they show", async () => {
  assert.deepEqual(await names(["--version"]), []);
  assert.deepEqual(await names(["-V"]), []);
  // help lists every command, whatever else is on the line
  const all = await every();
  assert.deepEqual(await names(["--version", "--help"]), all);
  assert.deepEqual(await names(["help"]), all);
  assert.deepEqual(await names([]), all);
  assert.deepEqual(await names(["binlog", "--version"]), ["binlog"]);
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  assert.equal((await buildProgram(["--version"])).version(), pkg.version);
});
