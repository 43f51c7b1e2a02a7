// Child process for the orphan test: starts a MariaDB and a memcached sandbox, prints what it
// started as one JSON line, then waits to be killed.
import { startMariadb, startMemcached } from "../../../src/sandbox/index.ts";

const [db, cache] = await Promise.all([startMariadb(), startMemcached()]);
process.stdout.write(
  `${JSON.stringify({ mariadbPid: db.pid, datadir: db.datadir, memcachedPid: cache.pid, memcachedDir: cache.dir })}\n`,
);
setInterval(() => {}, 60_000);
