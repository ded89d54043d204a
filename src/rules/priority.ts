/** Falco priorities, most severe first. Parsing is case-insensitive and accepts INFO. */
export const PRIORITIES = [
  "Emergency",
  "Alert",
  "Critical",
  "Error",
  "Warning",
  "Notice",
  "Informational",
  "Debug",
] as const;

export type Priority = (typeof PRIORITIES)[number];

/** Parse a priority name; undefined if unknown. */
export function parsePriority(s: string): Priority | undefined {
  const l = s.trim().toLowerCase();
  if (l === "info") return "Informational";
  for (const p of PRIORITIES) if (p.toLowerCase() === l) return p;
  return undefined;
}

/** 0 = Emergency ... 7 = Debug. */
export function priorityLevel(p: Priority): number {
  return PRIORITIES.indexOf(p);
}
