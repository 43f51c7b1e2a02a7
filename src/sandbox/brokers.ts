/**
 * The message brokers are shared local services, not sandboxes: tests use the running RabbitMQ,
 * Redis, NATS and Mosquitto on their standard loopback ports. Where one is not running, it is started
 * the way scripts/run.sh starts it; where it is not installed, the error says what to install.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { SluiceError } from "../core/errors.ts";
import { findExecutable } from "./process.ts";

export type BrokerKind = "rabbitmq" | "redis" | "nats" | "mosquitto";

export interface LocalBroker {
  kind: BrokerKind;
  url: string;
  host: string;
  port: number;
}

interface BrokerRecipe {
  port: number;
  url: (port: number) => string;
  /** Environment variable holding a URL that replaces the default (e.g. another host or port). */
  env: string;
  binary: string[];
  debianPackage: string;
  /** How long a cold start may take. */
  startTimeoutMs: number;
  start: (binary: string) => { file: string; args: string[]; dirs?: string[] };
}

export const BROKERS: Record<BrokerKind, BrokerRecipe> = {
  rabbitmq: {
    port: 5672,
    url: (port) => `amqp://guest:guest@127.0.0.1:${port}`,
    env: "SLUICE_RABBITMQ_URL",
    binary: ["rabbitmq-server", "/usr/lib/rabbitmq/bin/rabbitmq-server"],
    debianPackage: "rabbitmq-server",
    startTimeoutMs: 90_000,
    start: (bin) => ({ file: bin, args: ["-detached"] }),
  },
  redis: {
    port: 6379,
    url: (port) => `redis://127.0.0.1:${port}`,
    env: "SLUICE_REDIS_URL",
    binary: ["redis-server"],
    debianPackage: "redis-server",
    startTimeoutMs: 20_000,
    start: (bin) => ({
      file: bin,
      args: [
        "--daemonize",
        "yes",
        "--bind",
        "127.0.0.1",
        "-::1",
        "--port",
        "6379",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        "/var/lib/redis",
        "--logfile",
        "/var/log/redis/sluice.log",
      ],
      dirs: ["/var/lib/redis", "/var/log/redis"],
    }),
  },
  nats: {
    port: 4222,
    url: (port) => `nats://127.0.0.1:${port}`,
    env: "SLUICE_NATS_URL",
    binary: ["nats-server"],
    debianPackage: "nats-server",
    startTimeoutMs: 20_000,
    start: (bin) => ({
      file: "start-stop-daemon",
      args: [
        "--start",
        "--oknodo",
        "--background",
        "--exec",
        bin,
        "--",
        "-a",
        "127.0.0.1",
        "-p",
        "4222",
        "-js",
        "-sd",
        "/var/lib/nats-server",
        "-l",
        "/var/log/nats-server.log",
      ],
      dirs: ["/var/lib/nats-server"],
    }),
  },
  mosquitto: {
    port: 1883,
    url: (port) => `mqtt://127.0.0.1:${port}`,
    env: "SLUICE_MQTT_URL",
    binary: ["mosquitto", "/usr/sbin/mosquitto"],
    debianPackage: "mosquitto",
    startTimeoutMs: 20_000,
    start: (bin) => ({ file: bin, args: ["-d", "-c", "/etc/mosquitto/mosquitto.conf"] }),
  },
};

/**
 * The local broker of `kind`: the running one, or one started now. A URL in the kind's environment
 * variable (SLUICE_RABBITMQ_URL, SLUICE_REDIS_URL, SLUICE_NATS_URL, SLUICE_MQTT_URL) points elsewhere;
 * such a broker is only checked, never started.
 */
export async function localBroker(kind: BrokerKind): Promise<LocalBroker> {
  // Callers from plain JavaScript or a config file may pass anything, "constructor" included.
  const recipe = Object.hasOwn(BROKERS, kind) ? BROKERS[kind] : undefined;
  if (!recipe) {
    throw new SluiceError("USAGE_BROKER_KIND", `unknown broker kind '${String(kind)}'`, {
      hint: `one of ${Object.keys(BROKERS).join(", ")}`,
    });
  }
  const override = process.env[recipe.env];
  if (override) {
    const u = new URL(override);
    const port = Number(u.port) || recipe.port;
    if (!(await acceptsTcp(u.hostname, port))) {
      throw new SluiceError("SANDBOX_BROKER_UNREACHABLE", `${kind} is not reachable`, {
        context: { env: recipe.env, host: u.hostname, port },
        hint: `start it, or unset ${recipe.env} to use the local one`,
      });
    }
    return { kind, url: override, host: u.hostname, port };
  }
  const broker = { kind, url: recipe.url(recipe.port), host: "127.0.0.1", port: recipe.port };
  if (await acceptsTcp(broker.host, broker.port)) return broker;

  const hint = `apt-get install -y ${recipe.debianPackage} (or run: bash scripts/run.sh setup)`;
  const binary = findExecutable(recipe.binary, { name: kind, install: hint });
  const cmd = recipe.start(binary);
  for (const d of cmd.dirs ?? []) mkdirSync(d, { recursive: true });
  const r = spawnSync(cmd.file, cmd.args, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 60_000,
  });
  if (r.error) {
    throw new SluiceError("SANDBOX_BROKER_START_FAILED", `cannot start ${kind}: ${r.error.message}`, {
      context: { command: cmd.file },
      hint,
    });
  }
  // The start commands daemonize and return at once; the port tells when the broker is up.
  const deadline = Date.now() + recipe.startTimeoutMs;
  while (Date.now() < deadline) {
    if (await acceptsTcp(broker.host, broker.port)) return broker;
    await sleep(250);
  }
  throw new SluiceError("SANDBOX_BROKER_START_FAILED", `${kind} did not start listening`, {
    context: { port: broker.port, command: `${cmd.file} ${cmd.args.join(" ")}` },
    hint: `its output: ${(r.stderr || r.stdout || "").trim().slice(-500) || "(none)"}; see its log in /var/log`,
  });
}

/** True when something accepts a TCP connection on host:port within a second. */
export function acceptsTcp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1_000, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}
