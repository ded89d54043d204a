/**
 * Parser for Falco conditions.
 *
 * Grammar (EBNF). Keywords are case sensitive; `not` binds tighter than `and`, which binds
 * tighter than `or`.
 *
 *   condition   = expr , EOF ;
 *   expr        = or_expr ;
 *   or_expr     = and_expr , { "or" , and_expr } ;
 *   and_expr    = not_expr , { "and" , not_expr } ;
 *   not_expr    = "not" , not_expr | primary ;
 *   primary     = "(" , expr , ")" | check | macro_ref ;
 *   macro_ref   = identifier ;                          (* [A-Za-z_][A-Za-z0-9_]* *)
 *   check       = field_expr , ( unary_op
 *                              | binary_op , [ modifier , list_value ]
 *                              | binary_op , value
 *                              | list_op , list_value ) ;
 *   field_expr  = transformer , "(" , targ , { "," , targ } , ")" | field ;
 *   targ        = field_expr | quoted_string ;
 *   field       = field_name , [ "[" , { any char but "]" } , "]" ] ;
 *   field_name  = identifier , "." , segment , { "." , segment } ;
 *   transformer = "tolower" | "toupper" | "b64" | "basename" | "len" | "join" | "concat" | "getopt" ;
 *   unary_op    = "exists" ;
 *   binary_op   = "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "contains" | "icontains"
 *               | "bcontains" | "startswith" | "bstartswith" | "endswith" | "glob" | "iglob"
 *               | "regex" ;
 *   list_op     = "in" | "intersects" | "pmatch" ;
 *   modifier    = "oneof" | "anyof" | "allof" ;
 *   value       = "val" , "(" , field_expr , ")" | quoted_string | bare_string ;
 *   list_value  = "(" , [ list_item , { "," , list_item } ] , ")" | identifier ;
 *   list_item   = quoted_string | bare_string | "(" , [ list_item , { "," , list_item } ] , ")" ;
 *   bare_string = { any char but whitespace ( ) , = " ' } ;   (* at least one *)
 *   quoted_string = '"' , { char | escape } , '"' | "'" , { char | escape } , "'" ;
 *
 * Hostile input is bounded: nesting (parentheses, `not`, nested lists, transformers) is
 * capped at MAX_DEPTH, far below the JS stack limit, and the text length at MAX_LENGTH.
 */
import type {
  CheckNode,
  Expr,
  FieldExpr,
  ListNode,
  ListOperator,
  Modifier,
  Operator,
  StringNode,
  TransformerName,
  ValueNode,
} from "./ast.js";
import { MODIFIABLE_OPERATORS, TRANSFORMERS } from "./ast.js";
import { clipText, type SourceRef } from "./diagnostics.js";
import { isWordOperator, Lexer, LexError, type Token } from "./lexer.js";

export const MAX_DEPTH = 1000;
export const MAX_LENGTH = 1 << 20;

export interface ParseError {
  readonly offset: number;
  readonly message: string;
}
export type ParseResult = { ok: true; expr: Expr } | { ok: false; error: ParseError };

class ParseFailure extends Error {
  readonly offset: number;
  constructor(offset: number, message: string) {
    super(message);
    this.offset = offset;
  }
}

function describe(t: Token): string {
  if (t.kind === "eof") return "end of condition";
  return t.kind === "string" ? `string ${clipText(t.text)}` : `'${clipText(t.text)}'`;
}

const LIST_OPS: ReadonlySet<string> = new Set(["in", "intersects", "pmatch"]);
const MODIFIER_SET: ReadonlySet<string> = new Set(["oneof", "anyof", "allof"]);

export class Parser {
  private readonly lx: Lexer;
  private readonly src: SourceRef | undefined;
  private depth = 0;

  constructor(text: string, src?: SourceRef) {
    this.lx = new Lexer(text);
    this.src = src;
  }

