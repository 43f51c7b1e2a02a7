import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { SluiceError } from "./errors.ts";

/**
 * Reads a YAML or JSON config file and validates it. Errors name the file and the bad key
 * (`cdc.checkpointEvery: expected number, got string`), never the value of a secret.
 */
export function loadConfigFile<S extends z.ZodType>(path: string, schema: S): z.infer<S> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new SluiceError("CONFIG_UNREADABLE", `cannot read config file`, {
      context: { file: path },
      hint: "check the --config path",
      cause: e,
    });
  }
  let raw: unknown;
  try {
    raw = extname(path) === ".json" ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new SluiceError(
      "CONFIG_SYNTAX",
      `config file is not valid ${extname(path) === ".json" ? "JSON" : "YAML"}: ${(e as Error).message}`,
      {
        context: { file: path },
      },
    );
  }
  return validateConfig(raw ?? {}, schema, path);
}

export function validateConfig<S extends z.ZodType>(raw: unknown, schema: S, source: string): z.infer<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => {
    const key = i.path.length ? i.path.map(String).join(".") : "(top level)";
    return `${key}: ${i.message}`;
  });
  throw new SluiceError("CONFIG_INVALID", `invalid configuration: ${problems.join("; ")}`, {
    context: { file: source },
    hint: "fix the named keys; `sluice <command> --help` lists the options",
  });
}

/**
 * Precedence for every option: an explicit flag, then the environment, then the config file, then
 * the default. `explicit` is the set of flags the user actually typed.
 */
export function mergeOptions<T extends Record<string, unknown>>(
  defaults: T,
  fromFile: Partial<T>,
  fromEnv: Partial<T>,
  fromFlags: Partial<T>,
  explicit: ReadonlySet<string>,
): T {
  const out: Record<string, unknown> = { ...defaults };
  for (const layer of [fromFile, fromEnv]) {
    for (const [k, v] of Object.entries(layer)) if (v !== undefined) out[k] = v;
  }
  for (const [k, v] of Object.entries(fromFlags)) if (explicit.has(k) && v !== undefined) out[k] = v;
  return out as T;
}
