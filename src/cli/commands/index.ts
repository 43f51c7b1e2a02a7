import type { Command } from "commander";
import { register as binlog } from "./binlog.ts";
import { register as capture } from "./capture.ts";
import { register as cdc } from "./cdc.ts";
import { register as demo } from "./demo.ts";
import { register as history } from "./history.ts";
import { register as sandbox } from "./sandbox.ts";
import { register as stream } from "./stream.ts";

/** Each command group registers itself on the root program. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [binlog, capture, cdc, demo, history, sandbox, stream];
