// Child process for the template race test: makes (or finds) the template and prints its path.
import { ensureTemplate } from "../../../src/sandbox/mariadb-template.ts";

process.stdout.write(`${ensureTemplate()}\n`);
