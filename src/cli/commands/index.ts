import type { Command } from "commander";
import { register as sandbox } from "./sandbox.ts";

/** Each command group registers itself on the root program. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [sandbox];
