/**
 * Hostile input: property-based fuzzing (fast-check) of the handshake, the intake entry, the body parser
 * and the notification path in process, then crafted requests and a sample of the fuzzed inputs over HTTP against
 * the running stack. Figures: inputs tried, crashes, 5xx for bad input, forged or misrouted items published,
 * prototype pollution, wrong handshake echoes, reflected headers, secrets echoed, and the stack still running. Then
 * what hostile requests cost the stack (hostile-cost.ts): log bytes and lines, answer bytes, the same answer for an
 * unknown id as for a refused clientState, and no Secrets Manager or DynamoDB read for made-up integration ids.
 *
 * A failing property is logged with its fast-check seed and shrunk input (secrets redacted); RELIABILITY_FUZZ_SEED
 * replays a run.
 */
import { prototypeSnapshot, fail, newTally } from './hostile-checks';
import { measureHostileCost } from './hostile-cost';
import { runOverHttp } from './hostile-http';
import { runInProcess } from './hostile-inprocess';
import type { Phase } from './phase';
import type { Figure } from './report';

export const runHostilePhase: Phase = async (context) => {
  const { stack, profile } = context;
  const started = performance.now();
  const log = (line: string) => context.log(`${line} [${((performance.now() - started) / 1000).toFixed(1)} s]`);
  const { runsPerProperty, httpSamples } = profile.fuzz;
  const tally = newTally();
  const pollution = prototypeSnapshot();
  const registerSecret = (value: string, label: string) => context.secrets.add(value, label);

  // Anything thrown outside a request's own handling (a stray rejection, a timer) counts as a crash.
  const onUncaught = (error: unknown) => fail(tally, 'crashes', `uncaught: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`, []);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  let properties: number;
  let http: Awaited<ReturnType<typeof runOverHttp>>;
  let cost: Figure[];
  try {
    log(`hostile: in process, ${runsPerProperty} runs per property`);
    const inProcess = await runInProcess({ tally, runs: runsPerProperty, crafted: true, log, registerSecret });
    properties = inProcess.properties;
    log(`hostile: in process done, ${tally.inputs} inputs (${inProcess.crafted} crafted)`);
    http = await runOverHttp({ tally, stack, samples: httpSamples, log, registerSecret });
    log(`hostile: over HTTP done, ${http.requests} requests, ${http.unanswered} closed without an answer, ${http.eventsChecked} events checked`);
    cost = await measureHostileCost({ tally, stack, ...profile.hostileCost, log, registerSecret });
  } finally {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  }
  const polluted = pollution();
  if (polluted !== undefined) fail(tally, 'pollution', polluted, []);
  for (const line of tally.failures) log(`hostile: FAILED ${line}`);
  log(`hostile: statuses ${[...tally.statuses.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(', ')}`);

  const promised = properties * runsPerProperty + httpSamples + Math.floor(httpSamples / 4);
  const figure = (name: string, value: number, kind: Figure['kind'], threshold?: number, unit = ''): Figure => ({
    phase: 'hostile',
    name,
    value,
    unit,
    kind,
    ...(threshold === undefined ? {} : { threshold }),
  });
  return [
    figure('inputs tried (fuzzed and crafted, in process and over HTTP)', tally.inputs, 'min', promised),
    figure('HTTP requests to the running stack', http.requests, 'min', httpSamples),
    figure('crashes (throws of code that must not throw, uncaught errors)', tally.crashes, 'max', 0),
    figure('answers other than documented (statuses, crafted expectations)', tally.unexpected, 'max', 0),
    figure('5xx answers to bad input', tally.serverErrors, 'max', 0),
    figure('forged items sent over HTTP', http.forgedItemsSent, 'report'),
    figure('forged items published', tally.forgedPublished, 'max', 0),
    figure("items routed to another tenant's connection", tally.misrouted, 'max', 0),
    figure('prototype pollution detected', tally.pollution, 'max', 0),
    figure('handshake answers not echoing the escaped token as text/plain', tally.handshakeWrong, 'max', 0),
    figure('headers reflected or injected', tally.reflected, 'max', 0),
    figure('secrets echoed in answers or log fields', tally.secretEchoed, 'max', 0),
    figure('legitimate items published over HTTP', http.published, 'min', http.publishable, `of ${http.publishable}`),
    ...cost,
    figure('stack running after hostile input (1 = yes)', stack.running() ? 1 : 0, 'min', 1),
  ];
};
