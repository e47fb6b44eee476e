// Drives Patrol's admin pages in headless Chromium, keyboard only: Tab to each control, type,
// arrow keys in <select>, Space on checkboxes, Enter to submit (no clicks, no fill()).
//
//   node admin.mjs '{"base_url": "...", "screenshot_dir": "...", "actions": [...]}'
//
// Prints one line `RESULT {"ok": true, "results": [...]}` (see lib.mjs); Python
// (tests/e2e/test_web_admin.py) does the asserting.
//
// Actions (paths relative to base_url; `shot*` keys are optional screenshot names):
//   signin      {user}  /tokens -> the dev issuer's page: Tab to the user's button, Enter
//               -> {path, user_name, admin_link}
//   admin_link  {}  on /tokens: Tab to a#admin-link, Enter -> {path, nav}
//   status      {paths: [...]} each path's HTTP status, final path and #error (page.goto)
//   policies    {lifespan_days, shot_dry?, shot_saved?}  /admin/policies: Tab to
//               #lifespan_enabled (Space when unticked), Tab to #lifespan_days, type, Enter
//               (= Dry run) -> dry-run rows; Tab to #tenant-save, Enter -> {dry_run, saved}
//   members     {org, remove, shot?}  /admin/members?org=: Tab to the Remove button of the
//               row named `remove`, Enter; Tab to #add-user, arrows to that user, Tab to
//               #add-submit, Enter -> {before, removed, added} (member names + notices)
//   user_revoke {query, user, token, shot_confirm?}  /admin/users: Tab to #q, type, Enter;
//               Tab to the user's link, Enter; Tab to the token's a.revoke, Enter; the
//               confirmation's autofocus, Enter -> {found, tokens_before, confirm, notice, tokens_after}
//   rule        {scopes, org}  /admin/revocation-rules: Tab to #rule-scopes, type; Tab to
//               #rule-org, arrows; Tab to #rule-submit, Enter -> {notice, rules}
//   audit       {action, token?}  /admin/audit: Tab to #f-action, arrows; Tab to #f-token,
//               type; Enter -> {path, actions, tokens, export}
import { runScenario, textOf } from './lib.mjs';

const MAX_TABS = 200;

function pathOf(c) {
  const u = new URL(c.page.url());
  return u.pathname + u.search;
}

async function focusedMatches(page, selector) {
  return page.evaluate((sel) => !!document.activeElement && document.activeElement !== document.body &&
    document.activeElement.matches(sel), selector);
}

async function focusedDesc(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return 'body';
    return el.tagName.toLowerCase() + (el.id ? `#${el.id}` : '') + (el.className ? `.${el.className}` : '');
  });
}

/** Press Tab until the focused element matches `selector`. */
async function tabTo(c, selector) {
  const seen = [];
  if (await focusedMatches(c.page, selector)) return 0;
  for (let i = 1; i <= MAX_TABS; i += 1) {
    await c.page.keyboard.press('Tab');
    if (await focusedMatches(c.page, selector)) return i;
    seen.push(await focusedDesc(c.page));
  }
  throw new Error(`keyboard: ${MAX_TABS} Tab presses on ${pathOf(c)} never focused ${selector}; ` +
    `order: ${seen.slice(0, 60).join(' ')}`);
}

/** Press a key that navigates, and wait for the next page. */
async function pressAndWait(c, key) {
  const { page } = c;
  const navigated = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() });
  await page.keyboard.press(key);
  await navigated;
  await page.waitForLoadState('load');
}

/** Type into the focused text field, replacing what it held. */
async function typeHere(c, text) {
  await c.page.keyboard.press('ControlOrMeta+A');
  await c.page.keyboard.press('Delete');
  await c.page.keyboard.type(text);
}

/** Change the focused <select> to `value` with ArrowDown / ArrowUp only. */
async function selectByKeyboard(c, selector, value) {
  const { page } = c;
  const state = () => page.$eval(selector, (s, v) => ({
    value: s.value,
    index: s.selectedIndex,
    target: Array.from(s.options).findIndex((o) => o.value === v),
    options: s.options.length,
  }), value);
  let st = await state();
  if (st.target < 0) throw new Error(`${selector} has no option ${value}`);
  for (let i = 0; i < st.options * 2 && st.value !== value; i += 1) {
    await page.keyboard.press(st.target > st.index ? 'ArrowDown' : 'ArrowUp');
    st = await state();
  }
  if (st.value !== value) throw new Error(`keyboard: could not select ${value} in ${selector}`);
}

async function goto(c, path) {
  const resp = await c.page.goto(c.base + path);
  await c.page.waitForLoadState('load');
  return resp;
}

async function info(c, extra = {}) {
  return {
    path: pathOf(c),
    title: await c.page.title(),
    notice: await textOf(c.page.locator('#notice')),
    error: await textOf(c.page.locator('#error')),
    ...extra,
  };
}

const cells = (page, sel, attr) => page.$$eval(sel, (els, a) => els.map((e) => e.getAttribute(a)), attr);

