import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join, sep } from 'node:path';
import { crc32 } from 'node:zlib';
import { AwsServiceError, readBody } from './protocol';

/**
 * The part of the Amazon S3 REST API graph-relay and its consumers use, path-style only (`/bucket/key`; SDK
 * clients need `forcePathStyle: true`, or an IP-address endpoint): CreateBucket, HeadBucket, DeleteBucket,
 * ListBuckets, PutObject, GetObject, HeadObject, DeleteObject and ListObjectsV2. Errors use S3's XML shape, so
 * the SDK throws the same classes (NoSuchKey, NoSuchBucket, …).
 *
 * Objects live on disk, `<root>/<bucket>/<key>`, so they survive restarts; their metadata (content type, ETag,
 * checksums, user metadata) beside them under `<root>/.meta/` (no bucket name starts with a dot). Not emulated:
 * ranges, conditional requests, versioning, multipart uploads, ACLs and policies; a key that is both an object and
 * a "folder" of other keys (`a` and `a/b`) cannot be stored.
 */

/** PutObject bodies above this are refused; graph-relay's payloads stay far below it. */
export const MAX_OBJECT_BYTES = 64 * 1024 * 1024;

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'] as const;
type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

export const S3_OPERATIONS = [
  'CreateBucket',
  'HeadBucket',
  'DeleteBucket',
  'ListBuckets',
  'PutObject',
  'GetObject',
  'HeadObject',
  'DeleteObject',
  'ListObjectsV2',
] as const;
export type S3Operation = (typeof S3_OPERATIONS)[number];

interface ObjectMeta {
  contentType: string;
  etag: string;
  size: number;
  lastModified: string;
  checksums: Partial<Record<ChecksumAlgorithm, string>>;
  userMetadata: Record<string, string>;
}

/** An error S3 would return, rendered as its XML error document (no body for HEAD, as S3 does). */
export class S3Error extends AwsServiceError {
  constructor(
    code: string,
    message: string,
    status: number,
    readonly details: Record<string, string> = {},
  ) {
    super(code, message, status);
  }
}

const noSuchBucket = (bucket: string) => new S3Error('NoSuchBucket', 'The specified bucket does not exist', 404, { BucketName: bucket });

function xmlEscape(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c);
}

function element(name: string, value: string | number | boolean): string {
  return `<${name}>${xmlEscape(String(value))}</${name}>`;
}

function sendXml(res: ServerResponse, status: number, xml: string, headers: Record<string, string> = {}): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), ...requestIds(), ...headers });
  res.end(body);
}

function requestIds(): Record<string, string> {
  return { 'x-amz-request-id': randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase(), 'x-amz-id-2': randomUUID() };
}

export function sendS3Error(req: IncomingMessage, res: ServerResponse, error: AwsServiceError): void {
  if (req.method === 'HEAD') {
    res.writeHead(error.status, requestIds());
    res.end();
    return;
  }
  const details = error instanceof S3Error ? Object.entries(error.details).map(([k, v]) => element(k, v)).join('') : '';
  sendXml(res, error.status, `<Error>${element('Code', error.code)}${element('Message', error.message)}${details}</Error>`);
}

/** Base64 of a checksum as S3 and the SDK carry it; `undefined` for algorithms the emulator does not compute. */
function computeChecksum(algorithm: ChecksumAlgorithm, body: Buffer): string | undefined {
  switch (algorithm) {
    case 'crc32': {
      const value = Buffer.alloc(4);
      value.writeUInt32BE(crc32(body) >>> 0);
      return value.toString('base64');
    }
    case 'sha1':
    case 'sha256':
      return createHash(algorithm).update(body).digest('base64');
    default:
      return undefined;
  }
}

/**
 * Decodes an `aws-chunked` body (what the SDK sends for streams and trailing checksums):
 * `<hex size>[;chunk-signature=…]\r\n<data>\r\n` … `0…\r\n`, then trailer lines `name:value\r\n`, then `\r\n`.
 */
