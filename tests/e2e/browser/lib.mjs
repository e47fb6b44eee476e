// Shared helpers for the browser scenarios: launch Debian's Chromium through playwright-core,
// collect console output, report results as one JSON line on stdout, dump the page on failure.
//
// Every scenario script is run by pytest (tests/e2e/lib/browser.py) as
//     node <script>.mjs '<json args>'
// and prints exactly one line `RESULT {json}` on stdout: {"ok": true, ...data} or
// {"ok": false, "error": "...", "step": "...", "url": "...", "html": "...", "console": [...]}.
// Everything else (progress, browser console) goes to stderr.
//
// Never download a Playwright browser: the executable is /usr/bin/chromium (override with
// PATROL_CHROMIUM). The closed network refuses Google hosts; the flags keep Chromium quiet.

import * as fs from 'node:fs';
import * as path from 'node:path';

import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.PATROL_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export const log = (...args) => console.error('[browser]', ...args);

/** Parse the JSON argument (argv[2]) of a scenario. */
export function scenarioArgs() {
  const raw = process.argv[2];
  if (!raw) throw new Error('usage: node <scenario>.mjs \'<json args>\'');
  return JSON.parse(raw);
}

/**
 * Launch Chromium (Playwright gives it a fresh temporary profile) and open one context + page.
 * `storageState` (a path or object from context.storageState()) restores cookies;
 * `javaScriptEnabled: false` turns the page's scripts off (Playwright's own evaluate still works).
 * Returns {browser, context, page, close, consoleLines}.
 */
export async function launch({ viewport = { width: 1280, height: 900 }, timeoutMs = 15000, storageState,
  javaScriptEnabled = true } = {}) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30000,
  });
  const context = await browser.newContext({ viewport, storageState, locale: 'en-US', timezoneId: 'UTC', javaScriptEnabled });
  context.setDefaultTimeout(timeoutMs);
  context.setDefaultNavigationTimeout(timeoutMs);
  const consoleLines = [];
  const watch = (page) => {
    page.on('console', (msg) => {
      if (msg.type() === 'verbose' || msg.text().includes('ERR_BLOCKED_BY_CLIENT')) return;
      consoleLines.push(`${msg.type()}: ${msg.text()}`);
    });
    page.on('pageerror', (err) => consoleLines.push(`pageerror: ${err.message}`));
    page.on('response', (resp) => {
      if (resp.status() >= 400) consoleLines.push(`http ${resp.status()}: ${resp.request().method()} ${redactUrl(resp.url())}`);
    });
    page.on('requestfailed', (req) => req.failure()?.errorText?.startsWith('net::ERR_BLOCKED_BY_CLIENT') ||
      consoleLines.push(`requestfailed: ${req.method()} ${redactUrl(req.url())} ${req.failure()?.errorText ?? ''}`));
  };
  context.on('page', watch);
  // Only loopback servers exist here: fail anything else at once (the reference provider's
  // login page links web fonts), quietly. Routes added later (cross-site tests) win.
  await context.route((url) => !LOCAL_HOSTS.has(url.hostname), (route) => route.abort('blockedbyclient'));
  const page = await context.newPage();
  const close = async () => {
    await browser.close().catch(() => {});
  };
  return { browser, context, page, close, consoleLines };
}

/** Drop query strings (codes, states) from URLs that go into logs/reports. */
export function redactUrl(url) {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}${u.search ? '?...' : ''}`;
  } catch {
    return String(url);
  }
}

/** Screenshot helper bound to a directory; returns the file path. */
export function screenshotter(dir) {
  if (dir) fs.mkdirSync(dir, { recursive: true });
  const taken = [];
  const shot = async (page, name, { fullPage = true } = {}) => {
    if (!dir) return null;
    const file = path.join(dir, `${name}.png`);
    await page.screenshot({ path: file, fullPage });
    taken.push(file);
    return file;
  };
  shot.taken = taken;
  return shot;
}

/**
 * Run a scenario: `body({page, context, args, step, shot, state})` returns data for the report.
 * `step(name)` names the current step (shown on failure). Arguments understood here:
 *   timeout_ms       hard limit for the whole run (default 60000): then a failure report, exit 3
 *   step_timeout_ms  default timeout of each Playwright action / navigation (default 15000)
 *   screenshot_dir   where `shot(page, name)` writes <name>.png (none: no screenshots)
 *   state_in         storage-state JSON file to start from (cookies of an earlier run)
 *   state_out        where to write the storage state at the end (also after a failure)
 *   viewport         {width, height} (default 1280x900)
 *   javascript       false: a context with the page's JavaScript disabled (default true)
 * On failure the report carries the step, the error, the URL (query redacted), the page HTML
 * and the browser console; a screenshot FAILED-<step>.png goes to screenshot_dir.
 */
export async function runScenario(body) {
  let args;
  try {
    args = scenarioArgs();
  } catch (err) {
    emit({ ok: false, error: `bad arguments: ${err.message}` });
    process.exit(2);
  }
  const state = { step: 'launch', page: null, context: null, close: null, consoleLines: [], args };
  const timeoutMs = args.timeout_ms ?? 60000;
  const timer = setTimeout(async () => {
    await fail(state, new Error(`scenario timed out after ${timeoutMs} ms`));
    process.exit(3);
  }, timeoutMs);
  try {
    const b = await launch({
      viewport: args.viewport,
      timeoutMs: args.step_timeout_ms ?? 15000,
      storageState: args.state_in || undefined,
      javaScriptEnabled: args.javascript !== false,
    });
    Object.assign(state, b);
    const shot = screenshotter(args.screenshot_dir);
    const step = (name) => {
      state.step = name;
      log('step:', name);
    };
    const data = await body({ ...b, args, step, shot, state });
    clearTimeout(timer);
    await saveState(state);
    await b.close();
    emit({ ok: true, screenshots: shot.taken, console: b.consoleLines, ...data });
    process.exit(0);
  } catch (err) {
    clearTimeout(timer);
    await fail(state, err);
    process.exit(1);
  }
}

async function saveState(state) {
  if (state.args?.state_out && state.context) {
    await state.context.storageState({ path: state.args.state_out });
  }
}

async function fail(state, err) {
  const report = {
    ok: false,
    step: state.step,
    error: String(err?.stack || err),
    console: state.consoleLines,
    partial: state.partial,
  };
  if (state.page) {
    try {
      report.url = redactUrl(state.page.url());
      report.html = (await state.page.content()).slice(0, 20000);
    } catch (e) {
      report.html = `(page content unavailable: ${e.message})`;
    }
    if (state.args?.screenshot_dir) {
      const name = `FAILED-${String(state.step).replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 60)}`;
      try {
        await screenshotter(state.args.screenshot_dir)(state.page, name);
        report.failure_screenshot = path.join(state.args.screenshot_dir, `${name}.png`);
      } catch {
        // the page may be gone
      }
    }
  }
  await saveState(state).catch(() => {});
  emit(report);
  if (state.close) await state.close().catch(() => {});
}

export function emit(obj) {
  process.stdout.write(`RESULT ${JSON.stringify(obj)}\n`);
}

/** Text content of a locator, trimmed; '' when absent. */
export async function textOf(locator) {
  if ((await locator.count()) === 0) return '';
  return ((await locator.first().textContent()) ?? '').trim();
}
