import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchBucket,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { startAwsEmulator, type AwsEmulator } from '../../local/aws-emulator';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

function s3Client(emulator: AwsEmulator): S3Client {
  return new S3Client({ endpoint: emulator.url, region: 'us-east-1', credentials, forcePathStyle: true, maxAttempts: 1 });
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

describe('AWS emulator: S3', () => {
  let emulator: AwsEmulator;
  let dataDir: string;
  let client: S3Client;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'aws-emulator-s3-'));
    emulator = await startAwsEmulator({ dataDir });
    client = s3Client(emulator);
    await client.send(new CreateBucketCommand({ Bucket: 'payloads' }));
  });

  afterEach(async () => {
    client.destroy();
    await emulator.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('round-trips a 300 KB body byte for byte, with its content type and an ETag that is its quoted MD5', async () => {
    // Prepare
    const body = Buffer.from(Array.from({ length: 300 * 1024 }, (_, i) => (i * 31) % 256));

    // Act
    const put = await client.send(new PutObjectCommand({ Bucket: 'payloads', Key: 'int/2024/05/01/k/conn:1@x.json', Body: body, ContentType: 'application/json' }));
    const got = await client.send(new GetObjectCommand({ Bucket: 'payloads', Key: 'int/2024/05/01/k/conn:1@x.json' }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());

    // Assess
    const md5 = `"${createHash('md5').update(body).digest('hex')}"`;
    expect(put.ETag).toBe(md5);
    expect(put.ChecksumCRC32).toEqual(expect.any(String));
    expect(bytes.equals(body)).toBe(true);
    expect(got.ContentType).toBe('application/json');
    expect(got.ContentLength).toBe(body.length);
    expect(got.ETag).toBe(md5);
    expect((await readFile(join(dataDir, 's3', 'payloads', 'int', '2024', '05', '01', 'k', 'conn:1@x.json'))).equals(body)).toBe(true);
  });

  it('accepts a streamed body, sent aws-chunked with a trailing checksum', async () => {
    // Prepare
    const stream = Readable.from([Buffer.from('{"a":'), Buffer.from('1}')]);

    // Act
    await client.send(new PutObjectCommand({ Bucket: 'payloads', Key: 'stream.json', Body: stream, ContentLength: 7 }));
    const got = await client.send(new GetObjectCommand({ Bucket: 'payloads', Key: 'stream.json' }));

    // Assess
    expect(await got.Body!.transformToString()).toBe('{"a":1}');
  });

  it('verifies a SHA-256 checksum and refuses a body that does not match it with BadDigest', async () => {
    // Prepare
    const good = createHash('sha256').update('{}').digest('base64');
    const wrong = createHash('sha256').update('{"x":1}').digest('base64');

    // Act
    const stored = await client.send(new PutObjectCommand({ Bucket: 'payloads', Key: 'ok.json', Body: '{}', ChecksumSHA256: good }));
    const error = await rejectionOf(client.send(new PutObjectCommand({ Bucket: 'payloads', Key: 'bad.json', Body: '{}', ChecksumSHA256: wrong })));

    // Assess
    expect(stored.ChecksumSHA256).toBe(good);
    expect(error.name).toBe('BadDigest');
    expect(error.$metadata?.httpStatusCode).toBe(400);
  });

  it('throws NoSuchKey for a missing key, NoSuchBucket for a missing bucket, and NotFound on HEAD', async () => {
    // Act
    const missingKey = await rejectionOf(client.send(new GetObjectCommand({ Bucket: 'payloads', Key: 'nope.json' })));
    const missingBucket = await rejectionOf(client.send(new GetObjectCommand({ Bucket: 'no-such-bucket', Key: 'nope.json' })));
    const headMissing = await rejectionOf(client.send(new HeadObjectCommand({ Bucket: 'payloads', Key: 'nope.json' })));

    // Assess
    expect(missingKey).toBeInstanceOf(NoSuchKey);
    expect(missingKey.$metadata?.httpStatusCode).toBe(404);
    expect(missingBucket).toBeInstanceOf(NoSuchBucket);
    expect(headMissing).toBeInstanceOf(NotFound);
  });

  it('heads, lists by prefix with paging, and deletes objects', async () => {
    // Prepare
    for (const key of ['a/1.json', 'a/2.json', 'a/3.json', 'b/1.json']) {
      await client.send(new PutObjectCommand({ Bucket: 'payloads', Key: key, Body: key, ContentType: 'application/json' }));
    }

    // Act
    const head = await client.send(new HeadObjectCommand({ Bucket: 'payloads', Key: 'a/2.json' }));
    const first = await client.send(new ListObjectsV2Command({ Bucket: 'payloads', Prefix: 'a/', MaxKeys: 2 }));
    const second = await client.send(new ListObjectsV2Command({ Bucket: 'payloads', Prefix: 'a/', MaxKeys: 2, ContinuationToken: first.NextContinuationToken }));
    const folders = await client.send(new ListObjectsV2Command({ Bucket: 'payloads', Delimiter: '/' }));
    await client.send(new DeleteObjectCommand({ Bucket: 'payloads', Key: 'a/2.json' }));
    const afterDelete = await client.send(new ListObjectsV2Command({ Bucket: 'payloads', Prefix: 'a/' }));

    // Assess
    expect(head).toMatchObject({ ContentLength: 8, ContentType: 'application/json', ETag: `"${createHash('md5').update('a/2.json').digest('hex')}"` });
    expect(first.Contents?.map((o) => o.Key)).toEqual(['a/1.json', 'a/2.json']);
    expect(first.IsTruncated).toBe(true);
    expect(second.Contents?.map((o) => [o.Key, o.Size])).toEqual([['a/3.json', 8]]);
    expect(second.IsTruncated).toBe(false);
    expect(folders.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['a/', 'b/']);
    expect(afterDelete.Contents?.map((o) => o.Key)).toEqual(['a/1.json', 'a/3.json']);
  });

  it('keeps objects across a restart with the same data dir', async () => {
    // Prepare
    await client.send(new PutObjectCommand({ Bucket: 'payloads', Key: 'kept.json', Body: '{"kept":true}', ContentType: 'application/json' }));
    client.destroy();
    await emulator.close();

    // Act
    emulator = await startAwsEmulator({ dataDir });
    client = s3Client(emulator);
    const got = await client.send(new GetObjectCommand({ Bucket: 'payloads', Key: 'kept.json' }));

    // Assess
    expect(await got.Body!.transformToString()).toBe('{"kept":true}');
    expect(got.ContentType).toBe('application/json');
  });

  it('can be failed by an injected fault, in the S3 error shape', async () => {
    // Prepare
    emulator.faults.inject({ operation: 'PutObject', mode: 'error', errorCode: 'InternalError', status: 500, times: 1 });

    // Act
    const error = await rejectionOf(client.send(new PutObjectCommand({ Bucket: 'payloads', Key: 'k.json', Body: '{}' })));
    const retried = await client.send(new PutObjectCommand({ Bucket: 'payloads', Key: 'k.json', Body: '{}' }));

    // Assess
    expect(error.name).toBe('InternalError');
    expect(error.$metadata?.httpStatusCode).toBe(500);
    expect(retried.ETag).toEqual(expect.any(String));
    expect(emulator.stats()).toEqual(expect.objectContaining({ CreateBucket: 1, PutObject: 2 }));
  });
});
