/**
 * TROUBLESHOOTING.md is looked up by the exact texts the product and Graph print, so it is checked against the code
 * both ways, reading the sources as they are (nothing here lists the texts, so a text changed in the code fails
 * this test until the entry follows):
 * - every quoted key text of an entry heading (and of README's troubleshooting table) appears in the product's
 *   source (functions/, shared/, cli/, local/) or in what the tests record of Graph (the Graph fake, the fixtures);
 * - every answer the intake gives, with its status, has an entry: the status in the heading and the text in the entry;
 * - every status in the heading of an intake entry is one the intake answers with that entry's text;
 * - every `see TROUBLESHOOTING.md "…"` the product prints names an entry.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return filesUnder(path);
    return /\.(ts|json|txt)$/.test(name) ? [path] : [];
  });
}

const PRODUCT = ['functions', 'shared', 'cli', 'local'].flatMap(filesUnder);
const RECORDED_GRAPH = ['testkit/graph-fake', 'test/fixtures'].flatMap(filesUnder);
// A text quoted in a comment may be wrapped over lines: ` * ` continuations read as one space.
const corpus = [...PRODUCT, ...RECORDED_GRAPH].map(read).join('\n').replace(/\n\s*\* ?/g, ' ');
const productSource = PRODUCT.map(read).join('\n');

interface Entry {
  heading: string;
  /** The heading and its body. */
  text: string;
}

/** The `###` entries of TROUBLESHOOTING.md, each with the `##` section it is under. */
function entries(): (Entry & { section: string })[] {
  const found: (Entry & { section: string })[] = [];
  let section = '';
  for (const line of read('TROUBLESHOOTING.md').split('\n')) {
    if (line.startsWith('## ')) section = line.slice(3);
    else if (line.startsWith('### ')) found.push({ section, heading: line.slice(4), text: line });
    else if (found.length > 0 && !line.startsWith('#')) {
      const last = found[found.length - 1];
      if (last !== undefined) last.text += `\n${line}`;
    }
  }
  return found;
}

/** README's troubleshooting table: the first cell of each row. */
function readmeKeys(): string[] {
  const readme = read('README.md');
  const start = readme.indexOf('\n## Troubleshooting\n');
  const end = readme.indexOf('\n## ', start + 1);
  return readme
    .slice(start, end)
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| you see') && !line.startsWith('|---'))
    .map((line) => line.split(' | ')[0] ?? '');
}

/**
 * The literal parts of a key text: `…` and `<placeholders>` stand for any text, and the JSON around an answer's
 * `error` is the intake's wrapping, not its text. Very short parts (a quote, a status) say nothing on their own.
 */
