import { RetryableError } from '../lib/errors.ts';
import type { BindingSpec, ExchangeSpec, Topology } from './topology.ts';
import type { ConsumeOptions, Consumer, Delivery, PublishOptions, QueueStats, Transport, TransportLogger } from './transport.ts';

interface Message {
  content: Buffer;
  headers: Record<string, unknown>;
  exchange: string;
  routingKey: string;
  /** Returns so far (nacks with requeue, consumers gone): RabbitMQ's `x-delivery-count`. */
  deliveryCount: number;
  expiresAt: number | null;
}

interface Queue {
  name: string;
  arguments: Record<string, unknown>;
  messages: Message[];
  subscribers: Subscriber[];
  /** Where round-robin resumes. */
  cursor: number;
  dispatch: NodeJS.Immediate | null;
  expiry: NodeJS.Timeout | null;
}

interface Subscriber {
  queue: Queue;
  prefetch: number;
  onDelivery: (delivery: Delivery) => void;
  /** One token per delivery, so a stale Delivery never settles the message's next delivery. */
  unsettled: Set<{ message: Message }>;
  /** Takes nothing new; stays (and counts, as in a quorum queue) until what it holds is settled. */
  cancelled: boolean;
}

type DeathReason = 'expired' | 'rejected' | 'delivery_limit';

/** The broker in-process, with RabbitMQ's semantics for what `up` uses: the embedded default. */
export class MemoryTransport implements Transport {
  readonly kind = 'memory';
  private readonly exchanges = new Map<string, { type: ExchangeSpec['type']; bindings: BindingSpec[] }>();
  private readonly queues = new Map<string, Queue>();
  private started = false;
  private closed = false;

  constructor(private readonly options: { logger?: TransportLogger } = {}) {}

  async start(topology: Topology): Promise<void> {
    for (const { name, type } of topology.exchanges) if (!this.exchanges.has(name)) this.exchanges.set(name, { type, bindings: [] });
    for (const { name, arguments: args } of topology.queues) {
      if (!this.queues.has(name))
        this.queues.set(name, { name, arguments: args, messages: [], subscribers: [], cursor: 0, dispatch: null, expiry: null });
    }
    for (const binding of topology.bindings) {
      const exchange = this.exchanges.get(binding.exchange);
      if (!exchange || !this.queues.has(binding.queue))
        throw new Error(`cannot bind '${binding.queue}' to '${binding.exchange}': not declared`);
      if (!exchange.bindings.some((b) => b.queue === binding.queue && b.routingKey === binding.routingKey)) exchange.bindings.push(binding);
    }
    this.started = true;
  }

  isReady(): boolean {
    return this.started && !this.closed;
  }

  async publish(exchange: string, routingKey: string, content: Buffer, options: PublishOptions = {}): Promise<void> {
    if (!this.isReady()) throw new RetryableError('the in-process transport is not running', { code: 'BROKER_UNAVAILABLE' });
    if (exchange !== '' && !this.exchanges.has(exchange)) throw new RetryableError(`no exchange '${exchange}'`, { code: 'NOT_FOUND' });
    for (const queue of this.route(exchange, routingKey)) {
      this.enqueue(queue, { content, headers: { ...options.headers }, exchange, routingKey, deliveryCount: 0, expiresAt: null });
    }
  }

  async consume(queue: string, { prefetch }: ConsumeOptions, onDelivery: (delivery: Delivery) => void): Promise<Consumer> {
    const subscriber: Subscriber = { queue: this.requireQueue(queue), prefetch, onDelivery, unsettled: new Set(), cancelled: false };
    subscriber.queue.subscribers.push(subscriber);
    this.scheduleDispatch(subscriber.queue);
    return {
      cancel: async () => this.cancel(subscriber),
      setPrefetch: async (prefetch) => {
        subscriber.prefetch = prefetch;
        this.scheduleDispatch(subscriber.queue);
      },
    };
  }

