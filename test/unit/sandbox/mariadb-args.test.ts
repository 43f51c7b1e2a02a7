import assert from "node:assert/strict";
import { test } from "node:test";
import { mariadbdArgs, type ServerFiles } from "../../../src/sandbox/mariadb.ts";
import { assertSandboxName } from "../../../src/sandbox/names.ts";

const files: ServerFiles = {
  datadir: "/tmp/x/sb",
  tmpdir: "/tmp/x/sb.tmp",
  socket: "/tmp/x/sb/mysqld.sock",
  errorLogFile: "/tmp/x/sb/error.log",
  generalLogFile: undefined,
  removeOnStop: "/tmp/x",
};

/** The value of the last `--name=value` flag, as mariadbd reads it (the last one wins). */
function flag(args: string[], name: string): string | undefined {
  const hits = args.filter((a) => a.startsWith(`--${name}=`));
  return hits.at(-1)?.slice(name.length + 3);
}

test("--no-defaults comes first so that no my.cnf reaches the sandbox", () => {
  assert.equal(mariadbdArgs({}, files, 40000, 40000)[0], "--no-defaults");
});

test("defaults: binlog on in the datadir, ROW with FULL metadata and image, loopback, domain 0", () => {
  const args = mariadbdArgs({}, files, 40001, 7);
  assert.equal(flag(args, "log-bin"), "/tmp/x/sb/mariadb-bin");
  assert.equal(flag(args, "tmpdir"), "/tmp/x/sb.tmp", "its own tmpdir, not the shared /tmp");
  assert.equal(flag(args, "binlog-format"), "ROW");
  assert.equal(flag(args, "binlog-row-metadata"), "FULL");
  assert.equal(flag(args, "binlog-row-image"), "FULL");
  assert.equal(flag(args, "bind-address"), "127.0.0.1");
  assert.equal(flag(args, "port"), "40001");
  assert.equal(flag(args, "server-id"), "7");
  assert.equal(flag(args, "gtid-domain-id"), "0");
  assert.equal(flag(args, "log-slave-updates"), "ON");
  assert.ok(args.includes("--skip-name-resolve"));
  assert.equal(flag(args, "general-log"), undefined);
});

test("options reach their flags, general log goes to its file, extra args come last", () => {
  const args = mariadbdArgs(
    {
      binlogRowMetadata: "MINIMAL",
      binlogRowImage: "NOBLOB",
      binlogFormat: "MIXED",
      gtidDomainId: 3,
      extraArgs: ["--sync-binlog=1", "--max-connections=20"],
    },
    { ...files, generalLogFile: "/tmp/x/sb/general.log" },
    40002,
    9,
  );
  assert.equal(flag(args, "binlog-row-metadata"), "MINIMAL");
  assert.equal(flag(args, "binlog-row-image"), "NOBLOB");
  assert.equal(flag(args, "binlog-format"), "MIXED");
  assert.equal(flag(args, "gtid-domain-id"), "3");
  assert.equal(flag(args, "general-log"), "ON");
  assert.equal(flag(args, "general-log-file"), "/tmp/x/sb/general.log");
  assert.equal(flag(args, "log-output"), "FILE");
  // The sandbox sets sync-binlog=0 for speed; the caller's flag comes later and so wins.
  assert.equal(flag(args, "sync-binlog"), "1");
  assert.deepEqual(args.slice(-2), ["--sync-binlog=1", "--max-connections=20"]);
});

test("sandbox names that would escape their directory are refused", () => {
  for (const good of ["a", "source-1", "mdb_2.x", "A".repeat(64)])
    assert.doesNotThrow(() => assertSandboxName(good));
  for (const bad of ["", "..", ".hidden", "a/b", "../x", "a b", "A".repeat(65), "ü"]) {
    assert.throws(() => assertSandboxName(bad), { code: "USAGE_SANDBOX_NAME" }, bad);
  }
});
