import { connect, IllegalOperationError, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import { RetryableError } from '../lib/errors.ts';
import type { Topology } from './topology.ts';
import type { ConsumeOptions, Consumer, Delivery, PublishOptions, QueueStats, Transport, TransportLogger } from './transport.ts';

export interface AmqpTransportOptions {
  /** How long a publish waits for the broker's confirm before it fails as retryable. */
  publishTimeoutMs?: number;
  /** First delay before reconnecting; it doubles on each failure, up to 5 s, each with jitter. */
  reconnectDelayMs?: number;
  /** RabbitMQ management API (e.g. http://127.0.0.1:15672); only it can tell unacked counts. */
  managementUrl?: string;
  logger?: TransportLogger;
}

/** Roles find a broker that is back within this (plus jitter), however long it was away. */
const MAX_RECONNECT_DELAY_MS = 5_000;
/** AMQP reply code of a declaration that contradicts the existing entity. */
const PRECONDITION_FAILED = 406;
const CONNECT_TIMEOUT_MS = 10_000;
const MANAGEMENT_TIMEOUT_MS = 2_000;
const silent: TransportLogger = { info() {}, warn() {}, error() {} };
const ignore = () => {};

/** A consumer as the caller registered it; it outlives the channels it runs on. */
interface Subscription {
  queue: string;
  prefetch: number;
  onDelivery: (delivery: Delivery) => void;
  attachment: Attachment | null;
  cancelled: boolean;
  /** The last prefetch change: changes run one after the other. */
  resizing: Promise<void>;
}

/** One life of a subscription on one channel: its deliveries can only be settled there. */
interface Attachment {
  subscription: Subscription;
  channel: Channel;
  consumerTag: string;
  open: boolean;
  /** Handed to the callback and not settled yet; a cancelled consumer's channel closes at zero. */
  inFlight: number;
  /** Replaced by an attachment with another prefetch: it takes nothing new and closes at zero. */
  retired: boolean;
  acks: AckBatch;
}

/**
 * Acks of one channel, sent once per turn of the event loop: the longest run of settled
 * deliveries from the oldest unsettled one goes as one `multiple` ack, the rest one by one.
 * Jobs that finish together (a confirmed batch of results) cost the broker one ack, not one
 * each; a long job never holds back the acks of quicker ones behind it.
 */
class AckBatch {
  /** Every delivery not acked on the wire yet, in delivery-tag order (the broker's order). */
  private readonly unsettled: ConsumeMessage[] = [];
  private readonly settled = new Set<ConsumeMessage>();
  private flushing = false;

  constructor(private readonly channel: Channel) {}

  delivered(message: ConsumeMessage): void {
    this.unsettled.push(message);
  }

  ack(message: ConsumeMessage): void {
    this.settled.add(message);
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
  }

  /** Nacks go at once; the message leaves the run like an acked one. */
  nack(message: ConsumeMessage, requeue: boolean): void {
    this.channel.nack(message, false, requeue);
    this.forget(message);
  }

  /** Sends the acks settled so far; also before the channel closes, or they would be requeued. */
  flush(): void {
    this.flushing = false;
    let head: ConsumeMessage | undefined;
    while (this.unsettled.length > 0 && this.settled.has(this.unsettled[0])) {
      head = this.unsettled.shift()!;
      this.settled.delete(head);
    }
    try {
      if (head) this.channel.ack(head, true);
      for (const message of this.settled) {
        this.channel.ack(message);
        this.forget(message);
      }
    } catch {
      // The channel is closing: the broker requeues what it did not get acks for.
    }
    this.settled.clear();
  }

  private forget(message: ConsumeMessage): void {
    const at = this.unsettled.indexOf(message);
    if (at >= 0) this.unsettled.splice(at, 1);
  }
}

/** RabbitMQ through amqplib: one connection, a confirm channel to publish, one channel per consumer. */
export class AmqpTransport implements Transport {
  readonly kind = 'amqp';
  private readonly publishTimeoutMs: number;
  private readonly reconnectDelayMs: number;
  private readonly log: TransportLogger;
  private topology: Topology = { exchanges: [], queues: [], bindings: [] };
  private connection: ChannelModel | null = null;
  private connecting: Promise<void> | null = null;
  private publisher: Promise<ConfirmChannel> | null = null;
  private drained: Promise<void> | null = null;
  private readonly subscriptions = new Set<Subscription>();
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectAttempts = 0;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly options: AmqpTransportOptions = {},
  ) {
    this.publishTimeoutMs = options.publishTimeoutMs ?? 5_000;
    this.reconnectDelayMs = options.reconnectDelayMs ?? 1_000;
    this.log = options.logger ?? silent;
  }

  async start(topology: Topology): Promise<void> {
    this.topology = topology;
    this.connecting = this.connect();
    try {
      await this.connecting;
    } finally {
      this.connecting = null;
    }
  }

  isReady(): boolean {
    return this.connection !== null && !this.closed;
  }

  async publish(exchange: string, routingKey: string, content: Buffer, options: PublishOptions = {}): Promise<void> {
    if (!this.isReady()) throw new RetryableError('not connected to the message broker', { code: 'BROKER_UNAVAILABLE' });
    const confirmed = this.publishConfirmed(exchange, routingKey, content, options);
    // The error is built only when the timer fires: a stack trace per publish is not free.
    return withTimeout(
      confirmed,
      this.publishTimeoutMs,
      () => new RetryableError(`the broker did not confirm within ${this.publishTimeoutMs} ms`, { code: 'PUBLISH_TIMEOUT' }),
    );
  }

  async consume(queue: string, { prefetch }: ConsumeOptions, onDelivery: (delivery: Delivery) => void): Promise<Consumer> {
    const connection = this.requireConnection();
    const subscription: Subscription = { queue, prefetch, onDelivery, attachment: null, cancelled: false, resizing: Promise.resolve() };
    this.subscriptions.add(subscription);
    try {
      await this.attach(subscription, connection);
    } catch (error) {
      this.subscriptions.delete(subscription);
      throw error;
    }
    return { cancel: () => this.cancel(subscription), setPrefetch: (prefetch) => this.setPrefetch(subscription, prefetch) };
  }

  async queueStats(queue: string): Promise<QueueStats> {
    return (await this.managementStats(queue)) ?? (await this.checkQueue(queue));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    await this.connecting?.catch(ignore);
    const connection = this.connection;
    this.connection = null;
    this.publisher = null;
    // Closing a consumer's channel hands its unsettled messages back, as when a consumer crashes.
    for (const subscription of this.subscriptions) subscription.cancelled = true;
    await Promise.all([...this.subscriptions].map((subscription) => subscription.attachment && closeAttachment(subscription.attachment)));
    this.subscriptions.clear();
    await connection?.close().catch(ignore);
  }

  private async connect(): Promise<void> {
    const connection = await connect(this.url, { timeout: CONNECT_TIMEOUT_MS });
    connection.on('error', (error: Error) => this.log.warn({ err: error }, 'message broker connection error'));
    connection.on('close', () => this.onConnectionLost(connection));
    // A blocked connection accepts publishes but confirms none: they time out as retryable.
    connection.on('blocked', (reason: string) => this.log.warn({ reason }, 'the message broker blocks publishing'));
    connection.on('unblocked', () => this.log.info({}, 'the message broker accepts publishing again'));
    try {
      await this.declare(connection);
    } catch (error) {
      await connection.close().catch(ignore);
      throw error;
    }
    if (this.closed) {
      await connection.close().catch(ignore);
      return;
    }
    this.connection = connection;
    await Promise.all([...this.subscriptions].map((subscription) => this.reattach(subscription, connection)));
  }

  private async declare(connection: ChannelModel): Promise<void> {
    let channel = await declaringChannel(connection);
    try {
      for (const { name, type } of this.topology.exchanges) await channel.assertExchange(name, type, { durable: true });
      for (const queue of this.topology.queues) {
        try {
          await channel.assertQueue(queue.name, { durable: true, arguments: queue.arguments });
        } catch (error) {
          if (!queue.earlierArguments || (error as { code?: number }).code !== PRECONDITION_FAILED) throw error;
          channel = await declaringChannel(connection); // the refusal closed the channel
          await channel.assertQueue(queue.name, { durable: true, arguments: queue.earlierArguments });
          const missing = Object.keys(queue.arguments).filter((key) => !(key in queue.earlierArguments!));
          this.log.warn(
            { queue: queue.name, missing },
            'the queue was declared by an earlier version and keeps its arguments; a policy can add the missing ones (deploy/rabbitmq/README.md)',
          );
        }
      }
      for (const { queue, exchange, routingKey } of this.topology.bindings) await channel.bindQueue(queue, exchange, routingKey);
    } finally {
      await channel.close().catch(ignore);
    }
  }

  private onConnectionLost(connection: ChannelModel): void {
    if (connection !== this.connection) return;
    this.connection = null;
    this.publisher = null;
    for (const subscription of this.subscriptions) subscription.attachment = null;
    if (this.closed) return;
    this.log.warn({}, 'lost the connection to the message broker; reconnecting');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const delay = reconnectDelay(this.reconnectDelayMs, this.reconnectAttempts);
    this.reconnectAttempts += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connecting = this.connect().then(
        () => {
          this.reconnectAttempts = 0;
          this.log.info({}, 'reconnected to the message broker');
        },
        (error: unknown) => {
          this.log.warn({ err: error }, 'cannot reconnect to the message broker; trying again');
          if (!this.closed) this.scheduleReconnect();
        },
      );
      void this.connecting.finally(() => (this.connecting = null));
    }, delay);
  }

  private async publishConfirmed(exchange: string, routingKey: string, content: Buffer, options: PublishOptions): Promise<void> {
    let channel = await this.publishChannel();
    while (this.drained) {
      await this.drained;
      channel = await this.publishChannel();
    }
    const properties = { persistent: true, contentType: 'application/json', messageId: options.messageId, headers: options.headers };
    await new Promise<void>((resolve, reject) => {
      const onConfirm = (error: unknown) => {
        if (error) reject(new RetryableError('the broker did not accept the message', { cause: error, code: 'PUBLISH_NACKED' }));
        else resolve();
      };
      try {
        if (!channel.publish(exchange, routingKey, content, properties, onConfirm)) this.waitForDrain(channel);
      } catch (error) {
        reject(error instanceof IllegalOperationError ? new RetryableError('the publishing channel is closed', { cause: error }) : error);
      }
    });
  }

  /** Opened lazily, and again after the broker closed it (a publish to a missing exchange does). */
  private publishChannel(): Promise<ConfirmChannel> {
    if (this.publisher) return this.publisher;
    const opening: Promise<ConfirmChannel> = this.requireConnection()
      .createConfirmChannel()
      .then(
        (channel) => {
          channel.on('error', (error: Error) => this.log.warn({ err: error }, 'the broker closed the publishing channel'));
          channel.on('close', () => {
            if (this.publisher === opening) this.publisher = null;
          });
          return channel;
        },
        (error: unknown) => {
          if (this.publisher === opening) this.publisher = null;
          throw new RetryableError('cannot open a publishing channel', { cause: error });
        },
      );
    this.publisher = opening;
    return opening;
  }

  private waitForDrain(channel: ConfirmChannel): void {
    this.drained ??= new Promise((resolve) => {
      const done = () => {
        channel.off('drain', done).off('close', done);
        this.drained = null;
        resolve();
      };
      channel.on('drain', done).on('close', done);
    });
  }

  private async attach(subscription: Subscription, connection: ChannelModel): Promise<void> {
    const channel = await connection.createChannel();
    const attachment: Attachment = {
      subscription,
      channel,
      consumerTag: '',
      open: true,
      inFlight: 0,
      retired: false,
      acks: new AckBatch(channel),
    };
    channel.on('error', (error: Error) => this.log.warn({ err: error, queue: subscription.queue }, 'consumer channel error'));
    channel.on('close', () => {
      attachment.open = false;
      if (subscription.attachment !== attachment) return;
      subscription.attachment = null;
      this.reattachLater(subscription, connection);
    });
    try {
      await channel.prefetch(subscription.prefetch, false);
      const { consumerTag } = await channel.consume(subscription.queue, (message) => this.deliver(subscription, attachment, message));
      attachment.consumerTag = consumerTag;
    } catch (error) {
      await channel.close().catch(ignore);
      throw error;
    }
    if (subscription.cancelled) await channel.close().catch(ignore);
    else subscription.attachment = attachment;
  }

  private async reattach(subscription: Subscription, connection: ChannelModel): Promise<void> {
    try {
      await this.attach(subscription, connection);
    } catch (error) {
      this.log.warn({ err: error, queue: subscription.queue }, 'cannot consume; trying again');
      this.reattachLater(subscription, connection);
    }
  }

  /** A consumer channel closed while the connection lives (queue deleted, channel error): consume again. */
  private reattachLater(subscription: Subscription, connection: ChannelModel): void {
    if (subscription.cancelled || this.closed) return;
    const timer = setTimeout(() => {
      if (subscription.cancelled || subscription.attachment || this.connection !== connection) return;
      void this.reattach(subscription, connection);
    }, this.reconnectDelayMs);
    timer.unref();
  }

  private deliver(subscription: Subscription, attachment: Attachment, message: ConsumeMessage | null): void {
    if (message === null) {
      this.log.warn({ queue: subscription.queue }, 'the broker cancelled the consumer');
      void closeAttachment(attachment);
      return;
    }
    // Sent before the broker saw our cancel: not handed out, the channel's close gives it back.
    if (subscription.cancelled) return;
    attachment.inFlight += 1;
    attachment.acks.delivered(message);
    try {
      subscription.onDelivery(new AmqpDelivery(attachment, message));
    } catch (error) {
      this.log.error({ err: error, queue: subscription.queue }, 'the consumer callback threw');
    }
  }

  /**
   * A consumer's prefetch is fixed when it starts (basic.qos applies to consumers started after
   * it), so a new one starts beside it on a channel of its own, and the old one is cancelled and
   * closes once what it holds is settled. What reaches the old one before the broker saw the
   * cancel is still handed out: giving it back would count against its delivery limit.
   */
  private setPrefetch(subscription: Subscription, prefetch: number): Promise<void> {
    const resized = subscription.resizing.then(() => this.resize(subscription, prefetch));
    subscription.resizing = resized.catch(ignore);
    return resized;
  }

  private async resize(subscription: Subscription, prefetch: number): Promise<void> {
    subscription.prefetch = prefetch;
    const old = subscription.attachment;
    const connection = this.connection;
    // Not attached now: the next attachment takes the new prefetch.
    if (!old || !connection || subscription.cancelled) return;
    await this.attach(subscription, connection);
    old.retired = true;
    await old.channel.cancel(old.consumerTag).catch(ignore);
    await closeIfDrained(old);
  }

  /** basic.cancel, then the channel closes once the deliveries in flight are settled. */
  private async cancel(subscription: Subscription): Promise<void> {
    subscription.cancelled = true;
    this.subscriptions.delete(subscription);
    const attachment = subscription.attachment;
    subscription.attachment = null;
    if (!attachment) return;
    await attachment.channel.cancel(attachment.consumerTag).catch(ignore);
    await closeIfDrained(attachment);
  }

  private async managementStats(queue: string): Promise<QueueStats | null> {
    if (!this.options.managementUrl) return null;
    const amqpUrl = new URL(this.url);
    const vhost = decodeURIComponent(amqpUrl.pathname.slice(1)) || '/';
    const user = decodeURIComponent(amqpUrl.username || 'guest');
    const password = decodeURIComponent(amqpUrl.password || 'guest');
    const url = `${this.options.managementUrl.replace(/\/$/, '')}/api/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}`;
    try {
      const response = await fetch(url, {
        headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
        signal: AbortSignal.timeout(MANAGEMENT_TIMEOUT_MS),
      });
      if (!response.ok) return null;
      const body = (await response.json()) as { messages_ready?: number; messages_unacknowledged?: number; consumers?: number };
      // A queue the stats collector has not sampled yet has no counters.
      if (typeof body.messages_ready !== 'number') return null;
      return { queue, ready: body.messages_ready, unacked: body.messages_unacknowledged ?? null, consumers: body.consumers ?? 0 };
    } catch {
      return null;
    }
  }

  private async checkQueue(queue: string): Promise<QueueStats> {
    // A throwaway channel: checking a missing queue closes the channel it runs on.
    const channel = await this.requireConnection().createChannel();
    channel.on('error', ignore);
    try {
      const { messageCount, consumerCount } = await channel.checkQueue(queue);
      return { queue, ready: messageCount, unacked: null, consumers: consumerCount };
    } finally {
      await channel.close().catch(ignore);
    }
  }

  private requireConnection(): ChannelModel {
    if (!this.connection || this.closed) throw new RetryableError('not connected to the message broker', { code: 'BROKER_UNAVAILABLE' });
    return this.connection;
  }
}

