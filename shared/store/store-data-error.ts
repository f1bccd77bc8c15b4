/** The table or an item in it is not what this code expects. */
export class StoreDataError extends Error {
  override readonly name = 'StoreDataError';
}
