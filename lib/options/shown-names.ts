/**
 * How messages show option names taken from user objects: names only, never values, and long
 * names cut, since a name can be anything a caller's object holds.
 */

/** A name as a message shows it: names come from user objects, so long ones are cut. */
export function shown(name: string): string {
  return name.length > 64 ? `${name.slice(0, 64)}…` : name;
}

/** Names as a message lists them, each in backticks. */
export function list(names: readonly string[]): string {
  return names.map((name) => `\`${shown(name)}\``).join(', ');
}
