import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { normaliseZoneName } from '../../lib/dns/validate.ts';
import { checkZoneNameForAnyone, checkZoneNameForUser } from '../../lib/dns/zone-names.ts';
import { selfAndParents } from '../../gateway/dns/zone-claims.ts';
import { InputError } from '../../lib/errors.ts';

/** What the route does with a user's input: normalise, then both name rules. */
function asUser(input: string): void {
  const name = normaliseZoneName(input, 'body/name');
  checkZoneNameForAnyone(name, 'body/name');
  checkZoneNameForUser(name, 'body/name');
}

const refused = (input: string, status: number, message: RegExp) =>
  assert.throws(
    () => asUser(input),
    (error: unknown) => {
      assert.ok(error instanceof InputError, `${input}: ${error}`);
      assert.equal(error.field, 'body/name', input);
      assert.equal(error.status, status, `${input}: ${error.message}`);
      assert.match(error.message, message, input);
      return true;
    },
    `${input} is refused`,
  );

describe('which names a user may make a zone', () => {
  test('public suffixes are refused in every spelling: case, trailing dot, full-width, IDN and punycode', () => {
    for (const input of [
      'co.uk',
      'CO.UK.',
      'Co.Uk',
      ' co.uk ',
      'ｃｏ．ｕｋ',
      'co。uk',
      'com.au',
      'COM.AU.',
      '公司.cn',
      'xn--55qx5d.cn',
      'XN--55QX5D.CN.', // an IDN suffix, as Unicode and as punycode
      'foo.kawasaki.jp', // under a wildcard rule (*.kawasaki.jp)
    ])
      refused(input, 422, /public suffix/);
  });

  test("the list's private section counts too: github.io, blogspot.com, s3.amazonaws.com", () => {
    for (const input of ['github.io', 'GitHub.IO.', 'blogspot.com', 's3.amazonaws.com']) refused(input, 422, /public suffix/);
  });

  test('reverse and other .arpa zones are for an admin to create and assign (403)', () => {
    for (const input of [
      'in-addr.arpa',
      'IN-ADDR.ARPA.',
      '10.in-addr.arpa',
      '2.0.192.in-addr.arpa',
      'ip6.arpa',
      '8.b.d.0.1.0.0.2.ip6.arpa',
      'home.arpa',
      'x.home.arpa',
    ]) {
      refused(input, 403, /arpa.*admin/);
    }
  });

  test('special-use names are refused for everyone, admins included', () => {
    for (const input of ['foo.localhost', 'x.invalid', 'printer.local', 'abc.onion', 'x.alt', 'FOO.LOCALHOST.']) {
      refused(input, 422, /special-use/);
      const name = normaliseZoneName(input, 'body/name');
      assert.throws(() => checkZoneNameForAnyone(name, 'body/name'), InputError, `${input}, as an admin`);
    }
  });

  test('registrable domains and names under them are fine, .test lab zones included', () => {
    for (const input of [
      'shop.test',
      'tena-site.test',
      'example.co.uk',
      'www.example.co.uk',
      'foo.github.io',
      'city.kawasaki.jp',
      'www.ck',
      'bücher.example',
      'example.com',
      'a.b.example.net',
      'lab.internal',
    ])
      assert.doesNotThrow(() => asUser(input), input);
  });

  test('an admin may create suffixes and reverse zones (the name rules for users do not apply)', () => {
    for (const name of ['co.uk', 'github.io', '2.0.192.in-addr.arpa'])
      assert.doesNotThrow(() => checkZoneNameForAnyone(name, 'body/name'), name);
  });

  test('a name and all its parents, for the clash queries', () => {
    assert.deepEqual(selfAndParents('a.b.example.test'), ['a.b.example.test', 'b.example.test', 'example.test', 'test']);
  });
});
