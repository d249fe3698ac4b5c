/** The website check's content finding: an empty document root matters only for a site whose content was deployed. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { judgeWebsite, websiteProbe } from '../../handlers/websites/health.check.website/handler.ts';

describe('website content finding', () => {
  const layout = { group: 'p1', baseDir: '/srv/up/nginx', httpPort: 80, nginxUser: 'www-data', ipv6: false };
  const site = { id: '0190a1b2-0000-7000-8000-0000000000a1', key: 'shop-alice', generation: 3, tempDomain: 'shop-alice.p1.example' };
  const output = (files: number, answer: string) =>
    `running yes\nvhost # up website ${site.id} generation 3 (written by up)\nfiles ${files}\nanswer\n${answer}`;
  const causes = (files: number, answer: string, content?: boolean) =>
    judgeWebsite(output(files, answer), { layout, site: { ...site, content } }, 'h2').problems.map((p) => p.cause);

  test('deployed content and an empty document root: content-missing, whatever nginx answers', () => {
    assert.deepEqual(causes(0, 'forbidden\nup-status 403\n', true), ['content-missing']);
    assert.deepEqual(causes(0, '<p>This website has no content yet.</p>\nup-status 200\n', true), ['content-missing']);
    const [problem] = judgeWebsite(output(0, 'forbidden\nup-status 403\n'), { layout, site: { ...site, content: true } }, 'h2').problems;
    assert.match(problem.message, /document root of shop-alice\.p1\.example on h2 is empty \(it answers 403\)/);
  });

  test('files there, or nothing ever deployed (the placeholder), or an older check message: no finding', () => {
    assert.deepEqual(causes(1, '<h1>shop</h1>\nup-status 200\n', true), []);
    assert.deepEqual(causes(0, '<p>This website has no content yet.</p>\nup-status 200\n', false), []);
    assert.deepEqual(causes(0, 'forbidden\nup-status 403\n'), []);
  });

  test('the probe looks for a file in the document root, quoted', () => {
    const text = websiteProbe({ layout, site }).text;
    assert.match(text, /echo files \$\(find \/srv\/up\/nginx\/www\/shop-alice -type f 2>\/dev\/null \| head -n 1 \| wc -l\)/);
  });
});
