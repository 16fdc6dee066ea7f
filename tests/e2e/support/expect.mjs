// What KV must hold, computed independently of the Worker: the default query
// run straight on the emulator, each column typed by hand from its schema.
import { readFileSync } from "node:fs";
import path from "node:path";
import { ROOT, PROJECT } from "./stack.mjs";

export const DEFAULT_QUERY = readFileSync(path.join(ROOT, "sql/default_query.sql"), "utf8").trim().replace(/;$/, "");

/** Microseconds since the epoch (as a decimal string) → RFC 3339 with 6 digits. */
export function microsToIso(micros) {
  const us = BigInt(micros);
  const ms = Number(us / 1000n);
  const frac = String(((us % 1_000_000n) + 1_000_000n) % 1_000_000n).padStart(6, "0");
  return new Date(ms).toISOString().slice(0, 19) + "." + frac + "Z";
}

function typed(field, v) {
  if (v === null) return null;
  switch (field.type) {
    case "INTEGER": return Number(v);
    case "FLOAT": return Number(v);
    case "BOOLEAN": return v === "true";
    case "TIMESTAMP": return microsToIso(v);
    default: return v;
  }
}

/** A full read's window start: the default query prunes with `@since`, so it must be bound. */
export const BEGINNING_OF_TIME = "0001-01-01T00:00:00.000000Z";

/** key → expected KV value object, for every row of the default query. */
export async function expectedValues(emulatorUrl) {
  const response = await fetch(`${emulatorUrl}/bigquery/v2/projects/${PROJECT}/queries`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      query: DEFAULT_QUERY, useLegacySql: false, maxResults: 1_000_000, formatOptions: { useInt64Timestamp: true },
      parameterMode: "NAMED",
      queryParameters: [{ name: "since", parameterType: { type: "TIMESTAMP" }, parameterValue: { value: BEGINNING_OF_TIME } }],
    }),
  });
  const body = await response.json();
  if (body.errors?.length) throw new Error(JSON.stringify(body.errors));
  const fields = body.schema.fields;
  const expected = new Map();
  for (const row of body.rows ?? []) {
    const value = {};
    let key;
    let updatedAt;
    row.f.forEach((cell, i) => {
      const f = fields[i];
      if (f.name === "key") key = cell.v;
      else if (f.name === "updated_at") updatedAt = microsToIso(cell.v);
      else if (f.name !== "deleted") value[f.name] = typed(f, cell.v);
    });
    expected.set(key, { value, updatedAt });
  }
  return expected;
}
