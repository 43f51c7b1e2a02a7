import { SluiceError } from "../core/errors.ts";

/** Sandbox names become file and directory names: letters, digits, '.', '_', '-' only. */
export function assertSandboxName(name: string): void {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/.test(name)) {
    throw new SluiceError("USAGE_SANDBOX_NAME", `bad sandbox name '${name}'`, {
      hint: "use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'",
    });
  }
}