export function decodeAwsChunked(body: Buffer): { data: Buffer; trailers: Record<string, string> } {
  const chunks: Buffer[] = [];
  let offset = 0;
  const line = (): string => {
    const end = body.indexOf('\r\n', offset);
    if (end < 0) throw new S3Error('IncompleteBody', 'The request body terminated unexpectedly', 400);
    const text = body.subarray(offset, end).toString('latin1');
    offset = end + 2;
    return text;
  };
  for (;;) {
    const header = line();
    const size = Number.parseInt(header.split(';')[0] ?? '', 16);
    if (!Number.isInteger(size) || size < 0) throw new S3Error('InvalidChunkSizeError', 'Only the last chunk is allowed to have a size less than 8192 bytes', 400);
    if (size === 0) break;
    if (offset + size + 2 > body.length) throw new S3Error('IncompleteBody', 'The request body terminated unexpectedly', 400);
    chunks.push(body.subarray(offset, offset + size));
    offset += size + 2;
  }
  const trailers: Record<string, string> = {};
  while (offset < body.length) {
    const text = line();
    if (text === '') break;
    const colon = text.indexOf(':');
    if (colon > 0) trailers[text.slice(0, colon).trim().toLowerCase()] = text.slice(colon + 1).trim();
  }
  return { data: Buffer.concat(chunks), trailers };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function httpDate(iso: string): string {
  return new Date(iso).toUTCString();
}

/** Key order as S3 lists them: by UTF-8 bytes. */
function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export class S3Service {
  readonly operations: ReadonlySet<string> = new Set(S3_OPERATIONS);
  readonly #root: string;
  readonly #metaRoot: string;
  readonly #region: string;
  /** Set when the emulator has no data dir: its objects go to a temporary folder removed on close. */
  readonly #temporary: boolean;

  constructor(options: { root: string; region: string; temporary?: boolean }) {
    this.#root = options.root;
    this.#metaRoot = join(options.root, '.meta');
    this.#region = options.region;
    this.#temporary = options.temporary ?? false;
    mkdirSync(this.#metaRoot, { recursive: true });
  }

  close(): void {
    if (this.#temporary) rmSync(this.#root, { recursive: true, force: true });
  }

  /** The operation a request is, from its method, path and query (path-style addressing). */
  operationOf(req: IncomingMessage, url: URL): { operation: S3Operation; bucket: string; key: string } {
    const [, rawBucket = '', ...rawKey] = url.pathname.split('/');
    const bucket = decodeURIComponent(rawBucket);
    const key = rawKey.map((part) => decodeURIComponent(part)).join('/');
    const method = req.method ?? 'GET';
    const notImplemented = () => new S3Error('NotImplemented', `The emulator does not implement ${method} ${url.pathname}${url.search}`, 501);
    if (bucket === '') {
      if (method === 'GET') return { operation: 'ListBuckets', bucket, key };
      throw notImplemented();
    }
    if (key === '' && url.pathname.split('/').length <= 3) {
      if (method === 'PUT' && url.search === '') return { operation: 'CreateBucket', bucket, key };
      if (method === 'HEAD') return { operation: 'HeadBucket', bucket, key };
      if (method === 'DELETE' && url.search === '') return { operation: 'DeleteBucket', bucket, key };
      if (method === 'GET' && url.searchParams.get('list-type') === '2') return { operation: 'ListObjectsV2', bucket, key };
      throw notImplemented();
    }
    const subresource = [...url.searchParams.keys()].filter((name) => !name.startsWith('x-id') && !name.startsWith('X-Amz-'));
    if (subresource.length > 0) throw notImplemented();
    if (method === 'PUT') return { operation: 'PutObject', bucket, key };
    if (method === 'GET') return { operation: 'GetObject', bucket, key };
    if (method === 'HEAD') return { operation: 'HeadObject', bucket, key };
    if (method === 'DELETE') return { operation: 'DeleteObject', bucket, key };
    throw notImplemented();
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL, call: { operation: S3Operation; bucket: string; key: string }): Promise<void> {
    const { bucket, key } = call;
    switch (call.operation) {
      case 'ListBuckets':
        return this.#listBuckets(res);
      case 'CreateBucket':
        return this.#createBucket(req, res, bucket);
      case 'HeadBucket':
        this.#requireBucket(bucket);
        res.writeHead(200, { 'x-amz-bucket-region': this.#region, ...requestIds() });
        res.end();
        return;
      case 'DeleteBucket':
        return this.#deleteBucket(res, bucket);
      case 'PutObject':
        return this.#putObject(req, res, bucket, key);
      case 'GetObject':
      case 'HeadObject':
        return this.#getObject(req, res, bucket, key, call.operation === 'HeadObject');
      case 'DeleteObject':
        this.#requireBucket(bucket);
        await rm(this.#objectPath(bucket, key), { force: true });
        await rm(this.#metaPath(bucket, key), { force: true });
        res.writeHead(204, requestIds());
        res.end();
        return;
      case 'ListObjectsV2':
        return this.#listObjects(res, bucket, url.searchParams);
    }
  }

  #bucketPath(bucket: string): string {
    return join(this.#root, bucket);
  }

  #objectPath(bucket: string, key: string): string {
    return join(this.#root, bucket, ...this.#segments(key));
  }

  #metaPath(bucket: string, key: string): string {
    return `${join(this.#metaRoot, bucket, ...this.#segments(key))}.json`;
  }

  /** Keys map to paths: segments that would escape or alias a folder are refused rather than resolved. */
  #segments(key: string): string[] {
    const segments = key.split('/');
    if (Buffer.byteLength(key, 'utf8') > 1024) throw new S3Error('KeyTooLongError', 'Your key is too long', 400);
    if (segments.some((s) => s === '' || s === '.' || s === '..' || s.includes('\\') || s.includes('\0'))) {
      throw new S3Error('InvalidArgument', 'The emulator stores keys as paths: empty, "." and ".." segments are not supported', 400, { Key: key });
    }
    return segments;
  }

  #requireBucket(bucket: string): void {
    if (!BUCKET_NAME.test(bucket) || !existsSync(this.#bucketPath(bucket))) throw noSuchBucket(bucket);
  }

  #listBuckets(res: ServerResponse): void {
    const buckets = readdirSync(this.#root, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && BUCKET_NAME.test(entry.name))
      .map((entry) => entry.name)
      .sort(byUtf8);
    const items = buckets.map((name) => `<Bucket>${element('Name', name)}${element('CreationDate', new Date(0).toISOString())}</Bucket>`).join('');
    sendXml(res, 200, `<ListAllMyBucketsResult><Owner>${element('ID', 'local')}</Owner><Buckets>${items}</Buckets></ListAllMyBucketsResult>`);
  }

  async #createBucket(req: IncomingMessage, res: ServerResponse, bucket: string): Promise<void> {
    await readBody(req);
    if (!BUCKET_NAME.test(bucket)) throw new S3Error('InvalidBucketName', 'The specified bucket is not valid.', 400, { BucketName: bucket });
    if (existsSync(this.#bucketPath(bucket)) && this.#region !== 'us-east-1') {
      // us-east-1 answers 200 to its owner re-creating a bucket; every other region answers 409.
      throw new S3Error('BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', 409, { BucketName: bucket });
    }
    await mkdir(this.#bucketPath(bucket), { recursive: true });
    res.writeHead(200, { location: `/${bucket}`, 'content-length': 0, ...requestIds() });
    res.end();
  }

  async #deleteBucket(res: ServerResponse, bucket: string): Promise<void> {
    this.#requireBucket(bucket);
    if (readdirSync(this.#bucketPath(bucket)).length > 0) {
      throw new S3Error('BucketNotEmpty', 'The bucket you tried to delete is not empty', 409, { BucketName: bucket });
    }
    await rm(this.#bucketPath(bucket), { recursive: true, force: true });
    await rm(join(this.#metaRoot, bucket), { recursive: true, force: true });
    res.writeHead(204, requestIds());
    res.end();
  }

  async #putObject(req: IncomingMessage, res: ServerResponse, bucket: string, key: string): Promise<void> {
    const raw = await readBody(req, MAX_OBJECT_BYTES);
    this.#requireBucket(bucket);
    const contentSha256 = header(req, 'x-amz-content-sha256') ?? '';
    const chunked = /aws-chunked/i.test(header(req, 'content-encoding') ?? '') || contentSha256.startsWith('STREAMING-');
    const { data: body, trailers } = chunked ? decodeAwsChunked(raw) : { data: raw, trailers: {} as Record<string, string> };
    const declaredLength = header(req, 'x-amz-decoded-content-length');
    if (chunked && declaredLength !== undefined && Number(declaredLength) !== body.length) {
      throw new S3Error('IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header', 400);
    }
    if (/^[0-9a-f]{64}$/.test(contentSha256) && createHash('sha256').update(body).digest('hex') !== contentSha256) {
      throw new S3Error('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", 400);
    }
    const md5 = createHash('md5').update(body);
    const contentMd5 = header(req, 'content-md5');
    const md5Hex = md5.digest('hex');
    if (contentMd5 !== undefined && Buffer.from(md5Hex, 'hex').toString('base64') !== contentMd5) {
      throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.', 400);
    }
    const checksums: ObjectMeta['checksums'] = {};
    for (const algorithm of CHECKSUM_ALGORITHMS) {
      const name = `x-amz-checksum-${algorithm}`;
      const given = header(req, name) ?? trailers[name];
      if (given === undefined) continue;
      const computed = computeChecksum(algorithm, body);
      if (computed !== undefined && computed !== given) {
        throw new S3Error('BadDigest', `The ${algorithm.toUpperCase()} you specified did not match the calculated checksum.`, 400);
      }
      checksums[algorithm] = given;
    }
    const userMetadata = Object.fromEntries(
      Object.entries(req.headers)
        .filter(([name, value]) => name.startsWith('x-amz-meta-') && typeof value === 'string')
        .map(([name, value]) => [name.slice('x-amz-meta-'.length), value as string]),
    );
    const meta: ObjectMeta = {
      contentType: header(req, 'content-type') ?? 'binary/octet-stream',
      etag: `"${md5Hex}"`,
      size: body.length,
      lastModified: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString(),
      checksums,
      userMetadata,
    };
    const file = this.#objectPath(bucket, key);
    const metaFile = this.#metaPath(bucket, key);
    try {
      await mkdir(dirname(file), { recursive: true });
      await mkdir(dirname(metaFile), { recursive: true });
      // Written aside then renamed: a reader never sees half an object.
      const partial = `${file}.${randomUUID()}.partial`;
      await writeFile(partial, body);
      await rename(partial, file);
      await writeFile(metaFile, JSON.stringify(meta));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EISDIR' || code === 'ENOTDIR' || code === 'EEXIST') {
        throw new S3Error('InvalidArgument', `The emulator cannot store "${key}": it is both an object and a prefix of another key`, 400, { Key: key });
      }
      throw error;
    }
    res.writeHead(200, {
      etag: meta.etag,
      'content-length': 0,
      ...Object.fromEntries(Object.entries(checksums).map(([algorithm, value]) => [`x-amz-checksum-${algorithm}`, value])),
      ...requestIds(),
    });
    res.end();
  }

  async #readMeta(bucket: string, key: string): Promise<ObjectMeta> {
    this.#requireBucket(bucket);
    const noSuchKey = new S3Error('NoSuchKey', 'The specified key does not exist.', 404, { Key: key });
    try {
      const [text, info] = await Promise.all([readFile(this.#metaPath(bucket, key), 'utf8'), stat(this.#objectPath(bucket, key))]);
      if (!info.isFile()) throw noSuchKey;
      return JSON.parse(text) as ObjectMeta;
    } catch (error) {
      if (error instanceof S3Error) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') throw noSuchKey;
      throw error;
    }
  }

  async #getObject(req: IncomingMessage, res: ServerResponse, bucket: string, key: string, headOnly: boolean): Promise<void> {
    const meta = await this.#readMeta(bucket, key);
    const body = headOnly ? undefined : await readFile(this.#objectPath(bucket, key));
    const checksumMode = header(req, 'x-amz-checksum-mode')?.toUpperCase() === 'ENABLED';
    res.writeHead(200, {
      'content-type': meta.contentType,
      'content-length': meta.size,
      etag: meta.etag,
      'last-modified': httpDate(meta.lastModified),
      'accept-ranges': 'bytes',
      ...Object.fromEntries(Object.entries(meta.userMetadata).map(([name, value]) => [`x-amz-meta-${name}`, value])),
      ...(checksumMode && Object.keys(meta.checksums).length > 0
        ? {
            ...Object.fromEntries(Object.entries(meta.checksums).map(([algorithm, value]) => [`x-amz-checksum-${algorithm}`, value])),
            'x-amz-checksum-type': 'FULL_OBJECT',
          }
        : {}),
      ...requestIds(),
    });
    res.end(body);
  }

  async #listObjects(res: ServerResponse, bucket: string, query: URLSearchParams): Promise<void> {
    this.#requireBucket(bucket);
    const prefix = query.get('prefix') ?? '';
    const delimiter = query.get('delimiter') ?? '';
    const maxKeys = Number(query.get('max-keys') ?? 1000);
    if (!Number.isInteger(maxKeys) || maxKeys < 0) throw new S3Error('InvalidArgument', 'Provided max-keys not an integer or within integer range', 400);
    const token = query.get('continuation-token');
    const after = token !== null ? Buffer.from(token, 'base64url').toString('utf8') : (query.get('start-after') ?? '');
    const metaDir = join(this.#metaRoot, bucket);
    const keys = existsSync(metaDir)
      ? (readdirSync(metaDir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
          .filter((entry) => entry.isFile() && entry.name.endsWith('.json'))
          .map((entry) => join(entry.parentPath, entry.name).slice(metaDir.length + 1, -'.json'.length).split(sep).join('/'))
          .filter((key) => key.startsWith(prefix) && byUtf8(key, after) > 0)
          .sort(byUtf8)
      : [];
    const contents: string[] = [];
    const commonPrefixes: string[] = [];
    let last = '';
    let truncated = false;
    for (const key of keys) {
      const rest = key.slice(prefix.length);
      const cut = delimiter === '' ? -1 : rest.indexOf(delimiter);
      const commonPrefix = cut >= 0 ? prefix + rest.slice(0, cut + delimiter.length) : undefined;
      if (commonPrefix !== undefined && commonPrefixes.includes(commonPrefix)) continue;
      if (contents.length + commonPrefixes.length >= maxKeys) {
        truncated = true;
        break;
      }
      if (commonPrefix !== undefined) commonPrefixes.push(commonPrefix);
      else {
        const meta = JSON.parse(await readFile(this.#metaPath(bucket, key), 'utf8')) as ObjectMeta;
        contents.push(
          `<Contents>${element('Key', key)}${element('LastModified', meta.lastModified)}${element('ETag', meta.etag)}${element('Size', meta.size)}${element('StorageClass', 'STANDARD')}</Contents>`,
        );
      }
      last = commonPrefix ?? key;
    }
    // A common prefix as the last item: skip past every key under it.
    const next = commonPrefixes.at(-1) === last ? `${last}\u{10FFFF}` : last;
    const xml =
      '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      element('Name', bucket) +
      element('Prefix', prefix) +
      (delimiter === '' ? '' : element('Delimiter', delimiter)) +
      element('MaxKeys', maxKeys) +
      element('KeyCount', contents.length + commonPrefixes.length) +
      element('IsTruncated', truncated) +
      (token === null ? '' : element('ContinuationToken', token)) +
      (truncated ? element('NextContinuationToken', Buffer.from(next, 'utf8').toString('base64url')) : '') +
      contents.join('') +
      commonPrefixes.map((p) => `<CommonPrefixes>${element('Prefix', p)}</CommonPrefixes>`).join('') +
      '</ListBucketResult>';
    sendXml(res, 200, xml);
  }
}
