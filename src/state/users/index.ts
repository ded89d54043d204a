export { parseGroup, parsePasswd, type GroupEntry, type PasswdEntry } from "./passwd.js";
export {
  NO_LOGINUID,
  UserResolver,
  type GroupInfo,
  type UserInfo,
  type UserResolverOptions,
} from "./user-resolver.js";
