// Drives a real Chromium (Debian's /usr/bin/chromium, through playwright-core) against a live
// API; run by tests/browser/test_browser.py (`make browser-test`), which starts the API and
// compiles page.ts. Two parts:
//
// 1. The generated client from another origin. A tiny static server on
//    http://localhost:<page port> serves a page, the compiled page.js and openapi-fetch's
//    ESM build (an import map maps "openapi-fetch" to it); in the page, scenario() calls the
//    API on http://127.0.0.1:<api port> (see page.ts). No Playwright route() on this page:
//    interception changes how Chromium runs CORS preflights. The same page served from
//    http://127.0.0.1:<page port>, an origin the API does not allow, must be refused.
// 2. Swagger UI on <api>/docs with every request to a host other than 127.0.0.1/localhost
//    aborted (proves no CDN): Authorize with the bearer token, then "Try it out" on
//    listTasks with only user_id filled in (200 with the user's tasks: nothing else was
//    pre-filled and sent) and on updateTask without touching If-Match (200, none sent).
//
// Usage: node drive.mjs <api url> <token> <user id> <page dir> <page port> <reports dir>
// Prints one JSON line (the outcome) on stdout; on failure, screenshots of the open pages go
// to <reports dir> and the exit status is 1.
import { createReadStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import http from "node:http";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [apiUrl, token, userId, pageDir, pagePortText, reportsDir] = process.argv.slice(2);
if (!reportsDir) {
  console.error("usage: node drive.mjs <api url> <token> <user id> <page dir> <page port> <reports dir>");
  process.exit(2);
}
const pagePort = Number(pagePortText);
const require = createRequire(import.meta.url);
const openapiFetch = join(require.resolve("openapi-fetch/package.json"), "..", "dist", "index.mjs");

const INDEX = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>task API from a browser</title>
  <script type="importmap">{"imports": {"openapi-fetch": "/vendor/openapi-fetch.js"}}</script>
  <script type="module">
    import { scenario, foreignOrigin } from "/app/page.js";
    window.taskApi = { scenario, foreignOrigin };
  </script>
</head>
<body><h1>task API from a browser</h1></body>
</html>
`;
const FILES = {
  "/app/page.js": join(pageDir, "out", "page.js"),
  "/vendor/openapi-fetch.js": openapiFetch,
};

function serve(request, response) {
  const path = new URL(request.url, "http://page").pathname;
  if (path === "/favicon.ico") {
    response.writeHead(204);
    response.end();
  } else if (path === "/") {
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    response.end(INDEX);
  } else if (path in FILES) {
    response.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8" });
    createReadStream(FILES[path]).pipe(response);
  } else {
    response.writeHead(404, { "Content-Type": "text/plain" });
    response.end("not found");
  }
}

const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost"]);
const log = (message) => console.error(`[browser] ${message}`);
const timings = {};
const outcome = { timings };
const pages = {};
let stage = "start";

async function timed(name, action) {
  stage = name;
  const start = performance.now();
  const result = await action();
  timings[name] = Math.round(performance.now() - start);
  log(`${name}: ${timings[name]} ms`);
  return result;
}

async function clientPart(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  pages.client = page;
  page.on("console", (message) => log(`page console ${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => log(`page error: ${error.message}`));
  await page.goto(`http://localhost:${pagePort}/`);
  await page.waitForFunction(() => window.taskApi !== undefined);
  const result = await page.evaluate(
    ([api, bearer, user]) => window.taskApi.scenario(api, bearer, user),
    [apiUrl, token, userId],
  );
  for (const step of result.steps) log(`  ${step.status} ${step.name}${step.note ? ` (${step.note})` : ""}`);

  const foreign = await context.newPage();
  pages.foreign = foreign;
  await foreign.goto(`http://127.0.0.1:${pagePort}/`);
  await foreign.waitForFunction(() => window.taskApi !== undefined);
  result.foreignOrigin = await foreign.evaluate(
    ([api, bearer, user]) => window.taskApi.foreignOrigin(api, bearer, user),
    [apiUrl, token, userId],
  );
  log(`  from http://127.0.0.1:${pagePort}: ${result.foreignOrigin}`);
  await context.close();
  return result;
}

