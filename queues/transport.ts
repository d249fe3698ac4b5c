import type { Topology } from './topology.ts';

/** One message handed to a consumer. Settling twice is a no-op, never a channel error. */
export interface Delivery {
  content: Buffer;
  headers: Record<string, unknown>;
  routingKey: string;
  /**
   * How many times the broker handed this message out before (0 on first delivery): returns
   * and consumers that died holding it both count (RabbitMQ's `x-delivery-count`).
   */
  deliveryCount: number;
  ack(): void;
  /** Give the message back: requeued (counts against the delivery limit), or dead-lettered. */
  nack(options?: { requeue?: boolean }): void;
}

export interface Consumer {
  /**
   * Stop receiving new messages; deliveries in flight may still be settled. Whatever is still
   * unsettled when the transport closes goes back to the queue, as when a consumer crashes.
   */
  cancel(): Promise<void>;
  /**
   * How many unsettled deliveries it may hold from now on; nothing it holds is given back (on
   * AMQP, until what it held is settled, it may hold that many more).
   */
  setPrefetch(prefetch: number): Promise<void>;
}

export interface QueueStats {
  queue: string;
  ready: number;
  /** null when the transport cannot tell (AMQP without the management API). */
  unacked: number | null;
  consumers: number;
}

/** pino's `(fields, message)` shape; console fits too. */
export interface TransportLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface PublishOptions {
  headers?: Record<string, unknown>;
  messageId?: string;
}

export interface ConsumeOptions {
  prefetch: number;
}

/**
 * The few broker primitives `up` needs. Two implementations with the same semantics:
 * AMQP (RabbitMQ) and in-process (the embedded default). Exchange `''` is the default
 * exchange: the routing key names the queue. Queue arguments honoured by both:
 * `x-message-ttl`, `x-dead-letter-exchange`, `x-dead-letter-routing-key`, `x-delivery-limit`
 * (`x-dead-letter-strategy: at-least-once` is what the in-process bus does anyway).
 */
export interface Transport {
  readonly kind: 'amqp' | 'memory';
  /** Connect (AMQP) and declare the topology; after a reconnect it is declared again. */
  start(topology: Topology): Promise<void>;
  /** Resolves once the broker has confirmed the message; rejects with a RetryableError otherwise. */
  publish(exchange: string, routingKey: string, content: Buffer, options?: PublishOptions): Promise<void>;
  /** Consumers survive reconnects: they are re-created on the new channel. */
  consume(queue: string, options: ConsumeOptions, onDelivery: (delivery: Delivery) => void): Promise<Consumer>;
  queueStats(queue: string): Promise<QueueStats>;
  /** True while connected and able to publish. */
  isReady(): boolean;
  close(): Promise<void>;
}
