/**
 * Generic objects for the Kubernetes API-server stand-in: create (POST), read (GET), replace
 * (PUT), patch, delete and list of any namespaced or cluster-scoped collection
 * (/api/v1/..., /apis/GROUP/VERSION/...), as `lanner deploy` and `undeploy` use them.
 *
 * STUB written by the lead: the deploy engineer implements it. `handle` answers the request
 * and returns true when it is one of its paths, else returns false without answering.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

export class KubeObjectStore {
  handle(_req: IncomingMessage, _res: ServerResponse, _url: URL): boolean {
    return false;
  }
}
