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
//   signout    {shot?, back?=true, revisit?=true} -> {path, back: {...}, revisit: {...}}
//   provider_signout {shot?} -> {offered, href, confirmed, back: {...}, revisit: {asks_login}}
//   cross_site_post {action_path, fields: {...}, attacker_origin?}
//              a page on another site (served by request interception, default
//              http://attacker.test) posts a form to Patrol -> {status, cookie_sent, sec_fetch_site, ...}
//   viewport   {width, height}
//   wait       {ms}
//   info       {} -> page info of the current page
//   open       {name, action: "edit" | "regenerate" | "revoke"} the row's action page (by token name)
//   audit      {path?} accessibility basics of the current page (or of `path`): -> {issues: {
//              unlabelled_controls, unnamed_buttons, unnamed_links, images_without_alt,
//              duplicate_ids, lang, h1_count}, counts}; offenders are CSS-like selectors
//   layout     {path?, selectors: [...], shot?} -> {scroll_width, inner_width, boxes: {sel: {...}}}
//   create     ... {stay: true} stops on the created page (no "done"; token_id is null)
//
// Keyboard only (no mouse, no element.click()/fill(): page.keyboard presses; every action
// records the focus order it saw as `focus: {"<page>": ["a#new-token", ...]}`; a search for an
// element gives up after MAX_TABS Tab presses):
//   keyboard_signin {user}  /tokens -> the dev issuer page: Tab to the user's button, Enter
//   keyboard_create {name, org, expiry, scope, copy?, shot_focus?}
//              list: first Tab = skip link (its box must be on screen), Tab to a#new-token,
//              Enter; form: Tab, Enter on the skip link (focus -> main), Tab to #name, type,
//              Tab to #org / #expiry, arrow keys; Tab into the scope radios, arrows
//              (custom -> full -> custom); Tab to the scope's checkbox, Space; Tab to #submit,
//              Enter; created: token read from #new-token-value, Tab to #copy-token + Enter
//              (copy?), Tab to a#done, Enter -> {token, token_id, skip: {...}, radios, ...}
//   keyboard_revoke {id}    list: Tab to the row's a.revoke, Enter; the confirmation page's
//              focused (autofocus) element, Enter on #confirm -> {autofocus, notice, rows, ...}
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
      expires_iso: tr.querySelector('td.expires time')?.getAttribute('datetime') ?? null,
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
      // patrol.js hides the date field unless "Custom date" is chosen (no JS: always shown)
      expiry_date_hidden: f.querySelector('#expiry-date')?.hidden ?? null,
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

/** true when the clipboard holds `token`, else false or why it could not be read. */
async function clipboardHolds(page, token) {
  return page.evaluate(async (t) => {
    try {
      return (await navigator.clipboard.readText()) === t;
    } catch (e) {
      return `clipboard unreadable: ${e.message}`;
    }
  }, token);
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
    copy_visible: await page.locator('button#copy-token').isVisible(),
    has_done: (await page.locator('a#done').count()) === 1,
    path: here(c).path,
    copied: null,
  };
  if (a.copy && out.has_copy) {
    await c.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: c.origin });
    await page.click('button#copy-token');
    await page.waitForTimeout(200);
    out.copied_matches = await clipboardHolds(page, out.token);
  }
  return out;
}


// -- keyboard only -----------------------------------------------------------------------------

const MAX_TABS = 150;

/** A short description of the focused element ("a#new-token", "input[name=scope][value=vso.code]"). */
async function focusedDesc(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return 'body';
    let d = el.tagName.toLowerCase();
    if (el.id) d += `#${el.id}`;
    else if (el.classList.length) d += `.${[...el.classList].join('.')}`;
    if (el.name && !el.id) d += `[name=${el.name}]`;
    if (el.tagName === 'A' && !el.id && !el.classList.length) {
      d += el.dataset.status ? `[data-status=${el.dataset.status}]`
        : el.dataset.sort ? `[data-sort=${el.dataset.sort}]` : `[href=${el.getAttribute('href')}]`;
    }
    if ((el.type === 'checkbox' || el.type === 'radio' || el.name === 'username') && !el.id) d += `[value=${el.value}]`;
    const row = el.closest('tr[data-token-id]');
    if (row) d = `tr[data-token-name=${row.dataset.tokenName}] ${d}`;
    return d;
  });
}

