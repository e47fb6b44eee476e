// Drives Patrol's web UI in headless Chromium: a list of actions, run in order, one browser.
//
//   node ui.mjs '{"base_url": "http://127.0.0.1:8080", "screenshot_dir": "...",
//                 "state_in": "...", "state_out": "...",
//                 "actions": [{"do": "signin", "user": "alice", "shot": "signin"}, ...]}'
//
// Prints one line `RESULT {"ok": true, "results": [{"do": ..., ...}, ...], ...}` (see lib.mjs).
// Python (tests/e2e/lib/web_ui.py) builds the actions and does the asserting.
//
// Actions (every `shot*` key is an optional screenshot name; paths are relative to base_url):
//   signin     {user, password?, start_path?="/tokens", shot?, shot_consent?}
//              from start_path through the issuer's page(s) (Patrol's dev issuer: the user's
//              button; oidc-provider: login form, then consent) back to start_path, signed in
//              -> {path, user_name, hops}
//   goto       {path, shot?} -> {status, path, origin, user_name, notice, error, title}
//   list       {query?="", shot?} -> page info + {rows: [...], tabs: [...], current_tab, ...}
//   create     {name, org?, expiry?, expiry_date?, scopes?: "full" | [scope...], copy?,
//               shot_form?, shot_created?} -> {token, token_id, shown_once, copied, ...}
//              (another page instead of the created page throws, unless expect_error: then
//              -> {error, path, form})
//   edit       {id, name?, org?, expiry?, expiry_date?, scopes?, shot?, expect_error?}
//              -> {prefill: {...}, notice, error, path, rows}
//   regenerate {id, shot_confirm?, shot_created?} -> {token, shown_once}
//   revoke     {id, shot_confirm?, shot_after?} -> {notice, path, rows}
//   signout    {shot?, back?=true} -> {path, back: {...}, revisit: {...}}
//   cross_site_post {action_path, fields: {...}, attacker_origin?}
//              a page on another site (served by request interception, default
//              http://attacker.test) posts a form to Patrol -> {status, cookie_sent, sec_fetch_site, ...}
//   viewport   {width, height}
//   wait       {ms}
//   info       {} -> page info of the current page
import { log, runScenario, textOf } from './lib.mjs';

const DEFAULT_PASSWORD = 'patrol-e2e-password';

// -- helpers ------------------------------------------------------------------------------------

function here(c) {
  const u = new URL(c.page.url());
  return { origin: u.origin, path: u.pathname + u.search, pathname: u.pathname };
}

async function info(c, extra = {}) {
  const { page } = c;
  const h = here(c);
  return {
    path: h.path,
    origin: h.origin,
    on_patrol: h.origin === c.origin,
    title: await page.title(),
    user_name: await textOf(page.locator('#user-name')),
    notice: await textOf(page.locator('#notice')),
    error: await textOf(page.locator('#error')),
    ...extra,
  };
}

/** Click something that submits a form or follows a link, and wait for the next page to load. */
async function clickAndWait(c, selector) {
  const { page } = c;
  const loc = typeof selector === 'string' ? page.locator(selector) : selector;
  const count = await loc.count();
  if (count !== 1) throw new Error(`expected exactly one ${selector} on ${here(c).path}, found ${count}`);
  const navigated = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() });
  await loc.click();
  await navigated;
  await page.waitForLoadState('load');
}

/** "<status?> <path> "<title>" #error: ..." of the current page, for error messages. */
async function pageSummary(c) {
  const h = here(c);
  const err = await textOf(c.page.locator('#error'));
  const main = err || ((await c.page.locator('main, body').first().innerText().catch(() => '')) ?? '').replace(/\s+/g, ' ').trim().slice(0, 300);
  return `${h.origin === c.origin ? '' : h.origin}${h.pathname} "${await c.page.title()}": ${err ? `#error: ${err}` : main}`;
}

async function expectPath(c, pred, what) {
  const h = here(c);
  if (h.origin !== c.origin || !pred(h.pathname)) {
    throw new Error(`expected ${what}, but the browser is at ${h.origin}${h.pathname}` +
      ((await textOf(c.page.locator('#error'))) ? ` (#error: ${await textOf(c.page.locator('#error'))})` : ''));
  }
}

async function rowsOf(page) {
  return page.$$eval('table#tokens tr[data-token-id]', (trs) => trs.map((tr) => {
    const cell = (cls) => (tr.querySelector(`td.${cls}`)?.textContent ?? '').replace(/\s+/g, ' ').trim();
    const link = (cls) => tr.querySelector(`a.${cls}`)?.getAttribute('href') ?? null;
    return {
      id: tr.dataset.tokenId,
      name: tr.dataset.tokenName,
      cell_name: cell('name'),
      orgs: cell('orgs'),
      scopes: cell('scopes'),
      expires: cell('expires'),
      expires_soon: !!tr.querySelector('td.expires span.expires-soon'),
      status: cell('status'),
      last_used: cell('last-used'),
      edit: link('edit'),
      regenerate: link('regenerate'),
      revoke: link('revoke'),
    };
  }));
}

