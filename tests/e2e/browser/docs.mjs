// The Swagger UI at /docs under its Content-Security-Policy: it must render every operation,
// run "Try it out" against the API, break no rule of the policy, and refuse to be framed.
//   node docs.mjs '{"base_url": "http://127.0.0.1:1234", "screenshot_dir": "/tmp/x"}'
// Reports {csp, title, operations, tried: {status}, violations: [...], docs_console: [...],
// framed: {url, rendered, console}}.
import http from 'node:http';

import { runScenario } from './lib.mjs';

await runScenario(async ({ page, args, step, shot, consoleLines }) => {
  const base = args.base_url.replace(/\/$/, '');
  // Every CSP violation the page reports, collected before any of its scripts run.
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push({
        directive: e.violatedDirective,
        blocked: e.blockedURI,
        sample: e.sample,
        source: e.sourceFile,
        line: e.lineNumber,
      });
    });
  });

  step('open /docs/');
  const resp = await page.goto(`${base}/docs/`);
  const csp = resp?.headers()['content-security-policy'] ?? null;
  await page.locator('.opblock').first().waitFor();
  const heading = (await page.locator('.info .title').textContent())?.trim();
  const operations = await page.locator('.opblock').count();
  await shot(page, 'docs');

  // (Not the verify path: its 401 asks for Basic credentials, and a browser would prompt.)
  step('try it out: list PATs without a token');
  const op = page.locator('.opblock-get', { hasText: '/{organization}/_apis/tokens/pats' }).first();
  await op.locator('.opblock-summary').click();
  await op.locator('button.try-out__btn').click();
  await op.locator('tr[data-param-name="organization"] input').fill('fabrikam');
  await op.locator('tr[data-param-name="api-version"] input').fill('7.1-preview.1');
  await op.locator('button.execute').click();
  const status = op.locator('.live-responses-table .response .response-col_status').first();
  await status.waitFor();
  const tried = { status: (await status.textContent())?.trim() };
  // A schema view with its models expanded, the part of the UI with the most styling.
  step('models');
  const title = page.locator('.json-schema-2020-12__title', { hasText: /^PatTokenCreateRequest$/ });
  const model = page.locator('section.models article[data-json-schema-level="0"]', { has: title });
  await model.locator('.json-schema-2020-12-expand-deep-button').first().click();
  await model.locator('.json-schema-2020-12-body:not(.json-schema-2020-12-body--collapsed)').first().waitFor();
  step('authorize dialog');
  await page.locator('button.authorize').first().click();
  await page.locator('.modal-ux .auth-container').first().waitFor();
  await shot(page, 'docs-authorize');
  await page.locator('.modal-ux button.close-modal').click();
  await shot(page, 'docs-try-it-out');
  const violations = await page.evaluate(() => window.__cspViolations);
  const docsConsole = consoleLines.slice();

  step('framed by another page');
  // A page of another origin (a server of this script on http://localhost:<port>) frames
  // /docs/: frame-ancestors 'none' and X-Frame-Options: DENY make Chromium refuse to render it.
  const framer = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(`<title>framer</title><iframe id="f" src="${base}/docs/" width="800" height="600"></iframe>`);
  });
  await new Promise((resolve) => framer.listen(0, '127.0.0.1', resolve));
  await page.goto(`http://localhost:${framer.address().port}/`);
  await page.waitForTimeout(1500);
  framer.close();
  const frame = page.frames().find((f) => f !== page.mainFrame());
  const frameUrl = frame ? frame.url() : null;
  const frameConsole = consoleLines.slice(docsConsole.length);
  let frameRendered = false;
  if (frame) {
    frameRendered = await frame.locator('#swagger-ui').count().then((n) => n > 0).catch(() => false);
  }
  return {
    csp,
    title: heading,
    operations,
    tried,
    violations,
    docs_console: docsConsole,
    framed: { url: frameUrl, rendered: frameRendered, console: frameConsole },
  };
});