async function focusedMatches(page, selector) {
  return page.evaluate((sel) => !!document.activeElement && document.activeElement !== document.body &&
    document.activeElement.matches(sel), selector);
}

/** Keyboard state of one action: the focus order per page, and the keys pressed. */
function kbd(c) {
  const k = { focus: {}, tabs: 0, keys: [] };
  k.page = () => {
    const p = here(c).pathname;
    k.focus[p] = k.focus[p] ?? [];
    return k.focus[p];
  };
  k.press = async (key) => {
    await c.page.keyboard.press(key);
    k.keys.push(key);
    if (key === 'Tab' || key === 'Shift+Tab') k.tabs += 1;
    k.page().push(await focusedDesc(c.page));
  };
  // for error messages: each page's order, cut after 40 (Tab wraps around the page)
  k.order = () => JSON.stringify(Object.fromEntries(Object.entries(k.focus).map(([p, o]) =>
    [p, o.length > 40 ? [...o.slice(0, 40), `... ${o.length - 40} more`] : o])));
  return k;
}

/** Press Tab (or Shift+Tab) until the focused element matches `selector`; at most MAX_TABS. */
async function tabTo(c, k, selector, { back = false, max = MAX_TABS } = {}) {
  if (await focusedMatches(c.page, selector)) return 0;
  for (let i = 1; i <= max; i += 1) {
    await k.press(back ? 'Shift+Tab' : 'Tab');
    if (await focusedMatches(c.page, selector)) return i;
  }
  throw new Error(`keyboard: ${max} ${back ? 'Shift+Tab' : 'Tab'} presses on ${here(c).pathname} never focused ` +
    `${selector}; focus order: ${k.order()}`);
}

/** Press a key that navigates (Enter on a link / submit button) and wait for the next page. */
async function pressAndWait(c, k, key, done = null) {
  const { page } = c;
  const navigated = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() });
  await page.keyboard.press(key);
  k.keys.push(key);
  await navigated;
  if (done) await page.waitForURL(done);
  await page.waitForLoadState('load');
}

/** Change the focused <select> to `value` with ArrowDown / ArrowUp only. */
async function selectByKeyboard(c, k, selector, value) {
  const { page } = c;
  if (!(await focusedMatches(page, selector))) throw new Error(`keyboard: ${selector} is not focused`);
  const state = () => page.$eval(selector, (s, v) => ({
    value: s.value,
    index: s.selectedIndex,
    target: Array.from(s.options).findIndex((o) => o.value === v),
    options: s.options.length,
  }), value);
  let st = await state();
  if (st.target < 0) throw new Error(`${selector} has no option ${value}`);
  for (let i = 0; i < st.options * 2 && st.value !== value; i += 1) {
    await k.press(st.target > st.index ? 'ArrowDown' : 'ArrowUp');
    const next = await state();
    if (next.index === st.index) throw new Error(`keyboard: ${st.target > st.index ? 'ArrowDown' : 'ArrowUp'} did not change ${selector} (still ${st.value})`);
    st = next;
  }
  if (st.value !== value) throw new Error(`keyboard: could not select ${value} in ${selector} (at ${st.value})`);
  if (!(await focusedMatches(page, selector))) throw new Error(`keyboard: ${selector} lost focus while choosing`);
  return st.value;
}

async function boxOnScreen(page, selector) {
  return page.$eval(selector, (el) => {
    const r = el.getBoundingClientRect();
    return {
      x: Math.round(r.x), y: Math.round(r.y), width: Math.round(r.width), height: Math.round(r.height),
      on_screen: r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0 &&
        r.right <= window.innerWidth && r.bottom <= window.innerHeight,
    };
  });
}

