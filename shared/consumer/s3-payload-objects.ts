import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { PayloadObjects } from './payload-ref';

export interface S3PayloadObjectsOptions {
  /**
   * The client for a bucket of another region than the default client's, created once per region on first use.
   * Default `new S3Client({ region })`: the default credential chain, and endpoints from the environment.
   */
  clientFor?: (region: string) => S3Client;
}

/**
 * The payload buckets read with `s3:GetObject`. A payloadRef names its bucket's region (a multi-region stage has a
 * bucket per region), and the object is read there: with `client` when it is of that region, otherwise with a
 * client of the region, created on first use and kept. So a consumer in one region resolves payloadRefs written in
 * another without a change. A payloadRef without a region (an event published before it was recorded) is read with
 * `client`. The default client is the caller's, created once at module scope.
 */
export function s3PayloadObjects(client: S3Client = new S3Client({}), options: S3PayloadObjectsOptions = {}): PayloadObjects {
  const clientFor = options.clientFor ?? ((region: string) => new S3Client({ region }));
  const byRegion = new Map<string, Promise<S3Client>>();
  let defaultRegion: Promise<string | undefined> | undefined;
  const regionOfDefault = () =>
    (defaultRegion ??= (async () => {
      try {
        const region = client.config.region;
        return typeof region === 'function' ? await region() : region;
      } catch {
        // No region configured for it: every region named by a payloadRef gets a client of its own.
        return undefined;
      }
    })());
  const clientOf = (region: string | undefined): Promise<S3Client> => {
    if (region === undefined) return Promise.resolve(client);
    let found = byRegion.get(region);
    if (found === undefined) {
      found = regionOfDefault().then((own) => (own === region ? client : clientFor(region)));
      byRegion.set(region, found);
    }
    return found;
  };
  return {
    async get({ bucket, key, region }) {
      const object = await (await clientOf(region)).send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (object.Body === undefined) throw new Error('the object has no body');
      return object.Body.transformToByteArray();
    },
  };
}
