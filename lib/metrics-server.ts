import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from './config.ts';
import { registry } from './metrics.ts';

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * A role's own port (UP_METRICS_PORT) for Prometheus and liveness probes: GET /metrics and
 * GET /healthz, nothing else, no authentication — bind it where only the scraper reaches.
 * Every role has one, so handlers, the recorder and the scheduler are observable when each
 * runs in its own process; the gateway's API port then serves no /metrics.
 */
export function serveMetrics(options: { host: string; port: number }): Promise<MetricsServer> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be collected\n'),
      );
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('only /metrics and /healthz here\n');
    }
  });
  // A scraper keeps its connection open between scrapes; closing must not wait for it.
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new ConfigError(
          `cannot serve metrics on ${options.host}:${options.port} (UP_METRICS_HOST/UP_METRICS_PORT): ${error.code ?? error.message}`,
        ),
      ),
    );
    server.listen(options.port, options.host, () => {
      const { address, port } = server.address() as AddressInfo;
      resolve({
        url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