  async queueStats(queue: string): Promise<QueueStats> {
    const target = this.requireQueue(queue);
    this.expire(target);
    const unacked = target.subscribers.reduce((sum, s) => sum + s.unsettled.size, 0);
    return { queue, ready: target.messages.length, unacked, consumers: target.subscribers.length };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const queue of this.queues.values()) {
      for (const subscriber of [...queue.subscribers]) this.detach(subscriber);
      if (queue.dispatch) clearImmediate(queue.dispatch);
      if (queue.expiry) clearTimeout(queue.expiry);
      queue.dispatch = queue.expiry = null;
    }
  }

  private route(exchangeName: string, routingKey: string): Queue[] {
    if (exchangeName === '') return this.queues.has(routingKey) ? [this.queues.get(routingKey)!] : [];
    const exchange = this.exchanges.get(exchangeName);
    if (!exchange) return [];
    const matches = exchange.bindings.filter(({ routingKey: pattern }) => {
      if (exchange.type === 'fanout') return true;
      if (exchange.type === 'direct') return pattern === routingKey;
      return topicMatches(pattern.split('.'), routingKey.split('.'));
    });
    // A queue bound twice still gets one copy.
    return [...new Set(matches.map((b) => b.queue))].map((name) => this.queues.get(name)!);
  }

  private enqueue(queue: Queue, message: Message): void {
    const ttl = queue.arguments['x-message-ttl'];
    queue.messages.push({ ...message, expiresAt: typeof ttl === 'number' ? Date.now() + ttl : null });
    this.scheduleExpiry(queue);
    this.scheduleDispatch(queue);
  }

  /** Never call a consumer inside `publish` or `ack`: deliver on the next turn, like a broker would. */
  private scheduleDispatch(queue: Queue): void {
    if (queue.dispatch || this.closed) return;
    queue.dispatch = setImmediate(() => {
      queue.dispatch = null;
      this.dispatch(queue);
    });
  }

  private dispatch(queue: Queue): void {
    this.expire(queue);
    for (let subscriber = this.nextSubscriber(queue); subscriber && queue.messages.length > 0; subscriber = this.nextSubscriber(queue)) {
      this.deliver(subscriber, queue.messages.shift()!);
    }
    this.scheduleExpiry(queue);
  }

  private nextSubscriber(queue: Queue): Subscriber | undefined {
    const { subscribers } = queue;
    for (let i = 0; i < subscribers.length; i++) {
      const index = (queue.cursor + i) % subscribers.length;
      const subscriber = subscribers[index];
      if (!subscriber.cancelled && (subscriber.prefetch === 0 || subscriber.unsettled.size < subscriber.prefetch)) {
        queue.cursor = index + 1;
        return subscriber;
      }
    }
  }

  private deliver(subscriber: Subscriber, message: Message): void {
    const token = { message };
    subscriber.unsettled.add(token);
    const settle = (then: () => void) => {
      if (!subscriber.unsettled.delete(token)) return;
      then();
      if (subscriber.cancelled) this.cancel(subscriber);
      this.scheduleDispatch(subscriber.queue);
    };
    const countHeader = message.deliveryCount > 0 ? { 'x-delivery-count': message.deliveryCount } : {};
    const delivery: Delivery = {
      content: message.content,
      headers: { ...message.headers, ...countHeader },
      routingKey: message.routingKey,
      deliveryCount: message.deliveryCount,
      ack: () => settle(() => {}),
      nack: ({ requeue = true } = {}) =>
        settle(() => (requeue ? this.giveBack(subscriber.queue, [message]) : this.deadLetter(subscriber.queue, message, 'rejected'))),
    };
    try {
      subscriber.onDelivery(delivery);
    } catch (error) {
      this.options.logger?.error({ err: error, queue: subscriber.queue.name }, 'the consumer callback threw');
    }
  }

  private cancel(subscriber: Subscriber): void {
    subscriber.cancelled = true;
    if (subscriber.unsettled.size === 0) this.detach(subscriber);
  }

  /** Gone for good: what it still holds goes back to the queue, as when a consumer crashes. */
  private detach(subscriber: Subscriber): void {
    const { queue } = subscriber;
    queue.subscribers = queue.subscribers.filter((s) => s !== subscriber);
    const unsettled = [...subscriber.unsettled].map((token) => token.message);
    subscriber.unsettled.clear();
    this.giveBack(queue, unsettled);
    this.scheduleDispatch(queue);
  }

  /** Back to the head of the queue in their order, unless this return exceeds the delivery limit. */
  private giveBack(queue: Queue, messages: Message[]): void {
    const limit = queue.arguments['x-delivery-limit'];
    const requeued: Message[] = [];
    for (const message of messages) {
      message.deliveryCount += 1;
      if (typeof limit === 'number' && message.deliveryCount > limit) this.deadLetter(queue, message, 'delivery_limit');
      else requeued.push(message);
    }
    queue.messages.unshift(...requeued);
    this.scheduleExpiry(queue);
  }

  private expire(queue: Queue): void {
    const now = Date.now();
    while (queue.messages.length > 0 && queue.messages[0].expiresAt !== null && queue.messages[0].expiresAt <= now) {
      this.deadLetter(queue, queue.messages.shift()!, 'expired');
    }
  }

  private scheduleExpiry(queue: Queue): void {
    if (queue.expiry) clearTimeout(queue.expiry);
    queue.expiry = null;
    const expiresAt = queue.messages[0]?.expiresAt;
    if (expiresAt == null || this.closed) return;
    queue.expiry = setTimeout(
      () => {
        queue.expiry = null;
        this.expire(queue);
        this.scheduleExpiry(queue);
      },
      Math.max(0, expiresAt - Date.now()),
    );
    queue.expiry.unref();
  }

  /** Without a dead-letter exchange (or when it routes nowhere) the message is dropped, as RabbitMQ does. */
  private deadLetter(queue: Queue, message: Message, reason: DeathReason): void {
    const exchange = queue.arguments['x-dead-letter-exchange'];
    if (typeof exchange !== 'string') return;
    const routingKey = (queue.arguments['x-dead-letter-routing-key'] as string | undefined) ?? message.routingKey;
    const headers = withDeath(message, queue.name, reason);
    for (const target of this.route(exchange, routingKey)) {
      this.enqueue(target, { content: message.content, headers, exchange, routingKey, deliveryCount: 0, expiresAt: null });
    }
  }

  private requireQueue(name: string): Queue {
    const queue = this.queues.get(name);
    if (!queue) throw new Error(`no queue '${name}'`);
    return queue;
  }
}

/** AMQP topic matching: `*` is exactly one word, `#` zero or more. */
function topicMatches(pattern: string[], words: string[]): boolean {
  if (pattern.length === 0) return words.length === 0;
  const [head, ...rest] = pattern;
  if (head === '#') return words.some((_, i) => topicMatches(rest, words.slice(i))) || topicMatches(rest, []);
  if (words.length === 0) return false;
  return (head === '*' || head === words[0]) && topicMatches(rest, words.slice(1));
}

/** The headers RabbitMQ adds when it dead-letters (without `time`). */
function withDeath(message: Message, queue: string, reason: DeathReason): Record<string, unknown> {
  const deaths = (message.headers['x-death'] as { queue: string; reason: string; count: number }[] | undefined) ?? [];
  const previous = deaths.find((d) => d.queue === queue && d.reason === reason);
  const death = { count: (previous?.count ?? 0) + 1, reason, queue, exchange: message.exchange, 'routing-keys': [message.routingKey] };
  const first = { 'x-first-death-exchange': message.exchange, 'x-first-death-queue': queue, 'x-first-death-reason': reason };
  // The first death is kept for good: later ones only add to x-death.
  return { ...first, ...message.headers, 'x-death': [death, ...deaths.filter((d) => d !== previous)] };
}
