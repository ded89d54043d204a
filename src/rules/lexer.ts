/**
 * Lexer for the Falco condition language.
 *
 * The language is context sensitive (a bare value such as `runc:[0:PARENT]` or `<` is
 * a different token from a field or an operator), so the parser asks for the kind of
 * token it expects: `nextExpr()` in expression position, `nextOperator()` after a field,
 * `nextValue()` on the right-hand side and inside lists. Every token carries its start
 * and end offsets in the condition string.
 */
import { WORD_OPERATORS } from "./ast.js";

export type TokenKind =
  | "lparen"
  | "rparen"
  | "comma"
  | "word" // identifier, keyword, field name (possibly with [arg]) or bare value
  | "string" // quoted string, value unescaped
  | "op" // comparison operator
  | "eof";

export interface Token {
  readonly kind: TokenKind;
  /** Source text of the token. */
  readonly text: string;
  /** Unescaped value for strings; same as text otherwise. */
  readonly value: string;
  readonly start: number;
  readonly end: number;
  /** For field words `name[arg]`: the argument and its offset. */
  readonly arg?: { readonly text: string; readonly start: number };
}

export class LexError extends Error {
  readonly offset: number;
  constructor(offset: number, message: string) {
    super(message);
    this.name = "LexError";
    this.offset = offset;
  }
}

export function isWordOperator(s: string): boolean {
  return WORD_OPERATORS.has(s);
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 8 || c === 12 || c === 11;
}
function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}
function isIdentChar(c: number): boolean {
  return isIdentStart(c) || (c >= 48 && c <= 57);
}
/** Characters that end a bare value: whitespace ( ) , = " ' */
function endsBare(c: number): boolean {
  return isSpace(c) || c === 40 || c === 41 || c === 44 || c === 61 || c === 34 || c === 39;
}

export class Lexer {
  readonly text: string;
  pos = 0;

  constructor(text: string) {
    this.text = text;
  }

  skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length && isSpace(t.charCodeAt(this.pos))) this.pos++;
  }

  atEnd(): boolean {
    this.skipSpace();
    return this.pos >= this.text.length;
  }

  /** Offset of the next non-space character. */
  peekOffset(): number {
    this.skipSpace();
    return this.pos;
  }

  peekChar(): string {
    this.skipSpace();
    return this.text.charAt(this.pos);
  }

  private simple(kind: TokenKind, len: number): Token {
    const start = this.pos;
    this.pos += len;
    const text = this.text.slice(start, this.pos);
    return { kind, text, value: text, start, end: this.pos };
  }

  private eof(): Token {
    return { kind: "eof", text: "", value: "", start: this.pos, end: this.pos };
  }

  /**
   * Expression position: `(`, `)`, `,`, or a word: identifier, keyword, transformer name
   * or field name `a.b.c` with an optional `[arg]` right after it.
   */
  nextExpr(): Token {
    this.skipSpace();
    const t = this.text;
    if (this.pos >= t.length) return this.eof();
    const c = t.charCodeAt(this.pos);
    if (c === 40) return this.simple("lparen", 1);
    if (c === 41) return this.simple("rparen", 1);
    if (c === 44) return this.simple("comma", 1);
    if (c === 34 || c === 39) return this.quoted();
    if (!isIdentStart(c)) {
      throw new LexError(this.pos, `unexpected character '${t.charAt(this.pos)}'`);
    }
    const start = this.pos;
    let p = this.pos + 1;
    while (p < t.length && isIdentChar(t.charCodeAt(p))) p++;
    // dotted segments: a segment may start with a digit or letter (k8s.pod.label.io.x)
    while (p + 1 < t.length && t.charCodeAt(p) === 46 && isIdentChar(t.charCodeAt(p + 1))) {
      p += 2;
      while (p < t.length && (isIdentChar(t.charCodeAt(p)) || t.charCodeAt(p) === 45)) p++;
    }
    const name = t.slice(start, p);
    if (p < t.length && t.charCodeAt(p) === 91 /* [ */ && name.includes(".")) {
      const close = t.indexOf("]", p + 1);
      if (close < 0) throw new LexError(p, `unterminated field argument '['`);
      const argText = t.slice(p + 1, close);
      this.pos = close + 1;
      return {
        kind: "word",
        text: t.slice(start, this.pos),
        value: name,
        start,
        end: this.pos,
        arg: { text: argText, start: p + 1 },
      };
    }
    this.pos = p;
    return { kind: "word", text: name, value: name, start, end: p };
  }

  /** After a field: a symbolic operator or a word (checked by the parser). */
  nextOperator(): Token {
    this.skipSpace();
    const t = this.text;
    if (this.pos >= t.length) return this.eof();
    const c = t.charCodeAt(this.pos);
    const d = this.pos + 1 < t.length ? t.charCodeAt(this.pos + 1) : 0;
    if (c === 61) return this.simple("op", d === 61 ? 2 : 1); // = ==
    if (c === 33 && d === 61) return this.simple("op", 2); // !=
    if (c === 60 || c === 62) return this.simple("op", d === 61 ? 2 : 1); // < <= > >=
    if (c === 40) return this.simple("lparen", 1);
    if (c === 41) return this.simple("rparen", 1);
    if (c === 44) return this.simple("comma", 1);
    if (isIdentStart(c)) {
      const start = this.pos;
      let p = this.pos + 1;
      while (p < t.length && isIdentChar(t.charCodeAt(p))) p++;
      this.pos = p;
      const w = t.slice(start, p);
      return { kind: "word", text: w, value: w, start, end: p };
    }
    throw new LexError(this.pos, `expected an operator, found '${t.charAt(this.pos)}'`);
  }

  /** Right-hand side or list item: `(`, `)`, `,`, a quoted string or a bare value. */
  nextValue(): Token {
    this.skipSpace();
    const t = this.text;
    if (this.pos >= t.length) return this.eof();
    const c = t.charCodeAt(this.pos);
    if (c === 40) return this.simple("lparen", 1);
    if (c === 41) return this.simple("rparen", 1);
    if (c === 44) return this.simple("comma", 1);
    if (c === 34 || c === 39) return this.quoted();
    if (c === 61) throw new LexError(this.pos, `unexpected '='`);
    const start = this.pos;
    let p = this.pos;
    while (p < t.length && !endsBare(t.charCodeAt(p))) p++;
    this.pos = p;
    const w = t.slice(start, p);
    return { kind: "word", text: w, value: w, start, end: p };
  }

  /** Quoted string with escapes \\ \" \' \n \t \r \b \f \xHH; other escapes are kept verbatim. */
  private quoted(): Token {
    const t = this.text;
    const start = this.pos;
    const q = t.charCodeAt(start);
    let p = start + 1;
    let out = "";
    let chunk = p;
    for (;;) {
      if (p >= t.length) throw new LexError(start, "unterminated string");
      const c = t.charCodeAt(p);
      if (c === q) break;
      if (c === 92 /* \ */) {
        out += t.slice(chunk, p);
        const e = t.charAt(p + 1);
        switch (e) {
          case "\\":
          case '"':
          case "'":
            out += e;
            p += 2;
            break;
          case "n":
            out += "\n";
            p += 2;
            break;
          case "t":
            out += "\t";
            p += 2;
            break;
          case "r":
            out += "\r";
            p += 2;
            break;
          case "b":
            out += "\b";
            p += 2;
            break;
          case "f":
            out += "\f";
            p += 2;
            break;
          case "x": {
            const hex = t.slice(p + 2, p + 4);
            if (!/^[0-9a-fA-F]{2}$/.test(hex)) {
              throw new LexError(p, `invalid escape '\\x${hex}': expected two hex digits`);
            }
            out += String.fromCharCode(parseInt(hex, 16));
            p += 4;
            break;
          }
          case "":
            throw new LexError(start, "unterminated string");
          default:
            // keep unknown escapes (regex patterns such as '\d' or '\.') as written
            out += "\\" + e;
            p += 2;
        }
        chunk = p;
        continue;
      }
      p++;
    }
    out += t.slice(chunk, p);
    this.pos = p + 1;
    return { kind: "string", text: t.slice(start, this.pos), value: out, start, end: this.pos };
  }
}
