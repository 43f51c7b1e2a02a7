// Hand-built decoded events for the CDC unit tests: the shapes the binlog codec produces.

import type { CdcInput } from "../../../src/cdc/transformer.ts";
import {
  ABSENT,
  type CellValue,
  type ColumnDef,
  type RowChange,
  type RowsEvent,
  type TableMapEvent,
} from "../../../src/codecs/binlog/rows/types.ts";

export function tableMap(
  schema: string,
  table: string,
  columns: string[],
  opts: { pk?: number[]; tableId?: bigint; unnamed?: boolean } = {},
): TableMapEvent {
  const defs: ColumnDef[] = columns.map((name, index) => ({
    index,
    type: 3,
    realType: 3,
    meta: 0,
    nullable: true,
    name: opts.unnamed ? undefined : name,
    unsigned: undefined,
    collation: undefined,
    charset: undefined,
    labels: undefined,
    geometryType: undefined,
    visible: undefined,
    dataType: undefined,
    decimals: undefined,
  }));
  return {
    tableId: opts.tableId ?? 1n,
    flags: 0,
    schema,
    table,
    columnCount: columns.length,
    columnTypes: new Uint8Array(columns.length).fill(3),
    columns: defs,
    optionalMetadata: [],
    primaryKey: opts.pk?.map((column) => ({ column, prefix: 0 })),
    position: { file: "bin.000001", offset: 0 },
  };
}

/** A stream builder: keeps a file and offset moving forward like a real binlog. */
export class Stream {
  file = "bin.000001";
  offset = 4;
  timestamp = 1_700_000_000;
  serverId = 1;
  private seq = 0n;

  private meta(size = 100) {
    const position = { file: this.file, offset: this.offset, next: this.offset + size };
    this.offset += size;
    return { position, timestamp: this.timestamp, serverId: this.serverId };
  }

  begin(gtid: string | null = `0-1-${++this.seq}`, standalone?: boolean): CdcInput {
    return { type: "begin", gtid, ...(standalone !== undefined ? { standalone } : {}), ...this.meta(40) };
  }

  rows(kind: RowsEvent["kind"], table: TableMapEvent, rows: RowChange[]): CdcInput {
    const m = this.meta(50 + rows.length * 20);
    const event: RowsEvent = {
      typeCode: kind === "write" ? 30 : kind === "update" ? 31 : 32,
      kind,
      tableId: table.tableId,
      table,
      flags: 1,
      stmtEnd: true,
      columnCount: table.columnCount,
      presentBefore: undefined,
      presentAfter: undefined,
      extra: undefined,
      rows,
      position: { file: m.position.file, offset: m.position.offset },
    };
    return { type: "rows", event, ...m };
  }

  commit(): CdcInput {
    return { type: "commit", ...this.meta(31) };
  }

  ddl(query: string, database = "shop"): CdcInput {
    return { type: "ddl", database, query, ...this.meta(80) };
  }

  rotate(nextFile: string): CdcInput {
    const m = this.meta(44);
    this.file = nextFile;
    this.offset = 4;
    return { type: "rotate", nextFile, nextPosition: 4, ...m };
  }

  heartbeat(): CdcInput {
    return {
      type: "heartbeat",
      position: { file: this.file, offset: this.offset, next: this.offset },
      timestamp: 0,
      serverId: 1,
    };
  }
}

export const ins = (...after: CellValue[]): RowChange => ({ after });
export const del = (...before: CellValue[]): RowChange => ({ before });
export const upd = (before: CellValue[], after: CellValue[]): RowChange => ({ before, after });
export { ABSENT };
