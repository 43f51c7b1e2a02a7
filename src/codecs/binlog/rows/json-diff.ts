import { quote } from "./json-binary.ts";
import type { JsonDiff } from "./types.ts";

/**
 * Applies the logical JSON diffs of a PARTIAL_UPDATE_ROWS event (JSON_SET/JSON_REPLACE/JSON_REMOVE
 * done in place) to the before document, giving the after document in MySQL's text form. Numbers
 * keep their exact text: the documents are handled as token trees, never through JS numbers.
 */
type Node =
  | { t: "obj"; entries: Array<[string, Node]> }
  | { t: "arr"; items: Node[] }
  | { t: "raw"; text: string };

class Parser {
  i = 0;
  constructor(readonly s: string) {}
  ws(): void {
    while (this.i < this.s.length && " \t\n\r".includes(this.s[this.i]!)) this.i++;
  }
  value(): Node {
    this.ws();
    const ch = this.s[this.i];
    if (ch === "{") {
      this.i++;
      const entries: Array<[string, Node]> = [];
      this.ws();
      if (this.s[this.i] === "}") {
        this.i++;
        return { t: "obj", entries };
      }
      for (;;) {
        this.ws();
        const key = JSON.parse(this.stringToken()) as string;
        this.ws();
        this.expect(":");
        entries.push([key, this.value()]);
        this.ws();
        if (this.s[this.i] === ",") {
          this.i++;
          continue;
        }
        this.expect("}");
        return { t: "obj", entries };
      }
    }
    if (ch === "[") {
      this.i++;
      const items: Node[] = [];
      this.ws();
      if (this.s[this.i] === "]") {
        this.i++;
        return { t: "arr", items };
      }
      for (;;) {
        items.push(this.value());
        this.ws();
        if (this.s[this.i] === ",") {
          this.i++;
          continue;
        }
        this.expect("]");
        return { t: "arr", items };
      }
    }
    if (ch === '"') return { t: "raw", text: this.stringToken() };
    const m = /^(?:true|false|null|-?[0-9][0-9.eE+-]*)/.exec(this.s.slice(this.i, this.i + 400));
    if (!m) throw new Error(`unexpected character at ${this.i}`);
    this.i += m[0].length;
    return { t: "raw", text: m[0] };
  }
  stringToken(): string {
    const start = this.i;
    this.expect('"');
    while (this.i < this.s.length && this.s[this.i] !== '"') this.i += this.s[this.i] === "\\" ? 2 : 1;
    this.expect('"');
    return this.s.slice(start, this.i);
  }
  expect(c: string): void {
    if (this.s[this.i] !== c) throw new Error(`expected ${c} at ${this.i}`);
    this.i++;
  }
}

export function render(n: Node): string {
  switch (n.t) {
    case "raw":
      return n.text;
    case "arr":
      return `[${n.items.map(render).join(", ")}]`;
    case "obj":
      return `{${n.entries.map(([k, v]) => `${quote(k)}: ${render(v)}`).join(", ")}}`;
  }
}

type Leg = { key: string } | { index: number; last: boolean };

/** MySQL path as logged: `$`, `.key`, `."quoted key"`, `[n]`, `[last]`, `[last-n]`. */
function parsePath(path: string): Leg[] | undefined {
  if (!path.startsWith("$")) return undefined;
  const legs: Leg[] = [];
  let i = 1;
  while (i < path.length) {
    if (path[i] === ".") {
      i++;
      if (path[i] === '"') {
        let j = i + 1;
        while (j < path.length && path[j] !== '"') j += path[j] === "\\" ? 2 : 1;
        legs.push({ key: JSON.parse(path.slice(i, j + 1)) as string });
        i = j + 1;
      } else {
        const m = /^[^.[]+/.exec(path.slice(i));
        if (!m) return undefined;
        legs.push({ key: m[0] });
        i += m[0].length;
      }
    } else if (path[i] === "[") {
      const j = path.indexOf("]", i);
      if (j < 0) return undefined;
      const inner = path.slice(i + 1, j).trim();
      const last = /^last(?:\s*-\s*(\d+))?$/.exec(inner);
      if (last) legs.push({ index: Number(last[1] ?? 0), last: true });
      else if (/^\d+$/.test(inner)) legs.push({ index: Number(inner), last: false });
      else return undefined;
      i = j + 1;
    } else {
      return undefined;
    }
  }
  return legs;
}

/** MySQL orders object keys by length, then by bytes. */
function keyOrder(a: string, b: string): number {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length !== bb.length ? ab.length - bb.length : Buffer.compare(ab, bb);
}

function arrayIndex(leg: { index: number; last: boolean }, length: number): number {
  return leg.last ? length - 1 - leg.index : leg.index;
}

/** Returns the after document, or undefined when a diff cannot be applied to this before document. */
export function applyJsonDiffs(before: string, diffs: readonly JsonDiff[]): string | undefined {
  let root: Node;
  try {
    root = new Parser(before).value();
  } catch {
    return undefined;
  }
  for (const d of diffs) {
    const legs = parsePath(d.path);
    if (legs === undefined) return undefined;
    let value: Node | undefined;
    try {
      value = d.value === undefined ? undefined : new Parser(d.value.text).value();
    } catch {
      return undefined;
    }
    if (legs.length === 0) {
      if (d.op !== "replace" || value === undefined) return undefined;
      root = value;
      continue;
    }
    let parent: Node = root;
    for (const leg of legs.slice(0, -1)) {
      let next: Node | undefined;
      if ("key" in leg)
        next = parent.t === "obj" ? parent.entries.find(([k]) => k === leg.key)?.[1] : undefined;
      else next = parent.t === "arr" ? parent.items[arrayIndex(leg, parent.items.length)] : undefined;
      if (next === undefined) return undefined;
      parent = next;
    }
    const leg = legs[legs.length - 1]!;
    if ("key" in leg) {
      if (parent.t !== "obj") return undefined;
      const at = parent.entries.findIndex(([k]) => k === leg.key);
      if (d.op === "remove") {
        if (at >= 0) parent.entries.splice(at, 1);
      } else if (at >= 0) {
        parent.entries[at]![1] = value!;
      } else {
        parent.entries.push([leg.key, value!]);
        parent.entries.sort(([a], [b]) => keyOrder(a, b));
      }
    } else {
      if (parent.t !== "arr") return undefined;
      const at = arrayIndex(leg, parent.items.length);
      if (d.op === "remove") parent.items.splice(at, 1);
      else if (d.op === "replace") parent.items[at] = value!;
      else parent.items.splice(Math.min(at, parent.items.length), 0, value!);
    }
  }
  return render(root);
}
