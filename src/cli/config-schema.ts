import { z } from "zod";

/** The config file: a section per command, each validated by that command. Unknown top-level keys are errors. */
export const configFileSchema = z
  .object({
    log: z
      .object({ format: z.enum(["human", "json"]).optional(), level: z.string().optional() })
      .strict()
      .optional(),
    metricsPort: z.number().int().min(0).max(65535).optional(),
    sandbox: z.record(z.string(), z.unknown()).optional(),
    stream: z.record(z.string(), z.unknown()).optional(),
    binlog: z.record(z.string(), z.unknown()).optional(),
    cdc: z.record(z.string(), z.unknown()).optional(),
    capture: z.record(z.string(), z.unknown()).optional(),
    replay: z.record(z.string(), z.unknown()).optional(),
    demo: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type ConfigFile = z.infer<typeof configFileSchema>;
