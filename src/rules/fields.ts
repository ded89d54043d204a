/**
 * Field registries. A field is one row: its name, type, description AND the code that
 * produces its value, kept together (as libsinsp's filterchecks keep them), so a field that
 * can be listed can be evaluated: there is no way to register a name without a producer.
 *
 * The rules library is generic over what an event is: a registry is built for one kind of
 * event context (the agent's syscall events, a gadget's records, plain objects) and handed
 * to the binder, which resolves names against it; the compiler then calls the producers
 * directly. The syscall registry lives with the engine (src/engine/fields/), next to the
 * state its producers read.
 */

export type FieldType =
  | "string"
  | "path" // file-system path (string compared as text; pmatch is path aware)
  | "bytebuf" // raw bytes (evt.buffer): bcontains / bstartswith
  | "int64"
  | "uint64"
  | "int32"
  | "uint32"
  | "int16"
  | "port" // uint16 port number
  | "double"
  | "bool"
  | "ipaddr"
  | "ipnet" // an address tested against networks: fd.net = 10.0.0.0/8
  | "abstime" // nanoseconds since the epoch
  | "reltime" // nanoseconds
  | "list(string)";

/**
 * none: no argument. index: `[N]` required. key: `[key]` (or `.key` when dotted is true)
 * required. optional: `[N]` or `[KEY]` allowed; what the field yields without one is up to
 * the field (proc.aname: every ancestor; proc.env: the whole environment).
 */
export type ArgKind = "none" | "index" | "key" | "optional";

/** A field value: null when unknown for this event. */
export type FieldValue = string | number | bigint | boolean | readonly string[] | Uint8Array | null;

/**
 * What an event is to the rules library: an opaque object the producers of one registry
 * know how to read. The engine's EventContext, a gadget record or a plain object.
 */
export type EvalContext = object;

/** Reads one field (with its argument already applied) from an event. */
export type Getter = (ev: EvalContext, evtType: string) => FieldValue;

/**
 * How a field with several values per event is compared (libsinsp's semantics):
 * - `any`: the check holds when it holds for any value, whatever the operator, `!=`
 *   included (proc.aname without index: "some ancestor").
 * - `either`: a field naming either end of a connection (fd.ip, fd.net, fd.port, fd.proto):
 *   `=`, `in` and the ordering operators hold when either end matches; `!=` when neither end
 *   is equal (both differ). Only =, !=, in and the numeric orderings apply.
 * - `list`: a list field (fd.types): `in` holds when every value is in the set,
 *   `intersects` when one is; only exists, in and intersects apply.
 */
export type Multi = "any" | "either" | "list";

/** Returns the producer of one field for one argument (called once per use, at compile). */
export type ProducerFactory<C> = (arg: string | number | undefined) => (ctx: C) => FieldValue;

/**
 * A custom comparison, for fields libsinsp compares rather than extracts (fd.sip.name: "is
 * the server IP one of this name's addresses"). Given the operator and literal values,
 * returns the test, or undefined to fall back to the generic comparison of `get`'s value.
 */
export type CompareFactory<C> = (
  op: string,
  values: readonly string[],
  arg: string | number | undefined,
) => ((ctx: C) => boolean) | undefined;

/** One row of a registry as a field class file writes it. */
export interface FieldSpec<C> {
  readonly name: string;
  readonly type: FieldType;
  readonly desc: string;
  readonly arg?: ArgKind;
  /** Key may also follow as a dotted suffix: `evt.arg.flags`, `container.label.io.x`. */
  readonly dotted?: boolean;
  /** Event types that fill it: 'all' (default), 'fd' (events with a file descriptor), or a list. */
  readonly events?: "all" | "fd" | readonly string[];
  readonly deprecated?: boolean;
  /** How several values are compared; without it the field yields at most one value. */
  readonly multi?: Multi | ((arg: string | number | undefined) => Multi | undefined);
  /** Usable in conditions only, not in outputs (libsinsp's EPF_FILTER_ONLY: fd.ip, fd.net). */
  readonly filterOnly?: boolean;
  /** The engine keeps the names this field is compared with resolved (fd.sip.name). */
  readonly watchesLiterals?: boolean;
  /** Printed by `lanner capture` when known (the capture's columns). */
  readonly show?: boolean;
  /** The value: `get` for fields without an argument, `make` when the argument matters. */
  readonly get?: (ctx: C) => FieldValue;
  readonly make?: ProducerFactory<C>;
  readonly compare?: CompareFactory<C>;
  /**
   * Why this host cannot produce the field (a missing kernel feature, no runtime...), or
   * undefined when it can. Asked once when rules are checked; `rules validate` warns.
   */
  readonly unavailable?: () => string | undefined;
}

