/**
 * The fixed names of a Lanner deployment: the kubectl plugin, the agent and the tests rely on
 * them (deploy/README.md).
 */
export const DEFAULT_NAMESPACE = "lanner";
export const NAME = "lanner";
export const APP_LABEL = "app.kubernetes.io/name";
export const TLS_SECRET = "lanner-tls";
export const CLIENT_TLS_SECRET = "lanner-client-tls";
export const CONFIG_MAP = "lanner-config";
export const METRICS_SERVICE = "lanner-metrics";
export const GRPC_PORT = 7100;
export const METRICS_PORT = 8765;
/** The DNS name in the server certificate; clients check it (the agents are reached by pod IP). */
export const SERVER_NAME = "lanner-agent";

/**
 * On the DaemonSet's pod template: the SHA-256 of the server certificate the agents use, so
 * that new certificates (`lanner deploy --rotate-certs`) roll the agents. Set when the
 * certificates are known (deploy, --print), absent from deploy/lanner.yaml.
 */
export const TLS_FINGERPRINT_ANNOTATION = "lanner.dev/tls-server-sha256";

/** Where the node's files the agent reads (its etc/) are mounted in the container. */
export const HOST_ROOT = "/host";

/** Where the container finds what is mounted into it. */
export const CONTAINER_PATHS = {
  config: "/etc/lanner/config/lanner.yaml",
  rules: "/etc/lanner/config/rules",
  tls: "/etc/lanner/tls",
} as const;
