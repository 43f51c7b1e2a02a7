import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChangeEnvelope } from "../../../src/cdc/envelope.ts";
import { type CdcOutput, ChangeTransformer } from "../../../src/cdc/transformer.ts";
import { JsonText } from "../../../src/codecs/binlog/rows/types.ts";
import { ABSENT, del, ins, Stream, tableMap, upd } from "./events.ts";

const users = tableMap("shop", "users", ["id", "name", "status", "price"], { pk: [0] });
const price = tableMap("shop", "price", ["id", "amount"], { pk: [0], tableId: 2n });
const logs = tableMap("audit", "logs", ["id", "msg"], { pk: [0], tableId: 3n });

function run(t: ChangeTransformer, inputs: ReturnType<Stream["begin"]>[]): CdcOutput[] {
  return inputs.flatMap((e) => t.push(e));
}
const changesOf = (out: CdcOutput[]): ChangeEnvelope[] =>
  out.flatMap((o) => (o.type === "chunk" ? o.changes : []));

test("one transaction: envelopes carry source, transaction, kind, pk and images", () => {
  const s = new Stream();
  const t = new ChangeTransformer();
  const out = run(t, [
    s.begin("0-1-7141"),
    s.rows("write", users, [ins(1, "ann", "open", "9.50")]),
    s.rows("update", users, [upd([1, "ann", "open", "9.50"], [1, "ann", "closed", "9.50"])]),
    s.rows("delete", users, [del(1, "ann", "closed", "9.50")]),
    s.commit(),
  ]);
  assert.deepEqual(
    out.map((o) => o.type),
    ["chunk", "commit"],
  );
  const [insert, update, remove] = changesOf(out);
  assert.equal(insert!.kind, "insert");
  assert.deepEqual(insert!.after, { id: 1, name: "ann", status: "open", price: "9.50" });
  assert.equal(insert!.before, undefined);
  assert.deepEqual(insert!.pk, { id: 1 });
  assert.deepEqual(insert!.transaction, {
    id: "0-1-7141",
    file: "bin.000001",
    offset: 4,
    chunk: 0,
    last: true,
  });
  assert.equal(insert!.source.gtid, "0-1-7141");
  assert.equal(insert!.source.offset, 44);
  assert.equal(update!.kind, "update");
  assert.deepEqual(update!.changed, ["status"]);
  assert.equal(update!.before!.status, "open");
  assert.equal(update!.after!.status, "closed");
  assert.equal(remove!.kind, "delete");
  assert.deepEqual(remove!.before, { id: 1, name: "ann", status: "closed", price: "9.50" });
  const commit = out[1]!;
  assert.ok(commit.type === "commit");
  assert.equal(commit.transaction.rowsSeen, 3);
  assert.equal(commit.transaction.rowsKept, 3);
  assert.deepEqual(commit.resume, {
    file: "bin.000001",
    offset: s.offset,
    gtid: "0-1-7141",
    timestamp: s.timestamp,
  });
});

test("without a GTID the transaction id is the file:offset of its first event", () => {
  const s = new Stream();
  const t = new ChangeTransformer();
  const out = run(t, [s.begin(null), s.rows("write", users, [ins(5, "x", "open", "1")]), s.commit()]);
  assert.equal(changesOf(out)[0]!.transaction.id, "bin.000001:4");
});

test("MySQL's GTID then QUERY BEGIN is one transaction", () => {
  const s = new Stream();
  const t = new ChangeTransformer();
  const out = run(t, [
    s.begin("3e11fa47-71ca-11e1-9e33-c80aa9429562:23"),
    s.begin(null),
    s.rows("write", users, [ins(1, "a", "o", "1")]),
    s.commit(),
  ]);
  assert.equal(changesOf(out)[0]!.transaction.id, "3e11fa47-71ca-11e1-9e33-c80aa9429562:23");
});

