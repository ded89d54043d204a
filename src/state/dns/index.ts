export {
  canonicalIp,
  DomainNames,
  type DomainNamesOptions,
  type DomainNamesStats,
  type Lookup,
} from "./domain-names.js";
