// The logging hook of the outputs layer. The agent passes its own; the default writes to stderr.

export type LogLevel = "debug" | "info" | "warn" | "error";
export type Logger = (level: LogLevel, message: string) => void;

export const stderrLogger: Logger = (level, message) => {
  process.stderr.write(`lanner: ${level}: ${message}\n`);
};

export const silentLogger: Logger = () => {};
