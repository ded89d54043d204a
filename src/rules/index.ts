/**
 * The rules library: Falco's rules language (lexer, parser, field registry, checking,
 * compiler, event-type analysis, outputs, YAML loader). Pure: nothing kernel-side.
 */
export type { Diagnostic, Severity, SourceRef } from "./diagnostics.js";
export { DiagnosticBag, formatDiagnostic, RulesError, stringSource } from "./diagnostics.js";
export type { Token, TokenKind } from "./lexer.js";
export { Lexer, LexError } from "./lexer.js";
export type * from "./ast.js";
export { exprText, fieldExprText } from "./ast.js";
export type { ParseError, ParseResult } from "./parser.js";
export { MAX_DEPTH, MAX_LENGTH, parseCondition, parseFieldExprAt } from "./parser.js";
export type {
  ArgKind,
  CompareFactory,
  EvalContext,
  FieldCategory,
  FieldClass,
  FieldDef,
  FieldRecord,
  FieldResolution,
  FieldSchema,
  FieldSpec,
  FieldType,
  FieldValue,
  Getter,
  Multi,
  ResolvedField,
} from "./fields.js";
export { categoryOf, FieldRegistry, recordRegistry } from "./fields.js";
export type { BoundExpr, BoundFieldExpr } from "./bound.js";
export type { ListEntry, MacroEntry } from "./binder.js";
export { BindContext, bindCondition, operatorFits } from "./binder.js";
export type { Predicate } from "./compiler.js";
export { compileCondition, compileGetter, ConditionCompiler, EVT_TYPE, nextEvent } from "./compiler.js";
export type { EvtSet } from "./evttypes.js";
export { ALL_TYPES, eventTypesOf, evtSetHas, evtSetToString, isAllTypes } from "./evttypes.js";
export type { OutputCompileResult, OutputField, OutputTemplate, OutputValue } from "./output.js";
export { compileOutput, formatRfc3339Nano, formatTimeOfDay, jsonStringify } from "./output.js";
export type { Priority } from "./priority.js";
export { parsePriority, PRIORITIES, priorityLevel } from "./priority.js";
export type { CompiledRule, RuleMatching, RuleSetOptions } from "./ruleset.js";
export { RuleSet } from "./ruleset.js";
export type { LoadOptions, LoadResult, RuleInfo, RulesFileInput } from "./loader.js";
export { ENGINE_VERSION, loadRules, NATIVE_PLUGINS, SOURCES } from "./loader.js";
export { readRulesFiles } from "./files.js";
export { compileFilter } from "./filter.js";
export { compileGlob, type GlobResult } from "./glob.js";
export { domainNamesIn } from "./domains.js";
export type { CompiledFilter } from "./filter.js";
export { buildAlert, alertToJson, alertToText } from "./alert.js";
export type { Alert, AlertContext } from "./alert.js";
export { fieldsJson, renderFieldsMarkdown, renderFieldsText } from "./field-docs.js";
