/**
 * gRPC listen addresses, without the gRPC library: configuration checks them before (and
 * whether) the server module is loaded.
 */
export const DEFAULT_GRPC_ADDRESS = "unix:///run/lanner/lanner.sock";

/** The socket path of a `unix://` address, or undefined for TCP. */
export function unixSocketPath(address: string): string | undefined {
  if (address.startsWith("unix://")) return address.slice("unix://".length);
  if (address.startsWith("unix:")) return address.slice("unix:".length);
  return undefined;
}
