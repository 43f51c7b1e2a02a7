import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";

/**
 * A sandboxed MariaDB and a temporary folder (named `prefix...`) for the tests of one file: started
 * before its tests, stopped and removed after them. Read them once the tests run.
 */
export function sandboxForFile(prefix: string): { db: () => MariadbSandbox; dir: () => string } {
  let db: MariadbSandbox | undefined;
  let dir: string | undefined;
  before(async () => {
    db = await startMariadb();
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  after(async () => {
    await db?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error("the sandbox is started before the tests");
    return v;
  };
  return { db: () => started(db), dir: () => started(dir) };
}