/** A field class: a prefix (evt, proc, fd...) with a description and its rows. */
export interface FieldClass<C> {
  readonly name: string;
  readonly desc: string;
  readonly fields: readonly FieldSpec<C>[];
}

/** A registered field, type-erased (the compiler works for any context). */
export interface FieldDef {
  readonly id: number;
  readonly name: string;
  readonly type: FieldType;
  readonly desc: string;
  readonly arg: ArgKind;
  readonly dotted: boolean;
  readonly events: "all" | "fd" | readonly string[];
  readonly deprecated: boolean;
  readonly className: string;
  readonly filterOnly: boolean;
  readonly watchesLiterals: boolean;
  readonly show: boolean;
  /** The producer for one argument. */
  producer(arg: string | number | undefined): Getter;
  multiOf(arg: string | number | undefined): Multi | undefined;
  readonly compare: CompareFactory<EvalContext> | undefined;
  unavailable(): string | undefined;
}

export type FieldCategory = "string" | "number" | "bool" | "ip" | "bytes" | "list";

export function categoryOf(t: FieldType): FieldCategory {
  switch (t) {
    case "string":
    case "path":
      return "string";
    case "bytebuf":
      return "bytes";
    case "bool":
      return "bool";
    case "ipaddr":
    case "ipnet":
      return "ip";
    case "list(string)":
      return "list";
    default:
      return "number";
  }
}

export interface ResolvedField {
  readonly def: FieldDef;
  /** Parsed argument: number for numeric arguments, string for keys, undefined if none. */
  readonly arg: string | number | undefined;
}

export type FieldResolution =
  { ok: true; field: ResolvedField } | { ok: false; message: string; unknown: boolean };

/** The schema side of a registry: what the binder needs. */
export interface FieldSchema {
  readonly defs: readonly FieldDef[];
  readonly classes: readonly { readonly name: string; readonly desc: string }[];
  byName(name: string): FieldDef | undefined;
  resolve(name: string, bracketArg: string | undefined): FieldResolution;
  /** Names this registry does not produce but rules files may use (another tool's fields),
   * with the reason: the binder warns and a check on one is false. */
  readonly foreign: ReadonlyMap<string, string>;
}

const NUMERIC_ARG = /^\d+$/;

function erase<C>(s: FieldSpec<C>, id: number, className: string): FieldDef {
  const make = s.make;
  const get = s.get;
  if ((make === undefined) === (get === undefined))
    throw new Error(`field '${s.name}': exactly one of get and make is required`);
  const producer: (arg: string | number | undefined) => Getter =
    make !== undefined ? (arg) => make(arg) as unknown as Getter : () => get as unknown as Getter;
  const multi = s.multi;
  return {
    id,
    name: s.name,
    type: s.type,
    desc: s.desc,
    arg: s.arg ?? "none",
    dotted: s.dotted === true,
    events: s.events ?? "all",
    deprecated: s.deprecated === true,
    className,
    filterOnly: s.filterOnly === true,
    watchesLiterals: s.watchesLiterals === true,
    show: s.show === true,
    producer,
    multiOf: typeof multi === "function" ? multi : () => multi,
    compare: s.compare as CompareFactory<EvalContext> | undefined,
    unavailable: s.unavailable ?? (() => undefined),
  };
}

export class FieldRegistry<C extends EvalContext> implements FieldSchema {
  readonly defs: readonly FieldDef[];
  readonly classes: readonly { readonly name: string; readonly desc: string }[];
  private readonly byNameMap: Map<string, FieldDef>;
  private readonly dottedDefs: readonly FieldDef[];
  readonly foreign: ReadonlyMap<string, string>;