/** From a freshly loaded page: the first Tab, and whether it is the visible skip link. */
async function firstTabIsSkip(c, k) {
  await k.press('Tab');
  const first = k.page()[k.page().length - 1];
  const isSkip = await focusedMatches(c.page, 'a.skip');
  return { first, is_skip: isSkip, box: isSkip ? await boxOnScreen(c.page, 'a.skip') : null };
}

async function tokenIdByName(page, name) {
  return page.$$eval('table#tokens tr[data-token-id]', (trs, n) => trs.filter((tr) => tr.dataset.tokenName === n)
    .map((tr) => tr.dataset.tokenId), name);
}

// -- page checks -------------------------------------------------------------------------------

/** Accessibility basics of the current document, offenders as selectors. */
async function auditPage(page) {
  return page.evaluate(() => {
    const sel = (el) => {
      let d = el.tagName.toLowerCase();
      if (el.id) return `${d}#${el.id}`;
      if (el.classList.length) d += `.${[...el.classList].join('.')}`;
      for (const a of ['name', 'type', 'value', 'href']) {
        if (el.hasAttribute(a) && !(a === 'type' && el.tagName !== 'INPUT')) d += `[${a}="${el.getAttribute(a)}"]`;
      }
      const anc = el.parentElement?.closest('[id]');
      return anc ? `${anc.tagName.toLowerCase()}#${anc.id} ${d}` : d;
    };
    const text = (s) => (s ?? '').replace(/\s+/g, ' ').trim();
    const byIds = (ids) => text(ids.split(/\s+/).map((id) => document.getElementById(id)?.textContent ?? '').join(' '));
    const ariaName = (el) => text(el.getAttribute('aria-label')) ||
      (el.hasAttribute('aria-labelledby') ? byIds(el.getAttribute('aria-labelledby')) : '');
    const visible = (el) => (el.checkVisibility ? el.checkVisibility() : el.getClientRects().length > 0);
    const controls = Array.from(document.querySelectorAll('input, select, textarea'))
      .filter((el) => el.type !== 'hidden' && visible(el));
    const unlabelled = controls.filter((el) => !(ariaName(el) ||
      text(Array.from(el.labels ?? []).map((l) => l.textContent).join(' '))));
    const buttons = Array.from(document.querySelectorAll(
      'button, [role=button], input[type=submit], input[type=button], input[type=reset], input[type=image]'));
    const buttonName = (el) => ariaName(el) || text(el.tagName === 'INPUT' ? (el.value || el.alt) : el.textContent);
    const links = Array.from(document.querySelectorAll('a[href], [role=link]'));
    const linkName = (el) => ariaName(el) || text(el.textContent) ||
      text(Array.from(el.querySelectorAll('img[alt]')).map((i) => i.alt).join(' '));
    const ids = {};
    for (const el of document.querySelectorAll('[id]')) ids[el.id] = (ids[el.id] ?? 0) + 1;
    const lang = document.documentElement.getAttribute('lang');
    return {
      issues: {
        unlabelled_controls: unlabelled.map(sel),
        unnamed_buttons: buttons.filter((el) => !buttonName(el)).map(sel),
        unnamed_links: links.filter((el) => !linkName(el)).map(sel),
        images_without_alt: Array.from(document.querySelectorAll('img:not([alt])')).map(sel),
        duplicate_ids: Object.entries(ids).filter(([, n]) => n > 1).map(([id, n]) => `#${id} x${n}`),
        lang: lang && lang.trim() ? [] : ['html[lang] missing or empty'],
        h1_count: document.querySelectorAll('h1').length === 1 ? [] : [`${document.querySelectorAll('h1').length} h1 elements`],
      },
      counts: { controls: controls.length, buttons: buttons.length, links: links.length, lang },
    };
  });
}

/** Horizontal overflow, and where the given elements are (fully inside the viewport width?). */
async function layoutOf(page, selectors) {
  return page.evaluate((sels) => {
    const boxes = {};
    for (const s of sels) {
      const el = document.querySelector(s);
      if (!el) continue;
      const r = el.getBoundingClientRect();
      boxes[s] = {
        left: Math.round(r.left * 10) / 10,
        right: Math.round(r.right * 10) / 10,
        width: Math.round(r.width * 10) / 10,
        inside: r.width > 0 && r.left >= 0 && r.right <= window.innerWidth,
      };
    }
    return {
      scroll_width: document.documentElement.scrollWidth,
      inner_width: window.innerWidth,
      client_width: document.documentElement.clientWidth,
      boxes,
    };
  }, selectors);
}

