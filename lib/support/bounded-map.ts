/**
 * Sets `key` as the newest entry of `map` and drops the oldest once there are more than `limit`:
 * the per-session memories of the repository (lazy touch, key shapes) stay bounded this way.
 */
export function setNewest<K, V>(map: Map<K, V>, key: K, value: V, limit: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > limit) {
    const oldest = map.keys().next();
    if (oldest.done !== true) map.delete(oldest.value);
  }
}
