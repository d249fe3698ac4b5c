import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An HTTP endpoint on loopback that keeps every JSON body POSTed to it, in order (alarm webhooks). */
export async function webhookReceiver<T>(): Promise<{ url: string; received: T[]; close(): void }> {
  const received: T[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push(JSON.parse(body) as T);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alarms`, received, close: () => server.close() };
}
