import type { Command } from "commander";

/** Each command group registers itself on the root program. */
export type RegisterCommand = (program: Command) => void;

/**
 * The command groups by their top-level command name, each loaded only when used: `sluice binlog
 * read` does not pay for loading the capture, CDC or sandbox code (measured: 0.3 s of start-up).
 * `sluice --help`, and any line whose command is not a key here (e.g. `digest`, which capture.ts
 * registers too), loads them all.
 */
export const commands: Record<string, () => Promise<{ register: RegisterCommand }>> = {
  binlog: () => import("./binlog.ts"),
  capture: () => import("./capture.ts"),
  cdc: () => import("./cdc.ts"),
  demo: () => import("./demo.ts"),
  history: () => import("./history.ts"),
  replay: () => import("./replay.ts"),
  sandbox: () => import("./sandbox.ts"),
  stream: () => import("./stream.ts"),
};