const ACTIONS = {
  async signin(c, a) {
    await goto(c, '/tokens');
    await tabTo(c, `button[name="username"][value="${a.user}"]`);
    await pressAndWait(c, 'Enter');
    await c.page.waitForURL((u) => u.pathname === '/tokens');
    await c.page.locator('#user-name').waitFor();
    return info(c, {
      user_name: await textOf(c.page.locator('#user-name')),
      admin_link: (await c.page.locator('#admin-link').count()) > 0,
    });
  },

  async admin_link(c) {
    await goto(c, '/tokens');
    await tabTo(c, 'a#admin-link');
    await pressAndWait(c, 'Enter');
    return info(c, { nav: await cells(c.page, '#admin-nav a', 'href') });
  },

  async status(c, a) {
    const out = [];
    for (const p of a.paths) {
      const resp = await goto(c, p);
      out.push({ asked: p, status: resp?.status() ?? null, ...(await info(c)) });
    }
    return { pages: out };
  },

  async policies(c, a) {
    const { page } = c;
    await goto(c, '/admin/policies');
    await tabTo(c, '#lifespan_enabled');
    if (!(await page.$eval('#lifespan_enabled', (e) => e.checked))) await page.keyboard.press('Space');
    await tabTo(c, '#lifespan_days');
    await typeHere(c, String(a.lifespan_days));
    await pressAndWait(c, 'Enter');
    const rows = await page.$$eval('#dry-run-rows tr[data-token-id]', (trs) => trs.map((tr) => ({
      id: tr.dataset.tokenId,
      name: tr.querySelector('td.name')?.textContent.trim(),
      policy: tr.querySelector('td.policy')?.textContent.trim(),
    })));
    const dry = await info(c, {
      shown: (await page.locator('#dry-run').count()) > 0,
      heading: await textOf(page.locator('#dry-run-title')),
      rows,
      days_kept: await page.$eval('#lifespan_days', (e) => e.value),
    });
    if (a.shot_dry) await c.shot(page, a.shot_dry);
    await tabTo(c, '#tenant-save');
    await pressAndWait(c, 'Enter');
    const saved = await info(c, { days: await page.$eval('#lifespan_days', (e) => e.value) });
    if (a.shot_saved) await c.shot(page, a.shot_saved);
    return { dry_run: dry, saved };
  },

  async members(c, a) {
    const { page } = c;
    await goto(c, `/admin/members?org=${encodeURIComponent(a.org)}`);
    const names = () => cells(page, '#members tr[data-user-id]', 'data-user-name');
    const before = await names();
    const row = `tr[data-user-name="${a.remove}"]`;
    const id = await page.$eval(row, (tr) => tr.dataset.userId);
    await tabTo(c, `${row} form.remove-member button`);
    await pressAndWait(c, 'Enter');
    const removed = await info(c, { members: await names() });
    if (a.shot) await c.shot(page, a.shot);
    await tabTo(c, '#add-user');
    await selectByKeyboard(c, '#add-user', id);
    await tabTo(c, '#add-submit');
    await pressAndWait(c, 'Enter');
    const added = await info(c, { members: await names() });
    return { before, removed, added, user_id: id };
  },

  async user_revoke(c, a) {
    const { page } = c;
    await goto(c, '/admin/users');
    await tabTo(c, '#q');
    await typeHere(c, a.query);
    await pressAndWait(c, 'Enter');
    const found = await cells(page, '#users tr[data-user-id]', 'data-user-name');
    await tabTo(c, `tr[data-user-name="${a.user}"] a.open-user`);
    await pressAndWait(c, 'Enter');
    const tokens = () => page.$$eval('#tokens tr[data-token-id]', (trs) => trs.map((tr) => ({
      id: tr.dataset.tokenId, name: tr.dataset.tokenName, status: tr.querySelector('td.status')?.textContent.trim(),
    })));
    const before = await tokens();
    await tabTo(c, `tr[data-token-name="${a.token}"] a.revoke`);
    await pressAndWait(c, 'Enter');
    // The browser applies `autofocus` at a later rendering step than the
    // load event: wait for it (a page without it still fails below).
    await page
      .waitForFunction(() => document.activeElement && document.activeElement !== document.body, null, {
        timeout: 5000,
      })
      .catch(() => {});
    const confirm = await info(c, {
      autofocus: await focusedDesc(page),
      heading: await textOf(page.locator('#confirm-title')),
    });
    if (a.shot_confirm) await c.shot(page, a.shot_confirm);
    await pressAndWait(c, 'Enter');
    return { found, tokens_before: before, confirm, after: await info(c, { tokens: await tokens() }) };
  },

  async rule(c, a) {
    const { page } = c;
    await goto(c, '/admin/revocation-rules');
    await tabTo(c, '#rule-scopes');
    await typeHere(c, a.scopes);
    await tabTo(c, '#rule-org');
    await selectByKeyboard(c, '#rule-org', a.org);
    await tabTo(c, '#rule-submit');
    await pressAndWait(c, 'Enter');
    const rules = await page.$$eval('#rules tr[data-rule-id]', (trs) => trs.map((tr) => ({
      scopes: tr.querySelector('td.scopes')?.textContent.trim(),
      revoked: tr.querySelector('td.revoked-count')?.textContent.trim(),
    })));
    return info(c, { rules });
  },

  async audit(c, a) {
    const { page } = c;
    await goto(c, '/admin/audit');
    await tabTo(c, '#f-action');
    await selectByKeyboard(c, '#f-action', a.action);
    await tabTo(c, '#f-token');
    await typeHere(c, a.token ?? '');
    await pressAndWait(c, 'Enter');
    if (a.shot) await c.shot(page, a.shot);
    return info(c, {
      actions: await cells(page, '#events tr.event', 'data-action'),
      tokens: await cells(page, '#events tr.event', 'data-token-id'),
      export: await page.locator('#export').getAttribute('href'),
    });
  },
};

await runScenario(async ({ page, context, args, step, shot, state }) => {
  const base = String(args.base_url).replace(/\/+$/, '');
  const c = { page, context, base, shot };
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
