export type ServiceErrorKind = 'not_found' | 'conflict' | 'invalid' | 'unavailable';

/** A refusal the caller can act on; the HTTP layer maps `kind` to a status code. */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';

  constructor(
    readonly kind: ServiceErrorKind,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const notFound = () => new ServiceError('not_found', 'not_found', 'session not found');
