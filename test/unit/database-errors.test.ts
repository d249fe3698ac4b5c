import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDataError, isDatabaseUnavailable } from '../../lib/db/connect.ts';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

test('an outage, in every form pg, knex and PostgreSQL give it, is "unavailable"', () => {
  const outages = [
    new Error('timeout expired'), // pg: connect timeout (a server that accepts TCP and says nothing)
    new Error('Query read timeout'), // pg: query_timeout
    new Error('select * from "jobs" limit $1 - Query read timeout'), // the same through knex
    new Error('Connection terminated unexpectedly'),
    new Error('Connection terminated due to connection timeout'),
    new Error('Client has encountered a connection error and is not queryable'),
    Object.assign(new Error('Knex: Timeout acquiring a connection. The pool is probably full.'), { name: 'KnexTimeoutError' }),
    withCode('ECONNREFUSED'),
    withCode('ECONNRESET'),
    withCode('EHOSTUNREACH'),
    withCode('53300', 'sorry, too many clients already'),
    withCode('53100', 'could not extend file: No space left on device'),
    withCode('57014', 'canceling statement due to statement timeout'),
    withCode('57P01', 'terminating connection due to administrator command'),
    withCode('57P03', 'the database system is starting up'),
    withCode('57P04', 'database dropped'),
    withCode('55000'),
    withCode('55P03', 'could not obtain lock'),
    withCode('25006', 'cannot execute INSERT in a read-only transaction'),
    withCode('40001'),
    withCode('40P01'),
    withCode('08P01'),
    withCode('08006'),
    withCode('58030'),
  ];
  for (const error of outages) assert.ok(isDatabaseUnavailable(error), `${(error as { code?: string }).code ?? ''} ${error.message}`);
});

test('a bad statement or bad data is not an outage', () => {
  for (const error of [
    withCode('22P05'),
    withCode('22021'),
    withCode('23505'),
    withCode('42P01'),
    withCode('42703'),
    new Error('boom'),
    null,
    'timeout expired',
    withCode('EACCES'),
  ]) {
    assert.ok(!isDatabaseUnavailable(error), String((error as { code?: string })?.code ?? error));
  }
});

test('only class 22 (data exception) is a data error', () => {
  for (const code of ['22P05', '22021', '22003', '22008', '22P02', '22001']) assert.ok(isDataError(withCode(code)), code);
  for (const error of [withCode('23505'), withCode('57014'), new Error('timeout expired'), withCode('2200'), null])
    assert.ok(!isDataError(error));
});
