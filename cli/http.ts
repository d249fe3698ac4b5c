import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable, Writable } from 'node:stream';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** A request failed before an answer came: the reason in a word (ECONNREFUSED, ENOTFOUND, timeout). */
export class HttpUnreachable extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

/**
 * One HTTP(S) request with node:http. Not fetch: in Node 20 the first fetch loads undici,
 * ~130 ms of CPU, more than the rest of a CLI command.
 */
export function send(
  url: URL,
  options: {
    method: string;
    headers: Record<string, string>;
    /** A stream is piped (a file to upload): never held in memory. */
    body?: string | Readable;
    /** Where a 2xx answer's body goes instead of `text` (a download); other answers stay text. */
    sink?: Writable;
    timeoutMs: number;
  },
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
      url,
      { method: options.method, headers: options.headers, timeout: options.timeoutMs },
      (response) => {
        const status = response.statusCode ?? 0;
        if (options.sink && status >= 200 && status < 300) {
          response.pipe(options.sink);
          options.sink.once('finish', () => resolve({ status, headers: response.headers, text: '' }));
          options.sink.once('error', (error: NodeJS.ErrnoException) => reject(new HttpUnreachable(error.code ?? error.message)));
          response.on('error', (error: NodeJS.ErrnoException) => reject(new HttpUnreachable(error.code ?? error.message)));
          return;
        }
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }),
        );
        response.on('error', (error: NodeJS.ErrnoException) => reject(new HttpUnreachable(error.code ?? error.message)));
      },
    );
    request.on('timeout', () => request.destroy(new HttpUnreachable('timeout')));
    request.on('error', (error: NodeJS.ErrnoException) =>
      reject(error instanceof HttpUnreachable ? error : new HttpUnreachable(error.code ?? error.message)),
    );
    if (options.body !== undefined && typeof options.body !== 'string') {
      options.body.once('error', (error: NodeJS.ErrnoException) => request.destroy(new HttpUnreachable(error.code ?? error.message)));
      options.body.pipe(request);
    } else request.end(options.body);
  });
}
