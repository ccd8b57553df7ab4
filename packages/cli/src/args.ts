// Helpers for yargs option values. Builders run on every invocation (`--help` too), so this
// module imports nothing: a builder that needs it must not load a whole package.

/** Repeatable options: `-t a -t b` (not greedy, so `-t name .` keeps `.` as the context). */
export function asList(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}
