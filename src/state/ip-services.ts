/**
 * Port -> service name from the host's /etc/services (fd.sproto: 443 -> https), read once
 * on first use. A missing or unreadable file leaves every name unknown.
 */
import { readFileSync } from "node:fs";

export class IpServices {
  private byPort: Map<string, string> | null = null;

  constructor(private readonly path = "/etc/services") {}

  /** The service name of `port` for `proto` (tcp, udp), or null. */
  name(port: number, proto: string | null): string | null {
    const m = (this.byPort ??= this.load());
    return m.get(`${port}/${proto ?? "tcp"}`) ?? (proto === null ? (m.get(`${port}/udp`) ?? null) : null);
  }

  private load(): Map<string, string> {
    const m = new Map<string, string>();
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch {
      return m;
    }
    for (const raw of text.split("\n")) {
      const line = raw.split("#")[0]?.trim() ?? "";
      const [name, portProto] = line.split(/\s+/);
      if (name === undefined || portProto === undefined || !/^\d+\/\w+$/.test(portProto)) continue;
      if (!m.has(portProto)) m.set(portProto, name);
    }
    return m;
  }
}