function fragments(key: string): string[] {
  return key
    // Put together from two values: the identity platform's code and its message (`AADSTS${code}: ${text}`), and a
    // thrown error's class and message as Node prints them (`PayloadRefError: …`).
    .split(/…|<[^>]+>|\{"\w+":"|"\}|(?<=AADSTS\d+): |(?<=\b[A-Z]\w*Error): /)
    .map((part) => part.trim().replace(/^['"(,;:\s]+|['"),;:\s]+$/g, ''))
    .filter((part) => part.length >= 6);
}

function quoted(text: string): string[] {
  return [...text.matchAll(/`([^`]+)`/g)].map((match) => match[1] ?? '');
}

/** A template literal's or a string's static parts, `${…}` standing for any text. */
function literalParts(literal: string): string[] {
  return literal.split(/\$\{[^}]*\}/).map((part) => part.trim().replace(/^[;:,\s]+|[;:,\s]+$/g, '')).filter((part) => part.length >= 6);
}

interface Answer {
  status: number;
  /** The static parts of the text the answer carries. */
  parts: string[];
  where: string;
}

/** What the intake answers, read from its code: each status with its literal text. */
function intakeAnswers(): Answer[] {
  const answers: Answer[] = [];
  const intakeFiles = [...filesUnder('functions/intake'), ...filesUnder('shared/intake')];
  for (const file of intakeFiles) {
    const source = read(file);
    // `json(405, { error: `method ${method} not allowed; …` })`, and `warning:` texts, on the answer's own line.
    for (const match of source.matchAll(/json\((\d{3}),[^\n]*?\b(?:error|warning): (['`])((?:(?!\2).)+)\2/g)) {
      answers.push({ status: Number(match[1]), parts: literalParts(match[3] ?? ''), where: `${file}: ${match[0]}` });
    }
    // Checks that answer before the domain: `{ ok: false, statusCode: 403, reason: '…' }`.
    for (const match of source.matchAll(/statusCode: (\d{3}), reason: (['`])((?:(?!\2).)+)\2/g)) {
      answers.push({ status: Number(match[1]), parts: literalParts(match[3] ?? ''), where: `${file}: ${match[0]}` });
    }
  }
  // The domain's outcomes, each answered with the status its kind gets in respond(), and with the reason as text.
  const { statusOf } = respondTable();
  const domain = read('shared/intake/process-notifications.ts');
  const reasons = [
    ...[...domain.matchAll(/kind: '([\w-]+)',[^}\n]*?reason: '([^']+)'/g)].map((m) => ({ kind: m[1] ?? '', text: m[2] ?? '' })),
    ...[...domain.matchAll(/unavailable\('([^']+)'/g)].map((m) => ({ kind: 'unavailable', text: m[1] ?? '' })),
  ];
  for (const { kind, text } of reasons) {
    const status = statusOf.get(kind);
    if (status !== undefined) answers.push({ status, parts: literalParts(text), where: `process-notifications ${kind}: ${text}` });
  }
  return answers.filter((answer) => answer.parts.length > 0);
}

/**
 * In the sources, or printed by their template literals: the text up to a `${…}` in the source, followed by the
 * visible start of the value (e.g. `cannot read s3://` from `cannot read ${where}`, where is an S3 URL); or two
 * literals joined where one is put into the other (the end of one before its closing quote or a `${`, the start of
 * the other after its opening quote or a `}`).
 */
function known(part: string): boolean {
  if (corpus.includes(part)) return true;
  for (let cut = part.length - 1; cut >= 6; cut -= 1) {
    if (/^\S{1,20}$/.test(part.slice(cut)) && corpus.includes(`${part.slice(0, cut)}\${`)) return true;
  }
  for (let cut = 1; cut < part.length; cut += 1) {
    const [head, tail] = [part.slice(0, cut), part.slice(cut)];
    if (Math.max(head.trim().length, tail.trim().length) < 6) continue;
    const headEnds = corpus.includes(`${head}\${`) || corpus.includes(`${head}\``);
    const tailStarts = corpus.includes(`}${tail}`) || corpus.includes(`\`${tail}`) || corpus.includes(`}${tail.trimStart()}`) || corpus.includes(`\`${tail.trimStart()}`);
    if (headEnds && tailStarts) return true;
  }
  return false;
}

/**
 * respond()'s table of outcome kinds: the status of each, and the answer's text around the reason where it wraps
 * one (`${outcome.reason}; Graph will redeliver`).
 */
function respondTable(): { statusOf: Map<string, number>; wrapOf: Map<string, string> } {
  const notifications = read('functions/intake/notifications.ts');
  const respond = notifications.slice(notifications.indexOf('function respond('));
  const cases = [...respond.matchAll(/case '([\w-]+)':[\s\S]*?json\((\d{3}),([^\n]*)/g)];
  const statusOf = new Map(cases.map((m) => [m[1] ?? '', Number(m[2])]));
  const wrapOf = new Map(cases.flatMap((m) => [.../`([^`]*\$\{outcome\.reason\}[^`]*)`/.exec(m[3] ?? '')?.slice(1) ?? []].map((wrap) => [m[1] ?? '', wrap] as [string, string])));
  return { statusOf, wrapOf };
}

/** The full texts of the intake's answers that wrap a reason, as a client reads them, e.g. `cannot …; Graph will redeliver`. */
function wrappedAnswers(): string[] {
  const { wrapOf } = respondTable();
  const domain = read('shared/intake/process-notifications.ts');
  return [...domain.matchAll(/unavailable\('([^']+)'/g)].flatMap((m) => {
    const wrap = wrapOf.get('unavailable');
    return wrap === undefined ? [] : [wrap.replace('${outcome.reason}', m[1] ?? '')];
  });
}

describe('TROUBLESHOOTING.md follows the code', () => {
  it('reads entries, answers and the domain outcomes (the parsing itself works)', () => {
    // Assess: guards against a parser that finds nothing and so checks nothing
    expect(entries().length).toBeGreaterThan(10);
    const answers = intakeAnswers();
    expect(answers.map((a) => a.status)).toEqual(expect.arrayContaining([202, 400, 403, 404, 405, 413, 500, 503]));
    expect(answers.filter((a) => a.status === 503).length).toBeGreaterThan(3);
    expect(wrappedAnswers()).toContain('cannot check rich notifications; Graph will redeliver');
  });

  it('keys every entry by texts that the product prints or Graph sends', () => {
    // Prepare
    const keys = [...entries().flatMap((entry) => quoted(entry.heading)), ...readmeKeys().flatMap(quoted)];
    const answers = wrappedAnswers();

    // Act
    const missing = keys.flatMap((key) =>
      fragments(key)
        .filter((part) => !known(part) && !answers.includes(part))
        .map((part) => `${part}   (from ${key})`),
    );

    // Assess
    expect(keys.length).toBeGreaterThan(10);
    expect(missing).toEqual([]);
  });

  it('has an entry for every answer the intake gives, with its status in the heading', () => {
    // Prepare
    const all = entries();

    // Act
    const missing = intakeAnswers()
      .filter((answer) => !all.some((entry) => new RegExp(`\\b${answer.status}\\b`).test(entry.heading) && answer.parts.every((part) => entry.text.includes(part))))
      .map((answer) => `${answer.status} ${answer.parts.join(' … ')}   (${answer.where})`);

    // Assess
    expect(missing).toEqual([]);
  });

  it("gives every intake entry the status the intake answers with that entry's text", () => {
    // Prepare
    const answers = intakeAnswers();
    const intakeEntries = entries().filter((entry) => entry.section.startsWith("graph-relay's answers"));

    // Act
    const wrong = intakeEntries.flatMap((entry) =>
      [...entry.heading.matchAll(/\b([1-5]\d\d)\b/g)]
        .map((m) => Number(m[1]))
        .filter((status) => !answers.some((answer) => answer.status === status && answer.parts.every((part) => entry.text.includes(part))))
        .map((status) => `${status} in "${entry.heading}"`),
    );

    // Assess
    expect(intakeEntries.length).toBeGreaterThan(3);
    expect(wrong).toEqual([]);
  });

  it('names an existing entry wherever the product says "see TROUBLESHOOTING.md"', () => {
    // Prepare
    const headings = entries().map((entry) => entry.heading);
    const cited = [...productSource.matchAll(/TROUBLESHOOTING\.md "([^"$]+)"/g)].map((m) => m[1] ?? '');

    // Act
    const dangling = cited.filter((text) => !headings.some((heading) => heading.includes(text)));

    // Assess
    expect(cited.length).toBeGreaterThan(0);
    expect(dangling).toEqual([]);
  });
});
