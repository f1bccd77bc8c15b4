import { ENV } from './env-names';
import { loadEnv, requiredName, type EnvValues } from './env-parsing';

/** The route index writes only the connections table. */
const fields = { connectionsTable: [ENV.connectionsTable, requiredName()] } as const;

export type RouteIndexConfig = EnvValues<typeof fields>;

/** Parsed once per execution environment; a missing variable fails fast with its name. */
export function loadRouteIndexConfig(env: NodeJS.ProcessEnv = process.env): RouteIndexConfig {
  return loadEnv('route index', fields, env);
}
