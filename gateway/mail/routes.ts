/**
 * Tenants' mail: domains on a mail host, mailboxes, aliases. Every change is written here and
 * the host's whole state re-rendered by one mail.apply (plans.ts). Names are validated by the
 * schemas (400); a domain, mailbox or alias of another tenant answers 404 as a name nobody has.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Knex } from 'knex';
import { Type } from 'typebox';
import { sha512Crypt } from '../../lib/password-hash.ts';
import { MAIL_ADDRESS, MAIL_ALIAS_SOURCE, MAIL_DOMAIN, splitAddress } from '../../lib/validate/mail.ts';
import type { GatewayContext } from '../context.ts';
import { inOwnZone, mailDomainRecordJobs, removeMailDomainRecordJobs } from '../dns/managed.ts';
import type { HostRow } from '../hosts/store.ts';
import type { JobRow } from '../jobs-store.ts';
import { keyset, mapPage, pageOf } from '../pages.ts';
import { requesterOf, type JobPlan } from '../plan.ts';
import { conflict, HttpError, notFound } from '../plugins/errors.ts';
import { enforceLimit } from '../plugins/limits.ts';
import { scopeToCaller } from '../plugins/scope.ts';
import type { Caller } from '../plugins/auth.ts';
import { errorResponses, Page, pageQuery, refTo } from '../schemas.ts';
import { jobView } from '../views.ts';
import { MAIL_ROLE, mailApplyJob, mailLayoutOf } from './plans.ts';
import { mailHostRow, type MailAliasRow, type MailBoxRow, type MailDomainRow, type MailListRow } from './store.ts';
import {
  MailAliasCreate,
  MailAliasView,
  MailBoxCreate,
  MailBoxEdit,
  MailBoxView,
  MailDomainCreate,
  MailDomainView,
  MailListCreate,
  MailListMembers,
  MailListMemberView,
  MailListView,
  mailAliasView,
  mailListView,
  mailBoxView,
  mailDnsRecords,
  mailDomainView,
} from './views.ts';

const DEFAULT_QUOTA_MB = 1024;
const tags = ['mail'];
const DomainParams = Type.Object({ domain: Type.String({ pattern: MAIL_DOMAIN, maxLength: 253 }) });
const BoxParams = Type.Object({ address: Type.String({ pattern: MAIL_ADDRESS, maxLength: 254 }) });
const AliasParams = Type.Object({ address: Type.String({ pattern: MAIL_ALIAS_SOURCE, maxLength: 254 }) });
const ListQuery = Type.Object(
  { ...pageQuery({ default: 100, maximum: 1000 }), domain: Type.Optional(Type.String({ pattern: MAIL_DOMAIN, maxLength: 253 })) },
  { additionalProperties: false },
);
const DOMAINS = { kind: 'mailDomains', table: 'mail_domains', idColumn: 'name' };
const BOXES = { kind: 'mailBoxes', table: 'mail_boxes', idColumn: 'address' };
const ALIASES = { kind: 'mailAliases', table: 'mail_aliases', idColumn: 'address' };
const LISTS = { kind: 'mailLists', table: 'mail_lists', idColumn: 'address' };

type Reply = { code(n: number): { header(k: string, v: string): { send(b: unknown): unknown } } };

export const mailRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  const ownerName = async (id: string) => ((await db('users').where({ id }).first('name')) as { name: string }).name;
  const applied = async (hostId: string) =>
    ((await db('mail_hosts').where({ host_id: hostId }).first('applied_generation'))?.applied_generation ?? null) as number | null;

  async function domainView(row: MailDomainRow) {
    const host: HostRow = await db('hosts').where({ id: row.host_id }).first();
    return mailDomainView(row, {
      owner: await ownerName(row.owner_id),
      host: host.name,
      mailHost: mailLayoutOf(host).hostname,
      applied: await applied(row.host_id),
      // The records up keeps, not merely a zone of the owner's: one created after the domain does not adopt them.
      recordsManaged: Boolean(await db('dns_records').where({ manager_kind: 'mail-domain', manager_id: row.id }).first('id')),
    });
  }
  async function boxView(row: MailBoxRow) {
    const domain: MailDomainRow = await db('mail_domains').where({ id: row.domain_id }).first();
    return mailBoxView(row, { owner: await ownerName(row.owner_id), domain: domain.name, applied: await applied(domain.host_id) });
  }
  async function aliasView(row: MailAliasRow) {
    const domain: MailDomainRow = await db('mail_domains').where({ id: row.domain_id }).first();
    return mailAliasView(row, { owner: await ownerName(row.owner_id), domain: domain.name, applied: await applied(domain.host_id) });
  }

  /** The caller's domain of this name (admins: anyone's), or 404. */
  async function domainOf(q: Knex, caller: Caller, name: string, status = 404): Promise<MailDomainRow> {
    const row: MailDomainRow | undefined = await scopeToCaller(q('mail_domains').where({ name }), caller).first();
    if (!row)
      throw status === 404 ? notFound('mail domain') : new HttpError(status, 'bad_request', `${name} is not one of your mail domains`);
    return row;
  }

  /** An address is one mailbox, one alias or one list, never two of them (one would take the other's mail). */
  async function addressFree(trx: Knex, address: string): Promise<void> {
    for (const table of ['mail_boxes', 'mail_aliases', 'mail_lists'])
      if (await trx(table).where({ address }).first('id')) throw conflict(`${address} is already a mailbox, an alias or a list`);
  }

  /** The mail host for a new domain: the one named (admins), else the mail host serving fewest domains. */
  async function hostFor(trx: Knex, caller: Caller, name: string | undefined): Promise<HostRow> {
    if (name !== undefined && caller.role !== 'admin')
      throw new HttpError(400, 'bad_request', 'body/host: only admins choose the mail host');
    const hosts: HostRow[] = await trx('hosts').whereRaw('? = ANY(roles)', [MAIL_ROLE]).orderBy('name');
    const candidates = hosts.filter((h) => (name === undefined ? !h.maintenance : h.name === name));
    if (candidates.length === 0) throw conflict(name ? `host ${name} is not a mail host` : 'no mail host is available');
    const counts = new Map<string, number>();
    for (const row of (await trx('mail_domains').select('host_id').count({ n: '*' }).groupBy('host_id')) as {
      host_id: string;
      n: string;
    }[])
      counts.set(row.host_id, Number(row.n));
    return candidates.sort((a, b) => (counts.get(a.id) ?? 0) - (counts.get(b.id) ?? 0))[0];
  }

  /** The change's job written, and the generation it serves stored on the rows it made. */
  async function applyFor(trx: Knex, hostId: string, table: string, id: string): Promise<JobPlan[]> {
    const job = await mailApplyJob(trx, hostId);
    await trx(table).where({ id }).update({ generation: job.generation });
    return [job];
  }

  const sent = async (reply: Reply, caller: Caller, key: string, view: unknown, location: string, jobs: JobRow[]) =>
    reply
      .code(202)
      .header('location', jobs[0] ? `/v1/jobs/${jobs[0].id}` : location)
      .send({ [key]: view, jobs: jobs.map((j) => jobView(j, caller)) });

  // ---- domains

  app.post(
    '/v1/mail/domains',
    {
      config: { owned: DOMAINS },
      schema: {
        operationId: 'createMailDomain',
        tags,
        summary: 'Create a mail domain on a mail host; the response lists the DNS records its zone needs.',
        body: refTo(MailDomainCreate),
        response: { 202: Type.Ref('MailDomainChange'), ...errorResponses(400, 401, 409, 422) },
      },
    },
    async (request, reply) => {
      const { name } = request.body;
      const id = randomUUID();
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        await enforceLimit(trx, request.caller, 'mailDomains', trx('mail_domains').where({ owner_id: request.caller.userId }));
        if (await trx('mail_domains').where({ name }).first('id')) throw conflict(`mail domain ${name} already exists`);
        // A zone another user hosts here (the name or a parent) is theirs: its mail is too.
        const parents = name.split('.').map((_, i, labels) => labels.slice(i).join('.'));
        const zone = await trx('dns_zones').whereIn('name', parents).whereNot({ owner_id: request.caller.userId }).first('id');
        if (zone && request.caller.role !== 'admin') throw conflict(`${name} lies in a DNS zone another user hosts here`);
        const host = await hostFor(trx, request.caller, request.body.host);
        await mailHostRow(trx, host.id);
        await trx('mail_domains').insert({ id, name, owner_id: request.caller.userId, host_id: host.id, generation: 0 });
        const jobs = await applyFor(trx, host.id, 'mail_domains', id);
        const row: MailDomainRow = await trx('mail_domains').where({ id }).first();
        // Only in the owner's own zone here; anywhere else the records are the owner's to publish.
        if (!(await inOwnZone(trx, name, row.owner_id))) return jobs;
        return [...jobs, ...(await mailDomainRecordJobs(trx, row, mailDnsRecords(name, mailLayoutOf(host).hostname)))];
      });
      const row: MailDomainRow = await db('mail_domains').where({ id }).first();
      return sent(reply, request.caller, 'domain', await domainView(row), `/v1/mail/domains/${name}`, jobs);
    },
  );

  app.get(
    '/v1/mail/domains',
    {
      config: { owned: DOMAINS },
      schema: {
        operationId: 'listMailDomains',
        tags,
        summary: 'Your mail domains, by name.',
        querystring: ListQuery,
        response: { 200: Page(MailDomainView), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { limit, after } = request.query;
      const rows: MailDomainRow[] = await keyset(
        scopeToCaller(db('mail_domains'), request.caller),
        { columns: ['name'] },
        { limit, after },
      );
      return mapPage(
        pageOf(rows, limit, (r) => [r.name]),
        domainView,
      );
    },
  );

  app.get(
    '/v1/mail/domains/:domain',
    {
      config: { owned: { ...DOMAINS, idParam: 'domain' } },
      schema: {
        operationId: 'getMailDomain',
        tags,
        summary: 'One mail domain, with the DNS records its zone must publish.',
        params: DomainParams,
        response: { 200: Type.Ref('MailDomain'), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => domainView(await domainOf(db, request.caller, request.params.domain)),
  );

  app.delete(
    '/v1/mail/domains/:domain',
    {
      config: { owned: { ...DOMAINS, idParam: 'domain' } },
      schema: {
        operationId: 'deleteMailDomain',
        tags,
        summary: 'Delete a mail domain: refused while it has mailboxes, aliases or lists, unless force=true (they go with it).',
        params: DomainParams,
        querystring: Type.Object({ force: Type.Optional(Type.Boolean({ default: false })) }, { additionalProperties: false }),
        response: { 202: Type.Ref('MailDomainChange'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const domain = await domainOf(db, request.caller, request.params.domain);
      const view = await domainView(domain);
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const boxes = Number(((await trx('mail_boxes').where({ domain_id: domain.id }).count({ n: '*' }).first()) as { n: string }).n);
        const aliases = Number(((await trx('mail_aliases').where({ domain_id: domain.id }).count({ n: '*' }).first()) as { n: string }).n);
        const lists = Number(((await trx('mail_lists').where({ domain_id: domain.id }).count({ n: '*' }).first()) as { n: string }).n);
        if ((boxes || aliases || lists) && !request.query.force)
          throw conflict(
            `mail domain ${domain.name} has ${boxes} mailboxes, ${aliases} aliases and ${lists} lists: delete them first, or pass force=true`,
          );
        const records = await removeMailDomainRecordJobs(trx, domain);
        await trx('mail_lists').where({ domain_id: domain.id }).delete();
        await trx('mail_aliases').where({ domain_id: domain.id }).delete();
        await trx('mail_boxes').where({ domain_id: domain.id }).delete();
        await trx('mail_domains').where({ id: domain.id }).delete();
        return [await mailApplyJob(trx, domain.host_id), ...records];
      });
      return sent(reply, request.caller, 'domain', view, '/v1/mail/domains', jobs);
    },
  );

  // ---- mailboxes

  async function boxOf(caller: Caller, address: string): Promise<MailBoxRow> {
    const row: MailBoxRow | undefined = await scopeToCaller(db('mail_boxes').where({ address }), caller).first();
    if (!row) throw notFound('mailbox');
    return row;
  }

  /** Total quota of the owner's mailboxes (the plan's mailQuotaMb). */
  const quotaUsage = (ownerId: string, except: string | null) => async (trx: Knex.Transaction) => {
    const q = trx('mail_boxes').where({ owner_id: ownerId });
    if (except) q.whereNot({ id: except });
    return Number(((await q.sum({ mb: 'quota_mb' }).first()) as { mb: string | null }).mb ?? 0);
  };

  app.post(
    '/v1/mail/boxes',
    {
      config: { owned: BOXES },
      schema: {
        operationId: 'createMailBox',
        tags,
        summary: 'Create a mailbox in one of your mail domains; it receives mail once its job succeeded.',
        body: refTo(MailBoxCreate),
        response: { 202: Type.Ref('MailBoxChange'), ...errorResponses(400, 401, 409, 422) },
      },
    },
    async (request, reply) => {
      const { address, password } = request.body;
      const quotaMb = request.body.quotaMb ?? DEFAULT_QUOTA_MB;
      const hash = await sha512Crypt(password);
      const id = randomUUID();
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const domain = await domainOf(trx, request.caller, splitAddress(address).domain, 400);
        await enforceLimit(trx, request.caller, 'mailboxes', trx('mail_boxes').where({ owner_id: domain.owner_id }));
        await enforceLimit(trx, request.caller, 'mailQuotaMb', quotaUsage(domain.owner_id, null), quotaMb);
        await addressFree(trx, address);
        await trx('mail_boxes').insert({
          id,
          address,
          domain_id: domain.id,
          owner_id: domain.owner_id,
          password_hash: hash,
          quota_mb: quotaMb,
          enabled: request.body.enabled ?? true,
          generation: 0,
        });
        return applyFor(trx, domain.host_id, 'mail_boxes', id);
      });
      const row: MailBoxRow = await db('mail_boxes').where({ id }).first();
      return sent(reply, request.caller, 'mailbox', await boxView(row), `/v1/mail/boxes/${address}`, jobs);
    },
  );

  app.get(
    '/v1/mail/boxes',
    {
      config: { owned: BOXES },
      schema: {
        operationId: 'listMailBoxes',
        tags,
        summary: 'Your mailboxes, by address.',
        querystring: ListQuery,
        response: { 200: Page(MailBoxView), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { limit, after, domain } = request.query;
      const q = scopeToCaller(db('mail_boxes'), request.caller);
      if (domain) q.whereIn('domain_id', db('mail_domains').where({ name: domain }).select('id'));
      const rows: MailBoxRow[] = await keyset(q, { columns: ['address'] }, { limit, after });
      return mapPage(
        pageOf(rows, limit, (r) => [r.address]),
        boxView,
      );
    },
  );

  app.get(
    '/v1/mail/boxes/:address',
    {
      config: { owned: { ...BOXES, idParam: 'address' } },
      schema: {
        operationId: 'getMailBox',
        tags,
        summary: 'One mailbox.',
        params: BoxParams,
        response: { 200: Type.Ref('MailBox'), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => boxView(await boxOf(request.caller, request.params.address)),
  );

  app.patch(
    '/v1/mail/boxes/:address',
    {
      config: { owned: { ...BOXES, idParam: 'address' } },
      schema: {
        operationId: 'editMailBox',
        tags,
        summary: "Change a mailbox's password, quota or whether it is enabled (a disabled one neither receives nor logs in).",
        params: BoxParams,
        body: refTo(MailBoxEdit),
        response: { 202: Type.Ref('MailBoxChange'), ...errorResponses(400, 401, 404, 422) },
      },
    },
    async (request, reply) => {
      const box = await boxOf(request.caller, request.params.address);
      const { password, quotaMb, enabled } = request.body;
      const hash = password === undefined ? undefined : await sha512Crypt(password);
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        if (quotaMb !== undefined) await enforceLimit(trx, request.caller, 'mailQuotaMb', quotaUsage(box.owner_id, box.id), quotaMb);
        await trx('mail_boxes')
          .where({ id: box.id })
          .update({
            ...(hash === undefined ? {} : { password_hash: hash }),
            ...(quotaMb === undefined ? {} : { quota_mb: quotaMb }),
            ...(enabled === undefined ? {} : { enabled }),
            updated_at: trx.fn.now(),
          });
        const domain: MailDomainRow = await trx('mail_domains').where({ id: box.domain_id }).first();
        return applyFor(trx, domain.host_id, 'mail_boxes', box.id);
      });
      const row: MailBoxRow = await db('mail_boxes').where({ id: box.id }).first();
      return sent(reply, request.caller, 'mailbox', await boxView(row), `/v1/mail/boxes/${row.address}`, jobs);
    },
  );

  app.delete(
    '/v1/mail/boxes/:address',
    {
      config: { owned: { ...BOXES, idParam: 'address' } },
      schema: {
        operationId: 'deleteMailBox',
        tags,
        summary: 'Delete a mailbox: it stops receiving and logging in at once its job succeeded.',
        params: BoxParams,
        response: { 202: Type.Ref('MailBoxChange'), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const box = await boxOf(request.caller, request.params.address);
      const view = await boxView(box);
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const domain: MailDomainRow = await trx('mail_domains').where({ id: box.domain_id }).first();
        await trx('mail_boxes').where({ id: box.id }).delete();
        return [await mailApplyJob(trx, domain.host_id)];
      });
      return sent(reply, request.caller, 'mailbox', view, '/v1/mail/boxes', jobs);
    },
  );

  // ---- aliases

  async function aliasOf(caller: Caller, address: string): Promise<MailAliasRow> {
    const row: MailAliasRow | undefined = await scopeToCaller(db('mail_aliases').where({ address }), caller).first();
    if (!row) throw notFound('mail alias');
    return row;
  }

  app.post(
    '/v1/mail/aliases',
    {
      config: { owned: ALIASES },
      schema: {
        operationId: 'createMailAlias',
        tags,
        summary: 'Forward an address (or @domain: every address without a mailbox) of one of your domains to one or more addresses.',
        body: refTo(MailAliasCreate),
        response: { 202: Type.Ref('MailAliasChange'), ...errorResponses(400, 401, 409) },
      },
    },
    async (request, reply) => {
      const { address, targets } = request.body;
      const id = randomUUID();
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const domain = await domainOf(trx, request.caller, splitAddress(address).domain, 400);
        await addressFree(trx, address);
        await trx('mail_aliases').insert({
          id,
          address,
          domain_id: domain.id,
          owner_id: domain.owner_id,
          targets: JSON.stringify(targets),
          generation: 0,
        });
        return applyFor(trx, domain.host_id, 'mail_aliases', id);
      });
      const row: MailAliasRow = await db('mail_aliases').where({ id }).first();
      return sent(reply, request.caller, 'alias', await aliasView(row), `/v1/mail/aliases/${address}`, jobs);
    },
  );

  app.get(
    '/v1/mail/aliases',
    {
      config: { owned: ALIASES },
      schema: {
        operationId: 'listMailAliases',
        tags,
        summary: 'Your mail aliases, by address.',
        querystring: ListQuery,
        response: { 200: Page(MailAliasView), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { limit, after, domain } = request.query;
      const q = scopeToCaller(db('mail_aliases'), request.caller);
      if (domain) q.whereIn('domain_id', db('mail_domains').where({ name: domain }).select('id'));
      const rows: MailAliasRow[] = await keyset(q, { columns: ['address'] }, { limit, after });
      return mapPage(
        pageOf(rows, limit, (r) => [r.address]),
        aliasView,
      );
    },
  );

  app.get(
    '/v1/mail/aliases/:address',
    {
      config: { owned: { ...ALIASES, idParam: 'address' } },
      schema: {
        operationId: 'getMailAlias',
        tags,
        summary: 'One mail alias.',
        params: AliasParams,
        response: { 200: Type.Ref('MailAlias'), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => aliasView(await aliasOf(request.caller, request.params.address)),
  );

  app.delete(
    '/v1/mail/aliases/:address',
    {
      config: { owned: { ...ALIASES, idParam: 'address' } },
      schema: {
        operationId: 'deleteMailAlias',
        tags,
        summary: 'Delete a mail alias.',
        params: AliasParams,
        response: { 202: Type.Ref('MailAliasChange'), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const alias = await aliasOf(request.caller, request.params.address);
      const view = await aliasView(alias);
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const domain: MailDomainRow = await trx('mail_domains').where({ id: alias.domain_id }).first();
        await trx('mail_aliases').where({ id: alias.id }).delete();
        return [await mailApplyJob(trx, domain.host_id)];
      });
      return sent(reply, request.caller, 'alias', view, '/v1/mail/aliases', jobs);
    },
  );

  // ---- lists

  const ListParams = Type.Object({ address: Type.String({ pattern: MAIL_ADDRESS, maxLength: 254 }) });
  const memberCount = async (listId: string) =>
    Number(((await db('mail_list_members').where({ list_id: listId }).count({ n: '*' }).first()) as { n: string }).n);
  async function listView(row: MailListRow) {
    const domain: MailDomainRow = await db('mail_domains').where({ id: row.domain_id }).first();
    return mailListView(row, {
      owner: await ownerName(row.owner_id),
      domain: domain.name,
      members: await memberCount(row.id),
      applied: await applied(domain.host_id),
    });
  }
  async function listOf(caller: Caller, address: string): Promise<MailListRow> {
    const row: MailListRow | undefined = await scopeToCaller(db('mail_lists').where({ address }), caller).first();
    if (!row) throw notFound('mail list');
    return row;
  }
  async function hostOfList(trx: Knex, list: MailListRow): Promise<string> {
    return ((await trx('mail_domains').where({ id: list.domain_id }).first('host_id')) as { host_id: string }).host_id;
  }

  app.post(
    '/v1/mail/lists',
    {
      config: { owned: LISTS },
      schema: {
        operationId: 'createMailList',
        tags,
        summary: 'Create a mailing list (mlmmj) at an address of one of your domains, with who may post to it.',
        body: refTo(MailListCreate),
        response: { 202: Type.Ref('MailListChange'), ...errorResponses(400, 401, 409) },
      },
    },
    async (request, reply) => {
      const { address } = request.body;
      const policy = request.body.policy ?? 'members-only';
      const moderators = request.body.moderators ?? [];
      if (policy !== 'members-only' && moderators.length === 0)
        throw new HttpError(400, 'bad_request', `body/moderators: a ${policy} list needs at least one moderator`);
      const id = randomUUID();
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const domain = await domainOf(trx, request.caller, splitAddress(address).domain, 400);
        await addressFree(trx, address);
        await trx('mail_lists').insert({
          id,
          address,
          domain_id: domain.id,
          owner_id: domain.owner_id,
          policy,
          moderators: JSON.stringify(moderators),
          generation: 0,
        });
        return applyFor(trx, domain.host_id, 'mail_lists', id);
      });
      const row: MailListRow = await db('mail_lists').where({ id }).first();
      return sent(reply, request.caller, 'list', await listView(row), `/v1/mail/lists/${address}`, jobs);
    },
  );

  app.get(
    '/v1/mail/lists',
    {
      config: { owned: LISTS },
      schema: {
        operationId: 'listMailLists',
        tags,
        summary: 'Your mailing lists, by address.',
        querystring: ListQuery,
        response: { 200: Page(MailListView), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { limit, after, domain } = request.query;
      const q = scopeToCaller(db('mail_lists'), request.caller);
      if (domain) q.whereIn('domain_id', db('mail_domains').where({ name: domain }).select('id'));
      const rows: MailListRow[] = await keyset(q, { columns: ['address'] }, { limit, after });
      return mapPage(
        pageOf(rows, limit, (r) => [r.address]),
        listView,
      );
    },
  );

  app.get(
    '/v1/mail/lists/:address',
    {
      config: { owned: { ...LISTS, idParam: 'address' } },
      schema: {
        operationId: 'getMailList',
        tags,
        summary: 'One mailing list.',
        params: ListParams,
        response: { 200: Type.Ref('MailList'), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => listView(await listOf(request.caller, request.params.address)),
  );

  app.delete(
    '/v1/mail/lists/:address',
    {
      config: { owned: { ...LISTS, idParam: 'address' } },
      schema: {
        operationId: 'deleteMailList',
        tags,
        summary: 'Delete a mailing list with its members and archive.',
        params: ListParams,
        response: { 202: Type.Ref('MailListChange'), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const list = await listOf(request.caller, request.params.address);
      const view = await listView(list);
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const hostId = await hostOfList(trx, list);
        await trx('mail_lists').where({ id: list.id }).delete();
        return [await mailApplyJob(trx, hostId)];
      });
      return sent(reply, request.caller, 'list', view, '/v1/mail/lists', jobs);
    },
  );

  app.get(
    '/v1/mail/lists/:address/members',
    {
      config: { owned: { ...LISTS, idParam: 'address' } },
      schema: {
        operationId: 'listMailListMembers',
        tags,
        summary: "A mailing list's members, by address.",
        params: ListParams,
        querystring: Type.Object(pageQuery({ default: 100, maximum: 1000 }), { additionalProperties: false }),
        response: { 200: Page(MailListMemberView), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const list = await listOf(request.caller, request.params.address);
      const { limit, after } = request.query;
      const rows: { address: string; created_at: Date }[] = await keyset(
        db('mail_list_members').where({ list_id: list.id }),
        { columns: ['address'] },
        { limit, after },
      );
      return mapPage(
        pageOf(rows, limit, (r) => [r.address]),
        async (r) => ({ address: r.address, subscribedAt: r.created_at.toISOString() }),
      );
    },
  );

  /** Members added or removed, and the host re-rendered in the same transaction. */
  function membersRoute(verb: 'subscribe' | 'unsubscribe') {
    return async (
      request: { caller: Caller; params: { address: string }; body: { addresses: string[] } },
      reply: Reply,
    ): Promise<unknown> => {
      const list = await listOf(request.caller, request.params.address);
      const { addresses } = request.body;
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const members = trx('mail_list_members');
        if (verb === 'subscribe')
          await members
            .insert(addresses.map((address) => ({ list_id: list.id, address })))
            .onConflict(['list_id', 'address'])
            .ignore();
        else await members.where({ list_id: list.id }).whereIn('address', addresses).delete();
        return applyFor(trx, await hostOfList(trx, list), 'mail_lists', list.id);
      });
      const row: MailListRow = await db('mail_lists').where({ id: list.id }).first();
      return sent(reply, request.caller, 'list', await listView(row), `/v1/mail/lists/${row.address}`, jobs);
    };
  }

  app.post(
    '/v1/mail/lists/:address/members',
    {
      config: { owned: { ...LISTS, idParam: 'address' } },
      schema: {
        operationId: 'subscribeMailList',
        tags,
        summary: 'Subscribe addresses to a mailing list (no confirmation: you own the list); already members are left as they are.',
        params: ListParams,
        body: refTo(MailListMembers),
        response: { 202: Type.Ref('MailListChange'), ...errorResponses(400, 401, 404) },
      },
    },
    membersRoute('subscribe'),
  );

  app.post(
    '/v1/mail/lists/:address/members/remove',
    {
      config: { owned: { ...LISTS, idParam: 'address' } },
      schema: {
        operationId: 'unsubscribeMailList',
        tags,
        summary: 'Unsubscribe addresses from a mailing list; addresses that are not members are ignored.',
        params: ListParams,
        body: refTo(MailListMembers),
        response: { 202: Type.Ref('MailListChange'), ...errorResponses(400, 401, 404) },
      },
    },
    membersRoute('unsubscribe'),
  );
};