async function hrefIfPresent(page, selector) {
  const loc = page.locator(selector);
  return (await loc.count()) ? loc.first().getAttribute('href') : null;
}

async function listInfo(c) {
  const { page } = c;
  const tabs = await page.$$eval('nav#status-tabs a[data-status]', (as) => as.map((a) => ({
    status: a.dataset.status,
    href: a.getAttribute('href'),
    current: a.getAttribute('aria-current') === 'page',
  })));
  const sorts = await page.$$eval('th a[data-sort]', (as) => as.map((a) => ({ sort: a.dataset.sort, href: a.getAttribute('href') })));
  return info(c, {
    rows: await rowsOf(page),
    tabs,
    current_tab: tabs.find((t) => t.current)?.status ?? null,
    sorts,
    has_table: (await page.locator('table#tokens').count()) > 0,
    no_tokens: (await page.locator('#no-tokens').count()) > 0,
    has_new_token: (await page.locator('a#new-token').count()) > 0,
    prev_page: await hrefIfPresent(page, 'a#prev-page'),
    next_page: await hrefIfPresent(page, 'a#next-page'),
    // the page is usable at this width: nothing forces horizontal scrolling
    scroll_width: await page.evaluate(() => document.documentElement.scrollWidth),
    client_width: await page.evaluate(() => document.documentElement.clientWidth),
  });
}

async function gotoList(c, query = '') {
  await c.page.goto(`${c.base}/tokens${query}`);
  await expectPath(c, (p) => p === '/tokens', 'the token list (/tokens)');
}

/** A token row's action link, clicked; waits for `pathSuffix` (e.g. /edit). */
async function openRowAction(c, id, action) {
  let row = c.page.locator(`table#tokens tr[data-token-id="${id}"]`);
  if (here(c).pathname !== '/tokens' || (await row.count()) === 0) {
    await gotoList(c, '?status=all');
    row = c.page.locator(`table#tokens tr[data-token-id="${id}"]`);
  }
  if ((await row.count()) === 0) throw new Error(`no row tr[data-token-id="${id}"] in the token list`);
  await clickAndWait(c, row.locator(`a.${action}`));
  await expectPath(c, (p) => p === `/tokens/${id}/${action}`, `/tokens/${id}/${action}`);
}

async function readForm(page) {
  return page.evaluate(() => {
    const f = document.querySelector('form#token-form');
    if (!f) return null;
    const val = (sel) => f.querySelector(sel)?.value ?? null;
    const org = f.querySelector('#org');
    return {
      name: val('#name'),
      org: org ? Array.from(org.selectedOptions).map((o) => o.value) : null,
      org_options: org ? Array.from(org.options).map((o) => o.value) : [],
      expiry: val('#expiry'),
      expiry_options: Array.from(f.querySelectorAll('#expiry option')).map((o) => o.value),
      expiry_date: val('#expiry-date'),
      scope_mode: f.querySelector('input[name=scope_mode]:checked')?.value ?? null,
      scopes: Array.from(f.querySelectorAll('input[type=checkbox][name=scope]:checked')).map((i) => i.value),
      scope_areas: f.querySelectorAll('fieldset.scope-area').length,
      has_all_scopes: !!f.querySelector('details#all-scopes'),
      csrf: !!f.querySelector('input[type=hidden][name=csrf]'),
    };
  });
}

async function fillTokenForm(c, a) {
  const { page } = c;
  if ((await page.locator('form#token-form').count()) !== 1) throw new Error('no form#token-form on the page');
  if (a.name !== undefined) await page.fill('#name', a.name);
  if (a.org !== undefined) await page.selectOption('#org', a.org);
  if (a.expiry !== undefined) {
    await page.selectOption('#expiry', String(a.expiry));
    if (a.expiry === 'custom') await page.fill('#expiry-date', a.expiry_date);
  }
  if (a.scopes === 'full') {
    await page.check('#scopes-full');
  } else if (Array.isArray(a.scopes)) {
    await page.check('#scopes-custom');
    const details = page.locator('details#all-scopes');
    if ((await details.count()) && !(await details.evaluate((d) => d.open))) {
      await details.locator('summary').click();
    }
    const want = new Set(a.scopes);
    for (const box of await page.locator('input[type=checkbox][name=scope]').all()) {
      const value = await box.getAttribute('value');
      const on = want.has(value);
      if ((await box.isChecked()) !== on) await box.setChecked(on);
      want.delete(value);
    }
    if (want.size) throw new Error(`no scope checkbox for: ${[...want].join(', ')}`);
  }
}

