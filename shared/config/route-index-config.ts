import * as z from 'zod';
import { describeIssues } from '../graph/change-notification';
import { ENV } from './env-names';
import { ConfigError } from './intake-config';

/** The route index writes only the connections table. */
export interface RouteIndexConfig {
  connectionsTable: string;
}

const schema = z.object({ [ENV.connectionsTable]: z.string().min(1) });

/** Parsed once per execution environment; a missing variable fails fast with its name. */
export function loadRouteIndexConfig(env: NodeJS.ProcessEnv = process.env): RouteIndexConfig {
  const parsed = schema.safeParse(env);
  if (!parsed.success) throw new ConfigError(`route index configuration is invalid: ${describeIssues(parsed.error)}`);
  return { connectionsTable: parsed.data[ENV.connectionsTable] };
}
