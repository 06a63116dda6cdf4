/**
 * Load a module on first use. The preload registers hooks for every supported
 * client, but an app that never loads `pg` should not pay to load (and keep in
 * memory) the pg instrumentation's wrappers: startup time and RSS are budgets.
 */
export function lazy<T>(load: () => T): () => T {
  let loaded: { value: T } | undefined;
  return () => (loaded ??= { value: load() }).value;
}