// -- actions -----------------------------------------------------------------------------------

const ACTIONS = {
  async info(c) {
    return info(c);
  },

  async open(c, a) {
    await gotoList(c, '?status=all');
    const ids = await tokenIdByName(c.page, a.name);
    if (ids.length !== 1) throw new Error(`expected one row named ${a.name}, found ${ids.length}`);
    await openRowAction(c, ids[0], a.action);
    return info(c, { id: ids[0] });
  },

  async audit(c, a) {
    if (a.path) await c.page.goto(c.base + a.path);
    return info(c, await auditPage(c.page));
  },

  async layout(c, a) {
    if (a.path) await c.page.goto(c.base + a.path);
    const got = await layoutOf(c.page, a.selectors ?? []);
    if (a.shot) await c.shot(c.page, a.shot);
    return info(c, got);
  },

  async keyboard_signin(c, a) {
    const { page } = c;
    const k = kbd(c);
    await page.goto(`${c.base}/tokens`);
    await page.waitForLoadState('load');
    const issuerPage = here(c).path;
    await tabTo(c, k, `button[name="username"][value="${a.user}"]`);
    await pressAndWait(c, k, 'Enter', (u) => u.origin === c.origin && u.pathname === '/tokens');
    await page.locator('#user-name').waitFor();
    return info(c, { issuer_page: issuerPage.split('?')[0], focus: k.focus, tabs: k.tabs });
  },

  async keyboard_create(c, a) {
    const { page } = c;
    const k = kbd(c);
    if (here(c).pathname !== '/tokens') await gotoList(c);
    const out = { skip: {} };
    // the list: the first Tab is the skip link, shown on screen
    out.skip.list = await firstTabIsSkip(c, k);
    if (a.shot_focus) await c.shot(page, a.shot_focus, { fullPage: false });
    await tabTo(c, k, 'a#new-token');
    await pressAndWait(c, k, 'Enter');
    await expectPath(c, (p) => p === '/tokens/new', 'the new-token form after Enter on a#new-token');
    // the form: skip link first; Enter on it moves focus to <main>, the next Tab to #name
    out.skip.form = await firstTabIsSkip(c, k);
    if (out.skip.form.is_skip) {
      await k.press('Enter');
      out.skip.form.target = await focusedDesc(page);
    }
    out.tabs_to_name = await tabTo(c, k, '#name');
    await page.keyboard.type(a.name);
    k.keys.push(`type(${a.name.length} chars)`);
    await tabTo(c, k, '#org');
    out.org = await selectByKeyboard(c, k, '#org', a.org);
    await tabTo(c, k, '#expiry');
    out.expiry = await selectByKeyboard(c, k, '#expiry', String(a.expiry));
    // the radio group: Tab lands on the checked radio; arrows move and check
    await tabTo(c, k, 'input[name=scope_mode]');
    const radios = async () => page.evaluate(() => ({
      focused: document.activeElement?.id ?? null,
      checked: document.querySelector('input[name=scope_mode]:checked')?.value ?? null,
      boxes_disabled: !!document.querySelector('#scope-picker input[type=checkbox]:disabled'),
    }));
    out.radios = [await radios()];
    if (out.radios[0].checked === 'custom') {
      await k.press('ArrowUp');
      out.radios.push(await radios());
    }
    await k.press('ArrowDown');
    out.radios.push(await radios());
    await tabTo(c, k, `input[type=checkbox][name=scope][value="${a.scope}"]`);
    await k.press('Space');
    out.scopes = await page.$$eval('input[type=checkbox][name=scope]:checked', (bs) => bs.map((b) => b.value));
    out.form = await readForm(page);
    await tabTo(c, k, '#submit');
    await pressAndWait(c, k, 'Enter');
    // the created page
    const value = page.locator('#new-token-value');
    if ((await value.count()) !== 1) {
      throw new Error(`keyboard create did not show the created page: ${await pageSummary(c)}; focus order: ${k.order()}`);
    }
    out.token = await value.inputValue();
    out.skip.created = await firstTabIsSkip(c, k);
    await tabTo(c, k, '#new-token-value');
    if (a.copy) {
      await c.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: c.origin });
      await tabTo(c, k, 'button#copy-token');
      await k.press('Enter');
      await page.waitForFunction(() => document.getElementById('copy-status')?.textContent?.trim(), null, { timeout: 3000 })
        .catch(() => {});
      out.copy_status = await textOf(page.locator('#copy-status'));
      out.copied_matches = await clipboardHolds(page, out.token);
    }
    await tabTo(c, k, 'a#done');
    await pressAndWait(c, k, 'Enter');
    await expectPath(c, (p) => p === '/tokens', 'the token list after Enter on a#done');
    const ids = await tokenIdByName(page, a.name);
    return info(c, { ...out, token_id: ids.length === 1 ? ids[0] : null, focus: k.focus, tabs: k.tabs, keys: k.keys });
  },

  async keyboard_revoke(c, a) {
    const { page } = c;
    const k = kbd(c);
    if (here(c).pathname !== '/tokens') await gotoList(c);
    await tabTo(c, k, `tr[data-token-id="${a.id}"] a.revoke`);
    await pressAndWait(c, k, 'Enter');
    await expectPath(c, (p) => p === `/tokens/${a.id}/revoke`, 'the revoke confirmation');
    // Chromium applies `autofocus` at a rendering update after load: give it a moment.
    await page
      .waitForFunction(() => document.activeElement && document.activeElement !== document.body, null, { timeout: 2000 })
      .catch(() => {});
    const autofocus = await focusedDesc(page);
    k.page().push(`(on load) ${autofocus}`);
    const tabsToConfirm = await tabTo(c, k, 'form#confirm-revoke button#confirm');
    await pressAndWait(c, k, 'Enter');
    return { ...(await listInfo(c)), autofocus, tabs_to_confirm: tabsToConfirm, focus: k.focus, tabs: k.tabs };
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
    if (a.stay) return { ...created, token_id: null, row: null, blank };
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
    if (!(a.revisit ?? true)) return { ...after, back };
    await page.goto(`${c.base}/tokens`);
    await page.waitForLoadState('load');
    const revisit = await info(c, { has_signin_button: (await page.locator('button[name="username"]').count()) > 0 });
    return { ...after, back, revisit };
  },

  // On /signed-out: follow "Sign out of the identity provider too", confirm at the provider,
  // come back to /signed-out; then open /tokens and report whether the provider asks to log in.
  async provider_signout(c, a) {
    const { page } = c;
    if (here(c).pathname !== '/signed-out') throw new Error(`provider_signout starts on /signed-out, not ${here(c).path}`);
    const link = page.locator('a#provider-signout');
    if (!(await link.count())) return { offered: false };
    const href = await link.getAttribute('href');
    await clickAndWait(c, link);
    const deadline = Date.now() + 10000;
    let confirmed = false;
    for (;;) {
      await page.waitForLoadState('load');
      const h = here(c);
      if (h.origin === c.origin && h.pathname === '/signed-out') break;
      if (Date.now() > deadline) throw new Error(`provider sign-out did not come back to /signed-out (at ${h.origin}${h.pathname})`);
      const yes = page.locator('button[name="logout"][value="yes"]');
      if (!confirmed && (await yes.count())) {
        if (a.shot) await c.shot(page, a.shot);
        confirmed = true;
        await clickAndWait(c, yes);
        continue;
      }
      await page.waitForTimeout(100);
    }
    const back = await info(c);
    await page.goto(`${c.base}/tokens`);
    await page.waitForLoadState('load');
    const h = here(c);
    const revisit = { origin: h.origin, path: h.path, asks_login: (await page.locator('input[name="login"]').count()) > 0 };
    return { offered: true, href, confirmed, back, revisit };
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
