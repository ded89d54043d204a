/**
 * Positions inside YAML scalars. A condition's diagnostics point into the original file:
 * the scalar's position plus the offset inside it, following quotes, escapes and the
 * line folding of plain, quoted and block scalars.
 */
import type { Scalar } from "yaml";
import type { LineIndex, SourceRef } from "./diagnostics.js";

function isWs(c: string): boolean {
  return c === " " || c === "\t" || c === "\n" || c === "\r";
}

function escapeLength(s: string, j: number): number {
  const e = s.charAt(j + 1);
  if (e === "x") return 4;
  if (e === "u") return 6;
  if (e === "U") return 10;
  if (e === "\n") {
    // escaped line break: skip it and the next line's indentation
    let k = j + 2;
    while (k < s.length && (s.charAt(k) === " " || s.charAt(k) === "\t")) k++;
    return k - j;
  }
  return 2;
}

/** Map each index of `value` to an offset in `fileText`, for the scalar `node`. */
export function scalarOffsetMap(fileText: string, node: Scalar, value: string): Int32Array {
  const range = node.range ?? [0, 0, 0];
  const start = range[0];
  const end = Math.max(range[1], start);
  const s = fileText.slice(start, end);
  const type = node.type;
  const dbl = type === "QUOTE_DOUBLE";
  const sgl = type === "QUOTE_SINGLE";
  let j = 0;
  if (dbl || sgl) j = 1;
  else if (type === "BLOCK_LITERAL" || type === "BLOCK_FOLDED") {
    const nl = s.indexOf("\n");
    j = nl < 0 ? s.length : nl + 1;
  }
  const map = new Int32Array(value.length + 1);
  let i = 0;
  while (i < value.length) {
    if (j >= s.length) {
      map[i++] = start + s.length;
      continue;
    }
    const vc = value.charAt(i);
    const sc = s.charAt(j);
    if (dbl && sc === "\\") {
      map[i++] = start + j;
      j += escapeLength(s, j);
      continue;
    }
    if (sgl && sc === "'" && s.charAt(j + 1) === "'") {
      map[i++] = start + j;
      j += 2;
      continue;
    }
    if (vc === sc) {
      map[i++] = start + j++;
      continue;
    }
    if (isWs(sc)) {
      j++;
      continue;
    }
    if (isWs(vc)) {
      map[i++] = start + j;
      continue;
    }
    map[i++] = start + j++;
  }
  map[value.length] = start + Math.min(j, s.length);
  return map;
}

/** A SourceRef for the string value of a YAML scalar. */
export function scalarSource(
  file: string,
  fileText: string,
  lc: LineIndex,
  node: Scalar,
  value: string,
): SourceRef {
  let map: Int32Array | undefined;
  return {
    file,
    position(offset: number) {
      map ??= scalarOffsetMap(fileText, node, value);
      const o = map[Math.max(0, Math.min(offset, value.length))] ?? 0;
      const p = lc.linePos(o);
      return { line: p.line, col: p.col };
    },
  };
}

/** A SourceRef at a fixed file offset (offsets inside are added as columns). */
export function offsetSource(file: string, lc: LineIndex, at: number): SourceRef {
  return {
    file,
    position(offset: number) {
      const p = lc.linePos(at + offset);
      return { line: p.line, col: p.col };
    },
  };
}

/** Text assembled from pieces (appended conditions): offsets map back to each piece. */
export interface SourcedText {
  readonly text: string;
  readonly src: SourceRef;
}

export function joinSourced(a: SourcedText, b: SourcedText): SourcedText {
  const split = a.text.length + 1;
  const file = a.src.file;
  return {
    text: `${a.text} ${b.text}`,
    src: {
      file,
      position(offset: number) {
        const p = offset < split ? a.src.position(offset) : b.src.position(offset - split);
        return { file: p.file ?? (offset < split ? a.src.file : b.src.file), line: p.line, col: p.col };
      },
    },
  };
}
