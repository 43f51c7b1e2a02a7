// Child process for the forgotten-stop test: starts a sandbox, queries it, prints what it started and
// returns without stopping it. The process must still exit, and the sandbox must go with it.
import { startMariadb } from "../../../src/sandbox/index.ts";

const db = await startMariadb();
await db.query("SELECT 1");
process.stdout.write(`${JSON.stringify({ mariadbPid: db.pid, datadir: db.datadir })}\n`);