test("big transactions come out in chunks of N with index and last flag; the buffer never exceeds N", () => {
  const s = new Stream();
  const t = new ChangeTransformer({ chunkRows: 3 });
  const outs: CdcOutput[] = [];
  outs.push(...t.push(s.begin()));
  for (let i = 0; i < 10; i++) {
    const o = t.push(s.rows("write", users, [ins(i, "n", "open", "1")]));
    // Never more than one chunk completes per row, and it holds exactly N changes.
    for (const c of o) if (c.type === "chunk") assert.equal(c.changes.length, 3);
    outs.push(...o);
  }
  outs.push(...t.push(s.commit()));
  const chunks = outs.filter((o) => o.type === "chunk");
  assert.deepEqual(
    chunks.map((c) => [c.chunk, c.last, c.changes.length]),
    [
      [0, false, 3],
      [1, false, 3],
      [2, false, 3],
      [3, true, 1],
    ],
  );
  for (const c of chunks)
    for (const e of c.changes) assert.deepEqual([e.transaction.chunk, e.transaction.last], [c.chunk, c.last]);
  assert.deepEqual(
    changesOf(outs).map((e) => e.after!.id),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
});

test("a transaction of exactly N changes is one last chunk", () => {
  const s = new Stream();
  const t = new ChangeTransformer({ chunkRows: 2 });
  const out = run(t, [
    s.begin(),
    s.rows("write", users, [ins(1, "a", "o", "1"), ins(2, "b", "o", "1")]),
    s.commit(),
  ]);
  const chunks = out.filter((o) => o.type === "chunk");
  assert.deepEqual(
    chunks.map((c) => [c.chunk, c.last]),
    [[0, true]],
  );
});

test("include/exclude globs: tables nobody wants produce nothing, but their transaction still commits", () => {
  const s = new Stream();
  const t = new ChangeTransformer({ filter: { include: ["shop.*"], exclude: ["shop.price"] } });
  const out = run(t, [
    s.begin(),
    s.rows("write", logs, [ins(1, "m")]),
    s.rows("write", price, [ins(1, "2.00")]),
    s.rows("write", users, [ins(1, "a", "o", "1")]),
    s.commit(),
    s.begin(),
    s.rows("write", logs, [ins(2, "m")]),
    s.commit(),
  ]);
  assert.deepEqual(
    changesOf(out).map((e) => `${e.schema}.${e.table}`),
    ["shop.users"],
  );
  const commits = out.filter((o) => o.type === "commit");
  assert.equal(commits.length, 2);
  assert.deepEqual(
    commits.map((c) => [c.transaction.rowsSeen, c.transaction.rowsKept]),
    [
      [3, 1],
      [1, 0],
    ],
  );
  assert.equal(t.wantsTable("audit", "logs"), false);
  assert.equal(t.wantsTable("shop", "users"), true);
});

test("kinds per table: only deletes of shop.price", () => {
  const s = new Stream();
  const t = new ChangeTransformer({ filter: { kinds: ["shop.price=delete"] } });
  const out = run(t, [
    s.begin(),
    s.rows("write", price, [ins(1, "2.00")]),
    s.rows("update", price, [upd([1, "2.00"], [1, "3.00"])]),
    s.rows("delete", price, [del(1, "3.00")]),
    s.rows("write", users, [ins(1, "a", "o", "1")]),
    s.commit(),
  ]);
  assert.deepEqual(
    changesOf(out).map((e) => `${e.table}:${e.kind}`),
    ["price:delete", "users:insert"],
  );
});

test("column include/exclude shape the images; pk stays whole; updates of dropped columns only vanish", () => {
  const s = new Stream();
  const t = new ChangeTransformer({
    filter: { columns: ["shop.users.id", "shop.users.status"], excludeColumns: ["*.*.amount"] },
  });
  const out = run(t, [
    s.begin(),
    s.rows("write", users, [ins(1, "a", "open", "1")]),
    s.rows("update", users, [upd([1, "a", "open", "1"], [1, "b", "open", "1"])]),
    s.rows("update", users, [upd([1, "b", "open", "1"], [1, "b", "closed", "1"])]),
    s.rows("write", price, [ins(7, "2.00")]),
    s.commit(),
  ]);
  const [insert, update, priceInsert, extra] = changesOf(out);
  assert.equal(extra, undefined);
  assert.deepEqual(insert!.after, { id: 1, status: "open" });
  assert.deepEqual(update!.changed, ["status"]);
  assert.deepEqual(update!.before, { id: 1, status: "open" });
  assert.deepEqual(priceInsert!.after, { id: 7 });
  assert.deepEqual(priceInsert!.pk, { id: 7 });
});

test("the row predicate sees before and after values, kind and table", () => {
  const s = new Stream();
  const t = new ChangeTransformer({ filter: { where: "after.price > 100 and before.status = 'open'" } });
  const out = run(t, [
    s.begin(),
    s.rows("update", users, [
      upd([1, "a", "open", "50"], [1, "a", "open", "150"]),
      upd([2, "b", "closed", "50"], [2, "b", "closed", "150"]),
      upd([3, "c", "open", "50"], [3, "c", "open", "99.5"]),
    ]),
    s.rows("write", users, [ins(4, "d", "open", "500")]),
    s.commit(),
  ]);
  assert.deepEqual(
    changesOf(out).map((e) => e.pk!.id),
    [1],
  );
  const t2 = new ChangeTransformer({ filter: { where: "kind = 'delete' or table = 'price'" } });
  const out2 = run(t2, [
    s.begin(),
    s.rows("write", users, [ins(1, "a", "o", "1")]),
    s.rows("write", price, [ins(2, "1")]),
    s.rows("delete", users, [del(1, "a", "o", "1")]),
    s.commit(),
  ]);
  assert.deepEqual(
    changesOf(out2).map((e) => `${e.table}:${e.kind}`),
    ["price:insert", "users:delete"],
  );
});

test("absent cells (minimal row image) are not keys; an after-only column counts as changed", () => {
  const s = new Stream();
  const t = new ChangeTransformer();
  const out = run(t, [
    s.begin(),
    s.rows("update", users, [upd([1, ABSENT, ABSENT, ABSENT], [ABSENT, ABSENT, "closed", ABSENT])]),
    s.commit(),
  ]);
  const [u] = changesOf(out);
  assert.deepEqual(u!.before, { id: 1 });
  assert.deepEqual(u!.after, { status: "closed" });
  assert.deepEqual(u!.changed, ["status"]);
  assert.deepEqual(u!.pk, { id: 1 });
});

test("primary key from the schema when the table map has none; unknown names become @n", () => {
  const s = new Stream();
  const bare = tableMap("shop", "users", ["id", "name", "status", "price"]);
  const t = new ChangeTransformer({
    primaryKeyOf: (sc, tb) => (sc === "shop" && tb === "users" ? ["id"] : undefined),
  });
  const out = run(t, [s.begin(), s.rows("delete", bare, [del(9, "z", "o", "1")]), s.commit()]);
  assert.deepEqual(changesOf(out)[0]!.pk, { id: 9 });
  const unnamed = tableMap("x", "y", ["a", "b"], { unnamed: true });
  const out2 = run(new ChangeTransformer(), [s.begin(), s.rows("write", unnamed, [ins(1, 2)]), s.commit()]);
  assert.deepEqual(changesOf(out2)[0]!.after, { "@1": 1, "@2": 2 });
  assert.equal(changesOf(out2)[0]!.pk, null);
});

test("values: bigint as string, binary as base64, JSON parsed, NULL kept", () => {
  const s = new Stream();
  const tm = tableMap("t", "v", ["big", "bin", "doc", "n"]);
  const out = run(new ChangeTransformer(), [
    s.begin(),
    s.rows("write", tm, [ins(2n ** 63n, Buffer.from([1, 2, 255]), new JsonText('{"a": [1, true]}'), null)]),
    s.commit(),
  ]);
  assert.deepEqual(changesOf(out)[0]!.after, {
    big: "9223372036854775808",
    bin: { base64: "AQL/" },
    doc: { a: [1, true] },
    n: null,
  });
});

test("DDL ends a GTID group; rotate and heartbeat move the resume point; resume never points inside a transaction", () => {
  const s = new Stream();
  const t = new ChangeTransformer();
  const out = run(t, [s.begin("0-1-5"), s.ddl("ALTER TABLE users ADD COLUMN x INT")]);
  assert.deepEqual(
    out.map((o) => o.type),
    ["commit", "ddl"],
  );
  const ddl = out[1]!;
  assert.ok(ddl.type === "ddl");
  assert.equal(ddl.gtid, "0-1-5");
  assert.equal(ddl.resume.offset, s.offset);
  const rot = t.push(s.rotate("bin.000002"));
  assert.deepEqual(rot, [
    {
      type: "progress",
      resume: { file: "bin.000002", offset: 4, gtid: "0-1-5", timestamp: s.timestamp },
      heartbeat: false,
    },
  ]);
  t.push(s.begin());
  assert.equal(t.inTransaction, true);
  assert.deepEqual(t.push(s.heartbeat()), []);
  t.push(s.commit());
  const hb = t.push(s.heartbeat());
  assert.equal(hb[0]!.type, "progress");
});

test("rows outside a transaction and a begin inside one are errors with a position", () => {
  const s = new Stream();
  const t = new ChangeTransformer();
  assert.throws(() => t.push(s.rows("write", users, [ins(1, "a", "o", "1")])), { code: "CDC_SEQUENCE" });
  t.push(s.begin());
  assert.throws(() => t.push(s.begin("0-1-99")), { code: "CDC_SEQUENCE" });
  assert.throws(() => new ChangeTransformer({ chunkRows: 0 }), { code: "CDC_OPTION" });
});

test("a statement inside BEGIN..COMMIT (mixed format) does not end the transaction; a stand-alone DDL group does", () => {
  const s = new Stream();
  const t = new ChangeTransformer();
  const out = [
    s.begin("0-1-20", false),
    s.ddl("INSERT INTO shop.log VALUES (1)"),
    s.rows("write", users, [ins(1, "a", "o", "1")]),
    s.commit(),
    s.begin(null),
    s.ddl("UPDATE shop.log SET x = 1"),
    s.rows("write", users, [ins(2, "b", "o", "1")]),
    s.commit(),
    s.begin("0-1-22", true),
    s.ddl("CREATE TABLE shop.t2 (id INT)"),
  ].flatMap((e) => t.push(e));
  assert.deepEqual(
    out.map((o) => o.type),
    ["chunk", "commit", "chunk", "commit", "commit", "ddl"],
  );
  assert.equal(t.inTransaction, false);
});
