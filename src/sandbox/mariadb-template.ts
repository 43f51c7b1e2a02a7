/**
 * A pristine MariaDB datadir, made once per mariadbd version with mariadb-install-db and copied for
 * every sandbox: install-db takes about a second, a copy a few milliseconds. Made in a temporary
 * directory and renamed into place, so parallel test processes never see a half-made template: the
 * first rename wins, the others drop their copy and use the winner's.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { messageOf, SluiceError } from "../core/errors.ts";
import { findExecutable, runCapture } from "./process.ts";

const INSTALL_HINT = "install the MariaDB server: apt-get install mariadb-server";

export interface MariadbBinaries {
  mariadbd: string;
  installDb: string;
  /** e.g. "10.11.19-MariaDB-0+deb12u1" */
  version: string;
}

let cachedBinaries: { key: string; bin: MariadbBinaries } | undefined;

/** The installed MariaDB server binaries and their version; SLUICE_MARIADBD and SLUICE_MARIADB_INSTALL_DB override. */
export function mariadbBinaries(): MariadbBinaries {
  const key = `${process.env.SLUICE_MARIADBD ?? ""}\0${process.env.SLUICE_MARIADB_INSTALL_DB ?? ""}`;
  if (cachedBinaries?.key === key) return cachedBinaries.bin;
  const mariadbd = findExecutable(["/usr/sbin/mariadbd", "mariadbd", "/usr/sbin/mysqld"], {
    name: "mariadbd",
    install: INSTALL_HINT,
    envOverride: "SLUICE_MARIADBD",
  });
  const installDb = findExecutable(["mariadb-install-db", "mysql_install_db"], {
    name: "mariadb-install-db",
    install: INSTALL_HINT,
    envOverride: "SLUICE_MARIADB_INSTALL_DB",
  });
  const out = runCapture(mariadbd, ["--version"]);
  const version = /Ver\s+(\S+)/.exec(out)?.[1];
  if (!version) {
    throw new SluiceError("SANDBOX_MARIADB_VERSION", `cannot read the version of ${mariadbd}`, {
      context: { output: out.slice(0, 200) },
      hint: INSTALL_HINT,
    });
  }
  cachedBinaries = { key, bin: { mariadbd, installDb, version } };
  return cachedBinaries.bin;
}

/**
 * Server flags that shape the files install-db writes. The sandbox must start with the same ones,
 * else InnoDB would rewrite its redo log at every start.
 */
export const TEMPLATE_SERVER_FLAGS = [
  "--innodb-log-file-size=8M",
  "--innodb-buffer-pool-size=16M",
  "--innodb-data-file-path=ibdata1:12M:autoextend",
  "--innodb-undo-tablespaces=0",
] as const;

/** The template's location; SLUICE_SANDBOX_TEMPLATE_DIR moves its parent (default /var/tmp). */
export function templatePath(bin: MariadbBinaries): string {
  const parent = process.env.SLUICE_SANDBOX_TEMPLATE_DIR ?? "/var/tmp";
  const flagsHash = createHash("sha256").update(TEMPLATE_SERVER_FLAGS.join(" ")).digest("hex").slice(0, 8);
  const safeVersion = bin.version.replace(/[^A-Za-z0-9._-]/g, "_");
  return join(parent, `sluice-sandbox-template-${safeVersion}-${flagsHash}`);
}

/** The template datadir, made now if it is not there yet. */
export function ensureTemplate(bin: MariadbBinaries = mariadbBinaries()): string {
  const final = templatePath(bin);
  if (existsSync(final)) return final;
  const parent = join(final, "..");
  const tmp = mkdtempSync(`${final}.tmp-`);
  const datadir = join(tmp, "data");
  try {
    // Its own tmpdir: bootstrap servers running at the same time in one /tmp have been seen to lose
    // their temporary tables (ERROR 1051 Unknown table 'mysql.tmp_user_sys').
    const ownTmp = join(tmp, "tmp");
    mkdirSync(ownTmp);
    runCapture(bin.installDb, [
      "--no-defaults",
      `--datadir=${datadir}`,
      `--tmpdir=${ownTmp}`,
      "--user=root",
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
      "--skip-name-resolve",
      ...TEMPLATE_SERVER_FLAGS,
    ]);
    rmSync(ownTmp, { recursive: true, force: true });
    writeFileSync(join(tmp, "VERSION"), `${bin.version}\n${TEMPLATE_SERVER_FLAGS.join("\n")}\n`);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw new SluiceError(
      "SANDBOX_TEMPLATE_FAILED",
      `mariadb-install-db could not make the template datadir: ${messageOf(e)}`,
      {
        context: { dir: parent },
        hint: `check that ${parent} is writable and has space; run the command by hand to see why`,
        cause: e,
      },
    );
  }
  try {
    renameSync(tmp, final);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    // Another process renamed its template into place first: use that one.
    if (!existsSync(final)) throw e;
  }
  return final;
}

/** The datadir inside a template directory. */
export function templateDatadir(template: string): string {
  return join(template, "data");
}