  /** condition = expr , EOF */
  parseCondition(): Expr {
    const text = this.lx.text;
    if (text.length > MAX_LENGTH) {
      throw new ParseFailure(0, `condition is longer than ${MAX_LENGTH} characters`);
    }
    if (this.lx.atEnd()) throw new ParseFailure(this.lx.pos, "empty condition");
    const e = this.parseExpr();
    const save = this.lx.pos;
    const t = this.lx.nextExpr();
    if (t.kind !== "eof") {
      if (t.kind === "rparen") throw new ParseFailure(t.start, "unbalanced ')'");
      throw new ParseFailure(t.start, `expected 'and', 'or' or end of condition but found ${describe(t)}`);
    }
    this.lx.pos = save;
    return e;
  }

  /** expr = or_expr */
  private parseExpr(): Expr {
    return this.parseOr();
  }

  private peekKeyword(word: string): Token | undefined {
    const save = this.lx.pos;
    let t: Token;
    try {
      t = this.lx.nextExpr();
    } catch {
      this.lx.pos = save;
      return undefined;
    }
    if (t.kind === "word" && t.text === word) return t;
    this.lx.pos = save;
    return undefined;
  }

  /** or_expr = and_expr , { "or" , and_expr } */
  private parseOr(): Expr {
    const first = this.parseAnd();
    let items: Expr[] | undefined;
    while (this.peekKeyword("or") !== undefined) {
      (items ??= [first]).push(this.parseAnd());
    }
    if (items === undefined) return first;
    const last = items[items.length - 1] as Expr;
    return { kind: "or", items, start: first.start, end: last.end, src: this.src };
  }

  /** and_expr = not_expr , { "and" , not_expr } */
  private parseAnd(): Expr {
    const first = this.parseNot();
    let items: Expr[] | undefined;
    while (this.peekKeyword("and") !== undefined) {
      (items ??= [first]).push(this.parseNot());
    }
    if (items === undefined) return first;
    const last = items[items.length - 1] as Expr;
    return { kind: "and", items, start: first.start, end: last.end, src: this.src };
  }

  private enter(offset: number): void {
    if (++this.depth > MAX_DEPTH) {
      throw new ParseFailure(offset, `expression nested deeper than ${MAX_DEPTH} levels`);
    }
  }

  /** not_expr = "not" , not_expr | primary   (iterative over repeated `not`) */
  private parseNot(): Expr {
    const nots: number[] = [];
    for (;;) {
      const t = this.peekKeyword("not");
      if (t === undefined) break;
      this.enter(t.start);
      nots.push(t.start);
    }
    let e = this.parsePrimary();
    for (let i = nots.length - 1; i >= 0; i--) {
      e = { kind: "not", expr: e, start: nots[i] as number, end: e.end, src: this.src };
    }
    this.depth -= nots.length;
    return e;
  }

  /** primary = "(" , expr , ")" | check | macro_ref */
  private parsePrimary(): Expr {
    const t = this.lx.nextExpr();
    if (t.kind === "lparen") {
      this.enter(t.start);
      const e = this.parseExpr();
      const close = this.lx.nextExpr();
      if (close.kind !== "rparen") {
        throw new ParseFailure(close.start, `expected ')' but found ${describe(close)}`);
      }
      this.depth--;
      return e;
    }
    if (t.kind !== "word" || t.text === "and" || t.text === "or") {
      throw new ParseFailure(t.start, `expected a field, a macro, 'not' or '(' but found ${describe(t)}`);
    }
    if (
      t.arg !== undefined ||
      t.value.includes(".") ||
      (TRANSFORMERS.has(t.value) && this.lx.peekChar() === "(")
    ) {
      const lhs = this.fieldExprFrom(t);
      return this.parseCheckRest(lhs);
    }
    // macro reference
    const c = this.lx.peekChar();
    if (c === "=" || c === "<" || c === ">" || (c === "!" && this.lx.text.charAt(this.lx.pos + 1) === "=")) {
      throw new ParseFailure(
        t.start,
        `'${clipText(t.text)}' is not a field name (fields look like 'class.name')`,
      );
    }
    return { kind: "macro", name: t.value, start: t.start, end: t.end, src: this.src };
  }