async function readCreated(c, a) {
  const { page } = c;
  const value = page.locator('#new-token-value');
  if ((await value.count()) !== 1) return null;
  const out = {
    token: await value.inputValue(),
    readonly: await value.evaluate((el) => el.readOnly || el.hasAttribute('readonly')),
    shown_once: await textOf(page.locator('#shown-once')),
    has_copy: (await page.locator('button#copy-token').count()) === 1,
    has_done: (await page.locator('a#done').count()) === 1,
    path: here(c).path,
    copied: null,
  };
  if (a.copy && out.has_copy) {
    await c.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: c.origin });
    await page.click('button#copy-token');
    await page.waitForTimeout(200);
    out.copied_matches = await page.evaluate(async (t) => {
      try {
        return (await navigator.clipboard.readText()) === t;
      } catch (e) {
        return `clipboard unreadable: ${e.message}`;
      }
    }, out.token);
  }
  return out;
}

// -- actions -----------------------------------------------------------------------------------

const ACTIONS = {
  async info(c) {
    return info(c);
  },

  async wait(c, a) {
    await c.page.waitForTimeout(a.ms);
  },

  async viewport(c, a) {
    await c.page.setViewportSize({ width: a.width, height: a.height });
  },

  async goto(c, a) {
    const resp = await c.page.goto(c.base + a.path);
    if (a.shot) await c.shot(c.page, a.shot);
    return info(c, { status: resp?.status() ?? null });
  },

  async signin(c, a) {
    const { page } = c;
    const start = a.start_path ?? '/tokens';
    const startPath = start.split('?')[0];
    await page.goto(c.base + start);
    const hops = [];
    let shotDone = false;
    let consentShotDone = false;
    let idle = null;
    const deadline = Date.now() + (a.timeout_ms ?? 20000);
    while (Date.now() < deadline) {
      await page.waitForLoadState('load');
      const h = here(c);
      if (hops[hops.length - 1] !== h.origin + h.pathname) hops.push(h.origin + h.pathname);
      if (h.origin === c.origin) {
        if (h.pathname === startPath && (await page.locator('#user-name').count())) {
          return info(c, { hops });
        }
        const err = await textOf(page.locator('#error'));
        if (err) throw new Error(`sign-in ended on an error page ${h.pathname}: ${err}`);
      }
      const devButton = page.locator(`button[name="username"][value="${a.user}"]`);
      const login = page.locator('input[name="login"]');
      const consent = page.locator('form:has(input[name="prompt"][value="consent"]) button[type="submit"]');
      if (await devButton.count()) {
        if (a.shot && !shotDone) await c.shot(page, a.shot);
        shotDone = true;
        await clickAndWait(c, devButton);
      } else if (await login.count()) {
        await login.fill(a.user);
        await page.fill('input[name="password"]', a.password ?? DEFAULT_PASSWORD);
        if (a.shot && !shotDone) await c.shot(page, a.shot);
        shotDone = true;
        await clickAndWait(c, 'form:has(input[name="prompt"][value="login"]) button[type="submit"]');
      } else if (await consent.count()) {
        if (a.shot_consent && !consentShotDone) await c.shot(page, a.shot_consent);
        consentShotDone = true;
        await clickAndWait(c, consent);
      } else {
        // Nothing to click and not back at Patrol: an error page, or still loading.
        idle = idle ?? Date.now();
        if (Date.now() - idle > 3000) {
          const text = ((await page.locator('body').innerText().catch(() => '')) ?? '').replace(/\s+/g, ' ').trim();
          throw new Error(`sign-in stuck at ${h.origin}${h.pathname} (page text: ${text.slice(0, 300)})`);
        }
        await page.waitForTimeout(100);
        continue;
      }
      idle = null;
    }
    throw new Error(`sign-in did not come back to ${start} signed in (no #user-name); pages: ${hops.join(' -> ')}`);
  },

  async list(c, a) {
    await gotoList(c, a.query ?? '');
    if (a.shot) await c.shot(c.page, a.shot);
    return listInfo(c);
  },

  async create(c, a) {
    const { page } = c;
    await gotoList(c);
    await clickAndWait(c, 'a#new-token');
    await expectPath(c, (p) => p === '/tokens/new', 'the new-token form (/tokens/new)');
    const blank = await readForm(page);
    await fillTokenForm(c, a);
    if (a.shot_form) await c.shot(page, a.shot_form);
    await clickAndWait(c, 'form#token-form button#submit');
    const created = await readCreated(c, a);
    if (!created) {
      const got = await info(c, { form: await readForm(page), blank });
      if (a.expect_error) return got;
      throw new Error(`creating "${a.name}" did not show the created page: ${await pageSummary(c)}`);
    }
    if (a.shot_created) await c.shot(page, a.shot_created);
    await clickAndWait(c, 'a#done');
    await expectPath(c, (p) => p === '/tokens', 'the token list after "done"');
    const rows = await rowsOf(page);
    const row = rows.find((r) => r.name === a.name);
    return { ...created, token_id: row?.id ?? null, row: row ?? null, blank, list_path: here(c).path };
  },

  async edit(c, a) {
    const { page } = c;
    await openRowAction(c, a.id, 'edit');
    const prefill = await readForm(page);
    await fillTokenForm(c, a);
    if (a.shot) await c.shot(page, a.shot);
    await clickAndWait(c, 'form#token-form button#submit');
    const got = await info(c, { prefill, rows: here(c).pathname === '/tokens' ? await rowsOf(page) : [] });
    if (!a.expect_error && (here(c).pathname !== '/tokens' || got.error)) {
      throw new Error(`saving the edit of ${a.id} did not go back to the list: ${await pageSummary(c)}`);
    }
    return got;
  },

  async regenerate(c, a) {
    const { page } = c;
    await openRowAction(c, a.id, 'regenerate');
    if (a.shot_confirm) await c.shot(page, a.shot_confirm);
    await clickAndWait(c, 'form#confirm-regenerate button#confirm');
    const created = await readCreated(c, a);
    if (!created) {
      if (a.expect_error) return info(c);
      throw new Error(`regenerating ${a.id} did not show the created page: ${await pageSummary(c)}`);
    }
    if (a.shot_created) await c.shot(page, a.shot_created);
    await clickAndWait(c, 'a#done');
    return created;
  },

  async revoke(c, a) {
    const { page } = c;
    await openRowAction(c, a.id, 'revoke');
    const confirm = await info(c, { has_form: (await page.locator('form#confirm-revoke').count()) === 1 });
    if (a.shot_confirm) await c.shot(page, a.shot_confirm);
    await clickAndWait(c, 'form#confirm-revoke button#confirm');
    if (!a.expect_error && (here(c).pathname !== '/tokens' || (await textOf(page.locator('#error'))))) {
      throw new Error(`revoking ${a.id} did not go back to the list: ${await pageSummary(c)}`);
    }
    if (a.shot_after) await c.shot(page, a.shot_after);
    return { confirm, ...(await listInfo(c)) };
  },

  async signout(c, a) {
    const { page } = c;
    if (here(c).origin !== c.origin) await gotoList(c);
    const before = here(c).path;
    await clickAndWait(c, 'form#signout button[type="submit"]');
    const after = await info(c);
    if (a.shot) await c.shot(page, a.shot);
    let back = null;
    if (a.back ?? true) {
      await page.goBack();
      await page.waitForLoadState('load');
      // a page restored from the back/forward cache would still show the old content
      back = await info(c, { from: before });
    }
    await page.goto(`${c.base}/tokens`);
    await page.waitForLoadState('load');
    const revisit = await info(c, { has_signin_button: (await page.locator('button[name="username"]').count()) > 0 });
    return { ...after, back, revisit };
  },

  async cross_site_post(c, a) {
    const { page, context } = c;
    const attacker = (a.attacker_origin ?? 'http://attacker.test').replace(/\/+$/, '');
    const target = c.base + a.action_path;
    const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
    const inputs = Object.entries(a.fields ?? {})
      .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join('');
    const html = `<!doctype html><title>attacker</title><form method="post" action="${esc(target)}">${inputs}` +
      '<button id="go" type="submit">win a prize</button></form>';
    await context.route(`${attacker}/**`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: html }));
    await page.goto(`${attacker}/prize`);
    const responded = page.waitForResponse((r) => r.url() === target && r.request().method() === 'POST');
    await page.click('#go');
    const resp = await responded;
    await page.waitForLoadState('load').catch(() => {});
    const req = await resp.request().allHeaders();
    await context.unroute(`${attacker}/**`);
    log('cross-site POST', a.action_path, '->', resp.status());
    return {
      status: resp.status(),
      location: resp.headers().location ?? null,
      cookie_sent: /(^|;\s*)(__Host-)?patrol_session=/.test(req.cookie ?? ''),
      origin_sent: req.origin ?? null,
      sec_fetch_site: req['sec-fetch-site'] ?? null,
      final: here(c).path,
    };
  },
};

// -- main ------------------------------------------------------------------------------------

await runScenario(async ({ page, context, args, step, shot, state }) => {
  const base = String(args.base_url).replace(/\/+$/, '');
  const c = { page, context, base, origin: new URL(base).origin, shot };
  const results = [];
  state.partial = results;
  for (const [i, action] of (args.actions ?? []).entries()) {
    const fn = ACTIONS[action.do];
    if (!fn) throw new Error(`unknown action ${JSON.stringify(action.do)}`);
    step(`${i}-${action.do}`);
    results.push({ do: action.do, ...((await fn(c, action)) ?? {}) });
  }
  return { results };
});
