import { connectionsTable, loadEnv, type EnvValues } from './env-parsing';

/** The route index writes only the connections table. */
const fields = { connectionsTable } as const;

export type RouteIndexConfig = EnvValues<typeof fields>;

/** Parsed once per execution environment; a missing variable fails fast with its name. */
export function loadRouteIndexConfig(env: NodeJS.ProcessEnv = process.env): RouteIndexConfig {
  return loadEnv('route index', fields, env);
}