  /** field_expr, starting from an already-read word */
  private fieldExprFrom(t: Token): FieldExpr {
    if (t.arg === undefined && TRANSFORMERS.has(t.value) && this.lx.peekChar() === "(") {
      this.enter(t.start);
      this.lx.nextExpr(); // (
      const args: (FieldExpr | StringNode)[] = [];
      for (;;) {
        const a = this.lx.nextExpr();
        if (a.kind === "string") {
          args.push({
            kind: "string",
            value: a.value,
            quoted: true,
            start: a.start,
            end: a.end,
            src: this.src,
          });
        } else if (a.kind === "word") {
          args.push(this.fieldExprFrom(a));
        } else {
          throw new ParseFailure(a.start, `expected a field in '${t.value}(' but found ${describe(a)}`);
        }
        const sep = this.lx.nextExpr();
        if (sep.kind === "rparen") {
          this.depth--;
          return {
            kind: "transformer",
            name: t.value as TransformerName,
            args,
            start: t.start,
            end: sep.end,
            src: this.src,
          };
        }
        if (sep.kind !== "comma") {
          throw new ParseFailure(
            sep.start,
            `expected ',' or ')' in '${t.value}(' but found ${describe(sep)}`,
          );
        }
      }
    }
    if (t.kind !== "word" || (!t.value.includes(".") && t.arg === undefined)) {
      throw new ParseFailure(t.start, `expected a field name but found ${describe(t)}`);
    }
    return {
      kind: "field",
      name: t.value,
      arg: t.arg?.text,
      argStart: t.arg?.start,
      start: t.start,
      end: t.end,
      src: this.src,
    };
  }

  /** the part of `check` after field_expr */
  private parseCheckRest(lhs: FieldExpr): CheckNode {
    const opTok = this.lx.nextOperator();
    if (
      opTok.kind === "eof" ||
      opTok.kind === "rparen" ||
      opTok.kind === "lparen" ||
      opTok.kind === "comma"
    ) {
      throw new ParseFailure(
        opTok.start,
        `expected an operator after '${clipText(this.lx.text.slice(lhs.start, lhs.end))}' but found ${describe(opTok)}`,
      );
    }
    if (opTok.kind === "word" && !isWordOperator(opTok.text)) {
      throw new ParseFailure(opTok.start, `unknown operator '${clipText(opTok.text)}'`);
    }
    const op = opTok.text as Operator;
    const base = { kind: "check" as const, lhs, op, opStart: opTok.start, src: this.src, start: lhs.start };
    if (op === "exists") {
      return { ...base, modifier: undefined, rhs: undefined, end: opTok.end };
    }
    if (LIST_OPS.has(op)) {
      const rhs = this.parseListValue(op as ListOperator);
      return { ...base, modifier: undefined, rhs, end: rhs.end };
    }
    // modifier?
    if (MODIFIABLE_OPERATORS.has(op)) {
      const save = this.lx.pos;
      const m = this.lx.nextValue();
      if (m.kind === "word" && MODIFIER_SET.has(m.text) && this.lx.peekChar() === "(") {
        const rhs = this.parseListValue(m.text);
        return { ...base, modifier: m.text as Modifier, rhs, end: rhs.end };
      }
      this.lx.pos = save;
    }
    const rhs = this.parseValue(op);
    return { ...base, modifier: undefined, rhs, end: rhs.end };
  }