/** Errors show up as the failing call's rejection; the channel's own event would be unhandled. */
async function declaringChannel(connection: ChannelModel): Promise<Channel> {
  const channel = await connection.createChannel();
  channel.on('error', ignore);
  return channel;
}

/**
 * Doubling from `firstMs` up to MAX_RECONNECT_DELAY_MS, each delay drawn from its upper half:
 * roles that lost the broker together do not all knock at the same instant when it is back.
 */
export function reconnectDelay(firstMs: number, failures: number): number {
  const ceiling = Math.min(firstMs * 2 ** Math.min(failures, 30), MAX_RECONNECT_DELAY_MS);
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

async function closeIfDrained(attachment: Attachment): Promise<void> {
  if (attachment.inFlight === 0 && attachment.open) await closeAttachment(attachment);
}

async function closeAttachment(attachment: Attachment): Promise<void> {
  if (attachment.open) attachment.acks.flush();
  await attachment.channel.close().catch(ignore);
}

/** A message handed to a consumer: settled at most once, on the channel it came on. */
class AmqpDelivery implements Delivery {
  readonly content: Buffer;
  readonly headers: Record<string, unknown>;
  readonly routingKey: string;
  readonly deliveryCount: number;
  private settled = false;

  constructor(
    private readonly attachment: Attachment,
    private readonly message: ConsumeMessage,
  ) {
    this.content = message.content;
    this.headers = message.properties.headers ?? {};
    this.routingKey = message.fields.routingKey;
    // Quorum queues count returns in x-delivery-count; a classic queue only says it was redelivered.
    this.deliveryCount = Math.max(Number(this.headers['x-delivery-count'] ?? 0), message.fields.redelivered ? 1 : 0);
  }

  ack(): void {
    if (this.settled) return;
    this.settled = true;
    // On a dead channel the broker has already requeued the message: nothing to settle there.
    if (this.attachment.open) this.attachment.acks.ack(this.message);
    settledOne(this.attachment);
  }

  nack({ requeue = true }: { requeue?: boolean } = {}): void {
    if (this.settled) return;
    this.settled = true;
    if (this.attachment.open) {
      try {
        this.attachment.acks.nack(this.message, requeue);
      } catch {
        // The channel is closing: the broker requeues the message itself.
      }
    }
    settledOne(this.attachment);
  }
}

/** A cancelled consumer's channel closes once its last delivery is settled. */
function settledOne(attachment: Attachment): void {
  attachment.inFlight -= 1;
  if (attachment.subscription.cancelled || attachment.retired) void closeIfDrained(attachment);
}

function withTimeout<T>(promise: Promise<T>, ms: number, timeoutError: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
