/** JSON text for a value that may contain bigints (written as plain integers). */
export function jsonStringify(v: unknown): string {
  if (v === null || v === undefined) return "null";
  switch (typeof v) {
    case "string":
      return JSON.stringify(v);
    case "number":
      return Number.isFinite(v) ? String(v) : "null";
    case "bigint":
      return v.toString();
    case "boolean":
      return v ? "true" : "false";
    case "object": {
      if (Array.isArray(v)) return `[${v.map(jsonStringify).join(",")}]`;
      let s = "{";
      let first = true;
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (x === undefined) continue;
        s += `${first ? "" : ","}${JSON.stringify(k)}:${jsonStringify(x)}`;
        first = false;
      }
      return s + "}";
    }
    default:
      return "null";
  }
}
