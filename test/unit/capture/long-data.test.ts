import assert from "node:assert/strict";
import { test } from "node:test";
import type { CommandEvent, ResponseEvent } from "../../../src/capture/events.ts";
import {
  AFTER_RESET,
  BIN,
  DISCARDED,
  DOC,
  DOC_CUTS,
  INSERT,
  SELECT,
  THIRD,
} from "../../fixtures/pcap/long-data-client.ts";
import { decodeFixture } from "./helpers.ts";

const hex = (b: Buffer) => `0x${b.toString("hex")}`;

test("long-data.pcap: COM_STMT_SEND_LONG_DATA pieces (one cut inside a character, a binary BLOB) join into the execution's values; COM_STMT_RESET discards them", () => {
  const { events, stats } = decodeFixture("long-data.pcap");
  assert.equal(stats.gaps, 0);
  assert.equal(stats.decodeErrors, 0);
  const commands = events.filter((e): e is CommandEvent => e.type === "command");
  const responses = events.filter((e): e is ResponseEvent => e.type === "response");
  const insert = responses.find((r) => r.seq === commands.find((c) => c.sql === INSERT)?.seq)?.statementId;
  const select = responses.find((r) => r.seq === commands.find((c) => c.sql === SELECT)?.seq)?.statementId;
  assert.ok(insert !== undefined && select !== undefined && insert !== select);

  const kinds = commands
    .filter((c) => c.kind.startsWith("stmt_"))
    .map((c) =>
      c.kind === "stmt_send_long_data"
        ? `long ${c.statementId === insert ? "insert" : "select"}.${c.paramId} ${c.bytes}`
        : `${c.kind} ${c.statementId === insert ? "insert" : c.statementId === select ? "select" : ""}`.trim(),
    );
  const docLength = Buffer.byteLength(DOC);
  const thirdLength = Buffer.byteLength(THIRD);
  assert.deepEqual(kinds, [
    "stmt_prepare",
    `long insert.1 ${DOC_CUTS[0]}`,
    `long insert.1 ${DOC_CUTS[1]! - DOC_CUTS[0]!}`,
    `long insert.1 ${docLength - DOC_CUTS[1]!}`,
    "long insert.2 100",
    `long insert.2 ${BIN.length - 100}`,
    "stmt_execute insert",
    `long insert.1 ${Buffer.byteLength(DISCARDED)}`,
    "stmt_reset insert",
    "stmt_execute insert",
    "long insert.1 7",
    "long insert.1 13",
    `long insert.1 ${thirdLength - 20}`,
    "stmt_execute insert",
    "stmt_prepare",
    "long select.0 30",
    `long select.0 ${docLength - 30}`,
    "stmt_execute select",
    "stmt_close select",
    "stmt_close insert",
  ]);
  const executions = commands.filter((c) => c.kind === "stmt_execute").map((c) => c.params);
  assert.deepEqual(executions, [
    [1, DOC, hex(BIN), "long data"],
    // After the reset: no long data (the discarded piece is gone), inline values with the first execution's types.
    [2, AFTER_RESET.doc, hex(AFTER_RESET.bin), "after reset"],
    [3, THIRD, null, "long again"],
    [DOC],
  ]);
  // COM_STMT_RESET is answered (OK); the long data commands are not.
  const reset = commands.find((c) => c.kind === "stmt_reset");
  assert.equal(responses.find((r) => r.seq === reset?.seq)?.ok, true);
  for (const c of commands.filter((c) => c.kind === "stmt_send_long_data"))
    assert.equal(
      responses.some((r) => r.seq === c.seq),
      false,
    );
  const found = responses.find((r) => r.seq === commands.filter((c) => c.kind === "stmt_execute")[3]?.seq);
  assert.equal(found?.rows, 1, "the SELECT by a long data parameter found its row");
});