  /**
   * @param foreign names this registry does not produce but a rules file may use (another
   *   tool's fields), with the reason: the binder warns and such a check is false.
   */
  constructor(classes: readonly FieldClass<C>[], foreign: ReadonlyMap<string, string> = new Map()) {
    const defs: FieldDef[] = [];
    const byName = new Map<string, FieldDef>();
    for (const c of classes) {
      for (const s of c.fields) {
        if (byName.has(s.name)) throw new Error(`field '${s.name}' registered twice`);
        if (s.name !== c.name && !s.name.startsWith(`${c.name}.`))
          throw new Error(`field '${s.name}' is not in class '${c.name}'`);
        const d = erase(s, defs.length, c.name);
        defs.push(d);
        byName.set(d.name, d);
      }
    }
    this.defs = defs;
    this.classes = classes.map((c) => ({ name: c.name, desc: c.desc }));
    this.byNameMap = byName;
    // longest first: `container.mount.dest` before `container.mount`
    this.dottedDefs = defs.filter((d) => d.dotted).sort((a, b) => b.name.length - a.name.length);
    this.foreign = foreign;
  }

  byName(name: string): FieldDef | undefined {
    return this.byNameMap.get(name);
  }

  /**
   * Resolve `name` with an optional bracket argument: exact names first, then dotted-key
   * fields (`evt.arg.flags` -> evt.arg with key `flags`).
   */
  resolve(name: string, bracketArg: string | undefined): FieldResolution {
    let def = this.byNameMap.get(name);
    let arg: string | undefined = bracketArg;
    if (def === undefined) {
      for (const d of this.dottedDefs) {
        if (
          name.length > d.name.length + 1 &&
          name.startsWith(d.name) &&
          name.charCodeAt(d.name.length) === 46
        ) {
          if (bracketArg !== undefined)
            return {
              ok: false,
              unknown: false,
              message: `field '${name}' cannot take both a dotted key and '[${bracketArg}]'`,
            };
          def = d;
          arg = name.slice(d.name.length + 1);
          break;
        }
      }
    }
    if (def === undefined) return { ok: false, unknown: true, message: `unknown field '${name}'` };
    const bad = (message: string): FieldResolution => ({ ok: false, unknown: false, message });
    switch (def.arg) {
      case "none":
        if (arg !== undefined) return bad(`field '${def.name}' does not take an argument`);
        return { ok: true, field: { def, arg: undefined } };
      case "index":
        if (arg === undefined) return bad(`field '${def.name}' requires an index argument: ${def.name}[N]`);
        if (!NUMERIC_ARG.test(arg)) return bad(`field '${def.name}' requires a numeric index, got '${arg}'`);
        return { ok: true, field: { def, arg: Number(arg) } };
      case "key":
        if (arg === undefined || arg === "")
          return bad(`field '${def.name}' requires an argument: ${def.name}[...]`);
        return { ok: true, field: { def, arg: NUMERIC_ARG.test(arg) ? Number(arg) : arg } };
      case "optional":
        if (arg === undefined) return { ok: true, field: { def, arg: undefined } };
        if (arg === "") return bad(`field '${def.name}' has an empty argument`);
        return { ok: true, field: { def, arg: NUMERIC_ARG.test(arg) ? Number(arg) : arg } };
    }
  }
}

/** Plain records keyed by field text (`proc.name`, `proc.aname[2]`, `evt.arg.flags`). */
export type FieldRecord = Readonly<Record<string, FieldValue | undefined>>;

/**
 * The same schema over plain records: each field reads `rec["name"]` (or `rec["name[arg]"]`
 * / `rec["name.arg"]`). For gadget records that are already objects keyed by field names,
 * for tests, and for `lanner rules` tooling. Comparison semantics are the original's, custom
 * comparisons excepted (they read the record's value).
 */
export function recordRegistry(schema: FieldSchema): FieldRegistry<FieldRecord> {
  const byClass = new Map<string, FieldSpec<FieldRecord>[]>();
  for (const c of schema.classes) byClass.set(c.name, []);
  for (const d of schema.defs) {
    const name = d.name;
    byClass.get(d.className)?.push({
      name,
      type: d.type,
      desc: d.desc,
      arg: d.arg,
      dotted: d.dotted,
      events: d.events,
      deprecated: d.deprecated,
      multi: (a) => d.multiOf(a),
      filterOnly: d.filterOnly,
      watchesLiterals: d.watchesLiterals,
      show: d.show,
      make: (arg) => {
        if (arg === undefined) return (r) => r[name] ?? null;
        const k1 = `${name}[${arg}]`;
        const k2 = `${name}.${arg}`;
        return (r) => r[k1] ?? r[k2] ?? null;
      },
    });
  }
  return new FieldRegistry(
    schema.classes.map((c) => ({ name: c.name, desc: c.desc, fields: byClass.get(c.name) ?? [] })),
    schema.foreign,
  );
}
