import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { compilePredicate, type ExprScope, parseExpr } from "../../../src/cdc/expr.ts";
import { ChangeFilter, globToRegExp } from "../../../src/cdc/filter.ts";

const scope = (
  before?: Record<string, unknown>,
  after?: Record<string, unknown>,
  kind = "update",
): ExprScope => ({
  kind,
  schema: "shop",
  table: "users",
  before,
  after,
});

test("comparisons, and/or/not, precedence and parentheses", () => {
  const s = scope({ status: "open", price: "50.00" }, { status: "open", price: "150.00", qty: 3 });
  const cases: Array<[string, boolean]> = [
    ["after.price > 100", true],
    ["after.price > 100 and before.status = 'open'", true],
    ["after.price > 100 and before.status = 'closed'", false],
    ["before.status = 'closed' or after.qty >= 3", true],
    ["not before.status = 'open'", false],
    ["before.status != 'open' or after.qty = 3 and after.price < 0", false],
    ["(before.status != 'open' or after.qty = 3) and after.price > 0", true],
    ["after.qty <> 4", true],
    ["after.qty == 3", true],
    ["after.price <= 150", true],
    ["after.price < 150", false],
    ["after.price >= -1", true],
    ["after.qty in (1, 2, 3)", true],
    ["after.qty not in (1, 2, 3)", false],
    ["before.status like 'op%'", true],
    ["before.status like 'o_en'", true],
    ["before.status not like '%x%'", true],
    ["kind = 'update' and table = 'users' and schema = 'shop'", true],
    ['before.status = "open"', true],
    ["before.`status` = 'open'", true],
  ];
  for (const [src, want] of cases) assert.equal(compilePredicate(src)(s), want, src);
});

test("null follows SQL: comparisons are unknown (false), is null tests it; missing columns are null", () => {
  const s = scope(undefined, { a: null, b: 1 }, "insert");
  assert.equal(compilePredicate("after.a = null")(s), false);
  assert.equal(compilePredicate("after.a != 1")(s), false);
  assert.equal(compilePredicate("after.a is null")(s), true);
  assert.equal(compilePredicate("after.b is not null")(s), true);
  assert.equal(compilePredicate("before.b is null")(s), true);
  assert.equal(compilePredicate("after.nope is null")(s), true);
  assert.equal(compilePredicate("after.nope in (1)")(s), false);
});

test("numbers compare numerically with numeric strings, text compares as text", () => {
  assert.equal(compilePredicate("after.p > 9")(scope(undefined, { p: "10.5" })), true);
  assert.equal(compilePredicate("after.p > '9'")(scope(undefined, { p: "10.5" })), false);
  assert.equal(compilePredicate("after.p = 10")(scope(undefined, { p: 10 })), true);
  assert.equal(compilePredicate("after.p > 1")(scope(undefined, { p: "abc" })), true);
});

test("syntax errors name the position; unknown names and keywords are rejected; nothing is evaluated as code", () => {
  assert.throws(() => parseExpr("after.price >"), { code: "CDC_WHERE_SYNTAX", message: /unexpected end/ });
  assert.throws(() => parseExpr("after.price > 1 extra"), {
    code: "CDC_WHERE_SYNTAX",
    message: /position 17/,
  });
  assert.throws(() => parseExpr("price > 1"), { code: "CDC_WHERE_SYNTAX", message: /unknown name 'price'/ });
  assert.throws(() => parseExpr("after.a.b = 1"), { code: "CDC_WHERE_SYNTAX" });
  assert.throws(() => parseExpr("after.a = 'x"), { code: "CDC_WHERE_SYNTAX", message: /unterminated/ });
  assert.throws(() => parseExpr("process.exit(1)"), { code: "CDC_WHERE_SYNTAX" });
  assert.throws(() => parseExpr("after.a; 1"), {
    code: "CDC_WHERE_SYNTAX",
    message: /unexpected character ';'/,
  });
  assert.throws(() => parseExpr("after.a is 1"), { code: "CDC_WHERE_SYNTAX" });
});

test("the parser never throws anything but CDC_WHERE_SYNTAX on arbitrary input", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 40 }), (src) => {
      try {
        const p = compilePredicate(src);
        assert.equal(typeof p(scope({ a: 1 }, { a: "x" })), "boolean");
      } catch (e) {
        assert.equal((e as { code?: string }).code, "CDC_WHERE_SYNTAX", `${src}: ${String(e)}`);
      }
    }),
    { numRuns: 2000 },
  );
});

test("globs and filter plans", () => {
  assert.equal(globToRegExp("shop.*").test("shop.users"), true);
  assert.equal(globToRegExp("shop.*").test("shopx.users"), false);
  assert.equal(globToRegExp("s?op.user?").test("shop.users"), true);
  const f = new ChangeFilter({
    include: ["shop.*", "crm.accounts"],
    exclude: ["shop.tmp_*"],
    kinds: ["shop.price=delete", "shop.*=insert"],
  });
  assert.equal(f.plan("shop", "users").keep, true);
  assert.deepEqual([...f.plan("shop", "users").kinds], ["insert"]);
  assert.deepEqual([...f.plan("shop", "price").kinds].sort(), ["delete", "insert"]);
  assert.equal(f.plan("shop", "tmp_1").keep, false);
  assert.equal(f.plan("crm", "accounts").keep, true);
  assert.equal(f.plan("crm", "other").keep, false);
  assert.throws(() => new ChangeFilter({ include: ["users"] }), { code: "CDC_FILTER" });
  assert.throws(() => new ChangeFilter({ kinds: ["shop.price=drop"] }), { code: "CDC_FILTER" });
  assert.throws(() => new ChangeFilter({ kinds: ["shop.price"] }), { code: "CDC_FILTER" });
  assert.throws(() => new ChangeFilter({ columns: ["shop.users"] }), { code: "CDC_FILTER" });
});
