/** `{ [key]: value }`, or `{}` when value is undefined: spread into an object so an absent field stays absent. */
export function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