  /** value = "val" , "(" , field_expr , ")" | quoted_string | bare_string */
  private parseValue(op: string): ValueNode {
    const t = this.lx.nextValue();
    if (t.kind === "string") {
      return { kind: "string", value: t.value, quoted: true, start: t.start, end: t.end, src: this.src };
    }
    if (t.kind === "word") {
      if (t.text === "val" && this.lx.peekChar() === "(") {
        this.lx.nextValue(); // (
        const f = this.fieldExprFrom(this.lx.nextExpr());
        const close = this.lx.nextExpr();
        if (close.kind !== "rparen") {
          throw new ParseFailure(close.start, `expected ')' after 'val(' field but found ${describe(close)}`);
        }
        return { kind: "val", field: f, start: t.start, end: close.end, src: this.src };
      }
      return { kind: "string", value: t.value, quoted: false, start: t.start, end: t.end, src: this.src };
    }
    throw new ParseFailure(t.start, `expected a value after '${op}' but found ${describe(t)}`);
  }

  /** list_value = "(" , [ list_item , { "," , list_item } ] , ")" | identifier */
  private parseListValue(op: string): ListNode | ValueNode {
    const t = this.lx.nextValue();
    if (t.kind === "lparen") return this.parseListRest(t);
    if (t.kind === "word" && /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(t.text)) {
      return { kind: "listref", name: t.text, start: t.start, end: t.end, src: this.src };
    }
    throw new ParseFailure(t.start, `expected '(' or a list name after '${op}' but found ${describe(t)}`);
  }

  /** list items after '(' */
  private parseListRest(open: Token): ListNode {
    this.enter(open.start);
    const items: (StringNode | ListNode)[] = [];
    let t = this.lx.nextValue();
    if (t.kind === "rparen") {
      this.depth--;
      return { kind: "list", items, start: open.start, end: t.end, src: this.src };
    }
    for (;;) {
      if (t.kind === "string" || t.kind === "word") {
        items.push({
          kind: "string",
          value: t.value,
          quoted: t.kind === "string",
          start: t.start,
          end: t.end,
          src: this.src,
        });
      } else if (t.kind === "lparen") {
        items.push(this.parseListRest(t));
      } else {
        const prevComma = items.length > 0;
        throw new ParseFailure(
          t.start,
          prevComma
            ? `expected a list item after ',' but found ${describe(t)}`
            : `expected a list item but found ${describe(t)}`,
        );
      }
      const sep = this.lx.nextValue();
      if (sep.kind === "rparen") {
        this.depth--;
        return { kind: "list", items, start: open.start, end: sep.end, src: this.src };
      }
      if (sep.kind !== "comma") {
        throw new ParseFailure(sep.start, `expected ',' or ')' in list but found ${describe(sep)}`);
      }
      t = this.lx.nextValue();
    }
  }

  /** Parse one field_expr starting at `offset` (used by output templates). */
  parseFieldExprAt(offset: number): FieldExpr {
    this.lx.pos = offset;
    return this.fieldExprFrom(this.lx.nextExpr());
  }

  get position(): number {
    return this.lx.pos;
  }
}

function wrapErrors<T>(f: () => T): { ok: true; value: T } | { ok: false; error: ParseError } {
  try {
    return { ok: true, value: f() };
  } catch (e) {
    if (e instanceof ParseFailure || e instanceof LexError) {
      return { ok: false, error: { offset: e.offset, message: e.message } };
    }
    if (e instanceof RangeError) {
      // should be unreachable thanks to MAX_DEPTH; never let a stack overflow escape
      return { ok: false, error: { offset: 0, message: "condition too complex" } };
    }
    throw e;
  }
}

/** Parse a condition. Never throws on bad input; the error carries an offset into `text`. */
export function parseCondition(text: string, src?: SourceRef): ParseResult {
  const r = wrapErrors(() => new Parser(text, src).parseCondition());
  return r.ok ? { ok: true, expr: r.value } : r;
}

/** Parse one field expression at `offset`; returns it and the offset after it. */
export function parseFieldExprAt(
  text: string,
  offset: number,
  src?: SourceRef,
): { ok: true; expr: FieldExpr; end: number } | { ok: false; error: ParseError } {
  const p = new Parser(text, src);
  const r = wrapErrors(() => p.parseFieldExprAt(offset));
  return r.ok ? { ok: true, expr: r.value, end: p.position } : r;
}
