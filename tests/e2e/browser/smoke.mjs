// Smoke scenario: Chromium starts, renders a page, takes a screenshot; optionally visits
// `args.urls` in order and reports the cookies the browser kept (context.cookies()).
//   node smoke.mjs '{"screenshot_dir": "/tmp/x", "urls": ["http://127.0.0.1:1234/set"]}'
import { runScenario } from './lib.mjs';

await runScenario(async ({ page, context, args, step, shot }) => {
  step('data URL');
  await page.goto('data:text/html,<title>patrol smoke</title><h1 id="h">Hello from Chromium</h1>');
  const heading = await page.locator('#h').textContent();
  await shot(page, 'smoke');
  const visits = [];
  for (const url of args.urls ?? []) {
    step(`visit ${url}`);
    const resp = await page.goto(url);
    visits.push({ url, status: resp?.status() ?? null });
  }
  const cookies = (await context.cookies()).map(({ name, domain, path, secure, httpOnly, sameSite }) => ({
    name, domain, path, secure, httpOnly, sameSite,
  }));
  return {
    heading,
    title: await page.title(),
    version: context.browser()?.version() ?? null,
    visits,
    cookies,
  };
});