async function openOperation(page, operationId) {
  const block = page.locator(`[id$="-${operationId}"].opblock`);
  await block.locator(".opblock-summary-control").click();
  await block.locator("button.try-out__btn").click();
  return block;
}

async function execute(page, block, matches) {
  const [answer] = await Promise.all([
    page.waitForResponse((response) => matches(response.request())),
    block.locator("button.execute").click(),
  ]);
  await block.locator(".live-responses-table tbody .response-col_status").first().waitFor();
  const request = answer.request();
  return {
    method: request.method(),
    url: request.url(),
    requestHeaders: await request.allHeaders(),
    status: answer.status(),
    body: await answer.json().catch(() => null),
    shown: (await block.locator(".live-responses-table tbody .response-col_status").first().innerText()).trim(),
  };
}

async function docsPart(browser, keptTaskId) {
  const context = await browser.newContext();
  const aborted = [];
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (LOCAL_HOSTS.has(url.hostname)) return route.continue();
    aborted.push(url.href);
    return route.abort();
  });
  const page = await context.newPage();
  pages.docs = page;
  page.on("pageerror", (error) => log(`docs page error: ${error.message}`));
  await page.goto(`${apiUrl}/docs`);
  await page.locator(".swagger-ui .information-container .title").waitFor();
  const title = (await page.locator(".swagger-ui .information-container .title").innerText()).trim();

  // Authorize: the bearerAuth scheme takes the token as is (Swagger UI adds "Bearer ").
  await page.locator(".swagger-ui .auth-wrapper button.authorize").click();
  const dialog = page.locator(".modal-ux");
  await dialog.locator("input").first().fill(token);
  await dialog.locator("button.authorize").click();
  await dialog.locator("button.btn-done").click();

  const tasksUrl = `${apiUrl}/api/${encodeURIComponent(userId)}/tasks`;
  const list = await openOperation(page, "listTasks");
  await list.locator('tr[data-param-name="user_id"] input').fill(userId);
  const listed = await execute(
    page,
    list,
    (request) => request.method() === "GET" && request.url().split("?")[0] === tasksUrl,
  );
  log(`  docs listTasks: ${listed.status} ${listed.url}`);

  const update = await openOperation(page, "updateTask");
  await update.locator('tr[data-param-name="user_id"] input').fill(userId);
  await update.locator('tr[data-param-name="task_id"] input').fill(String(keptTaskId));
  const updated = await execute(
    page,
    update,
    (request) => request.method() === "PATCH" && request.url() === `${tasksUrl}/${keptTaskId}`,
  );
  log(`  docs updateTask: ${updated.status} ${updated.url}`);
  await context.close();
  return { title, aborted, listTasks: listed, updateTask: updated };
}

async function screenshots() {
  await mkdir(reportsDir, { recursive: true });
  for (const [name, page] of Object.entries(pages)) {
    if (page.isClosed()) continue;
    const path = join(reportsDir, `${stage}-${name}.png`);
    await page.screenshot({ path, fullPage: true }).then(
      () => log(`screenshot: ${path}`),
      (error) => log(`no screenshot of ${name}: ${error.message}`),
    );
  }
}

const server = http.createServer(serve);
await new Promise((resolve, reject) => {
  server.once("error", reject);
  server.listen(pagePort, "127.0.0.1", resolve);
});
let browser;
let failed = false;
try {
  browser = await timed("launch", () =>
    chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    }),
  );
  outcome.client = await timed("client", () => clientPart(browser));
  outcome.docs = await timed("docs", () => docsPart(browser, outcome.client.keptTaskId));
} catch (error) {
  failed = true;
  log(`FAILED in ${stage}: ${error.stack ?? error}`);
  await screenshots();
} finally {
  await browser?.close();
  server.close();
}
console.log(JSON.stringify(outcome));
process.exit(failed ? 1 : 0);
