'use strict';
// An ordinary app with no resilience code at all: it asks the quote service
// every 150 ms with fetch and prints what it got. Run it under the agent:
//   node --require baldur/register app.js
const upstream = process.env.QUOTES_URL;
const runForMs = Number(process.env.RUN_FOR_MS ?? 9000);
const startedAt = Date.now();
const seen = {};

// fetch reports every failure as TypeError('fetch failed', { cause }); Baldur's rejections are the cause.
function describe(error) {
  const cause = error.cause ?? error;
  const code = cause.code ?? cause.name ?? 'Error';
  if (String(code).startsWith('BALDUR_')) {
    const retry = cause.retryAfterMs === undefined ? '' : `, retry in ${cause.retryAfterMs} ms`;
    return { key: code, text: `rejected at once by Baldur (${code}${retry}) - no request sent` };
  }
  return { key: code, text: `failed: ${code}` };
}

async function tick() {
  const t = ((Date.now() - startedAt) / 1000).toFixed(1).padStart(4);
  try {
    const response = await fetch(`${upstream}/quote`);
    const key = `HTTP ${response.status}`;
    seen[key] = (seen[key] ?? 0) + 1;
    await response.text();
    console.log(`${t}s  app: ${key}`);
  } catch (error) {
    const { key, text } = describe(error);
    seen[key] = (seen[key] ?? 0) + 1;
    console.log(`${t}s  app: ${text}`);
  }
}

const timer = setInterval(tick, 150);
setTimeout(() => {
  clearInterval(timer);
  console.log(`\nwhat the app saw: ${JSON.stringify(seen)}`);
}, runForMs);
